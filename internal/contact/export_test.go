package contact

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

// The export's CSV is written by PostgreSQL and the campaign report's by Go: both must
// neutralise the same cells.
func TestInertSQLAgreesWithInert(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	for _, s := range []string{"", "Maria", "=SUM(A1)", "+5511987654321", "-1", "@user", "\tx", "\rx", "'quoted", "a=b", " =x",
		"\n=x", "é=", "=", "+", "''"} {
		var got *string
		require.NoError(t, pool.QueryRow(context.Background(), "SELECT "+inertSQL("$1::text"), s).Scan(&got))
		require.NotNil(t, got, "%q", s)
		require.Equal(t, Inert(s), *got, "%q", s)
	}
	var null *string
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT "+inertSQL("NULL::text")).Scan(&null))
	require.Nil(t, null)
}
