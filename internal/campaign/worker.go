package campaign

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
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
