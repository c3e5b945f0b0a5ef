package pgdb_test

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func testdbPool(t *testing.T) *pgxpool.Pool { return testdb.New(t) }
