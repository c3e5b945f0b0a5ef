package api_test

import (
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestConsentAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Loja")
	compliance := e.newUser(a, "compliance")
	agent := e.newUser(a, "agent")
	var c api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Maria", "phones": []string{"11 98765-4321"}, "email": "maria@example.com"}).ok(&c)
	base := "/v1/contacts/" + c.ID

	grant := map[string]any{
		"action": "grant", "purposes": []string{"marketing"}, "channels": []string{"whatsapp", "email"}, "method": "checkbox",
		"text": "Aceito receber ofertas da Loja por WhatsApp e e-mail.", "ip": "203.0.113.7", "user_agent": "Mozilla/5.0",
		"source": "landing page verão", "terms_version": "v2.1", "identifier_kind": "phone", "identifier": "(11) 98765-4321",
		"occurred_at": "2026-11-20T14:30:00Z",
	}

	t.Run("IntegratorRecordsWithEvidenceOnceEvenWhenRetried", func(t *testing.T) {
		e := e.as(t)
		var r1, r2 api.ConsentRecordBody
		resp := e.do(http.MethodPost, base+"/consents", a.apiKey, grant, "Idempotency-Key: lp-1").ok(&r1)
		require.Equal(t, http.StatusCreated, resp.Status)
		require.Equal(t, 1, r1.Seq)
		require.True(t, r1.Explicit)
		require.Equal(t, "+5511987654321", r1.Identifier)
		require.Equal(t, "api_key", r1.RecordedBy.Kind)
		require.Equal(t, "2026-11-20T14:30:00Z", r1.OccurredAt.Format("2006-01-02T15:04:05Z07:00"))
		require.Len(t, r1.Hash, 64)
		e.do(http.MethodPost, base+"/consents", a.apiKey, grant, "Idempotency-Key: lp-1").ok(&r2)
		require.Equal(t, r1, r2)
	})

	t.Run("NotConsentIsRefused", func(t *testing.T) {
		e := e.as(t)
		for method, why := range map[string]string{"pre_ticked_checkbox": "pre-ticked", "inferred": "inferred", "purchased_list": "purchased"} {
			body := map[string]any{"action": "grant", "purposes": []string{"marketing"}, "all_channels": true, "method": method, "text": "x"}
			p := e.do(http.MethodPost, base+"/consents", a.apiKey, body).problem(422)
			require.Equal(t, []string{"body.method"}, p.locations())
			require.Contains(t, p.Errors[0].Message, why)
		}
		p := e.do(http.MethodPost, base+"/consents", a.apiKey, map[string]any{"action": "grant", "all_channels": true, "method": "form"}).problem(422)
		require.ElementsMatch(t, []string{"body.purposes", "body.text"}, p.locations())
		p = e.do(http.MethodPost, base+"/consents", a.apiKey, map[string]any{"action": "revoke", "occurred_at": "0001-01-01T00:00:00Z"}).problem(422)
		require.Equal(t, []string{"body.occurred_at"}, p.locations())
		e.do(http.MethodPost, base+"/consents", a.apiKey, `{"action": "revoke", "method": "x\u0000"}`).problem(422)
	})

	t.Run("ReadsNeedConsentReadAndAreLogged", func(t *testing.T) {
		e := e.as(t)
		for _, path := range []string{base + "/consents", base + "/consent-state", base + "/consents/proof", "/v1/consents", "/v1/consents/verify"} {
			e.do(http.MethodGet, path, agent, nil).problem(403)
			e.do(http.MethodGet, path, a.apiKey, nil).problem(403)
		}
		var state api.ConsentStateListBody
		e.do(http.MethodGet, base+"/consent-state", compliance, nil).ok(&state)
		var log struct{ Items []api.ConsentAccessBody }
		e.do(http.MethodGet, "/v1/consents/access-log?contact_id="+c.ID, compliance, nil).ok(&log)
		require.NotEmpty(t, log.Items)
		last := log.Items[len(log.Items)-1]
		require.Equal(t, "get-consent-state", last.Operation)
		require.Equal(t, "user", last.By.Kind)
		require.Equal(t, c.ID, last.ContactID)
	})

	t.Run("RevocationIsAlwaysAcceptedAndFlipsTheState", func(t *testing.T) {
		e := e.as(t)
		e.do(http.MethodPost, base+"/consents", a.apiKey, map[string]any{"action": "revoke", "purposes": []string{"marketing"}, "channels": []string{"email"}}).ok(nil)
		var state api.ConsentStateListBody
		e.do(http.MethodGet, base+"/consent-state", a.token, nil).ok(&state)
		got := map[string]string{}
		for _, s := range state.Items {
			got[s.Purpose+"/"+s.Channel] = s.Status
		}
		require.Equal(t, map[string]string{"marketing/whatsapp": "granted", "marketing/email": "revoked"}, got)
	})

	t.Run("DoubleOptIn", func(t *testing.T) {
		e := e.as(t)
		var pending, confirmed api.ConsentRecordBody
		e.do(http.MethodPost, base+"/consents", a.apiKey, map[string]any{"action": "pending", "purposes": []string{"notifications"},
			"channels": []string{"sms"}, "method": "form", "text": "Quer receber avisos por SMS?"}).ok(&pending)
		e.do(http.MethodPost, base+"/consents/"+pending.ID+"/confirm", a.apiKey, map[string]any{"ip": "198.51.100.4", "source": "link"}).ok(&confirmed)
		require.Equal(t, "double_opt_in", confirmed.Method)
		require.Equal(t, pending.ID, confirmed.Confirms)
		require.Equal(t, pending.Text, confirmed.Text)
		e.do(http.MethodPost, base+"/consents/"+pending.ID+"/confirm", a.apiKey, map[string]any{}).problem(409)
	})

	t.Run("SearchAndProofAndVerify", func(t *testing.T) {
		e := e.as(t)
		var found struct{ Items []api.ConsentRecordBody }
		e.do(http.MethodGet, "/v1/consents?purpose=marketing&action=revoke", compliance, nil).ok(&found)
		require.Len(t, found.Items, 1)
		e.do(http.MethodGet, "/v1/consents?channel=sms&method=double_opt_in", compliance, nil).ok(&found)
		require.Len(t, found.Items, 1)
		e.do(http.MethodGet, "/v1/consents?from=2026-11-21T00:00:00Z&until=2026-11-20T00:00:00Z", compliance, nil).ok(&found)
		require.Empty(t, found.Items)

		var proof api.ProofBody
		r := e.do(http.MethodGet, base+"/consents/proof", compliance, nil).ok(&proof)
		require.Contains(t, r.Header.Get("Content-Disposition"), "consent-proof-"+c.ID)
		require.True(t, proof.Chain.OK)
		require.Equal(t, "Maria", proof.Contact.Name)
		require.Len(t, proof.Records, 4)
		require.Equal(t, proof.Records[0].Hash, proof.Records[1].PrevHash)

		r = e.do(http.MethodGet, base+"/consents/proof?format=csv", compliance, nil)
		require.Equal(t, "text/csv; charset=utf-8", r.Header.Get("Content-Type"))
		rows, err := csv.NewReader(strings.NewReader(string(r.Body))).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 5)
		require.Equal(t, "seq", rows[0][0])
		require.Equal(t, "Aceito receber ofertas da Loja por WhatsApp e e-mail.", rows[1][9])

		var v api.VerificationBody
		e.do(http.MethodGet, "/v1/consents/verify", compliance, nil).ok(&v)
		require.True(t, v.OK)
		require.EqualValues(t, 4, v.Records)
	})

	t.Run("ErasureAnonymisesAndKeepsTheProof", func(t *testing.T) {
		e := e.as(t)
		e.do(http.MethodPost, base+"/notes", a.token, map[string]any{"body": "Maria pediu retorno"}).ok(nil)
		e.do(http.MethodDelete, base+"?erase=true", agent, nil).problem(403)
		e.do(http.MethodDelete, base+"?erase=true", compliance, nil).ok(nil)
		var erased api.ContactBody
		e.do(http.MethodGet, base, a.token, nil).ok(&erased)
		require.NotNil(t, erased.ErasedAt)
		require.Empty(t, erased.Phones)
		require.Empty(t, erased.Email)
		require.NotContains(t, string(e.do(http.MethodGet, base, a.token, nil).Body), "Maria")
		var history struct{ Items []api.ConsentRecordBody }
		e.do(http.MethodGet, base+"/consents", compliance, nil).ok(&history)
		require.Len(t, history.Items, 4, "the records are legal proof and stay")
		var notes struct{ Items []api.NoteBody }
		e.do(http.MethodGet, base+"/notes", a.token, nil).ok(&notes)
		require.Empty(t, notes.Items, "notes about the person go with the erasure")
		// The number is free for a new contact.
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Nova", "phones": []string{"11 98765-4321"}}).ok(nil)
	})
}

func TestConsentSettingsAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Loja")
	var st api.ConsentSettingsBody
	e.do(http.MethodGet, "/v1/consent-settings", a.token, nil).ok(&st)
	require.Equal(t, []string{"SAIR", "PARAR", "STOP", "CANCELAR"}, st.OptOutKeywords)
	e.do(http.MethodGet, "/v1/consent-settings", e.newUser(a, "supervisor"), nil).problem(403)

	body, _ := json.Marshal(map[string]any{"opt_out_keywords": []string{"sair", "Não quero"}, "opt_in_keywords": []string{"sair"}, "opt_out_reply": "", "opt_in_reply": "ok"})
	p := e.do(http.MethodPut, "/v1/consent-settings", a.token, body).problem(422)
	require.ElementsMatch(t, []string{"body.opt_out_keywords[1]", "body.opt_in_keywords", "body.opt_out_reply"}, p.locations())

	e.do(http.MethodPut, "/v1/consent-settings", a.token, map[string]any{"opt_out_keywords": []string{"Descadastrar", "pare"},
		"opt_in_keywords": []string{"sim"}, "opt_out_reply": "Feito.", "opt_in_reply": "Confirmado."}).ok(&st)
	require.Equal(t, []string{"DESCADASTRAR", "PARE"}, st.OptOutKeywords)
}
