package api_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/campaign"
)

// startedCampaign creates the campaign body describes on f's account and starts it now.
func (e *testEnv) startedCampaign(f campaignFixture, body map[string]any) api.CampaignBody {
	e.t.Helper()
	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, body).ok(&c)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.Equal(e.t, "running", c.Status)
	return c
}

// recipient is a campaign_recipients row as the sending would leave it: its state and the
// hours (after base) of its milestones, -1 for none.
type recipient struct {
	state                              string
	sent, delivered, read, fail, reply int
	code, reason                       string
}

// setRecipients replaces a campaign's recipients with rows (contacts that do not exist: the
// stats do not read contacts).
func (e *testEnv) setRecipients(a tenant, campaignID string, base time.Time, rows []recipient) {
	e.t.Helper()
	e.exec(`DELETE FROM campaign_recipients WHERE account_id = $1 AND campaign_id = $2`, a.account.ID, campaignID)
	at := func(h int) *time.Time {
		if h < 0 {
			return nil
		}
		t := base.Add(time.Duration(h) * time.Hour)
		return &t
	}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	for i, r := range rows {
		e.exec(`INSERT INTO campaign_recipients (account_id, campaign_id, contact_id, phone, state, requested_at, sent_at, delivered_at,
			read_at, failed_at, replied_at, code, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			a.account.ID, campaignID, uuid.Must(uuid.NewV7()), fmt.Sprintf("+55119777%05d", i), r.state, base,
			at(r.sent), at(r.delivered), at(r.read), at(r.fail), at(r.reply), str(r.code), str(r.reason))
	}
}

// statsMix is a known mix of states: 13 recipients, 8 sent, 5 delivered (one read without a
// delivery report), 3 read, 1 replied, 2 failed (one before sending), 1 unknown, 3 not sent.
var statsMix = []recipient{
	{state: "pending", sent: -1, delivered: -1, read: -1, fail: -1, reply: -1},
	{state: "pending", sent: -1, delivered: -1, read: -1, fail: -1, reply: -1},
	{state: "sending", sent: -1, delivered: -1, read: -1, fail: -1, reply: -1},
	{state: "sent", sent: 0, delivered: -1, read: -1, fail: -1, reply: -1},
	{state: "sent", sent: 1, delivered: -1, read: -1, fail: -1, reply: -1},
	{state: "delivered", sent: 0, delivered: 0, read: -1, fail: -1, reply: -1},
	{state: "delivered", sent: 0, delivered: 1, read: -1, fail: -1, reply: -1},
	{state: "read", sent: 0, delivered: 1, read: 1, fail: -1, reply: -1},
	{state: "read", sent: 0, delivered: -1, read: 2, fail: -1, reply: -1},
	{state: "replied", sent: 0, delivered: 0, read: 1, fail: -1, reply: 2},
	{state: "failed", sent: 0, delivered: -1, read: -1, fail: 1, reply: -1, code: "131026", reason: "Message undeliverable"},
	{state: "failed", sent: -1, delivered: -1, read: -1, fail: 0, reply: -1, code: "131049", reason: "Not delivered to maintain healthy ecosystem engagement"},
	{state: "unknown", sent: -1, delivered: -1, read: -1, fail: -1, reply: -1},
}

func TestCampaignStats(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Stats")
	e.campaignContact(f.a, "Ana Lima", []string{"carteira"}, []string{"+55 11 98888-2001"}, true)
	c := e.startedCampaign(f, f.body())
	base := time.Date(2026, 11, 27, 13, 0, 0, 0, time.UTC)
	e.setRecipients(f.a, c.ID, base, statsMix)

	var st campaign.Stats
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/stats", f.a.token, nil).ok(&st)
	require.Equal(t, c.ID, st.CampaignID.String())
	require.Equal(t, "running", st.Status)
	require.Equal(t, map[string]int64{"pending": 2, "sending": 1, "sent": 2, "delivered": 2, "read": 2, "failed": 2, "unknown": 1, "replied": 1}, st.ByState)
	require.Equal(t, campaign.Totals{Requested: 13, Pending: 3, Sent: 8, Delivered: 5, Read: 3, Replied: 1, Failed: 2, Unknown: 1}, st.Totals)
	require.Equal(t, campaign.Rates{Delivered: 0.625, Read: 0.375, Replied: 0.125, Failed: 0.1538}, st.Rates)
	require.Equal(t, []campaign.FailureCode{{Code: "131026", Reason: "Message undeliverable", Count: 1},
		{Code: "131049", Reason: "Not delivered to maintain healthy ecosystem engagement", Count: 1}}, st.FailureCodes)
	require.Equal(t, []campaign.Hour{
		{Hour: base, Sent: 7, Delivered: 2, Failed: 1},
		{Hour: base.Add(time.Hour), Sent: 1, Delivered: 2, Read: 2, Failed: 1},
		{Hour: base.Add(2 * time.Hour), Delivered: 1, Read: 1, Replied: 1},
	}, st.Hours, "the read without a delivery report counts as delivered at its read time")

	// A campaign without recipients answers zeros, not a division by zero.
	e.exec(`DELETE FROM campaign_recipients WHERE campaign_id = $1`, c.ID)
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/stats", f.a.token, nil).ok(reset(&st))
	require.Equal(t, campaign.Totals{}, st.Totals)
	require.Equal(t, campaign.Rates{}, st.Rates)
	require.Empty(t, st.FailureCodes)
	require.Empty(t, st.Hours)
	require.Len(t, st.ByState, len(campaign.States))

	// Another account's campaign is a 404, for the stats and the report alike.
	other := e.newTenant("Outra")
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/stats", other.token, nil).problem(http.StatusNotFound)
	e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/report.csv", other.token, nil).problem(http.StatusNotFound)
	e.do(http.MethodGet, "/v1/campaigns/"+uuid.NewString()+"/report.csv", f.a.token, nil).problem(http.StatusNotFound)
}

func TestCampaignReportCSV(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Relatorio")
	in := []string{"carteira"}
	ana := e.campaignContact(f.a, "Ana Lima", in, []string{"+55 11 98765-4321"}, true)
	evil := e.campaignContact(f.a, "Bia Reis", in, []string{"+55 21 3333-4444"}, true)
	gone := e.campaignContact(f.a, "Caio Gone", in, []string{"+55 31 99999-0000"}, true)
	duda := e.campaignContact(f.a, "Duda Fora", in, []string{"+55 11 98888-3004"}, true)
	fail := e.campaignContact(f.a, "Edu Falha", in, []string{"+55 11 98888-3005"}, true)
	c := e.startedCampaign(f, f.body())
	require.EqualValues(t, 5, *c.Recipients)

	// Contact data is read at download time: edits after the start show, a deleted contact
	// leaves its columns empty.
	e.exec(`UPDATE contacts SET document = '52998224725', document_kind = 'cpf', email = 'ana@example.com' WHERE id = $1`, ana)
	e.exec(`UPDATE contacts SET name = '=HYPERLINK("http://evil")', customer_code = '@SUM(A1)', email = '+1@x.com' WHERE id = $1`, evil)
	// A recipient whose contact was deleted after the start (its id sorts last); a foreign number.
	e.exec(`UPDATE campaign_recipients SET contact_id = $3 WHERE campaign_id = $1 AND contact_id = $2`, c.ID, gone, uuid.Must(uuid.NewV7()))
	e.exec(`UPDATE campaign_recipients SET phone = '+14155552671' WHERE campaign_id = $1 AND contact_id = $2`, c.ID, duda)
	requested := time.Date(2026, 11, 27, 13, 5, 9, 0, time.UTC)
	e.exec(`UPDATE campaign_recipients SET requested_at = $2 WHERE campaign_id = $1`, c.ID, requested)
	e.exec(`UPDATE campaign_recipients SET state = 'read', sent_at = $3, delivered_at = $3, read_at = $3, message_text = 'Olá Ana, temos uma oferta.'
		WHERE campaign_id = $1 AND contact_id = $2`, c.ID, ana, requested.Add(2*time.Hour+30*time.Second))
	e.exec(`UPDATE campaign_recipients SET state = 'replied', sent_at = $3, replied_at = $3, message_text = '=cmd|'' /C calc''!A0'
		WHERE campaign_id = $1 AND contact_id = $2`, c.ID, evil, requested.Add(time.Hour))
	e.exec(`UPDATE campaign_recipients SET state = 'failed', failed_at = $3, code = '131026', reason = 'Message undeliverable'
		WHERE campaign_id = $1 AND contact_id = $2`, c.ID, fail, requested)

	r := e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/report.csv", f.a.token, nil)
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	require.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
	require.Equal(t, `attachment; filename="campanha-`+c.ID+`.csv"`, r.Header.Get("Content-Disposition"))
	rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "NomePessoa,CpfCnpj,CodPessoaCliente,DDDTelefone,NumeroTelefone,EnderecoEmail,DataHoraSolicitacao,DataHoraEnvio,Mensagem,SituacaoEntrega\n",
		strings.SplitAfter(string(r.Body), "\n")[0], "exactly these columns, comma-separated like the contacts export")
	require.Len(t, rows, 6, "the header and one row per recipient")
	// Rows come in contact order, which for UUIDv7 ids is creation order.
	require.Equal(t, []string{"Ana Lima", "52998224725", "C-AnaLima", "11", "987654321", "ana@example.com",
		"27/11/2026 10:05:09", "27/11/2026 12:05:39", "Olá Ana, temos uma oferta.", "Lido"}, rows[1], "times in São Paulo (UTC-3)")
	require.Equal(t, []string{`'=HYPERLINK("http://evil")`, "", "'@SUM(A1)", "21", "33334444", "'+1@x.com",
		"27/11/2026 10:05:09", "27/11/2026 11:05:09", `'=cmd|' /C calc'!A0`, "Respondido"}, rows[2], "formulas are neutralised")
	require.Equal(t, []string{"Duda Fora", "", "C-DudaFora", "", "14155552671", "", "27/11/2026 10:05:09", "", "", "Pendente"}, rows[3], "a foreign number has no DDD")
	require.Equal(t, "Falha: 131026 Message undeliverable", rows[4][9])
	require.Equal(t, "", rows[4][7], "never sent")
	require.Equal(t, []string{"", "", "", "31", "999990000", "", "27/11/2026 10:05:09", "", "", "Pendente"}, rows[5], "a deleted contact leaves its fields empty")

	// Cancelled: the recipients whose turn never came say so; the others keep their outcome.
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/cancel", f.a.token, nil).ok(nil)
	r = e.do(http.MethodGet, "/v1/campaigns/"+c.ID+"/report.csv", f.a.token, nil)
	rows, err = csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
	require.NoError(t, err)
	got := []string{}
	for _, row := range rows[1:] {
		got = append(got, row[9])
	}
	require.Equal(t, []string{"Lido", "Respondido", "Cancelado", "Falha: 131026 Message undeliverable", "Cancelado"}, got)
}

// flushCounter is a response writer that counts the writes and flushes that reach it.
type flushCounter struct {
	*httptest.ResponseRecorder
	writes, flushes, biggest int
}

func (w *flushCounter) Write(b []byte) (int, error) {
	w.writes++
	w.biggest = max(w.biggest, len(b))
	return w.ResponseRecorder.Write(b)
}

func (w *flushCounter) Flush() { w.flushes++; w.ResponseRecorder.Flush() }

func TestCampaignReportStreams(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Muitos")
	e.campaignContact(f.a, "Ana Lima", []string{"carteira"}, []string{"+55 11 98888-4001"}, true)
	c := e.startedCampaign(f, f.body())
	const n = 25_000
	e.exec(`INSERT INTO campaign_recipients (account_id, campaign_id, contact_id, phone, state, requested_at, sent_at, message_text)
		SELECT $1, $2, gen_random_uuid(), '+55119' || lpad(i::text, 8, '0'), 'sent', now(), now(), 'Oferta número ' || i
		FROM generate_series(1, $3::integer) i`, f.a.account.ID, c.ID, n)

	req := httptest.NewRequest(http.MethodGet, "/v1/campaigns/"+c.ID+"/report.csv", nil)
	req.Header.Set("Authorization", "Bearer "+f.a.token)
	w := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
	e.handler.ServeHTTP(w, req)
	require.Equal(t, http.StatusOK, w.Code)
	rows, err := csv.NewReader(w.Body).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, n+2, "the header, the frozen contact and the rows added")
	require.Greater(t, w.writes, 100, "written as the rows arrive, in small pieces")
	require.LessOrEqual(t, w.biggest, 64<<10, "no write holds much more than a buffer")
	require.GreaterOrEqual(t, w.flushes, n/10_000, "pushed to the client along the way")
}

func TestCampaignReports(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Relatorios")
	ctx := context.Background()
	ana := e.campaignContact(f.a, "Ana Lima", []string{"carteira", "outra"}, []string{"+55 11 98888-5001"}, true)
	var seg2 struct{ ID string }
	e.do(http.MethodPost, "/v1/segments", f.a.token, map[string]any{"name": "Outra", "rules": map[string]any{"tags_any": []string{"outra"}}}).ok(&seg2)

	// 13:00 UTC (10:00 in São Paulo) two months back: the period below ends before now, when
	// the direct message is sent.
	base := e.clock.Now().UTC().Truncate(24 * time.Hour).Add(-60*24*time.Hour + 13*time.Hour)
	sp, err := time.LoadLocation("America/Sao_Paulo")
	require.NoError(t, err)
	day := func(d int) string { return base.Add(time.Duration(d) * 24 * time.Hour).In(sp).Format(time.DateOnly) }
	c1 := e.startedCampaign(f, f.body())
	b2 := f.body()
	b2["name"], b2["segment_id"], b2["sender_ids"] = "Natal", seg2.ID, f.lines
	c2 := e.startedCampaign(f, b2)
	c3 := e.startedCampaign(f, f.body()) // started before the period
	e.exec(`UPDATE campaigns SET started_at = $2 WHERE id = $1`, c1.ID, base)
	e.exec(`UPDATE campaigns SET started_at = $2 WHERE id = $1`, c2.ID, base.Add(24*time.Hour))
	e.exec(`UPDATE campaigns SET started_at = $2 WHERE id = $1`, c3.ID, base.Add(-40*24*time.Hour))
	e.setRecipients(f.a, c1.ID, base, statsMix)
	e.setRecipients(f.a, c2.ID, base.Add(24*time.Hour), statsMix[3:6])
	// c3's sends fall late into the period (the day after c2 started).
	e.setRecipients(f.a, c3.ID, base.Add(48*time.Hour), statsMix[3:4])

	// Another account with a campaign in the same period counts nowhere.
	other := e.campaignFixture("Outra conta")
	e.campaignContact(other.a, "Zé Outro", []string{"carteira"}, []string{"+55 11 98888-5002"}, true)
	oc := e.startedCampaign(other, other.body())
	e.exec(`UPDATE campaigns SET started_at = $2 WHERE id = $1`, oc.ID, base)
	e.setRecipients(other.a, oc.ID, base, statsMix)

	period := "from=" + base.Add(-time.Hour).Format(time.RFC3339) + "&to=" + base.Add(30*24*time.Hour).Format(time.RFC3339)
	var list struct {
		Items      []api.CampaignSummaryBody
		NextCursor string `json:"next_cursor"`
	}
	e.do(http.MethodGet, "/v1/reports/campaigns?"+period, f.a.token, nil).ok(&list)
	require.Len(t, list.Items, 2, "c3 started before the period; the other account's never shows")
	require.Equal(t, c2.ID, list.Items[0].ID, "newest first")
	require.Equal(t, "Outra", list.Items[0].SegmentName)
	require.Equal(t, api.CampaignSummaryBody{ID: c1.ID, Name: "Black Friday", Status: "running", SegmentID: f.segment, SegmentName: "Carteira",
		TemplateID: f.tpl.ID, TemplateName: "oferta", StartedAt: list.Items[1].StartedAt, Recipients: 13, Sent: 8, Delivered: 5, Read: 3,
		Replied: 1, Failed: 2, Unknown: 1}, list.Items[1])
	require.True(t, base.Equal(*list.Items[1].StartedAt))
	require.EqualValues(t, 3, list.Items[0].Recipients)

	// Paged one at a time; filtered by segment.
	e.do(http.MethodGet, "/v1/reports/campaigns?limit=1&"+period, f.a.token, nil).ok(reset(&list))
	require.Len(t, list.Items, 1)
	require.NotEmpty(t, list.NextCursor)
	e.do(http.MethodGet, "/v1/reports/campaigns?limit=1&cursor="+list.NextCursor+"&"+period, f.a.token, nil).ok(reset(&list))
	require.Equal(t, c1.ID, list.Items[0].ID)
	require.Empty(t, list.NextCursor)
	e.do(http.MethodGet, "/v1/reports/campaigns?segment_id="+seg2.ID+"&"+period, f.a.token, nil).ok(reset(&list))
	require.Len(t, list.Items, 1)
	require.Equal(t, c2.ID, list.Items[0].ID)
	e.do(http.MethodGet, "/v1/reports/campaigns?"+period, other.a.token, nil).ok(reset(&list))
	require.Len(t, list.Items, 1)
	require.Equal(t, oc.ID, list.Items[0].ID)

	// Bad periods are problems naming the parameter.
	for _, q := range []string{
		"",
		"from=" + base.Format(time.RFC3339),
		"from=yesterday&to=" + base.Format(time.RFC3339),
		"from=" + base.Format(time.RFC3339) + "&to=" + base.Add(-time.Hour).Format(time.RFC3339),
		"from=" + base.Format(time.RFC3339) + "&to=" + base.Add(367*24*time.Hour).Format(time.RFC3339),
	} {
		e.do(http.MethodGet, "/v1/reports/campaigns?"+q, f.a.token, nil).problem(http.StatusUnprocessableEntity)
		e.do(http.MethodGet, "/v1/reports/template-sends?"+q, f.a.token, nil).problem(http.StatusUnprocessableEntity)
	}
	e.do(http.MethodGet, "/v1/reports/template-sends?time_zone=Mars/Olympus&"+period, f.a.token, nil).problem(http.StatusUnprocessableEntity)

	// A direct template message, sent now (the test clock's now), counts with no segment.
	var q api.QueuedMessageBody
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": f.lines[0], "contact_id": ana,
		"template_id": f.tpl.ID, "variables": map[string]string{"body:3": "29/11/2026"}}).status(http.StatusAccepted).ok(&q)
	now := e.clock.Now()
	_, err = e.pool.Exec(ctx, `UPDATE messages SET status = 'delivered' WHERE id = $1`, q.ID)
	require.NoError(t, err)

	type sends struct {
		Items []api.TemplateSendsBody
	}
	var got sends
	e.do(http.MethodGet, "/v1/reports/template-sends?"+period, f.a.token, nil).ok(&got)
	seg1, seg2id := f.segment, seg2.ID
	carteira, outra := "Carteira", "Outra"
	want := []api.TemplateSendsBody{
		// Days in São Paulo: base is 10:00 there, the sends at base+0h and base+1h are on its day.
		{Day: day(0), TemplateID: f.tpl.ID, TemplateName: "oferta", SegmentID: &seg1, SegmentName: &carteira, Sends: 8, Delivered: 5, Read: 3, Failed: 1},
		{Day: day(1), TemplateID: f.tpl.ID, TemplateName: "oferta", SegmentID: &seg2id, SegmentName: &outra, Sends: 3, Delivered: 1},
		{Day: day(2), TemplateID: f.tpl.ID, TemplateName: "oferta", SegmentID: &seg1, SegmentName: &carteira, Sends: 1},
	}
	require.Equal(t, want, got.Items, "the direct message was sent now, outside the period")

	// A period around now finds the direct message, with no segment, and no campaign send.
	around := "from=" + now.Add(-time.Hour).UTC().Format(time.RFC3339) + "&to=" + now.Add(time.Hour).UTC().Format(time.RFC3339) + "&time_zone=UTC"
	e.do(http.MethodGet, "/v1/reports/template-sends?"+around, f.a.token, nil).ok(reset(&got))
	require.Equal(t, []api.TemplateSendsBody{{Day: now.UTC().Format(time.DateOnly), TemplateID: f.tpl.ID, TemplateName: "oferta", Sends: 1, Delivered: 1}}, got.Items)
	e.do(http.MethodGet, "/v1/reports/template-sends?segment_id="+f.segment+"&"+around, f.a.token, nil).ok(reset(&got))
	require.Empty(t, got.Items, "direct sends have no segment")
	e.do(http.MethodGet, "/v1/reports/template-sends?template_id="+uuid.NewString()+"&"+around, f.a.token, nil).ok(reset(&got))
	require.Empty(t, got.Items)

	// By segment and template; the other account sees only its own.
	e.do(http.MethodGet, "/v1/reports/template-sends?segment_id="+seg2.ID+"&template_id="+f.tpl.ID+"&"+period, f.a.token, nil).ok(reset(&got))
	require.Equal(t, want[1:2], got.Items)
	e.do(http.MethodGet, "/v1/reports/template-sends?"+period, other.a.token, nil).ok(reset(&got))
	require.Len(t, got.Items, 1)
	require.EqualValues(t, 8, got.Items[0].Sends)
}
