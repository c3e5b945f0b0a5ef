package pgdb

import (
	"context"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// Callers that arrive while a batch is being written are written together by the next one
// (up to Max), each getting its own output; a lone caller is written at once.
func TestGroupGathersWaitingCallers(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var batches [][]int
	g := &Group[int, int]{Runners: 1, Max: 10, Run: func(_ context.Context, batch []int) ([]int, error) {
		mu.Lock()
		batches = append(batches, append([]int(nil), batch...))
		first := len(batches) == 1
		mu.Unlock()
		if first {
			<-gate
		}
		out := make([]int, len(batch))
		for i, v := range batch {
			out[i] = v * 10
		}
		return out, nil
	}}
	ctx := context.Background()
	results := make([]int, 11)
	var wg sync.WaitGroup
	wg.Go(func() { results[0], _ = g.Do(ctx, 0) })
	for {
		mu.Lock()
		started := len(batches) == 1
		mu.Unlock()
		if started {
			break
		}
		runtime.Gosched()
	}
	for i := 1; i < 11; i++ {
		wg.Go(func() { results[i], _ = g.Do(ctx, i) })
	}
	for len(g.queue) < 10 {
		runtime.Gosched()
	}
	close(gate)
	wg.Wait()
	for i, r := range results {
		require.Equal(t, i*10, r)
	}
	require.Len(t, batches, 2, "the first alone, then the ten that waited for it together")
	require.Len(t, batches[1], 10)
}
