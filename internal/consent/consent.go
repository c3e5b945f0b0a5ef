// Package consent keeps the LGPD proof that a contact agreed (or stopped agreeing) to receive
// messages: an append-only, hash-chained record per grant or revocation with its evidence, a
// projection of the current state kept in the same transaction, and the gate every send asks:
// may this contact get this kind of message on this channel?
package consent

import (
	"fmt"
	"net"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/document"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/phone"
)

// Purpose is what messages a consent is for.
type Purpose string

// The purposes.
const (
	PurposeMarketing     Purpose = "marketing"
	PurposeService       Purpose = "service"
	PurposeNotifications Purpose = "notifications"
)

// Purposes lists every purpose.
var Purposes = []Purpose{PurposeMarketing, PurposeService, PurposeNotifications}

// Action is what a record does.
type Action string

// The actions. A pending record is a double opt-in awaiting the contact's confirmation; it
// grants nothing until a grant confirms it.
const (
	Grant   Action = "grant"
	Revoke  Action = "revoke"
	Pending Action = "pending"
)

// Status is the current state of one purpose on one channel.
type Status string

// The statuses. A pair never recorded has no status: no consent.
const (
	Granted       Status = "granted"
	Revoked       Status = "revoked"
	StatusPending Status = "pending"
)

// Method is how consent was given or withdrawn.
type Method string

// The methods that are consent. The first four are explicit (the contact acted to agree); an
// import and a first inbound message are implicit, and a campaign may refuse implicit consent.
const (
	Checkbox            Method = "checkbox" // an unticked box the contact ticked
	ReplyKeyword        Method = "reply_keyword"
	FormMethod          Method = "form"
	DoubleOptIn         Method = "double_opt_in"
	Import              Method = "import"
	FirstInboundMessage Method = "first_inbound_message"
)

// GrantMethods are the methods a grant may have.
var GrantMethods = []Method{Checkbox, ReplyKeyword, FormMethod, DoubleOptIn, Import, FirstInboundMessage}

var explicitMethods = []Method{Checkbox, ReplyKeyword, FormMethod, DoubleOptIn}

// notConsent explains why these methods are refused.
var notConsent = map[Method]string{
	"pre_ticked_checkbox": "a pre-ticked box is not consent: LGPD art. 8 requires a free, informed and unambiguous act of the contact",
	"inferred":            "inferred consent (silence, inaction, 'if you do not answer we assume yes') is not consent under LGPD",
	"purchased_list":      "a purchased list carries no consent of the contact; it cannot be recorded as consent",
}

// Recorder is who stored a record: a user, an integrator's API key, or the system itself (an
// import, the inbound message pipeline).
type Recorder struct {
	Kind string // "user", "api_key" or "system"
	ID   string
}

// Entry is a grant, revocation or pending double opt-in as a caller gives it.
type Entry struct {
	Action      Action
	Purposes    []Purpose
	Channels    []channel.Type
	AllChannels bool
	Method      Method
	// OccurredAt is when the contact acted; zero means now.
	OccurredAt time.Time
	// Evidence. Text is the exact text the contact was shown, required for grants.
	Text           string
	IP             string
	UserAgent      string
	Source         string
	TermsVersion   string
	IdentifierKind string
	Identifier     string
	// Confirms is the pending record a double opt-in grant confirms.
	Confirms *uuid.UUID
}

// Record is a stored consent record.
type Record struct {
	AccountID      uuid.UUID
	ID             uuid.UUID
	ContactID      uuid.UUID
	Seq            int
	Action         Action
	Purposes       []Purpose
	Channels       []channel.Type
	AllChannels    bool
	Explicit       bool
	Method         Method
	OccurredAt     time.Time
	RecordedAt     time.Time
	Text           string
	IP             string
	UserAgent      string
	Source         string
	TermsVersion   string
	IdentifierKind string
	Identifier     string
	Recorder       Recorder
	Confirms       *uuid.UUID
	PrevHash       []byte
	Hash           []byte
}

// scope is the channel types a record covers.
func (r Record) scope() []channel.Type {
	if r.AllChannels {
		return channel.Types
	}
	return r.Channels
}

// Limits on evidence fields.
const (
	MaxTextLength  = 5000
	maxFieldLength = 1000
)

// normalize checks an entry and returns it with sorted, de-duplicated lists, trimmed fields and
// a canonical identifier. A revocation is accepted with whatever evidence it has: it defaults
// to every purpose and every channel, and its method to "request".
func normalize(e Entry, now time.Time) (Entry, bool, error) {
	var errs []fault.FieldError
	bad := func(field, msg string, value any) {
		errs = append(errs, fault.FieldError{Field: field, Message: msg, Value: value})
	}
	e.Text = strings.TrimSpace(e.Text)
	e.Source = strings.TrimSpace(e.Source)
	e.TermsVersion = strings.TrimSpace(e.TermsVersion)
	e.UserAgent = strings.TrimSpace(e.UserAgent)
	e.IP = strings.TrimSpace(e.IP)
	e.Method = Method(strings.TrimSpace(string(e.Method)))

	if e.Action == Revoke {
		if len(e.Purposes) == 0 {
			e.Purposes = slices.Clone(Purposes)
		}
		if len(e.Channels) == 0 {
			e.AllChannels = true
		}
		if e.Method == "" {
			e.Method = "request"
		}
	}
	switch e.Action {
	case Grant, Revoke, Pending:
	default:
		bad("action", "must be grant, revoke or pending", e.Action)
	}

	if len(e.Purposes) == 0 {
		bad("purposes", "say what the consent is for: marketing, service or notifications", nil)
	}
	purposes := make([]Purpose, 0, len(e.Purposes))
	for i, p := range e.Purposes {
		if !slices.Contains(Purposes, p) {
			bad(fmt.Sprintf("purposes[%d]", i), "must be marketing, service or notifications", p)
		} else if !slices.Contains(purposes, p) {
			purposes = append(purposes, p)
		}
	}
	slices.Sort(purposes)
	e.Purposes = purposes

	channels := make([]channel.Type, 0, len(e.Channels))
	for i, c := range e.Channels {
		if !channel.Valid(string(c)) {
			bad(fmt.Sprintf("channels[%d]", i), fmt.Sprintf("not a channel type; valid: %v", channel.Types), c)
		} else if !slices.Contains(channels, c) {
			channels = append(channels, c)
		}
	}
	if e.AllChannels {
		channels = []channel.Type{}
	} else if len(e.Channels) == 0 {
		bad("channels", "list the channel types covered, or set all_channels", nil)
	}
	slices.Sort(channels)
	e.Channels = channels

	explicit := false
	if e.Action == Grant || e.Action == Pending {
		if why, refused := notConsent[e.Method]; refused {
			bad("method", why, e.Method)
		} else if !slices.Contains(GrantMethods, e.Method) {
			bad("method", fmt.Sprintf("must be one of %v", GrantMethods), e.Method)
		}
		if e.Action == Pending && !slices.Contains(explicitMethods, e.Method) {
			bad("method", "a double opt-in starts from an explicit method: checkbox, reply_keyword or form", e.Method)
		}
		if e.Text == "" {
			bad("text", "the exact text shown to the contact is required for a grant", nil)
		}
		explicit = slices.Contains(explicitMethods, e.Method)
	} else if e.Method == "" || utf8.RuneCountInString(string(e.Method)) > 50 {
		bad("method", "must have 1 to 50 characters", e.Method)
	}
	if utf8.RuneCountInString(e.Text) > MaxTextLength {
		bad("text", fmt.Sprintf("must have at most %d characters", MaxTextLength), nil)
	}
	for field, v := range map[string]string{"source": e.Source, "terms_version": e.TermsVersion, "user_agent": e.UserAgent} {
		if utf8.RuneCountInString(v) > maxFieldLength {
			bad(field, fmt.Sprintf("must have at most %d characters", maxFieldLength), nil)
		}
	}
	if e.IP != "" {
		if ip := net.ParseIP(e.IP); ip == nil {
			bad("ip", "must be an IPv4 or IPv6 address", e.IP)
		} else {
			e.IP = ip.String()
		}
	}

	if e.OccurredAt.IsZero() {
		e.OccurredAt = now
	}
	e.OccurredAt = e.OccurredAt.UTC().Truncate(time.Microsecond)
	if e.OccurredAt.After(now.Add(5 * time.Minute)) {
		bad("occurred_at", "cannot be in the future", e.OccurredAt)
	} else if e.OccurredAt.Year() < 2000 {
		bad("occurred_at", "must be after 2000", e.OccurredAt)
	}

	switch e.IdentifierKind = strings.TrimSpace(e.IdentifierKind); {
	case e.IdentifierKind == "" && strings.TrimSpace(e.Identifier) == "":
		e.Identifier = ""
	case e.IdentifierKind == "phone":
		if n, err := phone.Normalize(e.Identifier); err != nil {
			bad("identifier", err.Error(), e.Identifier)
		} else {
			e.Identifier = n.E164
		}
	case e.IdentifierKind == "email":
		id := strings.ToLower(strings.TrimSpace(e.Identifier))
		if a, err := mail.ParseAddress(id); err != nil || a.Address != id {
			bad("identifier", "must be a plain e-mail address", e.Identifier)
		} else {
			e.Identifier = id
		}
	case e.IdentifierKind == "cpf":
		if v, kind, err := document.Parse(e.Identifier); err != nil || kind != document.CPF {
			bad("identifier", "must be a valid CPF", e.Identifier)
		} else {
			e.Identifier = v
		}
	default:
		bad("identifier_kind", "must be phone, email or cpf, given with identifier", e.IdentifierKind)
	}

	if len(errs) > 0 {
		return Entry{}, false, fault.Invalid("invalid consent record", errs...)
	}
	return e, explicit, nil
}
