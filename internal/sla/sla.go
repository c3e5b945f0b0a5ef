// Package sla measures attendances against their segment's SLA (DESIGN §4 Segments: each
// segment has an SLA) and reports the breaches.
//
// What is measured is stored on the attendance by the database as it happens
// (db/migrations/00024_sla_distribution.sql), so that every writer applies it the same way:
//   - the SLA due time, when the attendance opens: opened_at plus the SLA of the contact's
//     highest-priority segment that has one (ties: the shorter SLA, then the older segment);
//   - the first response, when the first answer is stored: the first outbound or echo message
//     after the opening, by the unanswered-time rule (internal notes, system notes and
//     reactions are not answers);
//   - the resolution time is the close minus the opening (Times).
//
// A breach is a due time passed with neither a first response nor a close by then (an
// attendance closed in time without an answer was resolved another way). The sweep (a periodic River
// job the elected leader inserts) finds them through the partial index attendances_sla_due,
// which holds only attendances whose outcome is still open, marks each breached and emits
// attendance.sla_breached once, in batches of one statement each (MarkSLABreaches).
package sla

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
)

// EventBreached is emitted once per attendance whose SLA due time passed with neither a first
// response nor a close by then (data: attendance_id, conversation_id, protocol, opened_at, closed_at,
// segment_id, sla_due_at, first_response_at — null, or the late one —, agent_id,
// department_id).
const EventBreached = "attendance.sla_breached"

// Defaults.
const (
	// BatchSize is the most attendances one sweep transaction marks.
	BatchSize = 1000
	// Every is how often the leader sweeps: a breach is reported at most this long (plus the
	// sweep's run) after its due time.
	Every = 30 * time.Second
)

// Times are an attendance's service times.
type Times struct {
	// FirstResponse is the time from the opening to the first answer; nil before it.
	FirstResponse *time.Duration
	// Resolution is the time from the opening to the close; nil while open.
	Resolution *time.Duration
	// Breached says the SLA due time passed with neither a first response nor a close by then
	// (whether or not the sweep has reported it yet).
	Breached bool
}

// Measure computes an attendance's service times at now from what is stored on it.
func Measure(openedAt time.Time, firstResponseAt, closedAt, dueAt, breachedAt *time.Time, now time.Time) Times {
	var t Times
	if firstResponseAt != nil {
		d := firstResponseAt.Sub(openedAt)
		t.FirstResponse = &d
	}
	if closedAt != nil {
		d := closedAt.Sub(openedAt)
		t.Resolution = &d
	}
	if breachedAt != nil {
		t.Breached = true
	} else if dueAt != nil {
		// What stopped the clock: the first response, else the close, else nothing yet.
		stop := now
		for _, at := range []*time.Time{closedAt, firstResponseAt} {
			if at != nil && at.Before(stop) {
				stop = *at
			}
		}
		t.Breached = stop.After(*dueAt)
	}
	return t
}

// Sweeper reports SLA breaches.
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

// Sweep marks every attendance breached by the clock's time and emits its event, a batch per
// transaction, until none is left or ctx ends. Returns how many it marked.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	size := s.BatchSize
	if size <= 0 {
		size = BatchSize
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	total := 0
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		ids := make([]uuid.UUID, size)
		for i := range ids {
			ids[i] = uuid.Must(uuid.NewV7())
		}
		n, err := s.q.MarkSLABreaches(ctx, s.pool, store.MarkSLABreachesParams{Now: now, Batch: int32(size), EventIds: ids})
		if err != nil {
			return total, fmt.Errorf("mark SLA breaches: %w", err)
		}
		total += int(n)
		if int(n) < size {
			return total, nil
		}
	}
}

// Args asks for one sweep. The leader inserts it every Every; the unique states keep one
// waiting or running at a time however many processes run.
type Args struct{}

// Kind names the job in river_job.
func (Args) Kind() string { return "sla_breach_sweep" }

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

// PeriodicJob is the sweep's schedule, for the River client's PeriodicJobs (run by the elected
// leader only), starting with one at start-up.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(Every), func() (river.JobArgs, *river.InsertOpts) {
		return Args{}, nil
	}, &river.PeriodicJobOpts{ID: "sla_breach_sweep", RunOnStart: true})
}
