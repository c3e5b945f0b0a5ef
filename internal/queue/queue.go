// Package queue is the live attendance queue (DESIGN §4 "Live queue order" and "Conversations
// and attendance"): the order in which waiting conversations (open, no agent) are served, the
// agent's "Next" that takes the first one atomically, and the assignment rules: to an agent,
// to a department (with the contact's default agent), to a flow, and by an agent's reply.
//
// The order is one SQL ordering served from partial indexes (db/migrations/00019_queue.sql):
//  1. conversations whose appointment is due (from AppointmentLead before it), by its time;
//  2. WebChat conversations;
//  3. effective priority, higher first: the contact's own, else its highest segment's, else
//     its channel's;
//  4. waiting since (the first unanswered inbound message), older first.
//
// A conversation whose appointment is not yet due is hidden. The priority is stored on the
// conversation when it starts waiting and kept right by triggers when the contact, its
// segments or its channel change, so that Next reads one index entry at any queue depth.
//
// Who may serve a conversation: a conversation with a department, the department's members; one
// without, any agent when none of its contact's segments names who serves it, otherwise the
// users those segments name and the members of the departments they name.
package queue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

// The events the queue emits.
const (
	// EventConversationAssigned: a conversation got an agent or a department (Data says which
	// and how: next, assign, reply, default_agent).
	EventConversationAssigned = "conversation.assigned"
	// EventConversationClosed: a conversation's attendance was closed (here: forwarded to a flow).
	EventConversationClosed = "conversation.closed"
	// EventFlowTriggered: a conversation was forwarded to an external automation (a flow); the
	// outbound webhooks deliver it to whoever runs the flow.
	EventFlowTriggered = "flow.triggered"
)

// AppointmentLead is how long before its appointment a conversation enters the queue, first.
const AppointmentLead = 5 * time.Minute

// UrgentPriority is the effective priority from which a waiting conversation makes the queue
// urgent (with any WebChat or due appointment): a VIP contact or segment.
const UrgentPriority = 90

// The contact priorities that override the segment's and channel's (medium does not).
const (
	PriorityHigh = 100
	PriorityLow  = 10
)

// Service runs the queue of every account.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	// nexts groups the Nexts of concurrent callers (see nextTogether).
	nexts *pgdb.Group[nextCall, *store.NextInQueueRow]
}

// NewService returns a Service.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	s := &Service{pool: pool, q: store.New(), clock: clk}
	s.nexts = &pgdb.Group[nextCall, *store.NextInQueueRow]{Runners: NextRunners, Max: NextGroup, Run: s.nextTogether}
	return s
}

// ErrEmpty is Next's answer when nothing waits that the agent may serve.
var ErrEmpty = errors.New("no conversation waits for this agent")

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// Next assigns userID the first waiting conversation it may serve, removing its department,
// and emits conversation.assigned, atomically, and returns the conversation as assigned.
// Concurrent callers never get the same conversation. ErrEmpty when nothing waits for the agent.
//
// The Nexts of concurrent callers run together (nextTogether): under load, one transaction
// serves a group of them one after another, rather than each racing the others for the queue's
// head in its own transaction.
func (s *Service) Next(ctx context.Context, accountID, userID uuid.UUID) (conversation.Conversation, error) {
	r, err := s.nexts.Do(ctx, nextCall{accountID: accountID, userID: userID})
	if err != nil {
		return conversation.Conversation{}, fmt.Errorf("take the next conversation: %w", err)
	}
	if r == nil {
		return conversation.Conversation{}, ErrEmpty
	}
	return conversation.FromRow(store.GetConversationRow(*r))
}

// NextRunners is how many groups of Nexts a process runs at once, and NextGroup the most Nexts
// one group carries: with every agent's Next in its own transaction, sixteen backends raced
// for the same head rows (skipping each other's locks and rechecking rows just taken), and a
// Next cost 1.3–1.6 ms of database CPU under load against 0.25–0.3 ms alone.
const (
	NextRunners = 2
	NextGroup   = 32
)

// nextCall is one agent's Next.
type nextCall struct{ accountID, userID uuid.UUID }

// nextTogether serves calls: alone, with the one assigning statement in one round trip
// (atomic on its own); together, with that statement for each call in turn inside one
// transaction, each seeing what the ones before it took, under one commit. A nil row: nothing
// waited for that agent.
func (s *Service) nextTogether(ctx context.Context, calls []nextCall) ([]*store.NextInQueueRow, error) {
	now := s.now()
	params := make([]store.NextInQueueParams, len(calls))
	for i, c := range calls {
		params[i] = store.NextInQueueParams{AccountID: c.accountID, UserID: c.userID,
			DueBefore: now.Add(AppointmentLead), Now: now, EventID: uuid.Must(uuid.NewV7())}
	}
	out := make([]*store.NextInQueueRow, len(calls))
	next := func(db store.DBTX, i int) error {
		r, err := s.q.NextInQueue(ctx, db, params[i])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		out[i] = &r
		return nil
	}
	if len(calls) == 1 {
		// A generic plan: planning the statement afresh cost more than running it.
		return out, next(pgdb.GenericPlans{Pool: s.pool}, 0)
	}
	// The statements go in one round trip (each still runs after the one before it): waiting
	// for each answer in turn, the group was bound by round trips on a busy machine.
	b := &pgx.Batch{}
	pgdb.QueueGenericPlans(b)
	record := pgdb.Recorder{Batch: b}
	for i := range calls {
		if err := next(record, i); !errors.Is(err, pgdb.ErrRecorded) {
			return nil, fmt.Errorf("record Next: %w", err)
		}
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("allow generic plans: %w", err)
		}
		replay := pgdb.Replay{Results: br}
		for i := range calls {
			if err := next(replay, i); err != nil {
				return err
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, fmt.Errorf("serve %d Nexts together: %w", len(calls), err)
	}
	return out, nil
}

// emitAssigned writes conversation.assigned: who has the conversation now and how it came.
func emitAssigned(ctx context.Context, db store.DBTX, accountID uuid.UUID, at time.Time, convID uuid.UUID, agentID, departmentID, fromDepartmentID *uuid.UUID, by string) error {
	return event.Emit(ctx, db, accountID, at, event.New{Type: EventConversationAssigned, SubjectID: &convID, Data: map[string]any{
		"conversation_id": convID, "agent_id": agentID, "department_id": departmentID, "from_department_id": fromDepartmentID, "by": by,
	}})
}

// Entry is a waiting conversation in the queue's order.
type Entry struct {
	ConversationID  uuid.UUID
	ContactID       uuid.UUID
	ContactName     string
	ChannelID       uuid.UUID
	ChannelType     string
	DepartmentID    *uuid.UUID
	UnansweredSince *time.Time
	AppointmentAt   *time.Time
	WebChat         bool
	Priority        int
	// Urgent: a due appointment, a WebChat, or a priority of UrgentPriority or more.
	Urgent bool
}

// ChannelCount is how many conversations wait on a channel.
type ChannelCount struct {
	ChannelID   uuid.UUID
	ChannelType string
	Waiting     int
}

// Summary is the queue at a glance: what the agent console's "Next" button shows.
type Summary struct {
	Waiting   int
	Urgent    bool
	ByChannel []ChannelCount
}

// MaxList bounds how deep a list of the queue may page (offset plus page size): the queue is
// served from its head, and a console shows its first screens.
const MaxList = 10_000

// List returns up to limit waiting conversations from position skip, in queue order (reading
// at most MaxList+1 positions: one past the listed ones tells a caller whether a page
// follows). Each call sees the queue as it is then: between pages agents take conversations
// and others arrive, so positions shift.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, skip, limit int) ([]Entry, error) {
	if skip < 0 || limit < 1 || skip+limit > MaxList+1 {
		return nil, fault.Invalid(fmt.Sprintf("the queue lists its first %d positions", MaxList))
	}
	now := s.now()
	rows, err := s.q.ListQueue(ctx, s.pool, store.ListQueueParams{AccountID: accountID, DueBefore: now.Add(AppointmentLead),
		Upto: int64(skip + limit), Skip: int64(skip), Lim: int64(limit)})
	if err != nil {
		return nil, fmt.Errorf("list the queue: %w", err)
	}
	out := make([]Entry, len(rows))
	for i, r := range rows {
		out[i] = Entry{ConversationID: r.ID, ContactID: r.ContactID, ContactName: r.ContactName, ChannelID: r.ChannelID,
			ChannelType: r.ChannelType, DepartmentID: r.DepartmentID, UnansweredSince: r.UnansweredSince, AppointmentAt: r.AppointmentAt,
			WebChat: r.QueueWebchat, Priority: int(r.QueuePriority)}
		out[i].Urgent = r.AppointmentAt != nil || r.QueueWebchat || r.QueuePriority >= UrgentPriority
	}
	return out, nil
}

// Summarize counts the waiting conversations per channel and says whether the queue is urgent.
func (s *Service) Summarize(ctx context.Context, accountID uuid.UUID) (Summary, error) {
	due := s.now().Add(AppointmentLead)
	rows, err := s.q.QueueCounts(ctx, s.pool, store.QueueCountsParams{AccountID: accountID, DueBefore: due})
	if err != nil {
		return Summary{}, fmt.Errorf("count the queue: %w", err)
	}
	out := Summary{ByChannel: make([]ChannelCount, len(rows))}
	for i, r := range rows {
		out.ByChannel[i] = ChannelCount{ChannelID: r.ChannelID, ChannelType: r.ChannelType, Waiting: int(r.Waiting)}
		out.Waiting += int(r.Waiting)
	}
	if out.Waiting > 0 {
		if out.Urgent, err = s.q.QueueUrgent(ctx, s.pool, store.QueueUrgentParams{AccountID: accountID, DueBefore: due, UrgentPriority: UrgentPriority}); err != nil {
			return Summary{}, fmt.Errorf("read whether the queue is urgent: %w", err)
		}
	}
	return out, nil
}

// SetAppointment schedules a callback on the conversation (nil cancels it): the conversation,
// while waiting, is hidden from the queue until AppointmentLead before at, then goes first.
// What the schedules feature calls.
func (s *Service) SetAppointment(ctx context.Context, accountID, conversationID uuid.UUID, at *time.Time) error {
	return s.SetAppointmentIn(ctx, s.pool, accountID, conversationID, at)
}

// SetAppointmentIn is SetAppointment in db, the caller's transaction: a schedule sets the
// appointment in the transaction that records it, and clears it in the one that cancels it.
func (s *Service) SetAppointmentIn(ctx context.Context, db store.DBTX, accountID, conversationID uuid.UUID, at *time.Time) error {
	n, err := s.q.SetAppointment(ctx, db, store.SetAppointmentParams{AccountID: accountID, ID: conversationID, AppointmentAt: at, Now: s.now()})
	if err != nil {
		return fmt.Errorf("set the appointment of %s: %w", conversationID, err)
	}
	if n == 0 {
		return fault.NotFound("conversation")
	}
	return nil
}
