package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/distribution"
	"github.com/conversa-hq/conversa/internal/sla"
)

// userID is the id of the user a token belongs to.
func (e *testEnv) userID(token string) string {
	e.t.Helper()
	var me api.MeBody
	e.do(http.MethodGet, "/v1/me", token, nil).ok(&me)
	return me.UserID
}

// inboundSegment creates a segment every contact that writes in belongs to.
func (e *testEnv) inboundSegment(a tenant, body map[string]any) string {
	e.t.Helper()
	body["rules"] = map[string]any{"origins": []string{"inbound"}}
	var seg api.SegmentBody
	e.do(http.MethodPost, "/v1/segments", a.token, body).ok(&seg)
	return seg.ID
}

func (e *testEnv) conversation(token, id string) api.ConversationBody {
	e.t.Helper()
	var c api.ConversationBody
	e.do(http.MethodGet, "/v1/conversations/"+id, token, nil).ok(&c)
	return c
}

// The service times and the SLA on the attendance as the API shows it, from the inbound
// message to the agent's answer, and the breach of an unanswered one reported once.
func TestSLAAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t)
	a, b := e.newTenant("Acme"), e.newTenant("Beta")
	line := e.whatsappLine(a, "+55 11 4000-1234")
	e.inboundSegment(a, map[string]any{"name": "Varejo", "priority": 50, "sla_minutes": 120})
	gold := e.inboundSegment(a, map[string]any{"name": "Ouro", "priority": 90, "sla_minutes": 30})
	// Beta's stricter SLA never applies to Acme's contacts.
	e.inboundSegment(b, map[string]any{"name": "Ouro", "priority": 100, "sla_minutes": 1})

	answered := e.inbound(a, line, "5511900000001", "Oi")
	at := answered.Attendance
	require.NotNil(t, at)
	require.Equal(t, gold, at.SegmentID)
	require.NotNil(t, at.SLADueAt)
	require.True(t, at.OpenedAt.Add(30*time.Minute).Equal(*at.SLADueAt), "the higher priority's SLA: %s", at.SLADueAt)
	require.False(t, at.SLABreached)
	require.Nil(t, at.FirstResponseAt)

	// An internal note is no answer; the agent's message ten minutes later is.
	e.do(http.MethodPost, "/v1/conversations/"+answered.ID+"/messages", a.token, map[string]any{"text": "/interna cliente VIP"}).status(http.StatusAccepted)
	require.Nil(t, e.conversation(a.token, answered.ID).Attendance.FirstResponseAt)
	e.clock.Advance(10 * time.Minute)
	e.do(http.MethodPost, "/v1/conversations/"+answered.ID+"/messages", a.token, map[string]any{"text": "Olá, posso ajudar?"}).status(http.StatusAccepted)
	at = e.conversation(a.token, answered.ID).Attendance
	require.NotNil(t, at.FirstResponseAt)
	require.NotNil(t, at.FirstResponseSeconds)
	require.InDelta(t, 600, *at.FirstResponseSeconds, 1)
	require.Nil(t, at.ResolutionSeconds)

	unanswered := e.inbound(a, line, "5511900000002", "Alguém?")
	e.clock.Advance(31 * time.Minute)
	// The admin's access token has expired by now: the integrator's key reads on.
	a.token = a.apiKey
	sweeper := sla.NewSweeper(e.pool, e.clock)
	n, err := sweeper.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the unanswered one only")
	n, err = sweeper.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "once")
	at = e.conversation(a.token, unanswered.ID).Attendance
	require.True(t, at.SLABreached)
	require.NotNil(t, at.SLABreachedAt)
	require.False(t, e.conversation(a.token, answered.ID).Attendance.SLABreached)
	var events int
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM event_outbox WHERE type = 'attendance.sla_breached' AND account_id = $1
		AND data->>'conversation_id' = $2`, a.account.ID, unanswered.ID).Scan(&events))
	require.Equal(t, 1, events)

	// The protocol search shows the same; the close gives the resolution time.
	var found struct{ Items []api.AttendanceBody }
	e.do(http.MethodGet, "/v1/attendances?protocol="+at.Protocol, a.token, nil).ok(&found)
	require.Len(t, found.Items, 1)
	require.True(t, found.Items[0].SLABreached)
	e.do(http.MethodPost, "/v1/conversations/"+answered.ID+"/close", a.token, map[string]any{"message": ""}).ok(nil)
	var list struct{ Items []api.ConversationListItem }
	e.do(http.MethodGet, "/v1/conversations?channel_id="+line, a.token, nil).ok(&list)
	require.Len(t, list.Items, 2)
	for _, it := range list.Items {
		if it.ID == unanswered.ID {
			require.True(t, it.Attendance.SLABreached, "lists show it too")
		}
	}

	// Another account sees none of it.
	e.do(http.MethodGet, "/v1/conversations/"+unanswered.ID, b.apiKey, nil).problem(http.StatusNotFound)
	e.do(http.MethodGet, "/v1/attendances?protocol="+at.Protocol, b.apiKey, nil).ok(&found)
	require.Empty(t, found.Items)
}

// Agents' availability and capacity over HTTP, and the distributor giving conversations of an
// automatic segment within them.
func TestDistributionAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t)
	a, b := e.newTenant("Acme"), e.newTenant("Beta")
	line := e.whatsappLine(a, "+55 11 4000-1234")
	agent, super := e.newUser(a, "agent"), e.newUser(a, "supervisor")
	agentID, superID := e.userID(agent), e.userID(super)
	seg := e.inboundSegment(a, map[string]any{"name": "Ouro", "priority": 90, "distribution": "automatic", "user_ids": []string{agentID, superID}})
	distributor := distribution.NewService(e.pool, e.clock)
	distribute := func() int {
		g, err := distributor.Distribute(ctx, a.account.ID)
		require.NoError(t, err)
		return len(g)
	}

	var me api.MeBody
	e.do(http.MethodGet, "/v1/me", agent, nil).ok(&me)
	require.Equal(t, "away", me.Availability, "away until set")
	require.Equal(t, distribution.DefaultCapacity, *me.Capacity)
	var settings api.DistributionSettingsBody
	e.do(http.MethodPut, "/v1/distribution-settings", a.token, map[string]any{"default_capacity": 1}).ok(&settings)
	require.Equal(t, 1, settings.DefaultCapacity)

	first := e.inbound(a, line, "5511900000001", "Oi")
	e.clock.Advance(time.Minute)
	second := e.inbound(a, line, "5511900000002", "Oi")
	require.Equal(t, seg, first.Attendance.SegmentID)
	require.Zero(t, distribute(), "nobody available")

	// Becoming available enqueues a run for the account and the run gives one conversation
	// (the capacity), the older first.
	kicks := func() int {
		var n int
		require.NoError(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'distribute' AND args->>'account_id' = $1`, a.account.ID.String()).Scan(&n))
		return n
	}
	before := kicks()
	e.do(http.MethodPatch, "/v1/me", agent, map[string]any{"availability": "available"}).ok(&me)
	require.Equal(t, "available", me.Availability)
	require.Equal(t, before+1, kicks())
	require.Equal(t, 1, distribute())
	require.Equal(t, agentID, e.conversation(a.token, first.ID).AgentID)
	require.Empty(t, e.conversation(a.token, second.ID).AgentID)

	// A capacity of the agent's own lets it take the second.
	var ag api.AgentDistributionBody
	e.do(http.MethodPatch, "/v1/users/"+agentID+"/distribution", a.token, map[string]any{"capacity": 3}).ok(&ag)
	require.Equal(t, api.AgentDistributionBody{UserID: agentID, Availability: "available", OwnCapacity: new(3), Capacity: 3}, ag)
	require.Equal(t, 1, distribute())
	require.Equal(t, agentID, e.conversation(a.token, second.ID).AgentID)
	e.do(http.MethodPatch, "/v1/users/"+agentID+"/distribution", a.token, map[string]any{"capacity": nil}).ok(&ag)
	require.Nil(t, ag.OwnCapacity)
	require.Equal(t, 1, ag.Capacity)

	// Closing an agent's conversation frees capacity: a run is enqueued with the close.
	before = kicks()
	e.do(http.MethodPost, "/v1/conversations/"+first.ID+"/close", a.token, map[string]any{"message": ""}).ok(nil)
	require.Equal(t, before+1, kicks())

	// Refusals are problems and change nothing.
	other := e.newUser(b, "compliance") // newUser's e-mail is per role and account-id prefix
	otherID := e.userID(other)
	for _, tc := range []struct {
		name, method, path, token string
		body                      any
		status                    int
	}{
		{"unknown availability", http.MethodPatch, "/v1/me", agent, map[string]any{"availability": "busy"}, 422},
		{"availability of the wrong type", http.MethodPatch, "/v1/me", agent, map[string]any{"availability": 1}, 422},
		{"an API key has no availability", http.MethodPatch, "/v1/me", a.apiKey, map[string]any{"availability": "away"}, 403},
		{"malformed JSON", http.MethodPatch, "/v1/me", agent, `{"availability":`, 400},
		{"default capacity zero", http.MethodPut, "/v1/distribution-settings", a.token, map[string]any{"default_capacity": 0}, 422},
		{"default capacity too big", http.MethodPut, "/v1/distribution-settings", a.token, map[string]any{"default_capacity": 1001}, 422},
		{"default capacity of the wrong type", http.MethodPut, "/v1/distribution-settings", a.token, map[string]any{"default_capacity": "9"}, 422},
		{"default capacity missing", http.MethodPut, "/v1/distribution-settings", a.token, map[string]any{}, 422},
		{"an agent sets no settings", http.MethodPut, "/v1/distribution-settings", agent, map[string]any{"default_capacity": 9}, 403},
		{"negative capacity", http.MethodPatch, "/v1/users/" + agentID + "/distribution", a.token, map[string]any{"capacity": -1}, 422},
		{"capacity too big", http.MethodPatch, "/v1/users/" + agentID + "/distribution", a.token, map[string]any{"capacity": 1001}, 422},
		{"capacity of the wrong type", http.MethodPatch, "/v1/users/" + agentID + "/distribution", a.token, map[string]any{"capacity": "3"}, 422},
		{"path id not a uuid", http.MethodPatch, "/v1/users/nope/distribution", a.token, map[string]any{"capacity": 3}, 422},
		{"unknown user", http.MethodPatch, "/v1/users/" + uuid.Must(uuid.NewV7()).String() + "/distribution", a.token, map[string]any{"capacity": 3}, 404},
		{"another account's user", http.MethodPatch, "/v1/users/" + otherID + "/distribution", a.token, map[string]any{"capacity": 3}, 404},
		{"another account's user, read", http.MethodGet, "/v1/users/" + otherID + "/distribution", a.token, nil, 404},
		{"an agent sets no capacity", http.MethodPatch, "/v1/users/" + agentID + "/distribution", agent, map[string]any{"capacity": 9}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.as(t).do(tc.method, tc.path, tc.token, tc.body).problem(tc.status)
		})
	}
	e.do(http.MethodGet, "/v1/me", agent, nil).ok(&me)
	require.Equal(t, "available", me.Availability)
	require.Equal(t, 1, *me.Capacity)
	e.do(http.MethodGet, "/v1/distribution-settings", a.token, nil).ok(&settings)
	require.Equal(t, 1, settings.DefaultCapacity)
	e.do(http.MethodGet, "/v1/users/"+otherID+"/distribution", b.token, nil).ok(&ag)
	require.Nil(t, ag.OwnCapacity, "the other account's user is untouched")
	e.do(http.MethodGet, "/v1/distribution-settings", b.token, nil).ok(&settings)
	require.Equal(t, distribution.DefaultCapacity, settings.DefaultCapacity, "settings are per account")
}
