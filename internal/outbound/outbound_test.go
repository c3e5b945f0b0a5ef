package outbound_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/outbound"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// receiver records what it was sent and answers with the next of its statuses (200 when
// none are left).
type receiver struct {
	mu       sync.Mutex
	statuses []int
	got      []delivery
}

type delivery struct {
	header http.Header
	body   []byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, delivery{req.Header.Clone(), b})
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	w.WriteHeader(status)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

type env struct {
	pool    *pgxpool.Pool
	svc     *outbound.Service
	log     *event.Log
	clock   *clock.Manual
	account uuid.UUID
}

func setup(t *testing.T, allowPrivate bool) *env {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	clk := clock.NewManual(time.Now().Truncate(time.Second))
	return &env{pool: pool, svc: outbound.NewService(pool, clk, box, outbound.Config{AllowPrivate: allowPrivate}), log: event.NewLog(pool), clock: clk, account: a.ID}
}

func (e *env) emit(t *testing.T, typ string, data any) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, event.Emit(ctx, e.pool, e.account, e.clock.Now(), event.New{Type: typ, Data: data}))
	_, err := e.log.Publish(ctx)
	require.NoError(t, err)
}

func TestSignedDeliveryWithRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t, true)
	rcv := &receiver{statuses: []int{http.StatusInternalServerError}}
	srv := httptest.NewServer(rcv)
	defer srv.Close()

	sub, secret, err := e.svc.Create(ctx, e.account, outbound.Input{URL: srv.URL + "/hooks", EventTypes: []string{"contact.merged"}})
	require.NoError(t, err)
	require.Contains(t, secret, "whsec_")
	e.emit(t, "contact.created", map[string]string{"id": "x"})
	e.emit(t, "contact.merged", map[string]string{"survivor_id": "s"})

	n, err := e.svc.Deliver(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n, "only the subscribed type is sent")
	sends, err := e.svc.Sends(ctx, e.account, sub.ID, 0, 10)
	require.NoError(t, err)
	require.Len(t, sends, 1)
	require.Equal(t, "pending", sends[0].Status, "a 500 is retried")
	require.Equal(t, 500, *sends[0].LastStatus)
	require.Equal(t, e.clock.Now().Add(outbound.FirstRetry), sends[0].NextAttemptAt)

	n, err = e.svc.Deliver(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "not before the retry is due")
	e.clock.Advance(outbound.FirstRetry)
	n, err = e.svc.Deliver(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	sends, err = e.svc.Sends(ctx, e.account, sub.ID, 0, 10)
	require.NoError(t, err)
	require.Equal(t, "succeeded", sends[0].Status)
	require.Equal(t, 2, sends[0].Attempts)

	got := rcv.deliveries()
	require.Len(t, got, 2)
	last := got[1]
	require.NoError(t, outbound.Verify(secret, last.header.Get(outbound.SignatureHeader), last.body, e.clock.Now(), 5*time.Minute))
	require.Error(t, outbound.Verify("whsec_wrong", last.header.Get(outbound.SignatureHeader), last.body, e.clock.Now(), 5*time.Minute))
	require.Error(t, outbound.Verify(secret, last.header.Get(outbound.SignatureHeader), last.body, e.clock.Now().Add(time.Hour), 5*time.Minute),
		"a replay an hour later is refused")
	var p outbound.Payload
	require.NoError(t, json.Unmarshal(last.body, &p))
	require.Equal(t, "contact.merged", p.Type)
	require.JSONEq(t, `{"survivor_id":"s"}`, string(p.Data))
	require.Equal(t, p.ID.String(), last.header.Get("Conversa-Event-Id"))
	require.Equal(t, got[0].header.Get("Conversa-Event-Id"), last.header.Get("Conversa-Event-Id"), "a retry carries the same event id")

	// Delivered again by hand.
	require.NoError(t, e.svc.Redeliver(ctx, e.account, sub.ID, sends[0].ID))
	n, err = e.svc.Deliver(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Len(t, rcv.deliveries(), 3)
	require.True(t, fault.Is(e.svc.Redeliver(ctx, e.account, sub.ID, uuid.New()), fault.KindNotFound))
}

func TestGivesUpAfterADay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t, true)
	rcv := &receiver{statuses: make([]int, 100)}
	for i := range rcv.statuses {
		rcv.statuses[i] = http.StatusServiceUnavailable
	}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	sub, _, err := e.svc.Create(ctx, e.account, outbound.Input{URL: srv.URL})
	require.NoError(t, err)
	e.emit(t, "x", nil)
	start := e.clock.Now()
	for range 100 {
		if _, err := e.svc.Deliver(ctx); err != nil {
			t.Fatal(err)
		}
		sends, err := e.svc.Sends(ctx, e.account, sub.ID, 0, 1)
		require.NoError(t, err)
		if sends[0].Status != "pending" {
			require.Equal(t, "failed", sends[0].Status)
			break
		}
		e.clock.Set(sends[0].NextAttemptAt)
	}
	require.LessOrEqual(t, e.clock.Now().Sub(start), outbound.GiveUpAfter)
	attempts := len(rcv.deliveries())
	require.GreaterOrEqual(t, attempts, 8)
	require.Less(t, attempts, 20)
}

func TestRetryAt(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		n    int
		now  time.Duration
		want time.Duration
		ok   bool
	}{
		{1, 0, 30 * time.Second, true},
		{2, time.Minute, 2 * time.Minute, true},
		{3, time.Hour, time.Hour + 2*time.Minute, true},
		{12, 10 * time.Hour, 14 * time.Hour, true},
		{13, 21 * time.Hour, 0, false},
	} {
		got, ok := outbound.RetryAt(t0, t0.Add(tc.now), tc.n)
		require.Equal(t, tc.ok, ok, "attempt %d", tc.n)
		if ok {
			require.Equal(t, t0.Add(tc.want), got, "attempt %d", tc.n)
		}
	}
}

func TestPrivateAddressesRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t, false)
	rcv := &receiver{}
	srv := httptest.NewServer(rcv)
	defer srv.Close()
	sub, _, err := e.svc.Create(ctx, e.account, outbound.Input{URL: srv.URL})
	require.NoError(t, err)
	e.emit(t, "x", nil)
	_, err = e.svc.Deliver(ctx)
	require.NoError(t, err)
	require.Empty(t, rcv.deliveries(), "a loopback receiver is never reached")
	sends, err := e.svc.Sends(ctx, e.account, sub.ID, 0, 1)
	require.NoError(t, err)
	require.Contains(t, sends[0].LastError, "not public")
}

func TestInvalidSubscriptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := setup(t, true)
	for _, u := range []string{"", "not a url", "ftp://example.com/x", "/relative", "https://user:pw@example.com/"} {
		_, _, err := e.svc.Create(ctx, e.account, outbound.Input{URL: u})
		require.True(t, fault.Is(err, fault.KindInvalid), "%q: %v", u, err)
	}
}
