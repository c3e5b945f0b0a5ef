package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/campaign"
)

// campaignFixture is an account with four WhatsApp lines (three good prospect lines of the
// segment, one receptive), an approved template in their library whose body:3 has no
// binding, and the segment "Carteira" (contacts tagged carteira).
type campaignFixture struct {
	a         tenant
	lines     []string // prospect, green, in the segment
	receptive string
	tpl       api.TemplateBody
	segment   string
}

func (e *testEnv) campaignFixture(name string) campaignFixture {
	e.t.Helper()
	f := campaignFixture{a: e.newTenant(name)}
	var seg struct{ ID string }
	e.do(http.MethodPost, "/v1/segments", f.a.token, map[string]any{"name": "Carteira", "rules": map[string]any{"tags_any": []string{"carteira"}}}).ok(&seg)
	f.segment = seg.ID
	all := []string{}
	for i := range 4 {
		id := e.whatsappLine(f.a, fmt.Sprintf("+55 11 4000-02%02d", i))
		all = append(all, id)
		kind := "prospect"
		if i == 3 {
			kind = "receptive"
			f.receptive = id
		} else {
			f.lines = append(f.lines, id)
		}
		e.exec(`UPDATE channels SET line_kind = $1, quality_rating = 'green', messaging_limit = '2000', throughput_mps = $2 WHERE id = $3`, kind, 80+i, id)
		e.exec(`INSERT INTO channel_segments (account_id, channel_id, segment_id) VALUES ($1, $2, $3)`, f.a.account.ID, id, seg.ID)
	}
	e.do(http.MethodPost, "/v1/templates", f.a.token, orderTemplateNoCustom("oferta", all...)).ok(&f.tpl)
	e.do(http.MethodPost, "/v1/templates/"+f.tpl.ID+"/submit", f.a.token, nil).ok(reset(&f.tpl))
	require.Equal(e.t, "approved", f.tpl.Status)
	return f
}

// body is a valid campaign on the fixture, automatic lines, the unbound variable bound.
func (f campaignFixture) body() map[string]any {
	return map[string]any{"name": "Black Friday", "segment_id": f.segment, "template_id": f.tpl.ID,
		"bindings": map[string]any{"body:3": map[string]string{"text": "29/11/2026"}}}
}

// campaignContact creates a contact with tags, phones and a customer code and, when consent, marketing consent on WhatsApp.
func (e *testEnv) campaignContact(a tenant, name string, tags []string, phones []string, consent bool) string {
	e.t.Helper()
	var c struct{ ID string }
	body := map[string]any{"name": name, "tags": tags, "phones": phones, "customer_code": "C-" + strings.ReplaceAll(name, " ", "")}
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, body).ok(&c)
	if consent {
		e.do(http.MethodPost, "/v1/contacts/"+c.ID+"/consents", a.apiKey, map[string]any{"action": "grant", "purposes": []string{"marketing"},
			"channels": []string{"whatsapp"}, "method": "checkbox", "text": "Aceito ofertas"}).ok(nil)
	}
	return c.ID
}

func (e *testEnv) runCampaignStart(a tenant, id string) error {
	e.t.Helper()
	w := &campaign.Worker{Service: e.campaigns}
	return w.Work(context.Background(), &river.Job[campaign.Args]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 25},
		Args: campaign.Args{AccountID: a.account.ID, CampaignID: uuid.MustParse(id)}})
}

func (e *testEnv) countEvents(a tenant, typ string) int {
	// Events wait in the outbox until the publisher numbers them.
	return e.count(`SELECT count(*) FROM event_outbox WHERE account_id = $1 AND type = $2`, a.account.ID, typ)
}

func TestCampaignFreezeExclusions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Camp")
	in := []string{"carteira", "promo"}
	ok1 := e.campaignContact(f.a, "Ana Lima", in, []string{"+55 11 98888-1001"}, true)
	ok2 := e.campaignContact(f.a, "Bia Reis", in, []string{"+55 11 98888-1002", "+55 11 98888-1012"}, true)
	e.campaignContact(f.a, "Caio Filtro", []string{"carteira"}, []string{"+55 11 98888-1003"}, true)
	blocked := e.campaignContact(f.a, "Duda Bloq", in, []string{"+55 11 98888-1004"}, true)
	e.exec(`UPDATE contacts SET blocked = true WHERE id = $1`, blocked)
	off := e.campaignContact(f.a, "Edu Off", in, []string{"+55 11 98888-1005"}, true)
	e.exec(`UPDATE contacts SET broadcast = false WHERE id = $1`, off)
	e.campaignContact(f.a, "Fabi Sem", in, []string{"+55 11 98888-1006"}, false)
	e.campaignContact(f.a, "Gil Semfone", in, nil, true)
	served := e.campaignContact(f.a, "Hugo Atend", in, []string{"+55 11 98888-1008"}, true)
	e.inbound(f.a, f.lines[0], "5511988881008", "Oi, quero ajuda")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM attendances a JOIN conversations c ON c.id = a.conversation_id WHERE c.contact_id = $1 AND a.closed_at IS NULL`, served))
	e.campaignContact(f.a, "Ivo Fora", []string{"promo"}, []string{"+55 11 98888-1009"}, true) // not in the segment
	other := e.campaignFixture("Outra")
	e.campaignContact(other.a, "Ana Outra", in, []string{"+55 11 98888-1001"}, true)

	b := f.body()
	b["filters"] = map[string]any{"tags_all": []string{"promo"}}
	b["attendance"], b["attendance_hours"] = "exclude", 24
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&c)
	require.Equal(t, "draft", c.Status)
	require.Equal(t, "automatic", c.LineMode)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventCreated))

	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.Equal(t, "running", c.Status)
	require.NotNil(t, c.Recipients)
	require.EqualValues(t, 2, *c.Recipients)
	require.Equal(t, map[string]int64{"filters": 1, "blocked": 1, "broadcast_off": 1, "no_consent": 1, "no_phone": 1, "in_attendance": 1}, c.Exclusions)
	require.Equal(t, []string{f.lines[2], f.lines[1], f.lines[0]}, c.SenderIDs, "the good prospect lines, highest throughput first; never the receptive one")
	require.Empty(t, c.Warnings)
	require.Nil(t, c.LimitAlert)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventStarted))

	rows, err := e.pool.Query(context.Background(), `SELECT contact_id::text, phone, state FROM campaign_recipients WHERE campaign_id = $1 ORDER BY phone`, c.ID)
	require.NoError(t, err)
	var got []string
	for rows.Next() {
		var id, phone, state string
		require.NoError(t, rows.Scan(&id, &phone, &state))
		got = append(got, id+" "+phone+" "+state)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{ok1 + " +5511988881001 pending", ok2 + " +5511988881002 pending"}, got, "each recipient once, with its first phone")

	// Including contacts in attendance adds the one served; another account sees nothing.
	b["attendance"] = "include"
	delete(b, "attendance_hours")
	var c2 api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(&c2)
	e.do(http.MethodPost, "/v1/campaigns/"+c2.ID+"/start", f.a.token, nil).ok(reset(&c2))
	require.EqualValues(t, 3, *c2.Recipients)
	require.Zero(t, c2.Exclusions["in_attendance"])
	e.do(http.MethodGet, "/v1/campaigns/"+c2.ID, other.a.token, nil).problem(http.StatusNotFound)
	e.do(http.MethodPost, "/v1/campaigns/"+c2.ID+"/pause", other.a.token, nil).problem(http.StatusNotFound)
	var list struct{ Items []api.CampaignBody }
	e.do(http.MethodGet, "/v1/campaigns", other.a.token, nil).ok(&list)
	require.Empty(t, list.Items)
	e.do(http.MethodGet, "/v1/campaigns?status=running", f.a.token, nil).ok(&list)
	require.Len(t, list.Items, 2)
}

func TestCampaignLines(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Linhas")
	e.campaignContact(f.a, "Ana Lima", []string{"carteira"}, []string{"+55 11 98888-2001"}, true)
	e.campaignContact(f.a, "Bia Reis", []string{"carteira"}, []string{"+55 11 98888-2002"}, true)
	create := func(b map[string]any) api.CampaignBody {
		var c api.CampaignBody
		e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&c)
		return c
	}

	// Two good prospect lines: refused with the reason, nothing frozen.
	e.exec(`UPDATE channels SET quality_rating = 'yellow' WHERE id = $1`, f.lines[0])
	c := create(f.body())
	p := e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).problem(http.StatusConflict)
	require.Contains(t, p.Detail, "at least 3")
	require.Contains(t, p.Detail, "has 2")
	require.Zero(t, e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, c.ID))
	var got api.CampaignBody
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(&got)
	require.Equal(t, "draft", got.Status)

	// A third good line: picked.
	e.exec(`UPDATE channels SET quality_rating = 'green' WHERE id = $1`, f.lines[0])
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(&got)
	require.Equal(t, "running", got.Status)
	require.Len(t, got.SenderIDs, 3)
	require.NotContains(t, got.SenderIDs, f.receptive)

	// A receptive line chosen explicitly starts, with a warning.
	b := f.body()
	b["sender_ids"] = []string{f.receptive}
	c = create(b)
	require.Equal(t, "explicit", c.LineMode)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(&got)
	require.Equal(t, "running", got.Status)
	require.Len(t, got.Warnings, 1)
	require.Contains(t, got.Warnings[0], "receptive")

	// A messaging limit the recipients pass: an alert on the campaign and an event.
	e.exec(`UPDATE channels SET messaging_limit = '250' WHERE id = $1`, f.lines[1])
	e.exec(`UPDATE channels SET messaging_limit = NULL WHERE id = $1`, f.lines[2])
	for i := range 250 {
		e.exec(`INSERT INTO contacts (account_id, id, name, tags) VALUES ($1, $2, $3, '{carteira}')`, f.a.account.ID, uuid.Must(uuid.NewV7()), fmt.Sprintf("Bulk %d", i))
	}
	e.exec(`INSERT INTO contact_phones (account_id, phone, contact_id, position)
	        SELECT account_id, '+55119' || lpad(row_number() OVER (ORDER BY id)::text, 8, '0'), id, 1 FROM contacts WHERE account_id = $1 AND name LIKE 'Bulk %'`, f.a.account.ID)
	e.exec(`INSERT INTO consent_state (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
	        SELECT account_id, id, 'marketing', 'whatsapp', 'granted', true, gen_random_uuid(), now() FROM contacts WHERE account_id = $1 AND name LIKE 'Bulk %'`, f.a.account.ID)
	c = create(f.body())
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(&got)
	require.EqualValues(t, 252, *got.Recipients)
	require.NotNil(t, got.LimitAlert)
	require.Equal(t, campaign.LimitAlert{Limit: 250, Recipients: 252}, *got.LimitAlert)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventLimitAlert))
}

func TestCampaignLifecycle(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Ciclo")
	ana := e.campaignContact(f.a, "Ana Lima", []string{"carteira"}, []string{"+55 11 98888-3001"}, true)
	path := func(id, action string) string { return "/v1/campaigns/" + id + "/" + action }
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).ok(&c)

	// Nothing but start and delete from a draft.
	for _, action := range []string{"pause", "resume", "cancel"} {
		e.do(http.MethodPost, path(c.ID, action), f.a.token, nil).problem(http.StatusConflict)
	}
	e.do(http.MethodPost, path(c.ID, "start"), f.a.token, nil).ok(reset(&c))
	require.Equal(t, "running", c.Status)
	e.do(http.MethodPost, path(c.ID, "start"), f.a.token, nil).problem(http.StatusConflict)
	e.do(http.MethodPost, path(c.ID, "resume"), f.a.token, nil).problem(http.StatusConflict)
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, f.body()).problem(http.StatusConflict)
	e.do(http.MethodDelete, "/v1/campaigns/"+c.ID, f.a.token, nil).problem(http.StatusConflict)
	e.do(http.MethodPost, path(c.ID, "pause"), f.a.token, nil).ok(reset(&c))
	require.Equal(t, "paused", c.Status)
	e.do(http.MethodPost, path(c.ID, "pause"), f.a.token, nil).problem(http.StatusConflict)
	e.do(http.MethodPost, path(c.ID, "resume"), f.a.token, nil).ok(reset(&c))
	require.Equal(t, "running", c.Status)
	e.do(http.MethodPost, path(c.ID, "cancel"), f.a.token, nil).ok(reset(&c))
	require.Equal(t, "cancelled", c.Status)
	require.NotNil(t, c.FinishedAt)
	for _, action := range []string{"start", "pause", "resume", "cancel"} {
		e.do(http.MethodPost, path(c.ID, action), f.a.token, nil).problem(http.StatusConflict)
	}
	for _, typ := range []string{campaign.EventStarted, campaign.EventPaused, campaign.EventResumed, campaign.EventCancelled} {
		require.Equal(t, 1, e.countEvents(f.a, typ), typ)
	}

	// A draft is edited and deleted.
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).ok(reset(&c))
	b := f.body()
	b["name"], b["pace_percent"], b["pace_interval_minutes"] = "Natal", 20, 30
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b).ok(reset(&c))
	require.Equal(t, "Natal", c.Name)
	require.EqualValues(t, 20, c.PacePercent)
	require.EqualValues(t, 30, *c.PaceIntervalMinutes)
	e.do(http.MethodDelete, "/v1/campaigns/"+c.ID, f.a.token, nil).status(http.StatusNoContent)
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).problem(http.StatusNotFound)

	// Scheduled: the start waits for its time, moves when rescheduled, and freezes then.
	at := e.clock.Now().Add(2 * time.Hour).Truncate(time.Second)
	b = f.body()
	b["start_at"] = at
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(reset(&c))
	e.do(http.MethodPost, path(c.ID, "start"), f.a.token, nil).ok(reset(&c))
	require.Equal(t, "scheduled", c.Status)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventScheduled))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM river_job WHERE kind = 'campaign_start' AND args->>'campaign_id' = $1 AND state = 'scheduled'`, c.ID))
	b["start_at"] = at.Add(time.Hour)
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b).ok(reset(&c))
	require.True(t, at.Add(time.Hour).Equal(*c.StartAt))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM river_job WHERE kind = 'campaign_start' AND args->>'campaign_id' = $1 AND state = 'scheduled'`, c.ID), "the old job is cancelled")
	e.clock.Advance(2 * time.Hour)
	f.a.token = e.login(f.a)
	require.ErrorContains(t, e.runCampaignStart(f.a, c.ID), "JobSnooze", "an hour early: it waits")
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(reset(&c))
	require.Equal(t, "scheduled", c.Status)
	require.Zero(t, e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, c.ID))
	e.clock.Advance(time.Hour)
	f.a.token = e.login(f.a)
	require.NoError(t, e.runCampaignStart(f.a, c.ID))
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(reset(&c))
	require.Equal(t, "running", c.Status)
	require.EqualValues(t, 1, *c.Recipients)
	require.WithinDuration(t, e.clock.Now(), *c.StartedAt, time.Millisecond)
	require.NoError(t, e.runCampaignStart(f.a, c.ID), "a second run does nothing")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND contact_id = $2`, c.ID, ana))
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b).problem(http.StatusConflict)

	// A scheduled campaign whose lines no longer pass at its time fails, saying why.
	b["start_at"] = e.clock.Now().Add(time.Hour)
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(reset(&c))
	e.do(http.MethodPost, path(c.ID, "start"), f.a.token, nil).ok(reset(&c))
	e.exec(`UPDATE channels SET quality_rating = 'red' WHERE id = $1`, f.lines[1])
	e.clock.Advance(time.Hour)
	f.a.token = e.login(f.a)
	require.NoError(t, e.runCampaignStart(f.a, c.ID))
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(reset(&c))
	require.Equal(t, "failed", c.Status)
	require.Contains(t, c.Reason, "at least 3")

	// A scheduled campaign is cancelled with its job.
	b["start_at"] = e.clock.Now().Add(time.Hour)
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(reset(&c))
	e.exec(`UPDATE channels SET quality_rating = 'green' WHERE id = $1`, f.lines[1])
	e.do(http.MethodPost, path(c.ID, "start"), f.a.token, nil).ok(reset(&c))
	e.do(http.MethodPost, path(c.ID, "cancel"), f.a.token, nil).ok(reset(&c))
	require.Equal(t, "cancelled", c.Status)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM river_job WHERE kind = 'campaign_start' AND args->>'campaign_id' = $1 AND state = 'cancelled'`, c.ID))
}

func TestCampaignBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Valida")
	other := e.campaignFixture("Alheia")
	count := func() int { return e.count(`SELECT count(*) FROM campaigns WHERE account_id = $1`, f.a.account.ID) }
	var draft api.CampaignBody
	e.do(http.MethodPost, "/v1/templates", f.a.token, orderTemplateNoCustom("rascunho", f.lines...)).ok(&draft)
	for name, tc := range map[string]struct {
		edit  func(b map[string]any)
		field string
	}{
		"unbound variable": {func(b map[string]any) { delete(b, "bindings") }, "body.bindings.body:3"},
		"unknown source": {func(b map[string]any) {
			b["bindings"] = map[string]any{"body:3": map[string]string{"source": "{nada}"}}
		}, "body.bindings.body:3.source"},
		"no such variable":      {func(b map[string]any) { b["bindings"].(map[string]any)["body:9"] = map[string]string{"text": "x"} }, "body.bindings.body:9"},
		"template not approved": {func(b map[string]any) { b["template_id"] = draft.ID }, "body.template_id"},
		"line without template": {func(b map[string]any) { b["sender_ids"] = []string{e.whatsappLine(f.a, "+55 11 4000-0299")} }, "body.sender_ids[0]"},
		"foreign segment":       {func(b map[string]any) { b["segment_id"] = other.segment }, "body.segment_id"},
		"foreign template":      {func(b map[string]any) { b["template_id"] = other.tpl.ID }, "body.template_id"},
		"foreign line":          {func(b map[string]any) { b["sender_ids"] = []string{other.lines[0]} }, "body.sender_ids[0]"},
		"pace without interval": {func(b map[string]any) { b["pace_percent"] = 20 }, "body.pace_interval_minutes"},
		"pace out of range":     {func(b map[string]any) { b["pace_percent"] = 101 }, "body.pace_percent"},
		"interval out of range": {func(b map[string]any) { b["pace_percent"], b["pace_interval_minutes"] = 20, 0 }, "body.pace_interval_minutes"},
		"exclude without hours": {func(b map[string]any) { b["attendance"] = "exclude" }, "body.attendance_hours"},
		"hours without exclude": {func(b map[string]any) { b["attendance_hours"] = 5 }, "body.attendance_hours"},
		"start in the past":     {func(b map[string]any) { b["start_at"] = e.clock.Now().Add(-time.Minute) }, "body.start_at"},
		"filter on unknown field": {func(b map[string]any) {
			b["filters"] = map[string]any{"custom": []map[string]any{{"key": "nada", "op": "eq", "value": 1}}}
		}, "body.filters.custom[0].key"},
		"not a uuid":     {func(b map[string]any) { b["segment_id"] = "x" }, "body.segment_id"},
		"wrong type":     {func(b map[string]any) { b["pace_percent"] = "muito" }, "body.pace_percent"},
		"empty name":     {func(b map[string]any) { b["name"] = "" }, "body.name"},
		"oversized name": {func(b map[string]any) { b["name"] = strings.Repeat("a", 201) }, "body.name"},
		"sms":            {func(b map[string]any) { b["channel_type"] = "sms" }, "body.channel_type"},
	} {
		t.Run(name, func(t *testing.T) {
			e := e.as(t)
			b := f.body()
			tc.edit(b)
			p := e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).problem(http.StatusUnprocessableEntity)
			require.Contains(t, p.locations(), tc.field, "%+v", p.Errors)
			require.Zero(t, count())
		})
	}
	e.do(http.MethodGet, "/v1/campaigns/0190a0b0-0000-7000-8000-000000000000", f.a.token, nil).problem(http.StatusNotFound)
	e.do(http.MethodGet, "/v1/campaigns/nope", f.a.token, nil).problem(http.StatusUnprocessableEntity)
	e.do(http.MethodPost, "/v1/campaigns/0190a0b0-0000-7000-8000-000000000000/start", f.a.token, nil).problem(http.StatusNotFound)
}

func TestCampaignTestSend(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Teste")
	ana := e.campaignContact(f.a, "Ana Lima", []string{"carteira"}, []string{"+55 11 98888-4001"}, false)
	var c api.CampaignBody
	b := f.body()
	b["sender_ids"] = []string{f.lines[0]}
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(&c)
	var q api.QueuedMessageBody
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/test-send", f.a.token, map[string]any{"contact_id": ana}).status(http.StatusAccepted).ok(&q)
	require.Equal(t, f.lines[0], q.ChannelID)
	var text string
	require.NoError(t, e.pool.QueryRow(context.Background(), `SELECT text FROM messages WHERE id = $1`, q.ID).Scan(&text))
	require.Contains(t, text, "Olá Ana Lima")
	require.Contains(t, text, "29/11/2026", "the campaign's binding fills the variable")

	e.exec(`UPDATE contacts SET blocked = true WHERE id = $1`, ana)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/test-send", f.a.token, map[string]any{"contact_id": ana}).problem(http.StatusConflict)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/test-send", f.a.token, map[string]any{"contact_id": "0190a0b0-0000-7000-8000-000000000000"}).problem(http.StatusNotFound)
	other := e.campaignFixture("Outro")
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/test-send", other.a.token, map[string]any{"contact_id": ana}).problem(http.StatusNotFound)
	// Automatic lines are not picked before the start: the line is asked for.
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).ok(reset(&c))
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/test-send", f.a.token, map[string]any{"contact_id": ana}).problem(http.StatusUnprocessableEntity)
}

// bulkAudience gives the fixture's account n contacts in the segment, each with a phone at
// position 1 (from prefix) and marketing consent on WhatsApp in the projection the freeze
// reads, without consent records (so the account can still be deleted).
func (e *testEnv) bulkAudience(f campaignFixture, n int, name, prefix string) {
	e.t.Helper()
	e.exec(`INSERT INTO contacts (account_id, id, name, tags, customer_code) SELECT $1, gen_random_uuid(), $2 || g, '{carteira}', $2 || '-' || g FROM generate_series(1, $3) g`,
		f.a.account.ID, name+" ", n)
	e.exec(`INSERT INTO contact_phones (account_id, phone, contact_id, position)
	        SELECT account_id, $3 || lpad(row_number() OVER (ORDER BY id)::text, 6, '0'), id, 1 FROM contacts WHERE account_id = $1 AND name LIKE $2 || ' %'`,
		f.a.account.ID, name, prefix)
	e.exec(`INSERT INTO consent_state (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
	        SELECT account_id, id, 'marketing', 'whatsapp', 'granted', true, gen_random_uuid(), now() FROM contacts WHERE account_id = $1 AND name LIKE $2 || ' %'`,
		f.a.account.ID, name)
}

// The freeze streams the audience through a second connection into a COPY: the recipients
// come out in contact order with their first phone (the earliest position when none is at
// position 1), and a COPY that fails (here a recipient already stored) leaves the campaign a
// draft with nothing written, without hanging the reader.
func TestCampaignFreezeStream(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Fluxo")
	e.bulkAudience(f, 3000, "Bulk", "+55118")
	late := e.campaignContact(f.a, "Tardio", []string{"carteira"}, nil, true)
	e.exec(`INSERT INTO contact_phones (account_id, phone, contact_id, position) VALUES ($1, '+5511977770003', $2, 3), ($1, '+5511977770002', $2, 2)`,
		f.a.account.ID, late)

	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).ok(&c)
	ana := e.campaignContact(f.a, "Ana Dupla", []string{"carteira"}, []string{"+55 11 98888-6001"}, true)
	e.exec(`INSERT INTO campaign_recipients (account_id, campaign_id, contact_id, phone, requested_at) VALUES ($1, $2, $3, 'x', now())`,
		f.a.account.ID, c.ID, ana)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).problem(http.StatusInternalServerError)
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(reset(&c))
	require.Equal(t, "draft", c.Status)
	require.Equal(t, 1, e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, c.ID), "only the row put there by hand")
	require.Zero(t, e.countEvents(f.a, campaign.EventStarted))

	e.exec(`DELETE FROM campaign_recipients WHERE campaign_id = $1`, c.ID)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.Equal(t, "running", c.Status)
	require.EqualValues(t, 3002, *c.Recipients)
	require.Equal(t, 3002, e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND state = 'pending' AND attempts = 0 AND requested_at = $2`,
		c.ID, *c.StartedAt))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND contact_id = $2 AND phone = '+5511977770002'`, c.ID, late))
	require.Equal(t, 3002, e.count(`SELECT count(*) FROM campaign_recipients r JOIN contact_phones p ON p.account_id = r.account_id AND p.phone = r.phone AND p.contact_id = r.contact_id
	        WHERE r.campaign_id = $1`, c.ID), "each with one of its own phones")
}

// Scheduling a campaign counts the audience the freeze would take now, without freezing it:
// past the lines' smallest messaging limit, the campaign carries the alert and
// campaign.limit_alert is emitted before the start; under it, neither.
func TestCampaignScheduleLimitAlert(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Limite")
	e.exec(`UPDATE channels SET messaging_limit = '250' WHERE id = $1`, f.lines[1])
	e.exec(`UPDATE channels SET messaging_limit = 'unlimited' WHERE id = $1`, f.lines[2])
	e.bulkAudience(f, 250, "Bulk", "+55119")
	// Left out as the freeze would: blocked, and not in the segment.
	e.exec(`INSERT INTO contacts (account_id, id, name, tags, blocked) VALUES ($1, gen_random_uuid(), 'Bloqueado', '{carteira}', true)`, f.a.account.ID)
	e.campaignContact(f.a, "Fora Segmento", []string{"promo"}, []string{"+55 11 98888-5001"}, true)

	at := e.clock.Now().Add(time.Hour)
	b := f.body()
	b["start_at"] = at
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(&c)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.Equal(t, "scheduled", c.Status)
	require.Nil(t, c.LimitAlert, "250 recipients do not pass a limit of 250")
	require.Zero(t, e.countEvents(f.a, campaign.EventLimitAlert))

	e.campaignContact(f.a, "Mais Um", []string{"carteira"}, []string{"+55 11 98888-5002"}, true)
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(reset(&c))
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.Equal(t, "scheduled", c.Status)
	require.NotNil(t, c.LimitAlert)
	require.Equal(t, campaign.LimitAlert{Limit: 250, Recipients: 251}, *c.LimitAlert)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventLimitAlert))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM event_outbox WHERE account_id = $1 AND type = $2 AND (data->>'recipients')::int = 251 AND (data->>'limit')::int = 250`,
		f.a.account.ID, campaign.EventLimitAlert))
	require.Nil(t, c.Recipients, "counted, not frozen")
	require.Zero(t, e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, c.ID))
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(reset(&c))
	require.Equal(t, campaign.LimitAlert{Limit: 250, Recipients: 251}, *c.LimitAlert)

	// Lines without a limit: nothing to count, no alert.
	e.exec(`UPDATE channels SET messaging_limit = 'unlimited' WHERE account_id = $1`, f.a.account.ID)
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(reset(&c))
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.Nil(t, c.LimitAlert)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventLimitAlert))

	// At its time the freeze takes the same audience the schedule counted.
	e.exec(`UPDATE channels SET messaging_limit = '250' WHERE id = $1`, f.lines[1])
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).ok(reset(&c))
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.EqualValues(t, 251, c.LimitAlert.Recipients)
	e.clock.Advance(time.Hour)
	f.a.token = e.login(f.a)
	require.NoError(t, e.runCampaignStart(f.a, c.ID))
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(reset(&c))
	require.Equal(t, "running", c.Status)
	require.EqualValues(t, 251, *c.Recipients)
	require.EqualValues(t, 1, c.Exclusions["blocked"])
}

// Reads carry the campaign's version as ETag; an edit based on an older read is refused (412)
// and changes nothing, one based on the current read goes through, one without If-Match too.
func TestCampaignETag(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Etag")
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).ok(&c)
	r := e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(nil)
	require.Equal(t, `"1"`, r.Header.Get("ETag"))

	b := f.body()
	b["name"] = "Natal"
	r = e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b, `If-Match: "1"`).ok(reset(&c))
	require.Equal(t, "Natal", c.Name)
	require.Equal(t, `"2"`, r.Header.Get("ETag"))
	require.EqualValues(t, 2, c.Version)

	b["name"] = "Carnaval"
	for _, stale := range []string{`"1"`, `W/"1"`, `"3", "4"`, `nada`} {
		e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b, "If-Match: "+stale).problem(http.StatusPreconditionFailed)
	}
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID, f.a.token, nil).ok(reset(&c))
	require.Equal(t, "Natal", c.Name, "a refused edit changes nothing")
	require.EqualValues(t, 2, c.Version)

	// A start changes the version: an edit based on the read before it is refused.
	b["start_at"] = e.clock.Now().Add(time.Hour)
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b, `If-Match: "2"`).ok(reset(&c))
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.Equal(t, "scheduled", c.Status)
	b["start_at"] = e.clock.Now().Add(2 * time.Hour)
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b, `If-Match: "3"`).problem(http.StatusPreconditionFailed)
	r = e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b, fmt.Sprintf(`If-Match: "%d"`, c.Version)).ok(reset(&c))
	require.Equal(t, fmt.Sprintf(`"%d"`, c.Version), r.Header.Get("ETag"))
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b, `If-Match: *`).ok(nil)
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, f.a.token, b).ok(nil)

	// Another account's campaign stays a 404, whatever the If-Match.
	other := e.campaignFixture("EtagOutra")
	e.do(http.MethodPut, "/v1/campaigns/"+c.ID, other.a.token, other.body(), `If-Match: "1"`).problem(http.StatusNotFound)
}

// A marketer's frontend that lost the answer to a create retries it with the same
// Idempotency-Key: one campaign, the first answer; the key with another body is refused, a
// failed call leaves the key free, and another account's same key is its own.
func TestCampaignCreateIdempotent(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Idem")
	count := func() int { return e.count(`SELECT count(*) FROM campaigns WHERE account_id = $1`, f.a.account.ID) }

	bad := f.body()
	delete(bad, "bindings") // body:3 left unbound
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, bad, "Idempotency-Key: bf-1").problem(http.StatusUnprocessableEntity)
	require.Equal(t, 0, count(), "a refused create stores nothing")

	var first, second api.CampaignBody
	r := e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body(), "Idempotency-Key: bf-1").status(http.StatusCreated).ok(&first)
	require.Empty(t, r.Header.Get("Idempotent-Replayed"))
	require.Equal(t, "/v1/campaigns/"+first.ID, r.Header.Get("Location"))
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	r = e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body(), "Idempotency-Key: bf-1").status(http.StatusCreated).ok(&second)
	require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
	require.Equal(t, first, second)
	require.Equal(t, 1, count())
	require.Equal(t, 1, e.countEvents(f.a, "campaign.created"))

	other := f.body()
	other["name"] = "Natal"
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, other, "Idempotency-Key: bf-1").problem(http.StatusUnprocessableEntity)
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body(), "Idempotency-Key: "+strings.Repeat("k", 256)).problem(http.StatusUnprocessableEntity)
	require.Equal(t, 1, count())

	// Without a key each call creates.
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).status(http.StatusCreated).ok(nil)
	require.Equal(t, 2, count())

	g := e.campaignFixture("IdemOutra")
	var theirs api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", g.a.token, g.body(), "Idempotency-Key: bf-1").status(http.StatusCreated).ok(&theirs)
	require.NotEqual(t, first.ID, theirs.ID)
}

// A segment a campaign targets cannot be deleted from under it: a clear 409, not a 500, and the
// segment stays; once no campaign names it, it goes.
func TestCampaignKeepsItsSegment(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Mantem")
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).status(http.StatusCreated).ok(&c)
	e.do(http.MethodDelete, "/v1/segments/"+f.segment, f.a.token, nil).problem(http.StatusConflict)
	e.do(http.MethodGet, "/v1/segments/"+f.segment, f.a.token, nil).ok(nil)
	e.do(http.MethodDelete, "/v1/campaigns/"+c.ID, f.a.token, nil).status(http.StatusNoContent)
	e.do(http.MethodDelete, "/v1/segments/"+f.segment, f.a.token, nil).status(http.StatusNoContent)
	e.do(http.MethodGet, "/v1/segments/"+f.segment, f.a.token, nil).problem(http.StatusNotFound)
}

// Campaign recipients have no foreign keys; deleting the account (every table cascades from
// accounts) still removes them, through its campaigns' deletion, and leaves another account's.
func TestCampaignRecipientsGoWithTheAccount(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Apagada")
	keep := e.campaignFixture("Mantida")
	var ids []string
	for _, fx := range []campaignFixture{f, keep} {
		e.bulkAudience(fx, 40, "Bulk", "+55117")
		var c api.CampaignBody
		e.do(http.MethodPost, "/v1/campaigns", fx.a.token, fx.body()).ok(&c)
		e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", fx.a.token, nil).ok(reset(&c))
		require.EqualValues(t, 40, *c.Recipients)
		ids = append(ids, c.ID)
	}
	// A draft deleted takes nothing with it; the trigger runs for it too.
	var draft api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).ok(&draft)
	e.do(http.MethodDelete, "/v1/campaigns/"+draft.ID, f.a.token, nil).status(http.StatusNoContent)
	require.Equal(t, 40, e.count(`SELECT count(*) FROM campaign_recipients WHERE account_id = $1`, f.a.account.ID))

	e.exec(`DELETE FROM accounts WHERE id = $1`, f.a.account.ID)
	require.Zero(t, e.count(`SELECT count(*) FROM campaigns WHERE account_id = $1`, f.a.account.ID))
	require.Zero(t, e.count(`SELECT count(*) FROM campaign_recipients WHERE account_id = $1`, f.a.account.ID))
	require.Zero(t, e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1`, ids[0]))
	require.Equal(t, 40, e.count(`SELECT count(*) FROM campaign_recipients WHERE account_id = $1 AND campaign_id = $2`, keep.a.account.ID, ids[1]))
}
