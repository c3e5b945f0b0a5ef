package expiry_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/expiry"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// start is the test clock's start; a contact writing at start has a session until start+24h.
var start = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type env struct {
	t       *testing.T
	pool    *pgxpool.Pool
	clock   *clock.Manual
	convs   *conversation.Service
	sweeper *expiry.Sweeper
	seq     int
}

type tenant struct {
	id       uuid.UUID
	whatsapp uuid.UUID
	telegram uuid.UUID
}

func setup(t *testing.T) *env {
	t.Helper()
	pool := testdb.New(t)
	clk := clock.NewManual(start)
	return &env{t: t, pool: pool, clock: clk, convs: conversation.NewService(pool, clk), sweeper: expiry.NewSweeper(pool, clk)}
}

func (e *env) tenant(name string) tenant {
	e.t.Helper()
	ctx := context.Background()
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(e.t, err)
	channels := channel.NewService(e.pool, e.clock, box)
	acct, err := account.Create(ctx, e.pool, name)
	require.NoError(e.t, err)
	fake, wa, number, tg := "fake", "Vendas", "+55 11 4000-1234", "Bot"
	w, err := channels.Create(ctx, acct.ID, channel.Input{Type: channel.WhatsApp, Name: &wa, Provider: &fake, PhoneNumber: &number})
	require.NoError(e.t, err)
	g, err := channels.Create(ctx, acct.ID, channel.Input{Type: channel.Telegram, Name: &tg, Provider: &fake})
	require.NoError(e.t, err)
	return tenant{id: acct.ID, whatsapp: w.ID, telegram: g.ID}
}

// write is a contact's text message at the clock's time, through the inbound pipeline; it
// returns the conversation.
func (e *env) write(tn tenant, ch uuid.UUID, from string) uuid.UUID {
	e.t.Helper()
	e.seq++
	at := e.clock.Now()
	in := conversation.Inbound{AccountID: tn.id, ChannelID: ch, At: at, Message: &provider.InboundMessage{
		ID: fmt.Sprintf("wamid.%d", e.seq), From: from, FromName: "Maria", Timestamp: at, Kind: "text", Text: "Oi",
	}}
	require.NoError(e.t, pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		return e.convs.ApplyInbound(context.Background(), tx, []conversation.Inbound{in})
	}))
	var id uuid.UUID
	require.NoError(e.t, e.pool.QueryRow(context.Background(),
		`SELECT v.id FROM conversations v WHERE v.account_id = $1 AND v.channel_id = $2 AND v.address = $3`, tn.id, ch, from).Scan(&id))
	return id
}

func (e *env) sweep() expiry.Stats {
	e.t.Helper()
	st, err := e.sweeper.Sweep(context.Background())
	require.NoError(e.t, err)
	return st
}

// tags lists the conversation's tag names as the conversation list shows them at the clock's
// time.
func (e *env) tags(acct, conv uuid.UUID) []string {
	e.t.Helper()
	items, err := e.convs.List(context.Background(), conversation.ListQuery{AccountID: acct, Limit: 100})
	require.NoError(e.t, err)
	for _, it := range items {
		if it.ID == conv {
			return append([]string{}, it.Tags...)
		}
	}
	e.t.Fatalf("conversation %s not listed", conv)
	return nil
}

// tagged lists the conversations the list's tag filter keeps for the account's tag of that
// name at the clock's time.
func (e *env) tagged(acct uuid.UUID, name string) []uuid.UUID {
	e.t.Helper()
	var id uuid.UUID
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT id FROM tags WHERE account_id = $1 AND lower(name) = lower($2)`, acct, name).Scan(&id))
	items, err := e.convs.List(context.Background(), conversation.ListQuery{AccountID: acct, TagID: &id, Limit: 100})
	require.NoError(e.t, err)
	out := []uuid.UUID{}
	for _, it := range items {
		out = append(out, it.ID)
	}
	return out
}

// events lists the account's session-tag events, as "type tag", oldest first.
func (e *env) events(acct uuid.UUID) []string {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(),
		`SELECT type || coalesce(' ' || (data->>'tag'), '') || coalesce(' replaced ' || (data->>'replaced'), '')
		 FROM event_outbox WHERE account_id = $1 AND type IN ('conversation.tagged', 'conversation.untagged') ORDER BY id`, acct)
	require.NoError(e.t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(e.t, err)
	return out
}

// TestSweepTimeline walks one WhatsApp conversation through its session with a fake clock:
// no tag before the 30-minute mark, Expirando from it, Expirado (replacing it) at the end,
// each tag shown exactly on time and its event emitted by the sweep once, every sweep run
// twice to show the second emits nothing; the contact writing again takes the tags off (the
// inbound path says so) and the next session is tagged afresh.
func TestSweepTimeline(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.tenant("Acme")
	conv := e.write(a, a.whatsapp, "5511987654321")
	steps := []struct {
		name   string
		at     time.Duration // since start
		write  bool          // the contact writes first
		tagged int           // events the sweep emits
		tags   []string
		events []string // the events this step adds
	}{
		{name: "fresh session", at: 0, tags: []string{}},
		{name: "31 minutes before the end", at: 23*time.Hour + 29*time.Minute, tags: []string{}},
		{name: "30 minutes before the end", at: 23*time.Hour + 30*time.Minute, tagged: 1, tags: []string{"Expirando"},
			events: []string{"conversation.tagged Expirando"}},
		{name: "still expiring", at: 23*time.Hour + 59*time.Minute, tags: []string{"Expirando"}},
		{name: "session ended", at: 24 * time.Hour, tagged: 1, tags: []string{"Expirado"},
			events: []string{"conversation.tagged Expirado replaced Expirando"}},
		{name: "long after", at: 30 * time.Hour, tags: []string{"Expirado"}},
		{name: "the contact writes again", at: 31 * time.Hour, write: true, tags: []string{},
			events: []string{"conversation.untagged"}},
		{name: "next session expiring", at: 31*time.Hour + 23*time.Hour + 30*time.Minute, tagged: 1, tags: []string{"Expirando"},
			events: []string{"conversation.tagged Expirando"}},
		{name: "renewed while expiring", at: 31*time.Hour + 23*time.Hour + 40*time.Minute, write: true, tags: []string{},
			events: []string{"conversation.untagged"}},
		{name: "renewed again, long before the mark", at: 31*time.Hour + 23*time.Hour + 50*time.Minute, write: true, tags: []string{}},
	}
	want := []string{}
	for _, s := range steps {
		e.clock.Set(start.Add(s.at))
		if s.write {
			e.write(a, a.whatsapp, "5511987654321")
		}
		st := e.sweep()
		require.Equal(t, s.tagged, st.Tagged, s.name)
		require.Equal(t, s.tags, e.tags(a.id, conv), s.name)
		want = append(want, s.events...)
		require.Equal(t, want, e.events(a.id), s.name)
		again := e.sweep()
		require.Zero(t, again.Tagged, "%s: a second sweep emits nothing", s.name)
		require.Equal(t, want, e.events(a.id), s.name)
	}
}

// TestSweepCases covers the rest: a sweep that missed the 30-minute window goes straight to
// Expirado, non-WhatsApp conversations get no tags, the tags are the account's own and
// automation-only and the list filters by them, locks on conversations do not stop the sweep,
// concurrent sweeps emit each event once, and a small batch size takes several transactions.
func TestSweepCases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{name: "missed window goes straight to Expirado", run: func(t *testing.T, e *env) {
			a := e.tenant("Acme")
			conv := e.write(a, a.whatsapp, "5511900000001")
			e.clock.Set(start.Add(25 * time.Hour))
			require.Equal(t, 1, e.sweep().Tagged)
			require.Equal(t, []string{"Expirado"}, e.tags(a.id, conv))
			require.Equal(t, []string{"conversation.tagged Expirado replaced Expirando"}, e.events(a.id))
		}},
		{name: "telegram gets no tags", run: func(t *testing.T, e *env) {
			a := e.tenant("Acme")
			conv := e.write(a, a.telegram, "998877")
			e.clock.Set(start.Add(25 * time.Hour))
			st := e.sweep()
			require.Zero(t, st.Tagged)
			require.Equal(t, 2, st.Read, "read by both scans (ended, and within the warning) and passed")
			require.Equal(t, []string{}, e.tags(a.id, conv))
			e.write(a, a.telegram, "998877")
			require.Empty(t, e.events(a.id), "neither tagged nor untagged")
		}},
		{name: "tags are the account's, automation-only, and filter the list", run: func(t *testing.T, e *env) {
			a, b := e.tenant("Acme"), e.tenant("Beta")
			ca, cb := e.write(a, a.whatsapp, "5511900000001"), e.write(b, b.whatsapp, "5511900000001")
			e.clock.Set(start.Add(2 * time.Hour))
			later := e.write(a, a.whatsapp, "5511900000002")
			e.clock.Set(start.Add(23*time.Hour + 45*time.Minute))
			require.Equal(t, 2, e.sweep().Tagged)
			var n int
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM tags WHERE name = 'Expirando' AND automation_only`).Scan(&n))
			require.Equal(t, 2, n, "one Expirando per account")
			require.Equal(t, []uuid.UUID{ca}, e.tagged(a.id, "Expirando"))
			require.Equal(t, []uuid.UUID{cb}, e.tagged(b.id, "Expirando"))
			require.Equal(t, []uuid.UUID{}, e.tagged(a.id, "Expirado"))
			e.clock.Set(start.Add(25*time.Hour + 45*time.Minute))
			require.Equal(t, []uuid.UUID{ca}, e.tagged(a.id, "Expirado"), "the filter follows the clock")
			require.Equal(t, []uuid.UUID{later}, e.tagged(a.id, "Expirando"))
			var bTag uuid.UUID
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT id FROM tags WHERE account_id = $1 AND name = 'Expirado'`, b.id).Scan(&bTag))
			items, err := e.convs.List(ctx, conversation.ListQuery{AccountID: a.id, TagID: &bTag, Limit: 10})
			require.NoError(t, err)
			require.Empty(t, items, "another account's tag keeps nothing")
		}},
		{name: "an account's own Expirando tag is used", run: func(t *testing.T, e *env) {
			a := e.tenant("Acme")
			var own uuid.UUID
			require.NoError(t, e.pool.QueryRow(ctx, `INSERT INTO tags (account_id, id, name, color, created_at, updated_at)
				VALUES ($1, gen_random_uuid(), 'expirando', '#000000', now(), now()) RETURNING id`, a.id).Scan(&own))
			conv := e.write(a, a.whatsapp, "5511900000001")
			e.clock.Set(start.Add(23*time.Hour + 45*time.Minute))
			require.Equal(t, 1, e.sweep().Tagged)
			var tagID string
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT data->>'tag_id' FROM event_outbox WHERE type = 'conversation.tagged'`).Scan(&tagID))
			require.Equal(t, own.String(), tagID)
			require.Equal(t, []uuid.UUID{conv}, e.tagged(a.id, "expirando"))
		}},
		{name: "another account not due is untouched", run: func(t *testing.T, e *env) {
			a, b := e.tenant("Acme"), e.tenant("Beta")
			ca := e.write(a, a.whatsapp, "5511900000001")
			e.clock.Set(start.Add(2 * time.Hour))
			cb := e.write(b, b.whatsapp, "5511900000001")
			e.clock.Set(start.Add(23*time.Hour + 45*time.Minute))
			require.Equal(t, 1, e.sweep().Tagged)
			require.Equal(t, []string{"Expirando"}, e.tags(a.id, ca))
			require.Equal(t, []string{}, e.tags(b.id, cb))
			require.Empty(t, e.events(b.id))
			var n int
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM tags WHERE account_id = $1`, b.id).Scan(&n))
			require.Zero(t, n, "no tags created in an account with nothing due")
		}},
		{name: "a deleted session tag is made again", run: func(t *testing.T, e *env) {
			a := e.tenant("Acme")
			conv := e.write(a, a.whatsapp, "5511900000001")
			e.clock.Set(start.Add(23*time.Hour + 45*time.Minute))
			require.Equal(t, 1, e.sweep().Tagged)
			_, err := e.pool.Exec(ctx, `DELETE FROM tags WHERE account_id = $1 AND name = 'Expirando'`, a.id)
			require.NoError(t, err)
			e.clock.Set(start.Add(24 * time.Hour))
			require.Equal(t, 1, e.sweep().Tagged)
			require.Equal(t, []string{"Expirado"}, e.tags(a.id, conv))
			var n int
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM tags WHERE account_id = $1 AND name IN ('Expirando', 'Expirado')`, a.id).Scan(&n))
			require.Equal(t, 2, n)
		}},
		{name: "a conversation another transaction holds does not stop the sweep", run: func(t *testing.T, e *env) {
			a := e.tenant("Acme")
			held, free := e.write(a, a.whatsapp, "5511900000001"), e.write(a, a.whatsapp, "5511900000002")
			e.clock.Set(start.Add(24 * time.Hour))
			tx, err := e.pool.Begin(ctx)
			require.NoError(t, err)
			defer func() { _ = tx.Rollback(ctx) }()
			_, err = tx.Exec(ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE`, held)
			require.NoError(t, err)
			require.Equal(t, 2, e.sweep().Tagged, "the sweep reads, it does not lock")
			require.Equal(t, []string{"Expirado"}, e.tags(a.id, free))
			require.Equal(t, []string{"Expirado"}, e.tags(a.id, held))
		}},
		{name: "concurrent sweeps emit each event once", run: func(t *testing.T, e *env) {
			a := e.tenant("Acme")
			for i := range 40 {
				e.write(a, a.whatsapp, fmt.Sprintf("55119000000%02d", i))
			}
			e.clock.Set(start.Add(24 * time.Hour))
			e.sweeper.BatchSize = 5
			results := make(chan expiry.Stats, 3)
			for range 3 {
				go func() {
					st, err := e.sweeper.Sweep(ctx)
					assert.NoError(t, err)
					results <- st
				}()
			}
			total := 0
			for range 3 {
				total += (<-results).Tagged
			}
			require.Equal(t, 40, total)
			require.Len(t, e.events(a.id), 40)
			var distinct int
			require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(DISTINCT subject_id) FROM event_outbox WHERE type = 'conversation.tagged'`).Scan(&distinct))
			require.Equal(t, 40, distinct)
		}},
		{name: "batches", run: func(t *testing.T, e *env) {
			a := e.tenant("Acme")
			var convs []uuid.UUID
			for i := range 5 {
				convs = append(convs, e.write(a, a.whatsapp, fmt.Sprintf("551190000000%d", i)))
			}
			e.sweeper.BatchSize = 2
			e.clock.Set(start.Add(24 * time.Hour))
			st := e.sweep()
			require.Equal(t, 5, st.Tagged)
			require.Equal(t, 3, st.Batches)
			require.Positive(t, st.LongestBatch)
			for _, c := range convs {
				require.Equal(t, []string{"Expirado"}, e.tags(a.id, c))
			}
			require.Len(t, e.events(a.id), 5)
			require.True(t, slices.Equal([]string{"conversation.tagged Expirado replaced Expirando"}, slices.Compact(e.events(a.id))))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			e.t = t
			tc.run(t, e)
		})
	}
}

// TestSweepEventData pins the whole data document of both events, key by key, as consoles and
// webhooks receive it: the sweep builds it in SQL, and a cheaper way of building it must not
// change a key or a value's form.
func TestSweepEventData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t)
	a := e.tenant("Acme")
	first := e.write(a, a.whatsapp, "5511900000001")
	e.clock.Set(start.Add(40 * time.Minute))
	later := e.write(a, a.whatsapp, "5511900000002")
	contact := func(conv uuid.UUID) uuid.UUID {
		var id uuid.UUID
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT contact_id FROM conversations WHERE id = $1`, conv).Scan(&id))
		return id
	}
	tag := func(name string) uuid.UUID {
		var id uuid.UUID
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT id FROM tags WHERE account_id = $1 AND name = $2`, a.id, name).Scan(&id))
		return id
	}
	// At 24h+10m the first session has ended and the second ends in 30 minutes.
	e.clock.Set(start.Add(24*time.Hour + 10*time.Minute))
	require.Equal(t, 2, e.sweep().Tagged)
	rows, err := e.pool.Query(ctx, `SELECT subject_id, data::text FROM event_outbox WHERE account_id = $1 AND type = 'conversation.tagged'`, a.id)
	require.NoError(t, err)
	got := map[uuid.UUID]string{}
	for rows.Next() {
		var subject uuid.UUID
		var data string
		require.NoError(t, rows.Scan(&subject, &data))
		got[subject] = data
	}
	require.NoError(t, rows.Err())
	require.Equal(t, map[uuid.UUID]string{
		first: fmt.Sprintf(`{"tag": "Expirado", "tag_id": "%s", "replaced": "Expirando", "channel_id": "%s", "contact_id": "%s", "conversation_id": "%s", "service_expires_at": "2026-12-03T12:00:00+00:00"}`,
			tag("Expirado"), a.whatsapp, contact(first), first),
		later: fmt.Sprintf(`{"tag": "Expirando", "tag_id": "%s", "channel_id": "%s", "contact_id": "%s", "conversation_id": "%s", "service_expires_at": "2026-12-03T12:40:00+00:00"}`,
			tag("Expirando"), a.whatsapp, contact(later), later),
	}, got)
}
