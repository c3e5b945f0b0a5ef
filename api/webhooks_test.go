package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/twilio/twiliotest"
	"github.com/conversa-hq/conversa/internal/provider/webchat"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/webhook"
)

// count returns a count(*) query's answer.
func (e *testEnv) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// drain drains every stored delivery, as the draining job does.
func (e *testEnv) drain() webhook.Drained {
	e.t.Helper()
	d, err := e.webhooks.Drain(context.Background(), webhook.BatchSize, time.Minute)
	require.NoError(e.t, err)
	return d
}

func (e *testEnv) channel(token string, body map[string]any) api.ChannelBody {
	e.t.Helper()
	var ch api.ChannelBody
	e.do(http.MethodPost, "/v1/channels", token, body).ok(&ch)
	return ch
}

func TestWhatsAppWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	ch := e.channel(a.token, map[string]any{"type": "whatsapp", "name": "Vendas", "phone_number": "+55 11 4000-1234",
		"phone_number_id": "10987", "credentials": map[string]string{"app_secret": "s3cret", "verify_token": "vt-123"}})
	tg := e.channel(a.token, map[string]any{"type": "telegram", "name": "Bot", "credentials": map[string]string{"bot_token": "1:x", "secret_token": "tg"}})
	path := "/webhooks/whatsapp/" + ch.ID

	// The verification handshake, only on WhatsApp channels.
	r := e.do(http.MethodGet, path+"?hub.mode=subscribe&hub.verify_token=vt-123&hub.challenge=4711", "", nil)
	require.Equal(t, http.StatusOK, r.Status)
	require.Equal(t, "4711", string(r.Body))
	e.do(http.MethodGet, path+"?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=4711", "", nil).problem(403)
	e.do(http.MethodGet, "/webhooks/telegram/"+ch.ID+"?hub.mode=subscribe&hub.verify_token=vt-123&hub.challenge=4711", "", nil).problem(404)

	body := whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: "55555", PhoneNumberID: "10987", From: "5511987654321",
		Name: "Maria", ID: "wamid.abc", Text: "Oi, quero saber do meu pedido", At: time.Unix(1_790_000_000, 0)})
	signed := "X-Hub-Signature-256: " + whatsapptest.Sign("s3cret", body)

	// Forged, missing and malformed signatures change nothing; so does a channel of another
	// type or none.
	e.do(http.MethodPost, path, "", body, "X-Hub-Signature-256: "+whatsapptest.Sign("not-the-secret", body)).problem(401)
	e.do(http.MethodPost, path, "", body).problem(401)
	e.do(http.MethodPost, path, "", body, "X-Hub-Signature-256: sha256=00").problem(401)
	e.do(http.MethodPost, "/webhooks/whatsapp/"+uuid.NewString(), "", body, signed).problem(404)
	e.do(http.MethodPost, "/webhooks/whatsapp/"+tg.ID, "", body, signed).problem(404)
	e.do(http.MethodPost, "/webhooks/telegram/"+ch.ID, "", body, signed).problem(404)
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries"))

	// A signed delivery is stored before the answer; the provider's retry is stored too, but
	// what it carries is recorded once.
	for range 2 {
		e.do(http.MethodPost, path, "", body, signed).ok(nil)
	}
	require.Equal(t, 2, e.count("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL"))
	d := e.drain()
	require.Equal(t, webhook.Drained{Deliveries: 2, Events: 1}, d)
	e.do(http.MethodPost, path, "", body, signed).ok(nil) // a retry after processing
	require.Equal(t, webhook.Drained{Deliveries: 1}, e.drain(), "a replayed delivery records nothing twice")
	var kind, key string
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT kind, provider_key FROM provider_events").Scan(&kind, &key))
	require.Equal(t, "message", kind)
	require.Equal(t, "wamid.abc", key)
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL OR error IS NOT NULL"))

	// A signed delivery that cannot be read is kept with why, and listed for the account.
	garbage := []byte(`{"object":"whatsapp_business_account","entry":{}}`)
	e.do(http.MethodPost, path, "", garbage, "X-Hub-Signature-256: "+whatsapptest.Sign("s3cret", garbage)).ok(nil)
	require.Equal(t, webhook.Drained{Deliveries: 1, Failed: 1}, e.drain())
	var failures struct{ Items []api.WebhookFailure }
	e.do(http.MethodGet, "/v1/channels/"+ch.ID+"/webhook-failures", a.token, nil).ok(&failures)
	require.Len(t, failures.Items, 1)
	require.Contains(t, failures.Items[0].Error, "decode envelope")
	require.Equal(t, "whatsapp_cloud", failures.Items[0].Provider)
}

func TestTelegramWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	bot := e.channel(a.token, map[string]any{"type": "telegram", "name": "Bot", "credentials": map[string]string{"bot_token": "777:AAA", "secret_token": "tg-secret"}})
	other := e.channel(a.token, map[string]any{"type": "telegram", "name": "Other", "credentials": map[string]string{"bot_token": "778:BBB", "secret_token": "other-secret"}})
	wa := e.channel(a.token, map[string]any{"type": "whatsapp", "name": "WA", "phone_number": "+55 11 4000-1234", "credentials": map[string]string{"app_secret": "s"}})
	path := "/webhooks/telegram/" + bot.ID
	update := `{"update_id": 10, "message": {"message_id": 5, "date": 1790000000, "chat": {"id": 4242, "type": "private"},
		"from": {"id": 4242, "is_bot": false, "first_name": "Ana"}, "text": "Olá"}}`

	e.do(http.MethodPost, path, "", update).problem(401)
	e.do(http.MethodPost, path, "", update, "X-Telegram-Bot-Api-Secret-Token: forged").problem(401)
	e.do(http.MethodPost, path, "", update, "X-Telegram-Bot-Api-Secret-Token: other-secret").problem(401) // another channel's
	e.do(http.MethodPost, "/webhooks/telegram/"+wa.ID, "", update, "X-Telegram-Bot-Api-Secret-Token: tg-secret").problem(404)
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries"))

	for range 2 {
		e.do(http.MethodPost, path, "", update, "X-Telegram-Bot-Api-Secret-Token: tg-secret").ok(nil)
	}
	e.do(http.MethodPost, "/webhooks/telegram/"+other.ID, "", update, "X-Telegram-Bot-Api-Secret-Token: other-secret").ok(nil)
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries WHERE signature <> ''"), "the secret token is never stored")
	require.Equal(t, webhook.Drained{Deliveries: 3, Events: 2}, e.drain(), "one message per channel")
	var from string
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT payload->>'From' FROM provider_events WHERE channel_id = $1 AND provider_key = '4242:5'", bot.ID).Scan(&from))
	require.Equal(t, "4242", from)
}

func TestTwilioWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	creds := map[string]string{"account_sid": "AC00000000000000000000000000000001", "auth_token": "tw-token", "from": "+15005550006"}
	sms := e.channel(a.token, map[string]any{"type": "sms", "name": "SMS", "provider": "twilio", "credentials": creds})
	other := e.channel(a.token, map[string]any{"type": "sms", "name": "SMS 2", "provider": "twilio",
		"credentials": map[string]string{"account_sid": "AC1", "auth_token": "other-token", "from": "+15005550007"}})
	tg := e.channel(a.token, map[string]any{"type": "telegram", "name": "Bot", "credentials": map[string]string{"bot_token": "1:x", "secret_token": "tg"}})
	path := "/webhooks/twilio/" + sms.ID
	// httptest requests go to http://example.com, which is what Twilio would have signed.
	fullURL := "http://example.com" + path
	post := func(p string, form url.Values, sig string) *response {
		headers := []string{"Content-Type: application/x-www-form-urlencoded"}
		if sig != "" {
			headers = append(headers, "X-Twilio-Signature: "+sig)
		}
		return e.do(http.MethodPost, p, "", form.Encode(), headers...)
	}
	inbound := url.Values{"MessageSid": {"SM111"}, "From": {"+5511987654321"}, "To": {"+15005550006"}, "Body": {"Oi"}, "NumMedia": {"0"}}
	status := url.Values{"MessageSid": {"SM222"}, "MessageStatus": {"delivered"}, "To": {"+5511987654321"}}

	post(path, inbound, "").problem(401)
	post(path, inbound, twiliotest.Signature("wrong", fullURL, inbound)).problem(401)
	post(path, inbound, twiliotest.Signature("other-token", fullURL, inbound)).problem(401)                                     // another channel's
	post(path, inbound, twiliotest.Signature("tw-token", "http://example.com/webhooks/twilio/"+other.ID, inbound)).problem(401) // signed for another URL
	post("/webhooks/twilio/"+tg.ID, inbound, twiliotest.Signature("tw-token", "http://example.com/webhooks/twilio/"+tg.ID, inbound)).problem(404)
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries"))

	post(path, inbound, twiliotest.Signature("tw-token", fullURL, inbound)).ok(nil)
	post(path, inbound, twiliotest.Signature("tw-token", fullURL, inbound)).ok(nil)
	post(path, status, twiliotest.Signature("tw-token", fullURL, status)).ok(nil)
	require.Equal(t, webhook.Drained{Deliveries: 3, Events: 2}, e.drain())
	// An intermediate status carries no time of its own; its retry is recorded once all the same.
	sending := url.Values{"MessageSid": {"SM333"}, "MessageStatus": {"sending"}, "To": {"+5511987654321"}}
	post(path, sending, twiliotest.Signature("tw-token", fullURL, sending)).ok(nil)
	e.clock.Advance(time.Minute)
	post(path, sending, twiliotest.Signature("tw-token", fullURL, sending)).ok(nil)
	require.Equal(t, webhook.Drained{Deliveries: 2, Events: 1}, e.drain())
	var keys []string
	rows, err := e.pool.Query(context.Background(), "SELECT kind || ' ' || provider_key FROM provider_events WHERE kind <> 'event' ORDER BY 1")
	require.NoError(t, err)
	for rows.Next() {
		var k string
		require.NoError(t, rows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"message SM111", "status SM222:delivered"}, keys)
}

func TestWebChat(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	site := e.channel(a.token, map[string]any{"type": "webchat", "name": "Site",
		"credentials": map[string]string{"widget_token": "wt-site", "allowed_origins": "https://www.acme.com.br, https://acme.com.br"}})
	other := e.channel(a.token, map[string]any{"type": "webchat", "name": "Outro", "credentials": map[string]string{"widget_token": "wt-other"}})
	wa := e.channel(a.token, map[string]any{"type": "whatsapp", "name": "WA", "phone_number": "+55 11 4000-1234", "credentials": map[string]string{"app_secret": "s"}})
	path := "/webhooks/webchat/" + site.ID + "/messages"
	visitor := "v-3f2a9c0e4b7d4e1a"
	msg := map[string]any{"id": "m-1", "visitor_id": visitor, "text": "Vocês entregam em Campinas?", "name": "Ana", "email": "ana@example.com"}

	// Credentials, type and input are checked before anything is stored.
	e.do(http.MethodPost, path, "", msg).problem(401)
	e.do(http.MethodPost, path, "", msg, "X-Widget-Token: forged").problem(401)
	e.do(http.MethodPost, path, "", msg, "X-Widget-Token: wt-other").problem(401)
	e.do(http.MethodPost, "/webhooks/webchat/"+wa.ID+"/messages", "", msg, "X-Widget-Token: wt-site").problem(404)
	e.do(http.MethodPost, path, "", map[string]any{"id": "m-2", "visitor_id": "short", "text": ""}, "X-Widget-Token: wt-site").problem(422)
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries"))

	// The visitor's message, sent twice by a retrying widget, is recorded once, with who the
	// visitor said they are.
	e.do(http.MethodPost, path, "", msg, "X-Widget-Token: wt-site").ok(nil)
	e.do(http.MethodPost, path, "", msg, "X-Widget-Token: wt-site").ok(nil)
	require.Equal(t, webhook.Drained{Deliveries: 2, Events: 2}, e.drain())
	var text, from string
	require.NoError(t, e.pool.QueryRow(context.Background(),
		"SELECT payload->>'Text', payload->>'From' FROM provider_events WHERE kind = 'message' AND provider_key = $1", visitor+":m-1").Scan(&text, &from))
	require.Equal(t, "Vocês entregam em Campinas?", text)
	require.Equal(t, visitor, from)
	var email string
	require.NoError(t, e.pool.QueryRow(context.Background(),
		"SELECT payload->'Data'->>'email' FROM provider_events WHERE kind = 'event' AND payload->>'Kind' = $1", webchat.EventVisitor).Scan(&email))
	require.Equal(t, "ana@example.com", email)

	// An answer sent through the adapter is what the widget fetches, page by page.
	siteID := uuid.MustParse(site.ID)
	adapter := webchat.New(webchat.Config{Pool: e.pool, AccountID: a.account.ID, ChannelID: siteID, Clock: e.clock})
	first, err := adapter.Send(context.Background(), provider.Message{To: visitor, Kind: provider.KindText, Text: "Entregamos sim!"})
	require.NoError(t, err)
	_, err = adapter.Send(context.Background(), provider.Message{To: visitor, Kind: provider.KindMedia, Text: "Nossa tabela",
		Media: &provider.Media{Kind: provider.Document, URL: "https://acme.com.br/frete.pdf"}})
	require.NoError(t, err)
	_, err = adapter.Send(context.Background(), provider.Message{To: "x-" + visitor, Text: "para outro visitante"})
	require.NoError(t, err)
	var page api.WebChatMessages
	e.do(http.MethodGet, path+"?visitor="+visitor, "", nil, "X-Widget-Token: wt-site").ok(&page)
	require.Len(t, page.Messages, 2)
	require.Equal(t, first.ID, page.Messages[0].ID)
	require.Equal(t, "Entregamos sim!", page.Messages[0].Text)
	require.Equal(t, "media", page.Messages[1].Kind)
	e.do(http.MethodGet, path+"?visitor="+visitor+"&after="+first.ID, "", nil, "X-Widget-Token: wt-site").ok(&page)
	require.Len(t, page.Messages, 1)
	require.Equal(t, "Nossa tabela", page.Messages[0].Text)
	e.do(http.MethodGet, path+"?visitor="+visitor, "", nil, "X-Widget-Token: wt-other").problem(401)
	e.do(http.MethodGet, "/webhooks/webchat/"+other.ID+"/messages?visitor="+visitor, "", nil, "X-Widget-Token: wt-other").ok(&page)
	require.Empty(t, page.Messages, "another channel's visitor sees nothing of this one")

	// CORS: the site's origins only.
	pre := func(origin string) *response {
		return e.do(http.MethodOptions, path, "", nil, "Origin: "+origin, "Access-Control-Request-Method: POST",
			"Access-Control-Request-Headers: content-type, x-widget-token")
	}
	r := pre("https://acme.com.br")
	require.Equal(t, http.StatusNoContent, r.Status)
	require.Equal(t, "https://acme.com.br", r.Header.Get("Access-Control-Allow-Origin"))
	require.Contains(t, r.Header.Get("Access-Control-Allow-Headers"), "X-Widget-Token")
	require.Empty(t, pre("https://evil.example").Header.Get("Access-Control-Allow-Origin"))
	r = e.do(http.MethodGet, path+"?visitor="+visitor, "", nil, "X-Widget-Token: wt-site", "Origin: https://www.acme.com.br")
	require.Equal(t, "https://www.acme.com.br", r.Header.Get("Access-Control-Allow-Origin"))
	require.Empty(t, e.do(http.MethodGet, "/webhooks/webchat/"+other.ID+"/messages?visitor="+visitor, "", nil,
		"X-Widget-Token: wt-other", "Origin: https://acme.com.br").Header.Get("Access-Control-Allow-Origin"))
}

// qualityPayload is a WhatsApp notification of the number's quality and the portfolio's limit.
func qualityPayload(field, phone string, at int64, fields string) []byte {
	return []byte(fmt.Sprintf(`{"object":"whatsapp_business_account","entry":[{"id":"WABA-1","time":%d,"changes":[{"field":%q,"value":{%s%s}}]}]}`,
		at, field, map[bool]string{true: `"display_phone_number":"` + phone + `",`, false: ""}[phone != ""], fields))
}

func TestWhatsAppQualityNotifications(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")
	creds := map[string]string{"app_secret": "s3cret"}
	sales := e.channel(a.token, map[string]any{"type": "whatsapp", "name": "Vendas", "phone_number": "+55 11 4000-1234", "waba_id": "WABA-1", "credentials": creds})
	support := e.channel(a.token, map[string]any{"type": "whatsapp", "name": "Suporte", "phone_number": "+55 11 4000-1235", "waba_id": "WABA-1", "credentials": creds})
	// Another account with the same number and business account id: never touched.
	theirs := e.channel(b.token, map[string]any{"type": "whatsapp", "name": "Deles", "phone_number": "+55 11 4000-1234", "waba_id": "WABA-1", "credentials": creds})
	post := func(body []byte) {
		e.do(http.MethodPost, "/webhooks/whatsapp/"+sales.ID, "", body, "X-Hub-Signature-256: "+whatsapptest.Sign("s3cret", body)).ok(nil)
	}
	get := func(token, id string) api.ChannelBody {
		var ch api.ChannelBody
		e.do(http.MethodGet, "/v1/channels/"+id, token, nil).ok(&ch)
		return ch
	}

	// The newer notification arrives (and is drained) first; the older one after it changes
	// nothing. The portfolio's limit reaches every number of the business account.
	post(qualityPayload("phone_number_quality_update", "551140001234", 1_790_000_200, `"event":"UPGRADE","current_quality_rating":"YELLOW","max_daily_conversations_per_business":"TIER_10K"`))
	e.drain()
	post(qualityPayload("phone_number_quality_update", "551140001234", 1_790_000_100, `"event":"FLAGGED","current_quality_rating":"RED","max_daily_conversations_per_business":"TIER_2K"`))
	post(qualityPayload("business_capability_update", "", 1_790_000_300, `"max_daily_conversations_per_business":"TIER_100K"`))
	e.drain()
	s := get(a.token, sales.ID)
	require.Equal(t, "yellow", s.QualityRating, "an older rating does not undo a newer one")
	require.Equal(t, "100000", s.MessagingLimit)
	sup := get(a.token, support.ID)
	require.Equal(t, "unknown", sup.QualityRating, "a number's rating is its own")
	require.Equal(t, "100000", sup.MessagingLimit, "the limit is the portfolio's")
	th := get(b.token, theirs.ID)
	require.Equal(t, "unknown", th.QualityRating)
	require.Equal(t, "250", th.MessagingLimit)
	require.Equal(t, 3, e.count("SELECT count(*) FROM provider_events WHERE kind = 'event' AND channel_id = $1", sales.ID), "each notification is recorded as an event")

	// A newer FLAGGED notification does apply.
	post(qualityPayload("phone_number_quality_update", "551140001234", 1_790_000_400, `"event":"FLAGGED"`))
	e.drain()
	require.Equal(t, "red", get(a.token, sales.ID).QualityRating)
	require.Equal(t, 80, get(a.token, sales.ID).ThroughputMPS)

	// Meta's throughput upgrade raises the number to 1 000 messages/s.
	post(qualityPayload("phone_number_quality_update", "551140001234", 1_790_000_500, `"event":"THROUGHPUT_UPGRADE","max_daily_conversations_per_business":"TIER_UNLIMITED"`))
	e.drain()
	s = get(a.token, sales.ID)
	require.Equal(t, 1000, s.ThroughputMPS)
	require.Equal(t, "unlimited", s.MessagingLimit)
	require.Equal(t, 80, get(a.token, support.ID).ThroughputMPS, "throughput is per number")
	require.False(t, strings.Contains(fmt.Sprint(get(a.token, sales.ID)), "s3cret"))
}
