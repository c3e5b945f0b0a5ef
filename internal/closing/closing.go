// Package closing closes attendances (DESIGN §4, Conversations and attendance): now, or in N
// minutes with "if the contact replies: keep / cancel the close"; with a closing message (by
// default the closing user's own, set on the profile) sent through the ordinary send queue
// when the WhatsApp session allows it and recorded as a system note when it does not; with the
// account's custom fields asked at closing (required or optional, a null clearing the current
// value); and with a closing flow trigger.
//
// A close later is a River job scheduled at its time (from the injected clock) carrying the
// request, and conversations.close_pending_id naming it: the job closes only while the column
// still names it, so a close now, a newer schedule, a cancel or a contact's reply (the inbound
// path clears the column when the choice was cancel) all make it do nothing. Everything a
// close changes happens in one transaction under the conversation's row lock.
package closing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/distribution"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/session"
)

// The events a close emits.
const (
	// EventClosed: the attendance closed (now, or when its scheduled close ran).
	EventClosed = "conversation.closed"
	// EventCloseScheduled: a close was scheduled for later.
	EventCloseScheduled = "conversation.close_scheduled"
	// EventFlowTriggered: a closing flow (an external automation) is to run for the
	// conversation; integrators act on it from the event log or a webhook.
	EventFlowTriggered = "flow.triggered"
)

// What a contact's message before a scheduled close does.
const (
	Keep   = "keep"
	Cancel = "cancel"
)

// Limits.
const (
	MaxMessageLength = 4096
	MaxFlowLength    = 100
	// MaxDelay is the longest a close may be scheduled ahead.
	MaxDelay = 7 * 24 * time.Hour
)

// Request closes a conversation's open attendance.
type Request struct {
	AccountID      uuid.UUID
	ConversationID uuid.UUID
	// Who closes: a user (whose profile's closing message is the default) or an API key.
	UserID   *uuid.UUID
	APIKeyID *uuid.UUID
	// In delays the close; zero closes now.
	In time.Duration
	// IfContactReplies is Keep or Cancel (the default) for a delayed close.
	IfContactReplies string
	// Message is the closing message: nil takes the user's profile message, "" sends none.
	Message *string
	// CustomFields are values for the contact's custom fields asked at closing, by key; a nil
	// value clears the current one.
	CustomFields map[string]any
	// Flow names a closing flow to trigger ("" none).
	Flow string
}

// Result is what a close did, or scheduled.
type Result struct {
	ConversationID uuid.UUID
	AttendanceID   uuid.UUID
	Protocol       string
	// ClosedAt is set when the attendance closed now; CloseAt, IfContactReplies and PendingID
	// when the close was scheduled.
	ClosedAt         *time.Time
	CloseAt          *time.Time
	IfContactReplies string
	PendingID        *uuid.UUID
	// Message is what became of the closing message (nil when there was none).
	Message *MessageOutcome
	// FlowTriggered is the closing flow triggered, "" when none.
	FlowTriggered string
}

// MessageOutcome says whether the closing message was queued or, when it could not be sent,
// which system note records it and why.
type MessageOutcome struct {
	Text      string
	Queued    bool
	MessageID *uuid.UUID
	NoteID    *uuid.UUID
	// Reason is why it was not sent ("" when queued).
	Reason string
}

// Service closes attendances, scoped to one account per call.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	// jobs inserts the scheduled-close jobs in the caller's transaction: an insert-only River
	// client (the workers run in whatever process runs River).
	jobs *river.Client[pgx.Tx]
	// Wake, when set, is called with the line of a queued closing message once it committed
	// (send.Service.Wake); otherwise the send sweep finds it within a second.
	Wake func(ctx context.Context, channelID uuid.UUID)
}

// NewService returns a Service on pool, on clk's time.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	jobs, err := river.NewClient(riverpgxv5.New(nil), &river.Config{})
	if err != nil {
		panic(fmt.Sprintf("insert-only river client: %v", err)) // only a bad config fails, and this one is fixed
	}
	return &Service{pool: pool, q: store.New(), clock: clk, jobs: jobs}
}

var (
	errNotFound = fault.NotFound("conversation")
	errNotOpen  = fault.Conflict("the conversation has no open attendance to close")
)

// Close closes the conversation's open attendance now, or schedules the close when req.In is
// set. Bad input is a 422 naming the fields (custom fields required at closing that end up
// without a value among them); a conversation of another account is not found.
func (s *Service) Close(ctx context.Context, req Request) (Result, error) {
	if err := check(&req); err != nil {
		return Result{}, err
	}
	var res Result
	var wake *uuid.UUID
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.clock.Now().UTC().Truncate(time.Microsecond)
		row, err := s.lock(ctx, tx, req.AccountID, req.ConversationID)
		if err != nil {
			return err
		}
		if row.Status != "open" || row.AttendanceID == nil {
			return errNotOpen
		}
		set, clear, err := s.customValues(ctx, tx, row, req.CustomFields)
		if err != nil {
			return err
		}
		text, err := s.messageText(ctx, tx, req)
		if err != nil {
			return err
		}
		if req.In > 0 {
			res, err = s.schedule(ctx, tx, row, req, Plan{Message: text, Set: set, Clear: clear}, now)
			return err
		}
		res, err = s.closeLocked(ctx, tx, row, Plan{Message: text, Set: set, Clear: clear, UserID: req.UserID, APIKeyID: req.APIKeyID, Flow: req.Flow}, now, false)
		if res.Message != nil && res.Message.Queued {
			wake = &row.ChannelID
		}
		return err
	})
	if err != nil {
		return Result{}, err
	}
	if wake != nil && s.Wake != nil {
		s.Wake(ctx, *wake)
	}
	return res, nil
}

// CancelPending cancels the conversation's scheduled close; a conversation without one is a
// conflict.
func (s *Service) CancelPending(ctx context.Context, accountID, conversationID uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.lock(ctx, tx, accountID, conversationID); err != nil {
			return err
		}
		_, err := s.q.CancelPendingClose(ctx, tx, store.CancelPendingCloseParams{AccountID: accountID, ID: conversationID, Now: s.clock.Now()})
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Conflict("the conversation has no scheduled close")
		}
		if err != nil {
			return fmt.Errorf("cancel scheduled close of %s: %w", conversationID, err)
		}
		return nil
	})
}

// check validates what can be validated without the database and applies defaults.
func check(req *Request) error {
	var errs []fault.FieldError
	switch {
	case req.In < 0 || req.In > MaxDelay:
		errs = append(errs, fault.FieldError{Field: "body.in_minutes", Message: fmt.Sprintf("must be from 1 to %d minutes", int(MaxDelay.Minutes())), Value: int(req.In.Minutes())})
	case req.In == 0 && req.IfContactReplies != "":
		errs = append(errs, fault.FieldError{Field: "body.if_contact_replies", Message: "only applies to a close scheduled with in_minutes", Value: req.IfContactReplies})
	case req.In > 0 && req.IfContactReplies == "":
		req.IfContactReplies = Cancel
	case req.In > 0 && req.IfContactReplies != Keep && req.IfContactReplies != Cancel:
		errs = append(errs, fault.FieldError{Field: "body.if_contact_replies", Message: "must be keep or cancel", Value: req.IfContactReplies})
	}
	if req.Message != nil {
		m := strings.TrimSpace(*req.Message)
		if utf8.RuneCountInString(m) > MaxMessageLength || !utf8.ValidString(m) || strings.ContainsRune(m, 0) {
			errs = append(errs, fault.FieldError{Field: "body.message", Message: fmt.Sprintf("must be text of at most %d characters", MaxMessageLength)})
		}
		req.Message = &m
	}
	req.Flow = strings.TrimSpace(req.Flow)
	if utf8.RuneCountInString(req.Flow) > MaxFlowLength || strings.ContainsRune(req.Flow, 0) {
		errs = append(errs, fault.FieldError{Field: "body.flow", Message: fmt.Sprintf("must name a flow in at most %d characters", MaxFlowLength), Value: req.Flow})
	}
	if len(errs) > 0 {
		return fault.Invalid("invalid close", errs...)
	}
	return nil
}

func (s *Service) lock(ctx context.Context, tx pgx.Tx, accountID, id uuid.UUID) (store.LockConversationForCloseRow, error) {
	row, err := s.q.LockConversationForClose(ctx, tx, store.LockConversationForCloseParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return row, errNotFound
	}
	if err != nil {
		return row, fmt.Errorf("lock conversation %s: %w", id, err)
	}
	return row, nil
}

// customValues checks the custom field values given at closing against the account's
// definitions: only fields asked at closing (optional or required) may be given, values are
// checked by type, and every field required at closing must hold a value afterwards (given
// now, or already on the contact and not cleared). Returns the values to set (normalised) and
// the keys to clear.
func (s *Service) customValues(ctx context.Context, tx pgx.Tx, row store.LockConversationForCloseRow, given map[string]any) (map[string]any, []string, error) {
	defs, err := customfield.Load(ctx, tx, row.AccountID)
	if err != nil {
		return nil, nil, err
	}
	asked := map[string]string{}
	for _, d := range defs {
		if d.OnClose != "no" {
			asked[d.Key] = d.OnClose
		}
	}
	if len(asked) == 0 && len(given) == 0 {
		return nil, nil, nil
	}
	var errs []fault.FieldError
	values := map[string]any{}
	var clear []string
	for _, key := range sortedKeys(given) {
		v := given[key]
		if _, ok := asked[key]; !ok {
			msg := "no custom field has this key"
			for _, d := range defs {
				if d.Key == key {
					msg = "this custom field is not asked at closing (its on_close is no)"
				}
			}
			errs = append(errs, fault.FieldError{Field: "body.custom_fields." + key, Message: msg, Value: v})
			continue
		}
		if v == nil {
			clear = append(clear, key)
			continue
		}
		values[key] = v
	}
	set, bad := customfield.CheckValues(defs, values, "body.custom_fields")
	errs = append(errs, bad...)
	var current map[string]any
	raw, err := s.q.ContactCustomValues(ctx, tx, store.ContactCustomValuesParams{AccountID: row.AccountID, ID: row.ContactID})
	if err != nil {
		return nil, nil, fmt.Errorf("read custom values of contact %s: %w", row.ContactID, err)
	}
	if err := json.Unmarshal(raw, &current); err != nil {
		return nil, nil, fmt.Errorf("decode custom values of contact %s: %w", row.ContactID, err)
	}
	for _, key := range sortedKeys(asked) {
		if asked[key] != "required" {
			continue
		}
		_, setNow := values[key]
		_, held := current[key]
		cleared := false
		for _, c := range clear {
			cleared = cleared || c == key
		}
		if !setNow && (!held || cleared) {
			errs = append(errs, fault.FieldError{Field: "body.custom_fields." + key, Message: "is required at closing"})
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Field < errs[j].Field })
		return nil, nil, fault.Invalid("the custom fields asked at closing are missing or invalid", errs...)
	}
	return set, clear, nil
}

// messageText is the closing message to send: the one given, else the closing user's
// profile message ("" when there is none, or the caller is an API key).
func (s *Service) messageText(ctx context.Context, tx pgx.Tx, req Request) (string, error) {
	if req.Message != nil {
		return *req.Message, nil
	}
	if req.UserID == nil {
		return "", nil
	}
	m, err := ClosingMessage(ctx, tx, req.AccountID, *req.UserID)
	return strings.TrimSpace(m), err
}

// Plan is what a close does, decided (and checked) when it was asked for: the job of a
// scheduled close carries it, so the close later does what was asked then.
type Plan struct {
	Message  string         `json:"message,omitempty"`
	Set      map[string]any `json:"set,omitempty"`
	Clear    []string       `json:"clear,omitempty"`
	UserID   *uuid.UUID     `json:"user_id,omitempty"`
	APIKeyID *uuid.UUID     `json:"api_key_id,omitempty"`
	Flow     string         `json:"flow,omitempty"`
}

// closeLocked closes the locked conversation's attendance: queues the closing message or notes
// why it cannot go, writes the custom values, closes attendance and conversation, and emits
// conversation.closed (and flow.triggered).
func (s *Service) closeLocked(ctx context.Context, tx pgx.Tx, row store.LockConversationForCloseRow, p Plan, now time.Time, scheduled bool) (Result, error) {
	res := Result{ConversationID: row.ID, AttendanceID: *row.AttendanceID, Protocol: row.Protocol, ClosedAt: &now, FlowTriggered: p.Flow}
	if p.Message != "" {
		out, err := s.sendMessage(ctx, tx, row, p, now)
		if err != nil {
			return Result{}, err
		}
		res.Message = out
	}
	if len(p.Set) > 0 || len(p.Clear) > 0 {
		set, err := json.Marshal(p.Set)
		if err != nil {
			return Result{}, fmt.Errorf("encode custom values: %w", err)
		}
		if p.Set == nil {
			set = []byte("{}")
		}
		clear := p.Clear
		if clear == nil {
			clear = []string{}
		}
		if err := s.q.SetClosingCustomValues(ctx, tx, store.SetClosingCustomValuesParams{
			AccountID: row.AccountID, ID: row.ContactID, SetValues: set, ClearKeys: clear, Now: now,
		}); err != nil {
			return Result{}, fmt.Errorf("write closing custom values: %w", err)
		}
	}
	if err := s.q.CloseConversation(ctx, tx, store.CloseConversationParams{
		AccountID: row.AccountID, ID: row.ID, AttendanceID: *row.AttendanceID, AgentID: row.AgentID, DepartmentID: row.DepartmentID, Now: now,
	}); err != nil {
		return Result{}, fmt.Errorf("close conversation %s: %w", row.ID, err)
	}
	if row.AgentID != nil {
		// The agent has room for one more: automatic distribution may give it work now.
		if err := distribution.Kick(ctx, tx, s.jobs, row.AccountID); err != nil {
			return Result{}, err
		}
	}
	id := row.ID
	base := func() map[string]any {
		return map[string]any{"conversation_id": row.ID, "attendance_id": *row.AttendanceID, "protocol": row.Protocol,
			"contact_id": row.ContactID, "channel_id": row.ChannelID}
	}
	closed := base()
	closed["agent_id"], closed["department_id"] = row.AgentID, row.DepartmentID
	closed["closed_by_user_id"], closed["closed_by_api_key_id"] = p.UserID, p.APIKeyID
	closed["scheduled"] = scheduled
	if res.Message != nil {
		closed["message_queued"] = res.Message.Queued
	}
	events := []event.New{{Type: EventClosed, SubjectID: &id, Data: closed}}
	if p.Flow != "" {
		flow := base()
		flow["flow"], flow["trigger"] = p.Flow, "closing"
		events = append(events, event.New{Type: EventFlowTriggered, SubjectID: &id, Data: flow})
	}
	if err := event.Emit(ctx, tx, row.AccountID, now, events...); err != nil {
		return Result{}, err
	}
	return res, nil
}

// sendMessage queues the closing message on the ordinary send queue (the line's dispatcher
// sends it), or, when it may not go (outside the WhatsApp service session, contact blocked,
// channel inactive), stores it as a system note saying why.
func (s *Service) sendMessage(ctx context.Context, tx pgx.Tx, row store.LockConversationForCloseRow, p Plan, now time.Time) (*MessageOutcome, error) {
	out := &MessageOutcome{Text: p.Message}
	st := session.State{}
	if row.ServiceExpiresAt != nil {
		st.ServiceExpiresAt = *row.ServiceExpiresAt
	}
	switch {
	case row.Blocked:
		out.Reason = "the contact is blocked"
	case !row.ChannelActive:
		out.Reason = "the channel is inactive"
	case channel.Type(row.ChannelType) == channel.WhatsApp && !st.FreeFormAllowed(now):
		out.Reason = "outside the WhatsApp service session (the contact has not written in the last 24 hours): a free-form message cannot be sent, only an approved template"
	case row.Address == "":
		out.Reason = "the contact has no address on this channel"
	}
	if out.Reason != "" {
		id := uuid.Must(uuid.NewV7())
		if _, err := s.q.InsertConversationNote(ctx, tx, store.InsertConversationNoteParams{
			AccountID: row.AccountID, ID: id, ConversationID: row.ID, ChannelID: row.ChannelID, AttendanceID: row.AttendanceID,
			Text: "Closing message not sent (" + out.Reason + "): " + p.Message, CreatedAt: now,
		}); err != nil {
			return nil, fmt.Errorf("note unsent closing message: %w", err)
		}
		out.NoteID = &id
		return out, nil
	}
	id, queued := uuid.Must(uuid.NewV7()), "queued"
	if _, err := s.q.QueueMessage(ctx, tx, store.QueueMessageParams{
		AccountID: row.AccountID, ID: id, ChannelID: row.ChannelID, Direction: "outbound", Kind: "text", Text: p.Message,
		Payload: []byte("{}"), Status: &queued, StatusAt: &now, SendAfter: &now, SentByUserID: p.UserID, ApiKeyID: p.APIKeyID,
		CreatedAt: now, NewConversationID: uuid.Must(uuid.NewV7()), ContactID: row.ContactID, Address: row.Address,
	}); err != nil {
		return nil, fmt.Errorf("queue closing message: %w", err)
	}
	out.Queued, out.MessageID = true, &id
	return out, nil
}

// schedule records a close for later and inserts its job at that time, in the caller's
// transaction.
func (s *Service) schedule(ctx context.Context, tx pgx.Tx, row store.LockConversationForCloseRow, req Request, p Plan, now time.Time) (Result, error) {
	at := now.Add(req.In)
	id := uuid.Must(uuid.NewV7())
	p.UserID, p.APIKeyID, p.Flow = req.UserID, req.APIKeyID, req.Flow
	if err := s.q.SchedulePendingClose(ctx, tx, store.SchedulePendingCloseParams{
		AccountID: row.AccountID, ID: row.ID, PendingID: &id, CloseAt: &at, IfReply: &req.IfContactReplies, Now: now,
	}); err != nil {
		return Result{}, fmt.Errorf("schedule close of %s: %w", row.ID, err)
	}
	args := Args{AccountID: row.AccountID, ConversationID: row.ID, PendingID: id, AttendanceID: *row.AttendanceID, Close: p}
	if _, err := s.jobs.InsertTx(ctx, tx, args, &river.InsertOpts{ScheduledAt: at}); err != nil {
		return Result{}, fmt.Errorf("enqueue scheduled close of %s: %w", row.ID, err)
	}
	convID := row.ID
	if err := event.Emit(ctx, tx, row.AccountID, now, event.New{Type: EventCloseScheduled, SubjectID: &convID, Data: map[string]any{
		"conversation_id": row.ID, "attendance_id": *row.AttendanceID, "protocol": row.Protocol, "close_at": at,
		"if_contact_replies": req.IfContactReplies, "pending_id": id,
	}}); err != nil {
		return Result{}, err
	}
	return Result{ConversationID: row.ID, AttendanceID: *row.AttendanceID, Protocol: row.Protocol, CloseAt: &at,
		IfContactReplies: req.IfContactReplies, PendingID: &id}, nil
}

// RunPending runs a scheduled close when it is still the conversation's pending close and its
// attendance is still open; otherwise (cancelled, replaced, already closed) it does nothing
// and says so. Running it twice closes once.
func (s *Service) RunPending(ctx context.Context, a Args) (closed bool, err error) {
	var wake *uuid.UUID
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.lock(ctx, tx, a.AccountID, a.ConversationID)
		if errors.Is(err, errNotFound) {
			return nil // the conversation went away (merged, account deleted)
		}
		if err != nil {
			return err
		}
		if row.ClosePendingID == nil || *row.ClosePendingID != a.PendingID || row.Status != "open" ||
			row.AttendanceID == nil || *row.AttendanceID != a.AttendanceID {
			return nil
		}
		res, err := s.closeLocked(ctx, tx, row, a.Close, s.clock.Now().UTC().Truncate(time.Microsecond), true)
		if err != nil {
			return err
		}
		closed = true
		if res.Message != nil && res.Message.Queued {
			wake = &row.ChannelID
		}
		return nil
	})
	if err == nil && wake != nil && s.Wake != nil {
		s.Wake(ctx, *wake)
	}
	return closed, err
}

// Args is a scheduled close: the job runs at its time and closes only if the conversation's
// pending close is still this one (PendingID) on the same attendance.
type Args struct {
	AccountID      uuid.UUID `json:"account_id"`
	ConversationID uuid.UUID `json:"conversation_id"`
	PendingID      uuid.UUID `json:"pending_id"`
	AttendanceID   uuid.UUID `json:"attendance_id"`
	Close          Plan      `json:"close"`
}

// Kind names the job in river_job.
func (Args) Kind() string { return "conversation_close" }

// Worker runs Args jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	Service *Service
}

// Work runs the scheduled close (or nothing, when it no longer applies).
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	_, err := w.Service.RunPending(ctx, job.Args)
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
