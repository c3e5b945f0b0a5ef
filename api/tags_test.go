package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestTags(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	b := e.newTenant("Other")

	// Tags given on a contact enter the catalogue, spelt as the catalogue spells them.
	var vip api.TagBody
	e.do(http.MethodPost, "/v1/tags", a.token, map[string]any{"name": "VIP", "color": "#AA0000"}).ok(&vip)
	require.Equal(t, "#aa0000", vip.Color)
	e.do(http.MethodPost, "/v1/tags", a.token, map[string]any{"name": "vip"}).problem(409)
	var c1, c2, c3 api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "A", "customer_code": "1", "tags": []string{"vip", "Novo"}}).ok(&c1)
	require.Equal(t, []string{"VIP", "Novo"}, c1.Tags)
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "B", "customer_code": "2"}).ok(&c2)
	e.do(http.MethodPost, "/v1/contacts", b.apiKey, map[string]any{"name": "Other's", "customer_code": "1"}).ok(&c3)
	var list struct{ Items []api.TagBody }
	e.do(http.MethodGet, "/v1/tags", a.apiKey, nil).ok(&list)
	require.Len(t, list.Items, 2)

	// Bulk tagging counts what changed and ignores another account's contacts.
	var res api.TagContactsResult
	e.do(http.MethodPost, "/v1/tags/"+vip.ID+"/contacts", a.apiKey, map[string]any{"contact_ids": []string{c1.ID, c2.ID, c3.ID}}).ok(&res)
	require.EqualValues(t, 1, res.Changed)
	var other api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/"+c3.ID, b.apiKey, nil).ok(&other)
	require.Empty(t, other.Tags)

	// A rename follows onto the contacts; a delete removes the tag from them.
	var renamed api.TagBody
	e.do(http.MethodPatch, "/v1/tags/"+vip.ID, a.token, map[string]any{"name": "Cliente VIP", "automation_only": true}).ok(&renamed)
	var got api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/"+c2.ID, a.apiKey, nil).ok(&got)
	require.Equal(t, []string{"Cliente VIP"}, got.Tags)
	e.do(http.MethodGet, "/v1/tags?manual=true", a.apiKey, nil).ok(&list)
	require.Len(t, list.Items, 1, "automation-only tags are hidden from manual lists")
	e.do(http.MethodGet, "/v1/tags?prefix=cli", a.apiKey, nil).ok(&list)
	require.Len(t, list.Items, 1)
	var list2 struct{ Items []api.ContactBody }
	e.do(http.MethodGet, "/v1/contacts?tag=Cliente%20VIP", a.apiKey, nil).ok(&list2)
	require.Len(t, list2.Items, 2)

	e.do(http.MethodPost, "/v1/tags/"+vip.ID+"/contacts/remove", a.apiKey, map[string]any{"contact_ids": []string{c2.ID}}).ok(&res)
	require.EqualValues(t, 1, res.Changed)
	e.do(http.MethodDelete, "/v1/tags/"+vip.ID, a.token, nil).ok(nil)
	e.do(http.MethodGet, "/v1/contacts/"+c1.ID, a.apiKey, nil).ok(&got)
	require.Equal(t, []string{"Novo"}, got.Tags)

	e.do(http.MethodPost, "/v1/tags", a.token, map[string]any{"name": "x", "color": "red"}).problem(422)
	e.do(http.MethodPost, "/v1/tags/"+vip.ID+"/contacts", a.apiKey, map[string]any{"contact_ids": []string{c1.ID}}).problem(404)
	e.do(http.MethodPost, "/v1/tags/"+renamed.ID+"/contacts", a.apiKey, map[string]any{"contact_ids": []string{"nope"}}).problem(422)
}
