package pgdb_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/pgdb"
)

// GenericPlans lets the one query reuse generic plans, in one round trip, and leaves the pool's
// connections forcing custom plans: a statement whose generic plan is bad (RecordSent's took
// 30 s a batch) must never get one by accident.
func TestGenericPlansForOneQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdbPool(t)
	var inside []string
	for range 3 {
		require.NoError(t, pgdb.GenericPlans(ctx, pool, "SELECT current_setting('plan_cache_mode') WHERE $1::int > 0", []any{1}, func(rows pgx.Rows) error {
			got, err := pgx.CollectRows(rows, pgx.RowTo[string])
			inside = append(inside, got...)
			return err
		}))
		var after string
		require.NoError(t, pool.QueryRow(ctx, "SELECT current_setting('plan_cache_mode')").Scan(&after))
		require.Equal(t, "force_custom_plan", after)
	}
	require.Equal(t, []string{"auto", "auto", "auto"}, inside)

	err := pgdb.GenericPlans(ctx, pool, "SELECT 1/$1::int", []any{0}, func(rows pgx.Rows) error {
		_, err := pgx.CollectRows(rows, pgx.RowTo[int])
		return err
	})
	require.ErrorContains(t, err, "division by zero", "the query's error comes back")
}
