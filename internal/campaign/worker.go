package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Args is a scheduled campaign's start job: at its time it checks the lines and freezes the
// audience of that campaign.
type Args struct {
	AccountID  uuid.UUID `json:"account_id"`
	CampaignID uuid.UUID `json:"campaign_id"`
}

// Kind names the job for River.
func (Args) Kind() string { return "campaign_start" }

// Worker runs Args jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	Service *Service
}

// Work starts the campaign when due (RunScheduled): early (a clock behind River's, a
// reschedule) it snoozes until the time; on its last failed attempt it fails the campaign so it
// does not stay scheduled forever.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	wait, err := w.Service.RunScheduled(ctx, job.Args.AccountID, job.Args.CampaignID)
	if err != nil {
		if job.Attempt >= job.MaxAttempts {
			if ferr := w.Service.Fail(ctx, job.Args.AccountID, job.Args.CampaignID, "could not start: "+err.Error()); ferr != nil {
				return ferr
			}
			return nil
		}
		return err
	}
	if wait > 0 {
		return river.JobSnooze(wait)
	}
	return nil
}

// Timeout leaves the freeze of a large audience time to finish (a million rows take seconds).
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return 5 * time.Minute }

// SendQueue is the River queue of campaign senders; its worker count bounds how many
// campaign lines one process sends on at once.
const SendQueue = "campaign_send"

// SendBudget is how long one sender job goes on before it leaves the rest to the next.
const SendBudget = 10 * time.Second

// SweepEvery is how often the leader makes sure every running campaign's lines have a sender
// waiting: what starts sending after a start or a resume missed its enqueue, a stage comes
// due, a window opens, or a process died mid-campaign.
const SweepEvery = 2 * time.Second

// SendArgs sends a running campaign on one of its lines.
type SendArgs struct {
	AccountID  uuid.UUID `json:"account_id" river:"unique"`
	CampaignID uuid.UUID `json:"campaign_id" river:"unique"`
	ChannelID  uuid.UUID `json:"channel_id" river:"unique"`
}

// Kind names the job for River.
func (SendArgs) Kind() string { return "campaign_send" }

// InsertOpts puts senders in their queue. They are not unique jobs: River's uniqueness counts
// a running job, and a process killed mid-job leaves its job running in River's eyes until
// River rescues it (an hour), which must not hold the line up; the sweep enqueues a sender
// where none is waiting or recently started instead. Two senders of one line share its claims
// safely: the campaign's row lock serialises them, the line's bucket holds the rate.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: SendQueue, MaxAttempts: 5}
}

// SendWorker runs SendArgs jobs.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	Sender *Sender
}

// MaxSnooze bounds how long a sender sleeps on a far wait (the next stage, the window), so a
// change of plan (a resume, an edit of the window) is seen within it.
const MaxSnooze = 5 * time.Minute

// Work sends the campaign on the line until it is done or the budget has passed. Told to come
// back later (a stage or a window hours away), it snoozes, so the line keeps its one waiting
// sender and no worker is held.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	_, later, err := w.Sender.RunLine(ctx, job.Args.AccountID, job.Args.CampaignID, job.Args.ChannelID, SendBudget)
	if err != nil {
		return err
	}
	if later > 0 {
		return river.JobSnooze(min(later, MaxSnooze))
	}
	return nil
}

// Timeout leaves room for the budget and the last slice.
func (w *SendWorker) Timeout(*river.Job[SendArgs]) time.Duration {
	return SendBudget + SliceTimeout + time.Minute
}

// SweepArgs asks for a sender on every line of every running campaign.
type SweepArgs struct{}

// Kind names the job for River.
func (SweepArgs) Kind() string { return "campaign_sweep" }

// SweepWorker runs SweepArgs jobs.
type SweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	Sender *Sender
}

// Work enqueues a sender for each line of each running campaign that has none waiting or
// started within the last SendBudget (plus a margin): a sender running longer than that
// belongs to a process that died, or is finishing its last slice, and a second one is harmless.
func (w *SweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	// Settling lapsed claims must not hold up the senders of every running campaign: a failure
	// is logged and the next sweep, 2 s later, tries again.
	if err := w.Sender.ExpireLapsedClaims(ctx); err != nil {
		slog.Default().ErrorContext(ctx, "campaign sweep: lapsed claims not settled", "error", err)
	}
	rows, err := w.Sender.q.RunningCampaigns(ctx, w.Sender.pool)
	if err != nil {
		return fmt.Errorf("find running campaigns: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	client := river.ClientFromContext[pgx.Tx](ctx)
	res, err := client.JobList(ctx, river.NewJobListParams().Kinds(SendArgs{}.Kind()).First(10_000).States(
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStateRunning))
	if err != nil {
		return fmt.Errorf("list campaign senders: %w", err)
	}
	alive := map[SendArgs]bool{}
	for _, j := range res.Jobs {
		if j.State == rivertype.JobStateRunning && (j.AttemptedAt == nil || time.Since(*j.AttemptedAt) > SendBudget+5*time.Second) {
			continue
		}
		var a SendArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			return fmt.Errorf("decode campaign sender %d: %w", j.ID, err)
		}
		alive[a] = true
	}
	var params []river.InsertManyParams
	for _, r := range rows {
		for _, p := range sendJobs(r.AccountID, r.ID, r.SenderIds) {
			if !alive[p.Args.(SendArgs)] {
				params = append(params, p)
			}
		}
	}
	if len(params) == 0 {
		return nil
	}
	if _, err := client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("enqueue campaign senders: %w", err)
	}
	return nil
}

// PeriodicJob is the sweep, run by the leader every SweepEvery. The sweep is not a unique job,
// for the reason senders are not (see SendArgs.InsertOpts): a process killed mid-sweep would
// leave it running in River's eyes, and no campaign would get a sender again until River
// rescued it. A sweep that outlives its period runs beside the next, which is harmless: two
// senders of one line share its claims safely.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(SweepEvery), func() (river.JobArgs, *river.InsertOpts) {
		return SweepArgs{}, nil
	}, &river.PeriodicJobOpts{ID: "campaign_sweep", RunOnStart: true})
}

func sendJobs(accountID, campaignID uuid.UUID, lines []uuid.UUID) []river.InsertManyParams {
	out := make([]river.InsertManyParams, len(lines))
	for i, l := range lines {
		out[i] = river.InsertManyParams{Args: SendArgs{AccountID: accountID, CampaignID: campaignID, ChannelID: l}}
	}
	return out
}
