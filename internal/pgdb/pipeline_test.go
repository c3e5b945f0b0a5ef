package pgdb_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/pgdb"
)

// rowQuerier is what Recorder and Replay both are, for the steps below.
type rowQuerier interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}

// Statements recorded through a Recorder run in one batch, in order, each seeing what the ones
// before it wrote, and a Replay hands each caller its own result.
func TestRecorderReplay(t *testing.T) {
	t.Parallel()
	pool := testdbPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, "CREATE TABLE piped (n int PRIMARY KEY)")
	require.NoError(t, err)

	steps := []func(db rowQuerier) (int, error){
		func(db rowQuerier) (int, error) {
			var n int
			return n, db.QueryRow(ctx, "INSERT INTO piped VALUES ($1) RETURNING n * 10", 1).Scan(&n)
		},
		func(db rowQuerier) (int, error) {
			var n int
			return n, db.QueryRow(ctx, "SELECT count(*)::int FROM piped").Scan(&n)
		},
	}
	b := &pgx.Batch{}
	pgdb.QueueGenericPlans(b)
	for _, step := range steps {
		_, err := step(pgdb.Recorder{Batch: b})
		require.ErrorIs(t, err, pgdb.ErrRecorded)
	}
	require.Equal(t, 3, b.Len())
	var got []int
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		br := tx.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		for _, step := range steps {
			n, err := step(pgdb.Replay{Results: br})
			if err != nil {
				return err
			}
			got = append(got, n)
		}
		return br.Close()
	}))
	require.Equal(t, []int{10, 1}, got, "the count saw the insert before it")
}
