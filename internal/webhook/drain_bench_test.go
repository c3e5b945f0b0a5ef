package webhook_test

import (
	"context"
	"testing"
	"time"

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
