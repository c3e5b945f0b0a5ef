package segment_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/segment"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type person struct {
	id     uuid.UUID
	tags   []string
	plan   string
	limit  float64
	since  string
	active bool
}

// TestRulesMatchHandComputedMembership creates contacts with random tags and custom values,
// and checks each rule set's SQL count and member list against membership computed here.
func TestRulesMatchHandComputedMembership(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	fields := customfield.NewService(pool, clk)
	for _, in := range []customfield.Input{
		{Key: "plano", Type: customfield.Choice, Choices: []string{"ouro", "prata", "bronze"}},
		{Key: "limite", Type: customfield.Number},
		{Key: "desde", Type: customfield.Date},
		{Key: "ativo", Type: customfield.Boolean},
	} {
		_, err := fields.Create(ctx, a.ID, in)
		require.NoError(t, err)
	}
	contacts := contact.NewService(pool, clk)
	rng := rand.New(rand.NewPCG(7, 7))
	allTags := []string{"vip", "novo", "sp", "inadimplente"}
	var people []person
	for i := range 120 {
		p := person{plan: []string{"ouro", "prata", "bronze"}[rng.IntN(3)], limit: float64(rng.IntN(5000)),
			since: fmt.Sprintf("20%02d-01-15", 10+rng.IntN(16)), active: rng.IntN(2) == 0}
		for _, tg := range allTags {
			if rng.IntN(3) == 0 {
				p.tags = append(p.tags, tg)
			}
		}
		c, err := contacts.Create(ctx, a.ID, contact.Fields{Name: fmt.Sprint("P", i), CustomerCode: ptr(fmt.Sprint(i)), Tags: p.tags,
			Custom: map[string]any{"plano": p.plan, "limite": p.limit, "desde": p.since, "ativo": p.active}})
		require.NoError(t, err)
		p.id = c.ID
		people = append(people, p)
	}
	segs := segment.NewService(pool, clk)
	hasAny := func(p person, ts ...string) bool {
		return slices.ContainsFunc(ts, func(x string) bool { return slices.Contains(p.tags, x) })
	}
	hasAll := func(p person, ts ...string) bool {
		return !slices.ContainsFunc(ts, func(x string) bool { return !slices.Contains(p.tags, x) })
	}
	tests := []struct {
		name  string
		rules segment.Rules
		want  func(p person) bool
	}{
		{"TagsAny", segment.Rules{TagsAny: []string{"vip", "sp"}}, func(p person) bool { return hasAny(p, "vip", "sp") }},
		{"TagsAll", segment.Rules{TagsAll: []string{"VIP", "novo"}}, func(p person) bool { return hasAll(p, "vip", "novo") }},
		{"ChoiceEq", segment.Rules{Custom: []segment.Condition{{Key: "plano", Op: "eq", Value: "ouro"}}}, func(p person) bool { return p.plan == "ouro" }},
		{"ChoiceNeq", segment.Rules{Custom: []segment.Condition{{Key: "plano", Op: "neq", Value: "ouro"}}}, func(p person) bool { return p.plan != "ouro" }},
		{"NumberRange", segment.Rules{Custom: []segment.Condition{{Key: "limite", Op: "gte", Value: 1000.0}, {Key: "limite", Op: "lt", Value: 3000.0}}},
			func(p person) bool { return p.limit >= 1000 && p.limit < 3000 }},
		{"DateBefore", segment.Rules{Custom: []segment.Condition{{Key: "desde", Op: "lt", Value: "2018-01-01"}}}, func(p person) bool { return p.since < "2018-01-01" }},
		{"Boolean", segment.Rules{Custom: []segment.Condition{{Key: "ativo", Op: "eq", Value: true}}}, func(p person) bool { return p.active }},
		{"Everything", segment.Rules{TagsAny: []string{"vip", "novo"}, TagsAll: []string{"sp"},
			Custom: []segment.Condition{{Key: "plano", Op: "neq", Value: "bronze"}, {Key: "limite", Op: "gt", Value: 500.0}}},
			func(p person) bool {
				return hasAny(p, "vip", "novo") && hasAll(p, "sp") && p.plan != "bronze" && p.limit > 500
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seg, err := segs.Create(ctx, a.ID, segment.Input{Name: tc.name, Rules: tc.rules})
			require.NoError(t, err)
			var want []uuid.UUID
			for _, p := range people {
				if tc.want(p) {
					want = append(want, p.id)
				}
			}
			n, err := segs.Count(ctx, a.ID, seg.ID)
			require.NoError(t, err)
			require.EqualValues(t, len(want), n)
			members, err := segs.Members(ctx, a.ID, seg.ID, nil, 1000)
			require.NoError(t, err)
			got := make([]uuid.UUID, len(members))
			for i, m := range members {
				got[i] = m.ID
			}
			require.ElementsMatch(t, want, got)
			if len(want) > 0 {
				refs, err := segs.ContactSegments(ctx, a.ID, want[0])
				require.NoError(t, err)
				require.True(t, slices.ContainsFunc(refs, func(r segment.Ref) bool { return r.ID == seg.ID }), "answerable both ways")
			}
		})
	}
}

func TestStaticMembersAndAutomaticTags(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.System{}
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	contacts := contact.NewService(pool, clk)
	c1, err := contacts.Create(ctx, a.ID, contact.Fields{Name: "One", CustomerCode: ptr("1")})
	require.NoError(t, err)
	segs := segment.NewService(pool, clk)
	seg, err := segs.Create(ctx, a.ID, segment.Input{Name: "Carteira VIP", Priority: 90, AutoTags: []string{"carteira-vip"},
		Rules: segment.Rules{TagsAny: []string{"vip"}}})
	require.NoError(t, err)

	n, err := segs.AddMembers(ctx, a.ID, seg.ID, []uuid.UUID{c1.ID, uuid.New()})
	require.NoError(t, err)
	require.EqualValues(t, 1, n, "an id of no contact is skipped")
	got, err := contacts.Get(ctx, a.ID, c1.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"carteira-vip"}, got.Tags, "a static member gets the tags at once")

	// A contact that joins by a rule later gets them at the next sync.
	c2, err := contacts.Create(ctx, a.ID, contact.Fields{Name: "Two", CustomerCode: ptr("2"), Tags: []string{"vip"}})
	require.NoError(t, err)

	changed, err := segs.SyncTags(ctx, a.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, changed, "the rule member gets them at the next sync")
	got, err = contacts.Get(ctx, a.ID, c2.ID)
	require.NoError(t, err)
	require.Equal(t, []string{"vip", "carteira-vip"}, got.Tags)
	changed, err = segs.SyncTags(ctx, a.ID)
	require.NoError(t, err)
	require.Zero(t, changed)

	// A static member that the rules take too counts once.
	_, err = segs.AddMembers(ctx, a.ID, seg.ID, []uuid.UUID{c2.ID})
	require.NoError(t, err)
	count, err := segs.Count(ctx, a.ID, seg.ID)
	require.NoError(t, err)
	require.EqualValues(t, 2, count)
	_, err = segs.RemoveMembers(ctx, a.ID, seg.ID, []uuid.UUID{c1.ID})
	require.NoError(t, err)
	count, err = segs.Count(ctx, a.ID, seg.ID)
	require.NoError(t, err)
	require.EqualValues(t, 1, count)
}

func TestInvalidRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	_, err = customfield.NewService(pool, clock.System{}).Create(ctx, a.ID, customfield.Input{Key: "plano", Type: customfield.Choice, Choices: []string{"ouro"}})
	require.NoError(t, err)
	_, err = segment.NewService(pool, clock.System{}).Create(ctx, a.ID, segment.Input{Name: "Bad", Priority: 101, Rules: segment.Rules{
		Custom: []segment.Condition{
			{Key: "nope", Op: "eq", Value: "x"},
			{Key: "plano", Op: "gt", Value: "ouro"},
			{Key: "plano", Op: "eq", Value: "diamante"},
			{Key: "plano", Op: "like", Value: "o%"},
			{Key: `plano" || true || "`, Op: "eq", Value: "x"},
		}}})
	f, ok := fault.As(err)
	require.True(t, ok, "%v", err)
	var fields []string
	for _, fe := range f.Fields {
		fields = append(fields, fe.Field)
	}
	require.ElementsMatch(t, []string{"priority", "rules.custom[0].key", "rules.custom[1].op", "rules.custom[2].value",
		"rules.custom[3].op", "rules.custom[4].key"}, fields)
}

func ptr(s string) *string { return &s }

// TestOriginAndChannelRules selects contacts by how they came in and the channel they first
// wrote on, alone and together with a tag rule.
func TestOriginAndChannelRules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.System{}
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	b, err := account.Create(ctx, pool, "B")
	require.NoError(t, err)
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	chans := channel.NewService(pool, clk, box)
	name := func(s string) *string { return &s }
	sales, err := chans.Create(ctx, a.ID, channel.Input{Type: channel.WebChat, Name: name("Site")})
	require.NoError(t, err)
	support, err := chans.Create(ctx, a.ID, channel.Input{Type: channel.Email, Name: name("Suporte")})
	require.NoError(t, err)
	foreign, err := chans.Create(ctx, b.ID, channel.Input{Type: channel.Email, Name: name("Deles")})
	require.NoError(t, err)

	contacts := contact.NewService(pool, clk)
	mk := func(code string, origin contact.Origin, ch *uuid.UUID, tags ...string) uuid.UUID {
		c, err := contacts.Create(ctx, a.ID, contact.Fields{Name: code, CustomerCode: ptr(code), Origin: origin, OriginChannelID: ch, Tags: tags})
		require.NoError(t, err)
		return c.ID
	}
	manual := mk("m", contact.OriginManual, nil)
	imported := mk("i", contact.OriginImport, nil, "vip")
	webVIP := mk("w1", contact.OriginInbound, &sales.ID, "vip")
	web := mk("w2", contact.OriginInbound, &sales.ID)
	mail := mk("e", contact.OriginInbound, &support.ID, "vip")

	segs := segment.NewService(pool, clk)
	for _, tc := range []struct {
		name  string
		rules segment.Rules
		want  []uuid.UUID
	}{
		{"Origins", segment.Rules{Origins: []string{"manual", "import"}}, []uuid.UUID{manual, imported}},
		{"Channel", segment.Rules{Channels: []uuid.UUID{sales.ID}}, []uuid.UUID{webVIP, web}},
		{"Channels", segment.Rules{Channels: []uuid.UUID{sales.ID, support.ID}}, []uuid.UUID{webVIP, web, mail}},
		{"ChannelAndTag", segment.Rules{Channels: []uuid.UUID{sales.ID}, TagsAny: []string{"vip"}}, []uuid.UUID{webVIP}},
		{"OriginAndTag", segment.Rules{Origins: []string{"inbound"}, TagsAll: []string{"vip"}}, []uuid.UUID{webVIP, mail}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seg, err := segs.Create(ctx, a.ID, segment.Input{Name: tc.name, Rules: tc.rules})
			require.NoError(t, err)
			n, err := segs.Count(ctx, a.ID, seg.ID)
			require.NoError(t, err)
			require.EqualValues(t, len(tc.want), n)
			members, err := segs.Members(ctx, a.ID, seg.ID, nil, 100)
			require.NoError(t, err)
			var got []uuid.UUID
			for _, m := range members {
				got = append(got, m.ID)
			}
			require.ElementsMatch(t, tc.want, got)
			for _, id := range tc.want {
				in, err := segs.ContactSegments(ctx, a.ID, id)
				require.NoError(t, err)
				require.True(t, slices.ContainsFunc(in, func(r segment.Ref) bool { return r.ID == seg.ID }), "answerable from the contact too")
			}
			back, err := segs.Get(ctx, a.ID, seg.ID)
			require.NoError(t, err)
			require.Equal(t, tc.rules.Channels, nonEmpty(back.Rules.Channels))
		})
	}

	_, err = segs.Create(ctx, a.ID, segment.Input{Name: "Bad", Rules: segment.Rules{
		Origins: []string{"whatsapp"}, Channels: []uuid.UUID{foreign.ID, uuid.New()}}})
	f, ok := fault.As(err)
	require.True(t, ok, "%v", err)
	var fields []string
	for _, fe := range f.Fields {
		fields = append(fields, fe.Field)
	}
	require.ElementsMatch(t, []string{"rules.origins[0]", "rules.channels[0]", "rules.channels[1]"}, fields,
		"another account's channel is no channel of this one")
}

func nonEmpty(ids []uuid.UUID) []uuid.UUID {
	if len(ids) == 0 {
		return nil
	}
	return ids
}
