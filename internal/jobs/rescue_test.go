package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/expiry"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/sla"
)

// TestJobOfAKilledProcessRunsAgain leaves jobs as a process killed mid-job leaves them,
// running in River's eyes with no process to finish them, and checks that they run again
// once their timeout has passed (River's default would wait an hour). The SLA and
// session-expiry sweeps are unique while running: until they are rescued no SLA breach is
// reported and no session expires, anywhere.
func TestJobOfAKilledProcessRunsAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Now())
	inserter, err := jobs.NewClient(pool, jobs.Config{Clock: clk})
	require.NoError(t, err)
	stuck := map[int64]string{}
	for _, args := range []river.JobArgs{sla.Args{}, expiry.Args{}} {
		res, err := inserter.Insert(ctx, args, nil)
		require.NoError(t, err)
		stuck[res.Job.ID] = res.Job.Kind
	}
	// Started past their timeout by a process that is gone.
	_, err = pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = $1,
		attempted_by = '{killed}' WHERE id = ANY($2)`, time.Now().Add(-jobs.JobTimeout-time.Second), keys(stuck))
	require.NoError(t, err)

	client, err := jobs.NewClient(pool, jobs.Config{Work: true, Clock: clk, TestOnly: true})
	require.NoError(t, err)
	done, cancel := client.Subscribe(river.EventKindJobCompleted)
	defer cancel()
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	deadline := time.After(30 * time.Second)
	for len(stuck) > 0 {
		select {
		case ev := <-done:
			delete(stuck, ev.Job.ID)
		case <-deadline:
			t.Fatalf("left running: %v", stuck)
		}
	}
}

func keys[K comparable, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
