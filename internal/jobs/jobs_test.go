package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/attendtest"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/idempotency"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/webhook"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestPruneRunsOnRealWorkers enqueues a prune job on a running River client and checks that
// expired refresh tokens, stale idempotency keys and webhook deliveries past their retention
// are gone while live ones stay.
func TestPruneRunsOnRealWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	now := time.Now().UTC()
	clk := clock.NewManual(now)
	q := store.New()

	acct, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	u, err := account.CreateUser(ctx, pool, account.NewUser{AccountID: acct.ID, Email: "a@example.com", Password: "0123456789", Role: "agent"})
	require.NoError(t, err)
	family := uuid.New()
	for i, expires := range []time.Time{now.Add(-48 * time.Hour), now.Add(time.Hour)} {
		require.NoError(t, q.CreateRefreshToken(ctx, pool, store.CreateRefreshTokenParams{
			AccountID: acct.ID, ID: uuid.New(), FamilyID: family, UserID: u.ID,
			TokenHash: []byte{byte(i)}, ExpiresAt: expires, CreatedAt: now,
		}))
	}
	for _, key := range []string{"old", "fresh"} {
		_, _, err := idempotency.Do(ctx, pool, acct.ID, "op", key, []byte(key), func(pgx.Tx) (idempotency.Response, error) {
			return idempotency.Response{Status: 201, Body: []byte("{}")}, nil
		})
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, "UPDATE idempotency_keys SET created_at = $1 WHERE key = 'old'", now.Add(-idempotency.Retention-time.Minute))
	require.NoError(t, err)

	line := attendtest.DB{T: t, Pool: pool}.Channel(acct.ID)
	for _, received := range []time.Time{now.Add(-webhook.Retention - time.Hour), now.Add(-time.Hour)} {
		_, err = pool.Exec(ctx, `INSERT INTO webhook_deliveries (account_id, id, channel_id, provider, body, received_at, processed_at)
			VALUES ($1, $2, $3, 'fake', '{}', $4, $4)`, acct.ID, uuid.New(), line, received)
		require.NoError(t, err)
	}

	client, err := jobs.NewClient(pool, jobs.Config{Work: true, Clock: clk, TestOnly: true})
	require.NoError(t, err)
	done, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancel()
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { _ = client.Stop(context.Background()) })

	// The periodic prune runs on start; wait for it and for the one enqueued here.
	_, err = client.Insert(ctx, jobs.PruneArgs{}, nil)
	require.NoError(t, err)
	deadline := time.After(10 * time.Second)
	for pruned := false; !pruned; {
		select {
		case ev := <-done:
			require.Equal(t, river.EventKindJobCompleted, ev.Kind, "%s: %+v", ev.Job.Kind, ev.Job.Errors)
			pruned = ev.Job.Kind == "prune"
		case <-deadline:
			t.Fatal("prune job did not run")
		}
	}

	var tokens, keys int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM refresh_tokens").Scan(&tokens))
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM idempotency_keys").Scan(&keys))
	require.Equal(t, 1, tokens, "the expired token is gone, the live one stays")
	require.Equal(t, 1, keys, "the stale key is gone, the fresh one stays")
	var deliveries int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM webhook_deliveries").Scan(&deliveries))
	require.Equal(t, 1, deliveries, "the delivery past its retention is gone, the recent one stays")
}
