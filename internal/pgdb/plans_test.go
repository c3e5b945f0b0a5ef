package pgdb_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/pgdb"
)

// GenericPlans lets each statement reuse generic plans, in one round trip, and leaves the pool's
// connections forcing custom plans: a statement whose generic plan is bad (RecordSent's took
// 30 s a batch) must never get one by accident.
func TestGenericPlansForOneQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdbPool(t)
	var inside []string
	for range 3 {
		rows, err := pgdb.GenericPlans{Pool: pool}.Query(ctx, "SELECT current_setting('plan_cache_mode') WHERE $1::int > 0", 1)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		inside = append(inside, got...)
		var after string
		require.NoError(t, pool.QueryRow(ctx, "SELECT current_setting('plan_cache_mode')").Scan(&after))
		require.Equal(t, "force_custom_plan", after)
	}
	require.Equal(t, []string{"auto", "auto", "auto"}, inside)

	g := pgdb.GenericPlans{Pool: pool}
	rows, err := g.Query(ctx, "SELECT 1/$1::int", 0)
	if err == nil {
		_, err = pgx.CollectRows(rows, pgx.RowTo[int])
	}
	require.ErrorContains(t, err, "division by zero", "the query's error comes back")
	var mode string
	require.NoError(t, g.QueryRow(ctx, "SELECT current_setting('plan_cache_mode') WHERE $1::int > 0", 1).Scan(&mode))
	require.Equal(t, "auto", mode)
	require.ErrorIs(t, g.QueryRow(ctx, "SELECT 1 WHERE $1::int < 0", 1).Scan(new(int)), pgx.ErrNoRows)
	tag, err := g.Exec(ctx, "SELECT pg_sleep($1::float8)", 0)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
	require.Zero(t, pool.Stat().AcquiredConns(), "every call gave its connection back")
}

// Allowing generic plans must not cost a server WARNING per statement (SET LOCAL outside an
// explicit transaction block raises one), which the server formats, logs and sends each time.
func TestGenericPlansRaiseNoNotice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testdbPool(t).Config()
	var notices []string
	var mu sync.Mutex
	cfg.ConnConfig.OnNotice = func(_ *pgconn.PgConn, n *pgconn.Notice) {
		mu.Lock()
		defer mu.Unlock()
		notices = append(notices, n.Severity+": "+n.Message)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	var mode string
	require.NoError(t, pgdb.GenericPlans{Pool: pool}.QueryRow(ctx, "SELECT current_setting('plan_cache_mode') WHERE $1::int > 0", 1).Scan(&mode))
	require.Equal(t, "auto", mode)
	mu.Lock()
	defer mu.Unlock()
	require.Empty(t, notices)
}
