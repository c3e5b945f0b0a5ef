package webhook_test

import (
	"context"
	"testing"
	"time"

	"github.com/conversa-hq/conversa/internal/webhook"
)

// BenchmarkPrune deletes 500 000 deliveries and 500 000 provider events past their retention
// from tables that hold as many recent ones (b.N times): what the hourly prune costs per row
// deleted, and that the recent half, which the BRIN indexes rule out, costs it nothing. Bodies
// are the size of a WhatsApp text delivery. go test -run x -bench Prune -benchtime 1x
// ./internal/webhook/
func BenchmarkPrune(b *testing.B) {
	e := setup(b)
	ctx := context.Background()
	const half = 500_000
	now := e.clk.Now()
	var deleted int64
	var took time.Duration
	for b.Loop() {
		b.StopTimer()
		// Ids ordered by time as UUIDv7 are; received a row a millisecond, the old half ending a
		// day past the retention, the recent half ending now.
		for _, end := range []time.Time{now.Add(-webhook.Retention - 24*time.Hour), now} {
			if _, err := e.pool.Exec(ctx, `
				WITH r AS (SELECT i, $2::timestamptz - (($3 - i) * interval '1 millisecond') AS at FROM generate_series(1, $3) i)
				INSERT INTO webhook_deliveries (account_id, id, channel_id, provider, signature, body, received_at, processed_at)
				SELECT c.account_id, (lpad(to_hex((extract(epoch FROM r.at) * 1000)::bigint), 12, '0') || substr(md5(random()::text), 1, 20))::uuid,
				       c.id, 'whatsapp', 'sha256=' || md5(r.i::text), convert_to(repeat('x', 700), 'UTF8'), r.at, r.at
				FROM r, channels c WHERE c.id = $1`, e.channel, end, half); err != nil {
				b.Fatal(err)
			}
			if _, err := e.pool.Exec(ctx, `
				WITH r AS (SELECT i, $2::timestamptz - (($3 - i) * interval '1 millisecond') AS at FROM generate_series(1, $3) i)
				INSERT INTO provider_events (account_id, channel_id, kind, provider_key, delivery_id, payload, occurred_at, recorded_at)
				SELECT c.account_id, c.id, 'message', 'wamid.' || md5(random()::text), gen_random_uuid(),
				       jsonb_build_object('from', '5511987654321', 'text', repeat('x', 200)), r.at, r.at
				FROM r, channels c WHERE c.id = $1`, e.channel, end, half); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := e.pool.Exec(ctx, "VACUUM ANALYZE webhook_deliveries, provider_events"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		p, err := webhook.Prune(ctx, e.pool, now.Add(-webhook.Retention), webhook.PruneBatch)
		if err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		if p.Deliveries != half || p.Events != half {
			b.Fatalf("pruned %+v, want %d of each", p, half)
		}
		deleted += p.Deliveries + p.Events
		b.StopTimer()
		if _, err := e.pool.Exec(ctx, "TRUNCATE webhook_deliveries, provider_events"); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(deleted)/took.Seconds(), "rows/s")
}
