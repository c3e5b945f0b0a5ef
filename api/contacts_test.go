package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestCreateContact(t *testing.T) {
	t.Parallel()

	t.Run("NormalisesAndStores", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var c api.ContactBody
		r := e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{
			"name": "  Maria da Silva ", "document": "529.982.247-25", "phones": []string{"(11) 8765-4321", "+1 415 555 2671"},
			"email": "Maria@Example.com", "birth_date": "1990-05-17", "tags": []string{"vip", "vip", "sp"}, "priority": "high",
		}).ok(&c)
		require.Equal(t, http.StatusCreated, r.Status)
		require.Equal(t, "/v1/contacts/"+c.ID, r.Header.Get("Location"))
		require.Equal(t, `"1"`, r.Header.Get("ETag"))
		require.Equal(t, "Maria da Silva", c.Name)
		require.Equal(t, "52998224725", c.Document)
		require.Equal(t, "cpf", c.DocumentKind)
		require.Equal(t, []api.ContactPhone{{Number: "+5511987654321"}, {Number: "+14155552671", Foreign: true}}, c.Phones)
		require.Equal(t, "maria@example.com", c.Email)
		require.Equal(t, "1990-05-17", c.BirthDate)
		require.Equal(t, []string{"vip", "sp"}, c.Tags)
		require.True(t, c.Broadcast)

		var got api.ContactBody
		e.do(http.MethodGet, "/v1/contacts/"+c.ID, a.token, nil).ok(&got)
		require.Equal(t, c, got)
	})

	t.Run("InvalidFieldsAreReportedTogetherAndNothingIsStored", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		p := e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{
			"name": "X", "document": "529.982.247-26", "phones": []string{"98765-4321", "(11) 98765-4321"}, "email": "no-at-sign",
		}).problem(422)
		require.ElementsMatch(t, []string{"body.document", "body.phones[0]", "body.email"}, p.locations())
		var list struct{ Items []api.ContactBody }
		e.do(http.MethodGet, "/v1/contacts", a.apiKey, nil).ok(&list)
		require.Empty(t, list.Items)
	})

	nasty := []struct {
		name, body string
		status     int
	}{
		{"MalformedJSON", `{"name": "X", "phones": [`, 400},
		{"WrongType", `{"name": ["X"], "customer_code": "1"}`, 422},
		{"UnknownField", `{"name": "X", "customer_code": "1", "is_admin": true}`, 422},
		{"NoIdentifier", `{"name": "Only a name"}`, 422},
		{"EmptyName", `{"name": "   ", "customer_code": "1"}`, 422},
		{"InvalidCNPJ", `{"name": "X", "document": "11.222.333/0001-82"}`, 422},
		{"ForeignInvalidPhone", `{"name": "X", "phones": ["+1 123"]}`, 422},
		{"TooManyPhones", `{"name": "X", "phones": ["1","2","3","4","5","6","7","8","9","10","11"]}`, 422},
		{"BadDate", `{"name": "X", "customer_code": "1", "birth_date": "31/12/1990"}`, 422},
		{"FutureBirth", `{"name": "X", "customer_code": "1", "birth_date": "2999-01-01"}`, 422},
		{"ScoreOutOfRange", `{"name": "X", "customer_code": "1", "priority_score": 101}`, 422},
		{"UnknownResponsibleUser", `{"name": "X", "customer_code": "1", "responsible_user_id": "01890000-0000-7000-8000-000000000000"}`, 422},
		{"NULByte", `{"name": "A\u0000B", "customer_code": "1"}`, 422},
		{"NULInCustomerCode", `{"name": "A", "customer_code": "x\u0000"}`, 422},
		{"HugeBody", `{"name": "` + strings.Repeat("x", 70<<10) + `", "customer_code": "1"}`, 413},
	}
	for _, tc := range nasty {
		t.Run("Refuses"+tc.name, func(t *testing.T) {
			t.Parallel()
			e := setup(t)
			a := e.newTenant("Acme")
			e.do(http.MethodPost, "/v1/contacts", a.apiKey, tc.body).problem(tc.status)
		})
	}

	t.Run("APhoneBelongsToOneContactWithOrWithoutTheNinthDigit", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var first api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "A", "phones": []string{"+55 11 98765-4321"}}).ok(&first)
		p := e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "B", "phones": []string{"11 8765-4321"}}).problem(409)
		require.Equal(t, []string{"body.phones[0]"}, p.locations())
		require.Contains(t, p.Errors[0].Message, first.ID)

		var found api.ContactBody
		e.do(http.MethodGet, "/v1/contacts/by-phone/+551187654321", a.apiKey, nil).ok(&found)
		require.Equal(t, first.ID, found.ID)
		e.do(http.MethodGet, "/v1/contacts/by-phone/12345", a.apiKey, nil).problem(422)
		e.do(http.MethodGet, "/v1/contacts/by-phone/+5511912345678", a.apiKey, nil).problem(404)
	})

	t.Run("CustomerCodeIsUnique", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "A", "customer_code": "C-1"}).ok(nil)
		p := e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "B", "customer_code": "C-1"}).problem(409)
		require.Equal(t, []string{"body.customer_code"}, p.locations())
	})

	t.Run("IdempotencyKeyReplaysTheFirstAnswer", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		body := `{"name": "Retry Me", "customer_code": "R-1"}`
		var first, second api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, body, "Idempotency-Key: k-1").ok(&first)
		r := e.do(http.MethodPost, "/v1/contacts", a.apiKey, body, "Idempotency-Key: k-1").ok(&second)
		require.Equal(t, http.StatusCreated, r.Status)
		require.Equal(t, "true", r.Header.Get("Idempotent-Replayed"))
		require.Equal(t, first, second)

		p := e.do(http.MethodPost, "/v1/contacts", a.apiKey, `{"name": "Other", "customer_code": "R-2"}`, "Idempotency-Key: k-1").problem(422)
		require.Equal(t, []string{"header.Idempotency-Key"}, p.locations())

		// A failed call stores nothing under its key: fixing the body and retrying works.
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, `{"name": "Bad"}`, "Idempotency-Key: k-2").problem(422)
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, `{"name": "Good", "customer_code": "R-3"}`, "Idempotency-Key: k-2").ok(nil)
	})

	t.Run("ConcurrentRetriesCreateOneContact", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var wg sync.WaitGroup
		ids := make([]string, 8)
		for i := range ids {
			wg.Go(func() {
				var c api.ContactBody
				e.do(http.MethodPost, "/v1/contacts", a.apiKey, `{"name": "Once", "customer_code": "O-1"}`, "Idempotency-Key: same").ok(&c)
				ids[i] = c.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			require.Equal(t, ids[0], id)
		}
	})
}

func TestListContacts(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	for i := range 25 {
		body := map[string]any{"name": fmt.Sprintf("Person %02d", i), "customer_code": fmt.Sprintf("P-%02d", i),
			"phones": []string{fmt.Sprintf("+55 21 99999-00%02d", i)}}
		if i%5 == 0 {
			body["tags"] = []string{"five"}
			body["priority"] = "high"
		}
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, body).ok(nil)
	}
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Zé Ninguém", "document": "111.444.777-35", "customer_code": "ZE"}).ok(nil)

	type page struct {
		Items      []api.ContactBody `json:"items"`
		NextCursor string            `json:"next_cursor"`
	}
	list := func(t *testing.T, query string) []string {
		e := e.as(t)
		var names []string
		cursor := ""
		for pages := 0; pages < 100; pages++ {
			var p page
			e.do(http.MethodGet, "/v1/contacts?limit=10&"+query+"&cursor="+cursor, a.apiKey, nil).ok(&p)
			for _, c := range p.Items {
				names = append(names, c.Name)
			}
			if p.NextCursor == "" {
				return names
			}
			cursor = p.NextCursor
		}
		t.Fatal("pagination does not end")
		return nil
	}

	t.Run("PagesThroughEverythingInCreationOrder", func(t *testing.T) {
		t.Parallel()
		names := list(t, "")
		require.Len(t, names, 26)
		require.Equal(t, "Person 00", names[0])
		require.Equal(t, "Zé Ninguém", names[25])
	})
	filters := []struct {
		query string
		want  int
	}{
		{"tag=five", 5},
		{"priority=high", 5},
		{"blocked=false", 26},
		{"blocked=true", 0},
		{"q=person%201", 10},      // name, case-insensitive
		{"q=P-07", 1},             // customer code
		{"q=111.444", 1},          // CPF prefix
		{"q=21%2099999-001", 10},  // phone prefix, written with DDD
		{"q=%2B552199999001", 10}, // phone prefix, E.164
		{"q=100%25", 0},           // LIKE wildcards are literal
	}
	for _, f := range filters {
		t.Run("Filter_"+f.query, func(t *testing.T) {
			t.Parallel()
			require.Len(t, list(t, f.query), f.want)
		})
	}
	t.Run("BadParametersAreProblems", func(t *testing.T) {
		t.Parallel()
		e := e.as(t)
		e.do(http.MethodGet, "/v1/contacts?limit=0", a.apiKey, nil).problem(422)
		e.do(http.MethodGet, "/v1/contacts?limit=1000", a.apiKey, nil).problem(422)
		e.do(http.MethodGet, "/v1/contacts?cursor=%25%25", a.apiKey, nil).problem(422)
		e.do(http.MethodGet, "/v1/contacts?cursor=bm90LWEtY3Vyc29y", a.apiKey, nil).problem(422)
		e.do(http.MethodGet, "/v1/contacts?blocked=maybe", a.apiKey, nil).problem(422)
		e.do(http.MethodGet, "/v1/contacts?q=a%00b", a.apiKey, nil).problem(422)
		e.do(http.MethodGet, "/v1/contacts?q=%ff%fe", a.apiKey, nil).problem(422)
		e.do(http.MethodPut, "/v1/contacts/by-code/a%00b", a.apiKey, map[string]any{"name": "x"}).problem(422)
	})
}

func TestUpdateContact(t *testing.T) {
	t.Parallel()

	t.Run("PatchKeepsAbsentFieldsAndNullClears", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var c api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "A", "customer_code": "A-1", "email": "a@example.com", "tags": []string{"x"}}).ok(&c)
		var u api.ContactBody
		r := e.do(http.MethodPatch, "/v1/contacts/"+c.ID, a.apiKey, `{"email": null, "phones": ["11 91234-5678"], "broadcast": false}`).ok(&u)
		require.Equal(t, `"2"`, r.Header.Get("ETag"))
		require.Empty(t, u.Email)
		require.Equal(t, "A-1", u.CustomerCode)
		require.Equal(t, []string{"x"}, u.Tags)
		require.False(t, u.Broadcast)
		require.Equal(t, "+5511912345678", u.Phones[0].Number)

		// Removing the last identifier is refused, and nothing changes.
		e.do(http.MethodPatch, "/v1/contacts/"+c.ID, a.apiKey, `{"customer_code": null, "phones": []}`).problem(422)
		e.do(http.MethodPatch, "/v1/contacts/"+c.ID, a.apiKey, `{"name": null}`).problem(422)
		var after api.ContactBody
		e.do(http.MethodGet, "/v1/contacts/"+c.ID, a.apiKey, nil).ok(&after)
		require.Equal(t, u, after)
	})

	t.Run("IfMatchRefusesAStaleWrite", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var c api.ContactBody
		e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "A", "customer_code": "A-1"}).ok(&c)
		e.do(http.MethodPatch, "/v1/contacts/"+c.ID, a.apiKey, `{"name": "B"}`, `If-Match: "1"`).ok(nil)
		e.do(http.MethodPatch, "/v1/contacts/"+c.ID, a.apiKey, `{"name": "C"}`, `If-Match: "1"`).problem(412)
		r := e.do(http.MethodGet, "/v1/contacts/"+c.ID, a.apiKey, nil, `If-None-Match: "2"`)
		require.Equal(t, http.StatusNotModified, r.Status)
	})

	t.Run("UpsertByCodeIsIdempotent", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		body := map[string]any{"name": "CRM Person", "phones": []string{"(31) 98888-7777"}, "tags": []string{"crm"}}
		var c1, c2, c3 api.ContactBody
		r := e.do(http.MethodPut, "/v1/contacts/by-code/CRM-9", a.apiKey, body).ok(&c1)
		require.Equal(t, http.StatusCreated, r.Status)
		require.Equal(t, "CRM-9", c1.CustomerCode)
		r = e.do(http.MethodPut, "/v1/contacts/by-code/CRM-9", a.apiKey, body).ok(&c2)
		require.Equal(t, http.StatusOK, r.Status)
		require.Equal(t, c1, c2, "the same sync changes nothing, not even the version")
		body["name"] = "CRM Person Renamed"
		e.do(http.MethodPut, "/v1/contacts/by-code/CRM-9", a.apiKey, body).ok(&c3)
		require.Equal(t, c1.ID, c3.ID)
		require.Equal(t, 2, c3.Version)
		p := e.do(http.MethodPut, "/v1/contacts/by-code/CRM-9", a.apiKey, map[string]any{"name": "X", "customer_code": "OTHER"}).problem(422)
		require.Equal(t, []string{"body.customer_code"}, p.locations())
	})

	t.Run("ConcurrentFirstSyncsMakeOneContact", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var wg sync.WaitGroup
		ids := make([]string, 6)
		for i := range ids {
			wg.Go(func() {
				var c api.ContactBody
				e.do(http.MethodPut, "/v1/contacts/by-code/RACE", a.apiKey, map[string]any{"name": "Race"}).ok(&c)
				ids[i] = c.ID
			})
		}
		wg.Wait()
		for _, id := range ids {
			require.Equal(t, ids[0], id)
		}
	})
}

func TestBlockAndDelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	var c api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "A", "customer_code": "A-1", "phones": []string{"11 97777-6666"}}).ok(&c)

	var b api.ContactBody
	e.do(http.MethodPost, "/v1/contacts/"+c.ID+"/block", a.apiKey, nil).ok(&b)
	require.True(t, b.Blocked)
	e.do(http.MethodPost, "/v1/contacts/"+c.ID+"/block", a.apiKey, nil).ok(&b)
	require.Equal(t, 2, b.Version, "blocking twice changes nothing")
	var list struct{ Items []api.ContactBody }
	e.do(http.MethodGet, "/v1/contacts?blocked=true", a.apiKey, nil).ok(&list)
	require.Len(t, list.Items, 1)

	e.do(http.MethodDelete, "/v1/contacts/"+c.ID, a.apiKey, nil).problem(409)
	e.do(http.MethodGet, "/v1/contacts/"+c.ID, a.apiKey, nil).ok(nil)
	e.do(http.MethodPost, "/v1/contacts/"+c.ID+"/unblock", a.apiKey, nil).ok(nil)
	r := e.do(http.MethodDelete, "/v1/contacts/"+c.ID, a.apiKey, nil)
	require.Equal(t, http.StatusNoContent, r.Status)
	e.do(http.MethodGet, "/v1/contacts/"+c.ID, a.apiKey, nil).problem(404)
	e.do(http.MethodDelete, "/v1/contacts/"+c.ID, a.apiKey, nil).problem(404)
	// Its phone is free again.
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "B", "phones": []string{"11 97777-6666"}}).ok(nil)
	e.do(http.MethodGet, "/v1/contacts/not-a-uuid", a.apiKey, nil).problem(422)
}
