// Package jobs assembles River for the process: the workers of every domain, the periodic
// jobs that run on the elected leader, the queue settings, and the job metrics.
package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/closing"
	"github.com/conversa-hq/conversa/internal/distribution"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/expiry"
	"github.com/conversa-hq/conversa/internal/idempotency"
	"github.com/conversa-hq/conversa/internal/importer"
	"github.com/conversa-hq/conversa/internal/outbound"
	"github.com/conversa-hq/conversa/internal/schedule"
	"github.com/conversa-hq/conversa/internal/segment"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/sla"
	"github.com/conversa-hq/conversa/internal/template"
	"github.com/conversa-hq/conversa/internal/webhook"
)

// Config sets up a River client.
type Config struct {
	// Work makes the client run workers; false gives an insert-only client (an API process
	// that runs no jobs).
	Work bool
	// MaxWorkers is the default queue's concurrency. Defaults to 100.
	MaxWorkers int
	Logger     *slog.Logger
	Clock      clock.Clock
	// TestOnly removes River's start-up jitter.
	TestOnly bool
	// Webhooks, when set, drains stored webhook deliveries.
	Webhooks *webhook.Service
	// Outbound, when set, delivers the event log to webhook subscriptions.
	Outbound *outbound.Service
	// DrainWorkers is how many webhook batches this process drains at once. Defaults to 2.
	DrainWorkers int
	// Imports, when set, runs CSV imports.
	Imports *importer.Service
	// Send, when set, dispatches queued messages to providers, a line at a time.
	Send *send.Dispatcher
	// DispatchWorkers is how many lines this process dispatches at once. Defaults to 16.
	DispatchWorkers int
	// Schedules, when set, runs what is scheduled for contacts (templates, flows, appointments).
	Schedules *schedule.Service
	// Campaigns, when set, starts scheduled campaigns at their time.
	Campaigns *campaign.Service
	// CampaignSender, when set, sends running campaigns in slices, a line at a time.
	CampaignSender *campaign.Sender
	// CampaignWorkers is how many campaign lines this process sends on at once. Defaults to 16.
	CampaignWorkers int
}

// JobTimeout is how long a job of a kind that sets no Timeout of its own may run before its
// context is cancelled: the sweeps and the other short jobs.
const JobTimeout = time.Minute

// RescueAfter is how long a job may stay running before River's rescuer counts its process as
// dead and retries it; a kind with a longer Timeout (an import, a campaign's freeze) is left
// until its own has passed. River's default is an hour: a process killed mid-job would leave
// that job running in River's eyes for an hour, and a job that is unique while running (a
// line's dispatcher, a webhook drain slot, the SLA or session-expiry sweep, the outbound
// round) would not run again anywhere until then.
const RescueAfter = JobTimeout

// DrainEvery is how often the leader runs a webhook drain whatever the notifications: the
// safety net that leaves no delivery behind when a NOTIFY is lost.
const DrainEvery = time.Second

// NewClient returns a River client with every worker registered.
func NewClient(pool *pgxpool.Pool, cfg Config) (*river.Client[pgx.Tx], error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = 100
	}
	if cfg.DrainWorkers == 0 {
		cfg.DrainWorkers = 2
	}
	if cfg.DispatchWorkers == 0 {
		cfg.DispatchWorkers = 16
	}
	if cfg.CampaignWorkers == 0 {
		cfg.CampaignWorkers = 16
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &PruneWorker{Pool: pool, Clock: cfg.Clock})
	river.AddWorker(workers, &SegmentTagsWorker{Segments: segment.NewService(pool, cfg.Clock)})
	river.AddWorker(workers, &template.ReviewWorker{Pool: pool, Clock: cfg.Clock})
	river.AddWorker(workers, &expiry.Worker{Sweeper: expiry.NewSweeper(pool, cfg.Clock)})
	river.AddWorker(workers, &closing.Worker{Service: closing.NewService(pool, cfg.Clock)})
	river.AddWorker(workers, &sla.Worker{Sweeper: sla.NewSweeper(pool, cfg.Clock)})
	distributor := distribution.NewService(pool, cfg.Clock)
	river.AddWorker(workers, &distribution.Worker{Service: distributor})
	river.AddWorker(workers, &distribution.AllWorker{Service: distributor})
	if cfg.Webhooks != nil {
		river.AddWorker(workers, &webhook.DrainWorker{Service: cfg.Webhooks})
	}
	if cfg.Outbound != nil {
		river.AddWorker(workers, &OutboundWorker{Outbound: cfg.Outbound})
	}
	if cfg.Imports != nil {
		river.AddWorker(workers, &importer.Worker{Service: cfg.Imports})
	}
	if cfg.Schedules != nil {
		river.AddWorker(workers, &schedule.Worker{Service: cfg.Schedules})
	}
	if cfg.Campaigns != nil {
		river.AddWorker(workers, &campaign.Worker{Service: cfg.Campaigns})
	}
	if cfg.CampaignSender != nil {
		river.AddWorker(workers, &campaign.SendWorker{Sender: cfg.CampaignSender})
		river.AddWorker(workers, &campaign.SweepWorker{Sender: cfg.CampaignSender})
	}
	if cfg.Send != nil {
		river.AddWorker(workers, &send.DispatchWorker{Dispatcher: cfg.Send})
		river.AddWorker(workers, &send.SweepWorker{Dispatcher: cfg.Send})
	}
	rc := &river.Config{Workers: workers, Logger: riverLogger(cfg.Logger), TestOnly: cfg.TestOnly,
		JobTimeout: JobTimeout, RescueStuckJobsAfter: RescueAfter}
	if cfg.Work {
		rc.Queues = map[string]river.QueueConfig{
			// A short fetch cooldown: with River's default of 100 ms a queue tops out at
			// 10 x MaxWorkers jobs per second.
			river.QueueDefault: {MaxWorkers: cfg.MaxWorkers, FetchCooldown: 5 * time.Millisecond},
		}
		if cfg.Webhooks != nil {
			rc.Queues[webhook.DrainQueue] = river.QueueConfig{MaxWorkers: cfg.DrainWorkers, FetchCooldown: 5 * time.Millisecond}
		}
		if cfg.Send != nil {
			rc.Queues[send.DispatchQueue] = river.QueueConfig{MaxWorkers: cfg.DispatchWorkers, FetchCooldown: 5 * time.Millisecond}
			rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(send.SweepEvery), func() (river.JobArgs, *river.InsertOpts) {
				return send.SweepArgs{}, nil
			}, &river.PeriodicJobOpts{ID: "send_sweep", RunOnStart: true}))
		}
		rc.PeriodicJobs = append(rc.PeriodicJobs,
			river.NewPeriodicJob(river.PeriodicInterval(time.Hour), func() (river.JobArgs, *river.InsertOpts) {
				return PruneArgs{}, nil
			}, &river.PeriodicJobOpts{ID: "prune", RunOnStart: true}),
			river.NewPeriodicJob(river.PeriodicInterval(SegmentTagsEvery), func() (river.JobArgs, *river.InsertOpts) {
				return SegmentTagsArgs{}, nil
			}, &river.PeriodicJobOpts{ID: "segment_tags", RunOnStart: true}),
			expiry.PeriodicJob(),
			sla.PeriodicJob(),
			distribution.PeriodicJob(),
		)
		if cfg.CampaignSender != nil {
			rc.Queues[campaign.SendQueue] = river.QueueConfig{MaxWorkers: cfg.CampaignWorkers, FetchCooldown: 5 * time.Millisecond}
			rc.PeriodicJobs = append(rc.PeriodicJobs, campaign.PeriodicJob())
		}
		if cfg.Webhooks != nil {
			rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(DrainEvery), func() (river.JobArgs, *river.InsertOpts) {
				return webhook.NextDrain(), nil
			}, &river.PeriodicJobOpts{ID: "webhook_drain", RunOnStart: true}))
		}
		if cfg.Outbound != nil {
			rc.PeriodicJobs = append(rc.PeriodicJobs, river.NewPeriodicJob(river.PeriodicInterval(OutboundEvery), func() (river.JobArgs, *river.InsertOpts) {
				return OutboundArgs{}, nil
			}, &river.PeriodicJobOpts{ID: "outbound_webhooks", RunOnStart: true}))
		}
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("create river client: %w", err)
	}
	return client, nil
}

// WakeDrain returns what webhook.Listen calls on each notification: enqueue a drain in the
// next slot (a slot already waiting or running skips it, see webhook.DrainArgs), unless a drain
// job of this process is running and takes the wake itself (webhook.Service.WakeRunning).
func WakeDrain(client *river.Client[pgx.Tx], webhooks *webhook.Service, logger *slog.Logger) func(context.Context) {
	return func(ctx context.Context) {
		if webhooks.WakeRunning() {
			return
		}
		if _, err := client.Insert(ctx, webhook.NextDrain(), nil); err != nil && ctx.Err() == nil {
			logger.Warn("enqueue webhook drain failed; the periodic drain will run it", "error", err)
		}
	}
}

// PruneArgs asks for what is past its retention to be deleted: expired refresh tokens, old
// idempotency keys, events, and raw webhook deliveries with their provider events.
type PruneArgs struct{}

// Kind names the job in river_job.
func (PruneArgs) Kind() string { return "prune" }

// InsertOpts keeps one prune pending at a time.
func (PruneArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: time.Hour}}
}

// PruneWorker deletes what no longer needs keeping.
type PruneWorker struct {
	river.WorkerDefaults[PruneArgs]
	Pool  *pgxpool.Pool
	Clock clock.Clock
}

// Work runs one prune.
func (w *PruneWorker) Work(ctx context.Context, _ *river.Job[PruneArgs]) error {
	now := w.Clock.Now()
	if _, err := auth.PruneTokens(ctx, w.Pool, now); err != nil {
		return err
	}
	if _, err := idempotency.Prune(ctx, w.Pool, now); err != nil {
		return err
	}
	if _, err := event.Prune(ctx, w.Pool, now); err != nil {
		return err
	}
	if _, err := webhook.Prune(ctx, w.Pool, now.Add(-webhook.Retention), webhook.PruneBatch); err != nil {
		return err
	}
	return nil
}

// Timeout leaves a prune time for an hour's webhook deliveries at a high rate (millions of
// rows, deleted in batches): what a cut-off prune leaves, the next hour's takes.
func (w *PruneWorker) Timeout(*river.Job[PruneArgs]) time.Duration { return 30 * time.Minute }

// SegmentTagsEvery is how often contacts that joined a segment by a rule get its automatic
// tags.
const SegmentTagsEvery = 5 * time.Minute

// SegmentTagsArgs asks for every segment's automatic tags to be given to members lacking them.
type SegmentTagsArgs struct{}

// Kind names the job in river_job.
func (SegmentTagsArgs) Kind() string { return "segment_tags" }

// InsertOpts keeps one sync pending at a time.
func (SegmentTagsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByPeriod: SegmentTagsEvery}}
}

// SegmentTagsWorker applies segments' automatic tags, one set-based statement per segment.
type SegmentTagsWorker struct {
	river.WorkerDefaults[SegmentTagsArgs]
	Segments *segment.Service
}

// Work syncs every account that has segments with automatic tags.
func (w *SegmentTagsWorker) Work(ctx context.Context, _ *river.Job[SegmentTagsArgs]) error {
	accounts, err := w.Segments.AccountsToSync(ctx)
	if err != nil {
		return err
	}
	for _, a := range accounts {
		if _, err := w.Segments.SyncTags(ctx, a); err != nil {
			return fmt.Errorf("sync segment tags of %s: %w", a, err)
		}
	}
	return nil
}

// Metrics counts finished jobs by kind and outcome for /metrics. It reads River's event
// stream until ctx ends.
func Metrics(ctx context.Context, client *river.Client[pgx.Tx], reg prometheus.Registerer) error {
	jobs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "conversa_river_jobs_total", Help: "River jobs finished, by kind and outcome.",
	}, []string{"kind", "outcome"})
	runtime := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "conversa_river_job_duration_seconds", Help: "River job run time by kind.",
		Buckets: prometheus.DefBuckets,
	}, []string{"kind"})
	if err := reg.Register(jobs); err != nil {
		return fmt.Errorf("register job metrics: %w", err)
	}
	if err := reg.Register(runtime); err != nil {
		return fmt.Errorf("register job metrics: %w", err)
	}
	events, cancel := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: 10_000,
		Kinds:    []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed},
	})
	go func() {
		defer cancel()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-events:
				if !ok {
					return
				}
				jobs.WithLabelValues(ev.Job.Kind, string(ev.Kind)).Inc()
				if ev.JobStats != nil {
					runtime.WithLabelValues(ev.Job.Kind).Observe(ev.JobStats.RunDuration.Seconds())
				}
			}
		}
	}()
	return nil
}
