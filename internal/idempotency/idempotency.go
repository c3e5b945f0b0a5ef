// Package idempotency makes a creating call safe to retry: the first call's response is stored
// with its key in the same transaction as the work, and a retry with the same key and body gets
// that response back instead of doing the work twice.
package idempotency

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
)

// Retention is how long keys are remembered; the prune job forgets older ones.
const Retention = 24 * time.Hour

// MaxKeyLength bounds the Idempotency-Key header.
const MaxKeyLength = 255

var q = store.New()

// Response is what a call answered: the HTTP status and the encoded body.
type Response struct {
	Status int
	Body   []byte
}

// Do runs fn once per (account, operation, key). fn gets the transaction that also stores its
// response; an error from fn rolls both back, so a failed call may be retried with the same key.
// A concurrent call with the same key waits for the first to finish. replayed is true when the
// response is the stored one. The same key with a different request is a conflict.
func Do(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, operation, key string, request []byte,
	fn func(tx pgx.Tx) (Response, error),
) (resp Response, replayed bool, err error) {
	if key == "" || len(key) > MaxKeyLength {
		return Response{}, false, fault.Invalid("invalid Idempotency-Key",
			fault.FieldError{Field: "header.Idempotency-Key", Message: fmt.Sprintf("must have 1 to %d characters", MaxKeyLength)})
	}
	hash := sha256.Sum256(request)
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		n, err := q.ClaimIdempotencyKey(ctx, tx, store.ClaimIdempotencyKeyParams{
			AccountID: accountID, Operation: operation, Key: key, RequestHash: hash[:],
		})
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		if n == 0 {
			prev, err := q.GetIdempotencyKey(ctx, tx, store.GetIdempotencyKeyParams{AccountID: accountID, Operation: operation, Key: key})
			if errors.Is(err, pgx.ErrNoRows) {
				return fault.Conflict("a request with this Idempotency-Key is still being processed; retry")
			}
			if err != nil {
				return fmt.Errorf("read idempotency key: %w", err)
			}
			if string(prev.RequestHash) != string(hash[:]) {
				return fault.Invalid("Idempotency-Key already used with a different request",
					fault.FieldError{Field: "header.Idempotency-Key", Message: "was used with another body; use a new key"})
			}
			resp, replayed = Response{Status: int(prev.Status), Body: prev.Response}, true
			return nil
		}
		resp, err = fn(tx)
		if err != nil {
			return err
		}
		return q.CompleteIdempotencyKey(ctx, tx, store.CompleteIdempotencyKeyParams{
			AccountID: accountID, Operation: operation, Key: key, Status: int32(resp.Status), Response: resp.Body,
		})
	})
	return resp, replayed, err
}

// Prune forgets keys older than Retention.
func Prune(ctx context.Context, db store.DBTX, now time.Time) (int64, error) {
	n, err := q.DeleteOldIdempotencyKeys(ctx, db, now.Add(-Retention))
	if err != nil {
		return 0, fmt.Errorf("prune idempotency keys: %w", err)
	}
	return n, nil
}
