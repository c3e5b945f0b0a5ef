package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestSegmentsAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	e.do(http.MethodPost, "/v1/custom-fields", a.token, map[string]any{"key": "limite", "type": "number"}).ok(nil)
	var d api.DepartmentBody
	e.do(http.MethodPost, "/v1/departments", a.token, map[string]any{"name": "Cobrança"}).ok(&d)
	var rich, poor, static api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Rica", "customer_code": "1", "tags": []string{"vip"}, "custom_fields": map[string]any{"limite": 9000}}).ok(&rich)
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Pobre", "customer_code": "2", "tags": []string{"vip"}, "custom_fields": map[string]any{"limite": 10}}).ok(&poor)
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Estática", "customer_code": "3"}).ok(&static)

	var seg api.SegmentBody
	e.do(http.MethodPost, "/v1/segments", a.token, map[string]any{
		"name": "Carteira Premium", "priority": 90, "sla_minutes": 30, "distribution": "automatic", "auto_tags": []string{"premium"},
		"department_ids": []string{d.ID}, "user_ids": []string{a.admin.ID.String()},
		"rules": map[string]any{"tags_any": []string{"VIP"}, "custom": []map[string]any{{"key": "limite", "op": "gte", "value": 5000}}},
	}).ok(&seg)
	require.Equal(t, []string{"vip"}, seg.Rules.TagsAny, "rule tags take the catalogue's spelling")
	require.Equal(t, []string{d.ID}, seg.DepartmentIDs)

	var added api.TagContactsResult
	e.do(http.MethodPost, "/v1/segments/"+seg.ID+"/members", a.apiKey, map[string]any{"contact_ids": []string{static.ID}}).ok(&added)
	require.EqualValues(t, 1, added.Changed)
	var count api.CountBody
	e.do(http.MethodGet, "/v1/segments/"+seg.ID+"/count", a.apiKey, nil).ok(&count)
	require.EqualValues(t, 2, count.Count)
	var members struct{ Items []api.SegmentMemberBody }
	e.do(http.MethodGet, "/v1/segments/"+seg.ID+"/members", a.apiKey, nil).ok(&members)
	require.ElementsMatch(t, []string{rich.ID, static.ID}, []string{members.Items[0].ID, members.Items[1].ID})

	var refs struct{ Items []api.SegmentRefBody }
	e.do(http.MethodGet, "/v1/contacts/"+rich.ID+"/segments", a.apiKey, nil).ok(&refs)
	require.Len(t, refs.Items, 1)
	e.do(http.MethodGet, "/v1/contacts/"+poor.ID+"/segments", a.apiKey, nil).ok(&refs)
	require.Empty(t, refs.Items)
	var got api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/"+static.ID, a.apiKey, nil).ok(&got)
	require.Contains(t, got.Tags, "premium", "a new static member gets the automatic tags at once")
	var ruled api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/"+rich.ID, a.apiKey, nil).ok(&ruled)
	require.NotContains(t, ruled.Tags, "premium", "rule members get them from the periodic sync")

	p := e.do(http.MethodPost, "/v1/segments", a.token, map[string]any{"name": "Bad", "rules": map[string]any{
		"custom": []map[string]any{{"key": "limite", "op": "gte", "value": "muito"}}}}).problem(422)
	require.Equal(t, []string{"body.rules.custom[0].value"}, p.locations())
	e.do(http.MethodPost, "/v1/segments", a.token, map[string]any{"name": "carteira premium"}).problem(409)
	e.do(http.MethodPost, "/v1/segments", a.apiKey, map[string]any{"name": "X"}).problem(403)

	// Saving again with the same departments and users keeps them (and does not fail).
	e.do(http.MethodPut, "/v1/segments/"+seg.ID, a.token, map[string]any{"name": "Carteira Premium", "department_ids": []string{d.ID, d.ID},
		"user_ids": []string{a.admin.ID.String()}, "auto_tags": []string{"premium"}, "rules": map[string]any{"tags_all": []string{"vip"}}}).ok(&seg)
	require.Equal(t, []string{d.ID}, seg.DepartmentIDs)
	// Tags and custom fields a segment uses cannot be renamed or deleted from under it.
	var tags struct{ Items []api.TagBody }
	e.do(http.MethodGet, "/v1/tags?prefix=vip", a.token, nil).ok(&tags)
	e.do(http.MethodPatch, "/v1/tags/"+tags.Items[0].ID, a.token, map[string]any{"name": "VIP Plus"}).problem(409)
	e.do(http.MethodDelete, "/v1/tags/"+tags.Items[0].ID, a.token, nil).problem(409)
	var fields struct{ Items []api.CustomFieldBody }
	e.do(http.MethodGet, "/v1/custom-fields", a.token, nil).ok(&fields)
	e.do(http.MethodPost, "/v1/segments", a.token, map[string]any{"name": "Limite alto", "rules": map[string]any{
		"custom": []map[string]any{{"key": "limite", "op": "gt", "value": 1}}}}).ok(nil)
	e.do(http.MethodDelete, "/v1/custom-fields/"+fields.Items[0].ID, a.token, nil).problem(409)
	e.do(http.MethodGet, "/v1/segments/"+seg.ID+"/count", a.apiKey, nil).ok(&count)
	require.EqualValues(t, 3, count.Count)
	e.do(http.MethodDelete, "/v1/segments/"+seg.ID, a.token, nil).ok(nil)
	e.do(http.MethodGet, "/v1/segments/"+seg.ID, a.apiKey, nil).problem(404)
}
