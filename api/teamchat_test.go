package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/account"
)

// chatUser is a user of a tenant, logged in.
type chatUser struct {
	id    string
	token string
}

func (e *testEnv) chatUser(a tenant, name, role string) chatUser {
	e.t.Helper()
	email := name + "-" + a.account.ID.String()[:8] + "@example.com"
	u, err := account.CreateUser(context.Background(), e.pool, account.NewUser{AccountID: a.account.ID, Email: email, Name: name, Password: testPassword, Role: role})
	require.NoError(e.t, err)
	var tok api.TokenBody
	e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": testPassword}).ok(&tok)
	return chatUser{id: u.ID.String(), token: tok.AccessToken}
}

func TestTeamChatThreadsAndVisibility(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Team")
	ana, bia, caio := e.chatUser(a, "ana", "agent"), e.chatUser(a, "bia", "agent"), e.chatUser(a, "caio", "agent")
	ctx := context.Background()
	post := func(u chatUser, body map[string]any) api.TeamMessageBody {
		var m api.TeamMessageBody
		e.do(http.MethodPost, "/v1/team-chat/messages", u.token, body).status(201).ok(&m)
		return m
	}
	threads := func(u chatUser) []api.TeamThreadBody {
		var l api.TeamThreadsBody
		e.do(http.MethodGet, "/v1/team-chat/threads", u.token, nil).ok(&l)
		return l.Items
	}

	first := post(ana, map[string]any{"to_user_id": bia.id, "body": "Bia, pode pegar o cliente da fila?"})
	reply := post(bia, map[string]any{"to_user_id": ana.id, "body": "Pego sim"})
	require.Equal(t, first.ThreadID, reply.ThreadID, "one direct thread for the pair, whoever writes")
	post(ana, map[string]any{"to_user_id": bia.id, "body": "Obrigada!"})
	room := post(caio, map[string]any{"room": true, "body": "Reunião às 15h"})

	// Bia: the room (newest) then the thread with Ana, one unread there (Ana's last).
	bt := threads(bia)
	require.Len(t, bt, 2)
	require.Equal(t, "room", bt[0].Kind)
	require.Equal(t, int64(1), bt[0].Unread)
	require.Equal(t, first.ThreadID, bt[1].ID)
	require.Equal(t, ana.id, *bt[1].WithUserID)
	require.Equal(t, "Obrigada!", bt[1].LastMessage.Body)
	require.Equal(t, int64(1), bt[1].Unread, "replying marks what came before read: only Ana's later message is unread")
	e.do(http.MethodPost, "/v1/team-chat/threads/"+first.ThreadID+"/read", bia.token, nil).status(204)
	bt = threads(bia)
	require.Zero(t, bt[1].Unread)
	// Ana has written last in her thread: nothing unread there.
	at := threads(ana)
	require.Len(t, at, 2)
	require.Zero(t, at[1].Unread)

	// Caio is not in the direct thread: he sees only the room, and the thread is a 404 to him.
	ct := threads(caio)
	require.Len(t, ct, 1)
	require.Equal(t, room.ThreadID, ct[0].ID)
	e.do(http.MethodGet, "/v1/team-chat/threads/"+first.ThreadID+"/messages", caio.token, nil).problem(404)
	e.do(http.MethodPost, "/v1/team-chat/threads/"+first.ThreadID+"/read", caio.token, nil).problem(404)

	// Messages newest first, by pages.
	var p1, p2 struct {
		Items      []api.TeamMessageBody
		NextCursor string `json:"next_cursor"`
	}
	e.do(http.MethodGet, "/v1/team-chat/threads/"+first.ThreadID+"/messages?limit=2", ana.token, nil).ok(&p1)
	require.Equal(t, []string{"Obrigada!", "Pego sim"}, []string{p1.Items[0].Body, p1.Items[1].Body})
	e.do(http.MethodGet, "/v1/team-chat/threads/"+first.ThreadID+"/messages?limit=2&cursor="+p1.NextCursor, ana.token, nil).ok(&p2)
	require.Len(t, p2.Items, 1)
	require.Equal(t, first.ID, p2.Items[0].ID)
	require.Empty(t, p2.NextCursor)
	e.do(http.MethodGet, "/v1/team-chat/threads/"+first.ThreadID+"/messages?cursor=bad", ana.token, nil).problem(422)

	// Events: a direct message is addressed to its two users and carries no body; an agent
	// outside the thread does not see it.
	e.publish()
	seen := func(u chatUser) (direct, rooms int) {
		var page api.EventListBody
		e.do(http.MethodGet, "/v1/events?after=0&types=team_chat.message", u.token, nil).ok(&page)
		for _, ev := range page.Items {
			require.NotContains(t, string(ev.Data), "Obrigada", "no body in events")
			require.NotContains(t, string(ev.Data), "Reunião")
			if strings.Contains(string(ev.Data), `"direct"`) {
				direct++
			} else {
				rooms++
			}
		}
		return direct, rooms
	}
	d, r := seen(bia)
	require.Equal(t, 3, d)
	require.Equal(t, 1, r)
	d, r = seen(caio)
	require.Zero(t, d, "outside the thread")
	require.Equal(t, 1, r)
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM messages").Scan(&n))
	require.Zero(t, n, "nothing goes to contacts")
}

func TestTeamChatRefusalsAndTenancy(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Team")
	b := e.newTenant("Other team")
	ana := e.chatUser(a, "ana", "agent")
	bob := e.chatUser(b, "bob", "agent")
	var m api.TeamMessageBody
	e.do(http.MethodPost, "/v1/team-chat/messages", a.token, map[string]any{"to_user_id": ana.id, "body": "Oi Ana"}).status(201).ok(&m)
	ctx := context.Background()
	count := func() int {
		var n int
		require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM team_messages").Scan(&n))
		return n
	}

	tests := []struct {
		name   string
		token  string
		body   any
		status int
	}{
		{"AnotherAccountsUser", a.token, map[string]any{"to_user_id": bob.id, "body": "oi"}, 404},
		{"UnknownUser", a.token, map[string]any{"to_user_id": uuid.NewString(), "body": "oi"}, 404},
		{"Oneself", ana.token, map[string]any{"to_user_id": ana.id, "body": "oi"}, 422},
		{"Neither", ana.token, map[string]any{"body": "oi"}, 422},
		{"Both", ana.token, map[string]any{"to_user_id": a.admin.ID.String(), "room": true, "body": "oi"}, 422},
		{"EmptyBody", ana.token, map[string]any{"room": true, "body": "   "}, 422},
		{"LongBody", ana.token, map[string]any{"room": true, "body": strings.Repeat("a", 4097)}, 422},
		{"WrongType", ana.token, map[string]any{"room": "yes", "body": "oi"}, 422},
		{"NotAUUID", ana.token, map[string]any{"to_user_id": "ana", "body": "oi"}, 422},
		{"UnknownField", ana.token, map[string]any{"room": true, "body": "oi", "to": "x"}, 422},
		{"APIKey", a.apiKey, map[string]any{"room": true, "body": "oi"}, 403},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.as(t).do(http.MethodPost, "/v1/team-chat/messages", tc.token, tc.body).problem(tc.status)
		})
	}
	require.Equal(t, 1, count(), "refusals store nothing")

	// Another account's user does not find the thread, nor sees it listed.
	e.do(http.MethodGet, "/v1/team-chat/threads/"+m.ThreadID+"/messages", bob.token, nil).problem(404)
	e.do(http.MethodGet, "/v1/team-chat/threads/"+m.ThreadID+"/messages", b.token, nil).problem(404)
	e.do(http.MethodPost, "/v1/team-chat/threads/"+m.ThreadID+"/read", bob.token, nil).problem(404)
	e.do(http.MethodGet, "/v1/team-chat/threads/nope/messages", ana.token, nil).problem(422)
	var l api.TeamThreadsBody
	e.do(http.MethodGet, "/v1/team-chat/threads", bob.token, nil).ok(&l)
	require.Empty(t, l.Items)
	// The rooms of two accounts are apart.
	e.do(http.MethodPost, "/v1/team-chat/messages", bob.token, map[string]any{"room": true, "body": "sala B"}).status(201)
	e.do(http.MethodGet, "/v1/team-chat/threads", ana.token, nil).ok(reset(&l))
	require.Len(t, l.Items, 1)
	require.Equal(t, "direct", l.Items[0].Kind)
	require.Equal(t, int64(1), l.Items[0].Unread)
}
