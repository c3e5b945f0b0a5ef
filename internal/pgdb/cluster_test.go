package pgdb_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/pgdb"
)

// TestClusterLifecycle starts a private cluster from the system's binaries, as `conversa dev`
// does, restarts it on the same data, and checks the data survived.
func TestClusterLifecycle(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	ctx := context.Background()
	c := &pgdb.Cluster{Dir: filepath.Join(t.TempDir(), "pg"), Logf: t.Logf}
	require.NoError(t, c.Start(ctx))
	t.Cleanup(func() {
		_ = c.Stop(context.Background())
		_ = c.Remove()
	})
	require.NoError(t, pgdb.EnsureDatabase(ctx, c.URL("postgres"), "conversa"))
	require.NoError(t, pgdb.EnsureDatabase(ctx, c.URL("postgres"), "conversa"), "a second call finds it")

	query := func(sql string) string {
		conn, err := pgx.Connect(ctx, c.URL("conversa"))
		require.NoError(t, err)
		defer conn.Close(ctx)
		var out string
		require.NoError(t, conn.QueryRow(ctx, sql).Scan(&out))
		return out
	}
	conn, err := pgx.Connect(ctx, c.URL("conversa"))
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE TABLE kept AS SELECT 'still here'::text AS v")
	require.NoError(t, err)
	require.NoError(t, conn.Close(ctx))
	require.NoError(t, c.Stop(ctx))
	require.NoError(t, c.Start(ctx))
	require.Equal(t, "still here", query("SELECT v FROM kept"))
	require.Equal(t, "UTF8", query("SHOW server_encoding"))
}

func TestMigrateIsIdempotentAndReportsStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdbPool(t)
	st, err := pgdb.GetStatus(ctx, pool)
	require.NoError(t, err)
	require.True(t, st.Current(), "%+v", st)
	require.NoError(t, pgdb.Migrate(ctx, pool, nil))
}
