package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestCompanies(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")
	var co api.CompanyBody
	e.do(http.MethodPost, "/v1/companies", a.apiKey, map[string]any{"cnpj": "11.222.333/0001-81", "name": "Padaria Ltda"}).ok(&co)
	require.Equal(t, "11222333000181", co.CNPJ)
	e.do(http.MethodPost, "/v1/companies", a.apiKey, map[string]any{"cnpj": "11222333000181", "name": "Dup"}).problem(409)
	p := e.do(http.MethodPost, "/v1/companies", a.apiKey, map[string]any{"cnpj": "529.982.247-25", "name": " "}).problem(422)
	require.ElementsMatch(t, []string{"body.cnpj", "body.name"}, p.locations())

	var found api.CompanyBody
	e.do(http.MethodGet, "/v1/companies/by-cnpj/11222333000181", a.apiKey, nil).ok(&found)
	require.Equal(t, co.ID, found.ID)
	e.do(http.MethodGet, "/v1/companies/by-cnpj/11222333000181", b.apiKey, nil).problem(404)

	var c api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Dona", "customer_code": "1", "company_id": co.ID}).ok(&c)
	require.Equal(t, co.ID, c.CompanyID)
	p = e.do(http.MethodPost, "/v1/contacts", b.apiKey, map[string]any{"name": "X", "customer_code": "1", "company_id": co.ID}).problem(422)
	require.Equal(t, []string{"body.company_id"}, p.locations(), "another account's company is no company")

	e.do(http.MethodDelete, "/v1/companies/"+co.ID, a.apiKey, nil).ok(nil)
	var after api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/"+c.ID, a.apiKey, nil).ok(&after)
	require.Empty(t, after.CompanyID, "the contact stays, without the company")
}
