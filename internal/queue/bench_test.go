package queue_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"
)

// BenchmarkNext is the database side of the agents' Next over a deep queue: parallel callers
// (-cpu × GOMAXPROCS goroutines, each an agent at random among 8) take the head of 50 000
// waiting conversations, through the same statement the API runs. Each op is one assignment.
// Besides the wall time it reports pg-µs/op, the CPU time the database's backends spent per
// assignment (read from /proc when the server runs on this machine): on a shared machine the
// wall time moves with the other load, the CPU per assignment much less.
//
//	go test -run '^$' -bench Next -benchtime 5000x -cpu 8 ./internal/queue
func BenchmarkNext(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	const waiting = 50_000
	if b.N > waiting {
		b.Fatalf("at most %d assignments: -benchtime %dx", waiting, waiting)
	}
	chans := []uuid.UUID{e.channel(e.account, "whatsapp", 80), e.channel(e.account, "email", 50), e.channel(e.account, "sms", 30)}
	e.exec(`INSERT INTO contacts (account_id, id, name) SELECT $1, gen_random_uuid(), 'c' || g FROM generate_series(1, $2) g`, e.account, waiting)
	e.exec(`INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, unanswered_since, created_at, updated_at)
	        SELECT $1, gen_random_uuid(), c.id, ($2::uuid[])[1 + (row_number() OVER () % 3)], 'a', 'open',
	               $3::timestamptz - random() * interval '1 day', now(), now()
	        FROM contacts c WHERE c.account_id = $1`, e.account, chans, start)
	e.exec(`VACUUM ANALYZE conversations`)
	agents := make([]uuid.UUID, 8)
	for i := range agents {
		agents[i] = e.agent(e.account)
	}
	cpu0, cpuOK := backendsCPU(ctx, e.pool)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := e.svc.Next(ctx, e.account, agents[rand.IntN(len(agents))])
			require.NoError(b, err)
		}
	})
	b.StopTimer()
	if cpu1, ok := backendsCPU(ctx, e.pool); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)*1e6/float64(sysClockTicks)/float64(b.N), "pg-µs/op")
	}
}

// sysClockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on Linux).
const sysClockTicks = 100

// backendsCPU is the CPU time (user + system, in clock ticks) used so far by the client
// backends of the pool's database, when they run on this machine; the pool's connections are
// kept open for the whole benchmark (pgxpool keeps idle connections for 30 minutes by default).
func backendsCPU(ctx context.Context, pool *pgxpool.Pool) (int64, bool) {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`)
	if err != nil {
		return 0, false
	}
	defer rows.Close()
	var total int64
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) != nil {
			return 0, false
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0, false
		}
		// The fields after the command name (which may hold spaces): state is the first,
		// utime and stime the 12th and 13th.
		f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		if len(f) < 13 {
			return 0, false
		}
		u, err1 := strconv.ParseInt(f[11], 10, 64)
		s, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		total += u + s
	}
	return total, rows.Err() == nil
}
