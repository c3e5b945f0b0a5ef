package api_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestMergeContacts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	other := e.newTenant("Other")
	compliance := e.newUser(a, "compliance")

	var keep, dup api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "Maria", "phones": []string{"11 98888-1111"},
		"email": "maria@example.com", "tags": []string{"vip"}}).ok(&keep)
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Maria S.", "customer_code": "CRM-9",
		"phones": []string{"11 97777-2222", "21 96666-3333"}, "email": "other@example.com", "tags": []string{"lead"},
		"birth_date": "1990-04-01", "priority": "high", "broadcast": false}).ok(&dup)
	require.Equal(t, "manual", keep.Origin, "a user created it in a frontend")
	require.Equal(t, "api", dup.Origin, "an integrator's key created it")

	// What the duplicate has: a note, a static segment membership, consent decisions.
	e.do(http.MethodPost, "/v1/contacts/"+dup.ID+"/notes", a.token, map[string]any{"body": "Ligou pedindo boleto"}).ok(nil)
	var seg api.SegmentBody
	e.do(http.MethodPost, "/v1/segments", a.token, map[string]any{"name": "Carteira SP"}).ok(&seg)
	e.do(http.MethodPost, "/v1/segments/"+seg.ID+"/members", a.token, map[string]any{"contact_ids": []string{dup.ID}}).ok(nil)
	consent := func(id string, body map[string]any) {
		t.Helper()
		e.do(http.MethodPost, "/v1/contacts/"+id+"/consents", a.apiKey, body).ok(nil)
	}
	// The survivor revoked marketing everywhere in January; the duplicate granted it on
	// WhatsApp in March: the later decision holds on WhatsApp, the revocation elsewhere.
	consent(keep.ID, map[string]any{"action": "revoke", "purposes": []string{"marketing"}, "occurred_at": "2026-01-10T12:00:00Z"})
	consent(dup.ID, map[string]any{"action": "grant", "purposes": []string{"marketing"}, "channels": []string{"whatsapp"},
		"method": "form", "text": "Aceito ofertas", "occurred_at": "2026-03-01T12:00:00Z"})
	// The survivor granted service on e-mail after the duplicate revoked it everywhere.
	consent(dup.ID, map[string]any{"action": "revoke", "purposes": []string{"service"}, "channels": []string{"email", "sms"},
		"occurred_at": "2026-02-01T12:00:00Z"})
	consent(keep.ID, map[string]any{"action": "grant", "purposes": []string{"service"}, "channels": []string{"email"},
		"method": "checkbox", "text": "Avisos de pedido", "occurred_at": "2026-02-05T12:00:00Z"})

	t.Run("BadRequests", func(t *testing.T) {
		e := e.as(t)
		p := e.do(http.MethodPost, "/v1/contacts/"+keep.ID+"/merge", a.token, map[string]any{"contact_id": keep.ID}).problem(422)
		require.Equal(t, []string{"body.contact_id"}, p.locations())
		e.do(http.MethodPost, "/v1/contacts/"+keep.ID+"/merge", a.token, map[string]any{"contact_id": "nope"}).problem(422)
		e.do(http.MethodPost, "/v1/contacts/"+keep.ID+"/merge", a.token, `{"contact_id": `).problem(400)
		e.do(http.MethodPost, "/v1/contacts/"+keep.ID+"/merge", a.token, map[string]any{"contact_id": "0190e4a0-0000-7000-8000-000000000000"}).problem(404)
		// Another account cannot merge these, nor merge its own contact into them.
		var theirs api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", other.token, map[string]any{"name": "X", "customer_code": "X"}).ok(&theirs)
		e.do(http.MethodPost, "/v1/contacts/"+keep.ID+"/merge", other.token, map[string]any{"contact_id": dup.ID}).problem(404)
		e.do(http.MethodPost, "/v1/contacts/"+keep.ID+"/merge", a.token, map[string]any{"contact_id": theirs.ID}).problem(404)
		e.do(http.MethodPost, "/v1/contacts/"+theirs.ID+"/merge", other.token, map[string]any{"contact_id": dup.ID}).problem(404)
		e.do(http.MethodGet, "/v1/contacts/"+dup.ID, a.token, nil).ok(nil)
	})

	var res api.MergeBody
	e.do(http.MethodPost, "/v1/contacts/"+keep.ID+"/merge", a.token, map[string]any{"contact_id": dup.ID}).ok(&res)
	got := res.Contact
	require.False(t, res.Replayed)
	require.Equal(t, keep.ID, got.ID)
	require.Equal(t, "Maria", got.Name, "the survivor's values win")
	require.Equal(t, "maria@example.com", got.Email)
	require.Equal(t, "CRM-9", got.CustomerCode, "gaps are filled from the duplicate")
	require.Equal(t, "1990-04-01", got.BirthDate)
	require.Equal(t, "high", got.Priority, "the survivor had no priority of its own")
	require.False(t, got.Broadcast, "broadcasts stay on only if both accepted them")
	require.ElementsMatch(t, []string{"vip", "lead"}, got.Tags)
	numbers := []string{}
	for _, p := range got.Phones {
		numbers = append(numbers, p.Number)
	}
	require.Equal(t, []string{"+5511988881111", "+5511977772222", "+5521966663333"}, numbers)
	require.EqualValues(t, 1, res.Moved.Notes)
	require.EqualValues(t, 1, res.Moved.Segments)
	require.EqualValues(t, 2, res.Moved.Phones)
	require.Greater(t, res.Moved.ConsentRecords, 0)

	// The duplicate is gone; its phones and customer code now find the survivor.
	e.do(http.MethodGet, "/v1/contacts/"+dup.ID, a.token, nil).problem(404)
	var byPhone api.ContactBody
	e.do(http.MethodGet, "/v1/contacts/by-phone/+5521966663333", a.token, nil).ok(&byPhone)
	require.Equal(t, keep.ID, byPhone.ID)
	var notes struct{ Items []api.NoteBody }
	e.do(http.MethodGet, "/v1/contacts/"+keep.ID+"/notes", a.token, nil).ok(&notes)
	require.Len(t, notes.Items, 1)
	var segs struct{ Items []struct{ ID string } }
	e.do(http.MethodGet, "/v1/contacts/"+keep.ID+"/segments", a.token, nil).ok(&segs)
	require.Len(t, segs.Items, 1)
	require.Equal(t, seg.ID, segs.Items[0].ID)

	// Consent: the later decision of the two on each pair.
	var state api.ConsentStateListBody
	e.do(http.MethodGet, "/v1/contacts/"+keep.ID+"/consent-state", compliance, nil).ok(&state)
	status := map[string]string{}
	for _, s := range state.Items {
		status[s.Purpose+"/"+s.Channel] = s.Status
	}
	require.Equal(t, "granted", status["marketing/whatsapp"], "the duplicate's later grant")
	require.Equal(t, "revoked", status["marketing/email"], "the survivor's revocation where the duplicate said nothing")
	require.Equal(t, "granted", status["service/email"], "the survivor's later grant")
	require.Equal(t, "revoked", status["service/sms"], "the duplicate's revocation where the survivor said nothing")
	// The duplicate's records stay where they were, still readable as proof, and every chain
	// still verifies.
	var history struct{ Items []api.ConsentRecordBody }
	e.do(http.MethodGet, "/v1/contacts/"+dup.ID+"/consents", compliance, nil).ok(&history)
	require.Len(t, history.Items, 2)
	e.do(http.MethodGet, "/v1/contacts/"+keep.ID+"/consents", compliance, nil).ok(&history)
	require.Contains(t, history.Items[len(history.Items)-1].Source, "merge of contact "+dup.ID)
	var v api.VerificationBody
	e.do(http.MethodGet, "/v1/consents/verify", compliance, nil).ok(&v)
	require.True(t, v.OK)

	t.Run("RetryAnswersTheSame", func(t *testing.T) {
		e := e.as(t)
		var again api.MergeBody
		e.do(http.MethodPost, "/v1/contacts/"+keep.ID+"/merge", a.token, map[string]any{"contact_id": dup.ID}).ok(&again)
		require.True(t, again.Replayed)
		require.Equal(t, got.Version, again.Contact.Version, "nothing changed")
		// Into another contact, it is a conflict that names the survivor.
		var third api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "C", "customer_code": "C-1"}).ok(&third)
		p := e.do(http.MethodPost, "/v1/contacts/"+third.ID+"/merge", a.token, map[string]any{"contact_id": dup.ID}).problem(409)
		require.Contains(t, p.Detail, keep.ID)
	})

	t.Run("ABlockOnEitherBlocksTheSurvivor", func(t *testing.T) {
		e := e.as(t)
		var merged api.MergeBody
		var c1, c2 api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "Bloq", "customer_code": "B-1"}).ok(&c1)
		e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "Bloq 2", "customer_code": "B-2"}).ok(&c2)
		e.do(http.MethodPost, "/v1/contacts/"+c2.ID+"/block", a.token, nil).ok(nil)
		e.do(http.MethodPost, "/v1/contacts/"+c1.ID+"/merge", a.token, map[string]any{"contact_id": c2.ID}).ok(&merged)
		require.True(t, merged.Contact.Blocked)
		require.Equal(t, "B-1", merged.Contact.CustomerCode, "the survivor's code wins")
	})

	t.Run("ErasedContactsAreNotMerged", func(t *testing.T) {
		e := e.as(t)
		var c1, c2 api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "E", "customer_code": "E-1"}).ok(&c1)
		e.do(http.MethodPost, "/v1/contacts", a.token, map[string]any{"name": "E2", "customer_code": "E-2"}).ok(&c2)
		r := e.do(http.MethodDelete, "/v1/contacts/"+c2.ID+"?erase=true", a.token, nil)
		require.Equal(t, http.StatusNoContent, r.Status)
		e.do(http.MethodPost, "/v1/contacts/"+c1.ID+"/merge", a.token, map[string]any{"contact_id": c2.ID}).problem(409)
	})
}
