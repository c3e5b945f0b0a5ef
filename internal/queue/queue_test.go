package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/queue"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// start is the test clock's start: 10:30 UTC, after every seeded waiting time.
var start = time.Date(2026, 12, 2, 10, 30, 0, 0, time.UTC)

// at is today at hh:mm UTC.
func at(hh, mm int) time.Time { return time.Date(2026, 12, 2, hh, mm, 0, 0, time.UTC) }

type env struct {
	t       testing.TB
	pool    *pgxpool.Pool
	clock   *clock.Manual
	svc     *queue.Service
	account uuid.UUID
}

func setup(t testing.TB) *env {
	t.Helper()
	pool := testdb.New(t)
	clk := clock.NewManual(start)
	e := &env{t: t, pool: pool, clock: clk, svc: queue.NewService(pool, clk)}
	e.account = e.newAccount("Acme")
	return e
}

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	_, err := e.pool.Exec(context.Background(), sql, args...)
	require.NoError(e.t, err)
}

func (e *env) newAccount(name string) uuid.UUID {
	e.t.Helper()
	a, err := account.Create(context.Background(), e.pool, name)
	require.NoError(e.t, err)
	return a.ID
}

func (e *env) agent(acct uuid.UUID) uuid.UUID {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7())
	e.exec(`INSERT INTO users (account_id, id, email, password_hash, role) VALUES ($1, $2, $3, 'x', 'agent')`, acct, id, id.String()+"@example.com")
	return id
}

func (e *env) channel(acct uuid.UUID, typ string, priority int) uuid.UUID {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7())
	e.exec(`INSERT INTO channels (account_id, id, type, name, provider, priority, created_at, updated_at)
	        VALUES ($1, $2, $3, $3, 'fake', $4, now(), now())`, acct, id, typ, priority)
	return id
}

// contact is a contact with a contact priority (high, medium, low) and an optional score.
func (e *env) contact(acct uuid.UUID, name, priority string, score *int) uuid.UUID {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7())
	e.exec(`INSERT INTO contacts (account_id, id, name, priority, priority_score) VALUES ($1, $2, $3, $4, $5)`, acct, id, name, priority, score)
	return id
}

func (e *env) segment(acct uuid.UUID, name string, priority int, members ...uuid.UUID) uuid.UUID {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7())
	e.exec(`INSERT INTO segments (account_id, id, name, priority, created_at, updated_at) VALUES ($1, $2, $3, $4, now(), now())`, acct, id, name, priority)
	for _, m := range members {
		e.exec(`INSERT INTO segment_members (account_id, segment_id, contact_id, added_at) VALUES ($1, $2, $3, now())`, acct, id, m)
	}
	return id
}

func (e *env) department(acct uuid.UUID, name string, members ...uuid.UUID) uuid.UUID {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7())
	e.exec(`INSERT INTO departments (account_id, id, name, created_at, updated_at) VALUES ($1, $2, $3, now(), now())`, acct, id, name)
	for _, m := range members {
		e.exec(`INSERT INTO department_members (account_id, department_id, user_id, added_at) VALUES ($1, $2, $3, now())`, acct, id, m)
	}
	return id
}

// waiting opens a conversation of the contact on the channel, unanswered since `since`, with
// an open attendance and no agent.
func (e *env) waiting(acct, contactID, channelID uuid.UUID, since time.Time) uuid.UUID {
	e.t.Helper()
	id, att := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	e.exec(`INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, attendance_id, unanswered_since, created_at, updated_at)
	        VALUES ($1, $2, $3, $4, 'addr', 'open', $5, $6, $6, $6)`, acct, id, contactID, channelID, att, since)
	e.exec(`INSERT INTO attendances (account_id, id, conversation_id, protocol, opened_by, opened_at) VALUES ($1, $2, $3, $4, 'inbound', $5)`,
		acct, att, id, att.String(), since)
	return id
}

// conv is the stored assignment state of a conversation.
type conv struct {
	status        string
	agent, dept   *uuid.UUID
	priority      int16
	appointmentAt *time.Time
}

func (e *env) conv(id uuid.UUID) conv {
	e.t.Helper()
	var c conv
	require.NoError(e.t, e.pool.QueryRow(context.Background(),
		`SELECT status, agent_id, department_id, queue_priority, appointment_at FROM conversations WHERE id = $1`, id).
		Scan(&c.status, &c.agent, &c.dept, &c.priority, &c.appointmentAt))
	return c
}

// order is the queue's conversations as List gives them.
func (e *env) order() []uuid.UUID {
	e.t.Helper()
	list, err := e.svc.List(context.Background(), e.account, 0, 100)
	require.NoError(e.t, err)
	out := make([]uuid.UUID, len(list))
	for i, x := range list {
		out[i] = x.ConversationID
	}
	return out
}

// events are the account's events in the outbox of the given type, oldest first, as decoded data.
func (e *env) events(typ string) []map[string]any {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT data FROM event_outbox WHERE account_id = $1 AND type = $2 ORDER BY id`, e.account, typ)
	require.NoError(e.t, err)
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		var b []byte
		require.NoError(e.t, rows.Scan(&b))
		var m map[string]any
		require.NoError(e.t, json.Unmarshal(b, &m))
		out = append(out, m)
	}
	require.NoError(e.t, rows.Err())
	return out
}

func ptr[T any](v T) *T { return &v }

// The seeds' worked examples of the effective priority: the contact's own, else the highest
// segment's, else the channel's.
func TestEffectivePriority(t *testing.T) {
	t.Parallel()
	e := setup(t)
	whatsapp, email := e.channel(e.account, "whatsapp", 80), e.channel(e.account, "email", 50)
	for _, tc := range []struct {
		name     string
		channel  uuid.UUID
		priority string
		score    *int
		segments []int
		want     int16
	}{
		{name: "João: channel 80, segment VIP 100, no own priority", channel: whatsapp, priority: "medium", segments: []int{100}, want: 100},
		{name: "Maria: channel 50, segment Standard 50, own 90", channel: email, priority: "medium", score: ptr(90), segments: []int{50}, want: 90},
		{name: "highest of several segments", channel: email, priority: "medium", segments: []int{30, 70}, want: 70},
		{name: "channel alone", channel: whatsapp, priority: "medium", want: 80},
		{name: "own high", channel: email, priority: "high", segments: []int{50}, want: queue.PriorityHigh},
		{name: "own low over a VIP segment", channel: whatsapp, priority: "low", segments: []int{100}, want: queue.PriorityLow},
		{name: "own score beats high", channel: email, priority: "high", score: ptr(40), want: 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.contact(e.account, tc.name, tc.priority, tc.score)
			for i, p := range tc.segments {
				e.segment(e.account, fmt.Sprintf("%s %d", tc.name, i), p, c)
			}
			id := e.waiting(e.account, c, tc.channel, at(10, 0))
			require.Equal(t, tc.want, e.conv(id).priority)
		})
	}
}

// The queue order: due appointments, WebChat, effective priority, waiting since; appointments
// not yet due are hidden.
func TestQueueOrder(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	whatsapp, email, webchat := e.channel(e.account, "whatsapp", 80), e.channel(e.account, "email", 50), e.channel(e.account, "webchat", 100)
	medium := func(name string) uuid.UUID { return e.contact(e.account, name, "medium", nil) }

	// A WhatsApp 80 waiting since 10:00 comes before B e-mail 50 since 9:50.
	a := e.waiting(e.account, medium("A"), whatsapp, at(10, 0))
	b := e.waiting(e.account, medium("B"), email, at(9, 50))
	require.Equal(t, []uuid.UUID{a, b}, e.order())

	// Same priority: the older first.
	a2 := e.waiting(e.account, medium("A2"), whatsapp, at(9, 55))
	require.Equal(t, []uuid.UUID{a2, a, b}, e.order())

	// WebChat before a higher priority (a VIP of 100 on WhatsApp), even with a low own priority.
	vip := e.contact(e.account, "VIP", "medium", nil)
	e.segment(e.account, "VIP", 100, vip)
	v := e.waiting(e.account, vip, whatsapp, at(10, 20))
	w := e.waiting(e.account, e.contact(e.account, "Web", "low", nil), webchat, at(10, 25))
	require.Equal(t, []uuid.UUID{w, v, a2, a, b}, e.order())

	// An appointment at 11:00 is hidden until 10:55, then first.
	appt := e.waiting(e.account, medium("Callback"), email, at(8, 0))
	require.NoError(t, e.svc.SetAppointment(ctx, e.account, appt, ptr(at(11, 0))))
	require.Equal(t, []uuid.UUID{w, v, a2, a, b}, e.order(), "hidden before its window")
	e.clock.Set(at(10, 54))
	require.NotContains(t, e.order(), appt)
	e.clock.Set(at(10, 55))
	require.Equal(t, []uuid.UUID{appt, w, v, a2, a, b}, e.order(), "first from 5 minutes before")

	sum, err := e.svc.Summarize(ctx, e.account)
	require.NoError(t, err)
	require.Equal(t, 6, sum.Waiting)
	require.True(t, sum.Urgent)
	counts := map[string]int{}
	for _, c := range sum.ByChannel {
		counts[c.ChannelType] = c.Waiting
	}
	require.Equal(t, map[string]int{"whatsapp": 3, "email": 2, "webchat": 1}, counts)

	// Next serves them in that order, and the appointment is served.
	agent := e.agent(e.account)
	var got []uuid.UUID
	for {
		x, err := e.svc.Next(ctx, e.account, agent)
		if errors.Is(err, queue.ErrEmpty) {
			break
		}
		require.NoError(t, err)
		got = append(got, x.ID)
	}
	require.Equal(t, []uuid.UUID{appt, w, v, a2, a, b}, got)
	require.Nil(t, e.conv(appt).appointmentAt)
	assigned := e.events(queue.EventConversationAssigned)
	require.Len(t, assigned, 6)
	require.Equal(t, map[string]any{"conversation_id": appt.String(), "agent_id": agent.String(), "department_id": nil,
		"from_department_id": nil, "by": "next"}, assigned[0])

	sum, err = e.svc.Summarize(ctx, e.account)
	require.NoError(t, err)
	require.Equal(t, queue.Summary{ByChannel: []queue.ChannelCount{}}, sum)
}

// The urgent flag: a WebChat, a priority of 90 or more, or a due appointment.
func TestUrgent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		channel string
		score   *int
		appt    *time.Time
		want    bool
	}{
		{name: "whatsapp 80", channel: "whatsapp", want: false},
		{name: "webchat", channel: "webchat", want: true},
		{name: "priority 90", channel: "email", score: ptr(90), want: true},
		{name: "priority 89", channel: "email", score: ptr(89), want: false},
		{name: "due appointment", channel: "sms", appt: ptr(start.Add(4 * time.Minute)), want: true},
		{name: "appointment not due", channel: "sms", appt: ptr(start.Add(time.Hour)), want: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			prio := map[string]int{"whatsapp": 80, "webchat": 100, "email": 50, "sms": 30}[tc.channel]
			id := e.waiting(e.account, e.contact(e.account, "X", "medium", tc.score), e.channel(e.account, tc.channel, prio), at(10, 0))
			if tc.appt != nil {
				require.NoError(t, e.svc.SetAppointment(context.Background(), e.account, id, tc.appt))
			}
			sum, err := e.svc.Summarize(context.Background(), e.account)
			require.NoError(t, err)
			require.Equal(t, tc.want, sum.Urgent)
		})
	}
}

// The stored priority follows changes of the contact, its segments and its channel.
func TestPriorityFollowsChanges(t *testing.T) {
	t.Parallel()
	e := setup(t)
	whatsapp := e.channel(e.account, "whatsapp", 80)
	c := e.contact(e.account, "João", "medium", nil)
	id := e.waiting(e.account, c, whatsapp, at(10, 0))
	require.Equal(t, int16(80), e.conv(id).priority)

	e.exec(`UPDATE channels SET priority = 60 WHERE id = $1`, whatsapp)
	require.Equal(t, int16(60), e.conv(id).priority, "channel priority changed")

	seg := e.segment(e.account, "VIP", 100, c)
	require.Equal(t, int16(100), e.conv(id).priority, "joined a segment")
	e.exec(`UPDATE segments SET priority = 95 WHERE id = $1`, seg)
	require.Equal(t, int16(95), e.conv(id).priority, "segment priority changed")

	e.exec(`UPDATE contacts SET priority_score = 20 WHERE id = $1`, c)
	require.Equal(t, int16(20), e.conv(id).priority, "own priority set")
	e.exec(`UPDATE contacts SET priority_score = NULL WHERE id = $1`, c)

	// A rule-based segment on a tag.
	e.exec(`INSERT INTO segments (account_id, id, name, priority, has_rules, tags_any, created_at, updated_at)
	        VALUES ($1, $2, 'Gold', 99, true, '{gold}', now(), now())`, e.account, uuid.Must(uuid.NewV7()))
	require.Equal(t, int16(95), e.conv(id).priority)
	e.exec(`UPDATE contacts SET tags = '{gold}' WHERE id = $1`, c)
	require.Equal(t, int16(99), e.conv(id).priority, "tagged into a rule segment")

	e.exec(`DELETE FROM segment_members WHERE segment_id = $1`, seg)
	e.exec(`UPDATE contacts SET tags = '{}' WHERE id = $1`, c)
	require.Equal(t, int16(60), e.conv(id).priority, "left both segments")
}

// Who may serve: a department's conversations go to its members; one without a department to
// anyone unless the contact's segments name who serves them.
func TestNextServesOnlyWhatTheAgentMay(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	ch := e.channel(e.account, "whatsapp", 80)
	sales, support, stranger := e.agent(e.account), e.agent(e.account), e.agent(e.account)
	salesDept := e.department(e.account, "Vendas", sales)
	supportDept := e.department(e.account, "Suporte", support)

	inSales := e.waiting(e.account, e.contact(e.account, "S", "medium", nil), ch, at(9, 0))
	e.exec(`UPDATE conversations SET department_id = $1 WHERE id = $2`, salesDept, inSales)
	vipContact := e.contact(e.account, "V", "medium", nil)
	vip := e.segment(e.account, "VIP", 100, vipContact)
	e.exec(`INSERT INTO segment_departments (account_id, segment_id, department_id) VALUES ($1, $2, $3)`, e.account, vip, supportDept)
	servedBySupport := e.waiting(e.account, vipContact, ch, at(9, 30))
	anyone := e.waiting(e.account, e.contact(e.account, "A", "medium", nil), ch, at(9, 45))

	next := func(agent uuid.UUID) uuid.UUID {
		t.Helper()
		x, err := e.svc.Next(ctx, e.account, agent)
		if errors.Is(err, queue.ErrEmpty) {
			return uuid.Nil
		}
		require.NoError(t, err)
		return x.ID
	}
	require.Equal(t, anyone, next(stranger), "neither the department's nor the VIP segment's")
	require.Equal(t, uuid.Nil, next(stranger))
	require.Equal(t, inSales, next(sales), "its department's; the VIP segment is served by support")
	require.Equal(t, uuid.Nil, next(sales))
	require.Equal(t, servedBySupport, next(support))
	c := e.conv(inSales)
	require.Equal(t, sales, *c.agent)
	require.Nil(t, c.dept, "assigning an agent removes the department")
	require.Equal(t, uuid.Nil, next(support))
}

// The Nexts of concurrent callers served together, in one transaction: each in turn, in queue
// order, by the same rules as alone, none given what an earlier one took.
func TestNextTogether(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	ch := e.channel(e.account, "whatsapp", 80)
	sales, support, stranger := e.agent(e.account), e.agent(e.account), e.agent(e.account)
	salesDept := e.department(e.account, "Vendas", sales)
	e.department(e.account, "Suporte", support)
	inSales := e.waiting(e.account, e.contact(e.account, "S", "medium", nil), ch, at(9, 0))
	e.exec(`UPDATE conversations SET department_id = $1 WHERE id = $2`, salesDept, inSales)
	first := e.waiting(e.account, e.contact(e.account, "A", "medium", nil), ch, at(9, 30))
	second := e.waiting(e.account, e.contact(e.account, "B", "medium", nil), ch, at(9, 45))

	got, err := queue.NextTogether(ctx, e.svc, e.account, []uuid.UUID{stranger, stranger, support, sales, sales})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{first, second, uuid.Nil, inSales, uuid.Nil}, got)
	require.Equal(t, stranger, *e.conv(first).agent)
	require.Equal(t, stranger, *e.conv(second).agent)
	require.Equal(t, sales, *e.conv(inSales).agent)
	require.Nil(t, e.conv(inSales).dept, "assigning an agent removes the department")
	require.Len(t, e.events(queue.EventConversationAssigned), 3)
	require.Empty(t, e.order())
}

// Many agents pressing Next at once over many waiting conversations: each conversation is
// given exactly once.
func TestNextConcurrentAgentsNeverShare(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	const agents, conversations = 8, 300
	chans := []uuid.UUID{e.channel(e.account, "whatsapp", 80), e.channel(e.account, "email", 50), e.channel(e.account, "webchat", 100)}
	e.exec(`INSERT INTO contacts (account_id, id, name) SELECT $1, gen_random_uuid(), 'c' || g FROM generate_series(1, $2) g`, e.account, conversations)
	e.exec(`INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, unanswered_since, created_at, updated_at)
	        SELECT $1, gen_random_uuid(), c.id, ($2::uuid[])[1 + (row_number() OVER () % 3)], 'a', 'open',
	               $3::timestamptz - (row_number() OVER ()) * interval '1 second', now(), now()
	        FROM contacts c WHERE c.account_id = $1`, e.account, chans, start)
	ids := make([]uuid.UUID, agents)
	for i := range ids {
		ids[i] = e.agent(e.account)
	}
	var mu sync.Mutex
	given := map[uuid.UUID]uuid.UUID{}
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	for _, agent := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				x, err := e.svc.Next(ctx, e.account, agent)
				if errors.Is(err, queue.ErrEmpty) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := given[x.ID]; dup {
					mu.Unlock()
					errs <- fmt.Errorf("conversation %s given to %s and %s", x.ID, prev, agent)
					return
				}
				given[x.ID] = agent
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Len(t, given, conversations)
	var stored int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM conversations WHERE account_id = $1 AND agent_id IS NOT NULL`, e.account).Scan(&stored))
	require.Equal(t, conversations, stored)
	for id, agent := range given {
		require.Equal(t, agent, *e.conv(id).agent)
	}
	require.Len(t, e.events(queue.EventConversationAssigned), conversations)
}

// Assignment: to an agent removes the department; to a department by hand keeps no agent; an
// automatic routing gives the contact's default agent his department's conversation; a flow
// closes the attendance.
func TestAssign(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	ch := e.channel(e.account, "whatsapp", 80)
	ana, bia := e.agent(e.account), e.agent(e.account)
	sales := e.department(e.account, "Vendas", ana)
	support := e.department(e.account, "Suporte", bia)
	c := e.contact(e.account, "João", "medium", nil)
	e.exec(`UPDATE contacts SET default_agent_id = $1 WHERE id = $2`, ana, c)
	id := e.waiting(e.account, c, ch, at(10, 0))

	for _, tc := range []struct {
		name      string
		target    queue.Target
		wantAgent *uuid.UUID
		wantDept  *uuid.UUID
		isDefault bool
	}{
		{name: "to a department by hand: no default agent", target: queue.Target{DepartmentID: &sales}, wantDept: &sales},
		{name: "to an agent: department removed", target: queue.Target{AgentID: &bia}, wantAgent: &bia},
		{name: "automatic to the default agent's department", target: queue.Target{DepartmentID: &sales, Routing: queue.RoutingAutomatic},
			wantAgent: &ana, isDefault: true},
		{name: "automatic to a department he is not in", target: queue.Target{DepartmentID: &support, Routing: queue.RoutingAutomatic},
			wantDept: &support},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := e.svc.Assign(ctx, e.account, id, tc.target, &bia)
			require.NoError(t, err)
			require.Equal(t, tc.wantAgent, a.AgentID)
			require.Equal(t, tc.wantDept, a.DepartmentID)
			require.Equal(t, tc.isDefault, a.DefaultAgent)
			got := e.conv(id)
			require.Equal(t, tc.wantAgent, got.agent)
			require.Equal(t, tc.wantDept, got.dept)
			var attAgent, attDept *uuid.UUID
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT a.agent_id, a.department_id FROM attendances a JOIN conversations v ON v.attendance_id = a.id WHERE v.id = $1`, id).Scan(&attAgent, &attDept))
			require.Equal(t, tc.wantAgent, attAgent, "the attendance follows")
			require.Equal(t, tc.wantDept, attDept)
		})
	}
	require.Len(t, e.events(queue.EventConversationAssigned), 4)

	// Forwarded to a department, it waits in that department's queue.
	_, err := e.svc.Assign(ctx, e.account, id, queue.Target{DepartmentID: &support}, nil)
	require.NoError(t, err)
	_, err = e.svc.Next(ctx, e.account, ana)
	require.ErrorIs(t, err, queue.ErrEmpty)
	x, err := e.svc.Next(ctx, e.account, bia)
	require.NoError(t, err)
	require.Equal(t, id, x.ID)

	// To a flow: the attendance closes, flow.triggered is emitted.
	a, err := e.svc.Assign(ctx, e.account, id, queue.Target{Flow: "pesquisa-satisfacao"}, &bia)
	require.NoError(t, err)
	require.Equal(t, "closed", a.Status)
	got := e.conv(id)
	require.Equal(t, "closed", got.status)
	require.Nil(t, got.agent)
	require.Nil(t, got.dept)
	flows := e.events(queue.EventFlowTriggered)
	require.Len(t, flows, 1)
	require.Equal(t, "pesquisa-satisfacao", flows[0]["flow"])
	require.Equal(t, id.String(), flows[0]["conversation_id"])
	require.NotEmpty(t, flows[0]["protocol"])
	require.Len(t, e.events(queue.EventConversationClosed), 1)

	// A closed conversation is not assigned.
	_, err = e.svc.Assign(ctx, e.account, id, queue.Target{AgentID: &ana}, nil)
	require.True(t, fault.Is(err, fault.KindConflict), "%v", err)
}

func TestAssignRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	other := e.newAccount("Other")
	theirs := e.waiting(other, e.contact(other, "X", "medium", nil), e.channel(other, "sms", 30), at(10, 0))
	theirAgent, theirDept := e.agent(other), e.department(other, "D")
	mine := e.waiting(e.account, e.contact(e.account, "Y", "medium", nil), e.channel(e.account, "sms", 30), at(10, 0))
	agent := e.agent(e.account)
	dept := e.department(e.account, "Mine")
	for _, tc := range []struct {
		name string
		conv uuid.UUID
		t    queue.Target
		kind fault.Kind
	}{
		{name: "another account's conversation", conv: theirs, t: queue.Target{AgentID: &agent}, kind: fault.KindNotFound},
		{name: "unknown conversation", conv: uuid.Must(uuid.NewV7()), t: queue.Target{AgentID: &agent}, kind: fault.KindNotFound},
		{name: "another account's agent", conv: mine, t: queue.Target{AgentID: &theirAgent}, kind: fault.KindInvalid},
		{name: "another account's department", conv: mine, t: queue.Target{DepartmentID: &theirDept}, kind: fault.KindInvalid},
		{name: "nothing", conv: mine, t: queue.Target{}, kind: fault.KindInvalid},
		{name: "two targets", conv: mine, t: queue.Target{AgentID: &agent, DepartmentID: &dept}, kind: fault.KindInvalid},
		{name: "routing without department", conv: mine, t: queue.Target{AgentID: &agent, Routing: queue.RoutingAutomatic}, kind: fault.KindInvalid},
		{name: "unknown routing", conv: mine, t: queue.Target{DepartmentID: &dept, Routing: "sideways"}, kind: fault.KindInvalid},
		{name: "flow name with spaces around", conv: mine, t: queue.Target{Flow: " x "}, kind: fault.KindInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Assign(ctx, e.account, tc.conv, tc.t, nil)
			require.True(t, fault.Is(err, tc.kind), "%v", err)
		})
	}
	require.Nil(t, e.conv(theirs).agent, "untouched")
	require.Nil(t, e.conv(mine).agent)
}

// The reply rule: a reply to a conversation with a department and no agent makes the replier
// its agent, the department staying; a reply to an unassigned one assigns the replier; a
// second agent replying does not take over.
func TestTakeOnReply(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	ch := e.channel(e.account, "whatsapp", 80)
	ana, bia := e.agent(e.account), e.agent(e.account)
	dept := e.department(e.account, "Vendas", ana)
	withDept := e.waiting(e.account, e.contact(e.account, "A", "medium", nil), ch, at(10, 0))
	e.exec(`UPDATE conversations SET department_id = $1 WHERE id = $2`, dept, withDept)
	unassigned := e.waiting(e.account, e.contact(e.account, "B", "medium", nil), ch, at(10, 0))

	require.NoError(t, queue.TakeOnReply(ctx, e.pool, e.account, withDept, ana, e.clock.Now()))
	c := e.conv(withDept)
	require.Equal(t, ana, *c.agent)
	require.Equal(t, dept, *c.dept, "the department stays")

	require.NoError(t, queue.TakeOnReply(ctx, e.pool, e.account, unassigned, bia, e.clock.Now()))
	require.Equal(t, bia, *e.conv(unassigned).agent)

	require.NoError(t, queue.TakeOnReply(ctx, e.pool, e.account, unassigned, ana, e.clock.Now()))
	require.Equal(t, bia, *e.conv(unassigned).agent, "a second agent does not take over")
	require.Len(t, e.events(queue.EventConversationAssigned), 2)

	// Another account's conversation: nothing happens.
	other := e.newAccount("Other")
	theirs := e.waiting(other, e.contact(other, "X", "medium", nil), e.channel(other, "sms", 30), at(10, 0))
	require.NoError(t, queue.TakeOnReply(ctx, e.pool, e.account, theirs, ana, e.clock.Now()))
	require.Nil(t, e.conv(theirs).agent)
}
