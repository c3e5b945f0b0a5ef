package send

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
)

// DispatchQueue is the River queue of line dispatchers; its worker count bounds how many
// lines one process dispatches at once.
const DispatchQueue = "send_dispatch"

// DispatchBudget is how long one dispatcher job goes on before it leaves the rest to the next.
const DispatchBudget = 20 * time.Second

// SweepEvery is how often the leader looks for lines with due messages: the safety net for a
// lost wake and what sends retries when they come due.
const SweepEvery = time.Second

// DispatchArgs asks for a line's due messages to be sent.
type DispatchArgs struct {
	ChannelID uuid.UUID `json:"channel_id" river:"unique"`
}

// Kind names the job in river_job.
func (DispatchArgs) Kind() string { return "send_dispatch" }

// InsertOpts keeps at most one dispatcher per line waiting or running in the cluster: a
// running one goes on while messages are due. (The line's slots, not this, are what hold its
// rate: two dispatchers of one line share the bucket.)
func (DispatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: DispatchQueue, MaxAttempts: 25, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// DispatchWorker runs DispatchArgs jobs.
type DispatchWorker struct {
	river.WorkerDefaults[DispatchArgs]
	Dispatcher *Dispatcher
}

// Work dispatches the line until nothing is due or the budget has passed.
func (w *DispatchWorker) Work(ctx context.Context, job *river.Job[DispatchArgs]) error {
	_, err := w.Dispatcher.RunLine(ctx, job.Args.ChannelID, DispatchBudget)
	return err
}

// Timeout leaves room for the budget and the last batch's sends.
func (w *DispatchWorker) Timeout(*river.Job[DispatchArgs]) time.Duration {
	return DispatchBudget + SendTimeout + time.Minute
}

// SweepArgs asks for a dispatcher on every line with due messages.
//
// A sweep is not a unique job: River's uniqueness counts a running job, and a process killed
// mid-sweep would leave its sweep running in River's eyes until the rescuer retries it
// (jobs.RescueAfter), with no sweep, and so no retry sent, anywhere meanwhile. A sweep that
// outlives its period runs beside the next one, which is harmless: both only enqueue the
// lines' dispatchers, which are unique.
type SweepArgs struct{}

// Kind names the job in river_job.
func (SweepArgs) Kind() string { return "send_sweep" }

// SweepWorker runs SweepArgs jobs.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	Dispatcher *Dispatcher
}

// Work enqueues a dispatcher for each line with due messages.
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	now := w.Dispatcher.clock.Now()
	lines, err := store.New().DueLines(ctx, w.Dispatcher.pool, &now)
	if err != nil {
		return fmt.Errorf("find lines with due messages: %w", err)
	}
	if len(lines) == 0 {
		return nil
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	params := make([]river.InsertManyParams, len(lines))
	for i, l := range lines {
		params[i] = river.InsertManyParams{Args: DispatchArgs{ChannelID: l}}
	}
	if _, err := client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("enqueue dispatchers: %w", err)
	}
	return nil
}

// Inserter inserts River jobs (a River client).
type Inserter interface {
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// WakeEvery is the least time between two wakes of one line from one process: a running
// dispatcher goes on while messages are due, so more wakes only cost inserts.
const WakeEvery = 100 * time.Millisecond

// Waker returns what Service.Wake calls: enqueue the line's dispatcher, at most every
// WakeEvery per line. A failed wake is logged; the sweep comes within SweepEvery.
func Waker(client Inserter, logger *slog.Logger) func(context.Context, uuid.UUID) {
	var mu sync.Mutex
	last := map[uuid.UUID]time.Time{}
	return func(ctx context.Context, channelID uuid.UUID) {
		now := time.Now()
		mu.Lock()
		if now.Sub(last[channelID]) < WakeEvery {
			mu.Unlock()
			return
		}
		last[channelID] = now
		mu.Unlock()
		if _, err := client.Insert(ctx, DispatchArgs{ChannelID: channelID}, nil); err != nil && ctx.Err() == nil {
			logger.Warn("wake line dispatcher failed; the sweep will", "channel_id", channelID, "error", err)
		}
	}
}
