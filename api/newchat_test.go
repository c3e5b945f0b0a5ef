package api_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
)

// newChatVars fill the fixture's order template for a contact without a customer code.
var newChatVars = map[string]string{"header:1": "SKB-9", "body:2": "SKB-9", "body:3": "05/12/2026", "button:1": "SKB-9"}

func TestNewChatCreatesOnceAndReuses(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	ctx := context.Background()
	start := func(token string, body map[string]any, headers ...string) *response {
		body["channel_id"], body["template_id"] = f.line.ID, f.utility.ID
		if _, ok := body["variables"]; !ok {
			body["variables"] = newChatVars
		}
		return e.do(http.MethodPost, "/v1/conversations/new-chat", token, body, headers...)
	}

	var first api.NewChatBody
	start(f.a.token, map[string]any{"phone": "(11) 97777-1234", "name": "Paulo Lima", "open": true}).status(202).ok(&first)
	require.True(t, first.ContactCreated)
	require.NotNil(t, first.AttendanceID)
	require.NotEmpty(t, first.Protocol)
	require.Equal(t, f.a.admin.ID.String(), *first.AgentID, "the opened conversation is the caller's")
	var name, origin, phone string
	require.NoError(t, e.pool.QueryRow(ctx, `SELECT c.name, c.origin, p.phone FROM contacts c JOIN contact_phones p ON p.account_id = c.account_id AND p.contact_id = c.id
		WHERE c.id = $1`, first.ContactID).Scan(&name, &origin, &phone))
	require.Equal(t, []string{"Paulo Lima", "manual", "+5511977771234"}, []string{name, origin, phone})
	var kind, status, text string
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT kind, status, text FROM messages WHERE id = $1", first.MessageID).Scan(&kind, &status, &text))
	require.Equal(t, "template", kind)
	require.Equal(t, "queued", status)
	require.Equal(t, "Olá Paulo Lima, seu pedido SKB-9 sai hoje. Vencimento: 05/12/2026.", text)
	var convStatus string
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT status FROM conversations WHERE id = $1 AND agent_id = $2", first.ConversationID, f.a.admin.ID).Scan(&convStatus))
	require.Equal(t, "open", convStatus)

	// The same number in another spelling is the same contact, whose name stays; the
	// conversation stays open with its attendance.
	var again api.NewChatBody
	start(f.a.token, map[string]any{"phone": "+55 11 97777-1234", "name": "Outro Nome", "open": true}).status(202).ok(&again)
	require.False(t, again.ContactCreated)
	require.Equal(t, first.ContactID, again.ContactID)
	require.Equal(t, first.ConversationID, again.ConversationID)
	require.Equal(t, *first.AttendanceID, *again.AttendanceID)
	require.NotEqual(t, first.MessageID, again.MessageID)
	// A number that already was a contact's (the fixture's) uses it; without open the
	// conversation is not opened: the contact's answer goes to the initial flow.
	var existing api.NewChatBody
	start(f.a.apiKey, map[string]any{"phone": "11 98888-0001", "variables": map[string]string{"body:3": "x"}}).status(202).ok(&existing)
	require.False(t, existing.ContactCreated)
	require.Equal(t, f.contact.ID, existing.ContactID)
	require.Nil(t, existing.AttendanceID)
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT status FROM conversations WHERE id = $1", existing.ConversationID).Scan(&convStatus))
	require.Equal(t, "closed", convStatus)
	// An API key's open conversation waits in the queue, without an agent.
	var byKey api.NewChatBody
	start(f.a.apiKey, map[string]any{"phone": "11 96666-0001", "name": "Rita", "open": true}).status(202).ok(&byKey)
	require.NotNil(t, byKey.AttendanceID)
	require.Nil(t, byKey.AgentID)
	var contacts int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM contacts").Scan(&contacts))
	require.Equal(t, 3, contacts, "the fixture's, Paulo and Rita: no duplicate")

	// A retry with the same Idempotency-Key answers the same and sends nothing more.
	var k1, k2 api.NewChatBody
	start(f.a.token, map[string]any{"phone": "11 95555-0001", "name": "Lia"}, "Idempotency-Key: nc-1").status(202).ok(&k1)
	start(f.a.token, map[string]any{"phone": "11 95555-0001", "name": "Lia"}, "Idempotency-Key: nc-1").status(202).ok(&k2)
	require.Equal(t, k1, k2)
	var msgs int
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT count(*) FROM messages WHERE conversation_id = $1", k1.ConversationID).Scan(&msgs))
	require.Equal(t, 1, msgs)
}

func TestNewChatForeignNumbersAndRefusals(t *testing.T) {
	t.Parallel()
	e := setup(t)
	f := e.sendFixture()
	other := e.sendFixtureNamed("Other")
	ctx := context.Background()
	base := func() map[string]any {
		return map[string]any{"channel_id": f.line.ID, "template_id": f.utility.ID, "variables": newChatVars, "name": "Novo", "phone": "11 97777-0000"}
	}
	with := func(k string, v any) map[string]any {
		b := base()
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return b
	}
	counts := func() (contacts, messages int) {
		require.NoError(t, e.pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM contacts WHERE account_id = $1), (SELECT count(*) FROM messages WHERE account_id = $1)",
			f.a.account.ID).Scan(&contacts, &messages))
		return
	}
	c0, m0 := counts()

	tests := []struct {
		name     string
		body     map[string]any
		status   int
		location string
	}{
		{"ForeignWithoutFlag", with("phone", "+1 202-555-0143"), 422, "body.foreign"},
		{"InvalidPhone", with("phone", "123"), 422, "body.phone"},
		{"NoPhone", with("phone", nil), 422, ""},
		{"NoNameForANewNumber", with("name", nil), 422, "body.name"},
		{"DraftTemplate", with("template_id", f.draft.ID), 422, "body.template_id"},
		{"MarketingWithoutConsent", with("template_id", f.marketing.ID), 409, ""},
		{"MissingVariable", with("variables", map[string]string{"body:3": "x"}), 422, ""},
		{"AnotherAccountsChannel", with("channel_id", other.line.ID), 404, ""},
		{"AnotherAccountsTemplate", with("template_id", other.utility.ID), 404, ""},
		{"WrongType", with("open", "yes"), 422, "body.open"},
		{"UnknownField", with("contact_id", f.contact.ID), 422, ""},
		{"NotAUUID", with("channel_id", "x"), 422, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := e.as(t).do(http.MethodPost, "/v1/conversations/new-chat", f.a.token, tc.body).problem(tc.status)
			if tc.location != "" {
				require.Contains(t, p.locations(), tc.location)
			}
		})
	}
	c, m := counts()
	require.Equal(t, []int{c0, m0}, []int{c, m}, "a refused new chat leaves no contact and no message")

	// With the flag, an international number is read as one, "+" or not.
	var us, again api.NewChatBody
	e.do(http.MethodPost, "/v1/conversations/new-chat", f.a.token, with("phone", "1 202-555-0143")).problem(422)
	flagged := with("phone", "1 202-555-0143")
	flagged["foreign"] = true
	e.do(http.MethodPost, "/v1/conversations/new-chat", f.a.token, flagged).status(202).ok(&us)
	require.True(t, us.ContactCreated)
	flagged["phone"] = "+1 (202) 555-0143"
	e.do(http.MethodPost, "/v1/conversations/new-chat", f.a.token, flagged).status(202).ok(&again)
	require.False(t, again.ContactCreated)
	require.Equal(t, us.ContactID, again.ContactID)
	var phone string
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT phone FROM contact_phones WHERE contact_id = $1", us.ContactID).Scan(&phone))
	require.Equal(t, "+12025550143", phone)

	// The paid-send stop holds new chats too.
	_, err := e.pool.Exec(ctx, `INSERT INTO paid_send_stops (account_id, channel_id, code, reason, stopped_at) VALUES ($1, $2, '131042', 'payment', $3)`,
		f.a.account.ID, f.line.ID, e.clock.Now())
	require.NoError(t, err)
	p := e.do(http.MethodPost, "/v1/conversations/new-chat", f.a.token, with("phone", "11 94444-0000")).problem(409)
	require.Contains(t, p.Detail, "payment problem")
}
