package api_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/fake"
	"github.com/conversa-hq/conversa/internal/send"
)

// countingLines is a provider for every line that records each send it is handed (the fake
// underneath dedupes by reference, which would hide a second send), and can fail or stall.
type countingLines struct {
	mu    sync.Mutex
	sends map[string]int // by recipient address
	refs  map[string]int
	texts []provider.Message
	// fail, when set, answers instead of the fake.
	fail func(provider.Message) error
	// after, when set, runs after each send (a sender that dies mid-slice cancels here).
	after func(n int)
	n     int
	inner *fake.Provider
}

func newCountingLines() *countingLines {
	return &countingLines{sends: map[string]int{}, refs: map[string]int{}, inner: fake.New(fake.Config{})}
}

func (c *countingLines) Send(ctx context.Context, m provider.Message) (provider.Sent, error) {
	c.mu.Lock()
	c.sends[m.To]++
	c.refs[m.Ref]++
	c.texts = append(c.texts, m)
	c.n++
	n := c.n
	fail, after := c.fail, c.after
	c.mu.Unlock()
	if after != nil {
		defer after(n)
	}
	if fail != nil {
		if err := fail(m); err != nil {
			return provider.Sent{}, err
		}
	}
	return c.inner.Send(ctx, m)
}

func (c *countingLines) senders() send.Senders {
	return func(context.Context, uuid.UUID, uuid.UUID) (provider.Sender, error) { return c, nil }
}

func (c *countingLines) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// sendCampaign runs the campaign's senders on every line, slice by slice on the test's clock,
// until no line has anything to do now; it returns how many recipients were claimed.
func (e *testEnv) sendCampaign(s *campaign.Sender, a tenant, id string, lines []string) int {
	e.t.Helper()
	total := 0
	for range 100 {
		progress := false
		for _, l := range lines {
			st, err := s.Slice(context.Background(), a.account.ID, uuid.MustParse(id), uuid.MustParse(l))
			require.NoError(e.t, err)
			total += st.Claimed
			progress = progress || st.Claimed > 0
		}
		if !progress {
			return total
		}
	}
	e.t.Fatal("the campaign never settled")
	return total
}

func (e *testEnv) campaignBody(a tenant, id string) api.CampaignBody {
	e.t.Helper()
	var c api.CampaignBody
	e.do(http.MethodGet, "/v1/campaigns/"+id, a.apiKey, nil).ok(&c)
	return c
}

type recipientRow struct {
	Contact uuid.UUID
	State   string
	Text    *string
	Code    *string
	Line    *uuid.UUID
	PID     *string
}

func (e *testEnv) recipients(id string) map[uuid.UUID]recipientRow {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT contact_id, state, message_text, code, channel_id, provider_message_id
		FROM campaign_recipients WHERE campaign_id = $1`, id)
	require.NoError(e.t, err)
	out := map[uuid.UUID]recipientRow{}
	for rows.Next() {
		var r recipientRow
		require.NoError(e.t, rows.Scan(&r.Contact, &r.State, &r.Text, &r.Code, &r.Line, &r.PID))
		out[r.Contact] = r
	}
	require.NoError(e.t, rows.Err())
	return out
}

// A started campaign sends each recipient once, rendered for that contact, rotating over the
// automatic lines; status reports move recipients forward; a reply within the window links the
// conversation to the campaign; the campaign completes.
func TestCampaignSendsEachRecipientOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Envio")
	tags := []string{"carteira"}
	ids := []string{
		e.campaignContact(f.a, "Ana Lima", tags, []string{"+55 11 98888-2001"}, true),
		e.campaignContact(f.a, "Bia Reis", tags, []string{"+55 11 98888-2002"}, true),
		e.campaignContact(f.a, "Caio Melo", tags, []string{"+55 11 98888-2003"}, true),
	}
	e.campaignContact(f.a, "Duda Sem", tags, []string{"+55 11 98888-2004"}, false) // no consent: never sent
	lines := newCountingLines()
	s := campaign.NewSender(e.pool, e.clock, e.templates, lines.senders())

	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).status(http.StatusCreated).ok(&c)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.Equal(t, "running", c.Status)
	require.Equal(t, 3, e.sendCampaign(s, f.a, c.ID, append(c.SenderIDs, f.receptive)))
	require.Equal(t, 3, lines.total())
	for _, n := range lines.sends {
		require.Equal(t, 1, n)
	}
	require.Zero(t, lines.sends["+5511988882004"], "a contact without consent is never sent")

	got := e.recipients(c.ID)
	require.Len(t, got, 3)
	for _, id := range ids {
		r := got[uuid.MustParse(id)]
		require.Equal(t, "sent", r.State)
		require.NotNil(t, r.Text)
		require.Contains(t, *r.Text, "29/11/2026", "the campaign's binding is in the text sent")
		require.NotNil(t, r.PID)
		require.Contains(t, f.lines, r.Line.String(), "automatic selection sends on prospect lines only")
	}
	require.Contains(t, *got[uuid.MustParse(ids[0])].Text, "C-AnaLima", "each text is rendered with its contact's fields")
	c = e.campaignBody(f.a, c.ID)
	require.Equal(t, "completed", c.Status)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventCompleted))
	require.Positive(t, e.countEvents(f.a, campaign.EventProgress))

	// Provider reports move the recipient forward, never back.
	ana := got[uuid.MustParse(ids[0])]
	at := e.clock.Now()
	require.NoError(t, pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		return campaign.ApplyStatuses(context.Background(), tx, []send.Status{
			{AccountID: f.a.account.ID, ChannelID: *ana.Line, ProviderMessageID: *ana.PID, Status: provider.StatusRead, At: at},
			{AccountID: f.a.account.ID, ChannelID: *ana.Line, ProviderMessageID: *ana.PID, Status: provider.StatusDelivered, At: at.Add(-time.Second)},
		})
	}))
	require.NoError(t, pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		return campaign.ApplyStatuses(context.Background(), tx, []send.Status{
			{AccountID: f.a.account.ID, ChannelID: *ana.Line, ProviderMessageID: *ana.PID, Status: provider.StatusDelivered, At: at},
		})
	}))
	require.Equal(t, "read", e.recipients(c.ID)[ana.Contact].State)
	// A send the provider reports failed after accepting it moves between the tallies.
	caio := got[uuid.MustParse(ids[2])]
	require.NoError(t, pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		return campaign.ApplyStatuses(context.Background(), tx, []send.Status{
			{AccountID: f.a.account.ID, ChannelID: *caio.Line, ProviderMessageID: *caio.PID, Status: provider.StatusFailed, At: at, Code: "131026", Reason: "undeliverable"},
		})
	}))
	require.Equal(t, "failed", e.recipients(c.ID)[caio.Contact].State)
	c = e.campaignBody(f.a, c.ID)
	require.EqualValues(t, 2, c.Sent)
	require.EqualValues(t, 1, c.Failed)

	// Ana replies on the line that reached her: her conversation is the campaign's.
	e.clock.Advance(time.Hour)
	f.a.token = e.login(f.a)
	conv := e.inbound(f.a, ana.Line.String(), "5511988882001", "Quero a oferta")
	require.Equal(t, "replied", e.recipients(c.ID)[ana.Contact].State)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventReplied))
	var list struct{ Items []api.ConversationBody }
	e.do(http.MethodGet, "/v1/conversations?campaign_id="+c.ID, f.a.apiKey, nil).ok(&list)
	require.Len(t, list.Items, 1)
	require.Equal(t, conv.ID, list.Items[0].ID)
	// The agent sees the campaign's message before the reply.
	var msgs struct {
		Items []struct {
			Direction  string `json:"direction"`
			Kind       string `json:"kind"`
			Text       string `json:"text"`
			Status     string `json:"status"`
			CampaignID string `json:"campaign_id"`
		}
	}
	e.do(http.MethodGet, "/v1/conversations/"+conv.ID+"/messages", f.a.token, nil).ok(&msgs)
	require.Len(t, msgs.Items, 2)
	var shown, reply = msgs.Items[0], msgs.Items[1]
	if shown.Direction != "outbound" {
		shown, reply = reply, shown
	}
	require.Equal(t, "template", shown.Kind)
	require.Equal(t, *ana.Text, shown.Text)
	require.Equal(t, "read", shown.Status)
	require.Equal(t, "Quero a oferta", reply.Text)
	// A reply on another line, or after the window, links nothing.
	e.clock.Advance(campaign.AttributionWindow)
	f.a.token = e.login(f.a)
	e.inbound(f.a, got[uuid.MustParse(ids[1])].Line.String(), "5511988882002", "Oi")
	require.Equal(t, "sent", e.recipients(c.ID)[uuid.MustParse(ids[1])].State)
}

// Pausing stops new claims at once; resuming continues where it stopped, each recipient still
// sent once. The pace releases pace_percent of the recipients each interval.
func TestCampaignPaceAndPause(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Ritmo")
	for i, n := range []string{"Ana", "Bia", "Caio", "Duda", "Edu"} {
		e.campaignContact(f.a, n+" Souza", []string{"carteira"}, []string{fmt.Sprintf("+55 11 97777-10%02d", i)}, true)
	}
	lines := newCountingLines()
	s := campaign.NewSender(e.pool, e.clock, e.templates, lines.senders())
	b := f.body()
	b["pace_percent"], b["pace_interval_minutes"] = 40, 30
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&c)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.EqualValues(t, 5, *c.Recipients)

	require.Equal(t, 2, e.sendCampaign(s, f.a, c.ID, c.SenderIDs), "the first stage is 40%% of 5, rounded up")
	st, err := s.Slice(context.Background(), f.a.account.ID, uuid.MustParse(c.ID), uuid.MustParse(c.SenderIDs[0]))
	require.NoError(t, err)
	require.InDelta(t, 30*time.Minute, st.Wait, float64(time.Second), "the next stage is due an interval later")
	// The line's sender job sleeps until then (bounded), holding no worker.
	err = (&campaign.SendWorker{Sender: s}).Work(context.Background(), &river.Job[campaign.SendArgs]{JobRow: &rivertype.JobRow{Attempt: 1, MaxAttempts: 5},
		Args: campaign.SendArgs{AccountID: f.a.account.ID, CampaignID: uuid.MustParse(c.ID), ChannelID: uuid.MustParse(c.SenderIDs[0])}})
	var snooze *rivertype.JobSnoozeError
	require.ErrorAs(t, err, &snooze)
	require.Equal(t, campaign.MaxSnooze, snooze.Duration)

	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/pause", f.a.token, nil).ok(reset(&c))
	e.clock.Advance(2 * time.Hour)
	require.Zero(t, e.sendCampaign(s, f.a, c.ID, c.SenderIDs), "a paused campaign claims nothing")
	f.a.token = e.login(f.a)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/resume", f.a.token, nil).ok(reset(&c))
	require.Equal(t, "running", c.Status)
	require.Equal(t, 2, e.sendCampaign(s, f.a, c.ID, c.SenderIDs), "a resumed campaign releases one stage, not the ones it missed")
	e.clock.Advance(30 * time.Minute)
	require.Equal(t, 1, e.sendCampaign(s, f.a, c.ID, c.SenderIDs))
	require.Equal(t, 5, lines.total())
	for _, n := range lines.sends {
		require.Equal(t, 1, n)
	}
	require.Equal(t, "completed", e.campaignBody(f.a, c.ID).Status)
}

// A sender that dies after its sends and before recording them leaves its recipients sending;
// once the claim's lease has passed they become unknown and are never sent again, and the
// rest of the campaign goes on. Retryable refusals (throughput) go back to pending and are sent
// once on a later pass.
func TestCampaignCrashMidSliceNeverResends(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Queda")
	for i, n := range []string{"Ana", "Bia", "Caio", "Duda"} {
		e.campaignContact(f.a, n+" Lopes", []string{"carteira"}, []string{fmt.Sprintf("+55 11 96666-100%d", i+1)}, true)
	}
	lines := newCountingLines()
	s := campaign.NewSender(e.pool, e.clock, e.templates, lines.senders())
	b := f.body()
	b["sender_ids"] = []string{f.lines[0]}
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&c)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))

	// The first slice dies: the process is killed once its sends are out, before it records
	// them.
	s.CrashAfterSend = true
	_, err := s.Slice(context.Background(), f.a.account.ID, uuid.MustParse(c.ID), uuid.MustParse(f.lines[0]))
	require.NoError(t, err)
	s.CrashAfterSend = false
	require.Equal(t, 4, lines.total())
	for _, r := range e.recipients(c.ID) {
		require.Equal(t, "sending", r.State)
	}
	// Another sender before the lease ends: nothing to claim, nothing resent.
	require.Zero(t, e.sendCampaign(s, f.a, c.ID, c.SenderIDs))
	require.Equal(t, "running", e.campaignBody(f.a, c.ID).Status)
	e.clock.Advance(campaign.ClaimLease + time.Second)
	require.Zero(t, e.sendCampaign(s, f.a, c.ID, c.SenderIDs))
	for _, r := range e.recipients(c.ID) {
		require.Equal(t, "unknown", r.State)
	}
	require.Equal(t, 4, lines.total(), "an unknown outcome is never sent again")
	require.Equal(t, "completed", e.campaignBody(f.a, c.ID).Status)

	// A sender dies mid-slice and the marketer cancels: no sender is left to settle the
	// claim, so the leader's sweep does once its lease passes.
	var cx api.CampaignBody
	b["name"] = "Cancelada"
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&cx)
	e.do(http.MethodPost, "/v1/campaigns/"+cx.ID+"/start", f.a.token, nil).ok(reset(&cx))
	s.CrashAfterSend = true
	_, err = s.Slice(context.Background(), f.a.account.ID, uuid.MustParse(cx.ID), uuid.MustParse(f.lines[0]))
	require.NoError(t, err)
	s.CrashAfterSend = false
	e.do(http.MethodPost, "/v1/campaigns/"+cx.ID+"/cancel", f.a.token, nil).ok(nil)
	require.NoError(t, s.ExpireLapsedClaims(context.Background()))
	for _, r := range e.recipients(cx.ID) {
		require.Equal(t, "sending", r.State, "a claim whose lease runs is a live sender's")
	}
	e.clock.Advance(campaign.ClaimLease + time.Second)
	require.NoError(t, s.ExpireLapsedClaims(context.Background()))
	for _, r := range e.recipients(cx.ID) {
		require.Equal(t, "unknown", r.State)
	}
	require.Equal(t, 8, lines.total())

	// A throughput refusal puts the recipient back; it goes out once, later.
	var c2 api.CampaignBody
	b["name"] = "Segunda"
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&c2)
	e.do(http.MethodPost, "/v1/campaigns/"+c2.ID+"/start", f.a.token, nil).ok(reset(&c2))
	refused := 0
	lines.fail = func(m provider.Message) error {
		if m.To == "+5511966661002" && refused == 0 {
			refused++
			return &provider.Error{Code: send.CodeThroughput, Reason: "over the line's throughput", Retryable: true}
		}
		return nil
	}
	e.sendCampaign(s, f.a, c2.ID, c2.SenderIDs)
	e.clock.Advance(10 * time.Minute) // the line's back-off
	e.sendCampaign(s, f.a, c2.ID, c2.SenderIDs)
	require.Equal(t, 1, refused)
	require.Equal(t, "completed", e.campaignBody(f.a, c2.ID).Status)

	// The pair rate limit (131056): the recipient is tried again no sooner than 6 s later.
	var c3 api.CampaignBody
	b["name"] = "Terceira"
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&c3)
	e.do(http.MethodPost, "/v1/campaigns/"+c3.ID+"/start", f.a.token, nil).ok(reset(&c3))
	refused = 0
	lines.fail = func(m provider.Message) error {
		if m.To == "+5511966661003" && refused == 0 {
			refused++
			return &provider.Error{Code: send.CodePairRateLimit, Reason: "pair rate limit hit", Retryable: true}
		}
		return nil
	}
	before := lines.sends["+5511966661003"]
	e.sendCampaign(s, f.a, c3.ID, c3.SenderIDs)
	e.clock.Advance(5 * time.Second)
	e.sendCampaign(s, f.a, c3.ID, c3.SenderIDs)
	require.Equal(t, before+1, lines.sends["+5511966661003"], "not tried again within 6 s")
	e.clock.Advance(2 * time.Second)
	e.sendCampaign(s, f.a, c3.ID, c3.SenderIDs)
	require.Equal(t, before+2, lines.sends["+5511966661003"])
	require.Equal(t, "completed", e.campaignBody(f.a, c3.ID).Status)
	for _, r := range e.recipients(c2.ID) {
		require.Equal(t, "sent", r.State)
	}
	require.Equal(t, 5, lines.sends["+5511966661002"], "once by the first campaign and the cancelled one, refused once then sent once by the second, once by the third")
}

// The delivery window holds sends until it opens; a sender line whose quality turns red pauses
// the campaign by itself, saying why; resuming after the fix goes on.
func TestCampaignWindowAndAutoPause(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Janela")
	e.campaignContact(f.a, "Ana Prado", []string{"carteira"}, []string{"+55 11 95555-1001"}, true)
	e.campaignContact(f.a, "Bia Prado", []string{"carteira"}, []string{"+55 11 95555-1002"}, true)
	lines := newCountingLines()
	s := campaign.NewSender(e.pool, e.clock, e.templates, lines.senders())
	b := f.body()
	b["sender_ids"] = []string{f.lines[0]}
	// A window that is closed now, whatever the time: it opens an hour from now (UTC).
	open := e.clock.Now().UTC().Add(time.Hour)
	b["window_start"], b["window_end"], b["time_zone"] = open.Format("15:04"), open.Add(2*time.Hour).Format("15:04"), "UTC"
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&c)
	require.Equal(t, open.Format("15:04"), c.WindowStart)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	st, err := s.Slice(context.Background(), f.a.account.ID, uuid.MustParse(c.ID), uuid.MustParse(f.lines[0]))
	require.NoError(t, err)
	require.Zero(t, st.Claimed)
	require.InDelta(t, time.Hour, st.Wait, float64(time.Minute), "waits for the window")
	e.clock.Advance(time.Hour)

	e.exec(`UPDATE channels SET quality_rating = 'red' WHERE id = $1`, f.lines[0])
	require.Zero(t, e.sendCampaign(s, f.a, c.ID, c.SenderIDs))
	c = e.campaignBody(f.a, c.ID)
	require.Equal(t, "paused", c.Status)
	require.Contains(t, c.PauseReason, "quality")
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventAutoPaused))

	e.exec(`UPDATE channels SET quality_rating = 'green' WHERE id = $1`, f.lines[0])
	f.a.token = e.login(f.a)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/resume", f.a.token, nil).ok(reset(&c))
	require.Empty(t, c.PauseReason)
	require.Equal(t, 2, e.sendCampaign(s, f.a, c.ID, c.SenderIDs))
	c = e.campaignBody(f.a, c.ID)
	require.Equal(t, "completed", c.Status)
	require.EqualValues(t, 2, c.Sent)

	// A deactivated line leaves its share to the campaign's other lines; with none active the
	// campaign pauses, saying why, instead of running without sending.
	var c2 api.CampaignBody
	b2 := f.body()
	b2["name"], b2["sender_ids"] = "Sem linhas", []string{f.lines[0], f.lines[1]}
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b2).status(http.StatusCreated).ok(&c2)
	e.do(http.MethodPost, "/v1/campaigns/"+c2.ID+"/start", f.a.token, nil).ok(reset(&c2))
	e.exec(`UPDATE channels SET active = false WHERE id = $1`, f.lines[1])
	st, err = s.Slice(context.Background(), f.a.account.ID, uuid.MustParse(c2.ID), uuid.MustParse(f.lines[1]))
	require.NoError(t, err)
	require.True(t, st.Done)
	require.Equal(t, "running", e.campaignBody(f.a, c2.ID).Status)
	e.exec(`UPDATE channels SET active = false WHERE id = $1`, f.lines[0])
	_, err = s.Slice(context.Background(), f.a.account.ID, uuid.MustParse(c2.ID), uuid.MustParse(f.lines[0]))
	require.NoError(t, err)
	c2 = e.campaignBody(f.a, c2.ID)
	require.Equal(t, "paused", c2.Status)
	require.Contains(t, c2.PauseReason, "no sender line")
	e.exec(`UPDATE channels SET active = true WHERE id = $1`, f.lines[0])
	e.do(http.MethodPost, "/v1/campaigns/"+c2.ID+"/resume", f.a.token, nil).ok(nil)
	require.Equal(t, 2, e.sendCampaign(s, f.a, c2.ID, c2.SenderIDs))
	require.Equal(t, "completed", e.campaignBody(f.a, c2.ID).Status)

	// Bad windows and zones are named.
	b["window_start"], b["window_end"], b["time_zone"], b["max_failure_percent"] = "25:00", "20:00", "Mars/Olympus", 101
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusUnprocessableEntity)
	b["window_start"], b["max_failure_percent"] = "08:00", 50
	resp := e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusUnprocessableEntity)
	require.Contains(t, string(resp.Body), "time_zone")
}

// Failed recipients are retried as a new run: a draft with the campaign's settings whose
// audience is the failures, checked again (a contact blocked since is left out); recipients
// that went out or whose outcome is unknown are not sent again.
func TestCampaignRetryRun(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Repete")
	ana := e.campaignContact(f.a, "Ana Reis", []string{"carteira"}, []string{"+55 11 94444-1001"}, true)
	bia := e.campaignContact(f.a, "Bia Reis", []string{"carteira"}, []string{"+55 11 94444-1002"}, true)
	caio := e.campaignContact(f.a, "Caio Reis", []string{"carteira"}, []string{"+55 11 94444-1003"}, true)
	e.campaignContact(f.a, "Duda Reis", []string{"carteira"}, []string{"+55 11 94444-1004"}, true)
	lines := newCountingLines()
	lines.fail = func(m provider.Message) error {
		if m.To == "+5511944441001" || m.To == "+5511944441002" || m.To == "+5511944441003" {
			return &provider.Error{Code: "131026", Reason: "message undeliverable"}
		}
		return nil
	}
	s := campaign.NewSender(e.pool, e.clock, e.templates, lines.senders())
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).status(http.StatusCreated).ok(&c)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/retry", f.a.token, nil).status(http.StatusConflict)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	e.sendCampaign(s, f.a, c.ID, c.SenderIDs)
	c = e.campaignBody(f.a, c.ID)
	require.Equal(t, "completed", c.Status)
	require.EqualValues(t, 3, c.Failed)
	require.Equal(t, "131026", *e.recipients(c.ID)[uuid.MustParse(ana)].Code)
	// The failures, page by page, with their codes.
	var page struct {
		Items      []api.CampaignRecipientBody
		NextCursor string `json:"next_cursor"`
	}
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/recipients?state=failed&limit=2", f.a.token, nil).ok(&page)
	require.Len(t, page.Items, 2)
	require.NotEmpty(t, page.NextCursor)
	seen := []api.CampaignRecipientBody{page.Items[0], page.Items[1]}
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/recipients?state=failed&limit=2&cursor="+page.NextCursor, f.a.token, nil).ok(reset(&page))
	require.Len(t, page.Items, 1)
	require.Empty(t, page.NextCursor)
	for _, r := range append(seen, page.Items[0]) {
		require.Equal(t, "failed", r.State)
		require.Equal(t, "131026", r.Code)
		require.Equal(t, "message undeliverable", r.Reason)
		require.NotNil(t, r.FailedAt)
		require.NotEmpty(t, r.Name)
	}
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/recipients", f.a.token, nil).ok(reset(&page))
	require.Len(t, page.Items, 4)
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/recipients?state=lost", f.a.token, nil).status(http.StatusUnprocessableEntity)

	e.exec(`UPDATE contacts SET blocked = true WHERE id = $1`, caio)
	lines.fail = nil
	var r api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/retry", f.a.token, nil, "Idempotency-Key: repete-1").status(http.StatusCreated).ok(&r)
	// The client did not see the answer and calls again: the same run, not a second one.
	var again api.CampaignBody
	resp := e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/retry", f.a.token, nil, "Idempotency-Key: repete-1").status(http.StatusCreated).ok(&again)
	require.Equal(t, r.ID, again.ID)
	require.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"))
	require.Equal(t, 1, e.count(`SELECT count(*) FROM campaigns WHERE retry_of = $1`, uuid.MustParse(c.ID)))
	require.Equal(t, "draft", r.Status)
	require.Equal(t, c.ID, r.RetryOf)
	require.Equal(t, "Black Friday (retry)", r.Name)
	e.do(http.MethodPost, "/v1/campaigns/"+r.ID+"/start", f.a.token, nil).ok(reset(&r))
	require.EqualValues(t, 2, *r.Recipients)
	require.EqualValues(t, 1, r.Exclusions["blocked"])
	before := lines.total()
	e.sendCampaign(s, f.a, r.ID, r.SenderIDs)
	require.Equal(t, before+2, lines.total())
	got := e.recipients(r.ID)
	require.Equal(t, "sent", got[uuid.MustParse(ana)].State)
	require.Equal(t, "sent", got[uuid.MustParse(bia)].State)
	require.Equal(t, "completed", e.campaignBody(f.a, r.ID).Status)

	// A second retry of the same campaign would send to the same failures again: refused
	// while a run of it stands (a new key or none makes no difference).
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/retry", f.a.token, nil, "Idempotency-Key: repete-2").problem(http.StatusConflict)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/retry", f.a.token, nil).problem(http.StatusConflict)
	// A run cancelled after it reached Ana and Bia lets the campaign be retried again, for
	// the one it never reached.
	e.exec(`UPDATE campaigns SET status = 'cancelled' WHERE id = $1`, r.ID)
	e.exec(`UPDATE contacts SET blocked = false WHERE id = $1`, caio)
	var r2 api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/retry", f.a.token, nil).status(http.StatusCreated).ok(&r2)
	e.do(http.MethodPost, "/v1/campaigns/"+r2.ID+"/start", f.a.token, nil).ok(reset(&r2))
	require.EqualValues(t, 1, *r2.Recipients)
	_, caioIn := e.recipients(r2.ID)[uuid.MustParse(caio)]
	require.True(t, caioIn)

	other := e.newTenant("Outra")
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/retry", other.token, nil).status(http.StatusNotFound)
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/recipients", other.token, nil).status(http.StatusNotFound)
}

// A campaign whose sends fail past its limit pauses by itself; once the marketer fixes the
// cause and resumes, the rate is judged on the sends since the resume, so the campaign goes on
// instead of pausing again on the failures already counted.
func TestCampaignFailureRatePause(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Falhas")
	e.bulkAudience(f, 300, "Massa", "+5511977")
	lines := newCountingLines()
	failing := true
	lines.fail = func(provider.Message) error {
		if failing {
			return &provider.Error{Code: "131026", Reason: "message undeliverable"}
		}
		return nil
	}
	s := campaign.NewSender(e.pool, e.clock, e.templates, lines.senders())
	b := f.body()
	b["sender_ids"], b["max_failure_percent"] = []string{f.lines[0]}, 20
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, b).status(http.StatusCreated).ok(&c)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	until := func(status string) api.CampaignBody {
		t.Helper()
		for range 100 {
			e.clock.Advance(time.Second)
			e.sendCampaign(s, f.a, c.ID, c.SenderIDs)
			if got := e.campaignBody(f.a, c.ID); got.Status == status {
				return got
			}
		}
		got := e.campaignBody(f.a, c.ID)
		codes := map[string]int{}
		for _, r := range e.recipients(c.ID) {
			if r.Code != nil {
				codes[*r.Code]++
			}
		}
		t.Fatalf("campaign never %s: %s %q sent %d failed %d %v", status, got.Status, got.PauseReason, got.Sent, got.Failed, codes)
		return api.CampaignBody{}
	}
	c = until("paused")
	require.Contains(t, c.PauseReason, "sends failed")
	require.GreaterOrEqual(t, c.Failed, int32(campaign.FailurePauseMinSends))
	require.Less(t, c.Failed, int32(300), "it paused before the whole audience failed")

	failing = false
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/resume", f.a.token, nil).ok(nil)
	c = until("completed")
	require.EqualValues(t, 300, c.Sent+c.Failed)
	require.Positive(t, c.Sent)
	require.Equal(t, 1, e.countEvents(f.a, campaign.EventAutoPaused), "paused once, not again after the resume")
}
