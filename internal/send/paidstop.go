package send

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
)

// EventPaidSendsResumed says template sends go again after an admin cleared the stop.
const EventPaidSendsResumed = "account.paid_sends_resumed"

// PaidSendStop is why, and since when, the account's template (paid) sends are stopped: the
// provider refused one for a payment problem (131042). Free-form messages inside a service
// session are not paid and still go.
type PaidSendStop struct {
	// ChannelID is the line whose send the provider refused.
	ChannelID uuid.UUID
	Code      string
	Reason    string
	StoppedAt time.Time
}

// PaidSendStop returns the account's stop, or nil when template sends may go.
func (s *Service) PaidSendStop(ctx context.Context, accountID uuid.UUID) (*PaidSendStop, error) {
	return paidSendStop(ctx, s.pool, s.q, accountID)
}

func paidSendStop(ctx context.Context, db store.DBTX, q *store.Queries, accountID uuid.UUID) (*PaidSendStop, error) {
	r, err := q.GetPaidSendStop(ctx, db, accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read paid send stop: %w", err)
	}
	return &PaidSendStop{ChannelID: r.ChannelID, Code: r.Code, Reason: r.Reason, StoppedAt: r.StoppedAt}, nil
}

// errPaidStopped refuses a template while the account's paid sends are stopped: accepting it
// would only hold it until somebody fixes the payment method, which the caller should know.
func errPaidStopped(st *PaidSendStop) error {
	return fault.Conflict(fmt.Sprintf("the account's template sends are stopped since %s: the provider reported a payment problem (%s: %s); fix the payment method with the provider, then clear the stop (DELETE /v1/paid-sends/stop)",
		st.StoppedAt.UTC().Format(time.RFC3339), st.Code, st.Reason))
}

// ResumePaidSends clears the account's stop once the payment problem is fixed: the template
// messages held since go out on the lines' next dispatch. It reports whether sends were
// stopped, and emits account.paid_sends_resumed when they were.
func (s *Service) ResumePaidSends(ctx context.Context, accountID uuid.UUID) (bool, error) {
	var cleared bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		cleared, err = ClearPaidSendStop(ctx, tx, accountID)
		if err != nil || !cleared {
			return err
		}
		return event.Emit(ctx, tx, accountID, s.clock.Now(), event.New{Type: EventPaidSendsResumed, SubjectID: &accountID,
			Data: map[string]string{"account_id": accountID.String()}})
	})
	return cleared, err
}

// ClearPaidSendStop deletes the account's stop; it reports whether sends were stopped.
func ClearPaidSendStop(ctx context.Context, db store.DBTX, accountID uuid.UUID) (bool, error) {
	n, err := store.New().ClearPaidSendStop(ctx, db, accountID)
	if err != nil {
		return false, fmt.Errorf("clear paid send stop: %w", err)
	}
	return n > 0, nil
}
