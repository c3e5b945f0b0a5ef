package send_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/template"
)

// openConversation gives contactID a conversation on the line whose WhatsApp service session
// ends at expires, and returns it.
func (e *env) openConversation(contactID uuid.UUID, address string, expires time.Time) uuid.UUID {
	e.t.Helper()
	now := e.clock.Now()
	conv, err := e.q.QueueMessage(e.ctx, e.pool, store.QueueMessageParams{AccountID: e.account, ID: uuid.Must(uuid.NewV7()), ChannelID: e.line,
		Direction: "internal", Kind: "note", Text: "aberta", Payload: []byte("{}"), CreatedAt: now,
		NewConversationID: uuid.Must(uuid.NewV7()), ContactID: contactID, Address: address})
	require.NoError(e.t, err)
	_, err = e.pool.Exec(e.ctx, "UPDATE conversations SET service_expires_at = $1 WHERE id = $2", expires, conv)
	require.NoError(e.t, err)
	return conv
}

func (e *env) newContact(name, phone string, code *string) uuid.UUID {
	e.t.Helper()
	c, err := contact.NewService(e.pool, e.clock).Create(e.ctx, e.account, contact.Fields{Name: name, Phones: []string{phone}, CustomerCode: code})
	require.NoError(e.t, err)
	return c.ID
}

// One statement stores the fast-path messages of concurrent requests: each one by its own
// rules, so the ones that may go are stored and the others are left to the full path (which
// says why), whatever else shares the statement.
func TestFreeFormsStoredTogether(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	now := e.clock.Now()
	code := "C-77"
	open := e.newContact("Ana", "+5511988880002", &code)
	openConv := e.openConversation(open, "+5511988880002", now.Add(time.Hour))
	blocked := e.newContact("Bruno", "+5511988880003", nil)
	e.openConversation(blocked, "+5511988880003", now.Add(time.Hour))
	_, err := e.pool.Exec(e.ctx, "UPDATE contacts SET blocked = true WHERE id = $1", blocked)
	require.NoError(t, err)
	expired := e.newContact("Carla", "+5511988880004", nil)
	e.openConversation(expired, "+5511988880004", now.Add(-time.Minute))
	never := e.newContact("Davi", "+5511988880005", nil) // no conversation on the line
	unknown := uuid.Must(uuid.NewV7())

	text := func(to *uuid.UUID, code, body string) send.Request {
		return send.Request{AccountID: e.account, ChannelID: e.line, ContactID: to, CustomerCode: code, Text: body}
	}
	reqs := []send.Request{
		text(&open, "", "primeira"),
		text(&blocked, "", "bloqueado"),
		text(&open, "", "segunda"),
		text(&expired, "", "fora da sessão"),
		text(&never, "", "sem conversa"),
		text(nil, "C-77", "por código"),
		text(&unknown, "", "desconhecido"),
		text(nil, "NOPE", "código desconhecido"),
	}
	at := make([]time.Time, len(reqs))
	for i := range at {
		at[i] = now.Add(time.Duration(i) * time.Second)
	}
	ids, convs, err := send.QueueTogether(e.ctx, e.svc(), reqs, at)
	require.NoError(t, err)
	want := []uuid.UUID{openConv, uuid.Nil, openConv, uuid.Nil, uuid.Nil, openConv, uuid.Nil, uuid.Nil}
	require.Equal(t, want, convs)

	for i, id := range ids {
		var n int
		require.NoError(t, e.pool.QueryRow(e.ctx, "SELECT count(*) FROM messages WHERE id = $1 AND status = 'queued' AND text = $2",
			id, reqs[i].Text).Scan(&n))
		require.Equal(t, map[bool]int{true: 1, false: 0}[want[i] != uuid.Nil], n, "message %d (%s)", i, reqs[i].Text)
	}
	var last time.Time
	var unanswered *time.Time
	require.NoError(t, e.pool.QueryRow(e.ctx, "SELECT last_message_at, unanswered_since FROM conversations WHERE id = $1", openConv).
		Scan(&last, &unanswered))
	require.True(t, at[5].Equal(last), "the conversation's last message is the latest of the group (%s)", last)
	require.Nil(t, unanswered)
}

// Concurrent sends through the pool share statements and each gets its own outcome.
func TestConcurrentSends(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 0, nil)
	now := e.clock.Now()
	open := e.newContact("Ana", "+5511988880002", nil)
	openConv := e.openConversation(open, "+5511988880002", now.Add(time.Hour))
	blocked := e.newContact("Bruno", "+5511988880003", nil)
	e.openConversation(blocked, "+5511988880003", now.Add(time.Hour))
	_, err := e.pool.Exec(e.ctx, "UPDATE contacts SET blocked = true WHERE id = $1", blocked)
	require.NoError(t, err)

	svc := e.svc()
	const n = 60
	var wg sync.WaitGroup
	errs := make([]error, n)
	queued := make([]send.Queued, n)
	for i := range n {
		wg.Go(func() {
			to := open
			if i%3 == 2 {
				to = blocked
			}
			queued[i], errs[i] = svc.Send(e.ctx, e.pool, send.Request{AccountID: e.account, ChannelID: e.line, ContactID: &to, Text: fmt.Sprint("msg ", i)})
		})
	}
	wg.Wait()
	stored := 0
	for i := range n {
		if i%3 == 2 {
			require.ErrorIs(t, errs[i], send.ErrBlocked, "message %d", i)
			continue
		}
		require.NoError(t, errs[i], "message %d", i)
		require.Equal(t, openConv, queued[i].ConversationID)
		stored++
	}
	var count int
	require.NoError(t, e.pool.QueryRow(e.ctx, "SELECT count(*) FROM messages WHERE conversation_id = $1 AND status = 'queued'", openConv).Scan(&count))
	require.Equal(t, stored, count)
}

// svc is a Send Message service on the env's account.
func (e *env) svc() *send.Service {
	contacts := contact.NewService(e.pool, e.clock)
	return send.NewService(e.pool, e.clock, contacts, template.NewService(e.pool, e.clock, e.channels, contacts), consent.NewService(e.pool, e.clock))
}
