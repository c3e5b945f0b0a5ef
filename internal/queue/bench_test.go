package queue_test

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// BenchmarkNext is the database side of the agents' Next over a deep queue: parallel callers
// (-cpu × GOMAXPROCS goroutines, each an agent at random among 8) take the head of 50 000
// waiting conversations, through the same statement the API runs. Each op is one assignment.
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
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, err := e.svc.Next(ctx, e.account, agents[rand.IntN(len(agents))])
			require.NoError(b, err)
		}
	})
}
