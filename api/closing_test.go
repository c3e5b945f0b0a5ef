package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

func TestClosingAPI(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a, b := e.newTenant("Acme"), e.newTenant("Beta")
	line := e.whatsappLine(a, "+55 11 4000-1234")

	t.Run("profile closing message", func(t *testing.T) {
		e := e.as(t)
		var me api.MeBody
		e.do(http.MethodGet, "/v1/me", a.token, nil).ok(&me)
		require.NotNil(t, me.ClosingMessage)
		require.Empty(t, *me.ClosingMessage)
		e.do(http.MethodPatch, "/v1/me", a.token, map[string]any{"closing_message": " Obrigado pelo contato! "}).ok(&me)
		require.Equal(t, "Obrigado pelo contato!", *me.ClosingMessage)
		e.do(http.MethodGet, "/v1/me", a.token, nil).ok(&me)
		require.Equal(t, "Obrigado pelo contato!", *me.ClosingMessage)
		e.do(http.MethodPatch, "/v1/me", a.apiKey, map[string]any{"closing_message": "x"}).problem(http.StatusForbidden)
		p := e.do(http.MethodPatch, "/v1/me", a.token, map[string]any{"closing_message": strings.Repeat("a", 4097)}).problem(http.StatusUnprocessableEntity)
		require.Contains(t, p.locations(), "body.closing_message")
	})

	t.Run("close now with the profile message", func(t *testing.T) {
		e := e.as(t)
		c := e.inbound(a, line, "5511900000001", "Oi")
		var got api.CloseBody
		e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.token, nil).status(http.StatusOK).ok(&got)
		require.Equal(t, "closed", got.Status)
		require.Equal(t, c.Attendance.Protocol, got.Protocol)
		require.NotNil(t, got.ClosedAt)
		require.Equal(t, "queued", got.Message.Status)
		require.Equal(t, "Obrigado pelo contato!", got.Message.Text)
		var conv api.ConversationBody
		e.do(http.MethodGet, "/v1/conversations/"+c.ID, a.token, nil).ok(&conv)
		require.Equal(t, "closed", conv.Status)
		require.Nil(t, conv.Attendance)
		e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.token, nil).problem(http.StatusConflict)
	})

	t.Run("outside the session the message is a note", func(t *testing.T) {
		e := e.as(t)
		c := e.inbound(a, line, "5511900000002", "Oi")
		e.clock.Advance(25 * time.Hour)
		defer e.clock.Advance(-25 * time.Hour)
		var got api.CloseBody
		e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.apiKey, map[string]any{"message": "Tchau", "flow": "nps"}).ok(&got)
		require.Equal(t, "not_sent", got.Message.Status)
		require.NotEmpty(t, got.Message.NoteID)
		require.Contains(t, got.Message.Reason, "service session")
		require.Equal(t, "nps", got.FlowTriggered)
	})

	t.Run("custom fields asked at closing", func(t *testing.T) {
		e := e.as(t)
		e.do(http.MethodPost, "/v1/custom-fields", a.token, map[string]any{"key": "motivo", "label": "Motivo", "type": "choice",
			"choices": []string{"Dúvida", "Venda"}, "on_close": "required"}).ok(nil)
		defer e.pool.Exec(t.Context(), `UPDATE custom_fields SET on_close = 'no' WHERE key = 'motivo'`) //nolint:errcheck
		c := e.inbound(a, line, "5511900000003", "Oi")
		p := e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.token, map[string]any{"message": ""}).problem(http.StatusUnprocessableEntity)
		require.Equal(t, []string{"body.custom_fields.motivo"}, p.locations())
		p = e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.token, map[string]any{"custom_fields": map[string]any{"motivo": 3, "x": "y"}}).problem(http.StatusUnprocessableEntity)
		require.ElementsMatch(t, []string{"body.custom_fields.motivo", "body.custom_fields.x"}, p.locations())
		var got api.CloseBody
		e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.token, map[string]any{"message": "", "custom_fields": map[string]any{"motivo": "Venda"}}).ok(&got)
		require.Nil(t, got.Message)
		var contact struct {
			CustomFields map[string]any `json:"custom_fields"`
		}
		e.do(http.MethodGet, "/v1/contacts/"+c.ContactID, a.token, nil).ok(&contact)
		require.Equal(t, "Venda", contact.CustomFields["motivo"])
	})

	t.Run("scheduled close and its cancel", func(t *testing.T) {
		e := e.as(t)
		c := e.inbound(a, line, "5511900000004", "Oi")
		var got api.CloseBody
		e.do(http.MethodPost, "/v1/conversations/"+c.ID+"/close", a.token, map[string]any{"in_minutes": 30, "if_contact_replies": "keep"}).
			status(http.StatusAccepted).ok(&got)
		require.Equal(t, "scheduled", got.Status)
		require.Equal(t, "keep", got.IfContactReplies)
		require.WithinDuration(t, e.clock.Now().Add(30*time.Minute), *got.CloseAt, time.Second)
		require.Nil(t, got.ClosedAt)
		e.do(http.MethodDelete, "/v1/conversations/"+c.ID+"/close", a.token, nil).status(http.StatusNoContent)
		e.do(http.MethodDelete, "/v1/conversations/"+c.ID+"/close", a.token, nil).problem(http.StatusConflict)
		e.do(http.MethodDelete, "/v1/conversations/"+c.ID+"/close", b.token, nil).problem(http.StatusNotFound)
	})

	t.Run("another account and bad input", func(t *testing.T) {
		e := e.as(t)
		c := e.inbound(a, line, "5511900000005", "Oi")
		path := "/v1/conversations/" + c.ID + "/close"
		e.do(http.MethodPost, path, b.token, nil).problem(http.StatusNotFound)
		e.do(http.MethodPost, "/v1/conversations/not-a-uuid/close", a.token, nil).problem(http.StatusUnprocessableEntity)
		for _, body := range []any{
			map[string]any{"in_minutes": 0},
			map[string]any{"in_minutes": 10081},
			map[string]any{"in_minutes": "ten"},
			map[string]any{"in_minutes": 5, "if_contact_replies": "maybe"},
			map[string]any{"if_contact_replies": "keep"},
			map[string]any{"message": strings.Repeat("a", 4097)},
			map[string]any{"custom_fields": []string{"x"}},
			map[string]any{"flow": strings.Repeat("f", 101)},
		} {
			p := e.do(http.MethodPost, path, a.token, body).problem(http.StatusUnprocessableEntity)
			require.NotEmpty(t, p.locations(), "%v", body)
		}
		e.do(http.MethodPost, path, a.token, `{"in_minutes":`).problem(http.StatusBadRequest)
		e.do(http.MethodPost, path, "", nil).problem(http.StatusUnauthorized)
		var conv api.ConversationBody
		e.do(http.MethodGet, "/v1/conversations/"+c.ID, a.token, nil).ok(&conv)
		require.Equal(t, "open", conv.Status, "nothing was closed by bad calls")
	})
}
