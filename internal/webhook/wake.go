package webhook

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// NotifyChannel is the PostgreSQL NOTIFY channel that says deliveries were stored.
const NotifyChannel = "webhook_deliveries"

// NotifyEvery is how often, at most, a receiving process sends NOTIFY: one notification per
// interval however many deliveries it stored, instead of one per delivery (NOTIFY serialises
// committing transactions on a global lock).
const NotifyEvery = 20 * time.Millisecond

// DrainQueue is the River queue of drain jobs; its worker count bounds how many batches one
// process drains at once.
const DrainQueue = "webhook_drain"

// DrainBudget is how long one drain job goes on before it ends and leaves the rest to the next.
const DrainBudget = 20 * time.Second

// RunNotifier sends NOTIFY at most every NotifyEvery while deliveries are being stored, until
// ctx ends. A lost notification costs latency, never a delivery: the periodic drain runs every
// second anyway.
func (s *Service) RunNotifier(ctx context.Context) {
	t := time.NewTicker(NotifyEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.stored.Swap(false) {
				if _, err := s.pool.Exec(ctx, "SELECT pg_notify($1, '')", NotifyChannel); err != nil && ctx.Err() == nil {
					s.logger().Warn("webhook notify failed; the periodic drain will pick the deliveries up", "error", err)
				}
			}
		}
	}
}

// Listen holds a connection that LISTENs for NotifyChannel and calls wake for each
// notification, until ctx ends; it reconnects after a lost connection.
func Listen(ctx context.Context, pool *pgxpool.Pool, wake func(context.Context)) error {
	for ctx.Err() == nil {
		err := listenOnce(ctx, pool, wake)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func listenOnce(ctx context.Context, pool *pgxpool.Pool, wake func(context.Context)) error {
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	if err != nil {
		return fmt.Errorf("connect to listen: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+NotifyChannel); err != nil {
		return fmt.Errorf("listen %s: %w", NotifyChannel, err)
	}
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		wake(ctx)
	}
}

// DrainSlots is how many drain jobs may be waiting or running at once across every process:
// each slot holds at most one (River's unique jobs), so a burst of notifications enqueues
// no more than this, and up to this many drainers share a backlog.
const DrainSlots = 4

// DrainArgs asks for stored deliveries to be drained.
type DrainArgs struct {
	// Slot is one of DrainSlots; wakes take them in turn.
	Slot int `json:"slot" river:"unique"`
}

// Kind names the job in river_job.
func (DrainArgs) Kind() string { return "webhook_drain" }

// InsertOpts puts drain jobs on their queue, at most one per slot until it has finished: a
// running drain goes on while it finds deliveries, so a wake that finds every slot taken is
// not needed (and were it lost, the periodic drain comes within a second).
func (DrainArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: DrainQueue, UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

var nextSlot atomic.Int64

// NextDrain is the drain job to enqueue next: the slots in turn.
func NextDrain() DrainArgs { return DrainArgs{Slot: int(nextSlot.Add(1) % DrainSlots)} }

// DrainWorker runs DrainArgs jobs.
type DrainWorker struct {
	river.WorkerDefaults[DrainArgs]
	Service *Service
}

// DrainLinger is how long a drain job that emptied the backlog stays, waiting for a wake from
// its own process, before it ends.
const DrainLinger = time.Second

// DrainGap is the least time between the starts of this process's drains when they are woken
// rather than finding a full batch: the most a delivery waits for a lingering drain of its own
// process, which its receipt wakes at once (WakeRunning). A drain has a fixed cost of about a
// dozen statements however few deliveries it takes; woken back to back by a trickle it would
// run one small batch after another, on two jobs at once, and at 500 deliveries/s spend both
// of a small machine's cores on that fixed cost (128 batches/s of 4 deliveries in the webhook
// benchmark), so that everything, the drain included, queued for the CPU. Waiting lets a
// trickle gather into batches that share it.
const DrainGap = 20 * time.Millisecond

// Work drains until the backlog is empty, then lingers for DrainLinger: a wake that arrives
// meanwhile (WakeRunning) makes it drain again, so a steady trickle of deliveries is drained
// within a DrainGap of being stored by this process (a NotifyEvery by another) instead of
// waiting for a new River job to be inserted, fetched and started (and for River to record
// the last one complete, which it does in batches up to a few hundred milliseconds late, and
// which until then holds its unique slot). It ends after DrainBudget in all.
func (w *DrainWorker) Work(ctx context.Context, _ *river.Job[DrainArgs]) error {
	s := w.Service
	s.draining.Add(1)
	deadline := time.Now().Add(DrainBudget)
	for {
		s.lastDrain.Store(time.Now().UnixNano())
		if _, err := s.Drain(ctx, BatchSize, time.Until(deadline)); err != nil {
			s.draining.Add(-1)
			return err
		}
		linger := time.NewTimer(min(DrainLinger, max(time.Until(deadline), 0)))
		select {
		case <-s.rewake:
			linger.Stop()
			// Wait out DrainGap from the process's last drain, this job's or another's.
			if wait := DrainGap - time.Since(time.Unix(0, s.lastDrain.Load())); wait > 0 {
				pause := time.NewTimer(wait)
				select {
				case <-pause.C:
				case <-ctx.Done():
					pause.Stop()
				}
			}
			continue
		case <-linger.C:
		case <-ctx.Done():
			linger.Stop()
		}
		s.draining.Add(-1)
		// A wake that raced the exit: take it and drain again.
		select {
		case <-s.rewake:
			if ctx.Err() == nil && time.Now().Before(deadline) {
				s.draining.Add(1)
				continue
			}
		default:
		}
		return nil
	}
}

// WakeRunning hands a wake to one of this process's drain jobs that is draining or lingering,
// and reports whether there was one; when there was none the caller enqueues a drain job. A
// wake handed over in the instant a job ends may wait for the next wake or the periodic drain
// (a second at most): it costs latency, never a delivery.
func (s *Service) WakeRunning() bool {
	if s.draining.Load() == 0 {
		return false
	}
	select {
	case s.rewake <- struct{}{}:
	default: // one is pending already
	}
	return true
}

// Timeout leaves room for the budget plus the last batch.
func (w *DrainWorker) Timeout(*river.Job[DrainArgs]) time.Duration { return DrainBudget + time.Minute }
