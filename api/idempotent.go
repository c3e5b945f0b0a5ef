package api

import (
	"context"
	"encoding/json"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/idempotency"
)

// idempotent runs a creating call's work once per Idempotency-Key (DESIGN §5). Without a key
// the work runs in a transaction of its own; with one, the body it answers is stored with the
// key in the work's transaction, and a retry with the same key and request gets that body back
// (replayed) instead of creating again. operation scopes the key: name the path's resource in
// it when the same body may be posted to several.
func idempotent[B any](ctx context.Context, s *server, accountID uuid.UUID, operation, key string, raw []byte, status int,
	work func(pgx.Tx) (B, error),
) (body B, replayed bool, err error) {
	if key == "" {
		err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) (err error) {
			body, err = work(tx)
			return err
		})
		return body, false, err
	}
	resp, replayed, err := idempotency.Do(ctx, s.Pool, accountID, operation, key, raw, func(tx pgx.Tx) (idempotency.Response, error) {
		b, err := work(tx)
		if err != nil {
			return idempotency.Response{}, err
		}
		enc, err := json.Marshal(b)
		return idempotency.Response{Status: status, Body: enc}, err
	})
	if err != nil {
		return body, false, err
	}
	return body, replayed, json.Unmarshal(resp.Body, &body)
}
