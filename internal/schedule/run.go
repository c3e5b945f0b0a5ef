package schedule

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/queue"
	"github.com/conversa-hq/conversa/internal/send"
)

// outcome is how a run ended: the status, the reason (why skipped or failed, what was done),
// and what it produced.
type outcome struct {
	status       string
	reason       string
	messageID    *uuid.UUID
	conversation *uuid.UUID
	wake         *uuid.UUID
}

func skipped(reason string) outcome { return outcome{status: StatusSkipped, reason: reason} }

// Run runs the schedule when it is pending and due: it sends, triggers or checks the
// appointment, records the outcome and emits schedule.<status>, in one transaction under the
// row's lock. A schedule no longer pending (already run, cancelled) or gone is left alone, so
// running it twice acts once. Before its time (on the injected clock) it does nothing and says
// how long is left. An error is a fault of the database: the run changed nothing and may be
// retried.
func (s *Service) Run(ctx context.Context, accountID, id uuid.UUID) (wait time.Duration, err error) {
	var wake *uuid.UUID
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		now := s.now()
		row, err := s.q.LockSchedule(ctx, tx, store.LockScheduleParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // the account is gone
		}
		if err != nil {
			return fmt.Errorf("lock schedule %s: %w", id, err)
		}
		if row.Status != StatusPending {
			return nil
		}
		if row.RunAt.After(now) {
			wait = row.RunAt.Sub(now)
			return nil
		}
		sc, err := decode(row)
		if err != nil {
			return err
		}
		var out outcome
		switch {
		case sc.ContactID == nil:
			out = skipped("the contact was deleted or merged into another")
		default:
			blocked, err := s.q.ScheduleContact(ctx, tx, store.ScheduleContactParams{AccountID: accountID, ID: *sc.ContactID})
			if err != nil {
				return fmt.Errorf("read contact %s: %w", *sc.ContactID, err)
			}
			switch {
			case blocked:
				out = skipped("the contact is blocked")
				if sc.Kind == KindAppointment && sc.ConversationID != nil {
					if err := s.queue.SetAppointmentIn(ctx, tx, accountID, *sc.ConversationID, nil); err != nil && !fault.Is(err, fault.KindNotFound) {
						return err
					}
				}
			case sc.Kind == KindTemplate:
				out, err = s.runTemplate(ctx, tx, sc)
			case sc.Kind == KindFlow:
				out, err = s.runFlow(ctx, tx, sc, now)
			default:
				out, err = s.runAppointment(ctx, tx, sc)
			}
			if err != nil {
				return err
			}
		}
		wake = out.wake
		return s.finish(ctx, tx, sc, out, now)
	})
	if err == nil && wake != nil && s.Wake != nil {
		s.Wake(ctx, *wake)
	}
	return wait, err
}

// Fail records a pending schedule as failed with reason: what the job does when River gives
// up retrying it, so that it does not stay pending forever.
func (s *Service) Fail(ctx context.Context, accountID, id uuid.UUID, reason string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.LockSchedule(ctx, tx, store.LockScheduleParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock schedule %s: %w", id, err)
		}
		if row.Status != StatusPending {
			return nil
		}
		sc, err := decode(row)
		if err != nil {
			return err
		}
		return s.finish(ctx, tx, sc, outcome{status: StatusFailed, reason: reason}, s.now())
	})
}

func (s *Service) finish(ctx context.Context, tx pgx.Tx, sc Schedule, out outcome, now time.Time) error {
	row, err := s.q.FinishSchedule(ctx, tx, store.FinishScheduleParams{AccountID: sc.AccountID, ID: sc.ID, Status: out.status,
		Reason: nonEmpty(out.reason), Now: &now, MessageID: out.messageID, ConversationID: out.conversation})
	if err != nil {
		return fmt.Errorf("record the outcome of schedule %s: %w", sc.ID, err)
	}
	done, err := decode(row)
	if err != nil {
		return err
	}
	return emit(ctx, tx, "schedule."+out.status, done, now)
}

// runTemplate sends the template through the Send Message API's rules (in a savepoint, so a
// refusal leaves the transaction usable) and, when asked, opens an attendance and routes it.
// Refusals the rules make whatever is retried (blocked, not approved, no consent, the
// template or channel gone) skip the schedule; other refusals (paid sends stopped, channel
// inactive, a variable without a value) fail it.
func (s *Service) runTemplate(ctx context.Context, tx pgx.Tx, sc Schedule) (outcome, error) {
	if sc.TemplateID == nil || sc.ChannelID == nil {
		return skipped("the template was deleted"), nil
	}
	var q send.Queued
	err := pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		var err error
		q, err = s.send.Send(ctx, sp, send.Request{AccountID: sc.AccountID, ContactID: sc.ContactID, ChannelID: *sc.ChannelID,
			TemplateID: sc.TemplateID, Variables: sc.Vars, UserID: sc.CreatedByUserID, APIKeyID: sc.CreatedByApiKeyID})
		return err
	})
	if f, ok := fault.As(err); ok {
		if errors.Is(err, send.ErrBlocked) || errors.Is(err, send.ErrNotApproved) || errors.Is(err, send.ErrNoConsent) || f.Kind == fault.KindNotFound {
			return skipped(f.Error()), nil
		}
		return outcome{status: StatusFailed, reason: f.Error()}, nil
	}
	if err != nil {
		return outcome{}, err
	}
	out := outcome{status: StatusDone, reason: "template queued", messageID: &q.ID, conversation: &q.ConversationID, wake: &q.ChannelID}
	if !sc.OpenAttendance {
		return out, nil
	}
	note, err := s.openAttendance(ctx, tx, sc, q)
	if err != nil {
		return outcome{}, err
	}
	out.reason += "; " + note
	return out, nil
}

// openAttendance opens an attendance on the message's conversation when it has none, and
// gives it to the schedule's agent or department when it has no agent (one in service keeps
// its agent). The department is routed as an automation routes (the contact's default agent
// takes it when a member). Returns what it did, for the schedule's reason.
func (s *Service) openAttendance(ctx context.Context, tx pgx.Tx, sc Schedule, q send.Queued) (string, error) {
	c, err := s.q.LockConversationForAssign(ctx, tx, store.LockConversationForAssignParams{AccountID: sc.AccountID, ID: q.ConversationID})
	if err != nil {
		return "", fmt.Errorf("lock conversation %s: %w", q.ConversationID, err)
	}
	note := "the attendance was already open"
	openedBy := "api"
	if sc.CreatedByUserID != nil {
		openedBy = "agent"
	}
	opening, opened, err := conversation.OpenAttendance(ctx, tx, sc.AccountID, q.ConversationID, q.ChannelID, openedBy, s.now())
	if err != nil {
		return "", err
	}
	if opened {
		note = "attendance " + opening.Protocol + " opened"
	}
	var t queue.Target
	switch {
	case sc.AgentID != nil:
		t.AgentID = sc.AgentID
	case sc.DepartmentID != nil:
		t.DepartmentID, t.Routing = sc.DepartmentID, queue.RoutingAutomatic
	default:
		return note, nil
	}
	if c.AgentID != nil {
		return note + " with an agent, who keeps it", nil
	}
	var a queue.Assignment
	err = pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		a, err = s.queue.AssignIn(ctx, sp, sc.AccountID, q.ConversationID, t, sc.CreatedByUserID)
		return err
	})
	if f, ok := fault.As(err); ok {
		return note + "; not routed: " + f.Error(), nil
	}
	if err != nil {
		return "", err
	}
	if a.AgentID != nil {
		return note + " for agent " + a.AgentID.String(), nil
	}
	return note + " for department " + a.DepartmentID.String(), nil
}

// runFlow triggers the flow: a flow.triggered event (as a forward to a flow emits) that the
// outbound webhooks deliver to whoever runs it.
func (s *Service) runFlow(ctx context.Context, tx pgx.Tx, sc Schedule, now time.Time) (outcome, error) {
	subject := *sc.ContactID
	if err := event.Emit(ctx, tx, sc.AccountID, now, event.New{Type: queue.EventFlowTriggered, SubjectID: &subject, Data: map[string]any{
		"contact_id": sc.ContactID, "channel_id": sc.ChannelID, "flow": *sc.Flow, "trigger": "schedule", "schedule_id": sc.ID,
		"by_user_id": sc.CreatedByUserID,
	}}); err != nil {
		return outcome{}, err
	}
	return outcome{status: StatusDone, reason: "flow triggered"}, nil
}

// runAppointment records what became of the callback at its time: the conversation has been
// first in the queue since 5 minutes before and stays first until served (done), or it was
// served or closed before (skipped).
func (s *Service) runAppointment(ctx context.Context, tx pgx.Tx, sc Schedule) (outcome, error) {
	if sc.ConversationID == nil {
		return skipped("the conversation no longer exists (its contact was merged)"), nil
	}
	c, err := s.q.LockScheduleConversation(ctx, tx, store.LockScheduleConversationParams{AccountID: sc.AccountID, ID: *sc.ConversationID})
	if errors.Is(err, pgx.ErrNoRows) {
		return skipped("the conversation no longer exists"), nil
	}
	if err != nil {
		return outcome{}, fmt.Errorf("lock conversation %s: %w", *sc.ConversationID, err)
	}
	if c.AppointmentAt == nil || !c.AppointmentAt.Equal(sc.RunAt) {
		return skipped("the conversation was served or closed before the appointment"), nil
	}
	if c.AgentID != nil {
		return outcome{status: StatusDone, reason: "an agent has the conversation"}, nil
	}
	return outcome{status: StatusDone, reason: "the conversation is first in the queue until served"}, nil
}

// Args is a schedule's job: it runs the schedule of that id at its time.
type Args struct {
	AccountID  uuid.UUID `json:"account_id"`
	ScheduleID uuid.UUID `json:"schedule_id"`
}

// Kind names the job in river_job.
func (Args) Kind() string { return "schedule_run" }

// Worker runs Args jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	Service *Service
}

// Work runs the schedule; a job run early (the clock behind River's) snoozes until its time,
// and the last attempt River makes records the schedule failed rather than leave it pending.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	wait, err := w.Service.Run(ctx, job.Args.AccountID, job.Args.ScheduleID)
	if err != nil {
		if job.Attempt >= job.MaxAttempts {
			if ferr := w.Service.Fail(ctx, job.Args.AccountID, job.Args.ScheduleID, "could not run: "+err.Error()); ferr != nil {
				return errors.Join(err, ferr)
			}
		}
		return err
	}
	if wait > 0 {
		return river.JobSnooze(wait)
	}
	return nil
}
