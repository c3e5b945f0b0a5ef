package jobs

import (
	"context"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/internal/outbound"
)

// OutboundEvery is how often the leader queues a round of outbound webhook deliveries.
const OutboundEvery = time.Second

// OutboundArgs asks for the due outbound webhook deliveries to be sent.
type OutboundArgs struct{}

// Kind names the job in river_job.
func (OutboundArgs) Kind() string { return "outbound_webhooks" }

// InsertOpts keeps one round queued or running at a time: a round that takes longer than the
// period is not doubled.
func (OutboundArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// OutboundWorker sends due deliveries until none is left or a minute has passed.
type OutboundWorker struct {
	river.WorkerDefaults[OutboundArgs]
	Outbound *outbound.Service
}

// Work sends rounds of claimed deliveries; each outcome is recorded as it happens, so a
// round cut short loses nothing.
func (w *OutboundWorker) Work(ctx context.Context, _ *river.Job[OutboundArgs]) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		n, err := w.Outbound.Deliver(ctx)
		if err != nil {
			return err
		}
		if n < outbound.ClaimBatch {
			return nil
		}
	}
	return nil
}

// Timeout gives a round its minute and the last requests their own timeout.
func (w *OutboundWorker) Timeout(*river.Job[OutboundArgs]) time.Duration { return 2 * time.Minute }
