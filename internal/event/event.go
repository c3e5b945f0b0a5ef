// Package event is the account's event log: what happened, numbered so that a client can
// resync after a disconnect (everything after the last number it saw), streamed live to
// connected clients, and delivered to outbound webhooks.
//
// Writers emit events into an outbox inside their own transaction (Emit), so an event exists
// exactly when the change it reports committed. A publisher numbers them: one at a time, in
// batches, committing each batch before numbering the next, so that numbers become visible in
// order and a reader that saw number N never later finds a smaller one. Each server process
// runs a Hub that listens for published batches and fans them out to its streams.
package event

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
)

// Event is a published event.
type Event struct {
	AccountID uuid.UUID
	// Seq numbers events in the order they became visible; it grows across all accounts, so
	// an account's numbers have gaps.
	Seq  int64
	ID   uuid.UUID
	Type string
	// SubjectID is the resource the event is about (a contact, a conversation, an import).
	SubjectID *uuid.UUID
	// DepartmentID and UserID narrow who may see it (see Visible); both nil means everyone in
	// the account.
	DepartmentID *uuid.UUID
	UserID       *uuid.UUID
	Data         json.RawMessage
	OccurredAt   time.Time
	PublishedAt  time.Time
}

// New is an event to emit.
type New struct {
	Type         string
	SubjectID    *uuid.UUID
	DepartmentID *uuid.UUID
	UserID       *uuid.UUID
	// Data is encoded as JSON.
	Data any
}

// Emit writes events to the outbox in the caller's transaction (or alone, given a pool): one
// event in one statement, many in one statement too, in the order given.
func Emit(ctx context.Context, db store.DBTX, accountID uuid.UUID, at time.Time, events ...New) error {
	all := make([]Stamped, len(events))
	for i, e := range events {
		all[i] = Stamped{AccountID: accountID, At: at, New: e}
	}
	return EmitAll(ctx, db, all)
}

// Stamped is an event with its account and time, for EmitAll.
type Stamped struct {
	AccountID uuid.UUID
	At        time.Time
	New
}

// EmitAll writes events of any accounts and times to the outbox in one statement, in the order
// given: what a batch that touches many accounts' messages (the dispatcher, the status
// webhooks) emits at once.
func EmitAll(ctx context.Context, db store.DBTX, events []Stamped) error {
	if len(events) == 0 {
		return nil
	}
	q := store.New()
	if len(events) == 1 {
		e := events[0]
		data, err := encode(e.New)
		if err != nil {
			return err
		}
		if err := q.EmitEvent(ctx, db, store.EmitEventParams{
			AccountID: e.AccountID, EventID: uuid.Must(uuid.NewV7()), Type: e.Type, SubjectID: e.SubjectID,
			DepartmentID: e.DepartmentID, UserID: e.UserID, Data: data, OccurredAt: e.At,
		}); err != nil {
			return fmt.Errorf("emit %s event: %w", e.Type, err)
		}
		return nil
	}
	var p store.EmitEventsParams
	idText := func(id *uuid.UUID) string {
		if id == nil {
			return ""
		}
		return id.String()
	}
	for _, e := range events {
		data, err := encode(e.New)
		if err != nil {
			return err
		}
		p.AccountIds, p.OccurredAts = append(p.AccountIds, e.AccountID), append(p.OccurredAts, e.At)
		p.EventIds, p.Types, p.Datas = append(p.EventIds, uuid.Must(uuid.NewV7())), append(p.Types, e.Type), append(p.Datas, data)
		p.SubjectIds, p.DepartmentIds, p.UserIds = append(p.SubjectIds, idText(e.SubjectID)), append(p.DepartmentIds, idText(e.DepartmentID)), append(p.UserIds, idText(e.UserID))
	}
	if err := q.EmitEvents(ctx, db, p); err != nil {
		return fmt.Errorf("emit %d events: %w", len(events), err)
	}
	return nil
}

func encode(e New) ([]byte, error) {
	if e.Data == nil {
		return []byte("{}"), nil
	}
	data, err := json.Marshal(e.Data)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.Type, err)
	}
	return data, nil
}

// Log reads and publishes the event log.
type Log struct {
	// Clock times the publisher's scans of the whole outbox (see Publish); NewLog sets
	// clock.System.
	Clock clock.Clock

	pool *pgxpool.Pool
	q    *store.Queries
	wake chan struct{}

	// scan guards from and fullAt: where this process's next publish starts reading the
	// outbox, and when it last read it from the start.
	scan   sync.Mutex
	from   int64
	fullAt time.Time
}

// NewLog returns a Log on pool.
func NewLog(pool *pgxpool.Pool) *Log {
	return &Log{Clock: clock.System{}, pool: pool, q: store.New(), wake: make(chan struct{}, 1)}
}

// Backscan and FullScanEvery bound where a publish reads the outbox from. Publishing deletes
// the lowest outbox ids, so until a vacuum the outbox's primary key holds the dead entries of
// everything published, left of what waits; a scan from the start walks them all (after a
// burst of 200 000 events a publish took 7.8 ms instead of 2.2). A publish therefore starts
// Backscan ids below the highest this process published: an event whose transaction took
// its id earlier but committed after that many later ids were published is found by the scan
// from the start that a publish makes when FullScanEvery has passed since the last one, so it
// waits at most that long, and nothing is ever skipped.
const (
	Backscan      = 10_000
	FullScanEvery = time.Second
)

// scanFrom is the outbox id the next publish reads from: 0 (the start) when FullScanEvery has
// passed since the last such scan.
func (l *Log) scanFrom() int64 {
	l.scan.Lock()
	defer l.scan.Unlock()
	if now := l.Clock.Now(); now.Sub(l.fullAt) >= FullScanEvery {
		l.fullAt = now
		return 0
	}
	return l.from
}

// published notes the highest outbox id a publish took, and returns where the next reads.
func (l *Log) published(maxID int64) int64 {
	l.scan.Lock()
	defer l.scan.Unlock()
	l.from = max(l.from, maxID+1-Backscan)
	return l.from
}

// Wake asks this process's publisher (RunPublisher) to publish now rather than at its next
// tick. A writer of this process that has just committed events calls it, so that streams
// see them a publish after the commit instead of up to an interval later; wakes that come
// while one is pending are one wake.
func (l *Log) Wake() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// MaxPage bounds one read of the log.
const MaxPage = 10_000

// List returns an account's events after seq afterSeq, oldest first, of the given types (all
// when types is empty).
func (l *Log) List(ctx context.Context, accountID uuid.UUID, afterSeq int64, types []string, limit int) ([]Event, error) {
	if types == nil {
		types = []string{}
	}
	rows, err := l.q.ListEvents(ctx, l.pool, store.ListEventsParams{AccountID: accountID, AfterSeq: afterSeq, Types: types, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list events after %d: %w", afterSeq, err)
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// PublishBatch is how many waiting events one publish numbers at most.
const PublishBatch = 2000

// Publish numbers the events waiting in the outbox, a batch at a time until none is left, and
// returns the highest number given (0 when there was nothing, or when another process held
// the publisher's turn: it publishes them instead).
func (l *Log) Publish(ctx context.Context) (int64, error) {
	var last int64
	from := l.scanFrom()
	for range 50 {
		r, err := l.q.PublishEvents(ctx, l.pool, store.PublishEventsParams{MaxRows: PublishBatch, FromID: from})
		if err != nil {
			return last, fmt.Errorf("publish events: %w", err)
		}
		if r.MaxSeq == 0 {
			return last, nil
		}
		from = max(from, l.published(r.MaxID))
		last = r.MaxSeq
	}
	return last, nil
}

// RunPublisher publishes interval after its last publish, and at each Wake, until ctx ends.
// Every process may run one: they take turns, and a turn held elsewhere is skipped (the events
// written by a process whose wake found the turn taken wait for the next tick, or are
// published by the holder's next round).
//
// Publishes start at least a quarter of interval apart: each is a commit that waits for its
// WAL flush and a NOTIFY that every process's hub answers with a read, so a burst of wakes
// (one per drained batch) is served by one publish of them all. The tick counts from the last
// publish, woken or not: a process woken often does not also publish on every tick, each a
// transaction and a round trip that on a small machine compete for the CPU with the work that
// writes the events.
func (l *Log) RunPublisher(ctx context.Context, interval time.Duration, logger *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	gap := interval / 4
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-l.wake:
			if wait := gap - time.Since(last); wait > 0 {
				pause := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					pause.Stop()
					return
				case <-pause.C:
				}
			}
		}
		last = time.Now()
		t.Reset(interval)
		if _, err := l.Publish(ctx); err != nil && ctx.Err() == nil {
			logger.Error("publish events", "err", err)
		}
	}
}

// Retention is how long the log keeps events: a client away longer resyncs from the resources
// themselves.
const Retention = 30 * 24 * time.Hour

// Prune deletes events published before now minus Retention, and returns how many.
func Prune(ctx context.Context, db store.DBTX, now time.Time) (int64, error) {
	n, err := store.New().PruneEvents(ctx, db, now.Add(-Retention))
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}

func fromRow(r store.Event) Event {
	return Event{
		AccountID: r.AccountID, Seq: r.Seq, ID: r.ID, Type: r.Type, SubjectID: r.SubjectID, DepartmentID: r.DepartmentID,
		UserID: r.UserID, Data: r.Data, OccurredAt: r.OccurredAt.UTC(), PublishedAt: r.PublishedAt.UTC(),
	}
}

// Viewer is who reads events, for Visible.
type Viewer struct {
	// All sees every event of the account: supervisors, admins, compliance and API keys.
	All         bool
	UserID      uuid.UUID
	Departments []uuid.UUID
}

// Visible reports whether v may see e: events for everyone, events for v's own user, and
// events of the departments v belongs to.
func (v Viewer) Visible(e Event) bool {
	switch {
	case v.All, e.DepartmentID == nil && e.UserID == nil:
		return true
	case e.UserID != nil && *e.UserID == v.UserID:
		return true
	case e.DepartmentID != nil:
		for _, d := range v.Departments {
			if d == *e.DepartmentID {
				return true
			}
		}
	}
	return false
}
