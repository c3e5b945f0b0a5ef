package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestCustomFields(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	define := func(body map[string]any) api.CustomFieldBody {
		var f api.CustomFieldBody
		e.do(http.MethodPost, "/v1/custom-fields", a.token, body).ok(&f)
		return f
	}
	plan := define(map[string]any{"key": "plano", "label": "Plano", "type": "choice", "choices": []string{"ouro", "prata"}, "on_close": "required"})
	define(map[string]any{"key": "limite", "type": "number"})
	define(map[string]any{"key": "cliente_desde", "type": "date"})
	define(map[string]any{"key": "ativo", "type": "boolean"})
	foto := define(map[string]any{"key": "foto", "type": "image_url"})

	e.do(http.MethodPost, "/v1/custom-fields", a.token, map[string]any{"key": "plano", "type": "text"}).problem(409)
	p := e.do(http.MethodPost, "/v1/custom-fields", a.token, map[string]any{"key": "Bad Key", "type": "choice"}).problem(422)
	require.ElementsMatch(t, []string{"body.key", "body.choices"}, p.locations())
	e.do(http.MethodPost, "/v1/custom-fields", a.apiKey, map[string]any{"key": "x", "type": "text"}).problem(403)

	var c api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "A", "customer_code": "1",
		"custom_fields": map[string]any{"plano": "ouro", "limite": 1500.5, "cliente_desde": "2020-01-31", "ativo": true, "foto": "https://x.example/a.png"}}).ok(&c)
	require.Equal(t, map[string]any{"plano": "ouro", "limite": 1500.5, "cliente_desde": "2020-01-31", "ativo": true, "foto": "https://x.example/a.png"}, c.CustomFields)

	p = e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "B", "customer_code": "2",
		"custom_fields": map[string]any{"plano": "bronze", "limite": "muito", "cliente_desde": "31/01/2020", "ativo": "sim", "foto": "javascript:alert(1)", "nope": 1}}).problem(422)
	require.ElementsMatch(t, []string{"body.custom_fields.plano", "body.custom_fields.limite", "body.custom_fields.cliente_desde",
		"body.custom_fields.ativo", "body.custom_fields.foto", "body.custom_fields.nope"}, p.locations())

	// PATCH merges; null removes one value.
	var u api.ContactBody
	e.do(http.MethodPatch, "/v1/contacts/"+c.ID, a.apiKey, map[string]any{"custom_fields": map[string]any{"plano": "prata", "limite": nil}}).ok(&u)
	require.Equal(t, "prata", u.CustomFields["plano"])
	require.NotContains(t, u.CustomFields, "limite")
	require.Equal(t, true, u.CustomFields["ativo"])

	// A choice in use stays; an unused one goes; deleting a field removes its values.
	e.do(http.MethodPatch, "/v1/custom-fields/"+plan.ID, a.token, map[string]any{"choices": []string{"ouro"}}).problem(409)
	e.do(http.MethodPatch, "/v1/custom-fields/"+plan.ID, a.token, map[string]any{"choices": []string{"prata", "diamante"}, "label": "Plano contratado"}).ok(nil)
	e.do(http.MethodDelete, "/v1/custom-fields/"+foto.ID, a.token, nil).ok(nil)
	var after api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/"+c.ID, a.apiKey, nil).ok(&after)
	require.NotContains(t, after.CustomFields, "foto")
	require.Equal(t, "prata", after.CustomFields["plano"])
	var list struct{ Items []api.CustomFieldBody }
	e.do(http.MethodGet, "/v1/custom-fields", a.apiKey, nil).ok(&list)
	require.Len(t, list.Items, 4)
}
