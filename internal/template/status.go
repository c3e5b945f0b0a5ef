package template

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/provider"
)

// StatusEventKind is the kind of provider event that reports a template's verdict: the
// Cloud API's webhook field, which the fake provider's webhooks use too.
const StatusEventKind = "message_template_status_update"

// eventStatus maps the Cloud API's template events onto statuses (reference §2.6, §6).
// FLAGGED, LIMIT_EXCEEDED, LOCKED, ARCHIVED and UNARCHIVED change nothing here: the first
// warns before a pause, the others are reported by later events that do.
var eventStatus = map[string]string{
	"APPROVED": StatusApproved, "REINSTATED": StatusApproved,
	"PENDING": StatusPending, "IN_APPEAL": StatusPending,
	"REJECTED": StatusRejected,
	"PAUSED":   StatusPaused,
	"DISABLED": StatusDisabled, "PENDING_DELETION": StatusDisabled, "DELETED": StatusDisabled,
}

// ApplyStatus records a provider's verdict (status and readable reason, at the time the
// provider gave it) on every library channel of the account that holds providerTemplateID,
// and refreshes those templates' summary status. A verdict older than the one already applied
// is ignored and the same verdict applied twice changes nothing, so duplicated and reordered
// notifications are harmless. It returns how many templates it touched. db is the caller's
// transaction (the webhook processing's or a job's).
func ApplyStatus(ctx context.Context, db store.DBTX, accountID uuid.UUID, providerTemplateID, status, reason string, at, now time.Time) (int, error) {
	var r *string
	if reason != "" {
		r = &reason
	}
	q := store.New()
	ids, err := q.ApplyTemplateStatus(ctx, db, store.ApplyTemplateStatusParams{
		AccountID: accountID, ProviderTemplateID: providerTemplateID, Status: status, Reason: r, At: at})
	if err != nil {
		return 0, fmt.Errorf("apply template %s status %s: %w", providerTemplateID, status, err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := q.RefreshTemplateStatus(ctx, db, store.RefreshTemplateStatusParams{AccountID: accountID, Ids: ids, Now: now}); err != nil {
		return 0, fmt.Errorf("refresh template status: %w", err)
	}
	return len(ids), nil
}

// ApplyEvents applies the template-status notifications among events, received on a channel
// of accountID, and ignores every other event; only that account's templates can change.
// Call it where provider events are recorded, in the same transaction.
func ApplyEvents(ctx context.Context, db store.DBTX, accountID uuid.UUID, events []provider.Event, now time.Time) error {
	for _, e := range events {
		if e.Kind != StatusEventKind {
			continue
		}
		id := e.Data["message_template_id"]
		status, ok := eventStatus[strings.ToUpper(e.Data["event"])]
		if id == "" || !ok {
			continue
		}
		at := e.Timestamp
		if at.IsZero() {
			at = now
		}
		if _, err := ApplyStatus(ctx, db, accountID, id, status, eventReason(status, e.Data), at, now); err != nil {
			return err
		}
	}
	return nil
}

// eventReason is the readable why of a verdict: Meta's rejection reason, or the pause or
// disable details; none for an approval.
func eventReason(status string, d map[string]string) string {
	if status == StatusApproved || status == StatusPending {
		return ""
	}
	var parts []string
	for _, k := range []string{"reason", "rejection_info.reason", "other_info.title", "other_info.description", "disable_info.disable_date"} {
		if v := strings.TrimSpace(d[k]); v != "" && v != "NONE" {
			if k == "disable_info.disable_date" {
				v = "disabled on " + v
			}
			parts = append(parts, v)
		}
	}
	return strings.Join(parts, ": ")
}

// ReviewArgs asks for a fake provider's template to be approved once its delay has passed.
type ReviewArgs struct {
	AccountID          uuid.UUID `json:"account_id"`
	ProviderTemplateID string    `json:"provider_template_id"`
	// Due is when the fake provider approves it, on the service's clock.
	Due time.Time `json:"due"`
}

// Kind names the job in river_job.
func (ReviewArgs) Kind() string { return "template_fake_review" }

// ReviewWorker runs ReviewArgs: the fake provider's review, so demos see a template go from
// pending to approved the way a real provider's notification would move it.
type ReviewWorker struct {
	river.WorkerDefaults[ReviewArgs]
	Pool  *pgxpool.Pool
	Clock clock.Clock
}

// Work approves the template when the clock has reached Due, and otherwise snoozes until
// then. Approving twice changes nothing.
func (w *ReviewWorker) Work(ctx context.Context, job *river.Job[ReviewArgs]) error {
	now := w.Clock.Now()
	if wait := job.Args.Due.Sub(now); wait > 0 {
		return river.JobSnooze(wait)
	}
	if w.Pool == nil {
		return errors.New("template review worker has no pool")
	}
	return pgx.BeginFunc(ctx, w.Pool, func(tx pgx.Tx) error {
		_, err := ApplyStatus(ctx, tx, job.Args.AccountID, job.Args.ProviderTemplateID, StatusApproved, "", job.Args.Due, now)
		return err
	})
}
