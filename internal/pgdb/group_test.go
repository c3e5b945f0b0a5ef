package pgdb_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/pgdb"
)

// A batch that a constraint refuses is written again row by row, so only the caller of the
// refused row fails and the others' rows are stored; when Alone says no, every caller of a
// failed batch gets its error, and what is stored is exactly what callers were told.
func TestGroupIsolatesABadInput(t *testing.T) {
	t.Parallel()
	pool := testdbPool(t)
	ctx := context.Background()
	_, err := pool.Exec(ctx, "CREATE TABLE grouped (n int PRIMARY KEY); INSERT INTO grouped VALUES (13)")
	require.NoError(t, err)
	insert := func(ctx context.Context, batch []int) ([]struct{}, error) {
		if _, err := pool.Exec(ctx, "INSERT INTO grouped SELECT unnest($1::int[])", batch); err != nil {
			return nil, fmt.Errorf("insert %d: %w", len(batch), err)
		}
		return make([]struct{}, len(batch)), nil
	}
	run := func(g *pgdb.Group[int, struct{}], from int) []error {
		errs := make([]error, 20)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() { _, errs[i] = g.Do(ctx, from+i) })
		}
		wg.Wait()
		return errs
	}
	stored := func(from, to int) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM grouped WHERE n BETWEEN $1 AND $2", from, to).Scan(&n))
		return n
	}

	errs := run(&pgdb.Group[int, struct{}]{Runners: 2, Max: 8, Run: insert}, 0)
	for i, err := range errs {
		if i == 13 {
			require.Error(t, err)
			_, dup := pgdb.UniqueViolation(err)
			require.True(t, dup, "%v", err)
			continue
		}
		require.NoError(t, err, "input %d", i)
	}
	require.Equal(t, 20, stored(0, 19), "the other nineteen stored, and the 13 stored before")

	never := errors.New("not worth retrying")
	g := &pgdb.Group[int, struct{}]{Runners: 1, Max: 64, Run: func(ctx context.Context, batch []int) ([]struct{}, error) {
		if len(batch) > 1 {
			return nil, never
		}
		return insert(ctx, batch)
	}, Alone: func(error) bool { return false }}
	errs = run(g, 100)
	ok := 0
	for i, err := range errs {
		if err != nil {
			require.ErrorIs(t, err, never, "input %d", i)
			continue
		}
		ok++
	}
	require.Equal(t, ok, stored(100, 119), "stored exactly what its callers were told")
}
