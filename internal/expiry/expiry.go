// Package expiry tags conversations whose WhatsApp service session is running out: Expirando
// 30 minutes before the session ends, Expirado once it has ended (replacing Expirando), and
// neither again once the contact writes and renews it (DESIGN §4, WhatsApp sessions).
//
// It is a sweep by index, not a job per message: a periodic River job (inserted by the
// elected leader only) walks the partial index conversations_session_tag_due in short
// transactions of at most BatchSize rows locked FOR UPDATE SKIP LOCKED, so no lock is held
// long and the inbound path never waits behind a whole sweep. Each batch is one statement
// (sweep.sql): advance the rows' state, create the account's tags if missing, write
// conversation_tags, emit the events. The batch shrinks when a batch holds its locks longer
// than MaxBatchTime (a loaded machine) and grows back when batches are quick.
//
// Each conversation carries its step in conversations.session_tag (0 nothing applied, 1
// Expirando, 2 Expirado, 3 not WhatsApp, 4 renewed while tagged); the inbound pipeline only
// writes that column (0 or 4 when a contact's message renews the session), and this package
// does the rest. A step moves a row forward once, so running the sweep twice changes nothing.
package expiry

import (
	"context"
	_ "embed" // sweep.sql
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/session"
)

// The tag names (system tags of DESIGN §4, named by internal/session so the conversation
// view and the sweep agree), created in an account the first time one of its conversations
// needs them, automation-only.
const (
	TagExpiring = session.TagExpiring
	TagExpired  = session.TagExpired
)

// The events a sweep emits, one per conversation whose tags changed.
const (
	// EventTagged: a session tag was put on (data: tag, tag_id, and replaced when Expirado
	// took Expirando's place).
	EventTagged = "conversation.tagged"
	// EventUntagged: the contact renewed the session and the session tags came off.
	EventUntagged = "conversation.untagged"
)

// Defaults.
const (
	// Warning is how long before the session ends Expirando goes on.
	Warning = session.ExpiringBefore
	// BatchSize is the most conversations one transaction locks and tags: at about 10 µs a
	// row it holds its locks well under 50 ms.
	BatchSize = 5000
	// Every is how often the leader runs the sweep: a session is tagged at most this long
	// (plus the sweep's own run) after its threshold.
	Every = time.Minute
)

// Sweeper runs the sweep.
type Sweeper struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	// BatchSize overrides the default BatchSize when positive.
	BatchSize int
	// MaxBatchTime overrides the default MaxBatchTime when positive; negative keeps every
	// batch at BatchSize.
	MaxBatchTime time.Duration
}

// NewSweeper returns a Sweeper on pool, on clk's time.
func NewSweeper(pool *pgxpool.Pool, clk clock.Clock) *Sweeper {
	return &Sweeper{pool: pool, clock: clk}
}

// Stats is what one sweep did.
type Stats struct {
	// Rows is how many conversations moved a step (tags changed, or marked not WhatsApp).
	Rows int
	// Tagged and Untagged count the events emitted.
	Tagged, Untagged int
	Batches          int
	// LongestBatch is the longest transaction: the longest any lock was held.
	LongestBatch time.Duration
}

// MaxBatchTime is how long one batch's transaction should hold its locks at most: when a
// batch takes longer (a loaded machine), the next ones are smaller, down to minBatch; when
// batches are quick they grow back to the batch size.
const MaxBatchTime = 40 * time.Millisecond

const minBatch = 500

//go:embed sweep.sql
var sweepSQL string

// Sweep applies every step due at the clock's time, a batch per transaction, until none is
// left or ctx ends.
func (s *Sweeper) Sweep(ctx context.Context) (Stats, error) {
	limit := s.BatchSize
	if limit <= 0 {
		limit = BatchSize
	}
	size := limit
	maxTime := s.MaxBatchTime
	if maxTime == 0 {
		maxTime = MaxBatchTime
	}
	now := s.clock.Now()
	var st Stats
	var from cursors
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		began := time.Now()
		b, err := s.batch(ctx, now, size, from)
		if err != nil {
			return st, err
		}
		took := time.Since(began)
		if b.moved == 0 {
			return st, nil
		}
		from.advance(b)
		st.LongestBatch = max(st.LongestBatch, took)
		st.Rows, st.Tagged, st.Untagged, st.Batches = st.Rows+b.moved, st.Tagged+b.tagged, st.Untagged+b.untagged, st.Batches+1
		if b.moved < size {
			return st, nil
		}
		// Keep each transaction's locks short whatever the machine's load.
		if maxTime > 0 && took > maxTime {
			size = max(minBatch, int(float64(size)*float64(maxTime)/float64(took)))
		} else if took < maxTime/2 {
			size = min(limit, size*2)
		}
	}
}

// cursors are where the scans of states 4, 1 and 0 start: the last service_expires_at the
// previous batch moved in each (rows before it are done in this sweep; a row skipped because
// another transaction held it is left to the next sweep).
type cursors struct{ renewed, ended, ending time.Time }

func (c *cursors) advance(b batchResult) {
	for _, p := range []struct {
		to   *time.Time
		upto *time.Time
	}{{&c.renewed, b.renewedUpto}, {&c.ended, b.endedUpto}, {&c.ending, b.endingUpto}} {
		if p.upto != nil && p.upto.After(*p.to) {
			*p.to = *p.upto
		}
	}
}

// batchResult is what one batch did.
type batchResult struct {
	moved, tagged, untagged, missing   int
	renewedUpto, endedUpto, endingUpto *time.Time
}

// batch moves up to size conversations a step in one transaction and one statement (sweep.sql):
// claim and advance their state, create the accounts' session tags if missing, take off and
// put on the tags, emit the events. A batch that found an account's tags created by another
// transaction meanwhile is rolled back and run again.
func (s *Sweeper) batch(ctx context.Context, now time.Time, size int, from cursors) (batchResult, error) {
	ids := make([]uuid.UUID, size)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	for attempt := 0; ; attempt++ {
		var b batchResult
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if err := tx.QueryRow(ctx, sweepSQL, now, now.Add(Warning), size, from.renewed, from.ended, from.ending, ids).Scan(
				&b.moved, &b.renewedUpto, &b.endedUpto, &b.endingUpto, &b.tagged, &b.untagged, &b.missing); err != nil {
				return fmt.Errorf("sweep session tags: %w", err)
			}
			if b.missing > 0 {
				return errTagsRaced
			}
			return nil
		})
		if errors.Is(err, errTagsRaced) && attempt < 3 {
			continue
		}
		return b, err
	}
}

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
