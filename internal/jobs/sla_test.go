package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/attendtest"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/distribution"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/sla"
)

// TestSLASweepAndDistributorOnRealWorkers runs a real River client (the leader of a cluster
// of one): at start its periodic jobs report the breach of an attendance left unanswered past
// its SLA, and give a waiting conversation of an automatic segment to the available agent.
func TestSLASweepAndDistributorOnRealWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Now().Truncate(time.Millisecond))
	db := attendtest.DB{T: t, Pool: pool}
	acct := db.Account("A")
	line := db.Channel(acct)
	agent := db.Agent(acct)
	late, waiting := db.Contact(acct, "Late"), db.Contact(acct, "Waiting")
	db.Segment(acct, attendtest.Segment{Name: "Ouro", Priority: 90, SLAMinutes: 30, Members: []uuid.UUID{late}})
	db.Segment(acct, attendtest.Segment{Name: "Auto", Priority: 90, Automatic: true, Users: []uuid.UUID{agent}, Members: []uuid.UUID{waiting}})
	_, breached := db.Waiting(acct, late, line, clk.Now().Add(-time.Hour))
	given, _ := db.Waiting(acct, waiting, line, clk.Now())
	_, err := distribution.NewService(pool, clk).SetAvailability(ctx, acct, agent, distribution.Available)
	require.NoError(t, err)

	done := startWorkers(t, pool, jobs.Config{Clock: clk}, river.EventKindJobCompleted, river.EventKindJobFailed)
	want := map[string]bool{"sla_breach_sweep": false, "distribute_all": false}
	deadline := time.After(15 * time.Second)
	for !want["sla_breach_sweep"] || !want["distribute_all"] {
		select {
		case ev := <-done:
			if _, ok := want[ev.Job.Kind]; ok {
				require.Equal(t, river.EventKindJobCompleted, ev.Kind, "%s: %+v", ev.Job.Kind, ev.Job.Errors)
				want[ev.Job.Kind] = true
			}
		case <-deadline:
			t.Fatalf("jobs not run: %v", want)
		}
	}
	var at *time.Time
	require.NoError(t, pool.QueryRow(ctx, `SELECT sla_breached_at FROM attendances WHERE id = $1`, breached).Scan(&at))
	require.NotNil(t, at)
	var events int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM event_outbox WHERE type = $1`, sla.EventBreached).Scan(&events))
	require.Equal(t, 1, events)
	var got *uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, `SELECT agent_id FROM conversations WHERE id = $1`, given).Scan(&got))
	require.Equal(t, agent, *got)
}
