// Package send is the outbound half of messaging: the Send Message API's rules (who may be
// sent what, on which channel, now), the dispatchers that hand queued messages to providers at
// each line's throughput, and the status updates providers report afterwards.
//
// A message is queued by one statement (its conversation opened on the way) and sent by the
// dispatcher of its line: a River job per channel that claims due messages in batches under a
// lease, takes send slots from the line's bucket in PostgreSQL (so the line's rate holds across
// processes), sends them concurrently and records the outcomes set-based.
package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/media"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/phone"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/session"
	"github.com/conversa-hq/conversa/internal/template"
)

// InternalPrefix starts an agent's text that is an internal note, never sent.
const InternalPrefix = "/interna "

// Request is one message to send (or, with Internal, a note to store).
type Request struct {
	AccountID uuid.UUID
	// The recipient: by ContactID, CustomerCode or Phone (the first one given), on ChannelID;
	// or, for agents, the ConversationID alone.
	ContactID      *uuid.UUID
	CustomerCode   string
	Phone          string
	ChannelID      uuid.UUID
	ConversationID *uuid.UUID
	// Exactly one of Text, Media and TemplateID. Media's Caption goes with it.
	Text  string
	Media *provider.Media
	// MediaID sends a file of the account's media library in place of Media's link (Media
	// may carry the caption and the file name): it is resolved to the file's kind and signed
	// public link.
	MediaID *uuid.UUID
	// TemplateID sends an approved template; Variables override its bindings by variable
	// location ("body:1", "header:name", "button:0").
	TemplateID *uuid.UUID
	Variables  map[string]string
	// Internal stores the text as an internal note (as does a text starting InternalPrefix).
	Internal bool
	// Who sends: a user or an API key.
	UserID   *uuid.UUID
	APIKeyID *uuid.UUID
}

// Queued is a message stored by Send.
type Queued struct {
	ID             uuid.UUID
	ConversationID uuid.UUID
	ChannelID      uuid.UUID
	Kind           string
	// Status is queued, or empty for an internal note.
	Status string
}

// payload is what a queued message carries to its dispatcher besides its text.
type payload struct {
	Media    *provider.Media    `json:"media,omitempty"`
	Template *provider.Template `json:"template,omitempty"`
}

// Service checks and queues messages.
type Service struct {
	pool      *pgxpool.Pool
	q         *store.Queries
	clock     clock.Clock
	contacts  *contact.Service
	templates *template.Service
	consent   *consent.Service
	// Media resolves MediaID; nil refuses it.
	Media *media.Service
	// Wake, when set, is called with a line that has new messages (after they are stored).
	Wake func(ctx context.Context, channelID uuid.UUID)
	// freeForms stores the fast path's messages of concurrent requests together.
	freeForms *pgdb.Group[freeForm, uuid.UUID]
}

// NewService returns a Service.
func NewService(pool *pgxpool.Pool, clk clock.Clock, contacts *contact.Service, templates *template.Service, cons *consent.Service) *Service {
	s := &Service{pool: pool, q: store.New(), clock: clk, contacts: contacts, templates: templates, consent: cons}
	s.freeForms = &pgdb.Group[freeForm, uuid.UUID]{Runners: FreeFormWriters, Max: FreeFormGroup,
		Run: func(ctx context.Context, msgs []freeForm) ([]uuid.UUID, error) {
			return queueFreeForms(ctx, s.pool, s.q, msgs)
		}}
	return s
}

// The refusals, each its own problem. ErrBlocked, ErrNotApproved and ErrNoConsent say the
// rules forbid the message whatever is retried (the contact's state, the template's approval,
// consent), for callers that tell them apart from failures: a schedule is skipped on them.
var (
	ErrBlocked        = fault.Conflict("the contact is blocked: nothing is sent to a blocked contact")
	errInactive       = fault.Conflict("the channel is inactive: activate it before sending")
	ErrNotApproved    = fault.Invalid("the template is not approved on this channel, or the channel is not in its library: submit it to the channel and wait for approval", fault.FieldError{Field: "body.template_id", Message: "not approved on this channel"})
	ErrNoConsent      = fault.Conflict("the contact has no marketing consent on this channel: marketing templates are refused (consent gate)")
	errOutsideSession = fault.Conflict(session.ErrOutsideSession.Error())
)

// Send checks req and stores the message queued (or the note), opening the contact's
// conversation on the channel if it has none. db is the caller's transaction (with an
// Idempotency-Key) or the pool: the message is written by one statement either way. The
// caller wakes the line's dispatcher (Service.Wake) once db has committed.
func (s *Service) Send(ctx context.Context, db store.DBTX, req Request) (Queued, error) {
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	internal := req.Internal
	text := req.Text
	if rest, ok := strings.CutPrefix(text, InternalPrefix); ok {
		internal, text = true, strings.TrimSpace(rest)
	}
	if req.MediaID != nil && !internal {
		if err := s.resolveMedia(ctx, db, &req); err != nil {
			return Queued{}, err
		}
	}
	if err := checkContent(text, req, internal); err != nil {
		return Queued{}, err
	}
	if q, ok, err := s.fastFreeForm(ctx, db, req, text, internal, now); err != nil || ok {
		return q, err
	}
	t, err := s.target(ctx, db, req)
	if err != nil {
		return Queued{}, err
	}
	if text, req.Variables, err = s.fillProtocol(ctx, db, req.AccountID, t.conversationID, text, req.Variables); err != nil {
		return Queued{}, err
	}
	p := store.QueueMessageParams{
		AccountID: req.AccountID, ID: uuid.Must(uuid.NewV7()), ChannelID: t.channelID, CreatedAt: now,
		NewConversationID: uuid.Must(uuid.NewV7()), ContactID: t.contactID, Address: t.address,
		SentByUserID: req.UserID, ApiKeyID: req.APIKeyID, Text: text, Payload: []byte("{}"),
	}
	if internal {
		p.Direction, p.Kind = "internal", "note"
		return s.queue(ctx, db, p, t.channelID)
	}
	if t.blocked {
		return Queued{}, ErrBlocked
	}
	if !t.active {
		return Queued{}, errInactive
	}
	queued, at := "queued", now
	p.Direction, p.Status, p.StatusAt, p.SendAfter = "outbound", &queued, &at, &at
	var pl payload
	switch {
	case req.TemplateID != nil:
		tpl, err := s.templates.Get(ctx, req.AccountID, *req.TemplateID)
		if err != nil {
			return Queued{}, err
		}
		if _, ok := tpl.Sendable(t.channelID); !ok {
			return Queued{}, ErrNotApproved
		}
		stop, err := paidSendStop(ctx, db, s.q, req.AccountID)
		if err != nil {
			return Queued{}, err
		}
		if stop != nil {
			return Queued{}, errPaidStopped(stop)
		}
		if tpl.Category == string(session.Marketing) {
			ok, err := s.consent.Allowed(ctx, db, req.AccountID, t.contactID, consent.PurposeMarketing, t.channelType, false)
			if err != nil {
				return Queued{}, err
			}
			if !ok {
				return Queued{}, ErrNoConsent
			}
		}
		r, err := s.render(ctx, db, req, tpl, t.contactID)
		if err != nil {
			return Queued{}, err
		}
		cat := tpl.Category
		p.Kind, p.Text, p.TemplateID, p.TemplateCategory = "template", r.Body, req.TemplateID, &cat
		pl.Template = &r.Send
	default:
		if t.channelType == channel.WhatsApp {
			if err := t.state.CheckFreeForm(now); err != nil {
				return Queued{}, errOutsideSession
			}
		}
		p.Kind = "text"
		if req.Media != nil {
			p.Kind, p.Text, pl.Media = "media", req.Media.Caption, req.Media
		}
	}
	if pl.Media != nil || pl.Template != nil {
		if p.Payload, err = json.Marshal(pl); err != nil {
			return Queued{}, fmt.Errorf("encode message payload: %w", err)
		}
	}
	if t.address == "" {
		return Queued{}, fault.Invalid("the contact has no address on this channel (no phone, or no e-mail for an e-mail channel)")
	}
	return s.queue(ctx, db, p, t.channelID)
}

// fastFreeForm stores a free-form message in one statement when the contact already has a
// conversation on the channel and the rules Send checks all hold (the statement checks the
// same: not blocked, channel active, service session open on WhatsApp); ok is false when the
// full path must run, to queue the message or to say why not. Outside a transaction the
// message shares its statement with those of concurrent requests (freeForms).
func (s *Service) fastFreeForm(ctx context.Context, db store.DBTX, req Request, text string, internal bool, now time.Time) (Queued, bool, error) {
	if internal || req.TemplateID != nil || req.ConversationID != nil || strings.Contains(text, ProtocolToken) {
		return Queued{}, false, nil
	}
	f := freeForm{accountID: req.AccountID, id: uuid.Must(uuid.NewV7()), channelID: req.ChannelID, contactID: req.ContactID,
		kind: "text", text: text, payload: []byte("{}"), userID: req.UserID, apiKeyID: req.APIKeyID, at: now}
	switch {
	case req.ContactID != nil:
	case strings.TrimSpace(req.CustomerCode) != "":
		f.customerCode = strings.TrimSpace(req.CustomerCode)
	default:
		return Queued{}, false, nil // by phone: the full path normalises it
	}
	if req.Media != nil {
		b, err := json.Marshal(payload{Media: req.Media})
		if err != nil {
			return Queued{}, false, fmt.Errorf("encode message payload: %w", err)
		}
		f.kind, f.text, f.payload = "media", req.Media.Caption, b
	}
	var conv uuid.UUID
	if pool, ok := db.(*pgxpool.Pool); ok && pool == s.pool {
		var err error
		if conv, err = s.freeForms.Do(ctx, f); err != nil {
			return Queued{}, false, err
		}
	} else {
		convs, err := queueFreeForms(ctx, db, s.q, []freeForm{f})
		if err != nil {
			return Queued{}, false, err
		}
		conv = convs[0]
	}
	if conv == uuid.Nil {
		return Queued{}, false, nil
	}
	return Queued{ID: f.id, ConversationID: conv, ChannelID: req.ChannelID, Kind: f.kind, Status: "queued"}, true, nil
}

// freeForm is a message for the fast path (QueueFreeForms).
type freeForm struct {
	accountID, id, channelID uuid.UUID
	// The recipient: contactID, else customerCode.
	contactID        *uuid.UUID
	customerCode     string
	kind, text       string
	payload          []byte
	userID, apiKeyID *uuid.UUID
	at               time.Time
}

// FreeFormWriters is how many fast-path statements a process has in flight at once, and
// FreeFormGroup the most messages one carries. Measured with loadgen -send (64 clients): see
// docs/benchmarks.md, issue 6. Two rather than four: on two cores PostgreSQL is the busiest
// part of a send, and fewer statements in flight carry more messages each (fewer commits and
// executor start-ups); in alternated runs two took 2 855-4 378 sends/s flat out where four
// took 2 076-3 551, with lower medians at an offered 2 500/s.
const (
	FreeFormWriters = 2
	FreeFormGroup   = 64
)

// queueFreeForms runs the fast path's statement for msgs and returns, for each, its
// conversation, or uuid.Nil when the message was not stored (the full path says why). The
// statement runs with a generic plan when db is a pool (pgbench of the one-message statement:
// 3 790/s with generic plans allowed, 1 984/s with the pool's custom plans).
func queueFreeForms(ctx context.Context, db store.DBTX, q *store.Queries, msgs []freeForm) ([]uuid.UUID, error) {
	p := store.QueueFreeFormsParams{}
	for _, m := range msgs {
		contact, user, key := uuid.Nil, uuid.Nil, uuid.Nil
		if m.contactID != nil {
			contact = *m.contactID
		}
		if m.userID != nil {
			user = *m.userID
		}
		if m.apiKeyID != nil {
			key = *m.apiKeyID
		}
		p.AccountIds, p.Ids, p.ChannelIds, p.ContactIds = append(p.AccountIds, m.accountID), append(p.Ids, m.id), append(p.ChannelIds, m.channelID), append(p.ContactIds, contact)
		p.CustomerCodes, p.Kinds, p.Texts, p.Payloads = append(p.CustomerCodes, m.customerCode), append(p.Kinds, m.kind), append(p.Texts, m.text), append(p.Payloads, m.payload)
		p.SentByUserIds, p.ApiKeyIds, p.CreatedAts = append(p.SentByUserIds, user), append(p.ApiKeyIds, key), append(p.CreatedAts, m.at)
	}
	if pool, ok := db.(*pgxpool.Pool); ok {
		db = pgdb.GenericPlans{Pool: pool}
	}
	rows, err := q.QueueFreeForms(ctx, db, p)
	if err != nil {
		return nil, fmt.Errorf("store %d messages: %w", len(msgs), err)
	}
	stored := make(map[uuid.UUID]uuid.UUID, len(rows))
	for _, r := range rows {
		stored[r.ID] = r.ConversationID
	}
	convs := make([]uuid.UUID, len(msgs))
	for i, m := range msgs {
		convs[i] = stored[m.id]
	}
	return convs, nil
}

func (s *Service) queue(ctx context.Context, db store.DBTX, p store.QueueMessageParams, channelID uuid.UUID) (Queued, error) {
	conv, err := s.q.QueueMessage(ctx, db, p)
	if err != nil {
		return Queued{}, fmt.Errorf("store message: %w", err)
	}
	out := Queued{ID: p.ID, ConversationID: conv, ChannelID: channelID, Kind: p.Kind}
	if p.Status != nil {
		out.Status = *p.Status
	}
	return out, nil
}

func checkContent(text string, req Request, internal bool) error {
	if internal {
		if strings.TrimSpace(text) == "" {
			return fault.Invalid("an internal note needs text", fault.FieldError{Field: "body.text", Message: "is empty"})
		}
		return nil
	}
	n := 0
	for _, set := range []bool{text != "", req.Media != nil, req.TemplateID != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fault.Invalid("give exactly one of text, media and template_id")
	}
	if req.Media != nil && strings.TrimSpace(req.Media.URL) == "" {
		return fault.Invalid("media needs a link or a media_id of the library", fault.FieldError{Field: "body.media.url", Message: "is empty"})
	}
	if req.Media != nil && req.Media.Kind == "" {
		return fault.Invalid("media by link needs its kind", fault.FieldError{Field: "body.media.kind", Message: "is required with url"})
	}
	return nil
}

// resolveMedia puts the library file req.MediaID in req.Media: its kind, its signed link and
// (for a document) its name, keeping the caption and a file name the caller gave.
func (s *Service) resolveMedia(ctx context.Context, db store.DBTX, req *Request) error {
	given := provider.Media{}
	if req.Media != nil {
		given = *req.Media
	}
	if given.URL != "" {
		return fault.Invalid("give the media's url or its media_id, not both", fault.FieldError{Field: "body.media.url", Message: "not allowed with media_id"})
	}
	if s.Media == nil {
		return fault.Conflict("media from the library cannot be sent by this server")
	}
	m, err := s.Media.Link(ctx, db, req.AccountID, *req.MediaID, "body.media.media_id")
	if err != nil {
		return err
	}
	if given.Kind != "" && given.Kind != m.Kind {
		return fault.Invalid("the library file is of another kind", fault.FieldError{Field: "body.media.kind",
			Message: "the file is " + string(m.Kind), Value: string(given.Kind)})
	}
	m.Caption = given.Caption
	if given.Filename != "" {
		m.Filename = given.Filename
	}
	req.Media = &m
	return nil
}

// target is what Send checks about the recipient and the channel.
type target struct {
	contactID, channelID uuid.UUID
	// conversationID is the contact's conversation on the channel, nil before the first message.
	conversationID  *uuid.UUID
	channelType     channel.Type
	blocked, active bool
	address         string
	state           session.State
}

func (s *Service) target(ctx context.Context, db store.DBTX, req Request) (target, error) {
	if req.ConversationID != nil {
		r, err := s.q.ConversationTarget(ctx, db, store.ConversationTargetParams{AccountID: req.AccountID, ID: *req.ConversationID})
		if errors.Is(err, pgx.ErrNoRows) {
			return target{}, fault.NotFound("conversation")
		}
		if err != nil {
			return target{}, fmt.Errorf("find conversation: %w", err)
		}
		return target{contactID: r.ContactID, channelID: r.ChannelID, conversationID: &r.ConversationID, channelType: channel.Type(r.ChannelType),
			blocked: r.Blocked, active: r.ChannelActive, address: r.ConversationAddress, state: state(r.ServiceExpiresAt, r.CategorySessions)}, nil
	}
	p := store.SendTargetParams{AccountID: req.AccountID, ChannelID: req.ChannelID}
	switch {
	case req.ContactID != nil:
		p.ContactID = req.ContactID
	case strings.TrimSpace(req.CustomerCode) != "":
		code := strings.TrimSpace(req.CustomerCode)
		p.CustomerCode = &code
	case req.Phone != "":
		n, err := phone.Normalize(req.Phone)
		if err != nil {
			return target{}, fault.Invalid("invalid phone number", fault.FieldError{Field: "body.phone", Message: err.Error()})
		}
		p.Phone = &n.E164
	default:
		return target{}, fault.Invalid("give the recipient: contact_id, customer_code or phone")
	}
	r, err := s.q.SendTarget(ctx, db, p)
	if errors.Is(err, pgx.ErrNoRows) {
		return target{}, fault.NotFound("contact")
	}
	if err != nil {
		return target{}, fmt.Errorf("find recipient: %w", err)
	}
	if r.ChannelID == nil {
		return target{}, fault.NotFound("channel")
	}
	t := target{contactID: r.ContactID, channelID: *r.ChannelID, conversationID: r.ConversationID, channelType: channel.Type(*r.ChannelType),
		blocked: r.Blocked, active: *r.ChannelActive, state: state(r.ServiceExpiresAt, r.CategorySessions)}
	switch {
	case r.ConversationAddress != nil:
		t.address = *r.ConversationAddress
	case t.channelType == channel.Email:
		t.address = r.Email
	case p.Phone != nil:
		t.address = *p.Phone
	default:
		t.address = r.FirstPhone
	}
	return t, nil
}

// ProtocolToken in a message's text, or in a template variable's value, becomes the protocol
// of the conversation's open attendance ("" when none is open), so an agent or an integration
// can quote the number the contact will refer to.
const ProtocolToken = "{{protocolo}}"

// fillProtocol replaces ProtocolToken in the text and the variable values; it reads the
// protocol only when one of them asks for it.
func (s *Service) fillProtocol(ctx context.Context, db store.DBTX, accountID uuid.UUID, conversationID *uuid.UUID, text string, vars map[string]string) (string, map[string]string, error) {
	asks := strings.Contains(text, ProtocolToken)
	for _, v := range vars {
		asks = asks || strings.Contains(v, ProtocolToken)
	}
	if !asks {
		return text, vars, nil
	}
	protocol := ""
	if conversationID != nil {
		var err error
		if protocol, err = s.q.CurrentProtocol(ctx, db, store.CurrentProtocolParams{AccountID: accountID, ConversationID: *conversationID}); err != nil {
			return "", nil, fmt.Errorf("read protocol: %w", err)
		}
	}
	filled := make(map[string]string, len(vars))
	for k, v := range vars {
		filled[k] = strings.ReplaceAll(v, ProtocolToken, protocol)
	}
	return strings.ReplaceAll(text, ProtocolToken, protocol), filled, nil
}

// state reads a conversation's stored session state.
func state(service *time.Time, sessions []byte) session.State {
	var st session.State
	if service != nil {
		st.ServiceExpiresAt = *service
	}
	if len(sessions) > 0 {
		_ = json.Unmarshal(sessions, &st.Opened)
	}
	return st
}

func (s *Service) render(ctx context.Context, db store.DBTX, req Request, tpl template.Template, contactID uuid.UUID) (template.Rendered, error) {
	c, err := s.contacts.GetIn(ctx, db, req.AccountID, contactID)
	if err != nil {
		return template.Rendered{}, err
	}
	defs, err := customfield.Load(ctx, db, req.AccountID)
	if err != nil {
		return template.Rendered{}, err
	}
	if len(req.Variables) > 0 {
		b := make(map[string]template.Binding, len(tpl.Bindings)+len(req.Variables))
		for k, v := range tpl.Bindings {
			b[k] = v
		}
		for k, v := range req.Variables {
			b[k] = template.Binding{Text: v}
		}
		tpl.Bindings = b
	}
	r := template.Render(tpl, c, defs)
	if len(r.Unresolved) > 0 {
		fields := make([]fault.FieldError, len(r.Unresolved))
		for i, loc := range r.Unresolved {
			fields[i] = fault.FieldError{Field: "body.variables." + loc, Message: "has no value for this contact: give it in variables or bind a fallback"}
		}
		return template.Rendered{}, fault.Invalid("the template has variables without a value for this contact", fields...)
	}
	return r, nil
}
