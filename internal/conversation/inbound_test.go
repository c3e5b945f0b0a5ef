package conversation_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/session"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// start is the test clock's start: 12:00 UTC, 09:00 in Brazil.
var start = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

type env struct {
	t        *testing.T
	pool     *pgxpool.Pool
	clock    *clock.Manual
	svc      *conversation.Service
	consent  *consent.Service
	contacts *contact.Service
	account  uuid.UUID
	whatsapp uuid.UUID
	telegram uuid.UUID
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(start)
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	channels := channel.NewService(pool, clk, box)
	acct, err := account.Create(ctx, pool, "Acme")
	require.NoError(t, err)
	fake := "fake"
	wa, number := "Vendas", "+55 11 4000-1234"
	w, err := channels.Create(ctx, acct.ID, channel.Input{Type: channel.WhatsApp, Name: &wa, Provider: &fake, PhoneNumber: &number})
	require.NoError(t, err)
	tg := "Bot"
	g, err := channels.Create(ctx, acct.ID, channel.Input{Type: channel.Telegram, Name: &tg, Provider: &fake})
	require.NoError(t, err)
	return &env{t: t, pool: pool, clock: clk, svc: conversation.NewService(pool, clk), consent: consent.NewService(pool, clk),
		contacts: contact.NewService(pool, clk), account: acct.ID, whatsapp: w.ID, telegram: g.ID}
}

// msg is a contact's text message on channel ch, id wamid.<n>, at start plus n minutes.
func (e *env) msg(ch uuid.UUID, from string, n int, text string) conversation.Inbound {
	at := start.Add(time.Duration(n) * time.Minute)
	return conversation.Inbound{AccountID: e.account, ChannelID: ch, At: at, Message: &provider.InboundMessage{
		ID: fmt.Sprintf("wamid.%d", n), From: from, FromName: "Maria", Timestamp: at, Kind: "text", Text: text,
	}}
}

func echo(in conversation.Inbound) conversation.Inbound {
	m := *in.Message
	m.Echo = true
	in.Message = &m
	return in
}

func (e *env) apply(in ...conversation.Inbound) {
	e.t.Helper()
	require.NoError(e.t, pgx.BeginFunc(context.Background(), e.pool, func(tx pgx.Tx) error {
		return e.svc.ApplyInbound(context.Background(), tx, in)
	}))
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// only returns the account's single conversation.
func (e *env) only() conversation.Conversation {
	e.t.Helper()
	list, err := e.svc.List(context.Background(), conversation.ListQuery{AccountID: e.account, Limit: 10})
	require.NoError(e.t, err)
	require.Len(e.t, list, 1)
	return list[0].Conversation
}

func TestInboundCreatesContactConversationAttendanceAndMessage(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.apply(e.msg(e.whatsapp, "5511987654321", 1, "Olá, quero saber do pedido"))

	c := e.only()
	require.Equal(t, "open", c.Status)
	require.NotNil(t, c.Attendance)
	require.Equal(t, "20261202000001", c.Attendance.Protocol, "default format, Brazilian date, first of the day")
	requireTime(t, start.Add(time.Minute+session.Length), c.Session.ServiceExpiresAt)
	require.True(t, c.FreeFormAllowed(e.clock.Now()))
	requireTime(t, start.Add(time.Minute), *c.UnansweredSince)
	ct, err := e.contacts.Get(ctx, e.account, c.ContactID)
	require.NoError(t, err)
	require.Equal(t, "Maria", ct.Name)
	require.Equal(t, contact.OriginInbound, ct.Origin)
	require.Equal(t, e.whatsapp, *ct.OriginChannelID)
	require.Equal(t, []contact.Phone{{Number: "+5511987654321"}}, ct.Phones)
	msgs, err := e.svc.Messages(ctx, e.account, c.ID, "", nil, 10)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, "inbound", msgs[0].Direction)
	require.Equal(t, c.Attendance.ID, *msgs[0].AttendanceID)
	p, err := e.svc.CurrentProtocol(ctx, e.pool, e.account, c.ID)
	require.NoError(t, err)
	require.Equal(t, c.Attendance.Protocol, p, "{{protocolo}}")
	require.Equal(t, 2, e.count("SELECT count(*) FROM event_outbox WHERE type IN ('message.received', 'conversation.opened')"))

	// A second message: same contact, conversation and attendance; the contact is found by
	// its identity now.
	e.apply(e.msg(e.whatsapp, "5511987654321", 2, "Alô?"))
	require.Equal(t, 1, e.count("SELECT count(*) FROM contacts"))
	require.Equal(t, 1, e.count("SELECT count(*) FROM attendances"))
	require.Equal(t, 2, e.count("SELECT count(*) FROM messages"))
	requireTime(t, start.Add(time.Minute), *e.only().UnansweredSince)
}

func TestInboundFindsContactByPhone(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	// Stored with the ninth digit; WhatsApp may report the old 8-digit form.
	ct, err := e.contacts.Create(ctx, e.account, contact.Fields{Name: "Maria Cadastrada", Phones: []string{"+55 11 98765-4321"}})
	require.NoError(t, err)
	e.apply(e.msg(e.whatsapp, "551187654321", 1, "oi"))
	c := e.only()
	require.Equal(t, ct.ID, c.ContactID)
	require.Equal(t, 1, e.count("SELECT count(*) FROM contacts"))
	require.Equal(t, 1, e.count("SELECT count(*) FROM contact_identities WHERE contact_id = $1", ct.ID))
}

func TestInboundManySendersOneBatch(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var in []conversation.Inbound
	for i := range 50 {
		from := fmt.Sprintf("55119%08d", 70000000+i)
		in = append(in, e.msg(e.whatsapp, from, 2*i, "oi"), e.msg(e.whatsapp, from, 2*i+1, "tudo bem?"))
	}
	in = append(in, e.msg(e.telegram, "chat-1", 200, "oi do telegram"))
	e.apply(in...)
	require.Equal(t, 51, e.count("SELECT count(*) FROM contacts"))
	require.Equal(t, 51, e.count("SELECT count(*) FROM conversations WHERE status = 'open'"))
	require.Equal(t, 101, e.count("SELECT count(*) FROM messages"))
	require.Equal(t, 51, e.count("SELECT count(DISTINCT protocol) FROM attendances"))
	require.Equal(t, 51, e.count("SELECT max(last) FROM protocol_counters"))
}

func TestEchoIsStoredAndDoesNotRenew(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.apply(e.msg(e.whatsapp, "5511987654321", 1, "oi"))
	before := e.only()
	e.apply(echo(e.msg(e.whatsapp, "5511987654321", 30, "Olá! Como posso ajudar?")))
	c := e.only()
	requireTime(t, before.Session.ServiceExpiresAt, c.Session.ServiceExpiresAt)
	require.Nil(t, c.UnansweredSince, "the business answered")
	requireTime(t, start.Add(30*time.Minute), *c.LastMessageAt)
	requireTime(t, start.Add(time.Minute), *c.LastInboundAt)
	require.Equal(t, 1, e.count("SELECT count(*) FROM messages WHERE direction = 'echo'"))
	// A reaction neither asks nor answers.
	r := e.msg(e.whatsapp, "5511987654321", 40, "👍")
	r.Message.Kind, r.Message.ReplyTo = "reaction", "wamid.30"
	e.apply(r)
	require.Nil(t, e.only().UnansweredSince)
	require.Equal(t, 1, e.count("SELECT count(*) FROM messages WHERE kind = 'reaction' AND reply_to_provider_id = 'wamid.30'"))
}

func TestSessionNeverShortenedByLateWebhook(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.apply(e.msg(e.whatsapp, "5511987654321", 60, "mais recente"))
	e.apply(e.msg(e.whatsapp, "5511987654321", 10, "atrasada"))
	c := e.only()
	requireTime(t, start.Add(60*time.Minute+session.Length), c.Session.ServiceExpiresAt)
	requireTime(t, start.Add(60*time.Minute), *c.LastInboundAt)
	e.apply(e.msg(e.whatsapp, "5511987654321", 120, "renova"))
	requireTime(t, start.Add(120*time.Minute+session.Length), e.only().Session.ServiceExpiresAt)
	e.clock.Advance(session.Length + 3*time.Hour)
	require.False(t, e.only().FreeFormAllowed(e.clock.Now()))
}

func TestFirstWhatsAppMessageRecordsImplicitConsentAndOptOutRevokes(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.apply(e.msg(e.whatsapp, "5511987654321", 1, "oi"))
	c := e.only()
	ok, err := e.consent.Allowed(ctx, e.pool, e.account, c.ContactID, consent.PurposeMarketing, channel.WhatsApp, false)
	require.NoError(t, err)
	require.True(t, ok, "implicit consent on the first WhatsApp message")
	e.apply(e.msg(e.whatsapp, "5511987654321", 2, "outra"))
	require.Equal(t, 1, e.count("SELECT count(*) FROM consent_records WHERE contact_id = $1", c.ContactID), "only the first message")

	e.apply(e.msg(e.whatsapp, "5511987654321", 3, " Sair! "))
	ok, err = e.consent.Allowed(ctx, e.pool, e.account, c.ContactID, consent.PurposeMarketing, channel.WhatsApp, false)
	require.NoError(t, err)
	require.False(t, ok, "the opt-out keyword revoked marketing")
	v, err := e.consent.Verify(ctx, e.account)
	require.NoError(t, err)
	require.Nil(t, v.Problem, "the chain still verifies")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM messages WHERE conversation_id = $1 AND direction = 'outbound' AND status = 'queued'
		AND text LIKE 'Pronto: você não receberá mais mensagens de marketing%'`, c.ID), "the opt-out is confirmed to the contact, once")
	require.Equal(t, 0, e.count(`SELECT count(*) FROM conversations WHERE id = $1 AND unanswered_since IS NOT NULL`, c.ID),
		"the confirmation answers the contact")

	// Telegram messages record no implicit WhatsApp consent.
	e.apply(e.msg(e.telegram, "chat-9", 4, "oi"))
	require.Equal(t, 2, e.count("SELECT count(*) FROM consent_records"))
}

func TestOptInKeywordConfirmsPendingDoubleOptIn(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	// A Telegram contact (no implicit WhatsApp consent) with a pending double opt-in.
	e.apply(e.msg(e.telegram, "chat-1", 1, "oi"))
	c := e.only()
	_, err := e.consent.Record(ctx, e.account, c.ContactID, consent.Entry{Action: consent.Pending, Purposes: []consent.Purpose{consent.PurposeMarketing},
		Channels: []channel.Type{channel.Telegram}, Method: consent.FormMethod, Text: "Quer receber ofertas? Responda SIM."}, consent.Recorder{Kind: "user", ID: "test"})
	require.NoError(t, err)
	e.clock.Advance(time.Hour)
	e.apply(e.msg(e.telegram, "chat-1", 30, "sim"))
	ok, err := e.consent.Allowed(ctx, e.pool, e.account, c.ContactID, consent.PurposeMarketing, channel.Telegram, true)
	require.NoError(t, err)
	require.True(t, ok, "the reply confirmed the double opt-in (explicit)")
	require.Equal(t, 1, e.count(`SELECT count(*) FROM messages WHERE conversation_id = $1 AND direction = 'outbound' AND status = 'queued'
		AND text = 'Obrigado! Sua inscrição está confirmada.'`, c.ID), "the confirmation is queued for the contact")
}

func TestBlockedContactsMessageIsDroppedAndRecorded(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.apply(e.msg(e.whatsapp, "5511987654321", 1, "oi"))
	c := e.only()
	_, err := e.pool.Exec(context.Background(), "UPDATE contacts SET blocked = true WHERE id = $1", c.ContactID)
	require.NoError(t, err)
	e.apply(e.msg(e.whatsapp, "5511987654321", 90, "me responde"))
	require.Equal(t, 1, e.count("SELECT count(*) FROM blocked_messages WHERE contact_id = $1 AND provider_message_id = 'wamid.90'", c.ContactID))
	require.Equal(t, 1, e.count("SELECT count(*) FROM messages"))
	requireTime(t, *c.LastMessageAt, *e.only().LastMessageAt)
}

func TestTelegramContactFoundByProviderID(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.apply(e.msg(e.telegram, "123456789", 1, "oi"))
	first := e.only()
	e.apply(e.msg(e.telegram, "123456789", 2, "de novo"))
	c := e.only()
	require.Equal(t, first.ContactID, c.ContactID)
	require.Equal(t, "123456789", c.Address)
	require.True(t, c.FreeFormAllowed(e.clock.Now().Add(72*time.Hour)), "no session window outside WhatsApp")
	require.Equal(t, 0, e.count("SELECT count(*) FROM contact_phones"), "a chat id is not a phone")
}

func TestProtocolFormatAndCounters(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	_, err := e.svc.SetProtocolFormat(ctx, e.account, "{yyyy}{mm}{dd}{seq:3}")
	require.NoError(t, err)
	_, err = e.svc.SetProtocolFormat(ctx, e.account, "{dd}{seq:3}")
	require.ErrorContains(t, err, "{dd} needs {mm}")
	e.apply(e.msg(e.whatsapp, "5511987654321", 1, "oi"), e.msg(e.whatsapp, "5511987654322", 2, "oi"))
	found, err := e.svc.FindByProtocol(ctx, e.account, "20261202002")
	require.NoError(t, err)
	require.Len(t, found, 1)
	// A closed attendance is not found by its protocol.
	_, err = e.pool.Exec(ctx, "UPDATE attendances SET closed_at = now() WHERE protocol = '20261202002'")
	require.NoError(t, err)
	found, err = e.svc.FindByProtocol(ctx, e.account, "20261202002")
	require.NoError(t, err)
	require.Empty(t, found)
}

func TestMessagesSearchAndPaging(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.apply(
		e.msg(e.whatsapp, "5511987654321", 1, "Preciso da segunda via da fatura"),
		e.msg(e.whatsapp, "5511987654321", 2, "A ligação caiu"),
		e.msg(e.whatsapp, "5511987654321", 3, "Quero cancelar a assinatura"),
	)
	c := e.only()
	// Stemmed: "faturas" finds "fatura", "cancelamento" finds "cancelar".
	for q, want := range map[string]int{"ligação": 1, "ligacao": 1, "LIGACAO": 1, "faturas": 1, "cancelamento": 1, "boleto": 0, "a": 3} {
		got, err := e.svc.Messages(ctx, e.account, c.ID, q, nil, 10)
		require.NoError(t, err)
		if q == "a" { // a stop word: matches nothing
			want = 0
		}
		require.Len(t, got, want, q)
	}
	page1, err := e.svc.Messages(ctx, e.account, c.ID, "", nil, 2)
	require.NoError(t, err)
	require.Equal(t, []string{"Quero cancelar a assinatura", "A ligação caiu"}, []string{page1[0].Text, page1[1].Text})
	page2, err := e.svc.Messages(ctx, e.account, c.ID, "", &page1[1].ID, 2)
	require.NoError(t, err)
	require.Len(t, page2, 1)
	require.Equal(t, "Preciso da segunda via da fatura", page2[0].Text)
}

func TestMergeFoldsConversations(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.apply(e.msg(e.whatsapp, "5511987654321", 1, "oi"), e.msg(e.whatsapp, "5511987654322", 2, "sou a mesma pessoa"),
		e.msg(e.telegram, "chat-2", 3, "eu também"))
	var keep, dup, other uuid.UUID
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT contact_id FROM contact_identities WHERE address = '5511987654321'").Scan(&keep))
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT contact_id FROM contact_identities WHERE address = '5511987654322'").Scan(&dup))
	require.NoError(t, e.pool.QueryRow(ctx, "SELECT contact_id FROM contact_identities WHERE address = 'chat-2'").Scan(&other))
	// The duplicate also writes on Telegram (the channel the survivor has no conversation on).
	for _, q := range []string{"UPDATE conversations SET contact_id = $1 WHERE contact_id = $2", "UPDATE contact_identities SET contact_id = $1 WHERE contact_id = $2"} {
		_, err := e.pool.Exec(ctx, q, dup, other)
		require.NoError(t, err)
	}
	// A blocked message of the duplicate moves too.
	_, err := e.pool.Exec(ctx, "UPDATE contacts SET blocked = true WHERE id = $1", dup)
	require.NoError(t, err)
	e.apply(e.msg(e.telegram, "chat-2", 5, "bloqueado"))
	_, err = e.pool.Exec(ctx, "UPDATE contacts SET blocked = false WHERE id = $1", dup)
	require.NoError(t, err)

	res, err := e.contacts.Merge(ctx, e.account, keep, dup, consent.Recorder{Kind: "user", ID: "test"})
	require.NoError(t, err)
	require.EqualValues(t, 2, res.Conversations)
	require.Equal(t, 2, e.count("SELECT count(*) FROM conversations WHERE contact_id = $1", keep), "one per channel")
	require.Equal(t, 0, e.count("SELECT count(*) FROM conversations WHERE contact_id = $1", dup))
	require.Equal(t, 3, e.count("SELECT count(*) FROM messages m JOIN conversations v ON v.id = m.conversation_id WHERE v.contact_id = $1", keep))
	require.Equal(t, 3, e.count("SELECT count(*) FROM contact_identities WHERE contact_id = $1", keep))
	require.Equal(t, 1, e.count("SELECT count(*) FROM blocked_messages WHERE contact_id = $1", keep))
	require.Equal(t, 2, e.count("SELECT count(*) FROM attendances WHERE closed_at IS NULL"), "one open attendance per conversation")
	require.Equal(t, 3, e.count("SELECT count(*) FROM attendances"), "attendances are kept, with their protocols")
	// The duplicate's address now reaches the survivor.
	e.apply(e.msg(e.whatsapp, "5511987654322", 6, "voltei"))
	require.Equal(t, 2, e.count("SELECT count(*) FROM conversations"))
	require.Equal(t, 4, e.count("SELECT count(*) FROM messages m JOIN conversations v ON v.id = m.conversation_id WHERE v.contact_id = $1", keep))
}

// requireTime compares instants, whatever their location.
func requireTime(t *testing.T, want, got time.Time) {
	t.Helper()
	require.True(t, want.Equal(got), "want %s, got %s", want, got)
}

// Messages have no foreign key to their conversation (the drain's rate); deleting a
// conversation still takes its messages (00017's trigger), and no message is left orphaned.
func TestDeletingConversationDeletesItsMessages(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	e.apply(e.msg(e.whatsapp, "5511987654321", 1, "oi"), e.msg(e.telegram, "chat-1", 2, "oi"), e.msg(e.telegram, "chat-2", 3, "oi"))
	_, err := e.pool.Exec(ctx, "DELETE FROM conversations WHERE address = 'chat-1'")
	require.NoError(t, err)
	require.Equal(t, 2, e.count("SELECT count(*) FROM messages"))
	// A contact's deletion cascades to its conversations, and on to their messages.
	_, err = e.pool.Exec(ctx, "DELETE FROM contacts WHERE id = (SELECT contact_id FROM contact_identities WHERE address = 'chat-2')")
	require.NoError(t, err)
	require.Equal(t, 1, e.count("SELECT count(*) FROM messages"))
	require.Zero(t, e.count("SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM conversations v WHERE v.id = m.conversation_id)"))
}
