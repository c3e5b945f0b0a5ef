package sla_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/attendtest"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/sla"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// opened is when the tests' attendances open.
var opened = time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)

type env struct {
	attendtest.DB
	clock   *clock.Manual
	sweeper *sla.Sweeper
	account uuid.UUID
	channel uuid.UUID
}

func setup(t *testing.T) *env {
	t.Helper()
	pool := testdb.New(t)
	clk := clock.NewManual(opened)
	e := &env{DB: attendtest.DB{T: t, Pool: pool}, clock: clk, sweeper: sla.NewSweeper(pool, clk)}
	e.account = e.Account("Acme")
	e.channel = e.Channel(e.account)
	return e
}

// attendance is what is stored on an attendance.
type attendance struct {
	segment                        *uuid.UUID
	due, firstResponse, breachedAt *time.Time
}

func (e *env) attendance(id uuid.UUID) attendance {
	e.T.Helper()
	var a attendance
	require.NoError(e.T, e.Pool.QueryRow(context.Background(),
		`SELECT segment_id, sla_due_at, first_response_at, sla_breached_at FROM attendances WHERE id = $1`, id).
		Scan(&a.segment, &a.due, &a.firstResponse, &a.breachedAt))
	return a
}

// breaches counts the attendance.sla_breached events of an attendance.
func (e *env) breaches(att uuid.UUID) int {
	e.T.Helper()
	var n int
	require.NoError(e.T, e.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM event_outbox WHERE type = $1 AND data->>'attendance_id' = $2`, sla.EventBreached, att.String()).Scan(&n))
	return n
}

func (e *env) sweep() int {
	e.T.Helper()
	n, err := e.sweeper.Sweep(context.Background())
	require.NoError(e.T, err)
	return n
}

// The due time comes from the contact's highest-priority segment with an SLA; the deciding
// segment is the highest-priority one whatever its SLA; ties go to the shorter SLA, then to
// the older segment.
func TestDueTimeFromTheRightSegment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	type seg struct {
		name          string
		priority, sla int
	}
	for _, tc := range []struct {
		name         string
		segments     []seg
		wantDue      time.Duration // 0: no due time
		wantDeciding string
	}{
		{"no segment", nil, 0, ""},
		{"a segment without SLA", []seg{{"Varejo", 50, 0}}, 0, "Varejo"},
		{"one segment", []seg{{"Varejo", 50, 60}}, 60 * time.Minute, "Varejo"},
		{"the higher priority's SLA, even when longer", []seg{{"Varejo", 50, 30}, {"Ouro", 90, 120}}, 120 * time.Minute, "Ouro"},
		{"a higher segment without SLA decides, the next with one gives the SLA",
			[]seg{{"Varejo", 50, 30}, {"Ouro", 90, 120}, {"VIP", 100, 0}}, 120 * time.Minute, "VIP"},
		{"tie on priority: the shorter SLA", []seg{{"Ouro", 90, 120}, {"Platina", 90, 45}}, 45 * time.Minute, "Ouro"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.Contact(e.account, tc.name)
			ids := map[string]uuid.UUID{}
			for _, s := range tc.segments {
				ids[s.name] = e.Segment(e.account, attendtest.Segment{Name: tc.name + "/" + s.name, Priority: s.priority, SLAMinutes: s.sla, Members: []uuid.UUID{c}})
			}
			_, att := e.Waiting(e.account, c, e.channel, opened)
			got := e.attendance(att)
			if tc.wantDue == 0 {
				require.Nil(t, got.due)
			} else {
				require.NotNil(t, got.due)
				require.True(t, opened.Add(tc.wantDue).Equal(*got.due), "due %s", got.due)
			}
			if tc.wantDeciding == "" {
				require.Nil(t, got.segment)
			} else {
				require.Equal(t, ids[tc.wantDeciding], *got.segment)
			}
		})
	}
}

// A segment of another account never gives an SLA, whatever its members.
func TestDueTimeStaysInTheAccount(t *testing.T) {
	t.Parallel()
	e := setup(t)
	other := e.Account("Other")
	c := e.Contact(e.account, "Maria")
	e.Exec(`INSERT INTO segments (account_id, id, name, priority, sla_minutes, created_at, updated_at) VALUES ($1, gen_random_uuid(), 'X', 100, 5, now(), now())`, other)
	_, att := e.Waiting(e.account, c, e.channel, opened)
	require.Nil(t, e.attendance(att).due)
}

// The breach is emitted once when the clock passes the due time without an answer; an answer
// in time, or a close in time, means no breach; a late answer is still a breach; internal
// notes and reactions are not answers.
func TestBreach(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		// before runs at opened + 10 minutes (the SLA is 30).
		before   func(e *env, contact uuid.UUID, conv uuid.UUID)
		breached bool
	}{
		{"nothing happens", nil, true},
		{"answered in time", func(e *env, c, _ uuid.UUID) {
			e.Message(e.account, c, e.channel, "outbound", "text", e.clock.Now())
		}, false},
		{"only an internal note", func(e *env, c, _ uuid.UUID) {
			e.Message(e.account, c, e.channel, "internal", "note", e.clock.Now())
		}, true},
		{"only a reaction", func(e *env, c, _ uuid.UUID) {
			e.Message(e.account, c, e.channel, "outbound", "reaction", e.clock.Now())
		}, true},
		{"an echo from the provider's app answers", func(e *env, c, _ uuid.UUID) {
			e.Message(e.account, c, e.channel, "echo", "text", e.clock.Now())
		}, false},
		{"closed in time without an answer", func(e *env, _, conv uuid.UUID) {
			e.Exec(`UPDATE attendances SET closed_at = $2 WHERE conversation_id = $1`, conv, e.clock.Now())
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			c := e.Contact(e.account, "Maria")
			e.Segment(e.account, attendtest.Segment{Name: "Ouro", Priority: 90, SLAMinutes: 30, Members: []uuid.UUID{c}})
			conv, att := e.Waiting(e.account, c, e.channel, opened)
			e.clock.Advance(10 * time.Minute)
			if tc.before != nil {
				tc.before(e, c, conv)
			}
			e.clock.Set(opened.Add(30 * time.Minute))
			require.Zero(t, e.sweep(), "due, not yet passed")
			e.clock.Advance(time.Second)
			want := 0
			if tc.breached {
				want = 1
			}
			require.Equal(t, want, e.sweep())
			e.clock.Advance(time.Hour)
			require.Zero(t, e.sweep(), "reported once")
			require.Equal(t, want, e.breaches(att))
			got := e.attendance(att)
			require.Equal(t, tc.breached, got.breachedAt != nil)
		})
	}
}

// An answer after the due time, before the sweep saw it, is a breach all the same; the first
// response is the first answer only.
func TestLateAnswerIsABreach(t *testing.T) {
	t.Parallel()
	e := setup(t)
	c := e.Contact(e.account, "Maria")
	e.Segment(e.account, attendtest.Segment{Name: "Ouro", Priority: 90, SLAMinutes: 30, Members: []uuid.UUID{c}})
	_, att := e.Waiting(e.account, c, e.channel, opened)
	late := opened.Add(40 * time.Minute)
	e.Message(e.account, c, e.channel, "outbound", "text", late)
	e.Message(e.account, c, e.channel, "outbound", "text", late.Add(time.Minute))
	e.clock.Set(late.Add(time.Minute))
	require.Equal(t, 1, e.sweep())
	got := e.attendance(att)
	require.True(t, late.Equal(*got.firstResponse))
	require.Equal(t, 1, e.breaches(att))
}

// Sweeps in small batches mark every due attendance once, most overdue first, and the rows
// decided leave the work list (a second sweep reads nothing).
func TestSweepInBatches(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.sweeper.BatchSize = 3
	seg := e.Segment(e.account, attendtest.Segment{Name: "Ouro", Priority: 90, SLAMinutes: 30})
	for i := range 7 {
		c := e.Contact(e.account, "C")
		e.Exec(`INSERT INTO segment_members (account_id, segment_id, contact_id, added_at) VALUES ($1, $2, $3, now())`, e.account, seg, c)
		e.Waiting(e.account, c, e.channel, opened.Add(time.Duration(i)*time.Minute))
	}
	e.clock.Set(opened.Add(time.Hour))
	require.Equal(t, 7, e.sweep())
	require.Zero(t, e.sweep())
	var left int
	require.NoError(t, e.Pool.QueryRow(context.Background(), `SELECT count(*) FROM attendances
		WHERE sla_breached_at IS NULL AND sla_due_at IS NOT NULL AND (first_response_at IS NULL OR first_response_at > sla_due_at)
		  AND (closed_at IS NULL OR closed_at > sla_due_at)`).Scan(&left))
	require.Zero(t, left)
}

func TestMeasure(t *testing.T) {
	t.Parallel()
	at := func(m int) *time.Time { x := opened.Add(time.Duration(m) * time.Minute); return &x }
	dur := func(m int) *time.Duration { d := time.Duration(m) * time.Minute; return &d }
	for _, tc := range []struct {
		name                         string
		first, closed, due, breached *time.Time
		now                          int
		want                         sla.Times
	}{
		{"open, nothing yet, in time", nil, nil, at(30), nil, 10, sla.Times{}},
		{"open, past due, not yet swept", nil, nil, at(30), nil, 31, sla.Times{Breached: true}},
		{"answered in time", at(5), nil, at(30), nil, 60, sla.Times{FirstResponse: dur(5)}},
		{"answered late", at(45), nil, at(30), nil, 60, sla.Times{FirstResponse: dur(45), Breached: true}},
		{"closed in time unanswered", nil, at(20), at(30), nil, 60, sla.Times{Resolution: dur(20)}},
		{"answered and closed", at(5), at(50), at(30), nil, 60, sla.Times{FirstResponse: dur(5), Resolution: dur(50)}},
		{"no SLA", nil, nil, nil, nil, 600, sla.Times{}},
		{"reported", nil, nil, at(30), at(31), 31, sla.Times{Breached: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, sla.Measure(opened, tc.first, tc.closed, tc.due, tc.breached, *at(tc.now)))
		})
	}
}
