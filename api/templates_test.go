package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/provider/fake"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/template"
)

// fakeWhatsApp registers a WhatsApp number served by the fake provider.
func (e *testEnv) fakeWhatsApp(a tenant, phone string, creds map[string]string) api.ChannelBody {
	e.t.Helper()
	var ch api.ChannelBody
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "whatsapp", "name": "Linha " + phone, "provider": "fake",
		"phone_number": phone, "credentials": creds}).ok(&ch)
	return ch
}

// orderTemplate is a valid utility template with a variable in the header, the body and a
// URL button.
func orderTemplate(name string, channelIDs ...string) map[string]any {
	return map[string]any{
		"name": name, "language": "pt_BR", "category": "utility",
		"components": map[string]any{
			"header": map[string]any{"format": "text", "text": "Pedido {{1}}"},
			"body":   map[string]any{"text": "Olá {{1}}, seu pedido {{2}} sai hoje. Vencimento: {{3}}."},
			"footer": map[string]any{"text": "Loja Exemplo"},
			"buttons": []map[string]any{{"type": "quick_reply", "text": "Obrigado"},
				{"type": "url", "text": "Acompanhar", "url": "https://loja.example.com/pedido/{{1}}"}},
		},
		"examples": map[string]string{"header:1": "SKB-1", "body:1": "Maria", "body:2": "SKB-1", "body:3": "05/12/2026", "button:1": "SKB-1"},
		"bindings": map[string]any{"header:1": map[string]string{"source": "@ChaveCliente"}, "body:1": map[string]string{"source": "{nome}"},
			"body:2": map[string]string{"source": "{{contactcustomcode}}"}, "body:3": map[string]string{"source": "{vencimento}"},
			"button:1": map[string]string{"source": "{{contactcustomcode}}"}},
		"channel_ids": channelIDs,
	}
}

func TestTemplatesCRUDAndSearch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	e.do(http.MethodPost, "/v1/custom-fields", a.token, map[string]any{"key": "vencimento", "type": "date"}).ok(nil)
	line := e.fakeWhatsApp(a, "+55 11 4000-0001", nil)

	var tpl api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplate("pedido_enviado", line.ID)).ok(reset(&tpl))
	require.Equal(t, "draft", tpl.Status)
	require.Equal(t, "positional", tpl.ParameterFormat)
	require.Equal(t, []api.TemplateChannelBody{{ChannelID: line.ID, Status: "draft"}}, tpl.Channels)
	var got api.TemplateBody
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.token, nil).ok(&got)
	require.Equal(t, tpl, got)

	// Same name and language again is a conflict; another language is another template.
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplate("pedido_enviado")).problem(409)
	other := orderTemplate("pedido_enviado")
	other["language"] = "es"
	e.do(http.MethodPost, "/v1/templates", a.token, other).ok(nil)
	mkt := orderTemplate("promo_natal")
	mkt["category"] = "marketing"
	e.do(http.MethodPost, "/v1/templates", a.token, mkt).ok(nil)

	names := func(query string) []string {
		var page struct {
			Items      []api.TemplateBody
			NextCursor string `json:"next_cursor"`
		}
		e.do(http.MethodGet, "/v1/templates"+query, a.token, nil).ok(&page)
		out := []string{}
		for _, it := range page.Items {
			out = append(out, it.Name+"/"+it.Language)
		}
		return out
	}
	require.Equal(t, []string{"pedido_enviado/pt_BR", "pedido_enviado/es", "promo_natal/pt_BR"}, names(""))
	require.Equal(t, []string{"pedido_enviado/pt_BR", "pedido_enviado/es"}, names("?name=DIDO_"))
	require.Equal(t, []string{"promo_natal/pt_BR"}, names("?name_prefix=promo"))
	require.Empty(t, names("?name_prefix=natal"))
	require.Equal(t, []string{"promo_natal/pt_BR"}, names("?category=marketing"))
	require.Equal(t, []string{"pedido_enviado/pt_BR"}, names("?channel_id="+line.ID))
	require.Len(t, names("?status=draft"), 3)
	require.Empty(t, names("?status=approved"))
	e.do(http.MethodGet, "/v1/templates?category=service", a.token, nil).problem(422)

	// Cursor pagination walks every template once.
	var seen []string
	cursor := ""
	for {
		var page struct {
			Items      []api.TemplateBody
			NextCursor string `json:"next_cursor"`
		}
		e.do(http.MethodGet, "/v1/templates?limit=2&cursor="+cursor, a.token, nil).ok(&page)
		for _, it := range page.Items {
			seen = append(seen, it.ID)
		}
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	require.Len(t, seen, 3)
	require.Equal(t, tpl.ID, seen[0])

	// Reads carry the version as ETag; a change based on an older read is refused.
	r := e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.token, nil)
	require.Equal(t, `"1"`, r.Header.Get("ETag"))
	r = e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, a.token, map[string]any{"bindings": map[string]any{}}, `If-Match: "1"`).ok(nil)
	require.Equal(t, `"2"`, r.Header.Get("ETag"))
	e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, a.token, map[string]any{"bindings": map[string]any{}}, `If-Match: "1"`).problem(412)

	// A draft changes freely.
	var changed api.TemplateBody
	e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, a.token, map[string]any{"components": map[string]any{"body": map[string]any{"text": "Oi {{first_name}}!"}},
		"examples": map[string]string{"body:first_name": "Maria"}, "bindings": map[string]any{"body:first_name": map[string]string{"source": "{primeiro_nome}"}}}).ok(&changed)
	require.Equal(t, "named", changed.ParameterFormat)
	require.Nil(t, changed.Components.Header, "components are replaced whole")

	// A draft is deleted for good.
	e.do(http.MethodDelete, "/v1/templates/"+tpl.ID, a.token, nil).ok(nil)
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.token, nil).problem(404)
	var n int
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT count(*) FROM templates WHERE id = $1", tpl.ID).Scan(&n))
	require.Zero(t, n)
}

func TestTemplateBadInput(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")
	line := e.fakeWhatsApp(a, "+55 11 4000-0001", nil)
	theirs := e.fakeWhatsApp(b, "+55 11 4000-0002", nil)
	var sms api.ChannelBody
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "sms", "name": "SMS", "provider": "fake"}).ok(&sms)

	with := func(change func(m map[string]any)) map[string]any {
		m := orderTemplate("pedido_enviado", line.ID)
		m["bindings"] = map[string]any{}
		change(m)
		return m
	}
	comps := func(m map[string]any) map[string]any { return m["components"].(map[string]any) }
	quick := make([]map[string]any, 11)
	for i := range quick {
		quick[i] = map[string]any{"type": "quick_reply", "text": fmt.Sprintf("Opção %d", i)}
	}
	tests := []struct {
		name string
		body any
		want string // a location in the problem
	}{
		{"NotJSON", `{"name": `, "body"},
		{"WrongType", with(func(m map[string]any) { m["name"] = 42 }), "body.name"},
		{"ComponentsWrongType", with(func(m map[string]any) { m["components"] = "body" }), "body.components"},
		{"UnknownCategory", with(func(m map[string]any) { m["category"] = "service" }), "body.category"},
		{"MissingCategory", with(func(m map[string]any) { delete(m, "category") }), "body.category"},
		{"BadName", with(func(m map[string]any) { m["name"] = "Pedido Enviado" }), "body.name"},
		{"MixedVariables", with(func(m map[string]any) { comps(m)["body"] = map[string]any{"text": "Oi {{1}} {{nome}}"} }), "body.components"},
		{"BodyOver1024", with(func(m map[string]any) {
			comps(m)["body"] = map[string]any{"text": strings.Repeat("a", 1025)}
			m["examples"] = map[string]string{"header:1": "x", "button:1": "x"}
		}), "body.components.body.text"},
		{"TooManyButtons", with(func(m map[string]any) { comps(m)["buttons"] = quick }), "body.components.buttons"},
		{"UnknownButtonType", with(func(m map[string]any) { comps(m)["buttons"] = []map[string]any{{"type": "flow", "text": "x"}} }), "body.components.buttons[0].type"},
		{"MissingExample", with(func(m map[string]any) { delete(m["examples"].(map[string]string), "body:2") }), "body.examples.body:2"},
		{"UnknownBindingSource", with(func(m map[string]any) {
			m["bindings"] = map[string]any{"body:1": map[string]string{"source": "{sobrenome}"}}
		}), "body.bindings.body:1.source"},
		{"BindingOfNoVariable", with(func(m map[string]any) { m["bindings"] = map[string]any{"body:7": map[string]string{"text": "x"}} }), "body.bindings.body:7"},
		{"ChannelOfAnotherAccount", with(func(m map[string]any) { m["channel_ids"] = []string{theirs.ID} }), "body.channel_ids[0]"},
		{"NotAWhatsAppChannel", with(func(m map[string]any) { m["channel_ids"] = []string{sms.ID} }), "body.channel_ids[0]"},
		{"ChannelNotAUUID", with(func(m map[string]any) { m["channel_ids"] = []string{"nope"} }), "body.channel_ids"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status := http.StatusUnprocessableEntity
			if tc.name == "NotJSON" {
				status = http.StatusBadRequest
			}
			p := e.as(t).do(http.MethodPost, "/v1/templates", a.token, tc.body).problem(status)
			if tc.want != "" {
				found := false
				for _, l := range p.locations() {
					found = found || strings.HasPrefix(l, tc.want)
				}
				require.True(t, found, "want %s in %q", tc.want, p.locations())
			}
		})
	}
	var page struct{ Items []api.TemplateBody }
	e.do(http.MethodGet, "/v1/templates", a.token, nil).ok(&page)
	require.Empty(t, page.Items, "bad input stores nothing")
}

func TestTemplatePermissions(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	var tpl api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplateNoCustom("pedido")).ok(reset(&tpl))
	var c api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "Ana", "customer_code": "C1"}).ok(&c)

	agent := e.newUser(a, "agent")
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, agent, nil).ok(nil)
	e.do(http.MethodGet, "/v1/templates", agent, nil).ok(nil)
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", agent, map[string]string{"contact_id": c.ID}).ok(nil)
	e.do(http.MethodPost, "/v1/templates", agent, orderTemplateNoCustom("outro")).problem(403)
	e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, agent, map[string]any{"bindings": map[string]any{}}).problem(403)
	e.do(http.MethodDelete, "/v1/templates/"+tpl.ID, agent, nil).problem(403)
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/submit", agent, nil).problem(403)

	supervisor := e.newUser(a, "supervisor")
	e.do(http.MethodPost, "/v1/templates", supervisor, orderTemplateNoCustom("outro")).ok(nil)
}

// TestTemplateSubmitWhatsApp submits to the Cloud API's wire format (whatsapptest): two
// numbers of one business account share a submission, a failure is kept per channel, and the
// verdict arrives by a signed webhook processed by the real River job.
func TestTemplateSubmitWhatsApp(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")
	ctx := context.Background()
	srv := whatsapptest.New(t, whatsapptest.Config{WABAID: "55555"})
	e.templates.WhatsAppBaseURL = srv.URL
	e.do(http.MethodPost, "/v1/custom-fields", a.token, map[string]any{"key": "vencimento", "type": "date"}).ok(nil)

	creds := map[string]string{"access_token": whatsapptest.DefaultAccessToken, "app_secret": "s3cret"}
	newLine := func(tn tenant, phone, pnid string) api.ChannelBody {
		var ch api.ChannelBody
		e.do(http.MethodPost, "/v1/channels", tn.token, map[string]any{"type": "whatsapp", "name": "Linha " + pnid, "phone_number": phone,
			"phone_number_id": pnid, "waba_id": "55555", "credentials": creds}).ok(&ch)
		return ch
	}
	sales := newLine(a, "+55 11 4000-1001", "1001")
	support := newLine(a, "+55 11 4000-1002", "1002")
	demo := e.fakeWhatsApp(a, "+55 11 4000-1003", nil)

	var tpl api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplate("pedido_enviado", sales.ID, support.ID, demo.ID)).ok(reset(&tpl))

	// The Cloud API refuses once: the WhatsApp channels keep draft with the reason; the
	// fake one (approving at once) goes through.
	srv.FailNext(1, 80007, 0)
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/submit", a.token, nil).ok(reset(&tpl))
	byChannel := func(tb api.TemplateBody) map[string]api.TemplateChannelBody {
		out := map[string]api.TemplateChannelBody{}
		for _, c := range tb.Channels {
			out[c.ChannelID] = c
		}
		return out
	}
	chs := byChannel(tpl)
	require.Equal(t, "draft", chs[sales.ID].Status)
	require.Contains(t, chs[sales.ID].Error, "80007")
	require.Equal(t, chs[sales.ID].Error, chs[support.ID].Error)
	require.Equal(t, "approved", chs[demo.ID].Status)
	require.Equal(t, "approved", tpl.Status, "only submitted channels count")
	require.Empty(t, srv.Templates())

	// Submitting again reaches only the channels still in draft, with one request for the
	// business account both numbers share.
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/submit", a.token, nil).ok(reset(&tpl))
	require.Len(t, srv.Templates(), 1)
	sent := srv.Templates()[0]
	require.Equal(t, "pedido_enviado", sent.Name)
	require.Equal(t, "UTILITY", sent.Category)
	var wire map[string]any
	require.NoError(t, json.Unmarshal(sent.Body, &wire))
	require.Equal(t, "positional", wire["parameter_format"])
	chs = byChannel(tpl)
	require.Equal(t, "pending", chs[sales.ID].Status)
	require.Equal(t, sent.ID, chs[sales.ID].ProviderTemplateID)
	require.Equal(t, sent.ID, chs[support.ID].ProviderTemplateID)
	require.Empty(t, chs[sales.ID].Error)
	require.Equal(t, "pending", tpl.Status)
	require.NotNil(t, tpl.SubmittedAt)

	// Everything is submitted now: a third submission is refused; the content is frozen but
	// the bindings are not.
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/submit", a.token, nil).problem(409)
	p := e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, a.token, map[string]any{"components": map[string]any{"body": map[string]any{"text": "Outro"}}}).problem(409)
	require.Equal(t, []string{"body.components"}, p.locations())
	e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, a.token, map[string]any{"category": "marketing"}).problem(409)
	e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, a.token, map[string]any{"name": tpl.Name, "language": "pt_BR"}).ok(nil)
	e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, a.token, map[string]any{"bindings": map[string]any{"body:1": map[string]string{"source": "{primeiro_nome}"}}}).ok(nil)

	// Another account holds a row with the same provider id (as if it had forged one): a
	// notification to A's channel must not touch it.
	var theirs api.TemplateBody
	theirLine := newLine(b, "+55 11 4000-2001", "2001")
	e.do(http.MethodPost, "/v1/templates", b.token, orderTemplateNoCustom("pedido_enviado", theirLine.ID)).ok(reset(&theirs))
	_, err := e.pool.Exec(ctx, "UPDATE template_channels SET status = 'pending', provider_template_id = $1 WHERE template_id = $2", sent.ID, theirs.ID)
	require.NoError(t, err)

	// The verdicts arrive as signed webhooks, drained as the River drain job does.
	deliver := func(event, reason string, at int64) {
		t.Helper()
		body := templateStatusPayload(sent.ID, event, reason, at)
		e.do(http.MethodPost, "/webhooks/whatsapp/"+sales.ID, "", body, "X-Hub-Signature-256: "+whatsapptest.Sign("s3cret", body)).ok(nil)
		require.Equal(t, 1, e.drain().Deliveries)
	}
	deliver("REJECTED", "INVALID_FORMAT", 1_790_000_100)
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.token, nil).ok(reset(&tpl))
	chs = byChannel(tpl)
	require.Equal(t, "rejected", chs[sales.ID].Status)
	require.Equal(t, "INVALID_FORMAT", chs[sales.ID].Reason)
	require.Equal(t, "rejected", chs[support.ID].Status, "the numbers share the business account's template")
	require.Equal(t, "approved", chs[demo.ID].Status)
	require.Equal(t, "rejected", tpl.Status)
	require.Equal(t, "INVALID_FORMAT", tpl.Reason)

	// Meta reconsiders (a later APPROVED); a replayed and an older notification change nothing.
	deliver("APPROVED", "NONE", 1_790_000_200)
	deliver("APPROVED", "NONE", 1_790_000_200)
	deliver("PENDING", "NONE", 1_790_000_150)
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.token, nil).ok(reset(&tpl))
	require.Equal(t, "approved", tpl.Status)
	require.Empty(t, tpl.Reason)
	var list struct{ Items []api.TemplateBody }
	e.do(http.MethodGet, "/v1/templates?status=approved", a.token, nil).ok(&list)
	require.Len(t, list.Items, 1)

	e.do(http.MethodGet, "/v1/templates/"+theirs.ID, b.token, nil).ok(reset(&theirs))
	require.Equal(t, "pending", theirs.Channels[0].Status, "another account's template is untouched")

	// A number of the same business account added later shares the approved template: no
	// new request reaches the provider.
	later := newLine(a, "+55 11 4000-1004", "1004")
	e.do(http.MethodPatch, "/v1/templates/"+tpl.ID, a.token, map[string]any{"channel_ids": []string{sales.ID, support.ID, demo.ID, later.ID}}).ok(nil)
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/submit", a.token, nil).ok(reset(&tpl))
	require.Len(t, srv.Templates(), 1)
	require.Equal(t, api.TemplateChannelBody{ChannelID: later.ID, Status: "approved", ProviderTemplateID: sent.ID,
		SubmittedAt: byChannel(tpl)[later.ID].SubmittedAt}, byChannel(tpl)[later.ID])

	// Deleting a channel leaves no row behind; a submitted template is only marked deleted.
	e.do(http.MethodDelete, "/v1/channels/"+support.ID, a.token, nil).ok(nil)
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.token, nil).ok(reset(&tpl))
	require.Len(t, tpl.Channels, 3)
	e.do(http.MethodDelete, "/v1/templates/"+tpl.ID, a.token, nil).ok(nil)
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.token, nil).problem(404)
	var deleted bool
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT deleted_at IS NOT NULL FROM templates WHERE id = $1", tpl.ID).Scan(&deleted))
	require.True(t, deleted)
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplate("pedido_enviado")).ok(nil)
}

// orderTemplate without the custom field binding, for an account that lacks the field.
func orderTemplateNoCustom(name string, channelIDs ...string) map[string]any {
	m := orderTemplate(name, channelIDs...)
	delete(m["bindings"].(map[string]any), "body:3")
	return m
}

// templateStatusPayload is a message_template_status_update webhook (reference §2.6).
func templateStatusPayload(templateID, event, reason string, at int64) []byte {
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": "55555", "time": at, "changes": []any{map[string]any{
			"field": "message_template_status_update",
			"value": map[string]any{"event": event, "message_template_id": json.Number(templateID),
				"message_template_name": "pedido_enviado", "message_template_language": "pt_BR", "reason": reason},
		}}}},
	})
	return b
}

// TestTemplateFakeProvider: the fake provider approves after its delay on the injected clock,
// through the review job River runs; its signed webhooks reach the same status path.
func TestTemplateFakeProvider(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	ctx := context.Background()
	slow := e.fakeWhatsApp(a, "+55 11 4000-0001", map[string]string{"approve_after": "1h", "webhook_secret": "wh"})
	quick := e.fakeWhatsApp(a, "+55 11 4000-0002", map[string]string{"approve_after": "1ms"})
	var second api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplateNoCustom("segundo", quick.ID)).ok(&second)
	e.do(http.MethodPost, "/v1/templates/"+second.ID+"/submit", a.token, nil).ok(reset(&second))
	require.Equal(t, "pending", second.Status)
	e.do(http.MethodPost, "/v1/templates", a.apiKey, orderTemplateNoCustom("chave")).problem(403)

	var tpl api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplateNoCustom("pedido", slow.ID)).ok(reset(&tpl))
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/submit", a.token, nil).ok(reset(&tpl))
	require.Equal(t, "pending", tpl.Status)

	var raw []byte
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT args FROM river_job WHERE kind = 'template_fake_review' AND args->>'provider_template_id' = $1",
		tpl.Channels[0].ProviderTemplateID).Scan(&raw))
	var args template.ReviewArgs
	require.NoError(t, json.Unmarshal(raw, &args))
	require.Equal(t, tpl.Channels[0].ProviderTemplateID, args.ProviderTemplateID)

	// The job River stored, worked by its worker.
	worker := &template.ReviewWorker{Pool: e.pool, Clock: e.clock}
	work := func() error {
		return worker.Work(ctx, &river.Job[template.ReviewArgs]{JobRow: &rivertype.JobRow{}, Args: args})
	}
	e.clock.Advance(59 * time.Minute)
	var snooze *rivertype.JobSnoozeError
	require.ErrorAs(t, work(), &snooze, "not yet")
	require.Equal(t, time.Minute, snooze.Duration)
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.apiKey, nil).ok(reset(&tpl))
	require.Equal(t, "pending", tpl.Status)
	e.clock.Advance(time.Minute)
	require.NoError(t, work())
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.apiKey, nil).ok(reset(&tpl))
	require.Equal(t, "approved", tpl.Status)

	// End to end on River's own workers: a short delay, the clock moved past it.
	// (The second template was submitted at the start, 1 ms before its approval.)
	client, err := jobs.NewClient(e.pool, jobs.Config{Work: true, Clock: e.clock, TestOnly: true})
	require.NoError(t, err)
	done, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancel()
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	for reviewed := false; !reviewed; {
		select {
		case ev := <-done:
			require.Equal(t, river.EventKindJobCompleted, ev.Kind, "%s: %+v", ev.Job.Kind, ev.Job.Errors)
			reviewed = ev.Job.Kind == "template_fake_review"
		case <-time.After(10 * time.Second):
			t.Fatal("the review job did not run")
		}
	}
	e.do(http.MethodGet, "/v1/templates/"+second.ID, a.apiKey, nil).ok(reset(&second))
	require.Equal(t, "approved", second.Status)

	// The fake provider's signed webhook pauses it, through the webhook job.
	body, _ := json.Marshal(map[string]any{"events": []any{map[string]any{"kind": template.StatusEventKind,
		"timestamp": e.clock.Now().Add(time.Minute).Format(time.RFC3339),
		"data":      map[string]string{"event": "PAUSED", "message_template_id": args.ProviderTemplateID, "other_info.title": "FIRST_PAUSE"}}}})
	e.do(http.MethodPost, "/webhooks/fake/"+slow.ID, "", body, "X-Fake-Signature: "+fake.Sign("wh", body)).ok(nil)
	require.Equal(t, 1, e.drain().Events)
	e.do(http.MethodGet, "/v1/templates/"+tpl.ID, a.apiKey, nil).ok(reset(&tpl))
	require.Equal(t, "paused", tpl.Status)
	require.Equal(t, "FIRST_PAUSE", tpl.Reason)

	// The summary follows the library when a channel is deleted: the pending one gone, what
	// is left is approved.
	token := e.do(http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": a.refresh})
	var tok api.TokenBody
	token.ok(&tok)
	instant := e.fakeWhatsApp(tenant{token: tok.AccessToken}, "+55 11 4000-0003", nil)
	late := e.fakeWhatsApp(tenant{token: tok.AccessToken}, "+55 11 4000-0004", map[string]string{"approve_after": "24h"})
	var both api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", tok.AccessToken, orderTemplateNoCustom("ambos", instant.ID, late.ID)).ok(&both)
	e.do(http.MethodPost, "/v1/templates/"+both.ID+"/submit", tok.AccessToken, nil).ok(reset(&both))
	require.Equal(t, "pending", both.Status)
	e.do(http.MethodDelete, "/v1/channels/"+late.ID, tok.AccessToken, nil).ok(nil)
	e.do(http.MethodGet, "/v1/templates/"+both.ID, tok.AccessToken, nil).ok(reset(&both))
	require.Equal(t, "approved", both.Status)
	require.Len(t, both.Channels, 1)
}

func TestTemplatePreview(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")
	e.do(http.MethodPost, "/v1/custom-fields", a.token, map[string]any{"key": "vencimento", "type": "date"}).ok(nil)
	var tpl api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplate("pedido_enviado")).ok(reset(&tpl))
	var c api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "João Conceição", "customer_code": "CLI-9",
		"custom_fields": map[string]any{"vencimento": "2026-12-05"}}).ok(&c)
	var noCode api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "Zé", "email": "ze@example.com"}).ok(&noCode)

	var p api.TemplatePreviewBody
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", a.token, map[string]string{"contact_id": c.ID}).ok(&p)
	require.Equal(t, "Pedido CLI-9", p.Header.Text)
	require.Equal(t, "Olá João Conceição, seu pedido CLI-9 sai hoje. Vencimento: 05/12/2026.", p.Body)
	require.Equal(t, "Loja Exemplo", p.Footer)
	require.Equal(t, "https://loja.example.com/pedido/CLI-9", p.Buttons[1].URL)
	require.Empty(t, p.Unresolved)
	var byCode api.TemplatePreviewBody
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", a.token, map[string]string{"customer_code": "CLI-9"}).ok(&byCode)
	require.Equal(t, p, byCode)

	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", a.token, map[string]string{"contact_id": noCode.ID}).ok(&p)
	require.Equal(t, []string{"header:1", "body:2", "body:3", "button:1"}, p.Unresolved)
	require.Equal(t, "Olá Zé, seu pedido {{2}} sai hoje. Vencimento: {{3}}.", p.Body)

	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", a.token, map[string]string{"customer_code": "NOPE"}).problem(404)
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", a.token, map[string]string{}).problem(422)
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", a.token, map[string]string{"contact_id": "x"}).problem(422)
	var theirs api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", b.token, map[string]any{"name": "Outro", "customer_code": "CLI-X"}).ok(reset(&theirs))
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", a.token, map[string]string{"contact_id": theirs.ID}).problem(404)
	e.do(http.MethodPost, "/v1/templates/"+tpl.ID+"/preview", a.token, map[string]string{"customer_code": "CLI-X"}).problem(404)
}

// reset zeroes *v and returns v, so decoding a response into a reused variable keeps nothing
// of the previous one (encoding/json leaves fields the new body omits untouched).
func reset[T any](v *T) *T {
	var zero T
	*v = zero
	return v
}

// TestTemplateSubmitConcurrently: two submissions at once reach the provider once.
func TestTemplateSubmitConcurrently(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	srv := whatsapptest.New(t, whatsapptest.Config{WABAID: "55555"})
	e.templates.WhatsAppBaseURL = srv.URL
	var line api.ChannelBody
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "whatsapp", "name": "Vendas", "phone_number": "+55 11 4000-1001",
		"phone_number_id": "1001", "waba_id": "55555", "credentials": map[string]string{"access_token": whatsapptest.DefaultAccessToken}}).ok(&line)
	var tpl api.TemplateBody
	e.do(http.MethodPost, "/v1/templates", a.token, orderTemplateNoCustom("pedido", line.ID)).ok(&tpl)

	statuses := make(chan int, 2)
	for range 2 {
		go func() {
			req := httptest.NewRequest(http.MethodPost, "/v1/templates/"+tpl.ID+"/submit", nil)
			req.Header.Set("Authorization", "Bearer "+a.token)
			rec := httptest.NewRecorder()
			e.handler.ServeHTTP(rec, req)
			statuses <- rec.Code
		}()
	}
	got := []int{<-statuses, <-statuses}
	require.ElementsMatch(t, []int{http.StatusOK, http.StatusConflict}, got)
	require.Len(t, srv.Templates(), 1)
}
