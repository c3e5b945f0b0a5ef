package api_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/account"
)

func TestNotes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	other := e.newTenant("Other")
	supervisor := e.newUser(a, "supervisor")
	agent := e.newUser(a, "agent")
	_, err := account.CreateUser(context.Background(), e.pool, account.NewUser{AccountID: a.account.ID, Email: "noter@example.com",
		Password: testPassword, Role: "agent", Permissions: []string{"contact_notes"}})
	require.NoError(t, err)
	var tok api.TokenBody
	e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": "noter@example.com", "password": testPassword}).ok(&tok)
	noter := tok.AccessToken

	var c api.ContactBody
	e.do(http.MethodPost, "/v1/contacts", a.apiKey, map[string]any{"name": "Maria", "customer_code": "M1"}).ok(&c)
	path := "/v1/contacts/" + c.ID + "/notes"

	// The permission, not the role, decides.
	e.do(http.MethodPost, path, agent, map[string]any{"body": "x"}).problem(403)
	e.do(http.MethodGet, path, a.apiKey, nil).problem(403)
	var first api.NoteBody
	e.do(http.MethodPost, path, noter, map[string]any{"body": "Pediu retorno amanhã", "due_at": "2026-11-23T12:00:00Z",
		"forwarded_to_id": a.admin.ID.String()}).ok(&first)
	require.Equal(t, a.admin.ID.String(), first.ForwardedToID)
	for i := range 3 {
		e.clock.Advance(time.Second)
		e.do(http.MethodPost, path, supervisor, map[string]any{"body": fmt.Sprintf("nota %d", i)}).ok(nil)
	}

	var page1, page2 struct {
		Items      []api.NoteBody `json:"items"`
		NextCursor string         `json:"next_cursor"`
	}
	e.do(http.MethodGet, path+"?limit=3", a.token, nil).ok(&page1)
	require.Equal(t, []string{"nota 2", "nota 1", "nota 0"}, []string{page1.Items[0].Body, page1.Items[1].Body, page1.Items[2].Body})
	e.do(http.MethodGet, path+"?limit=3&cursor="+page1.NextCursor, a.token, nil).ok(&page2)
	require.Len(t, page2.Items, 1)
	require.Equal(t, first.ID, page2.Items[0].ID)
	require.Empty(t, page2.NextCursor)

	p := e.do(http.MethodPost, path, noter, map[string]any{"body": "x", "forwarded_to_id": other.admin.ID.String()}).problem(422)
	require.Equal(t, []string{"body.forwarded_to_id"}, p.locations())
	e.do(http.MethodPost, path, noter, map[string]any{"body": "   "}).problem(422)
	e.do(http.MethodPost, "/v1/contacts/01890000-0000-7000-8000-000000000000/notes", noter, map[string]any{"body": "x"}).problem(404)

	// Only the author or an admin deletes.
	e.do(http.MethodDelete, path+"/"+first.ID, supervisor, nil).problem(404)
	e.do(http.MethodDelete, path+"/"+first.ID, noter, nil).ok(nil)
	e.do(http.MethodDelete, path+"/"+page1.Items[0].ID, a.token, nil).ok(nil)
}
