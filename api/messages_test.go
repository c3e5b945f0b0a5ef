package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/auth"
)

// sendFixture is an account with a fake WhatsApp line, a contact and approved templates.
type sendFixture struct {
	a         tenant
	line      api.ChannelBody
	contact   api.ContactBody
	utility   api.TemplateBody
	marketing api.TemplateBody
	draft     api.TemplateBody
}

func (e *testEnv) sendFixture() sendFixture { return e.sendFixtureNamed("Sender") }

// sendFixtureNamed is sendFixture for an account of that name (two accounts in a test).
func (e *testEnv) sendFixtureNamed(name string) sendFixture {
	e.t.Helper()
	f := sendFixture{a: e.newTenant(name)}
	f.line = e.fakeWhatsApp(f.a, "+55 11 4000-0100", nil)
	e.do(http.MethodPost, "/v1/contacts", f.a.apiKey, map[string]any{"name": "Maria Souza", "customer_code": "C-1",
		"phones": []string{"+55 11 98888-0001"}}).ok(&f.contact)
	e.do(http.MethodPost, "/v1/templates", f.a.token, orderTemplateNoCustom("pedido", f.line.ID)).ok(&f.utility)
	e.do(http.MethodPost, "/v1/templates/"+f.utility.ID+"/submit", f.a.token, nil).ok(reset(&f.utility))
	require.Equal(e.t, "approved", f.utility.Status)
	promo := orderTemplateNoCustom("promo", f.line.ID)
	promo["category"] = "marketing"
	promo["components"].(map[string]any)["buttons"] = []map[string]any{{"type": "url", "text": "Ver", "url": "https://loja.example.com/p/{{1}}"}}
	promo["examples"].(map[string]string)["button:0"] = "SKB-1"
	delete(promo["examples"].(map[string]string), "button:1")
	promo["bindings"].(map[string]any)["button:0"] = map[string]string{"source": "{{contactcustomcode}}"}
	delete(promo["bindings"].(map[string]any), "button:1")
	e.do(http.MethodPost, "/v1/templates", f.a.token, promo).ok(&f.marketing)
	e.do(http.MethodPost, "/v1/templates/"+f.marketing.ID+"/submit", f.a.token, nil).ok(reset(&f.marketing))
	require.Equal(e.t, "approved", f.marketing.Status)
	e.do(http.MethodPost, "/v1/templates", f.a.token, orderTemplateNoCustom("rascunho", f.line.ID)).ok(&f.draft)
	return f
}

func TestSendMessageRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	ctx := context.Background()
	post := func(body map[string]any) *response {
		body["channel_id"] = f.line.ID
		return e.do(http.MethodPost, "/v1/messages", f.a.apiKey, body)
	}
	vars := map[string]string{"body:3": "05/12/2026"}

	// Free-form before the contact ever wrote: refused, saying to send a template.
	p := post(map[string]any{"contact_id": f.contact.ID, "text": "Oi"}).problem(409)
	require.Contains(t, p.Detail, "send an approved template")
	// A template that is not approved on the line.
	p = post(map[string]any{"contact_id": f.contact.ID, "template_id": f.draft.ID, "variables": vars}).problem(422)
	require.Contains(t, p.Detail, "not approved")
	// A marketing template without consent.
	p = post(map[string]any{"contact_id": f.contact.ID, "template_id": f.marketing.ID, "variables": vars}).problem(409)
	require.Contains(t, p.Detail, "marketing consent")
	// A template variable without a value.
	p = post(map[string]any{"contact_id": f.contact.ID, "template_id": f.utility.ID}).problem(422)
	require.Contains(t, p.Detail, "without a value")
	// Unknown contact, customer code, phone and channel.
	post(map[string]any{"contact_id": "0190a0b0-0000-7000-8000-000000000000", "text": "Oi"}).problem(404)
	post(map[string]any{"customer_code": "NOPE", "text": "Oi"}).problem(404)
	post(map[string]any{"phone": "+55 11 97777-0000", "text": "Oi"}).problem(404)
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": "0190a0b0-0000-7000-8000-000000000000",
		"contact_id": f.contact.ID, "text": "Oi"}).problem(404)
	// Neither or both contents.
	post(map[string]any{"contact_id": f.contact.ID}).problem(422)

	// A utility template by customer code opens the conversation.
	var q api.QueuedMessageBody
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": f.line.ID, "customer_code": "C-1",
		"template_id": f.utility.ID, "variables": vars}).status(202).ok(&q)
	require.Equal(t, "queued", q.Status)
	require.Equal(t, "template", q.Kind)
	var text, address string
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT text, to_address FROM messages WHERE id = $1", q.ID).Scan(&text, &address))
	require.Equal(t, "Olá Maria Souza, seu pedido C-1 sai hoje. Vencimento: 05/12/2026.", text, "variables resolve from the contact")
	require.Equal(t, "+5511988880001", address)

	// Consent given: the marketing template goes.
	e.do(http.MethodPost, "/v1/contacts/"+f.contact.ID+"/consents", f.a.apiKey, map[string]any{"action": "grant", "purposes": []string{"marketing"},
		"channels": []string{"whatsapp"}, "method": "checkbox", "text": "Aceito ofertas"}).ok(nil)
	post(map[string]any{"phone": "11 98888-0001", "template_id": f.marketing.ID, "variables": vars}).status(202)

	// The contact writes (the inbound pipeline renews the service session): free-form goes.
	_, err := e.pool.Exec(ctx, "UPDATE conversations SET service_expires_at = $1 WHERE id = $2", e.clock.Now().Add(time.Hour), q.ConversationID)
	require.NoError(t, err)
	post(map[string]any{"contact_id": f.contact.ID, "text": "Oi"}).status(202)
	post(map[string]any{"contact_id": f.contact.ID, "media": map[string]any{"kind": "image", "url": "https://cdn.example.com/a.jpg", "caption": "foto"}}).status(202)
	// Inside the session a blocked contact still gets nothing (the one-statement path checks it too).
	_, err = e.pool.Exec(ctx, "UPDATE contacts SET blocked = true WHERE id = $1", f.contact.ID)
	require.NoError(t, err)
	p = post(map[string]any{"contact_id": f.contact.ID, "text": "Oi"}).problem(409)
	require.Contains(t, p.Detail, "blocked")
	_, err = e.pool.Exec(ctx, "UPDATE contacts SET blocked = false WHERE id = $1", f.contact.ID)
	require.NoError(t, err)
	e.clock.Advance(2 * time.Hour)
	post(map[string]any{"contact_id": f.contact.ID, "text": "Oi"}).problem(409)

	// Blocked: refused whatever the content.
	_, err = e.pool.Exec(ctx, "UPDATE contacts SET blocked = true WHERE id = $1", f.contact.ID)
	require.NoError(t, err)
	p = post(map[string]any{"contact_id": f.contact.ID, "template_id": f.utility.ID, "variables": vars}).problem(409)
	require.Contains(t, p.Detail, "blocked")

	var n int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM messages WHERE status = 'queued'").Scan(&n))
	require.Equal(t, 4, n, "only the accepted messages were stored")
}

func TestSendMessageIdempotency(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	body := map[string]any{"channel_id": f.line.ID, "contact_id": f.contact.ID, "template_id": f.utility.ID, "variables": map[string]string{"body:3": "x"}}
	var first, again api.QueuedMessageBody
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, body, "Idempotency-Key: k1").status(202).ok(&first)
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, body, "Idempotency-Key: k1").status(202).ok(&again)
	require.Equal(t, first, again, "a retry returns the first answer")
	body["variables"] = map[string]string{"body:3": "y"}
	p := e.do(http.MethodPost, "/v1/messages", f.a.apiKey, body, "Idempotency-Key: k1").problem(422)
	require.Contains(t, p.Detail, "different request")
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT count(*) FROM messages").Scan(&n))
	require.Equal(t, 1, n)
}

func TestSendMessageRateLimit(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	_, key, err := e.auth.CreateAPIKey(context.Background(), f.a.account.ID, auth.NewAPIKey{Name: "slow", Scopes: []string{"contacts:write"}, RateLimit: 1})
	require.NoError(t, err)
	body := map[string]any{"channel_id": f.line.ID, "contact_id": f.contact.ID, "template_id": f.utility.ID, "variables": map[string]string{"body:3": "x"}}
	e.do(http.MethodPost, "/v1/messages", key, body).status(202)
	r := e.do(http.MethodPost, "/v1/messages", key, body)
	r.problem(429)
	require.NotEmpty(t, r.Header.Get("Retry-After"))
}

func TestAgentMessagesAndInternalNotes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	ctx := context.Background()
	// An internal note through the Send Message API opens the conversation; nothing to send.
	var note api.QueuedMessageBody
	e.do(http.MethodPost, "/v1/messages", f.a.token, map[string]any{"channel_id": f.line.ID, "contact_id": f.contact.ID,
		"text": "cliente VIP", "internal": true}).status(202).ok(&note)
	require.Equal(t, "note", note.Kind)
	require.Empty(t, note.Status)
	conv := "/v1/conversations/" + note.ConversationID + "/messages"
	var slash api.QueuedMessageBody
	e.do(http.MethodPost, conv, f.a.token, map[string]any{"text": "/interna ligar amanhã"}).status(202).ok(&slash)
	require.Equal(t, "note", slash.Kind)
	var text, direction string
	var status *string
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT text, direction, status FROM messages WHERE id = $1", slash.ID).Scan(&text, &direction, &status))
	require.Equal(t, "ligar amanhã", text)
	require.Equal(t, "internal", direction)
	require.Nil(t, status, "a note has no delivery status: no dispatcher ever claims it")
	// "/Interna" is not the command: free-form text, refused outside the session.
	e.do(http.MethodPost, conv, f.a.token, map[string]any{"text": "/Interna x"}).problem(409)
	// The agent's template goes through the same rules.
	e.do(http.MethodPost, conv, f.a.token, map[string]any{"template_id": f.utility.ID, "variables": map[string]string{"body:3": "x"}}).status(202)
	e.do(http.MethodPost, conv, f.a.token, map[string]any{"template_id": f.marketing.ID, "variables": map[string]string{"body:3": "x"}}).problem(409)

	// Another account sees none of it.
	b := e.newTenant("Other")
	e.do(http.MethodPost, conv, b.token, map[string]any{"text": "/interna oi"}).problem(404)
	e.do(http.MethodPost, "/v1/messages", b.apiKey, map[string]any{"channel_id": f.line.ID, "contact_id": f.contact.ID, "text": "/interna oi"}).problem(404)
	bLine := e.fakeWhatsApp(b, "+55 11 4000-0200", nil)
	e.do(http.MethodPost, "/v1/messages", b.apiKey, map[string]any{"channel_id": bLine.ID, "contact_id": f.contact.ID, "text": "/interna oi"}).problem(404)
	var bContact api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", b.apiKey, map[string]any{"name": "B", "phones": []string{"+55 11 98888-0002"}}).ok(&bContact)
	p := e.do(http.MethodPost, "/v1/messages", b.apiKey, map[string]any{"channel_id": f.line.ID, "contact_id": bContact.ID, "text": "/interna oi"}).problem(404)
	require.Contains(t, p.Detail, "channel")
}

// status asserts the response's status.
func (r *response) status(want int) *response {
	r.t.Helper()
	require.Equal(r.t, want, r.Status, string(r.Body))
	return r
}

// TestPaidSendStop: after a payment problem the API refuses templates and says why, still
// takes free-form messages, and an admin's clear lets templates go again; another account is
// not affected.
func TestPaidSendStop(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	other := e.sendFixtureNamed("Other sender")
	ctx := context.Background()
	vars := map[string]string{"body:3": "05/12/2026"}
	template := func(f sendFixture) *response {
		return e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": f.line.ID, "contact_id": f.contact.ID,
			"template_id": f.utility.ID, "variables": vars})
	}
	var st api.PaidSendsBody
	e.do(http.MethodGet, "/v1/paid-sends", f.a.apiKey, nil).ok(&st)
	require.False(t, st.Stopped)

	_, err := e.pool.Exec(ctx, `INSERT INTO paid_send_stops (account_id, channel_id, code, reason, stopped_at) VALUES ($1, $2, '131042', 'Business eligibility payment issue', $3)`,
		f.a.account.ID, f.line.ID, e.clock.Now())
	require.NoError(t, err)
	e.do(http.MethodGet, "/v1/paid-sends", f.a.apiKey, nil).ok(&st)
	require.True(t, st.Stopped)
	require.Equal(t, "131042", st.Code)
	require.Equal(t, f.line.ID, st.ChannelID)
	p := template(f).problem(409)
	require.Contains(t, p.Detail, "payment problem")
	template(other).status(202) // another account sends on

	// An API key without settings:manage cannot clear it; the admin can, twice without harm.
	e.do(http.MethodDelete, "/v1/paid-sends/stop", f.a.apiKey, nil).problem(403)
	e.do(http.MethodDelete, "/v1/paid-sends/stop", f.a.token, nil).status(204)
	e.do(http.MethodDelete, "/v1/paid-sends/stop", f.a.token, nil).status(204)
	template(f).status(202)
	var resumed int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM event_outbox WHERE account_id = $1 AND type = 'account.paid_sends_resumed'", f.a.account.ID).Scan(&resumed))
	require.Equal(t, 1, resumed, "one event for the one clear that changed something")
}

// TestProtocolInMessages: {{protocolo}} in an agent's text, an API text or a template variable
// becomes the open attendance's protocol; with no attendance open it becomes empty.
func TestProtocolInMessages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	ctx := context.Background()
	c := e.inbound(f.a, f.line.ID, "5511988880001", "Quero a segunda via")
	require.NotNil(t, c.Attendance)
	protocol := c.Attendance.Protocol
	stored := func(id string) string {
		var text string
		require.NoError(t, e.pool.QueryRow(ctx, "SELECT text FROM messages WHERE id = $1", id).Scan(&text))
		return text
	}
	var q api.QueuedMessageBody
	e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/messages", f.a.token, map[string]any{"text": "Seu protocolo é {{protocolo}}."}).status(202).ok(&q)
	require.Equal(t, "Seu protocolo é "+protocol+".", stored(q.ID))
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": f.line.ID, "contact_id": c.ContactID,
		"text": "Protocolo {{protocolo}}"}).status(202).ok(&q)
	require.Equal(t, "Protocolo "+protocol, stored(q.ID), "the API's one-statement path steps aside for it")
	e.do(http.MethodPost, "/v1/messages", f.a.apiKey, map[string]any{"channel_id": f.line.ID, "contact_id": c.ContactID,
		"template_id": f.utility.ID, "variables": map[string]string{"body:3": "{{protocolo}}"}}).status(202).ok(&q)
	require.Contains(t, stored(q.ID), "Vencimento: "+protocol+".")

	_, err := e.pool.Exec(ctx, "UPDATE conversations SET status = 'closed' WHERE id = $1", c.ID)
	require.NoError(t, err)
	e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/messages", f.a.token, map[string]any{"text": "/interna protocolo [{{protocolo}}]"}).status(202).ok(&q)
	require.Equal(t, "protocolo []", stored(q.ID), "no attendance open: no protocol")
}
