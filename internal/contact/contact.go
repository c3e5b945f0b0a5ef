// Package contact keeps the people an account talks to: who they are (name, CPF/CNPJ, customer
// code, phones, e-mail), how they are served (priority, responsible user, default agent, tags)
// and whether anything may be sent to them (blocked, broadcast).
package contact

import (
	"time"

	"github.com/google/uuid"
)

// Contact is a person or company the account talks to.
type Contact struct {
	AccountID uuid.UUID
	ID        uuid.UUID
	Name      string
	// Document is a CPF (11 digits) or CNPJ (14 characters) without punctuation; DocumentKind
	// says which ("cpf" or "cnpj").
	Document     *string
	DocumentKind *string
	// CustomerCode is the key CRMs sync by; unique in the account.
	CustomerCode *string
	// Phones are canonical E.164 numbers, each owned by at most one contact of the account.
	Phones            []Phone
	Email             *string
	BirthDate         *time.Time
	RG                *string
	ResponsibleUserID *uuid.UUID
	DefaultAgentID    *uuid.UUID
	// CompanyID is the company (by CNPJ) the contact works for or represents.
	CompanyID *uuid.UUID
	Tags      []string
	// Priority is high, medium (no override) or low; PriorityScore, when set, is an explicit
	// score from 1 to 100 that takes its place.
	Priority      string
	PriorityScore *int
	// Custom holds the values of the account's custom fields, by field key.
	Custom map[string]any
	// Blocked contacts get nothing and their messages are not surfaced.
	Blocked bool
	// Broadcast says whether the contact receives campaigns.
	Broadcast bool
	// Origin is how the contact came in; OriginChannelID the channel it first wrote on.
	Origin          Origin
	OriginChannelID *uuid.UUID
	// ErasedAt is when the contact was anonymised at its owner's request.
	ErasedAt *time.Time
	// Version grows by one with every change; it is the resource's ETag.
	Version   int
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Phone is one of a contact's numbers.
type Phone struct {
	Number  string
	Foreign bool
}

// Fields are a contact's writable fields as a caller gives them, before validation: creating
// and replacing take all of them, a Patch changes some.
type Fields struct {
	Name              string
	Document          *string
	CustomerCode      *string
	Phones            []string
	Email             *string
	BirthDate         *time.Time
	RG                *string
	ResponsibleUserID *uuid.UUID
	DefaultAgentID    *uuid.UUID
	CompanyID         *uuid.UUID
	Tags              []string
	Priority          string
	PriorityScore     *int
	// Broadcast defaults to true when nil.
	Broadcast *bool
	// Custom are custom field values by key (decoded JSON), checked against the definitions.
	Custom map[string]any
	// Origin and OriginChannelID say how a new contact came in; they are set once, at
	// creation, by the path that creates it (not by the caller's body), and ignored by
	// updates. An empty Origin is OriginAPI.
	Origin          Origin
	OriginChannelID *uuid.UUID
}

// Origin is how a contact entered the account; segments can select on it.
type Origin string

// The origins: created by a user in a frontend, by an integrator's API key, by a CSV import,
// or by the contact's own first message on a channel.
const (
	OriginManual  Origin = "manual"
	OriginAPI     Origin = "api"
	OriginImport  Origin = "import"
	OriginInbound Origin = "inbound"
)

// Origins lists every Origin.
var Origins = []Origin{OriginManual, OriginAPI, OriginImport, OriginInbound}

// Opt is one field of a Patch: Set says the caller sent it (a nil Value then clears it).
type Opt[T any] struct {
	Set   bool
	Value T
}

// Patch changes the fields that are Set and keeps the others.
type Patch struct {
	Name              Opt[string]
	Document          Opt[*string]
	CustomerCode      Opt[*string]
	Phones            Opt[[]string]
	Email             Opt[*string]
	BirthDate         Opt[*time.Time]
	RG                Opt[*string]
	ResponsibleUserID Opt[*uuid.UUID]
	DefaultAgentID    Opt[*uuid.UUID]
	CompanyID         Opt[*uuid.UUID]
	Tags              Opt[[]string]
	Priority          Opt[string]
	PriorityScore     Opt[*int]
	Broadcast         Opt[bool]
	// Custom merges into the current values: a key set to nil removes that value.
	Custom Opt[map[string]any]
	// ClearCustom removes every custom value first.
	ClearCustom bool
}

func (p Patch) apply(f *Fields) {
	set(&f.Name, p.Name)
	set(&f.Document, p.Document)
	set(&f.CustomerCode, p.CustomerCode)
	set(&f.Phones, p.Phones)
	set(&f.Email, p.Email)
	set(&f.BirthDate, p.BirthDate)
	set(&f.RG, p.RG)
	set(&f.ResponsibleUserID, p.ResponsibleUserID)
	set(&f.DefaultAgentID, p.DefaultAgentID)
	set(&f.CompanyID, p.CompanyID)
	set(&f.Tags, p.Tags)
	set(&f.Priority, p.Priority)
	set(&f.PriorityScore, p.PriorityScore)
	if p.Broadcast.Set {
		b := p.Broadcast.Value
		f.Broadcast = &b
	}
	if p.Custom.Set {
		merged := make(map[string]any, len(f.Custom)+len(p.Custom.Value))
		if !p.ClearCustom {
			for k, v := range f.Custom {
				merged[k] = v
			}
		}
		for k, v := range p.Custom.Value {
			if v == nil {
				delete(merged, k)
			} else {
				merged[k] = v
			}
		}
		f.Custom = merged
	}
}

func set[T any](dst *T, o Opt[T]) {
	if o.Set {
		*dst = o.Value
	}
}

// fields returns the contact's current writable fields, the starting point of a Patch.
func (c Contact) fields() Fields {
	phones := make([]string, len(c.Phones))
	for i, p := range c.Phones {
		phones[i] = p.Number
	}
	b := c.Broadcast
	return Fields{
		Name: c.Name, Document: c.Document, CustomerCode: c.CustomerCode, Phones: phones, Email: c.Email,
		BirthDate: c.BirthDate, RG: c.RG, ResponsibleUserID: c.ResponsibleUserID, DefaultAgentID: c.DefaultAgentID, CompanyID: c.CompanyID,
		Tags: c.Tags, Priority: c.Priority, PriorityScore: c.PriorityScore, Broadcast: &b, Custom: c.Custom,
	}
}

// ListFilter narrows and pages a contact list.
type ListFilter struct {
	// Q matches part of the name, the whole customer code, the start of the CPF/CNPJ or the
	// start of a phone number.
	Q        string
	Tag      string
	Blocked  *bool
	Priority string
	// After is the id of the last contact of the previous page.
	After *uuid.UUID
	// Limit is the page size.
	Limit int
}
