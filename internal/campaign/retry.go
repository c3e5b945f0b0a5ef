package campaign

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
)

// Retry makes a retry run of a completed or cancelled campaign: a draft with its settings
// (automatic lines are picked again at its start) whose audience, frozen at its start, is the
// campaign's failed recipients, checked again for blocks, broadcasts, consent and attendance.
// Recipients whose outcome is unknown are not retried: the send may have reached them. It is
// a 409 while the campaign may still send, or when nothing failed.
func (s *Service) Retry(ctx context.Context, accountID, id uuid.UUID) (out Campaign, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out, err = s.RetryTx(ctx, tx, accountID, id)
		return err
	})
	return out, err
}

// RetryTx is Retry in the caller's transaction, which an Idempotency-Key's stored answer
// shares: a retried call makes one retry run, not two.
func (s *Service) RetryTx(ctx context.Context, tx pgx.Tx, accountID, id uuid.UUID) (Campaign, error) {
	now := s.now()
	c, err := s.lock(ctx, tx, accountID, id)
	if err != nil {
		return Campaign{}, err
	}
	if c.Status != StatusCompleted && c.Status != StatusCancelled {
		return Campaign{}, fault.Conflict("the campaign is " + c.Status + ": retry its failures once it is completed or cancelled")
	}
	live, err := s.q.LiveRetryRun(ctx, tx, store.LiveRetryRunParams{AccountID: accountID, CampaignID: &id})
	if err == nil {
		return Campaign{}, fault.Conflict(fmt.Sprintf("campaign %s is already a retry run of this campaign (%s): retry its failures instead", live.ID, live.Status))
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return Campaign{}, fmt.Errorf("find retry runs of campaign %s: %w", id, err)
	}
	failed, err := s.q.CountFailedRecipients(ctx, tx, store.CountFailedRecipientsParams{AccountID: accountID, CampaignID: id})
	if err != nil {
		return Campaign{}, fmt.Errorf("count the failures of campaign %s: %w", id, err)
	}
	if failed == 0 {
		return Campaign{}, fault.Conflict("no recipient of the campaign failed: there is nothing to retry")
	}
	newID, err := s.q.CopyCampaignForRetry(ctx, tx, store.CopyCampaignForRetryParams{AccountID: accountID, ID: id, NewID: uuid.Must(uuid.NewV7()), Now: now})
	if err != nil {
		return Campaign{}, fmt.Errorf("copy campaign %s for a retry: %w", id, err)
	}
	out, err := s.get(ctx, tx, accountID, newID)
	if err != nil {
		return Campaign{}, err
	}
	return out, emit(ctx, tx, EventCreated, out, now, map[string]any{"retry_of": id, "failed": failed})
}
