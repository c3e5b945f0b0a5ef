package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestDepartments(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")
	var d api.DepartmentBody
	e.do(http.MethodPost, "/v1/departments", a.token, map[string]any{"name": "Cobrança"}).ok(&d)
	e.do(http.MethodPost, "/v1/departments", a.token, map[string]any{"name": "COBRANÇA"}).problem(409)
	e.do(http.MethodPost, "/v1/departments", e.newUser(a, "agent"), map[string]any{"name": "X"}).problem(403)

	var added api.TagContactsResult
	e.do(http.MethodPost, "/v1/departments/"+d.ID+"/members", a.token, map[string]any{"user_ids": []string{a.admin.ID.String()}}).ok(&added)
	require.EqualValues(t, 1, added.Changed)
	e.do(http.MethodPost, "/v1/departments/"+d.ID+"/members", a.token, map[string]any{"user_ids": []string{a.admin.ID.String()}}).ok(&added)
	require.EqualValues(t, 0, added.Changed, "adding twice changes nothing")
	p := e.do(http.MethodPost, "/v1/departments/"+d.ID+"/members", a.token, map[string]any{"user_ids": []string{b.admin.ID.String()}}).problem(422)
	require.Equal(t, []string{"body.user_ids"}, p.locations())

	var members struct{ Items []api.MemberBody }
	e.do(http.MethodGet, "/v1/departments/"+d.ID+"/members", a.apiKey, nil).ok(&members)
	require.Len(t, members.Items, 1)
	require.Equal(t, a.admin.Email, members.Items[0].Email)

	e.do(http.MethodPatch, "/v1/departments/"+d.ID, a.token, map[string]any{"name": "Cobrança PJ"}).ok(&d)
	require.Equal(t, "Cobrança PJ", d.Name)
	e.do(http.MethodDelete, "/v1/departments/"+d.ID+"/members/"+a.admin.ID.String(), a.token, nil).ok(nil)
	e.do(http.MethodDelete, "/v1/departments/"+d.ID+"/members/"+a.admin.ID.String(), a.token, nil).problem(404)
	e.do(http.MethodDelete, "/v1/departments/"+d.ID, a.token, nil).ok(nil)
	e.do(http.MethodGet, "/v1/departments/"+d.ID, a.token, nil).problem(404)
}
