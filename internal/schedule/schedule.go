// Package schedule runs what is scheduled for a contact (DESIGN §4 "Conversations and
// attendance", the seeds' "Agendamento de Envio de Mensagem", "Agendamento de Disparo de
// Fluxo" and "Agendar Retorno"): a template message (optionally opening an attendance for an
// agent or a department), a flow trigger, or an appointment (a callback that hides a waiting
// conversation from the queue until 5 minutes before it, then puts it first until served).
//
// Each schedule is a row and a River job at its time, inserted in one transaction. The row is
// the truth: the job locks it and acts only while it is pending and due on the injected clock,
// then records the outcome (done; failed or skipped, with the reason) in the same transaction
// as what it did. A cancelled schedule, or a job River runs again after it succeeded, finds the
// row no longer pending and does nothing; cancelling also cancels the waiting job, but nothing
// depends on that.
package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/queue"
	"github.com/conversa-hq/conversa/internal/send"
)

// The kinds of schedule.
const (
	KindTemplate    = "template"
	KindFlow        = "flow"
	KindAppointment = "appointment"
)

// The statuses of a schedule: pending until it runs or is cancelled, then one of the others
// for good.
const (
	StatusPending   = "pending"
	StatusDone      = "done"
	StatusFailed    = "failed"
	StatusSkipped   = "skipped"
	StatusCancelled = "cancelled"
)

// The events schedules emit, one per change of status (schedule.<status>) and on creation.
const (
	EventCreated   = "schedule.created"
	EventDone      = "schedule.done"
	EventFailed    = "schedule.failed"
	EventSkipped   = "schedule.skipped"
	EventCancelled = "schedule.cancelled"
)

// Limits.
const (
	// MaxAhead is how far ahead a schedule may be set: a year covers birthdays and renewals.
	MaxAhead = 366 * 24 * time.Hour
	// MaxVariables bounds a template schedule's variables (a template has a few dozen at most).
	MaxVariables = 50
	// MaxVariableLength bounds each variable's value.
	MaxVariableLength = 1024
)

// Request is a schedule to create for a contact.
type Request struct {
	AccountID uuid.UUID
	ContactID uuid.UUID
	Kind      string
	// At is when it runs; it must be in the future.
	At time.Time
	// template: ChannelID and TemplateID (with Variables by location, as POST /v1/messages);
	// OpenAttendance opens an attendance with the message, for AgentID or DepartmentID (at
	// most one; neither: nobody). flow: Flow, and ChannelID optionally.
	ChannelID      *uuid.UUID
	TemplateID     *uuid.UUID
	Variables      map[string]string
	OpenAttendance bool
	AgentID        *uuid.UUID
	DepartmentID   *uuid.UUID
	Flow           string
	// appointment: the contact's open conversation to call back.
	ConversationID *uuid.UUID
	// Who schedules: a user or an API key.
	UserID   *uuid.UUID
	APIKeyID *uuid.UUID
}

// Schedule is a stored schedule and, once it ran, its outcome.
type Schedule struct {
	store.Schedule
	// Vars are the template variables decoded.
	Vars map[string]string
}

// Service creates, lists, cancels and runs schedules, scoped to one account per call.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	send  *send.Service
	queue *queue.Service
	// jobs inserts and cancels the schedules' jobs in the caller's transaction: an insert-only
	// River client (the workers run in whatever process runs River).
	jobs *river.Client[pgx.Tx]
	// Wake, when set, is called with the line of a message a run queued, once committed
	// (send.Service.Wake); otherwise the send sweep finds it within a second.
	Wake func(ctx context.Context, channelID uuid.UUID)
}

// NewService returns a Service on pool and clk's time that sends templates through sender,
// so a scheduled template obeys every rule of the Send Message API.
func NewService(pool *pgxpool.Pool, clk clock.Clock, sender *send.Service) *Service {
	jobs, err := river.NewClient(riverpgxv5.New(nil), &river.Config{})
	if err != nil {
		panic(fmt.Sprintf("insert-only river client: %v", err)) // only a bad config fails, and this one is fixed
	}
	return &Service{pool: pool, q: store.New(), clock: clk, send: sender, queue: queue.NewService(pool, clk), jobs: jobs}
}

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

var (
	errNotFound = fault.NotFound("schedule")
	errBlocked  = fault.Conflict("the contact is blocked: nothing is scheduled for a blocked contact")
)

// Create checks req and stores the schedule with its job at req.At, in one transaction, and
// emits schedule.created. Bad input is a 422 naming the fields (a time not in the future, a
// channel, template, agent, department or conversation that is not the account's or the
// contact's among them); an unknown contact is a 404, a blocked one a 409; an appointment
// needs the conversation open and without another pending appointment (409).
func (s *Service) Create(ctx context.Context, req Request) (Schedule, error) {
	var out Schedule
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.CreateIn(ctx, tx, req)
		return err
	})
	if err != nil {
		return Schedule{}, err
	}
	return out, nil
}

// CreateIn is Create in the caller's transaction tx: what a call with an Idempotency-Key
// runs, so that the schedule and the stored answer commit together.
func (s *Service) CreateIn(ctx context.Context, tx pgx.Tx, req Request) (Schedule, error) {
	now := s.now()
	if err := check(&req, now); err != nil {
		return Schedule{}, err
	}
	vars, err := json.Marshal(req.Variables)
	if err != nil {
		return Schedule{}, fmt.Errorf("encode variables: %w", err)
	}
	return s.create(ctx, tx, req, vars, now)
}

// create stores the checked request and its job in tx.
func (s *Service) create(ctx context.Context, tx pgx.Tx, req Request, vars []byte, now time.Time) (out Schedule, err error) {
	err = func() error {
		blocked, err := s.q.ScheduleContact(ctx, tx, store.ScheduleContactParams{AccountID: req.AccountID, ID: req.ContactID})
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.NotFound("contact")
		}
		if err != nil {
			return fmt.Errorf("read contact %s: %w", req.ContactID, err)
		}
		if blocked {
			return errBlocked
		}
		if err := s.checkRefs(ctx, tx, req); err != nil {
			return err
		}
		if req.Kind == KindAppointment {
			if err := s.setAppointment(ctx, tx, req); err != nil {
				return err
			}
		}
		row, err := s.q.InsertSchedule(ctx, tx, store.InsertScheduleParams{
			AccountID: req.AccountID, ID: uuid.Must(uuid.NewV7()), Kind: req.Kind, ContactID: &req.ContactID, RunAt: req.At,
			ChannelID: req.ChannelID, TemplateID: req.TemplateID, Variables: vars, OpenAttendance: req.OpenAttendance,
			AgentID: req.AgentID, DepartmentID: req.DepartmentID, Flow: nonEmpty(req.Flow), ConversationID: req.ConversationID,
			CreatedByUserID: req.UserID, CreatedByApiKeyID: req.APIKeyID, CreatedAt: now,
		})
		if err != nil {
			if _, dup := pgdb.UniqueViolation(err); dup {
				return fault.Conflict("the conversation already has a pending appointment: cancel it first")
			}
			return fmt.Errorf("store schedule: %w", err)
		}
		job, err := s.jobs.InsertTx(ctx, tx, Args{AccountID: row.AccountID, ScheduleID: row.ID}, &river.InsertOpts{ScheduledAt: row.RunAt})
		if err != nil {
			return fmt.Errorf("enqueue schedule %s: %w", row.ID, err)
		}
		if err := s.q.SetScheduleJob(ctx, tx, store.SetScheduleJobParams{AccountID: row.AccountID, ID: row.ID, JobID: &job.Job.ID}); err != nil {
			return fmt.Errorf("record the job of schedule %s: %w", row.ID, err)
		}
		row.JobID = &job.Job.ID
		out, err = decode(row)
		if err != nil {
			return err
		}
		return emit(ctx, tx, EventCreated, out, now)
	}()
	if err != nil {
		return Schedule{}, err
	}
	return out, nil
}

// check validates what needs no database, per kind, and normalises the request.
func check(req *Request, now time.Time) error {
	var errs []fault.FieldError
	bad := func(field, msg string, v any) {
		errs = append(errs, fault.FieldError{Field: "body." + field, Message: msg, Value: v})
	}
	req.At = req.At.UTC().Truncate(time.Microsecond)
	switch {
	case !req.At.After(now):
		bad("at", "must be in the future", req.At)
	case req.At.After(now.Add(MaxAhead)):
		bad("at", fmt.Sprintf("must be within %d days", int(MaxAhead.Hours()/24)), req.At)
	}
	req.Flow = strings.TrimSpace(req.Flow)
	notFor := func(field string, set bool) {
		if set {
			bad(field, "does not apply to a "+req.Kind+" schedule", nil)
		}
	}
	switch req.Kind {
	case KindTemplate:
		if req.ChannelID == nil {
			bad("channel_id", "is required for a template", nil)
		}
		if req.TemplateID == nil {
			bad("template_id", "is required for a template", nil)
		}
		if len(req.Variables) > MaxVariables {
			bad("variables", fmt.Sprintf("at most %d variables", MaxVariables), len(req.Variables))
		}
		for k, v := range req.Variables {
			if utf8.RuneCountInString(v) > MaxVariableLength || strings.ContainsRune(v, 0) || !utf8.ValidString(v) {
				bad("variables."+k, fmt.Sprintf("must be text of at most %d characters", MaxVariableLength), nil)
			}
		}
		if !req.OpenAttendance {
			for field, set := range map[string]bool{"agent_id": req.AgentID != nil, "department_id": req.DepartmentID != nil} {
				if set {
					bad(field, "only applies with open_attendance", nil)
				}
			}
		} else if req.AgentID != nil && req.DepartmentID != nil {
			bad("department_id", "give an agent or a department, not both", nil)
		}
		notFor("flow", req.Flow != "")
		notFor("conversation_id", req.ConversationID != nil)
	case KindFlow:
		if req.Flow == "" || utf8.RuneCountInString(req.Flow) > queue.MaxFlowName || strings.ContainsRune(req.Flow, 0) {
			bad("flow", fmt.Sprintf("must name the flow in 1 to %d characters", queue.MaxFlowName), req.Flow)
		}
		notFor("template_id", req.TemplateID != nil)
		notFor("variables", len(req.Variables) > 0)
		notFor("open_attendance", req.OpenAttendance)
		notFor("agent_id", req.AgentID != nil)
		notFor("department_id", req.DepartmentID != nil)
		notFor("conversation_id", req.ConversationID != nil)
	case KindAppointment:
		if req.ConversationID == nil {
			bad("conversation_id", "is required for an appointment", nil)
		}
		notFor("channel_id", req.ChannelID != nil)
		notFor("template_id", req.TemplateID != nil)
		notFor("variables", len(req.Variables) > 0)
		notFor("open_attendance", req.OpenAttendance)
		notFor("agent_id", req.AgentID != nil)
		notFor("department_id", req.DepartmentID != nil)
		notFor("flow", req.Flow != "")
	default:
		bad("kind", "must be template, flow or appointment", req.Kind)
	}
	if len(errs) > 0 {
		return fault.Invalid("invalid schedule", errs...)
	}
	if req.Variables == nil {
		req.Variables = map[string]string{}
	}
	return nil
}

// checkRefs refuses references that are not the account's (422 naming the field).
func (s *Service) checkRefs(ctx context.Context, tx pgx.Tx, req Request) error {
	r, err := s.q.ScheduleRefs(ctx, tx, store.ScheduleRefsParams{AccountID: req.AccountID, ChannelID: req.ChannelID,
		TemplateID: req.TemplateID, AgentID: req.AgentID, DepartmentID: req.DepartmentID})
	if err != nil {
		return fmt.Errorf("check schedule references: %w", err)
	}
	var errs []fault.FieldError
	for _, c := range []struct {
		ok    bool
		field string
		id    *uuid.UUID
		what  string
	}{
		{r.ChannelOk, "channel_id", req.ChannelID, "not a channel of the account"},
		{r.TemplateOk, "template_id", req.TemplateID, "not a template of the account"},
		{r.AgentOk, "agent_id", req.AgentID, "not an active user of the account"},
		{r.DepartmentOk, "department_id", req.DepartmentID, "not a department of the account"},
	} {
		if !c.ok {
			errs = append(errs, fault.FieldError{Field: "body." + c.field, Message: c.what, Value: c.id.String()})
		}
	}
	if len(errs) > 0 {
		return fault.Invalid("the schedule names what does not exist in the account", errs...)
	}
	return nil
}

// setAppointment puts the appointment on the contact's open conversation.
func (s *Service) setAppointment(ctx context.Context, tx pgx.Tx, req Request) error {
	c, err := s.q.LockScheduleConversation(ctx, tx, store.LockScheduleConversationParams{AccountID: req.AccountID, ID: *req.ConversationID})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && c.ContactID != req.ContactID) {
		return fault.Invalid("no such conversation", fault.FieldError{Field: "body.conversation_id", Message: "not a conversation of this contact", Value: req.ConversationID.String()})
	}
	if err != nil {
		return fmt.Errorf("lock conversation %s: %w", *req.ConversationID, err)
	}
	if c.Status != "open" {
		return fault.Conflict("the conversation is closed: an appointment orders an open conversation in the queue")
	}
	if c.AppointmentAt != nil {
		return fault.Conflict("the conversation already has an appointment waiting to be served")
	}
	return s.queue.SetAppointmentIn(ctx, tx, req.AccountID, *req.ConversationID, &req.At)
}

// Get returns one schedule of the account.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Schedule, error) {
	row, err := s.q.GetSchedule(ctx, s.pool, store.GetScheduleParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Schedule{}, errNotFound
	}
	if err != nil {
		return Schedule{}, fmt.Errorf("read schedule %s: %w", id, err)
	}
	return decode(row)
}

// ListForContact returns up to limit of the contact's schedules after the schedule named by
// after (nil: from the start): pending first, then the rest, newest first in each part. An
// unknown contact is a 404.
func (s *Service) ListForContact(ctx context.Context, accountID, contactID uuid.UUID, after *uuid.UUID, limit int) ([]Schedule, error) {
	if _, err := s.q.ScheduleContact(ctx, s.pool, store.ScheduleContactParams{AccountID: accountID, ID: contactID}); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fault.NotFound("contact")
		}
		return nil, fmt.Errorf("read contact %s: %w", contactID, err)
	}
	rows, err := s.q.ListContactSchedules(ctx, s.pool, store.ListContactSchedulesParams{AccountID: accountID, ContactID: &contactID, After: after, Lim: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list schedules of contact %s: %w", contactID, err)
	}
	return decodeAll(rows)
}

// Filter narrows the account's list of schedules; nil or empty fields do not narrow.
type Filter struct {
	Kind, Status string
	// AgentID is the agent a template's attendance opens to; CreatedBy the user who scheduled.
	AgentID, CreatedBy *uuid.UUID
	// From and To bound the run time: From <= at < To.
	From, To *time.Time
	After    *uuid.UUID
	Limit    int
}

// List returns the account's schedules, newest first, narrowed by f.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, f Filter) ([]Schedule, error) {
	rows, err := s.q.ListSchedules(ctx, s.pool, store.ListSchedulesParams{AccountID: accountID, After: f.After,
		Kind: nonEmpty(f.Kind), Status: nonEmpty(f.Status), AgentID: f.AgentID, CreatedByUserID: f.CreatedBy,
		RunFrom: f.From, RunTo: f.To, Lim: int32(f.Limit)})
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return decodeAll(rows)
}

// Cancel cancels a pending schedule (and its waiting job; an appointment's conversation loses
// the appointment) and emits schedule.cancelled. A schedule that already ran or was
// cancelled is a 409; another account's, a 404.
func (s *Service) Cancel(ctx context.Context, accountID, id uuid.UUID, byUserID *uuid.UUID) (Schedule, error) {
	var out Schedule
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		row, err := s.q.LockSchedule(ctx, tx, store.LockScheduleParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("lock schedule %s: %w", id, err)
		}
		if row.Status != StatusPending {
			return fault.Conflict("the schedule is " + row.Status + ": only a pending schedule is cancelled")
		}
		if row.Kind == KindAppointment && row.ConversationID != nil {
			if err := s.queue.SetAppointmentIn(ctx, tx, accountID, *row.ConversationID, nil); err != nil && !fault.Is(err, fault.KindNotFound) {
				return err
			}
		}
		if row.JobID != nil {
			if _, err := s.jobs.JobCancelTx(ctx, tx, *row.JobID); err != nil && !errors.Is(err, rivertype.ErrNotFound) {
				return fmt.Errorf("cancel the job of schedule %s: %w", id, err)
			}
		}
		row, err = s.q.FinishSchedule(ctx, tx, store.FinishScheduleParams{AccountID: accountID, ID: id, Status: StatusCancelled,
			Now: &now, CancelledByUserID: byUserID})
		if err != nil {
			return fmt.Errorf("cancel schedule %s: %w", id, err)
		}
		if out, err = decode(row); err != nil {
			return err
		}
		return emit(ctx, tx, EventCancelled, out, now)
	})
	return out, err
}

func decode(r store.Schedule) (Schedule, error) {
	out := Schedule{Schedule: r, Vars: map[string]string{}}
	if len(r.Variables) > 0 {
		if err := json.Unmarshal(r.Variables, &out.Vars); err != nil {
			return Schedule{}, fmt.Errorf("decode variables of schedule %s: %w", r.ID, err)
		}
	}
	return out, nil
}

func decodeAll(rows []store.Schedule) ([]Schedule, error) {
	out := make([]Schedule, len(rows))
	for i, r := range rows {
		var err error
		if out[i], err = decode(r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// emit writes a schedule's event: what it is and how it stands.
func emit(ctx context.Context, db store.DBTX, typ string, sc Schedule, now time.Time) error {
	id := sc.ID
	return event.Emit(ctx, db, sc.AccountID, now, event.New{Type: typ, SubjectID: &id, Data: map[string]any{
		"schedule_id": sc.ID, "kind": sc.Kind, "contact_id": sc.ContactID, "run_at": sc.RunAt, "status": sc.Status,
		"reason": sc.Reason, "channel_id": sc.ChannelID, "template_id": sc.TemplateID, "conversation_id": sc.ConversationID,
		"message_id": sc.MessageID, "flow": sc.Flow, "agent_id": sc.AgentID, "department_id": sc.DepartmentID,
		"created_by_user_id": sc.CreatedByUserID, "created_by_api_key_id": sc.CreatedByApiKeyID,
	}})
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
