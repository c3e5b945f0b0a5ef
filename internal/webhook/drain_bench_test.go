package webhook_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/webhook"
)

// BenchmarkDrain is one drainer, in process, over a backlog of 20 000 stored deliveries
// (b.N backlogs): the drain's own rate, without HTTP or River. go test -run x -bench Drain
// -benchtime 1x ./internal/webhook/
func BenchmarkDrain(b *testing.B) {
	e := setup(b)
	var events int
	var took time.Duration
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		for i := range 20000 {
			e.receive(message(n*20000 + i))
		}
		b.StartTimer()
		start := time.Now()
		d, err := e.svc.Drain(context.Background(), webhook.BatchSize, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		events += d.Events
	}
	b.ReportMetric(float64(events)/took.Seconds(), "events/s")
}

// BenchmarkDrainNewSenders is BenchmarkDrain with every message from a contact the account
// has never seen: the inbound pipeline's heaviest path (a contact, its phone and identity, a
// conversation, an attendance with its protocol and an implicit consent record per message).
func BenchmarkDrainNewSenders(b *testing.B) {
	e := setup(b)
	var events int
	var took time.Duration
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		for i := range 20000 {
			id := n*20000 + i
			e.receive(whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: "1", PhoneNumberID: "2", From: fmt.Sprintf("55119%08d", 10000000+id),
				Name: "Maria", ID: fmt.Sprintf("wamid.%d", id), Text: "Oi", At: time.Unix(1_790_000_000+int64(id), 0)}))
		}
		b.StartTimer()
		start := time.Now()
		d, err := e.svc.Drain(context.Background(), webhook.BatchSize, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		took += time.Since(start)
		events += d.Events
	}
	b.ReportMetric(float64(events)/took.Seconds(), "events/s")
}

// BenchmarkDrainTrickle drains a backlog of 2 000 deliveries eight at a time, as a lingering
// drain job takes a trickle of deliveries (one batch per DrainGap): the fixed cost of a drain
// transaction, which is what a stream waits for after the webhook's 200.
func BenchmarkDrainTrickle(b *testing.B) {
	e := setup(b)
	var batches int
	var took time.Duration
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		for i := range 2000 {
			e.receive(message(n*2000 + i))
		}
		b.StartTimer()
		for {
			start := time.Now()
			d, err := e.svc.DrainBatch(context.Background(), 8)
			if err != nil {
				b.Fatal(err)
			}
			if d.Deliveries == 0 {
				break
			}
			took += time.Since(start)
			batches++
		}
	}
	b.ReportMetric(float64(took.Microseconds())/float64(batches), "µs/batch")
}
