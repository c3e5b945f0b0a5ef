package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
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

// startWorkers starts a River client that runs jobs, as a `conversa worker` process does, and
// returns its events of the kinds asked for; the client stops when the test ends.
func startWorkers(t *testing.T, pool *pgxpool.Pool, cfg jobs.Config, kinds ...river.EventKind) <-chan *river.Event {
	t.Helper()
	cfg.Work, cfg.TestOnly = true, true
	client, err := jobs.NewClient(pool, cfg)
	require.NoError(t, err)
	events, cancel := client.Subscribe(kinds...)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() {
		_ = client.Stop(context.Background())
		cancel()
	})
	return events
}

// TestPruneRunsOnRealWorkers lets a running River client run its periodic prune and checks that
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

	done := startWorkers(t, pool, jobs.Config{Clock: clk}, river.EventKindJobCompleted, river.EventKindJobFailed)

	// The periodic prune runs on start; wait for it.
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
