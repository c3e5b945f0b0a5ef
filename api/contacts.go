package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/idempotency"
)

// ContactBody is a contact as the API shows it.
type ContactBody struct {
	ID                string         `json:"id" format:"uuid"`
	Name              string         `json:"name"`
	Document          string         `json:"document,omitempty" doc:"CPF or CNPJ without punctuation."`
	DocumentKind      string         `json:"document_kind,omitempty" enum:"cpf,cnpj"`
	CustomerCode      string         `json:"customer_code,omitempty" doc:"The key CRMs sync by; unique in the account."`
	Phones            []ContactPhone `json:"phones"`
	Email             string         `json:"email,omitempty"`
	BirthDate         string         `json:"birth_date,omitempty" format:"date"`
	RG                string         `json:"rg,omitempty"`
	ResponsibleUserID string         `json:"responsible_user_id,omitempty" format:"uuid"`
	DefaultAgentID    string         `json:"default_agent_id,omitempty" format:"uuid"`
	CompanyID         string         `json:"company_id,omitempty" format:"uuid"`
	Tags              []string       `json:"tags"`
	CustomFields      map[string]any `json:"custom_fields" doc:"Values of the account's custom fields, by key."`
	Priority          string         `json:"priority" enum:"high,medium,low"`
	PriorityScore     *int           `json:"priority_score,omitempty" minimum:"1" maximum:"100" doc:"Explicit score; overrides priority when set."`
	Blocked           bool           `json:"blocked" doc:"Nothing is sent to or accepted from a blocked contact."`
	Broadcast         bool           `json:"broadcast" doc:"Whether the contact receives campaigns."`
	ErasedAt          *time.Time     `json:"erased_at,omitempty" doc:"When the contact was anonymised at its owner's request."`
	Origin            string         `json:"origin" enum:"manual,api,import,inbound" doc:"How the contact came in: created by a user, by an integrator's API key, by a CSV import, or by its own first message. Set once; segments can select on it."`
	OriginChannelID   string         `json:"origin_channel_id,omitempty" format:"uuid" doc:"The channel the contact first wrote on, when it came by a message."`
	Version           int            `json:"version" doc:"Grows with every change; the ETag."`
	CreatedAt         time.Time      `json:"created_at"`
	UpdatedAt         time.Time      `json:"updated_at"`
}

// ContactPhone is one of a contact's numbers.
type ContactPhone struct {
	Number  string `json:"number" doc:"E.164; Brazilian mobiles always with the ninth digit." example:"+5511987654321"`
	Foreign bool   `json:"foreign" doc:"Not a Brazilian number."`
}

// ContactInput is a contact's writable fields, for create and replace.
type ContactInput struct {
	Name              string         `json:"name" minLength:"1" maxLength:"200" example:"Maria da Silva"`
	Document          *string        `json:"document,omitempty" maxLength:"32" doc:"CPF or CNPJ, with or without punctuation; check digits are verified." example:"529.982.247-25"`
	CustomerCode      *string        `json:"customer_code,omitempty" maxLength:"100" example:"CRM-000123"`
	Phones            []string       `json:"phones,omitempty" maxItems:"10" doc:"Any common form; Brazilian numbers need the DDD." example:"[\"(11) 98765-4321\"]"`
	Email             *string        `json:"email,omitempty" maxLength:"254"`
	BirthDate         *string        `json:"birth_date,omitempty" format:"date"`
	RG                *string        `json:"rg,omitempty" maxLength:"20"`
	ResponsibleUserID *string        `json:"responsible_user_id,omitempty" format:"uuid"`
	DefaultAgentID    *string        `json:"default_agent_id,omitempty" format:"uuid"`
	CompanyID         *string        `json:"company_id,omitempty" format:"uuid" doc:"The company (see /v1/companies) the contact works for."`
	Tags              []string       `json:"tags,omitempty" maxItems:"50"`
	CustomFields      map[string]any `json:"custom_fields,omitempty" maxProperties:"100" doc:"Values by custom field key; each is checked against the field's type."`
	Priority          string         `json:"priority,omitempty" enum:"high,medium,low" doc:"Default medium."`
	PriorityScore     *int           `json:"priority_score,omitempty" minimum:"1" maximum:"100"`
	Broadcast         *bool          `json:"broadcast,omitempty" doc:"Default true."`
}

// ContactPatch changes the fields it carries; null clears a field.
type ContactPatch struct {
	Name              Patchable[string]         `json:"name,omitzero" maxLength:"200"`
	Document          Patchable[string]         `json:"document,omitzero" maxLength:"32"`
	CustomerCode      Patchable[string]         `json:"customer_code,omitzero" maxLength:"100"`
	Phones            Patchable[[]string]       `json:"phones,omitzero" maxItems:"10"`
	Email             Patchable[string]         `json:"email,omitzero" maxLength:"254"`
	BirthDate         Patchable[string]         `json:"birth_date,omitzero" format:"date"`
	RG                Patchable[string]         `json:"rg,omitzero" maxLength:"20"`
	ResponsibleUserID Patchable[string]         `json:"responsible_user_id,omitzero" format:"uuid"`
	DefaultAgentID    Patchable[string]         `json:"default_agent_id,omitzero" format:"uuid"`
	CompanyID         Patchable[string]         `json:"company_id,omitzero" format:"uuid"`
	Tags              Patchable[[]string]       `json:"tags,omitzero" maxItems:"50"`
	CustomFields      Patchable[map[string]any] `json:"custom_fields,omitzero" doc:"Merged into the current values; a key set to null removes that value."`
	Priority          Patchable[string]         `json:"priority,omitzero" enum:"high,medium,low"`
	PriorityScore     Patchable[int]            `json:"priority_score,omitzero" minimum:"1" maximum:"100"`
	Broadcast         Patchable[bool]           `json:"broadcast,omitzero"`
}

type contactOutput struct {
	ETag     string `header:"ETag"`
	Location string `header:"Location"`
	Replayed string `header:"Idempotent-Replayed" doc:"true when this is the stored answer to an earlier call with the same Idempotency-Key."`
	Status   int
	Body     ContactBody
}

// ContactIDParam is the {id} of a contact's path (exported so huma reads it when embedded).
type ContactIDParam struct {
	ID string `path:"id" format:"uuid"`
}

const contactsTag = "Contacts"

func (s *server) registerContacts(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-contact", Method: http.MethodPost, Path: "/v1/contacts", Tags: []string{contactsTag},
		Summary:       "Create a contact",
		Description:   "A contact needs a name and at least one identifier: a phone, an e-mail or a customer code. A phone another contact owns, or a customer code in use, is a 409. With an Idempotency-Key, a retry returns the first answer.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" doc:"Makes a retried call safe: the same key and body return the first answer for 24 hours."`
		Body           ContactInput
		RawBody        []byte
	}) (*contactOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		f, err := toFields(in.Body, p)
		if err != nil {
			return nil, err
		}
		if in.IdempotencyKey == "" {
			c, err := s.Contacts.Create(ctx, p.AccountID, f)
			if err != nil {
				return nil, err
			}
			return contactResponse(c, http.StatusCreated), nil
		}
		resp, replayed, err := idempotency.Do(ctx, s.Pool, p.AccountID, "create-contact", in.IdempotencyKey, in.RawBody,
			func(tx pgx.Tx) (idempotency.Response, error) {
				c, err := s.Contacts.CreateTx(ctx, tx, p.AccountID, f)
				if err != nil {
					return idempotency.Response{}, err
				}
				b, err := json.Marshal(toContactBody(c))
				return idempotency.Response{Status: http.StatusCreated, Body: b}, err
			})
		if err != nil {
			return nil, err
		}
		var body ContactBody
		if err := json.Unmarshal(resp.Body, &body); err != nil {
			return nil, err
		}
		out := &contactOutput{ETag: etag(body.Version), Location: "/v1/contacts/" + body.ID, Status: resp.Status, Body: body}
		if replayed {
			out.Replayed = "true"
		}
		return out, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-contacts", Method: http.MethodGet, Path: "/v1/contacts", Tags: []string{contactsTag},
		Summary:     "List contacts",
		Description: "Oldest first, by cursor. q matches part of the name, the whole customer code, the start of the CPF/CNPJ or the start of a phone number.",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		PageParams
		Q        string `query:"q" maxLength:"100" doc:"Search text."`
		Tag      string `query:"tag" maxLength:"50"`
		Blocked  string `query:"blocked" enum:"true,false"`
		Priority string `query:"priority" enum:"high,medium,low"`
	}) (*struct{ Body listBody[ContactBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		filter := contact.ListFilter{Q: in.Q, Tag: in.Tag, Priority: in.Priority, After: after, Limit: in.Limit + 1}
		if in.Blocked != "" {
			b := in.Blocked == "true"
			filter.Blocked = &b
		}
		cs, err := s.Contacts.List(ctx, p.AccountID, filter)
		if err != nil {
			return nil, err
		}
		return listPage(cs, in.Limit, func(c contact.Contact) uuid.UUID { return c.ID }, toContactBody), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "export-contacts", Method: http.MethodGet, Path: "/v1/contacts/export", Tags: []string{contactsTag},
		Summary: "Export contacts as CSV, streamed",
		Description: "The contacts that match the same filters as the list, oldest first, streamed as the database writes them, so an export of a " +
			"million rows needs no more memory than a few rows. Phones and tags are separated by ';' inside their cell; custom fields are a " +
			"JSON object; dates are written 1990-12-31 and times in RFC 3339, UTC. Free text a spreadsheet would run as a formula " +
			"(starting with = + - @, a tab or a carriage return) starts with an apostrophe.",
		Responses: map[string]*huma.Response{"200": {Description: "CSV", Content: map[string]*huma.MediaType{"text/csv": {}}}},
	}, auth.ContactsRead), func(ctx context.Context, in *struct {
		Q        string `query:"q" maxLength:"100"`
		Tag      string `query:"tag" maxLength:"50"`
		Blocked  string `query:"blocked" enum:"true,false"`
		Priority string `query:"priority" enum:"high,medium,low"`
	}) (*huma.StreamResponse, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, problem(err)
		}
		filter := contact.ListFilter{Q: in.Q, Tag: in.Tag, Priority: in.Priority}
		if in.Blocked != "" {
			b := in.Blocked == "true"
			filter.Blocked = &b
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			hctx.SetHeader("Content-Type", "text/csv; charset=utf-8")
			hctx.SetHeader("Content-Disposition", `attachment; filename="contacts.csv"`)
			hctx.SetStatus(http.StatusOK)
			if n, err := s.Contacts.Export(ctx, p.AccountID, filter, hctx.BodyWriter()); err != nil {
				// The status is sent; the client sees a truncated file, and the log says why.
				s.Logger.ErrorContext(ctx, "contact export stopped", "rows", n, "error", err)
			}
		}}, nil
	})

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-contact", Method: http.MethodGet, Path: "/v1/contacts/{id}", Tags: []string{contactsTag},
		Summary: "Get a contact", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		IfNoneMatch string `header:"If-None-Match" doc:"An ETag; 304 when the contact has not changed."`
	}) (*contactOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		c, err := s.Contacts.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		if in.IfNoneMatch != "" && matchesETag(in.IfNoneMatch, c.Version) {
			return nil, huma.Status304NotModified()
		}
		return contactResponse(c, http.StatusOK), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-contact-by-phone", Method: http.MethodGet, Path: "/v1/contacts/by-phone/{phone}", Tags: []string{contactsTag},
		Summary:     "Find the contact that owns a phone number",
		Description: "The number may be written in any common form; an old 8-digit Brazilian mobile finds the contact stored with the ninth digit.",
		Errors:      []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		Phone string `path:"phone" maxLength:"40" example:"+5511987654321"`
	}) (*contactOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		c, err := s.Contacts.GetByPhone(ctx, p.AccountID, in.Phone)
		if err != nil {
			return nil, err
		}
		return contactResponse(c, http.StatusOK), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "update-contact", Method: http.MethodPatch, Path: "/v1/contacts/{id}", Tags: []string{contactsTag},
		Summary:     "Change some of a contact's fields",
		Description: "Fields left out are kept; null clears a field. With If-Match, the change is refused (412) if the contact changed since it was read.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		IfMatch string `header:"If-Match" doc:"The ETag the change was based on."`
		Body    ContactPatch
	}) (*contactOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		version, err := ifMatchVersion(in.IfMatch)
		if err != nil {
			return nil, err
		}
		patch, err := toPatch(in.Body)
		if err != nil {
			return nil, err
		}
		c, err := s.Contacts.Update(ctx, p.AccountID, id, patch, version)
		if err != nil {
			return nil, err
		}
		return contactResponse(c, http.StatusOK), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "upsert-contact-by-code", Method: http.MethodPut, Path: "/v1/contacts/by-code/{code}", Tags: []string{contactsTag},
		Summary:     "Create or replace the contact with a customer code",
		Description: "How CRMs sync: every writable field takes the given value (fields left out are cleared or take their default). Sending the same body again changes nothing. 201 when created, 200 when it existed.",
		Errors:      []int{http.StatusConflict},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		Code string `path:"code" minLength:"1" maxLength:"100"`
		Body ContactInput
	}) (*contactOutput, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		f, err := toFields(in.Body, p)
		if err != nil {
			return nil, err
		}
		if in.Body.CustomerCode != nil && strings.TrimSpace(*in.Body.CustomerCode) != strings.TrimSpace(in.Code) {
			return nil, fault.Invalid("customer_code differs from the code in the path",
				fault.FieldError{Field: "customer_code", Message: "must match the path's code or be left out", Value: *in.Body.CustomerCode})
		}
		c, created, err := s.Contacts.UpsertByCode(ctx, p.AccountID, in.Code, f)
		if err != nil {
			return nil, err
		}
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return contactResponse(c, status), nil
	}))

	for _, b := range []struct {
		op, path, summary string
		blocked           bool
	}{
		{"block-contact", "/v1/contacts/{id}/block", "Block a contact: nothing is sent to or accepted from it", true},
		{"unblock-contact", "/v1/contacts/{id}/unblock", "Unblock a contact", false},
	} {
		huma.Register(api, secure(huma.Operation{
			OperationID: b.op, Method: http.MethodPost, Path: b.path, Tags: []string{contactsTag},
			Summary: b.summary, Errors: []int{http.StatusNotFound},
		}, auth.ContactsWrite), handle(func(ctx context.Context, in *ContactIDParam) (*contactOutput, error) {
			p, err := principal(ctx)
			if err != nil {
				return nil, err
			}
			id, err := parseUUID("path.id", in.ID)
			if err != nil {
				return nil, err
			}
			c, err := s.Contacts.SetBlocked(ctx, p.AccountID, id, b.blocked)
			if err != nil {
				return nil, err
			}
			return contactResponse(c, http.StatusOK), nil
		}))
	}

	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-contact", Method: http.MethodDelete, Path: "/v1/contacts/{id}", Tags: []string{contactsTag},
		Summary: "Delete a contact, or erase it (LGPD)",
		Description: "A blocked contact cannot be deleted (409): unblock it first. The contact's consent records are kept either way: they are legal proof. " +
			"With erase=true the contact is anonymised instead: every personal field is cleared and its phones released, and the row stays so its consent records keep pointing at it.\n\n" +
			"Needs the `contacts:write` permission, or `contacts:erase` with erase=true.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, ""), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		Erase bool `query:"erase" doc:"Anonymise instead of deleting (LGPD right to deletion)."`
	}) (*struct{}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		if in.Erase {
			if !p.Can(auth.ContactsErase) {
				return nil, fault.Forbidden("erasing a contact needs the contacts:erase permission")
			}
			_, err = s.Contacts.Erase(ctx, p.AccountID, id)
			return nil, err
		}
		if !p.Can(auth.ContactsWrite) {
			return nil, fault.Forbidden("these credentials lack the contacts:write permission")
		}
		return nil, s.Contacts.Delete(ctx, p.AccountID, id)
	}))
}

// MergeBody is the answer to a merge: the survivor as it now is, and what moved to it.
type MergeBody struct {
	Contact ContactBody `json:"contact"`
	Moved   struct {
		Notes          int64 `json:"notes"`
		Segments       int64 `json:"segments" doc:"Static segment memberships the survivor gained."`
		Phones         int64 `json:"phones"`
		ConsentRecords int   `json:"consent_records" doc:"Records appended to the survivor's consent chain to carry the duplicate's decisions over."`
	} `json:"moved"`
	Replayed bool `json:"replayed" doc:"The duplicate had already been merged into this contact: nothing changed."`
}

func (s *server) registerContactMerge(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "merge-contacts", Method: http.MethodPost, Path: "/v1/contacts/{id}/merge", Tags: []string{contactsTag},
		Summary: "Merge a duplicate into this contact",
		Description: "The contact named in the body (the duplicate) is folded into the contact in the path (the survivor) and deleted, in one transaction. " +
			"Its phones, notes, static segment memberships and tags move to the survivor; its other fields fill the survivor's empty ones (the survivor's values win, custom values are united); " +
			"a block on either blocks the survivor, and broadcasts stay on only if both accepted them. " +
			"Consent records are legal proof and stay on the duplicate's chain, still readable by its id: for every purpose and channel where the duplicate's latest decision is newer than the survivor's, " +
			"a record repeating it (action, method, time, evidence, and a source naming the original record) is appended to the survivor's chain, so the survivor's consent is the later of the two, a revocation winning a tie. " +
			"The duplicate as it was is kept whole in the merge record. Repeating a merge already done answers the same survivor with replayed=true; a duplicate merged into another contact is a 409.",
		Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		Body struct {
			ContactID string `json:"contact_id" format:"uuid" doc:"The duplicate, merged into the contact in the path and then deleted."`
		}
	}) (*struct{ Body MergeBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		keep, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		dup, err := parseUUID("body.contact_id", in.Body.ContactID)
		if err != nil {
			return nil, err
		}
		res, err := s.Contacts.Merge(ctx, p.AccountID, keep, dup, recorder(p))
		if err != nil {
			return nil, err
		}
		out := &struct{ Body MergeBody }{}
		out.Body.Contact = toContactBody(res.Contact)
		out.Body.Moved.Notes, out.Body.Moved.Segments, out.Body.Moved.Phones = res.Notes, res.Segments, res.Phones
		out.Body.Moved.ConsentRecords = len(res.Consent)
		out.Body.Replayed = res.Replayed
		return out, nil
	}))
}

func contactResponse(c contact.Contact, status int) *contactOutput {
	out := &contactOutput{ETag: etag(c.Version), Status: status, Body: toContactBody(c)}
	if status == http.StatusCreated {
		out.Location = "/v1/contacts/" + c.ID.String()
	}
	return out
}

func etag(version int) string { return `"` + strconv.Itoa(version) + `"` }

// matchesETag reports whether an If-None-Match/If-Match list names version (or is *).
func matchesETag(header string, version int) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag(version) {
			return true
		}
	}
	return false
}

// ifMatchVersion reads the version an If-Match names; nil when there is none or it is *.
func ifMatchVersion(h string) (*int, error) {
	h = strings.TrimSpace(h)
	if h == "" || h == "*" {
		return nil, nil
	}
	v, err := strconv.Atoi(strings.Trim(strings.TrimPrefix(h, "W/"), `"`))
	if err != nil {
		return nil, fault.PreconditionFailed("If-Match is not an ETag this API returned")
	}
	return &v, nil
}

func toContactBody(c contact.Contact) ContactBody {
	b := ContactBody{
		ID: c.ID.String(), Name: c.Name, Document: deref(c.Document), DocumentKind: deref(c.DocumentKind),
		CustomerCode: deref(c.CustomerCode), Email: deref(c.Email), RG: deref(c.RG), Tags: c.Tags,
		Priority: c.Priority, PriorityScore: c.PriorityScore, Blocked: c.Blocked, Broadcast: c.Broadcast, CustomFields: c.Custom,
		Version: c.Version, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Phones: make([]ContactPhone, len(c.Phones)), ErasedAt: c.ErasedAt,
		Origin: string(c.Origin),
	}
	if c.OriginChannelID != nil {
		b.OriginChannelID = c.OriginChannelID.String()
	}
	for i, p := range c.Phones {
		b.Phones[i] = ContactPhone{Number: p.Number, Foreign: p.Foreign}
	}
	if c.BirthDate != nil {
		b.BirthDate = c.BirthDate.Format(time.DateOnly)
	}
	if c.ResponsibleUserID != nil {
		b.ResponsibleUserID = c.ResponsibleUserID.String()
	}
	if c.DefaultAgentID != nil {
		b.DefaultAgentID = c.DefaultAgentID.String()
	}
	if c.CompanyID != nil {
		b.CompanyID = c.CompanyID.String()
	}
	return b
}

// toFields turns a body into a contact's fields; a contact it creates has the origin of who
// calls: a user (a frontend) creates it by hand, an API key (an integrator) through the API.
func toFields(in ContactInput, p auth.Principal) (contact.Fields, error) {
	f := contact.Fields{
		Name: in.Name, Document: in.Document, CustomerCode: in.CustomerCode, Phones: in.Phones, Email: in.Email,
		RG: in.RG, Tags: in.Tags, Priority: in.Priority, PriorityScore: in.PriorityScore, Broadcast: in.Broadcast,
		Custom: in.CustomFields, Origin: contact.OriginAPI,
	}
	if p.UserID != nil {
		f.Origin = contact.OriginManual
	}
	var err error
	if f.BirthDate, err = parseDate("birth_date", in.BirthDate); err != nil {
		return f, err
	}
	if f.ResponsibleUserID, err = parseOptUUID("responsible_user_id", in.ResponsibleUserID); err != nil {
		return f, err
	}
	if f.DefaultAgentID, err = parseOptUUID("default_agent_id", in.DefaultAgentID); err != nil {
		return f, err
	}
	if f.CompanyID, err = parseOptUUID("company_id", in.CompanyID); err != nil {
		return f, err
	}
	return f, nil
}

func toPatch(in ContactPatch) (contact.Patch, error) {
	var (
		p   contact.Patch
		err error
	)
	if in.Name.Sent {
		if in.Name.Null {
			return p, fault.Invalid("invalid contact", fault.FieldError{Field: "name", Message: "cannot be cleared"})
		}
		p.Name = contact.Opt[string]{Set: true, Value: in.Name.Value}
	}
	p.Document = optPtr(in.Document)
	p.CustomerCode = optPtr(in.CustomerCode)
	p.Email = optPtr(in.Email)
	p.RG = optPtr(in.RG)
	if in.Phones.Sent {
		p.Phones = contact.Opt[[]string]{Set: true, Value: in.Phones.Value}
	}
	if in.Tags.Sent {
		p.Tags = contact.Opt[[]string]{Set: true, Value: in.Tags.Value}
	}
	if in.CustomFields.Sent {
		if in.CustomFields.Null {
			// null clears every value: merge a nil for each current key.
			p.Custom = contact.Opt[map[string]any]{Set: true, Value: nil}
			p.ClearCustom = true
		} else {
			p.Custom = contact.Opt[map[string]any]{Set: true, Value: in.CustomFields.Value}
		}
	}
	if in.Priority.Sent {
		p.Priority = contact.Opt[string]{Set: true, Value: in.Priority.Value}
	}
	p.PriorityScore = optPtr(in.PriorityScore)
	if in.Broadcast.Sent {
		if in.Broadcast.Null {
			return p, fault.Invalid("invalid contact", fault.FieldError{Field: "broadcast", Message: "cannot be cleared"})
		}
		p.Broadcast = contact.Opt[bool]{Set: true, Value: in.Broadcast.Value}
	}
	if in.BirthDate.Sent {
		p.BirthDate.Set = true
		if p.BirthDate.Value, err = parseDate("birth_date", in.BirthDate.ptr()); err != nil {
			return p, err
		}
	}
	if in.ResponsibleUserID.Sent {
		p.ResponsibleUserID.Set = true
		if p.ResponsibleUserID.Value, err = parseOptUUID("responsible_user_id", in.ResponsibleUserID.ptr()); err != nil {
			return p, err
		}
	}
	if in.DefaultAgentID.Sent {
		p.DefaultAgentID.Set = true
		if p.DefaultAgentID.Value, err = parseOptUUID("default_agent_id", in.DefaultAgentID.ptr()); err != nil {
			return p, err
		}
	}
	if in.CompanyID.Sent {
		p.CompanyID.Set = true
		if p.CompanyID.Value, err = parseOptUUID("company_id", in.CompanyID.ptr()); err != nil {
			return p, err
		}
	}
	return p, nil
}

func optPtr[T any](p Patchable[T]) contact.Opt[*T] {
	if !p.Sent {
		return contact.Opt[*T]{}
	}
	return contact.Opt[*T]{Set: true, Value: p.ptr()}
}

func parseDate(field string, s *string) (*time.Time, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	t, err := time.Parse(time.DateOnly, *s)
	if err != nil {
		return nil, fault.Invalid("invalid date", fault.FieldError{Field: field, Message: "must be a date like 1990-12-31", Value: *s})
	}
	return &t, nil
}

func parseOptUUID(field string, s *string) (*uuid.UUID, error) {
	if s == nil || *s == "" {
		return nil, nil
	}
	id, err := uuid.Parse(*s)
	if err != nil {
		return nil, fault.Invalid("invalid id", fault.FieldError{Field: field, Message: "must be a UUID", Value: *s})
	}
	return &id, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
