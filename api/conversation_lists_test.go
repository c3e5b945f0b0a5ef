package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

type conversationPage struct {
	Items      []api.ConversationListItem
	NextCursor string `json:"next_cursor"`
}

// ids lists a page's conversation ids in order.
func (p conversationPage) ids() []string {
	out := make([]string, len(p.Items))
	for i, c := range p.Items {
		out[i] = c.ID
	}
	return out
}

func TestConversationListsAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	a := e.newTenant("Lists")
	line := e.whatsappLine(a, "+55 11 4000-2000")
	other := e.whatsappLine(a, "+55 11 4000-2001")
	agentToken := e.newUser(a, "agent")
	var agentID uuid.UUID
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT id FROM users WHERE account_id = $1 AND role = 'agent'", a.account.ID).Scan(&agentID))

	// Three conversations opened a minute apart (c1 first), a fourth on the other line.
	c1 := e.inbound(a, line, "5511911110001", "Oi")
	e.clock.Advance(time.Minute)
	c2 := e.inbound(a, line, "5511911110002", "Bom dia")
	e.clock.Advance(time.Minute)
	c3 := e.inbound(a, line, "5511911110003", "Olá")
	e.clock.Advance(time.Minute)
	c4 := e.inbound(a, other, "5511911110004", "Boa tarde")
	for id, name := range map[string]string{c1.ContactID: "Ana Beatriz", c2.ContactID: "João Pedro", c3.ContactID: "Maria Clara", c4.ContactID: "José Carlos"} {
		_, err := e.pool.Exec(ctx, "UPDATE contacts SET name = $1 WHERE id = $2", name, id)
		require.NoError(t, err)
	}
	// c1 now has the latest message; c2 is the agent's; c3 waits in a department the agent is not in.
	e.clock.Advance(time.Minute)
	e.inbound(a, line, "5511911110001", "Alguém aí?")
	var dept api.DepartmentBody
	e.do(http.MethodPost, "/v1/departments", a.token, map[string]any{"name": "Cobrança"}).ok(&dept)
	_, err := e.pool.Exec(ctx, "UPDATE conversations SET agent_id = $1 WHERE id = $2", agentID, c2.ID)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, "UPDATE conversations SET department_id = $1 WHERE id = $2", dept.ID, c3.ID)
	require.NoError(t, err)

	list := func(token, query string) conversationPage {
		t.Helper()
		var p conversationPage
		e.do(http.MethodGet, "/v1/conversations?"+query, token, nil).ok(&p)
		return p
	}

	t.Run("orders, paged by cursor", func(t *testing.T) {
		for _, tc := range []struct {
			order string
			want  []string
		}{
			{"latest_message", []string{c1.ID, c4.ID, c3.ID, c2.ID}},
			{"oldest_message", []string{c2.ID, c3.ID, c4.ID, c1.ID}},
			{"newest_opening", []string{c4.ID, c3.ID, c2.ID, c1.ID}},
			{"oldest_opening", []string{c1.ID, c2.ID, c3.ID, c4.ID}},
		} {
			require.Equal(t, tc.want, list(a.token, "order="+tc.order).ids(), tc.order)
			// One at a time: every conversation once, in the same order.
			var got []string
			cursor := ""
			for range 10 {
				p := list(a.token, "limit=1&order="+tc.order+"&cursor="+cursor)
				got = append(got, p.ids()...)
				if cursor = p.NextCursor; cursor == "" {
					break
				}
			}
			require.Equal(t, tc.want, got, tc.order+", paged")
		}
		e.do(http.MethodGet, "/v1/conversations?order=alphabetical", a.token, nil).problem(http.StatusUnprocessableEntity)
		e.do(http.MethodGet, "/v1/conversations?cursor=bm9wZQ", a.token, nil).problem(http.StatusUnprocessableEntity)
	})

	t.Run("views", func(t *testing.T) {
		// The admin is in no department: the open view hides c3's department and c2's agent.
		require.ElementsMatch(t, []string{c1.ID, c4.ID}, list(a.token, "view=open").ids())
		require.ElementsMatch(t, []string{c1.ID, c3.ID, c4.ID}, list(a.apiKey, "view=open").ids(), "an API key sees every department")
		_, err := e.pool.Exec(ctx, "INSERT INTO department_members (account_id, department_id, user_id, added_at) VALUES ($1, $2, $3, now())", a.account.ID, dept.ID, agentID)
		require.NoError(t, err)
		require.ElementsMatch(t, []string{c1.ID, c3.ID, c4.ID}, list(agentToken, "view=open").ids(), "the agent's department")
		require.Equal(t, []string{c2.ID}, list(agentToken, "view=mine").ids())
		require.Empty(t, list(a.token, "view=mine").Items)
		require.Equal(t, []string{c2.ID}, list(a.token, "view=in_attendance").ids())
		require.Len(t, list(a.token, "view=all").Items, 4)
		p := e.do(http.MethodGet, "/v1/conversations?view=mine", a.apiKey, nil).problem(http.StatusUnprocessableEntity)
		require.Contains(t, p.Detail, "API key")
	})

	t.Run("filters", func(t *testing.T) {
		require.Equal(t, []string{c4.ID}, list(a.token, "channel_id="+other).ids())
		require.Equal(t, []string{c2.ID}, list(a.token, "agent_id="+agentID.String()).ids())
		require.Equal(t, []string{c3.ID}, list(a.token, "department_id="+dept.ID).ids())
		require.Empty(t, list(a.token, "view=open&department_id="+dept.ID).Items, "the admin is not in the department")
		require.Empty(t, list(a.token, "campaign_id="+uuid.NewString()).Items)
		require.Empty(t, list(a.token, "status=closed").Items)
	})

	t.Run("tags", func(t *testing.T) {
		var vip, late api.TagBody
		e.do(http.MethodPost, "/v1/tags", a.token, map[string]any{"name": "VIP"}).ok(&vip)
		e.do(http.MethodPost, "/v1/tags", a.token, map[string]any{"name": "Retorno", "automation_only": true}).ok(&late)
		for _, ct := range []struct{ conv, tag string }{{c1.ID, vip.ID}, {c1.ID, late.ID}, {c3.ID, late.ID}} {
			_, err := e.pool.Exec(ctx, "INSERT INTO conversation_tags (account_id, conversation_id, tag_id, created_at) VALUES ($1, $2, $3, now())",
				a.account.ID, ct.conv, ct.tag)
			require.NoError(t, err)
		}
		require.Equal(t, []string{c1.ID}, list(a.token, "tag_id="+vip.ID).ids())
		require.Equal(t, []string{c1.ID, c3.ID}, list(a.token, "tag_id="+late.ID).ids())
		tags := map[string][]string{}
		for _, c := range list(a.token, "view=all").Items {
			tags[c.ID] = c.Tags
		}
		require.Equal(t, map[string][]string{c1.ID: {"Retorno", "VIP"}, c2.ID: {}, c3.ID: {"Cobrança", "Retorno"}, c4.ID: {}}, tags,
			"c3 is routed to Cobrança: the department's tag shows while it is")
		e.do(http.MethodGet, "/v1/conversations?tag_id=nope", a.token, nil).problem(http.StatusUnprocessableEntity)
	})

	t.Run("an agent sees its own, its departments' and its segments' conversations", func(t *testing.T) {
		// The agent is in Cobrança (the views above added it), the newcomer in no department.
		newcomer := e.newNamedUser(a, "agent", "newcomer")
		require.ElementsMatch(t, []string{c1.ID, c2.ID, c3.ID, c4.ID}, list(agentToken, "view=all").ids())
		require.ElementsMatch(t, []string{c1.ID, c2.ID, c4.ID}, list(newcomer, "view=all").ids(), "c3 is Cobrança's")
		require.Len(t, list(a.token, "view=all").Items, 4, "an admin sees all")
		e.do(http.MethodGet, "/v1/conversations/"+c3.ID, agentToken, nil).ok(nil)
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, ""}, {http.MethodGet, "/messages"}, {http.MethodPost, "/read"}, {http.MethodPost, "/unread"},
			{http.MethodDelete, "/close"},
		} {
			e.do(r.method, "/v1/conversations/"+c3.ID+r.path, newcomer, nil).problem(http.StatusNotFound)
		}
		e.do(http.MethodPost, "/v1/conversations/"+c3.ID+"/messages", newcomer, map[string]any{"text": "oi"}).problem(http.StatusNotFound)
		e.do(http.MethodPost, "/v1/conversations/"+c3.ID+"/close", newcomer, map[string]any{}).problem(http.StatusNotFound)
		e.do(http.MethodPost, "/v1/conversations/"+c3.ID+"/assign", newcomer, map[string]any{"agent_id": agentID}).problem(http.StatusNotFound)
		var found struct{ Items []api.AttendanceBody }
		e.do(http.MethodGet, "/v1/attendances?protocol="+c3.Attendance.Protocol, newcomer, nil).ok(&found)
		require.Empty(t, found.Items, "the protocol search finds only conversations the agent sees")
		e.do(http.MethodGet, "/v1/attendances?protocol="+c3.Attendance.Protocol, agentToken, nil).ok(&found)
		require.Len(t, found.Items, 1)
		p := e.do(http.MethodPost, "/v1/contacts/"+c3.ContactID+"/schedules", newcomer, map[string]any{"kind": "appointment",
			"conversation_id": c3.ID, "at": e.clock.Now().Add(time.Hour)}).problem(http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.conversation_id"}, p.locations(), "no callback on a conversation the agent does not see")
		var still api.ConversationBody
		e.do(http.MethodGet, "/v1/conversations/"+c3.ID, a.token, nil).ok(&still)
		require.Equal(t, "open", still.Status, "nothing the newcomer tried changed it")
		require.Equal(t, dept.ID, still.DepartmentID)
		var scheduled int
		require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM schedules WHERE conversation_id = $1", c3.ID).Scan(&scheduled))
		require.Zero(t, scheduled)
	})

	t.Run("a malformed query string is a problem, not an unfiltered list", func(t *testing.T) {
		for _, q := range []string{"cursor=%%%", "view=open&tag_id=%zz", "q=100%"} {
			p := e.do(http.MethodGet, "/v1/conversations?"+q, a.token, nil).problem(http.StatusBadRequest)
			require.Contains(t, p.Detail, "malformed query string", q)
		}
		require.Len(t, list(a.token, "q="+url.QueryEscape("100%")).Items, 0, "an escaped percent sign is a search like any other")
	})

	t.Run("search by name, phone and active protocol", func(t *testing.T) {
		for q, want := range map[string][]string{
			"clara":                {c3.ID},
			"jo":                   {c2.ID, c4.ID}, // João, José
			"11 91111-0004":        {c4.ID},
			"+5511911110001":       {c1.ID},
			c2.Attendance.Protocol: {c2.ID},
			"100%":                 {},
		} {
			require.ElementsMatch(t, want, list(a.token, "q="+url.QueryEscape(q)).ids(), q)
		}
		_, err := e.pool.Exec(ctx, "UPDATE attendances SET closed_at = $1 WHERE id = $2", e.clock.Now(), c2.Attendance.ID)
		require.NoError(t, err)
		require.Empty(t, list(a.token, "q="+c2.Attendance.Protocol).Items, "a closed protocol is not searched")
	})

	t.Run("read state per user", func(t *testing.T) {
		unread := func(token string) map[string]bool {
			out := map[string]bool{}
			for _, c := range list(token, "view=all").Items {
				require.NotNil(t, c.Unread)
				out[c.ID] = *c.Unread
			}
			return out
		}
		require.True(t, unread(a.token)[c1.ID], "the contact wrote and nobody read")
		e.do(http.MethodPost, "/v1/conversations/"+c1.ID+"/read", a.token, nil).status(http.StatusNoContent)
		require.False(t, unread(a.token)[c1.ID])
		require.True(t, unread(agentToken)[c1.ID], "another user's read mark is theirs")
		require.NotContains(t, list(a.token, "unread=true").ids(), c1.ID)
		require.Contains(t, list(a.token, "unread=false").ids(), c1.ID)

		e.clock.Advance(time.Minute)
		e.inbound(a, line, "5511911110001", "Ainda estou esperando")
		require.True(t, unread(a.token)[c1.ID], "the contact wrote again")
		e.do(http.MethodPost, "/v1/conversations/"+c1.ID+"/read", a.token, nil).status(http.StatusNoContent)
		e.do(http.MethodPost, "/v1/conversations/"+c1.ID+"/unread", a.token, nil).status(http.StatusNoContent)
		require.True(t, unread(a.token)[c1.ID], "marked unread")
		e.do(http.MethodPost, "/v1/conversations/"+c1.ID+"/read", a.token, nil).status(http.StatusNoContent)
		require.False(t, unread(a.token)[c1.ID])

		for _, c := range list(a.apiKey, "view=all").Items {
			require.Nil(t, c.Unread, "an API key has no read state")
		}
		e.do(http.MethodGet, "/v1/conversations?unread=true", a.apiKey, nil).problem(http.StatusUnprocessableEntity)
		e.do(http.MethodPost, "/v1/conversations/"+c1.ID+"/read", a.apiKey, nil).problem(http.StatusUnprocessableEntity)
		b := e.newTenant("Lists other")
		e.do(http.MethodPost, "/v1/conversations/"+c1.ID+"/read", b.token, nil).problem(http.StatusNotFound)
		e.do(http.MethodPost, "/v1/conversations/"+c1.ID+"/unread", b.token, nil).problem(http.StatusNotFound)
		require.Empty(t, list(b.token, "view=all").Items, "another account sees none of them")
	})

	t.Run("unanswered time and its colour", func(t *testing.T) {
		// The API key: the advancing clock would expire a user's access token.
		c := list(a.apiKey, "q=5511911110004").Items[0]
		require.NotNil(t, c.UnansweredSince)
		waited := e.clock.Now().Sub(*c.UnansweredSince)
		for _, tc := range []struct {
			at     time.Duration
			colour string
		}{{14 * time.Minute, "green"}, {15 * time.Minute, "blue"}, {45 * time.Minute, "orange"}, {61 * time.Minute, "red"}} {
			e.clock.Advance(tc.at - waited)
			waited = tc.at
			require.Equal(t, tc.colour, list(a.apiKey, "q=5511911110004").Items[0].UnansweredColour, tc.at)
		}
		require.Equal(t, "José Carlos", c.ContactName)
	})
}

// TestUnansweredTime: the first unanswered message of the contact counts; more messages of the
// contact and internal notes do not move it; a reply stops it; closing hides it, but a message
// left unanswered before the close still counts when the contact writes again.
func TestUnansweredTime(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Unanswered")
	line := e.whatsappLine(a, "+55 11 4000-4000")
	get := func(id string) api.ConversationBody {
		t.Helper()
		var c api.ConversationBody
		e.do(http.MethodGet, "/v1/conversations/"+id, a.apiKey, nil).ok(&c)
		return c
	}
	c := e.inbound(a, line, "5511966660001", "Oi")
	first := *c.UnansweredSince
	e.clock.Advance(time.Minute)
	e.inbound(a, line, "5511966660001", "Alô?")
	require.Equal(t, first, *get(c.ID).UnansweredSince, "the first unanswered message counts")
	e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/messages", a.token, map[string]any{"text": "/interna verificar boleto"}).status(202)
	require.Equal(t, first, *get(c.ID).UnansweredSince, "an internal note is no answer")
	e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/messages", a.token, map[string]any{"text": "Olá! Já vejo."}).status(202)
	require.Nil(t, get(c.ID).UnansweredSince, "the reply stops it")

	e.clock.Advance(time.Minute)
	e.inbound(a, line, "5511966660001", "Mais uma dúvida")
	again := *get(c.ID).UnansweredSince
	require.True(t, again.After(first))
	e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.token, map[string]any{"message": ""}).ok(nil)
	closed := get(c.ID)
	require.Equal(t, "closed", closed.Status)
	require.Nil(t, closed.UnansweredSince, "closing hides it")
	require.Empty(t, closed.UnansweredColour)
	e.clock.Advance(time.Hour)
	a.token = e.login(a)
	e.inbound(a, line, "5511966660001", "Voltei")
	reopened := get(c.ID)
	require.Equal(t, "open", reopened.Status)
	require.Equal(t, again, *reopened.UnansweredSince, "the message left unanswered before the close still counts")
	require.Equal(t, "red", reopened.UnansweredColour)
}
