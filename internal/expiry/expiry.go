// Package expiry keeps the session-expiry tags of WhatsApp conversations (DESIGN §4, WhatsApp
// sessions): Expirando from 30 minutes before the service session ends, Expirado once it has
// ended (replacing Expirando), neither once the contact writes and renews it.
//
// The tags are a function of the clock: a conversation carries Expirando or Expirado exactly
// when internal/session's State.Tag says so, and conversation lists compute them. What needs a
// sweep is the news: conversation.tagged when a threshold passes, for consoles and outbound
// webhooks. A periodic River job (inserted by the elected leader only) walks the index
// conversations_service_expiry from where the last batch stopped (one watermark per
// threshold, rows of session_expiry_marks) up to the clock's time, in short transactions of
// at most BatchSize rows, and writes one event per WhatsApp conversation: no row of
// conversations is written or locked, so the inbound path never waits behind a sweep, and a
// batch costs an index range read (index-only) and its events. The two thresholds are swept
// side by side, a transaction each on its own connection, since they share nothing but the
// tags. A watermark moves in the transaction that writes its events, so a sweep run twice, or
// by two processes at once, emits each event once.
//
// conversation.untagged (the contact renewed the session after Expirando went on) comes from
// the inbound path, which sees the renewal happen.
package expiry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/session"
)

// The tag names (system tags of DESIGN §4, named by internal/session so the conversation
// view and the sweep agree), created in an account the first time one of its conversations
// reaches them, automation-only.
const (
	TagExpiring = session.TagExpiring
	TagExpired  = session.TagExpired
)

// The events of session expiry.
const (
	// EventTagged: a session tag went on (data: tag, tag_id, and replaced when Expirado
	// took Expirando's place).
	EventTagged = "conversation.tagged"
	// EventUntagged: the contact renewed the session and the session tags came off (emitted
	// by the inbound path).
	EventUntagged = "conversation.untagged"
)

// Defaults.
const (
	// Warning is how long before the session ends Expirando goes on.
	Warning = session.ExpiringBefore
	// BatchSize is the most conversations one transaction reads (one threshold's): an index
	// range and one event each, about 15 ms on a quiet 2-vCPU machine, so that a batch slowed
	// down by a busy machine still holds its watermark well under 50 ms.
	BatchSize = 1500
	// Every is how often the leader runs the sweep: an event follows its threshold by at
	// most this long (plus the sweep's own run).
	Every = time.Minute
)

// Sweeper runs the sweep.
type Sweeper struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	// BatchSize overrides the default BatchSize when positive.
	BatchSize int
}

// NewSweeper returns a Sweeper on pool, on clk's time.
func NewSweeper(pool *pgxpool.Pool, clk clock.Clock) *Sweeper {
	return &Sweeper{pool: pool, q: store.New(), clock: clk}
}

// Stats is what one sweep did.
type Stats struct {
	// Tagged counts the conversation.tagged events emitted.
	Tagged int
	// Read counts the index entries read (every channel's conversations pass the thresholds;
	// only WhatsApp's get events).
	Read int
	// Batches counts rounds: a round is one batch of each threshold that still has rows,
	// the two at the same time.
	Batches int
	// LongestBatch is the longest batch transaction, from BEGIN to the end of COMMIT: the
	// longest the watermarks were held.
	LongestBatch time.Duration
}

// Sweep emits the events of every threshold passed by the clock's time, in rounds of one
// batch per threshold (two transactions at once), until none is left or ctx ends.
func (s *Sweeper) Sweep(ctx context.Context) (Stats, error) {
	size := s.BatchSize
	if size <= 0 {
		size = BatchSize
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	thresholds := []threshold{{ended: true, upto: now}, {ended: false, upto: now.Add(Warning)}}
	var st Stats
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		var (
			wg      sync.WaitGroup
			results = make([]batchResult, len(thresholds))
		)
		for i, th := range thresholds {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = s.batch(ctx, th, now, size)
			}()
		}
		wg.Wait()
		read, more := 0, []threshold{}
		for i, r := range results {
			if r.err != nil {
				return st, r.err
			}
			read += int(r.row.Read)
			st.Tagged += int(r.row.Emitted)
			st.LongestBatch = max(st.LongestBatch, r.took)
			if int(r.row.Read) == size {
				more = append(more, thresholds[i])
			}
		}
		if read == 0 {
			return st, nil
		}
		st.Read, st.Batches = st.Read+read, st.Batches+1
		if thresholds = more; len(thresholds) == 0 {
			return st, nil
		}
	}
}

// threshold is one of the sweep's two scans: sessions ended by now (Expirado), or ending
// within the warning (Expirando).
type threshold struct {
	ended bool
	upto  time.Time
}

// batchResult is what one batch did, and the time its transaction took.
type batchResult struct {
	row  store.SweepSessionExpiryRow
	took time.Duration
	err  error
}

// batch emits the events of up to size conversations of one threshold in one transaction:
// lock the threshold's watermark, then one statement (SweepSessionExpiry). A batch that found
// an account's tags created by another transaction meanwhile (the other threshold's batch,
// the first time an account's sessions run out) is rolled back and run again. took is the
// transaction's time, from BEGIN to the end of COMMIT: how long it held the watermark.
//
// The transaction does not wait for its commit record to reach the disk (synchronous_commit
// off): a crash can lose only the latest batches, their events and their watermarks together
// (the WAL is replayed in order), and the next sweep emits those events again, so nothing is
// lost or doubled; whatever read the events afterwards committed later and flushed them. The
// statement runs on its generic plan (planned once per connection, not per batch: the custom
// plan took 3 to 7 ms of each batch to build), which is the same index-only range scan
// whatever the watermark.
func (s *Sweeper) batch(ctx context.Context, th threshold, now time.Time, size int) batchResult {
	ids := make([]uuid.UUID, size)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return batchResult{err: fmt.Errorf("session-expiry batch connection: %w", err)}
	}
	defer conn.Release()
	for attempt := 0; ; attempt++ {
		var b store.SweepSessionExpiryRow
		began := time.Now()
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, batchSettings); err != nil {
				return fmt.Errorf("session-expiry batch settings: %w", err)
			}
			m, err := s.q.LockSessionExpiryMark(ctx, tx, th.ended)
			if err != nil {
				return fmt.Errorf("lock the session-expiry watermark: %w", err)
			}
			if b, err = s.q.SweepSessionExpiry(ctx, tx, store.SweepSessionExpiryParams{
				AfterAt: m.AfterAt, AfterID: m.AfterID, Upto: th.upto, Batch: int32(size),
				Ended: th.ended, Now: now, EventIds: ids,
			}); err != nil {
				return fmt.Errorf("sweep session expiry: %w", err)
			}
			if b.Missing > 0 {
				return errTagsRaced
			}
			return nil
		})
		if errors.Is(err, errTagsRaced) && attempt < 3 {
			continue
		}
		return batchResult{row: b, took: time.Since(began), err: err}
	}
}

// batchSettings are each batch transaction's (see batch).
const batchSettings = "SET LOCAL synchronous_commit = off; SET LOCAL plan_cache_mode = force_generic_plan"

// errTagsRaced rolls back a batch that could not see session tags another transaction
// created while it ran.
var errTagsRaced = errors.New("session tags created concurrently; batch rolled back")

// Args asks for one sweep. The leader inserts it every Every (a periodic job); the unique
// states keep one waiting or running at a time however many processes run.
type Args struct{}

// Kind names the job in river_job.
func (Args) Kind() string { return "session_expiry_sweep" }

// InsertOpts keeps one sweep pending or running at a time.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// Worker runs Args jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	Sweeper *Sweeper
}

// Work runs one sweep.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	_, err := w.Sweeper.Sweep(ctx)
	return err
}

// PeriodicJob is the sweep's schedule, for the River client's PeriodicJobs (run by the
// elected leader only), starting with one at start-up.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(Every), func() (river.JobArgs, *river.InsertOpts) {
		return Args{}, nil
	}, &river.PeriodicJobOpts{ID: "session_expiry_sweep", RunOnStart: true})
}
