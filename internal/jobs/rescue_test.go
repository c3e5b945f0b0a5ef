package jobs_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/expiry"
	"github.com/conversa-hq/conversa/internal/importer"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/sla"
)

// TestJobOfAKilledProcessRunsAgain leaves jobs as a process killed mid-job leaves them,
// running in River's eyes with no process to finish them, and checks that they run again
// once their timeout has passed (River's default would wait an hour). The SLA and
// session-expiry sweeps are unique while running: until they are rescued no SLA breach is
// reported and no session expires, anywhere. An import started as long ago is still within
// its own timeout: it may be running, and stays.
func TestJobOfAKilledProcessRunsAgain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Now())
	imports := importer.NewService(pool, clk)
	inserter, err := jobs.NewClient(pool, jobs.Config{Clock: clk, Imports: imports})
	require.NoError(t, err)
	running, err := inserter.Insert(ctx, importer.Args{AccountID: uuid.New(), ImportID: uuid.New()}, nil)
	require.NoError(t, err)
	stuck := map[int64]string{}
	for _, args := range []river.JobArgs{sla.Args{}, expiry.Args{}} {
		res, err := inserter.Insert(ctx, args, nil)
		require.NoError(t, err)
		stuck[res.Job.ID] = res.Job.Kind
	}
	// Started past their timeout by a process that is gone.
	_, err = pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = $1,
		attempted_by = '{killed}' WHERE id = ANY($2)`, time.Now().Add(-jobs.JobTimeout-time.Second), append(slices.Collect(maps.Keys(stuck)), running.Job.ID))
	require.NoError(t, err)

	done := startWorkers(t, pool, jobs.Config{Clock: clk, Imports: imports}, river.EventKindJobCompleted)
	// The rescuer runs when the client becomes leader, the retry is due a second later, and
	// River's scheduler makes it available within seconds: a minute is a wide margin.
	deadline := time.After(time.Minute)
	for len(stuck) > 0 {
		select {
		case ev := <-done:
			delete(stuck, ev.Job.ID)
		case <-deadline:
			t.Fatalf("left running: %v", stuck)
		}
	}
	// The rescuer looked at every running job in the pass that rescued the sweeps.
	var state string
	require.NoError(t, pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, running.Job.ID).Scan(&state))
	require.Equal(t, "running", state, "an import within its timeout is not rescued")
}
