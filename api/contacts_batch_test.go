package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestBatchUpsert(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	var existing api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Antes", "customer_code": "C2", "phones": []string{"11 97777-1111"}}).ok(&existing)
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Igual", "customer_code": "C3"}).ok(nil)

	body := map[string]any{"items": []map[string]any{
		{"name": "Novo", "customer_code": "C1", "phones": []string{"21 98888-0000"}},
		{"name": "Depois", "customer_code": "C2", "phones": []string{"11 97777-1111"}},
		{"name": "Igual", "customer_code": "C3"},
		{"name": "CPF ruim", "customer_code": "C4", "document": "111.111.111-11"},
		{"name": "Sem código"},
		{"name": "Telefone de outro", "customer_code": "C5", "phones": []string{"21 98888-0000"}},
	}}
	var res api.BatchResultBody
	r := e.do(http.MethodPost, "/v1/contacts/batch", a.apiKey, body, "Idempotency-Key: sync-1").ok(&res)
	require.Equal(t, http.StatusOK, r.Status)
	outcomes := make([]string, len(res.Results))
	for i, it := range res.Results {
		outcomes[i] = it.Outcome
	}
	require.Equal(t, []string{"created", "updated", "unchanged", "failed", "failed", "failed"}, outcomes)
	require.Equal(t, 1, res.Created)
	require.Equal(t, 3, res.Failed)
	require.Equal(t, existing.ID, res.Results[1].Contact.ID)
	require.Equal(t, "body.items[3].document", res.Results[3].Problem.Errors[0].Location)
	require.Equal(t, 422, res.Results[4].Problem.Status)
	require.Equal(t, 409, res.Results[5].Problem.Status, "the phone belongs to the contact created by item 0")

	// A retry with the same key replays; nothing is applied twice.
	var again api.BatchResultBody
	e.do(http.MethodPost, "/v1/contacts/batch", a.apiKey, body, "Idempotency-Key: sync-1").ok(&again)
	require.Equal(t, res, again)

	// By phone: the old 8-digit form finds the contact stored with the ninth digit.
	e.do(http.MethodPost, "/v1/contacts/batch", a.apiKey, map[string]any{"key": "phone", "items": []map[string]any{
		{"name": "Pelo telefone", "phones": []string{"+55 11 7777-1111"}, "customer_code": "C2"},
	}}).ok(&res)
	require.Equal(t, "updated", res.Results[0].Outcome)
	require.Equal(t, existing.ID, res.Results[0].Contact.ID)
	require.Equal(t, "Pelo telefone", res.Results[0].Contact.Name)

	big := make([]map[string]any, 1001)
	for i := range big {
		big[i] = map[string]any{"name": "x", "customer_code": fmt.Sprint(i)}
	}
	e.do(http.MethodPost, "/v1/contacts/batch", a.apiKey, map[string]any{"items": big}).problem(422)
	e.do(http.MethodPost, "/v1/contacts/batch", a.apiKey, map[string]any{"key": "email", "items": big[:1]}).problem(422)
}
