package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/webhook"
)

// benchSecretKey seals the bench channel's credentials; the server gets it as
// CONVERSA_SECRET_KEY so it can open them.
var benchSecretKey = secretbox.GenerateKey()

// benchAppSecret is the bench channel's WhatsApp app secret.
const benchAppSecret = "bench-secret"

// webhookBench is the WhatsApp channel the webhook scenarios post to, and a sequence that
// gives every delivery its own message id (so draining records one event per delivery, as
// real traffic would).
type webhookBench struct {
	channelID uuid.UUID
	accountID uuid.UUID
	seq       *atomic.Int64
	// template is a delivery whose message id ends in idDigits zeros at idAt; each delivery
	// copies it and writes its number there, so the load generator spends no JSON encoding on
	// it (its CPU is the server's CPU on this machine).
	template []byte
	idAt     int
	// fromAt are the offsets of the sender's number (benchFrom) in template; senders is how
	// many contacts write in turn (the number's last digits are the delivery's number modulo
	// senders), so each delivery goes to one of that many conversations, as real traffic does.
	fromAt  []int
	senders int
}

const idDigits = 12

// benchFrom is the sender's number in the template; its last six digits vary by sender.
const benchFrom = "5511987000000"

// setupWebhook registers a WhatsApp channel with an app secret.
func setupWebhook(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, senders int) (webhookBench, error) {
	box, err := secretbox.New(benchSecretKey)
	if err != nil {
		return webhookBench{}, err
	}
	name := "Bench WhatsApp"
	number := "+55 11 4000-9999"
	ch, err := channel.NewService(pool, clock.System{}, box).Create(ctx, accountID, channel.Input{
		Type: channel.WhatsApp, Name: &name, PhoneNumber: &number,
		Credentials: map[string]string{"app_secret": benchAppSecret, "verify_token": "bench"},
	})
	if err != nil {
		return webhookBench{}, fmt.Errorf("create bench channel: %w", err)
	}
	template := whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: "1", PhoneNumberID: "2", From: benchFrom,
		Name: "Bench", ID: "wamid.bench." + strings.Repeat("0", idDigits), Text: "Olá, quero saber do meu pedido", At: time.Unix(1_790_000_000, 0)})
	idAt := bytes.Index(template, []byte("wamid.bench.")) + len("wamid.bench.")
	var fromAt []int
	for i := 0; ; {
		j := bytes.Index(template[i:], []byte(benchFrom))
		if j < 0 {
			break
		}
		fromAt = append(fromAt, i+j)
		i += j + len(benchFrom)
	}
	if senders < 1 || senders > 1_000_000 {
		return webhookBench{}, fmt.Errorf("-webhook-senders %d: between 1 and 1 000 000", senders)
	}
	return webhookBench{channelID: ch.ID, accountID: accountID, seq: &atomic.Int64{}, template: template, idAt: idAt,
		fromAt: fromAt, senders: senders}, nil
}

// delivery is the next signed inbound text delivery, shaped as Meta sends them (about 600
// bytes), with a message id never used before.
func (w webhookBench) delivery() (body []byte, signature string) {
	n := w.seq.Add(1)
	body = bytes.Clone(w.template)
	digits := strconv.FormatInt(n, 10)
	copy(body[w.idAt+idDigits-len(digits):], digits)
	sender := strconv.FormatInt(n%int64(w.senders), 10)
	for _, at := range w.fromAt {
		copy(body[at+len(benchFrom)-len(sender):], sender)
	}
	return body, whatsapptest.Sign(benchAppSecret, body)
}

// receiveWebhook posts a signed delivery, as Meta does.
func (h *httpTarget) receiveWebhook(w webhookBench) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		body, sig := w.delivery()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/webhooks/whatsapp/"+w.channelID.String(), bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", sig)
		return h.send(req)
	}
}

// receiveWebhook does what storing a delivery does in the database: the service's one
// autocommit INSERT.
func (r *rawTarget) receiveWebhook(w webhookBench) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		body, sig := w.delivery()
		return r.q.InsertWebhookDelivery(ctx, r.pool, store.InsertWebhookDeliveryParams{
			AccountID: w.accountID, ID: uuid.Must(uuid.NewV7()), ChannelID: w.channelID, Provider: "whatsapp_cloud",
			Signature: sig, Body: body, ReceivedAt: time.Now(),
		})
	}
}

// receiveWebhookNotify is the same INSERT with a NOTIFY in the same statement: what a trigger
// (or pg_notify at every insert) would cost, which the service avoids by notifying at most
// every webhook.NotifyEvery.
func (r *rawTarget) receiveWebhookNotify(w webhookBench) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		body, sig := w.delivery()
		_, err := r.pool.Exec(ctx, `WITH d AS (
			INSERT INTO webhook_deliveries (account_id, id, channel_id, provider, signature, request_url, body, received_at)
			VALUES ($1, $2, $3, 'whatsapp_cloud', $4, '', $5, now()) RETURNING 1)
			SELECT pg_notify($6, '') FROM d`, w.accountID, uuid.Must(uuid.NewV7()), w.channelID, sig, body, webhook.NotifyChannel)
		return err
	}
}

// receiveInProcess is the service's own Receive (signature check, the cached channel, the
// grouped INSERT of concurrent deliveries) called in the load generator's process on a bare
// pool: the ingest path without HTTP, the floor of the ingest tier's rows. The grouped INSERT
// makes the single-row INSERT of receiveWebhook no floor for a rate that groups form at.
func receiveInProcess(w webhookBench, svc *webhook.Service) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		body, sig := w.delivery()
		h := http.Header{}
		h.Set("X-Hub-Signature-256", sig)
		_, err := svc.Receive(ctx, webhook.Delivery{Family: webhook.FamilyWhatsApp, ChannelID: w.channelID, Header: h,
			URL: "http://loadgen/webhooks/whatsapp/" + w.channelID.String(), Body: body})
		return err
	}
}

// processingResult is how a stored backlog was drained by the server's workers.
type processingResult struct {
	Deliveries int
	Copy       time.Duration // storing the backlog by COPY
	Drain      time.Duration // from the COPY's commit until no delivery is unprocessed
	Events     int64
	PeakRSS    int64
}

// waitDrained waits until no delivery is left unprocessed.
func waitDrained(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var pending int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM webhook_deliveries WHERE processed_at IS NULL").Scan(&pending); err != nil {
			return fmt.Errorf("count pending deliveries: %w", err)
		}
		if pending == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d deliveries still unprocessed after %s", pending, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitPublished waits until the event outbox is empty (every event numbered by the publisher)
// and says how long that took.
func waitPublished(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		var waiting bool
		if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM event_outbox)").Scan(&waiting); err != nil {
			return 0, fmt.Errorf("look at the event outbox: %w", err)
		}
		if !waiting {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			return 0, fmt.Errorf("events still unpublished after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// measureProcessing stores n signed deliveries at once (COPY, as if the ingest had taken a
// burst while the workers were down), NOTIFYs as the ingest does, and times the server's
// workers draining them.
func measureProcessing(ctx context.Context, pool *pgxpool.Pool, w webhookBench, n int, rss *rssSampler) (processingResult, error) {
	res := processingResult{Deliveries: n}
	var before int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM provider_events").Scan(&before); err != nil {
		return res, err
	}
	rows := make([][]any, n)
	now := time.Now()
	for i := range rows {
		body, sig := w.delivery()
		rows[i] = []any{w.accountID, uuid.Must(uuid.NewV7()), w.channelID, "whatsapp_cloud", sig, "", body, now}
	}
	start := time.Now()
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"webhook_deliveries"},
		[]string{"account_id", "id", "channel_id", "provider", "signature", "request_url", "body", "received_at"}, pgx.CopyFromRows(rows)); err != nil {
		return res, fmt.Errorf("copy the backlog: %w", err)
	}
	committed := time.Now()
	res.Copy = committed.Sub(start)
	if _, err := pool.Exec(ctx, "SELECT pg_notify($1, '')", webhook.NotifyChannel); err != nil {
		return res, err
	}
	if err := waitDrained(ctx, pool, 10*time.Minute); err != nil {
		return res, err
	}
	res.Drain = time.Since(committed)
	res.PeakRSS = rss.Peak(committed, time.Now())
	var after int64
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM provider_events").Scan(&after); err != nil {
		return res, err
	}
	res.Events = after - before
	return res, nil
}

// sseRate is the steady rate of the inbound-to-SSE measurement: a busy account's inbound
// traffic, well below the ingest ceiling, so the figure is the pipeline's latency and not a
// queue's.
const sseRate = 500

// runWebhooks is the webhook benchmark alone (-webhooks): ingest through the real server,
// flat out and at 3 000/s, next to the raw INSERT and the INSERT with a NOTIFY; then the
// server's workers draining a stored backlog.
func runWebhooks(ctx context.Context, cfg config) (failed bool, err error) {
	started := time.Now()
	loadAtStart := loadAverage()
	// Its own database: another engineer's full run recreates benchDB.
	const webhookDB = benchDB + "_webhooks"
	pool, benchURL, dropDB, err := scenarioDatabase(ctx, cfg, webhookDB)
	if err != nil {
		return false, err
	}
	defer dropDB()
	ten, err := setupTenant(ctx, pool)
	if err != nil {
		return false, err
	}
	wh, err := setupWebhook(ctx, pool, ten.AccountID, cfg.WebhookSenders)
	if err != nil {
		return false, err
	}
	facts, err := machineFacts(ctx, pool)
	if err != nil {
		return false, err
	}
	bin, removeBin, err := conversaBinary(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer removeBin()
	tier, err := measureIngestTier(ctx, cfg, bin, benchURL, pool, ten.APIKey, wh)
	if err != nil {
		return false, err
	}
	for _, r := range tier {
		failed = failed || r.HTTP.Errors > 0
	}
	srv, err := startServer(ctx, bin, benchURL, cfg.DBMaxConns)
	if err != nil {
		return false, err
	}
	defer func() {
		if serr := srv.Stop(); serr != nil {
			logf("%v", serr)
		}
	}()
	raw, err := newRawTarget(ctx, benchURL, int32(cfg.DBMaxConns), ten.AccountID, nil)
	if err != nil {
		return false, err
	}
	defer raw.Close()
	web := newHTTPTarget(srv.Base, ten.APIKey, cfg.Concurrency, nil)

	scenarios := []scenario{
		{
			Name: "POST /webhooks/whatsapp/{channel}, flat out", Clients: cfg.Concurrency, Duration: cfg.Duration,
			HTTP: web.receiveWebhook(wh), Raw: raw.receiveWebhook(wh), Target: target{MinRPS: 3000},
		},
		{
			Name: "POST /webhooks/whatsapp/{channel} at 3000/s", Clients: cfg.Concurrency, Duration: cfg.Duration, Rate: 3000,
			HTTP: web.receiveWebhook(wh), Raw: raw.receiveWebhook(wh), Target: target{MinRPS: 2940, MaxP99: 20 * time.Millisecond},
		},
	}
	// Every phase starts with nothing left to drain: what one phase stored must not be drained
	// under the next (the server drains while it ingests, so each phase still pays for its own).
	settle := func() error {
		if err := waitDrained(ctx, pool, 5*time.Minute); err != nil {
			return err
		}
		_, err := pool.Exec(ctx, "VACUUM ANALYZE webhook_deliveries")
		return err
	}
	var results []scenarioResult
	for _, sc := range scenarios {
		if err := settle(); err != nil {
			return failed, err
		}
		res := measureHTTP(ctx, cfg, sc, srv)
		if err := settle(); err != nil {
			return failed, err
		}
		res.Raw = measureRaw(ctx, cfg, sc, "raw PostgreSQL")
		results = append(results, res)
		failed = failed || res.HTTP.Errors > 0 || res.Raw.Errors > 0
		if err := ctx.Err(); err != nil {
			return failed, err
		}
	}
	if err := settle(); err != nil {
		return failed, err
	}
	logf("raw INSERT with pg_notify per delivery, %d clients", cfg.Concurrency)
	notify := runPhase(ctx, cfg.Concurrency, 0, cfg.Warmup, cfg.Duration, raw.receiveWebhookNotify(wh))
	logf("  %.0f rps, p50 %s, p99 %s, %d errors", notify.RPS(), formatMs(notify.Percentile(50)), formatMs(notify.Percentile(99)), notify.Errors)
	failed = failed || notify.Errors > 0

	logf("waiting for the ingested deliveries to be drained")
	waitFrom := time.Now()
	if err := waitDrained(ctx, pool, 5*time.Minute); err != nil {
		return failed, err
	}
	ingestedDrain := time.Since(waitFrom)
	logf("  drained %s after the last phase", ingestedDrain.Round(time.Millisecond))

	logf("processing a backlog of %d deliveries", cfg.WebhookBacklog)
	proc, err := measureProcessing(ctx, pool, wh, cfg.WebhookBacklog, srv.RSS)
	if err != nil {
		return failed, err
	}
	logf("  COPY %s, drained in %s: %.0f deliveries/s, %d events (%.0f events/s)", proc.Copy.Round(time.Millisecond),
		proc.Drain.Round(time.Millisecond), float64(proc.Deliveries)/proc.Drain.Seconds(), proc.Events, float64(proc.Events)/proc.Drain.Seconds())
	if err := settle(); err != nil {
		return failed, err
	}
	// The drain wrote an event per delivery into the outbox; the stream phases time new events
	// only, so they start once the publisher has numbered the backlog's (otherwise they wait
	// behind it and time out seeing nothing).
	logf("waiting for the publisher to empty the event outbox")
	published, err := waitPublished(ctx, pool, 5*time.Minute)
	if err != nil {
		return failed, err
	}
	logf("  outbox empty %s after the drain", published.Round(time.Millisecond))
	probe, err := measureOutboxToSSE(ctx, pool, ten.AccountID, srv.Base, ten.APIKey, 100, 300)
	if err != nil {
		return failed, err
	}
	if len(probe) > 0 {
		logf("outbox to SSE: %d events, p50 %s, p99 %s", len(probe), formatMs(percentile(probe, 50)), formatMs(percentile(probe, 99)))
	}
	logf("inbound to SSE: posting %d deliveries/s for %s with an event stream open", sseRate, cfg.Duration)
	sse, err := measureInboundToSSE(ctx, pool, srv.Base, ten.APIKey, wh, sseRate, cfg.Duration)
	if err != nil {
		return failed, err
	}
	logf("  %d of %d seen on the stream, p50 %s, p99 %s", sse.Seen, sse.Sent, formatMs(sse.Percentile(50)), formatMs(sse.Percentile(99)))
	for _, st := range sse.stages() {
		if len(st.ds) > 0 {
			logf("  %s: p50 %s, p99 %s", st.name, st.p(50), st.p(99))
		}
	}
	if err := srv.Stop(); err != nil {
		logf("%v", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Run of %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s. Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", facts, loadAtStart, loadAverage())
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -webhooks -duration %s -warmup %s -concurrency %d -db-max-conns %d -webhook-backlog %d -webhook-senders %d`.\n",
		cfg.Duration, cfg.Warmup, cfg.Concurrency, cfg.DBMaxConns, cfg.WebhookBacklog, cfg.WebhookSenders)
	fmt.Fprintf(&b, "- Server: `conversa serve` as a child process, CONVERSA_DB_MAX_CONNS=%d, its River workers on (2 drain workers). "+
		"Each request is a signed WhatsApp inbound text (about 600 bytes) with its own message id, so draining records one event per delivery, "+
		fmt.Sprintf("from one of %d contacts in turn (their first messages create the contacts and conversations); ", cfg.WebhookSenders)+
		"the server drains while it ingests, and every phase starts once everything stored before it has been drained. The ingest tier rows come first: "+
		"an API-only process (CONVERSA_JOBS=false, no River workers) takes the deliveries and nothing drains them until the server with workers starts "+
		"(which drains them before its own rows), so they measure the request path alone, as a deployment with separate API and worker processes runs it "+
		"(on this machine both still share the two cores and the database with the load generator). Raw PG: for the ingest tier, the service's own Receive "+
		"(signature check, cached channel, the grouped INSERT) called in the load generator's process on a bare pgx pool of the same size, the same offered rate, no HTTP; "+
		"for the rows below it, the service's single-row INSERT on such a pool, and the same INSERT "+
		"with `pg_notify` in the statement (what a NOTIFY per delivery would cost).\n\n", cfg.DBMaxConns)
	b.WriteString("| Ingest | Clients | rps | p50 | p90 | p99 | max | Errors | Raw PG rps | Raw p99 | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range slices.Concat(tier, results) {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s | %s | %d | %.0f | %s | %s | %s |\n", r.Scenario.Name, r.Scenario.Clients,
			r.HTTP.RPS(), formatMs(r.HTTP.Percentile(50)), formatMs(r.HTTP.Percentile(90)), formatMs(r.HTTP.Percentile(99)),
			formatMs(r.HTTP.Max()), r.HTTP.Errors, r.Raw.RPS(), formatMs(r.Raw.Percentile(99)), r.Scenario.Target, yesNo(r.Met()))
	}
	fmt.Fprintf(&b, "| raw INSERT + pg_notify per delivery, flat out | %d | %.0f | %s | %s | %s | %s | %d | | | (cost of a NOTIFY per row) | |\n",
		cfg.Concurrency, notify.RPS(), formatMs(notify.Percentile(50)), formatMs(notify.Percentile(90)), formatMs(notify.Percentile(99)),
		formatMs(notify.Max()), notify.Errors)
	fmt.Fprintf(&b, "\nThe deliveries ingested above were all drained %s after the last phase.\n\n", ingestedDrain.Round(time.Millisecond))
	b.WriteString("| Processing | Deliveries | Stored by COPY in | Drained in | Deliveries/s | Events recorded | Events/s | Server peak RSS | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	evps := float64(proc.Events) / proc.Drain.Seconds()
	fmt.Fprintf(&b, "| backlog drained by the server's workers | %d | %s | %s | %.0f | %d | %.0f | %s | ≥ 5000 events/s | %s |\n",
		proc.Deliveries, formatMs(proc.Copy), formatMs(proc.Drain), float64(proc.Deliveries)/proc.Drain.Seconds(), proc.Events, evps,
		formatMB(proc.PeakRSS), yesNo(evps >= 5000 && proc.Events == int64(proc.Deliveries)))
	fmt.Fprintf(&b, "\nThe publisher had numbered every event of the backlog %s after the drain ended; the stream rows start then.\n", published.Round(time.Millisecond))
	fmt.Fprintf(&b, "\nInbound to SSE: one client holds GET /v1/events/stream?after=<last seq> open (API key; live from now, as a console that has loaded its state) while deliveries are posted at a steady "+
		"%d/s; each is timed from just before its POST to the stream event that carries its message id.\n\n", sseRate)
	b.WriteString(sseMarkdown(sse))
	for _, st := range sse.stages() {
		if len(st.ds) > 0 {
			fmt.Fprintf(&b, "| of which %s | | | | %s | | %s | | | |\n", st.name, st.p(50), st.p(99))
		}
	}
	if n := len(probe); n > 0 {
		fmt.Fprintf(&b, "| event emitted straight into the outbox → stream (no webhook, no drain) | 100/s | 300 | %d | %s | | %s | %s | | |\n",
			n, formatMs(percentile(probe, 50)), formatMs(percentile(probe, 99)), formatMs(probe[n-1]))
	}
	fmt.Print(b.String())
	if cfg.Markdown != "" {
		if err := appendMarkdown(cfg.Markdown, b.String()); err != nil {
			return failed, err
		}
	}
	return failed, nil
}

// measureIngestTier runs the ingest scenarios against an API-only process (CONVERSA_JOBS=false):
// the request path alone, the signature check and the durable INSERT, with no drain sharing
// the machine. What it stores stays undrained until the server with workers starts.
func measureIngestTier(ctx context.Context, cfg config, bin, benchURL string, pool *pgxpool.Pool, apiKey string, wh webhookBench) ([]scenarioResult, error) {
	api, err := startServer(ctx, bin, benchURL, cfg.DBMaxConns, "CONVERSA_JOBS=false")
	if err != nil {
		return nil, err
	}
	defer func() {
		if serr := api.Stop(); serr != nil {
			logf("%v", serr)
		}
	}()
	web := newHTTPTarget(api.Base, apiKey, cfg.Concurrency, nil)
	// The floor: the same service code in this process, on a bare pool of the server's size,
	// measured while the API process idles.
	bare, err := pgdb.Open(ctx, benchURL, int32(cfg.DBMaxConns))
	if err != nil {
		return nil, fmt.Errorf("open the in-process pool: %w", err)
	}
	defer bare.Close()
	box, err := secretbox.New(benchSecretKey)
	if err != nil {
		return nil, err
	}
	inProcess := receiveInProcess(wh, webhook.NewService(bare, channel.NewService(bare, clock.System{}, box), clock.System{}))
	var out []scenarioResult
	for _, sc := range []scenario{
		{Name: "ingest tier (API-only process, nothing draining), flat out", Clients: cfg.Concurrency, Duration: cfg.Duration,
			HTTP: web.receiveWebhook(wh), Raw: inProcess, Target: target{MinRPS: 3000}},
		{Name: "ingest tier (API-only process, nothing draining) at 3000/s", Clients: cfg.Concurrency, Duration: cfg.Duration, Rate: 3000,
			HTTP: web.receiveWebhook(wh), Raw: inProcess, Target: target{MinRPS: 2940, MaxP99: 20 * time.Millisecond}},
	} {
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE webhook_deliveries"); err != nil {
			return nil, err
		}
		res := measureHTTP(ctx, cfg, sc, api)
		if _, err := pool.Exec(ctx, "VACUUM ANALYZE webhook_deliveries"); err != nil {
			return nil, err
		}
		res.Raw = measureRaw(ctx, cfg, sc, "the service's Receive in this process (no HTTP)")
		out = append(out, res)
		if err := ctx.Err(); err != nil {
			return out, err
		}
	}
	return out, nil
}

// loadAverage is /proc/loadavg's first three fields: how busy the machine was, since other
// work may share it.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}
