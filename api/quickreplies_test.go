package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestQuickRepliesAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	a := e.newTenant("Quick")
	line := e.whatsappLine(a, "+55 11 4000-3000")
	c := e.inbound(a, line, "5511977770001", "Quero meu boleto")
	_, err := e.pool.Exec(ctx, "UPDATE contacts SET name = 'Joana Prado', customer_code = 'CLI-9' WHERE id = $1", c.ContactID)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, "UPDATE users SET name = 'Carlos' WHERE id = $1", a.admin.ID)
	require.NoError(t, err)

	var boleto api.QuickReplyBody
	e.do(http.MethodPost, "/v1/quick-replies", a.token, map[string]string{"shortcut": "Boleto", "title": "Segunda via",
		"text": "Olá {primeiro_nome}, aqui é {agente}. Seu boleto (@ChaveCliente) segue; protocolo {{protocolo}}."}).status(201).ok(&boleto)
	require.Equal(t, "/boleto", boleto.Shortcut, "lowercased, with its slash")
	for _, s := range []string{"/bom-dia", "/bonus", "/adeus"} {
		e.do(http.MethodPost, "/v1/quick-replies", a.token, map[string]string{"shortcut": s, "title": s, "text": "texto"}).status(201)
	}
	// Bad input, a taken shortcut, and an agent (no settings:manage) are refused.
	p := e.do(http.MethodPost, "/v1/quick-replies", a.token, map[string]string{"shortcut": "/com espaço", "title": "", "text": ""}).problem(422)
	require.ElementsMatch(t, []string{"body.shortcut", "body.title", "body.text"}, p.locations())
	e.do(http.MethodPost, "/v1/quick-replies", a.token, map[string]string{"shortcut": "/BOLETO", "title": "x", "text": "y"}).problem(409)
	agent := e.newUser(a, "agent")
	e.do(http.MethodPost, "/v1/quick-replies", agent, map[string]string{"shortcut": "/x", "title": "x", "text": "y"}).problem(403)

	// What the agent has typed so far, paged by shortcut.
	var page struct {
		Items      []api.QuickReplyBody
		NextCursor string `json:"next_cursor"`
	}
	e.do(http.MethodGet, "/v1/quick-replies?prefix=/bo&limit=2", agent, nil).ok(&page)
	require.Equal(t, []string{"/boleto", "/bom-dia"}, []string{page.Items[0].Shortcut, page.Items[1].Shortcut})
	e.do(http.MethodGet, "/v1/quick-replies?prefix=bo&limit=2&cursor="+page.NextCursor, agent, nil).ok(reset(&page))
	require.Len(t, page.Items, 1)
	require.Equal(t, "/bonus", page.Items[0].Shortcut)
	require.Empty(t, page.NextCursor)

	// Filled for the conversation.
	var r api.RenderedQuickReplyBody
	e.do(http.MethodPost, "/v1/quick-replies/"+boleto.ID+"/render", a.token, map[string]string{"conversation_id": c.ID}).ok(&r)
	require.Equal(t, "Olá Joana, aqui é Carlos. Seu boleto (CLI-9) segue; protocolo "+c.Attendance.Protocol+".", r.Text)
	e.do(http.MethodPost, "/v1/quick-replies/"+boleto.ID+"/render", a.apiKey, map[string]string{"conversation_id": c.ID}).ok(&r)
	require.Contains(t, r.Text, "aqui é . Seu", "an API key has no name")

	// Change and delete.
	e.do(http.MethodPatch, "/v1/quick-replies/"+boleto.ID, a.token, map[string]string{"title": "Boleto"}).ok(&boleto)
	require.Equal(t, "Boleto", boleto.Title)
	require.Equal(t, "/boleto", boleto.Shortcut)
	e.do(http.MethodPatch, "/v1/quick-replies/"+boleto.ID, a.token, map[string]string{"shortcut": "/bonus"}).problem(409)

	// Another account sees none of it, nor can it fill ours for its conversations or ours for its.
	b := e.newTenant("Quick other")
	e.do(http.MethodGet, "/v1/quick-replies/"+boleto.ID, b.token, nil).problem(404)
	e.do(http.MethodPost, "/v1/quick-replies/"+boleto.ID+"/render", b.token, map[string]string{"conversation_id": c.ID}).problem(404)
	var mine api.QuickReplyBody
	e.do(http.MethodPost, "/v1/quick-replies", b.token, map[string]string{"shortcut": "/oi", "title": "Oi", "text": "Oi {nome}"}).status(201).ok(&mine)
	e.do(http.MethodPost, "/v1/quick-replies/"+mine.ID+"/render", b.token, map[string]string{"conversation_id": c.ID}).problem(404)
	e.do(http.MethodDelete, "/v1/quick-replies/"+boleto.ID, b.token, nil).problem(404)
	e.do(http.MethodDelete, "/v1/quick-replies/"+boleto.ID, a.token, nil).status(204)
	e.do(http.MethodGet, "/v1/quick-replies/"+boleto.ID, a.token, nil).problem(404)
}
