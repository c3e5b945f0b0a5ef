package distribution_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/attendtest"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/distribution"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/queue"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var start = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

type env struct {
	attendtest.DB
	clock   *clock.Manual
	svc     *distribution.Service
	account uuid.UUID
	channel uuid.UUID
}

func setup(t testing.TB) *env {
	t.Helper()
	pool := testdb.New(t)
	clk := clock.NewManual(start)
	e := &env{DB: attendtest.DB{T: t, Pool: pool}, clock: clk, svc: distribution.NewService(pool, clk)}
	e.account = e.Account("Acme")
	e.channel = e.Channel(e.account)
	return e
}

// available makes agents available.
func (e *env) available(agents ...uuid.UUID) {
	e.T.Helper()
	for _, a := range agents {
		_, err := e.svc.SetAvailability(context.Background(), e.account, a, distribution.Available)
		require.NoError(e.T, err)
	}
}

// waiting opens n conversations of new contacts in the segment, a minute apart from `since`.
func (e *env) waiting(seg uuid.UUID, n int, since time.Time) []uuid.UUID {
	e.T.Helper()
	out := make([]uuid.UUID, n)
	for i := range out {
		c := e.Contact(e.account, "C")
		e.Exec(`INSERT INTO segment_members (account_id, segment_id, contact_id, added_at) VALUES ($1, $2, $3, now())`, e.account, seg, c)
		out[i], _ = e.Waiting(e.account, c, e.channel, since.Add(time.Duration(i)*time.Minute))
	}
	return out
}

func (e *env) agentOf(conv uuid.UUID) *uuid.UUID {
	e.T.Helper()
	var a *uuid.UUID
	require.NoError(e.T, e.Pool.QueryRow(context.Background(), `SELECT agent_id FROM conversations WHERE id = $1`, conv).Scan(&a))
	return a
}

func (e *env) distribute() []distribution.Given {
	e.T.Helper()
	g, err := e.svc.Distribute(context.Background(), e.account)
	require.NoError(e.T, err)
	return g
}

// Round robin: the agent with the fewest open conversations, ties to the one given work least
// recently; the segment's users and its departments' members serve it; each conversation is
// given once, in queue order, with conversation.assigned by "distribution".
func TestRoundRobin(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ana, bia, caio := e.Agent(e.account), e.Agent(e.account), e.Agent(e.account)
	dept := e.Department(e.account, "Suporte", caio)
	seg := e.Segment(e.account, attendtest.Segment{Name: "Ouro", Priority: 90, Automatic: true, Users: []uuid.UUID{ana, bia}, Departments: []uuid.UUID{dept}})
	e.available(ana, bia, caio)
	// Bia already holds one conversation.
	held := e.waiting(seg, 1, start.Add(-time.Hour))[0]
	require.NoError(t, queue.Give(context.Background(), e.Pool, e.account, held, bia, nil, start, "assign"))
	convs := e.waiting(seg, 5, start)

	given := e.distribute()
	require.Len(t, given, 5)
	got := make([]uuid.UUID, len(given))
	for i, g := range given {
		require.Equal(t, convs[i], g.ConversationID, "queue order")
		require.Equal(t, seg, g.SegmentID)
		require.Equal(t, g.AgentID, *e.agentOf(g.ConversationID))
		got[i] = g.AgentID
	}
	// Ana and Caio (none each; neither given work yet: by id) first; then, all three at one,
	// Bia, whom the distributor never gave work, then Ana and Caio again (given work at the
	// same clock time: by id).
	first, second := ana, caio
	if caio.String() < ana.String() {
		first, second = caio, ana
	}
	require.Equal(t, []uuid.UUID{first, second, bia, first, second}, got)
	var events int
	require.NoError(t, e.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM event_outbox WHERE type = 'conversation.assigned' AND data->>'by' = 'distribution'`).Scan(&events))
	require.Equal(t, 5, events)
	require.Empty(t, e.distribute(), "nothing left")
}

// Only available agents get work, never beyond their capacity (their own, else the account's
// default); manual segments, conversations with a department or an agent, and segments of
// other accounts are left alone.
func TestCapacityAvailabilityAndScope(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t)
	ana, bia, away := e.Agent(e.account), e.Agent(e.account), e.Agent(e.account)
	seg := e.Segment(e.account, attendtest.Segment{Name: "Ouro", Priority: 90, Automatic: true, Users: []uuid.UUID{ana, bia, away}})
	manual := e.Segment(e.account, attendtest.Segment{Name: "Varejo", Priority: 50, Users: []uuid.UUID{ana, bia}})
	e.available(ana, bia)
	_, err := e.svc.SetAvailability(ctx, e.account, away, distribution.Away)
	require.NoError(t, err)
	one := 1
	_, err = e.svc.SetCapacity(ctx, e.account, bia, &one)
	require.NoError(t, err)
	n, err := e.svc.SetDefaultCapacity(ctx, e.account, 2)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	e.waiting(manual, 2, start)
	withDept := e.waiting(seg, 1, start)[0]
	dept := e.Department(e.account, "Vendas", ana)
	e.Exec(`UPDATE conversations SET department_id = $2 WHERE id = $1`, withDept, dept)
	auto := e.waiting(seg, 5, start.Add(time.Minute))

	given := e.distribute()
	require.Len(t, given, 3, "ana 2 (default), bia 1 (own), away none")
	load := map[uuid.UUID]int{}
	for _, g := range given {
		load[g.AgentID]++
	}
	require.Equal(t, map[uuid.UUID]int{ana: 2, bia: 1}, load)
	require.Nil(t, e.agentOf(withDept))
	require.Nil(t, e.agentOf(auto[3]))

	// The agent back from away takes the rest up to the default; a raised capacity, more.
	e.available(away)
	require.Len(t, e.distribute(), 2)
	require.Empty(t, e.distribute())
	got, err := e.svc.GetAgent(ctx, e.account, bia)
	require.NoError(t, err)
	require.Equal(t, distribution.Agent{UserID: bia, Availability: distribution.Available, OwnCapacity: &one, Capacity: 1}, got)

	// Another account with the same setup is untouched by this one's runs.
	other := e.Account("Other")
	ch := e.Channel(other)
	agent := e.Agent(other)
	c := e.Contact(other, "X")
	e.Segment(other, attendtest.Segment{Name: "Ouro", Priority: 90, Automatic: true, Users: []uuid.UUID{agent}, Members: []uuid.UUID{c}})
	otherConv, _ := e.Waiting(other, c, ch, start)
	_, err = e.svc.SetAvailability(ctx, other, agent, distribution.Available)
	require.NoError(t, err)
	e.distribute()
	require.Nil(t, e.agentOf(otherConv))
	_, err = e.svc.GetAgent(ctx, e.account, agent)
	require.True(t, fault.Is(err, fault.KindNotFound), "another account's user is not found: %v", err)
	_, err = e.svc.SetCapacity(ctx, e.account, agent, &one)
	require.True(t, fault.Is(err, fault.KindNotFound))
	require.NoError(t, e.svc.DistributeAll(ctx))
	require.Equal(t, agent, *e.agentOf(otherConv))
}

func TestSettingsRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t)
	ana := e.Agent(e.account)
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"unknown availability", func() error { _, err := e.svc.SetAvailability(ctx, e.account, ana, "busy"); return err }},
		{"negative capacity", func() error { n := -1; _, err := e.svc.SetCapacity(ctx, e.account, ana, &n); return err }},
		{"capacity too big", func() error {
			n := distribution.MaxCapacity + 1
			_, err := e.svc.SetCapacity(ctx, e.account, ana, &n)
			return err
		}},
		{"default zero", func() error { _, err := e.svc.SetDefaultCapacity(ctx, e.account, 0); return err }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.True(t, fault.Is(tc.call(), fault.KindInvalid))
		})
	}
	got, err := e.svc.GetAgent(ctx, e.account, ana)
	require.NoError(t, err)
	require.Equal(t, distribution.Agent{UserID: ana, Availability: distribution.Away, Capacity: distribution.DefaultCapacity}, got)
}

// Many distributor runs in parallel, with agents pressing Next at the same time, never give a
// conversation twice nor an agent beyond its capacity.
func TestConcurrentDistributorsAndNext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t)
	const agents, capacity, conversations = 6, 5, 60
	ids := make([]uuid.UUID, agents)
	for i := range ids {
		ids[i] = e.Agent(e.account)
	}
	seg := e.Segment(e.account, attendtest.Segment{Name: "Ouro", Priority: 90, Automatic: true, Users: ids})
	e.available(ids...)
	_, err := e.svc.SetDefaultCapacity(ctx, e.account, capacity)
	require.NoError(t, err)
	e.waiting(seg, conversations, start)
	q := queue.NewService(e.Pool, e.clock)

	var mu sync.Mutex
	seen := map[uuid.UUID]int{}
	var errs []error
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g, err := e.svc.Distribute(ctx, e.account)
			if err != nil {
				fail(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			for _, x := range g {
				seen[x.ConversationID]++
			}
		}()
	}
	for _, a := range ids[:2] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				got, err := q.Next(ctx, e.account, a)
				if err != nil {
					if !errors.Is(err, queue.ErrEmpty) {
						fail(err)
					}
					return
				}
				mu.Lock()
				seen[got.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	require.Empty(t, errs)
	for id, n := range seen {
		require.Equal(t, 1, n, "conversation %s given %d times", id, n)
	}
	var assigned, events int
	require.NoError(t, e.Pool.QueryRow(ctx, `SELECT count(*) FROM conversations WHERE account_id = $1 AND agent_id IS NOT NULL`, e.account).Scan(&assigned))
	require.NoError(t, e.Pool.QueryRow(ctx, `SELECT count(*) FROM event_outbox WHERE account_id = $1 AND type = 'conversation.assigned'`, e.account).Scan(&events))
	require.Equal(t, len(seen), assigned)
	require.Equal(t, assigned, events, "one event per assignment")
	// 60 waiting is more than 6 agents × 5: the distributor filled every agent to capacity
	// (Next may have taken more by hand), and no further.
	for _, a := range ids {
		var open int
		require.NoError(t, e.Pool.QueryRow(ctx, `SELECT count(*) FROM conversations WHERE account_id = $1 AND agent_id = $2 AND status = 'open'`,
			e.account, a).Scan(&open))
		require.GreaterOrEqual(t, open, capacity, "agent %s", a)
	}
	rows, err := e.Pool.Query(ctx, `SELECT count(*) FROM conversations c JOIN event_outbox o ON o.subject_id = c.id
		WHERE o.data->>'by' = 'distribution' GROUP BY c.agent_id`)
	require.NoError(t, err)
	defer rows.Close()
	for rows.Next() {
		var n int
		require.NoError(t, rows.Scan(&n))
		require.LessOrEqual(t, n, capacity)
	}
	require.NoError(t, rows.Err())
}

// With equal loads the agent given work least recently gets the next conversation, so work
// rotates among agents who all finish theirs.
func TestLeastRecentlyGivenFirst(t *testing.T) {
	t.Parallel()
	e := setup(t)
	x, y := e.Agent(e.account), e.Agent(e.account)
	seg := e.Segment(e.account, attendtest.Segment{Name: "Ouro", Priority: 90, Automatic: true, Users: []uuid.UUID{x, y}})
	e.available(x, y)
	var got []uuid.UUID
	for range 4 {
		conv := e.waiting(seg, 1, e.clock.Now())[0]
		given := e.distribute()
		require.Len(t, given, 1)
		got = append(got, given[0].AgentID)
		// The agent finishes it: loads are equal again.
		e.Exec(`UPDATE conversations SET status = 'closed', agent_id = NULL, attendance_id = NULL WHERE id = $1`, conv)
		e.clock.Advance(time.Minute)
	}
	require.NotEqual(t, got[0], got[1])
	require.Equal(t, []uuid.UUID{got[0], got[1], got[0], got[1]}, got)
}
