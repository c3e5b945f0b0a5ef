package webhook_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/webhook"
)

func TestMain(m *testing.M) { testdb.Main(m) }

const appSecret = "s3cret"

type env struct {
	t       testing.TB
	pool    *pgxpool.Pool
	svc     *webhook.Service
	clk     *clock.Manual
	channel uuid.UUID
}

func setup(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	channels := channel.NewService(pool, clk, box)
	acct, err := account.Create(ctx, pool, "Acme")
	require.NoError(t, err)
	name, number := "Vendas", "+55 11 4000-1234"
	ch, err := channels.Create(ctx, acct.ID, channel.Input{Type: channel.WhatsApp, Name: &name, PhoneNumber: &number,
		Credentials: map[string]string{"app_secret": appSecret}})
	require.NoError(t, err)
	return &env{t: t, pool: pool, svc: webhook.NewService(pool, channels, clk), clk: clk, channel: ch.ID}
}

// receive stores a signed delivery of body.
func (e *env) receive(body []byte) {
	e.t.Helper()
	_, err := e.svc.Receive(context.Background(), webhook.Delivery{Family: webhook.FamilyWhatsApp, ChannelID: e.channel,
		Header: http.Header{"X-Hub-Signature-256": {whatsapptest.Sign(appSecret, body)}}, Body: body})
	require.NoError(e.t, err)
}

// message is an inbound text delivery with message id wamid.<n>.
func message(n int) []byte {
	return whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: "1", PhoneNumberID: "2", From: "5511987654321",
		Name: "Maria", ID: fmt.Sprintf("wamid.%d", n), Text: "Oi", At: time.Unix(1_790_000_000+int64(n), 0)})
}

func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	require.NoError(e.t, e.pool.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

func TestForgedSignatureStoresNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	body := message(1)
	for name, header := range map[string]http.Header{
		"forged":  {"X-Hub-Signature-256": {whatsapptest.Sign("other", body)}},
		"missing": {},
	} {
		_, err := e.svc.Receive(context.Background(), webhook.Delivery{Family: webhook.FamilyWhatsApp, ChannelID: e.channel, Header: header, Body: body})
		var f *fault.Error
		require.True(t, errors.As(err, &f), name)
		require.Equal(t, fault.KindUnauthorized, f.Kind, name)
	}
	_, err := e.svc.Receive(context.Background(), webhook.Delivery{Family: webhook.FamilyTelegram, ChannelID: e.channel,
		Header: http.Header{"X-Hub-Signature-256": {whatsapptest.Sign(appSecret, body)}}, Body: body})
	var f *fault.Error
	require.True(t, errors.As(err, &f))
	require.Equal(t, fault.KindNotFound, f.Kind, "a channel of another type")
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries"))
}

// Two (here four) drainers at once over the same backlog, replays included, take each
// delivery once and record each event once.
func TestConcurrentDrainersDoubleNothing(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const unique, replays = 1200, 400
	for i := range unique {
		e.receive(message(i))
	}
	for i := range replays {
		e.receive(message(i * 3)) // the provider retries some
	}
	var (
		mu    sync.Mutex
		total webhook.Drained
		wg    sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				d, err := e.svc.DrainBatch(context.Background(), 50)
				if !assertNoError(t, err) || d.Deliveries == 0 {
					return
				}
				mu.Lock()
				total.Deliveries += d.Deliveries
				total.Events += d.Events
				total.Failed += d.Failed
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.Equal(t, webhook.Drained{Deliveries: unique + replays, Events: unique}, total)
	require.Equal(t, unique, e.count("SELECT count(*) FROM provider_events"))
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL"))
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Errorf("drain: %v", err)
		return false
	}
	return true
}

func TestUnparseableDeliveryIsKeptWithItsError(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.receive(message(1))
	e.receive([]byte(`{"object": "whatsapp_business_account", "entry": "not a list"}`)) // signed, but not the webhook JSON
	e.receive(message(2))
	d, err := e.svc.Drain(context.Background(), webhook.BatchSize, time.Minute)
	require.NoError(t, err)
	require.Equal(t, webhook.Drained{Deliveries: 3, Failed: 1, Events: 2}, d, "the failure does not hold up the rest")
	var msg string
	require.NoError(t, e.pool.QueryRow(context.Background(), "SELECT error FROM webhook_deliveries WHERE error IS NOT NULL").Scan(&msg))
	require.Contains(t, msg, "decode envelope")
	d, err = e.svc.Drain(context.Background(), webhook.BatchSize, time.Minute)
	require.NoError(t, err)
	require.Zero(t, d.Deliveries, "a failed delivery is not retried forever")
}

// TestDrainWakesThePublisher: the events a drained batch wrote are published when its
// transaction commits, not at the publisher's next tick (an hour here).
func TestDrainWakesThePublisher(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := setup(t)
	log := event.NewLog(e.pool)
	go log.RunPublisher(ctx, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	e.svc.EventsWritten = log.Wake
	e.receive(message(1))
	d, err := e.svc.DrainBatch(ctx, webhook.BatchSize)
	require.NoError(t, err)
	require.Equal(t, 1, d.Events)
	require.Eventually(t, func() bool {
		var n int
		return e.pool.QueryRow(ctx, "SELECT count(*) FROM events WHERE type = 'message.received'").Scan(&n) == nil && n == 1
	}, 10*time.Second, 5*time.Millisecond)
}

// With real River workers and no NOTIFY at all (as if every notification were lost), the
// periodic drain still records every delivery.
func TestPeriodicDrainPicksUpWithoutNotify(t *testing.T) {
	t.Parallel()
	e := setup(t)
	for i := range 30 {
		e.receive(message(i))
	}
	client, err := jobs.NewClient(e.pool, jobs.Config{Work: true, TestOnly: true, Webhooks: e.svc})
	require.NoError(t, err)
	require.NoError(t, client.Start(context.Background()))
	t.Cleanup(func() { _ = client.Stop(context.Background()) })
	require.Eventually(t, func() bool { return e.count("SELECT count(*) FROM provider_events") == 30 }, 20*time.Second, 50*time.Millisecond)
	// More arrive while it runs, still unannounced.
	for i := 30; i < 40; i++ {
		e.receive(message(i))
	}
	require.Eventually(t, func() bool { return e.count("SELECT count(*) FROM provider_events") == 40 }, 20*time.Second, 50*time.Millisecond)
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL"))
}

// Receiving NOTIFYs (debounced) and Listen hears it: the wake-up path of the drain.
func TestNotifyWakesListener(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	woken := make(chan struct{}, 100)
	listening := make(chan error, 1)
	go func() { listening <- webhook.Listen(ctx, e.pool, func(context.Context) { woken <- struct{}{} }) }()
	go e.svc.RunNotifier(ctx)
	// Listen needs its LISTEN in place before the notification; store until one is heard.
	require.Eventually(t, func() bool {
		e.receive(message(len(woken)))
		select {
		case <-woken:
			return true
		case <-time.After(100 * time.Millisecond):
			return false
		}
	}, 10*time.Second, 10*time.Millisecond)
	cancel()
	require.NoError(t, <-listening)
}

// Concurrent requests share INSERTs; each is stored exactly once with its own content, and a
// channel deleted since it was cached fails only its own request (404).
func TestConcurrentReceivesAreEachStored(t *testing.T) {
	t.Parallel()
	e := setup(t)
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() { e.receive(message(i)) })
	}
	wg.Wait()
	require.Equal(t, 300, e.count("SELECT count(*) FROM webhook_deliveries"))
	d, err := e.svc.Drain(context.Background(), webhook.BatchSize, time.Minute)
	require.NoError(t, err)
	require.Equal(t, webhook.Drained{Deliveries: 300, Events: 300}, d)

	_, err = e.pool.Exec(context.Background(), "DELETE FROM channels WHERE id = $1", e.channel)
	require.NoError(t, err)
	body := message(1)
	_, err = e.svc.Receive(context.Background(), webhook.Delivery{Family: webhook.FamilyWhatsApp, ChannelID: e.channel,
		Header: http.Header{"X-Hub-Signature-256": {whatsapptest.Sign(appSecret, body)}}, Body: body})
	var f *fault.Error
	require.True(t, errors.As(err, &f), "%v", err)
	require.Equal(t, fault.KindNotFound, f.Kind)
}

// Two worker processes (two River clients on the same database), each woken as Listen would
// wake it, drain one backlog with replays: every delivery is processed once, every event
// recorded once.
func TestTwoWorkerProcessesDrainOnce(t *testing.T) {
	t.Parallel()
	e := setup(t)
	const unique = 1500
	for i := range unique {
		e.receive(message(i))
		if i%5 == 0 {
			e.receive(message(i)) // a provider retry
		}
	}
	ctx := context.Background()
	for range 2 {
		client, err := jobs.NewClient(e.pool, jobs.Config{Work: true, TestOnly: true, Webhooks: e.svc})
		require.NoError(t, err)
		require.NoError(t, client.Start(ctx))
		t.Cleanup(func() { _ = client.Stop(context.Background()) })
		wake := jobs.WakeDrain(client, e.svc, slog.New(slog.NewTextHandler(io.Discard, nil)))
		for range webhook.DrainSlots {
			wake(ctx)
		}
	}
	require.Eventually(t, func() bool {
		return e.count("SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL") == 0
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, unique, e.count("SELECT count(*) FROM provider_events"))
	require.Zero(t, e.count("SELECT count(*) FROM webhook_deliveries WHERE error IS NOT NULL"))
}

// A contact's message drained, then replayed by the provider and drained again, lands once:
// one contact, one conversation, one attendance, one message, one message.received event.
func TestInboundMessageAppliedOnceThroughReplays(t *testing.T) {
	t.Parallel()
	e := setup(t)
	e.receive(message(1))
	e.receive(message(1))
	_, err := e.svc.Drain(context.Background(), webhook.BatchSize, time.Minute)
	require.NoError(t, err)
	e.receive(message(1))
	_, err = e.svc.Drain(context.Background(), webhook.BatchSize, time.Minute)
	require.NoError(t, err)
	for query, want := range map[string]int{
		"SELECT count(*) FROM contacts WHERE origin = 'inbound' AND name = 'Maria'": 1,
		"SELECT count(*) FROM conversations WHERE status = 'open'":                  1,
		"SELECT count(*) FROM attendances":                                          1,
		"SELECT count(*) FROM messages WHERE provider_message_id = 'wamid.1'":       1,
		"SELECT count(*) FROM event_outbox WHERE type = 'message.received'":         1,
	} {
		require.Equal(t, want, e.count(query), query)
	}
	// A sender known only by its business-scoped id (no phone) is a contact by identity.
	e.receive(whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: "1", PhoneNumberID: "2", UserID: "BR.1234567890",
		Name: "Sem Telefone", ID: "wamid.bsuid", Text: "oi", At: time.Unix(1_790_000_100, 0)}))
	_, err = e.svc.Drain(context.Background(), webhook.BatchSize, time.Minute)
	require.NoError(t, err)
	require.Equal(t, 1, e.count("SELECT count(*) FROM contact_identities i JOIN contacts c ON c.id = i.contact_id WHERE c.name = 'Sem Telefone'"))
	require.Equal(t, 2, e.count("SELECT count(*) FROM conversations"))
	require.Equal(t, 1, e.count("SELECT count(*) FROM contact_phones"), "a business-scoped id is not a phone")
}

// messageID is the SQL for the message id a stored delivery of message carries.
const messageID = `substring(convert_from(body, 'UTF8') from '"id":"(wamid\.[0-9]+)"')`

// Past their retention, processed deliveries and provider events are deleted, a batch at a
// time; a delivery never processed stays however old, and recent ones stay.
func TestPruneDeletesWhatIsPastRetention(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	for i := 1; i <= 4; i++ {
		e.receive(message(i))
	}
	_, err := e.svc.DrainBatch(ctx, webhook.BatchSize)
	require.NoError(t, err)
	e.receive(message(5)) // not processed yet
	// 1, 2 and the unprocessed 5 were received a day past the retention; 3 and 4 are recent.
	old := []string{"wamid.1", "wamid.2", "wamid.5"}
	_, err = e.pool.Exec(ctx, `UPDATE webhook_deliveries SET received_at = received_at - $1::interval
		WHERE `+messageID+` = ANY($2)`, "31 days", old)
	require.NoError(t, err)
	_, err = e.pool.Exec(ctx, `UPDATE provider_events SET recorded_at = recorded_at - $1::interval WHERE provider_key = ANY($2)`, "31 days", old)
	require.NoError(t, err)
	require.Equal(t, 5, e.count("SELECT count(*) FROM webhook_deliveries"))
	require.Equal(t, 4, e.count("SELECT count(*) FROM provider_events"))

	p, err := webhook.Prune(ctx, e.pool, e.clk.Now().Add(-webhook.Retention), 1)
	require.NoError(t, err)
	require.Equal(t, webhook.Pruned{Deliveries: 2, Events: 2}, p)
	rows, err := e.pool.Query(ctx, `SELECT `+messageID+` FROM webhook_deliveries ORDER BY 1`)
	require.NoError(t, err)
	kept, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"wamid.3", "wamid.4", "wamid.5"}, kept)
	require.Equal(t, 2, e.count("SELECT count(*) FROM provider_events WHERE provider_key IN ('wamid.3', 'wamid.4')"))
	require.Equal(t, 2, e.count("SELECT count(*) FROM provider_events"))

	// Once processed, the old delivery goes with the next prune.
	_, err = e.svc.DrainBatch(ctx, webhook.BatchSize)
	require.NoError(t, err)
	p, err = webhook.Prune(ctx, e.pool, e.clk.Now().Add(-webhook.Retention), webhook.PruneBatch)
	require.NoError(t, err)
	require.Equal(t, int64(1), p.Deliveries)
}
