package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

// agentState is a conversation's agent and department as stored.
func (e *testEnv) agentState(id string) (agent, dept *uuid.UUID) {
	e.t.Helper()
	require.NoError(e.t, e.pool.QueryRow(context.Background(), `SELECT agent_id, department_id FROM conversations WHERE id = $1`, id).Scan(&agent, &dept))
	return agent, dept
}

func TestQueueAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	agent := e.newUser(a, "agent")
	line := e.whatsappLine(a, "+55 11 4000-1234")
	first := e.inbound(a, line, "5511987650001", "Oi")
	e.clock.Advance(time.Minute)
	second := e.inbound(a, line, "5511987650002", "Olá")

	// The order with its summary, paged.
	var q api.QueueBody
	e.do(http.MethodGet, "/v1/queue", agent, nil).ok(&q)
	require.Equal(t, 2, q.Waiting)
	require.False(t, q.Urgent, "WhatsApp 80, no appointment")
	require.Equal(t, []api.QueueChannelCount{{ChannelID: line, ChannelType: "whatsapp", Waiting: 2}}, q.ByChannel)
	require.Len(t, q.Items, 2)
	require.Equal(t, first.ID, q.Items[0].ConversationID, "older first")
	require.Equal(t, 1, q.Items[0].Position)
	require.Equal(t, 80, q.Items[0].Priority)
	require.Equal(t, "Maria", q.Items[0].ContactName)
	var p1, p2 api.QueueBody
	e.do(http.MethodGet, "/v1/queue?limit=1", agent, nil).ok(&p1)
	require.Len(t, p1.Items, 1)
	require.NotEmpty(t, p1.NextCursor)
	e.do(http.MethodGet, "/v1/queue?limit=1&cursor="+p1.NextCursor, agent, nil).ok(&p2)
	require.Equal(t, second.ID, p2.Items[0].ConversationID)
	require.Equal(t, 2, p2.Items[0].Position)
	require.Empty(t, p2.NextCursor)

	// Next: the oldest to the first caller, the other to the next, then nothing.
	var got api.ConversationBody
	e.do(http.MethodPost, "/v1/queue/next", agent, nil).ok(&got)
	require.Equal(t, first.ID, got.ID)
	require.NotEmpty(t, got.AgentID)
	require.NotNil(t, got.Attendance, "the answer shows the conversation as assigned, with its open attendance")
	require.NotEmpty(t, got.Attendance.Protocol)
	e.do(http.MethodPost, "/v1/queue/next", a.token, nil).ok(&got)
	require.Equal(t, second.ID, got.ID)
	require.Equal(t, a.admin.ID.String(), got.AgentID)
	p := e.do(http.MethodPost, "/v1/queue/next", agent, nil).problem(404)
	require.Contains(t, p.Detail, "waiting conversation")
	e.do(http.MethodGet, "/v1/queue", agent, nil).ok(&q)
	require.Zero(t, q.Waiting)
	require.Empty(t, q.Items)
	require.Empty(t, q.ByChannel)
}

func TestQueueAPIRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	line := e.whatsappLine(a, "+55 11 4000-1234")
	c := e.inbound(a, line, "5511987650001", "Oi")
	assign := "/v1/conversations/" + c.ID + "/assign"

	// An API key is not an agent.
	e.do(http.MethodPost, "/v1/queue/next", a.apiKey, nil).problem(403)
	e.do(http.MethodGet, "/v1/queue", "", nil).problem(401)
	for _, tc := range []struct {
		name, path string
	}{
		{"limit zero", "/v1/queue?limit=0"},
		{"limit too big", "/v1/queue?limit=201"},
		{"forged cursor", "/v1/queue?cursor=abc"},
		{"cursor past the listed positions", "/v1/queue?limit=50&cursor=cQAAJw8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.as(t).do(http.MethodGet, tc.path, a.token, nil).problem(422)
		})
	}

	// Assignment: bad inputs are problems and change nothing.
	var dept api.DepartmentBody
	e.do(http.MethodPost, "/v1/departments", a.token, map[string]any{"name": "Vendas"}).ok(&dept)
	for _, tc := range []struct {
		name   string
		path   string
		body   any
		status int
	}{
		{"nothing", assign, map[string]any{}, 422},
		{"two targets", assign, map[string]any{"agent_id": a.admin.ID, "department_id": dept.ID}, 422},
		{"agent not a uuid", assign, map[string]any{"agent_id": "nope"}, 422},
		{"unknown agent", assign, map[string]any{"agent_id": uuid.Must(uuid.NewV7())}, 422},
		{"unknown department", assign, map[string]any{"department_id": uuid.Must(uuid.NewV7())}, 422},
		{"unknown routing", assign, map[string]any{"department_id": dept.ID, "routing": "sideways"}, 422},
		{"routing without department", assign, map[string]any{"agent_id": a.admin.ID, "routing": "automatic"}, 422},
		{"flow name too long", assign, map[string]any{"flow": string(make([]byte, 101))}, 422},
		{"malformed JSON", assign, `{"agent_id":`, 400},
		{"wrong type", assign, map[string]any{"flow": 7}, 422},
		{"path id not a uuid", "/v1/conversations/nope/assign", map[string]any{"agent_id": a.admin.ID}, 422},
		{"unknown conversation", "/v1/conversations/" + uuid.Must(uuid.NewV7()).String() + "/assign", map[string]any{"agent_id": a.admin.ID}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.as(t).do(http.MethodPost, tc.path, a.token, tc.body).problem(tc.status)
		})
	}
	agent, d := e.agentState(c.ID)
	require.Nil(t, agent)
	require.Nil(t, d)

	// Another account's conversation is not found, whatever the body.
	b := e.newTenant("Other")
	e.do(http.MethodPost, assign, b.token, map[string]any{"agent_id": b.admin.ID}).problem(404)
	e.do(http.MethodPost, assign, b.token, map[string]any{"flow": "x"}).problem(404)
	agent, _ = e.agentState(c.ID)
	require.Nil(t, agent)
	// Its queue is its own.
	var q api.QueueBody
	e.do(http.MethodGet, "/v1/queue", b.token, nil).ok(&q)
	require.Zero(t, q.Waiting)
	e.do(http.MethodPost, "/v1/queue/next", b.token, nil).problem(404)
}

// Assignment over HTTP, and the reply rule on the agent's send path.
func TestAssignAndReplyAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	a := e.newTenant("Acme")
	agentToken := e.newUser(a, "agent")
	line := e.whatsappLine(a, "+55 11 4000-1234")
	c := e.inbound(a, line, "5511987650001", "Oi")
	var dept api.DepartmentBody
	e.do(http.MethodPost, "/v1/departments", a.token, map[string]any{"name": "Vendas"}).ok(&dept)
	assign := "/v1/conversations/" + c.ID + "/assign"
	msgs := "/v1/conversations/" + c.ID + "/messages"

	// Forwarded to a department by hand: it waits for the department, no agent.
	var out api.AssignmentBody
	e.do(http.MethodPost, assign, a.token, map[string]any{"department_id": dept.ID}).ok(&out)
	require.Equal(t, api.AssignmentBody{ConversationID: c.ID, Status: "open", DepartmentID: dept.ID}, out)

	// An internal note is not a reply.
	e.do(http.MethodPost, msgs, a.token, map[string]any{"text": "/interna vejo isso"}).status(202)
	agent, d := e.agentState(c.ID)
	require.Nil(t, agent)
	require.Equal(t, dept.ID, d.String())

	// The admin replies: he becomes the agent, the department stays.
	e.do(http.MethodPost, msgs, a.token, map[string]any{"text": "Olá, posso ajudar?"}).status(202)
	agent, d = e.agentState(c.ID)
	require.Equal(t, a.admin.ID, *agent)
	require.Equal(t, dept.ID, d.String())

	// A second agent replying does not take over (one of the department's: an agent sees only
	// its departments' conversations, and others get 404).
	e.do(http.MethodPost, msgs, agentToken, map[string]any{"text": "Eu também"}).problem(http.StatusNotFound)
	_, err := e.pool.Exec(ctx, `INSERT INTO department_members (account_id, department_id, user_id, added_at)
		SELECT account_id, $2, id, now() FROM users WHERE account_id = $1 AND role = 'agent'`, a.account.ID, dept.ID)
	require.NoError(t, err)
	e.do(http.MethodPost, msgs, agentToken, map[string]any{"text": "Eu também"}).status(202)
	agent, _ = e.agentState(c.ID)
	require.Equal(t, a.admin.ID, *agent)

	// To an agent: the department is removed.
	e.do(http.MethodPost, assign, a.token, map[string]any{"agent_id": a.admin.ID}).ok(&out)
	_, d = e.agentState(c.ID)
	require.Nil(t, d)

	// To a flow: the attendance closes; flow.triggered goes out like any event.
	e.do(http.MethodPost, assign, a.token, map[string]any{"flow": "pesquisa-nps"}).ok(&out)
	require.Equal(t, "closed", out.Status)
	var conv api.ConversationBody
	e.do(http.MethodGet, "/v1/conversations/"+c.ID, a.token, nil).ok(&conv)
	require.Equal(t, "closed", conv.Status)
	require.Empty(t, conv.AgentID)
	e.publish()
	var n int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE account_id = $1 AND type = 'flow.triggered' AND data->>'flow' = 'pesquisa-nps'`,
		a.account.ID).Scan(&n))
	require.Equal(t, 1, n)
	e.do(http.MethodPost, assign, a.token, map[string]any{"agent_id": a.admin.ID}).problem(409)
}
