package send_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/fake"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/webhook"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// env is an account with one WhatsApp line and one contact, and a dispatcher on a manual
// clock sending through sender.
type env struct {
	t       *testing.T
	ctx     context.Context
	pool    *pgxpool.Pool
	clock   *clock.Manual
	account uuid.UUID
	line    uuid.UUID
	contact uuid.UUID
	sender  provider.Sender
	d       *send.Dispatcher
	q       *store.Queries
	convID  uuid.UUID
	// channels opens the line's credentials (the webhook secret) for the drain.
	channels *channel.Service
}

const webhookSecret = "wh-secret"

func newEnv(t *testing.T, throughput int, sender provider.Sender) *env {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	acct, err := account.Create(ctx, pool, "Acme")
	require.NoError(t, err)
	name, prov, phone := "Linha", "fake", "+551140000100"
	in := channel.Input{Type: channel.WhatsApp, Name: &name, Provider: &prov, PhoneNumber: &phone, Credentials: map[string]string{"webhook_secret": webhookSecret}}
	if throughput > 0 {
		in.ThroughputMPS = &throughput
	}
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	channels := channel.NewService(pool, clk, box)
	ch, err := channels.Create(ctx, acct.ID, in)
	require.NoError(t, err)
	c, err := contact.NewService(pool, clk).Create(ctx, acct.ID, contact.Fields{Name: "Maria", Phones: []string{"+5511988880001"}})
	require.NoError(t, err)
	e := &env{t: t, ctx: ctx, pool: pool, clock: clk, account: acct.ID, line: ch.ID, contact: c.ID, sender: sender, q: store.New(), channels: channels}
	e.d = e.dispatcher()
	return e
}

func (e *env) dispatcher() *send.Dispatcher {
	return send.NewDispatcher(e.pool, e.clock, func(context.Context, uuid.UUID, uuid.UUID) (provider.Sender, error) { return e.sender, nil })
}

// queue stores n queued messages of kind (text or template) due now.
func (e *env) queue(n int, kind string, templateID *uuid.UUID) []uuid.UUID {
	e.t.Helper()
	ids := make([]uuid.UUID, n)
	now := e.clock.Now()
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
		queued := "queued"
		p := store.QueueMessageParams{AccountID: e.account, ID: ids[i], ChannelID: e.line, Direction: "outbound", Kind: "text",
			Text: fmt.Sprintf("msg %d", i), Payload: []byte("{}"), Status: &queued, StatusAt: &now, SendAfter: &now, CreatedAt: now,
			NewConversationID: uuid.Must(uuid.NewV7()), ContactID: e.contact, Address: "+5511988880001"}
		if kind == "template" {
			cat := "utility"
			p.Kind, p.TemplateID, p.TemplateCategory = "template", templateID, &cat
			p.Payload = []byte(`{"template":{"Name":"pedido","Language":"pt_BR"}}`)
		}
		conv, err := e.q.QueueMessage(e.ctx, e.pool, p)
		require.NoError(e.t, err)
		e.convID = conv
	}
	return ids
}

type msgRow struct {
	Status, Code, Reason, ProviderID string
	SendAfter                        *time.Time
	Attempts                         int
}

func (e *env) msg(id uuid.UUID) msgRow {
	e.t.Helper()
	var r msgRow
	require.NoError(e.t, e.pool.QueryRow(e.ctx, `SELECT coalesce(status, ''), coalesce(error_code, ''), coalesce(error_reason, ''),
		coalesce(provider_message_id, ''), send_after, attempts FROM messages WHERE id = $1`, id).
		Scan(&r.Status, &r.Code, &r.Reason, &r.ProviderID, &r.SendAfter, &r.Attempts))
	return r
}

func (e *env) dispatch() send.Batch {
	e.t.Helper()
	b, err := e.d.DispatchBatch(e.ctx, e.line)
	require.NoError(e.t, err)
	return b
}

func (e *env) count(sql string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(e.ctx, sql, args...).Scan(&n))
	return n
}

// applyStatuses runs ApplyStatuses in its own transaction, as the drain does.
func (e *env) applyStatuses(sts ...send.Status) {
	e.t.Helper()
	require.NoError(e.t, pgx.BeginFunc(e.ctx, e.pool, func(tx pgx.Tx) error { return send.ApplyStatuses(e.ctx, tx, sts) }))
}

// scripted answers each send with the next of its answers (the last one repeats).
type scripted struct {
	mu      sync.Mutex
	answers []error
	calls   int
	sent    []provider.Message
}

func (s *scripted) Send(_ context.Context, m provider.Message) (provider.Sent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.answers[min(s.calls, len(s.answers)-1)]
	s.calls++
	if err != nil {
		return provider.Sent{}, err
	}
	s.sent = append(s.sent, m)
	return provider.Sent{ID: "wamid." + m.Ref}, nil
}

func code(c string, retryable bool) error {
	return &provider.Error{Code: c, Reason: "reason " + c, Retryable: retryable}
}

func TestDispatchSendsAndEmits(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Config{})
	e := newEnv(t, 0, f)
	ids := e.queue(3, "text", nil)
	b := e.dispatch()
	require.Equal(t, 3, b.Claimed)
	require.EqualValues(t, 3, f.Count())
	for i, id := range ids {
		m := e.msg(id)
		require.Equal(t, "sent", m.Status)
		require.NotEmpty(t, m.ProviderID)
		require.Nil(t, m.SendAfter)
		require.Equal(t, fmt.Sprintf("msg %d", i), findSent(f.Sent(), id.String()).Text)
	}
	require.Equal(t, 3, e.count("SELECT count(*) FROM event_outbox WHERE type = 'message.status'"))
	require.Zero(t, e.count("SELECT count(*) FROM message_claims"), "the record ended the batch's claim")
	require.Equal(t, 0, e.dispatch().Claimed, "nothing left")
}

func findSent(ms []provider.Message, ref string) provider.Message {
	for _, m := range ms {
		if m.Ref == ref {
			return m
		}
	}
	return provider.Message{}
}

func TestKilledWorkerNoDuplicateSend(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Config{})
	e := newEnv(t, 0, f)
	ids := e.queue(5, "text", nil)
	crashing := e.dispatcher()
	send.CrashAfterSend(crashing)
	b, err := crashing.DispatchBatch(e.ctx, e.line)
	require.NoError(t, err)
	require.Equal(t, 5, b.Claimed)
	require.EqualValues(t, 5, f.Count(), "the provider got them; the worker died before recording")
	for _, id := range ids {
		m := e.msg(id)
		require.Equal(t, "queued", m.Status)
		require.Zero(t, m.Attempts, "the claim does not write the messages")
	}
	require.Equal(t, 1, e.count("SELECT count(*) FROM message_claims"), "the dead worker's claim holds them")
	// Another worker: the lease holds them until it ends.
	require.Equal(t, 0, e.dispatch().Claimed)
	e.clock.Advance(send.Lease - time.Microsecond)
	require.Equal(t, 0, e.dispatch().Claimed, "not before the lease ends")
	e.clock.Advance(time.Microsecond)
	require.Equal(t, 5, e.dispatch().Claimed)
	require.Zero(t, e.count("SELECT count(*) FROM message_claims"), "the expired claim was released, the new one recorded")
	require.EqualValues(t, 5, f.Count(), "no message was sent twice")
	require.EqualValues(t, 5, f.Duplicates(), "the re-sends were recognised by our id")
	for _, id := range ids {
		m := e.msg(id)
		require.Equal(t, "sent", m.Status)
		require.Equal(t, 2, m.Attempts)
	}
}

func TestEngagementRetrySchedule(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []error{code(send.CodeEngagement, true), code(send.CodeEngagement, true)}}
	e := newEnv(t, 0, s)
	id := e.queue(1, "text", nil)[0]
	start := e.clock.Now()
	e.dispatch()
	m := e.msg(id)
	require.Equal(t, "queued", m.Status, "131049 is retried")
	require.Equal(t, send.CodeEngagement, m.Code)
	require.Equal(t, start.Add(24*time.Hour), m.SendAfter.UTC(), "no sooner than 24 hours later")
	for _, d := range []time.Duration{time.Second, time.Hour, 24*time.Hour - 2*time.Second} {
		e.clock.Set(start.Add(d))
		require.Equal(t, 0, e.dispatch().Claimed, "not at %v", d)
	}
	e.clock.Set(start.Add(24 * time.Hour))
	require.Equal(t, 1, e.dispatch().Claimed)
	m = e.msg(id)
	require.Equal(t, "failed", m.Status, "retried once only")
	require.Equal(t, send.CodeEngagement, m.Code)
	require.Equal(t, 2, s.calls)
}

func TestDecide(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		err       *provider.Error
		kind      string
		attempts  int
		retried   bool
		wantRetry bool
		wantWait  time.Duration
	}{
		{name: "Sent"},
		{name: "EngagementWaits24h", err: &provider.Error{Code: "131049", Retryable: true, RetryAfter: 24 * time.Hour}, attempts: 1, wantRetry: true, wantWait: 24 * time.Hour},
		{name: "EngagementOnce", err: &provider.Error{Code: "131049", Retryable: true}, attempts: 2, retried: true},
		{name: "PairLimitFirst", err: &provider.Error{Code: "131056", Retryable: true}, attempts: 1, wantRetry: true, wantWait: time.Second},
		{name: "PairLimitThird", err: &provider.Error{Code: "131056", Retryable: true}, attempts: 3, wantRetry: true, wantWait: 16 * time.Second},
		{name: "PairLimitGivesUp", err: &provider.Error{Code: "131056", Retryable: true}, attempts: send.MaxAttempts},
		{name: "ThroughputBacksOff", err: &provider.Error{Code: "130429", Retryable: true, RetryAfter: time.Second}, attempts: 2, wantRetry: true, wantWait: 4 * time.Second},
		{name: "PaymentHoldsTemplates", err: &provider.Error{Code: "131042"}, kind: "template", attempts: 1, wantRetry: true},
		{name: "PaymentFailsFreeForm", err: &provider.Error{Code: "131042"}, kind: "text", attempts: 1},
		{name: "ExperimentNoRetry", err: &provider.Error{Code: "130472", Retryable: true}, attempts: 1},
		{name: "Undeliverable", err: &provider.Error{Code: "131026"}, attempts: 1},
		{name: "OutsideWindow", err: &provider.Error{Code: "131047"}, attempts: 1},
		{name: "TemplateMissing", err: &provider.Error{Code: "132001"}, attempts: 1},
		{name: "TransportRetried", err: &provider.Error{Code: "transport", Retryable: true}, attempts: 3, wantRetry: true, wantWait: 8 * time.Second},
		{name: "TransportGivesUp", err: &provider.Error{Code: "transport", Retryable: true}, attempts: send.MaxAttempts},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, when := send.Decide(tc.err, tc.kind, tc.attempts, tc.retried, now)
			if tc.err == nil {
				require.Equal(t, send.DecideSent, d)
				return
			}
			require.Equal(t, tc.wantRetry, d == send.DecideRetry || d == send.DecideHold, "decision %v", d)
			if tc.wantRetry {
				require.Equal(t, tc.wantWait, when.Sub(now))
			}
		})
	}
}

func TestStatusesOnlyMoveForward(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []error{nil}}
	e := newEnv(t, 0, s)
	ids := e.queue(4, "text", nil)
	e.dispatch()
	pid := func(i int) string { return "wamid." + ids[i].String() }
	st := func(i int, status provider.Status, c string) send.Status {
		return send.Status{AccountID: e.account, ChannelID: e.line, ProviderMessageID: pid(i), Status: status, At: e.clock.Now(), Code: c, Reason: "r " + c}
	}
	// Read, then delivered, then sent, in separate deliveries: read stays.
	e.applyStatuses(st(0, provider.StatusRead, ""))
	e.applyStatuses(st(0, provider.StatusDelivered, ""))
	e.applyStatuses(st(0, provider.StatusSent, ""))
	e.applyStatuses(st(0, provider.StatusFailed, "131026"))
	require.Equal(t, "read", e.msg(ids[0]).Status)
	// Delivered and failed in one batch, failed first: the contact got it.
	e.applyStatuses(st(1, provider.StatusFailed, "131026"), st(1, provider.StatusDelivered, ""))
	require.Equal(t, "delivered", e.msg(ids[1]).Status)
	// Failed from sent keeps code and reason, and is final.
	e.applyStatuses(st(2, provider.StatusFailed, "131026"))
	e.applyStatuses(st(2, provider.StatusRead, ""))
	m := e.msg(ids[2])
	require.Equal(t, "failed", m.Status)
	require.Equal(t, "131026", m.Code)
	require.Equal(t, "r 131026", m.Reason)
	// A 131049 failure reported by webhook: retried 24 hours later, once, under a new ref.
	e.applyStatuses(st(3, provider.StatusFailed, "131049"))
	m = e.msg(ids[3])
	require.Equal(t, "queued", m.Status)
	require.Equal(t, e.clock.Now().Add(24*time.Hour), m.SendAfter.UTC())
	require.Equal(t, 0, e.dispatch().Claimed)
	e.clock.Advance(24 * time.Hour)
	require.Equal(t, 1, e.dispatch().Claimed)
	require.Equal(t, ids[3].String()+"/retry", s.sent[len(s.sent)-1].Ref)
	m = e.msg(ids[3])
	require.Equal(t, "sent", m.Status)
	e.applyStatuses(send.Status{AccountID: e.account, ChannelID: e.line, ProviderMessageID: m.ProviderID, Status: provider.StatusFailed, At: e.clock.Now(), Code: "131049"})
	require.Equal(t, "failed", e.msg(ids[3]).Status, "the second 131049 is final")
	require.GreaterOrEqual(t, e.count("SELECT count(*) FROM event_outbox WHERE type = 'message.status'"), 4+5)
}

func TestStatusBeforeProviderID(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []error{nil}}
	e := newEnv(t, 0, s)
	id := e.queue(1, "text", nil)[0]
	pid := "wamid." + id.String()
	// The webhook came first: the drain recorded it and found no message to apply it to.
	for _, status := range []provider.Status{provider.StatusDelivered, provider.StatusRead} {
		u := provider.StatusUpdate{MessageID: pid, Status: status, Timestamp: e.clock.Now()}
		b, err := json.Marshal(u)
		require.NoError(t, err)
		_, err = e.pool.Exec(e.ctx, `INSERT INTO provider_events (account_id, channel_id, kind, provider_key, delivery_id, payload, occurred_at, recorded_at)
			VALUES ($1, $2, 'status', $3, $4, $5, $6, $6)`, e.account, e.line, pid+":"+string(status), uuid.New(), b, e.clock.Now())
		require.NoError(t, err)
		e.applyStatuses(send.FromUpdate(e.account, e.line, u))
	}
	require.Equal(t, "queued", e.msg(id).Status)
	e.dispatch()
	require.Equal(t, "read", e.msg(id).Status, "the stored statuses were applied when the id was stored")
}

func TestLineLimitAcrossDispatchers(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Config{})
	e := newEnv(t, 100, f)
	e.queue(50, "text", nil)
	d1, d2 := e.dispatcher(), e.dispatcher()
	var wg sync.WaitGroup
	var claimed atomic.Int64
	for _, d := range []*send.Dispatcher{d1, d2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 5 {
				b, err := d.DispatchBatch(e.ctx, e.line)
				require.NoError(t, err)
				claimed.Add(int64(b.Claimed))
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 20, claimed.Load(), "the bucket's worth, whatever the number of dispatchers")
	require.EqualValues(t, 20, f.Count())
	e.clock.Advance(50 * time.Millisecond)
	b1, err := d1.DispatchBatch(e.ctx, e.line)
	require.NoError(t, err)
	require.Zero(t, b1.Claimed, "50 ms later, 5 slots: not yet half the bucket")
	require.Equal(t, 50*time.Millisecond, b1.Wait)
	e.clock.Advance(50 * time.Millisecond)
	b1, err = d1.DispatchBatch(e.ctx, e.line)
	require.NoError(t, err)
	b2, err := d2.DispatchBatch(e.ctx, e.line)
	require.NoError(t, err)
	require.Equal(t, 10, b1.Claimed+b2.Claimed, "100 ms worth at 100/s")
	require.Positive(t, b2.Wait)
}

func TestThroughputBackOff(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []error{code(send.CodeThroughput, true), nil}}
	e := newEnv(t, 0, s)
	id := e.queue(1, "text", nil)[0]
	e.dispatch()
	require.Equal(t, "queued", e.msg(id).Status)
	b := e.dispatch()
	require.Equal(t, time.Second, b.Wait, "the whole line waits")
	e.clock.Advance(2 * time.Second)
	e.dispatch()
	require.Equal(t, "sent", e.msg(id).Status)
}

func (e *env) template(deleted bool) uuid.UUID {
	e.t.Helper()
	id := uuid.Must(uuid.NewV7())
	_, err := e.pool.Exec(e.ctx, `INSERT INTO templates (account_id, id, name, language, category, parameter_format, components, status, created_at, updated_at, deleted_at)
		VALUES ($1, $2, 'pedido', 'pt_BR', 'utility', 'positional', '{"body":{"text":"Oi"}}', 'approved', $3, $3, CASE WHEN $4 THEN $3::timestamptz END)`,
		e.account, id, e.clock.Now(), deleted)
	require.NoError(e.t, err)
	return id
}

func TestTemplateGoneLeavesSystemNote(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []error{code(send.CodeTemplateNotFound, false)}}
	e := newEnv(t, 0, s)
	gone := e.template(true)
	id := e.queue(1, "template", &gone)[0]
	e.dispatch()
	require.Equal(t, 0, s.calls, "nothing was sent")
	m := e.msg(id)
	require.Equal(t, "failed", m.Status)
	require.Equal(t, send.CodeTemplateGone, m.Code)
	// The provider says it does not exist.
	live := e.template(false)
	id2 := e.queue(1, "template", &live)[0]
	e.dispatch()
	require.Equal(t, "failed", e.msg(id2).Status)
	require.Equal(t, 2, e.count("SELECT count(*) FROM messages WHERE conversation_id = $1 AND kind = 'system' AND direction = 'internal'", e.convID))
}

func TestTemplateSendOpensCategorySession(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []error{nil}}
	e := newEnv(t, 0, s)
	tpl := e.template(false)
	e.queue(1, "template", &tpl)
	e.dispatch()
	var raw []byte
	require.NoError(t, e.pool.QueryRow(e.ctx, "SELECT category_sessions FROM conversations WHERE id = $1", e.convID).Scan(&raw))
	var sessions map[string]time.Time
	require.NoError(t, json.Unmarshal(raw, &sessions))
	require.Equal(t, e.clock.Now().Add(24*time.Hour), sessions["utility"].UTC())
}

func TestPaymentProblemStopsPaidSends(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []error{code(send.CodePayment, false), nil}}
	e := newEnv(t, 0, s)
	tpl := e.template(false)
	first := e.queue(1, "template", &tpl)[0]
	e.dispatch()
	require.Equal(t, "queued", e.msg(first).Status, "held, not failed")
	require.Equal(t, 1, e.count("SELECT count(*) FROM paid_send_stops WHERE account_id = $1", e.account))
	require.Equal(t, 1, e.count("SELECT count(*) FROM event_outbox WHERE type = $1", send.EventPaidSendsStopped))
	second := e.queue(1, "template", &tpl)[0]
	text := e.queue(1, "text", nil)[0]
	require.Equal(t, 1, e.dispatch().Claimed, "only the free-form message goes")
	require.Equal(t, "sent", e.msg(text).Status)
	require.Equal(t, "queued", e.msg(second).Status)
	stopped, err := send.ClearPaidSendStop(e.ctx, e.pool, e.account)
	require.NoError(t, err)
	require.True(t, stopped)
	require.Equal(t, 2, e.dispatch().Claimed)
	require.Equal(t, "sent", e.msg(first).Status)
	require.Equal(t, "sent", e.msg(second).Status)
}

// TestDispatchOnRiverWorkers runs the dispatcher and the sweep on River's own workers: queued
// messages reach the provider with no wake at all (the sweep finds the line).
func TestDispatchOnRiverWorkers(t *testing.T) {
	t.Parallel()
	f := fake.New(fake.Config{})
	e := newEnv(t, 1000, f)
	ids := e.queue(20, "text", nil)
	client, err := jobs.NewClient(e.pool, jobs.Config{Work: true, Clock: e.clock, TestOnly: true, Send: e.d})
	require.NoError(t, err)
	done, cancel := client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed)
	defer cancel()
	require.NoError(t, client.Start(e.ctx))
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	deadline := time.After(20 * time.Second)
	for f.Count() < int64(len(ids)) {
		select {
		case ev := <-done:
			require.Equal(t, river.EventKindJobCompleted, ev.Kind, "%s: %+v", ev.Job.Kind, ev.Job.Errors)
		case <-deadline:
			t.Fatalf("sent %d of %d", f.Count(), len(ids))
		}
	}
	for f.Count() == int64(len(ids)) && e.count("SELECT count(*) FROM messages WHERE status = 'sent'") < len(ids) {
		select {
		case <-done:
		case <-deadline:
			t.Fatal("outcomes not recorded")
		}
	}
}

// TestStatusWebhooksThroughTheDrain posts signed fake-provider status webhooks and drains them
// as the server does: a status that came before its message was sent is kept and applied when
// the provider id is stored; later ones, out of order within and across deliveries, only move
// the status forward; each change is a message.status event.
func TestStatusWebhooksThroughTheDrain(t *testing.T) {
	t.Parallel()
	s := &scripted{answers: []error{nil}}
	e := newEnv(t, 0, s)
	wh := webhook.NewService(e.pool, e.channels, e.clock)
	ids := e.queue(2, "text", nil)
	deliver := func(statuses ...string) {
		t.Helper()
		body, err := json.Marshal(map[string]any{"statuses": statusesJSON(statuses...)})
		require.NoError(t, err)
		_, err = wh.Receive(e.ctx, webhook.Delivery{Family: webhook.FamilyFake, ChannelID: e.line,
			Header: map[string][]string{fake.SignatureHeader: {fake.Sign(webhookSecret, body)}}, Body: body})
		require.NoError(t, err)
		_, err = wh.DrainBatch(e.ctx, 100)
		require.NoError(t, err)
	}
	pid := func(i int) string { return "wamid." + ids[i].String() }
	deliver(pid(0), "delivered")
	require.Equal(t, "queued", e.msg(ids[0]).Status, "not sent yet: the status waits in provider_events")
	e.dispatch()
	require.Equal(t, "delivered", e.msg(ids[0]).Status)
	deliver(pid(1), "read", pid(1), "delivered")
	deliver(pid(1), "sent", pid(0), "sent")
	require.Equal(t, "read", e.msg(ids[1]).Status)
	require.Equal(t, "delivered", e.msg(ids[0]).Status)
	deliver(pid(1), "read") // a retried delivery: recorded once, applied once
	var statuses []string
	rows, err := e.pool.Query(e.ctx, "SELECT data->>'status' FROM event_outbox WHERE type = 'message.status' AND data->>'message_id' = $1 ORDER BY id", ids[1])
	require.NoError(t, err)
	for rows.Next() {
		var st string
		require.NoError(t, rows.Scan(&st))
		statuses = append(statuses, st)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []string{"sent", "read"}, statuses)
}

func statusesJSON(pairs ...string) []map[string]string {
	var out []map[string]string
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, map[string]string{"message_id": pairs[i], "status": pairs[i+1]})
	}
	return out
}

// TestDispatchToWhatsAppCloudAPI sends through the real WhatsApp adapter to a local fake of
// the Cloud API: our message id travels as biz_opaque_callback_data, Meta's 131049 is retried
// a day later, and a 130472 (marketing experiment) fails at once with Meta's code and reason.
func TestDispatchToWhatsAppCloudAPI(t *testing.T) {
	t.Parallel()
	srv := whatsapptest.New(t, whatsapptest.Config{PhoneNumberID: "111"})
	e := newEnv(t, 0, whatsapp.New(whatsapp.Config{BaseURL: srv.URL, PhoneNumberID: "111", AccessToken: whatsapptest.DefaultAccessToken}))
	ids := e.queue(1, "text", nil)
	e.dispatch()
	m := e.msg(ids[0])
	require.Equal(t, "sent", m.Status)
	sent := srv.Messages()
	require.Len(t, sent, 1)
	require.Equal(t, m.ProviderID, sent[0].ID)
	var body struct {
		Ref string `json:"biz_opaque_callback_data"`
	}
	require.NoError(t, json.Unmarshal(sent[0].Body, &body))
	require.Equal(t, ids[0].String(), body.Ref)

	srv.FailNext(1, 131049, 0)
	ids = e.queue(1, "text", nil)
	e.dispatch()
	m = e.msg(ids[0])
	require.Equal(t, "queued", m.Status)
	require.Equal(t, "131049", m.Code)
	require.Equal(t, e.clock.Now().Add(24*time.Hour), m.SendAfter.UTC())

	srv.FailNext(1, 130472, 0)
	ids = e.queue(1, "text", nil)
	e.dispatch()
	m = e.msg(ids[0])
	require.Equal(t, "failed", m.Status)
	require.Equal(t, "130472", m.Code)
	require.NotEmpty(t, m.Reason)
}
