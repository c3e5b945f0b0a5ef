package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/provider"
)

// inbound makes a contact write texts on channel, as the webhook drain would, and returns the
// conversation it landed in.
func (e *testEnv) inbound(a tenant, channelID, from string, texts ...string) api.ConversationBody {
	e.t.Helper()
	ch := uuid.MustParse(channelID)
	var in []conversation.Inbound
	for i, text := range texts {
		at := e.clock.Now().Add(time.Duration(i-len(texts)) * time.Second)
		in = append(in, conversation.Inbound{AccountID: a.account.ID, ChannelID: ch, At: at, Message: &provider.InboundMessage{
			ID: fmt.Sprintf("wamid.%s.%d.%d", from, at.UnixNano(), i), From: from, FromName: "Maria", Timestamp: at, Kind: "text", Text: text,
		}})
	}
	require.NoError(e.t, pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		return e.webhooks.Conversations.ApplyInbound(context.Background(), tx, in)
	}))
	var list struct{ Items []api.ConversationBody }
	e.do(http.MethodGet, "/v1/conversations?channel_id="+channelID, a.token, nil).ok(&list)
	for _, c := range list.Items {
		if c.Address == from {
			return c
		}
	}
	e.t.Fatalf("no conversation for %s", from)
	return api.ConversationBody{}
}

func (e *testEnv) whatsappLine(a tenant, number string) string {
	e.t.Helper()
	var ch api.ChannelBody
	e.do(http.MethodPost, "/v1/channels", a.token, map[string]any{"type": "whatsapp", "name": "Linha " + number, "provider": "fake",
		"phone_number": number}).ok(&ch)
	return ch.ID
}

func TestConversationsAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	line := e.whatsappLine(a, "+55 11 4000-1234")
	c := e.inbound(a, line, "5511987654321", "Preciso da segunda via da fatura", "A ligação caiu", "Quero falar com alguém")

	t.Run("conversation with session state", func(t *testing.T) {
		e := e.as(t)
		var got api.ConversationBody
		e.do(http.MethodGet, "/v1/conversations/"+c.ID, a.token, nil).ok(&got)
		require.Equal(t, "open", got.Status)
		require.True(t, got.FreeFormAllowed)
		require.NotNil(t, got.ServiceExpiresAt)
		require.WithinDuration(t, e.clock.Now().Add(24*time.Hour), *got.ServiceExpiresAt, 2*time.Second)
		require.NotNil(t, got.Attendance)
		require.Regexp(t, `^\d{8}000001$`, got.Attendance.Protocol)
		require.Empty(t, got.Sessions)
		e.clock.Advance(25 * time.Hour)
		e.do(http.MethodGet, "/v1/conversations/"+c.ID, a.apiKey, nil).ok(&got)
		require.False(t, got.FreeFormAllowed, "the service session ended")
		e.clock.Advance(-25 * time.Hour)
	})
	t.Run("filters", func(t *testing.T) {
		e := e.as(t)
		var list struct{ Items []api.ConversationBody }
		e.do(http.MethodGet, "/v1/conversations?status=closed", a.token, nil).ok(&list)
		require.Empty(t, list.Items)
		e.do(http.MethodGet, "/v1/conversations?status=open&contact_id="+c.ContactID, a.token, nil).ok(&list)
		require.Len(t, list.Items, 1)
		e.do(http.MethodGet, "/v1/conversations?contact_id=nope", a.token, nil).problem(http.StatusUnprocessableEntity)
	})
	t.Run("messages newest first, paged", func(t *testing.T) {
		e := e.as(t)
		var p1, p2 struct {
			Items      []api.MessageBody
			NextCursor string `json:"next_cursor"`
		}
		e.do(http.MethodGet, "/v1/conversations/"+c.ID+"/messages?limit=2", a.token, nil).ok(&p1)
		require.Equal(t, []string{"Quero falar com alguém", "A ligação caiu"}, []string{p1.Items[0].Text, p1.Items[1].Text})
		require.NotEmpty(t, p1.NextCursor)
		e.do(http.MethodGet, "/v1/conversations/"+c.ID+"/messages?limit=2&cursor="+p1.NextCursor, a.token, nil).ok(&p2)
		require.Len(t, p2.Items, 1)
		require.Equal(t, "Preciso da segunda via da fatura", p2.Items[0].Text)
		require.Empty(t, p2.NextCursor)
		require.Equal(t, "inbound", p2.Items[0].Direction)
	})
	t.Run("search with and without accents", func(t *testing.T) {
		e := e.as(t)
		for q, want := range map[string]string{"ligação": "A ligação caiu", "LIGACAO": "A ligação caiu", "alguem": "Quero falar com alguém", "faturas": "Preciso da segunda via da fatura"} {
			var got struct{ Items []api.MessageBody }
			e.do(http.MethodGet, "/v1/conversations/"+c.ID+"/messages?q="+url.QueryEscape(q), a.token, nil).ok(&got)
			require.Len(t, got.Items, 1, q)
			require.Equal(t, want, got.Items[0].Text, q)
		}
		var none struct{ Items []api.MessageBody }
		e.do(http.MethodGet, "/v1/conversations/"+c.ID+"/messages?q=boleto", a.token, nil).ok(&none)
		require.Empty(t, none.Items)
	})
	t.Run("attendance by protocol", func(t *testing.T) {
		e := e.as(t)
		var found struct{ Items []api.AttendanceBody }
		e.do(http.MethodGet, "/v1/attendances?protocol="+c.Attendance.Protocol, a.token, nil).ok(&found)
		require.Len(t, found.Items, 1)
		require.Equal(t, c.ID, found.Items[0].ConversationID)
		require.Equal(t, c.ContactID, found.Items[0].ContactID)
		e.do(http.MethodGet, "/v1/attendances?protocol=000", a.token, nil).ok(&found)
		require.Empty(t, found.Items)
	})
	t.Run("another account's conversation is not found", func(t *testing.T) {
		e := e.as(t)
		b := e.newTenant("Other")
		e.do(http.MethodGet, "/v1/conversations/"+c.ID, b.token, nil).problem(http.StatusNotFound)
		e.do(http.MethodGet, "/v1/conversations/"+c.ID+"/messages", b.token, nil).problem(http.StatusNotFound)
		var found struct{ Items []api.AttendanceBody }
		e.do(http.MethodGet, "/v1/attendances?protocol="+c.Attendance.Protocol, b.token, nil).ok(&found)
		require.Empty(t, found.Items)
	})
}

func TestProtocolSettingsAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	var st api.ProtocolSettingsBody
	e.do(http.MethodGet, "/v1/protocol-settings", a.token, nil).ok(&st)
	require.Equal(t, "{yyyy}{mm}{dd}{seq:6}", st.Format)

	for format, detail := range map[string]string{
		"{dd}{seq:4}":     "{dd} needs {mm}",
		"{yyyy}{mm}{dd}":  "needs a sequence",
		"{hh}{seq:3}":     "unknown token {hh}",
		"Prot {seq:3}":    "is not allowed",
		"{seq:4}{seq:4}":  "twice",
		"{yyyy}-{seq:99}": "1 to 12",
	} {
		p := e.do(http.MethodPut, "/v1/protocol-settings", a.token, map[string]string{"format": format}).problem(http.StatusUnprocessableEntity)
		require.Contains(t, p.Errors[0].Message, detail, format)
		require.Equal(t, "body.format", p.Errors[0].Location, format)
	}
	e.do(http.MethodPut, "/v1/protocol-settings", a.token, map[string]string{"format": "AT-{yyyy}{mm}-{seq:5}"}).ok(&st)
	require.Equal(t, "AT-{yyyy}{mm}-{seq:5}", st.Format)
	line := e.whatsappLine(a, "+55 11 4000-1234")
	c := e.inbound(a, line, "5511987654321", "oi")
	require.Regexp(t, `^AT-\d{6}-00001$`, c.Attendance.Protocol)
	// An API key (integrator) does not manage settings.
	e.do(http.MethodPut, "/v1/protocol-settings", a.apiKey, map[string]string{"format": "{seq:3}"}).problem(http.StatusForbidden)
}
