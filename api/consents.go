package api

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/idempotency"
)

const consentTag = "Consent"

// ConsentRecordBody is a consent record and its place in the contact's chain.
type ConsentRecordBody struct {
	ID             string       `json:"id" format:"uuid"`
	ContactID      string       `json:"contact_id" format:"uuid"`
	Seq            int          `json:"seq" doc:"Position in the contact's chain, from 1."`
	Action         string       `json:"action" enum:"grant,revoke,pending"`
	Purposes       []string     `json:"purposes"`
	Channels       []string     `json:"channels" doc:"Channel types covered; empty when all_channels."`
	AllChannels    bool         `json:"all_channels"`
	Explicit       bool         `json:"explicit" doc:"The contact acted to agree (checkbox, form, keyword, double opt-in); false for an import or a first message."`
	Method         string       `json:"method"`
	OccurredAt     time.Time    `json:"occurred_at"`
	RecordedAt     time.Time    `json:"recorded_at"`
	Text           string       `json:"text,omitempty" doc:"The exact text the contact was shown."`
	IP             string       `json:"ip,omitempty"`
	UserAgent      string       `json:"user_agent,omitempty"`
	Source         string       `json:"source,omitempty"`
	TermsVersion   string       `json:"terms_version,omitempty"`
	IdentifierKind string       `json:"identifier_kind,omitempty" enum:"phone,email,cpf"`
	Identifier     string       `json:"identifier,omitempty"`
	RecordedBy     RecorderBody `json:"recorded_by"`
	Confirms       string       `json:"confirms,omitempty" format:"uuid" doc:"The pending double opt-in this grant confirms."`
	PrevHash       string       `json:"prev_hash,omitempty" doc:"Hash of the previous record of the chain (hex)."`
	Hash           string       `json:"hash" doc:"SHA-256 of this record's fields and prev_hash (hex)."`
}

// RecorderBody says who stored a record.
type RecorderBody struct {
	Kind string `json:"kind" enum:"user,api_key,system"`
	ID   string `json:"id"`
}

// ConsentInput records a grant, a revocation or a pending double opt-in.
type ConsentInput struct {
	Action         string     `json:"action" enum:"grant,revoke,pending" doc:"pending starts a double opt-in: nothing is granted until it is confirmed."`
	Purposes       []string   `json:"purposes,omitempty" maxItems:"3" doc:"marketing, service, notifications. A revocation without purposes revokes all."`
	Channels       []string   `json:"channels,omitempty" maxItems:"12" doc:"Channel types covered."`
	AllChannels    bool       `json:"all_channels,omitempty" doc:"Covers every channel type. A revocation without channels covers all."`
	Method         string     `json:"method,omitempty" maxLength:"50" doc:"For grants: checkbox (an unticked box the contact ticked), reply_keyword, form, double_opt_in, import, first_inbound_message. pre_ticked_checkbox, inferred and purchased_list are refused: they are not consent. Any method is accepted for a revocation."`
	OccurredAt     *time.Time `json:"occurred_at,omitempty" doc:"When the contact acted; default now."`
	Text           string     `json:"text,omitempty" maxLength:"5000" doc:"The exact text shown to the contact. Required for grants."`
	IP             string     `json:"ip,omitempty" maxLength:"45"`
	UserAgent      string     `json:"user_agent,omitempty" maxLength:"1000"`
	Source         string     `json:"source,omitempty" maxLength:"1000" doc:"Where: the form, landing page or channel."`
	TermsVersion   string     `json:"terms_version,omitempty" maxLength:"1000"`
	IdentifierKind string     `json:"identifier_kind,omitempty" enum:"phone,email,cpf" doc:"The identifier the contact used."`
	Identifier     string     `json:"identifier,omitempty" maxLength:"254"`
}

// ConfirmInput is the evidence of a double opt-in confirmation.
type ConfirmInput struct {
	OccurredAt *time.Time `json:"occurred_at,omitempty"`
	IP         string     `json:"ip,omitempty" maxLength:"45"`
	UserAgent  string     `json:"user_agent,omitempty" maxLength:"1000"`
	Source     string     `json:"source,omitempty" maxLength:"1000" doc:"How the contact confirmed, e.g. the confirmation link."`
}

// ConsentStateBody is the consent in force for one purpose on one channel.
type ConsentStateBody struct {
	Purpose   string    `json:"purpose"`
	Channel   string    `json:"channel"`
	Status    string    `json:"status" enum:"granted,revoked,pending"`
	Explicit  bool      `json:"explicit"`
	RecordID  string    `json:"record_id" format:"uuid" doc:"The record that set it."`
	UpdatedAt time.Time `json:"updated_at"`
}

// ConsentStateListBody is a contact's current consent. Pairs never recorded are absent: no consent.
type ConsentStateListBody struct {
	ContactID string             `json:"contact_id" format:"uuid"`
	Items     []ConsentStateBody `json:"items"`
}

// VerificationBody is the result of walking the chains.
type VerificationBody struct {
	OK       bool         `json:"ok" doc:"Every chain holds."`
	Records  int64        `json:"records"`
	Contacts int64        `json:"contacts"`
	Problem  *ProblemBody `json:"problem,omitempty" doc:"The first record that does not match."`
}

// ProblemBody is the first record where a chain breaks.
type ProblemBody struct {
	RecordID  string `json:"record_id" format:"uuid"`
	ContactID string `json:"contact_id" format:"uuid"`
	Seq       int    `json:"seq"`
	Reason    string `json:"reason"`
}

// ProofBody is a contact's complete proof of consent.
type ProofBody struct {
	GeneratedAt time.Time           `json:"generated_at"`
	GeneratedBy RecorderBody        `json:"generated_by"`
	Contact     *ContactBody        `json:"contact,omitempty" doc:"Absent when the contact was deleted; its records remain."`
	Chain       VerificationBody    `json:"chain"`
	State       []ConsentStateBody  `json:"state"`
	Records     []ConsentRecordBody `json:"records"`
}

// ConsentAccessBody is one logged read of consent records.
type ConsentAccessBody struct {
	ID        string       `json:"id" format:"uuid"`
	At        time.Time    `json:"at"`
	By        RecorderBody `json:"by"`
	Operation string       `json:"operation"`
	ContactID string       `json:"contact_id,omitempty" format:"uuid"`
	Detail    string       `json:"detail,omitempty"`
}

// ConsentSettingsBody are the account's consent keywords and replies.
type ConsentSettingsBody struct {
	OptOutKeywords []string `json:"opt_out_keywords" minItems:"1" maxItems:"20" doc:"A message that is only one of these revokes the contact's marketing consent on every channel."`
	OptInKeywords  []string `json:"opt_in_keywords" minItems:"1" maxItems:"20" doc:"A message that is only one of these confirms the contact's pending double opt-in."`
	OptOutReply    string   `json:"opt_out_reply" maxLength:"1000"`
	OptInReply     string   `json:"opt_in_reply" maxLength:"1000"`
}

type consentOutput struct {
	Location string `header:"Location"`
	Replayed string `header:"Idempotent-Replayed"`
	Status   int
	Body     ConsentRecordBody
}

func (s *server) registerConsents(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "record-consent", Method: http.MethodPost, Path: "/v1/contacts/{id}/consents", Tags: []string{consentTag},
		Summary:       "Record a consent grant, revocation or pending double opt-in",
		Description:   "Appends to the contact's chain; the record can never be changed or deleted. Grants need a purpose, the exact text shown and a method that is consent. A revocation is always accepted and takes effect at once. With an Idempotency-Key, a retry returns the first answer.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound},
	}, auth.ConsentsWrite), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
		Body           ConsentInput
		RawBody        []byte
	}) (*consentOutput, error) {
		p, contactID, err := s.consentCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		e := toEntry(in.Body)
		record := func(tx pgx.Tx) (idempotency.Response, error) {
			rec, err := s.Consent.RecordTx(ctx, tx, p.AccountID, contactID, e, recorder(p))
			if err != nil {
				return idempotency.Response{}, err
			}
			b, err := json.Marshal(toConsentBody(rec))
			return idempotency.Response{Status: http.StatusCreated, Body: b}, err
		}
		var (
			resp     idempotency.Response
			replayed bool
		)
		if in.IdempotencyKey != "" {
			resp, replayed, err = idempotency.Do(ctx, s.Pool, p.AccountID, "record-consent:"+contactID.String(), in.IdempotencyKey, in.RawBody, record)
		} else {
			var rec consent.Record
			if rec, err = s.Consent.Record(ctx, p.AccountID, contactID, e, recorder(p)); err == nil {
				resp.Status = http.StatusCreated
				resp.Body, err = json.Marshal(toConsentBody(rec))
			}
		}
		if err != nil {
			return nil, err
		}
		out := &consentOutput{Status: resp.Status}
		if err := json.Unmarshal(resp.Body, &out.Body); err != nil {
			return nil, err
		}
		out.Location = fmt.Sprintf("/v1/contacts/%s/consents?record=%s", contactID, out.Body.ID)
		if replayed {
			out.Replayed = "true"
		}
		return out, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "confirm-consent", Method: http.MethodPost, Path: "/v1/contacts/{id}/consents/{record_id}/confirm", Tags: []string{consentTag},
		Summary:       "Confirm a pending double opt-in",
		Description:   "Appends a grant (method double_opt_in) covering what the pending record asked for, with the confirmation's own evidence.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.ConsentsWrite), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		RecordID string `path:"record_id" format:"uuid"`
		Body     ConfirmInput
	}) (*struct{ Body ConsentRecordBody }, error) {
		p, contactID, err := s.consentCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		recordID, err := parseUUID("path.record_id", in.RecordID)
		if err != nil {
			return nil, err
		}
		ev := toEntry(ConsentInput{OccurredAt: in.Body.OccurredAt, IP: in.Body.IP, UserAgent: in.Body.UserAgent, Source: in.Body.Source})
		rec, err := s.Consent.Confirm(ctx, p.AccountID, contactID, recordID, ev, recorder(p))
		if err != nil {
			return nil, err
		}
		return &struct{ Body ConsentRecordBody }{Body: toConsentBody(rec)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-contact-consents", Method: http.MethodGet, Path: "/v1/contacts/{id}/consents", Tags: []string{consentTag},
		Summary:     "A contact's consent history, in chain order",
		Description: "Every read of consent records is logged (who, when, which contact). A deleted contact's records stay readable.",
		Errors:      []int{http.StatusNotFound},
	}, auth.ConsentRead), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		SeqPage
	}) (*struct{ Body listBody[ConsentRecordBody] }, error) {
		p, contactID, err := s.consentCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		after, err := in.afterSeq()
		if err != nil {
			return nil, err
		}
		if err := s.logRead(ctx, p, "list-contact-consents", &contactID, ""); err != nil {
			return nil, err
		}
		recs, err := s.Consent.History(ctx, p.AccountID, contactID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		out := listBody[ConsentRecordBody]{Items: make([]ConsentRecordBody, 0, len(recs))}
		if len(recs) > in.Limit {
			recs = recs[:in.Limit]
			out.NextCursor = encodeSeqCursor(recs[len(recs)-1].Seq)
		}
		for _, r := range recs {
			out.Items = append(out.Items, toConsentBody(r))
		}
		return &struct{ Body listBody[ConsentRecordBody] }{Body: out}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-consent-state", Method: http.MethodGet, Path: "/v1/contacts/{id}/consent-state", Tags: []string{consentTag},
		Summary:     "A contact's consent in force, per purpose and channel",
		Description: "Derived from the history. A purpose and channel with no entry has no consent.",
		Errors:      []int{http.StatusNotFound},
	}, auth.ConsentRead), handle(func(ctx context.Context, in *ContactIDParam) (*struct{ Body ConsentStateListBody }, error) {
		p, contactID, err := s.consentCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if err := s.logRead(ctx, p, "get-consent-state", &contactID, ""); err != nil {
			return nil, err
		}
		st, err := s.Consent.CurrentState(ctx, p.AccountID, contactID)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ConsentStateListBody }{Body: ConsentStateListBody{ContactID: contactID.String(), Items: toStateBodies(st)}}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "export-consent-proof", Method: http.MethodGet, Path: "/v1/contacts/{id}/consents/proof", Tags: []string{consentTag},
		Summary:     "Export a contact's proof of consent (JSON or CSV)",
		Description: "The contact, its complete chain with hashes, the chain's verification and the state in force. format=csv gives one row per record.",
		Errors:      []int{http.StatusNotFound},
	}, auth.ConsentRead), handle(func(ctx context.Context, in *struct {
		ContactIDParam
		Format string `query:"format" enum:"json,csv" default:"json"`
	}) (*struct {
		ContentType        string `header:"Content-Type"`
		ContentDisposition string `header:"Content-Disposition"`
		Body               []byte
	}, error) {
		p, contactID, err := s.consentCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		if err := s.logRead(ctx, p, "export-consent-proof", &contactID, "format="+in.Format); err != nil {
			return nil, err
		}
		proof, err := s.proof(ctx, p, contactID)
		if err != nil {
			return nil, err
		}
		out := &struct {
			ContentType        string `header:"Content-Type"`
			ContentDisposition string `header:"Content-Disposition"`
			Body               []byte
		}{}
		name := "consent-proof-" + contactID.String()
		if in.Format == "csv" {
			out.ContentType, out.ContentDisposition = "text/csv; charset=utf-8", `attachment; filename="`+name+`.csv"`
			out.Body, err = proofCSV(proof.Records)
		} else {
			out.ContentType, out.ContentDisposition = "application/json", `attachment; filename="`+name+`.json"`
			out.Body, err = json.MarshalIndent(proof, "", "  ")
		}
		return out, err
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "search-consents", Method: http.MethodGet, Path: "/v1/consents", Tags: []string{consentTag},
		Summary: "Search the account's consent records",
	}, auth.ConsentRead), handle(func(ctx context.Context, in *struct {
		PageParams
		From      time.Time `query:"from" doc:"Occurred at or after."`
		Until     time.Time `query:"until" doc:"Occurred before."`
		Purpose   string    `query:"purpose" enum:"marketing,service,notifications"`
		Channel   string    `query:"channel" maxLength:"20"`
		Method    string    `query:"method" maxLength:"50"`
		Action    string    `query:"action" enum:"grant,revoke,pending"`
		ContactID string    `query:"contact_id" format:"uuid"`
	}) (*struct{ Body listBody[ConsentRecordBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		f := consent.SearchFilter{Purpose: consent.Purpose(in.Purpose), Channel: channel.Type(in.Channel), Method: consent.Method(in.Method),
			Action: consent.Action(in.Action), After: after, Limit: in.Limit + 1}
		if !in.From.IsZero() {
			f.From = &in.From
		}
		if !in.Until.IsZero() {
			f.Until = &in.Until
		}
		if in.ContactID != "" {
			id, err := parseUUID("query.contact_id", in.ContactID)
			if err != nil {
				return nil, err
			}
			f.ContactID = &id
		}
		if err := s.logRead(ctx, p, "search-consents", f.ContactID, queryOf(ctx)); err != nil {
			return nil, err
		}
		recs, err := s.Consent.Search(ctx, p.AccountID, f)
		if err != nil {
			return nil, err
		}
		return listPage(recs, in.Limit, func(r consent.Record) uuid.UUID { return r.ID }, toConsentBody), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "verify-consents", Method: http.MethodGet, Path: "/v1/consents/verify", Tags: []string{consentTag},
		Summary:     "Verify every consent chain of the account",
		Description: "Recomputes each record's hash and its link to the previous record and reports the first record that does not match: tampering by someone with database access is evident.",
	}, auth.ConsentRead), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body VerificationBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.logRead(ctx, p, "verify-consents", nil, ""); err != nil {
			return nil, err
		}
		v, err := s.Consent.Verify(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		return &struct{ Body VerificationBody }{Body: toVerificationBody(v)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-consent-access", Method: http.MethodGet, Path: "/v1/consents/access-log", Tags: []string{consentTag},
		Summary: "Who read consent records, and when",
	}, auth.ConsentRead), handle(func(ctx context.Context, in *struct {
		PageParams
		ContactID string `query:"contact_id" format:"uuid"`
	}) (*struct{ Body listBody[ConsentAccessBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		var contactID *uuid.UUID
		if in.ContactID != "" {
			id, err := parseUUID("query.contact_id", in.ContactID)
			if err != nil {
				return nil, err
			}
			contactID = &id
		}
		rows, err := s.Consent.AccessLog(ctx, p.AccountID, contactID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(rows, in.Limit, func(a consent.Access) uuid.UUID { return a.ID }, func(a consent.Access) ConsentAccessBody {
			b := ConsentAccessBody{ID: a.ID.String(), At: a.At, By: RecorderBody{Kind: a.By.Kind, ID: a.By.ID}, Operation: a.Operation, Detail: a.Detail}
			if a.ContactID != nil {
				b.ContactID = a.ContactID.String()
			}
			return b
		}), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-consent-settings", Method: http.MethodGet, Path: "/v1/consent-settings", Tags: []string{consentTag},
		Summary: "The account's opt-out and opt-in keywords and replies",
	}, auth.SettingsManage), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body ConsentSettingsBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		st, err := s.Consent.GetSettings(ctx, s.Pool, p.AccountID)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ConsentSettingsBody }{Body: ConsentSettingsBody(st)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-consent-settings", Method: http.MethodPut, Path: "/v1/consent-settings", Tags: []string{consentTag},
		Summary:     "Replace the account's opt-out and opt-in keywords and replies",
		Description: "Keywords are matched against a whole message, ignoring case, accents and surrounding punctuation.",
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body ConsentSettingsBody }) (*struct{ Body ConsentSettingsBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		st, err := s.Consent.UpdateSettings(ctx, p.AccountID, consent.Settings(in.Body))
		if err != nil {
			return nil, err
		}
		return &struct{ Body ConsentSettingsBody }{Body: ConsentSettingsBody(st)}, nil
	}))
}

// consentCaller returns the principal and the contact id of a consent operation.
func (s *server) consentCaller(ctx context.Context, id string) (auth.Principal, uuid.UUID, error) {
	p, err := principal(ctx)
	if err != nil {
		return p, uuid.Nil, err
	}
	contactID, err := parseUUID("path.id", id)
	return p, contactID, err
}

// logRead records a read of consent records before it happens: nothing is read unlogged.
func (s *server) logRead(ctx context.Context, p auth.Principal, op string, contactID *uuid.UUID, detail string) error {
	return s.Consent.LogAccess(ctx, p.AccountID, recorder(p), op, contactID, detail)
}

func (s *server) proof(ctx context.Context, p auth.Principal, contactID uuid.UUID) (ProofBody, error) {
	var recs []consent.Record
	for after := 0; ; {
		page, err := s.Consent.History(ctx, p.AccountID, contactID, after, 1000)
		if err != nil {
			return ProofBody{}, err
		}
		recs = append(recs, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].Seq
	}
	out := ProofBody{GeneratedAt: s.Clock.Now(), GeneratedBy: RecorderBody(recorder(p)), Records: make([]ConsentRecordBody, len(recs))}
	for i, r := range recs {
		out.Records[i] = toConsentBody(r)
	}
	v := consent.Verification{Records: int64(len(recs)), Contacts: 1, Problem: consent.VerifyChain(recs)}
	out.Chain = toVerificationBody(v)
	if c, err := s.Contacts.Get(ctx, p.AccountID, contactID); err == nil {
		body := toContactBody(c)
		out.Contact = &body
		st, err := s.Consent.CurrentState(ctx, p.AccountID, contactID)
		if err != nil {
			return ProofBody{}, err
		}
		out.State = toStateBodies(st)
	} else if !fault.Is(err, fault.KindNotFound) {
		return ProofBody{}, err
	}
	if out.State == nil {
		out.State = []ConsentStateBody{}
	}
	return out, nil
}

var proofColumns = []string{"seq", "id", "recorded_at", "occurred_at", "action", "purposes", "channels", "method", "explicit",
	"text", "ip", "user_agent", "source", "terms_version", "identifier_kind", "identifier", "recorded_by", "confirms", "prev_hash", "hash"}

func proofCSV(recs []ConsentRecordBody) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	_ = w.Write(proofColumns)
	for _, r := range recs {
		channels := strings.Join(r.Channels, ";")
		if r.AllChannels {
			channels = "all"
		}
		_ = w.Write([]string{strconv.Itoa(r.Seq), r.ID, r.RecordedAt.Format(time.RFC3339Nano), r.OccurredAt.Format(time.RFC3339Nano),
			r.Action, strings.Join(r.Purposes, ";"), channels, r.Method, strconv.FormatBool(r.Explicit), r.Text, r.IP, r.UserAgent,
			r.Source, r.TermsVersion, r.IdentifierKind, r.Identifier, r.RecordedBy.Kind + ":" + r.RecordedBy.ID, r.Confirms, r.PrevHash, r.Hash})
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// recorder names the principal in consent records and the access log.
func recorder(p auth.Principal) consent.Recorder {
	if p.UserID != nil {
		return consent.Recorder{Kind: "user", ID: p.UserID.String()}
	}
	return consent.Recorder{Kind: "api_key", ID: p.APIKeyID.String()}
}

func toEntry(in ConsentInput) consent.Entry {
	e := consent.Entry{
		Action: consent.Action(in.Action), AllChannels: in.AllChannels, Method: consent.Method(in.Method), Text: in.Text,
		IP: in.IP, UserAgent: in.UserAgent, Source: in.Source, TermsVersion: in.TermsVersion,
		IdentifierKind: in.IdentifierKind, Identifier: in.Identifier,
	}
	for _, p := range in.Purposes {
		e.Purposes = append(e.Purposes, consent.Purpose(p))
	}
	for _, c := range in.Channels {
		e.Channels = append(e.Channels, channel.Type(c))
	}
	if in.OccurredAt != nil {
		e.OccurredAt = *in.OccurredAt
		if e.OccurredAt.IsZero() {
			// The domain reads a zero time as "now"; a time given as year 1 is bad evidence.
			e.OccurredAt = time.Unix(1, 0).UTC()
		}
	}
	return e
}

func toConsentBody(r consent.Record) ConsentRecordBody {
	b := ConsentRecordBody{
		ID: r.ID.String(), ContactID: r.ContactID.String(), Seq: r.Seq, Action: string(r.Action),
		Purposes: make([]string, len(r.Purposes)), Channels: make([]string, len(r.Channels)), AllChannels: r.AllChannels,
		Explicit: r.Explicit, Method: string(r.Method), OccurredAt: r.OccurredAt, RecordedAt: r.RecordedAt, Text: r.Text,
		IP: r.IP, UserAgent: r.UserAgent, Source: r.Source, TermsVersion: r.TermsVersion, IdentifierKind: r.IdentifierKind,
		Identifier: r.Identifier, RecordedBy: RecorderBody(r.Recorder), PrevHash: hex.EncodeToString(r.PrevHash), Hash: hex.EncodeToString(r.Hash),
	}
	for i, p := range r.Purposes {
		b.Purposes[i] = string(p)
	}
	for i, c := range r.Channels {
		b.Channels[i] = string(c)
	}
	if r.Confirms != nil {
		b.Confirms = r.Confirms.String()
	}
	return b
}

func toStateBodies(st []consent.StateEntry) []ConsentStateBody {
	out := make([]ConsentStateBody, len(st))
	for i, e := range st {
		out[i] = ConsentStateBody{Purpose: string(e.Purpose), Channel: string(e.Channel), Status: string(e.Status),
			Explicit: e.Explicit, RecordID: e.RecordID.String(), UpdatedAt: e.UpdatedAt}
	}
	return out
}

func toVerificationBody(v consent.Verification) VerificationBody {
	b := VerificationBody{OK: v.Problem == nil, Records: v.Records, Contacts: v.Contacts}
	if v.Problem != nil {
		b.Problem = &ProblemBody{RecordID: v.Problem.RecordID.String(), ContactID: v.Problem.ContactID.String(), Seq: v.Problem.Seq, Reason: v.Problem.Reason}
	}
	return b
}

type queryKey struct{}

// queryOf is the request's query string, for the access log.
func queryOf(ctx context.Context) string {
	q, _ := ctx.Value(queryKey{}).(string)
	return q
}
