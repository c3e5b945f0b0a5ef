package main

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/send"
)

// Send benchmark settings.
const (
	sendLines      = 10
	sendLineRate   = 1000 // messages per second per fake line (WhatsApp's top throughput)
	sendContacts   = 100_000
	sendBacklogPer = 20_000 // queued messages per line for the dispatch measurement
	riverNoopJobs  = 100_000
)

// sendBench is the account's ten fake WhatsApp lines and the contacts, each with an open
// service session on one line (so free-form text is allowed).
type sendBench struct {
	accountID uuid.UUID
	lines     []uuid.UUID
	contacts  []uuid.UUID
	bodies    [][]byte // per contact: the POST /v1/messages body
}

func setupSend(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, contacts []uuid.UUID) (sendBench, error) {
	lines, err := createFakeLines(ctx, pool, accountID, sendLines, sendLineRate)
	if err != nil {
		return sendBench{}, err
	}
	b := sendBench{accountID: accountID, contacts: contacts, lines: lines}
	// Contact n talks on line n % 10 and wrote an hour ago.
	if _, err := pool.Exec(ctx, `
		INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, service_expires_at, last_inbound_at, created_at, updated_at)
		SELECT c.account_id, gen_random_uuid(), c.id, ($2::uuid[])[1 + (row_number() OVER (ORDER BY c.id) - 1) % $3], p.phone, 'open',
		       now() + interval '23 hours', now() - interval '1 hour', now(), now()
		FROM contacts c JOIN contact_phones p ON p.account_id = c.account_id AND p.contact_id = c.id
		WHERE c.account_id = $1`, accountID, b.lines, sendLines); err != nil {
		return sendBench{}, fmt.Errorf("open conversations: %w", err)
	}
	for i, c := range contacts {
		b.bodies = append(b.bodies, fmt.Appendf(nil, `{"channel_id":%q,"contact_id":%q,"text":"Olá! Seu pedido %d saiu para entrega."}`,
			b.lines[i%sendLines], c, i))
	}
	return b, vacuumCounted(ctx, pool, int64(len(contacts)), "conversations")
}

func (h *httpTarget) sendMessage(b sendBench) op {
	return func(ctx context.Context, rng *rand.Rand) error {
		return h.do(ctx, "POST", "/v1/messages", b.bodies[rng.IntN(len(b.bodies))])
	}
}

// sendMessage is what the service does in the database for one message to a contact with an
// open session when it arrives alone: the one statement that checks the rules and stores it,
// with a generic plan as internal/send runs it (under load the service stores the messages of
// concurrent requests with one such statement).
func (r *rawTarget) sendMessage(b sendBench) op {
	db := pgdb.GenericPlans{Pool: r.pool}
	return func(ctx context.Context, rng *rand.Rand) error {
		i := rng.IntN(len(b.contacts))
		_, err := r.q.QueueFreeForms(ctx, db, store.QueueFreeFormsParams{AccountIds: []uuid.UUID{b.accountID},
			Ids: []uuid.UUID{uuid.Must(uuid.NewV7())}, ChannelIds: []uuid.UUID{b.lines[i%sendLines]}, ContactIds: []uuid.UUID{b.contacts[i]},
			CustomerCodes: []string{""}, Kinds: []string{"text"}, Texts: []string{"Olá! Seu pedido saiu para entrega."},
			Payloads: [][]byte{[]byte("{}")}, SentByUserIds: []uuid.UUID{uuid.Nil}, ApiKeyIds: []uuid.UUID{uuid.Nil},
			CreatedAts: []time.Time{time.Now()}})
		return err
	}
}

// waitQueued waits until no message is queued, and returns how long that took. It asks
// whether any is left, not how many: counting a 200 000-message backlog every 20 ms took
// ~100 ms of PostgreSQL CPU a time, most of a core taken from the dispatch it was timing.
func waitQueued(ctx context.Context, pool *pgxpool.Pool, timeout time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		var left bool
		if err := pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM messages WHERE status = 'queued')").Scan(&left); err != nil {
			return 0, err
		}
		if !left {
			return time.Since(start), nil
		}
		if time.Since(start) > timeout {
			var n int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM messages WHERE status = 'queued'").Scan(&n); err != nil {
				return 0, err
			}
			return 0, fmt.Errorf("%d messages still queued after %s", n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dispatchResult is how a backlog went out through the server's dispatchers.
type dispatchResult struct {
	Messages int
	Took     time.Duration
	// MaxLineSecond is the most messages one line sent in one calendar second (status_at),
	// leaving out each line's first and last second (the bucket starts full; the last second
	// is partial).
	MaxLineSecond int
	// MaxLineRate is the highest average rate of one line over its whole sending.
	MaxLineRate float64
	// MaxLineSustained is the same without the line's first burst (its bucket starts full):
	// what the per-line limit is judged on. A line at exactly its limit sends 20 000 in
	// 19.8 s, 1 010/s on average, which a 1 % margin on MaxLineRate would call over it.
	MaxLineSustained float64
	Failed           int
}

func (d dispatchResult) rate() float64 { return float64(d.Messages) / d.Took.Seconds() }

// createFakeLines creates n fake WhatsApp lines of the account, each sending up to rate
// messages per second.
func createFakeLines(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, n, rate int) ([]uuid.UUID, error) {
	box, err := secretbox.New(benchSecretKey)
	if err != nil {
		return nil, err
	}
	svc := channel.NewService(pool, clock.System{}, box)
	var lines []uuid.UUID
	for i := range n {
		name, prov, number := fmt.Sprintf("Fake line %d", i), "fake", fmt.Sprintf("+55 11 4000-%04d", 1000+i)
		ch, err := svc.Create(ctx, accountID, channel.Input{Type: channel.WhatsApp, Name: &name, Provider: &prov, PhoneNumber: &number, ThroughputMPS: &rate})
		if err != nil {
			return nil, fmt.Errorf("create fake line: %w", err)
		}
		lines = append(lines, ch.ID)
	}
	return lines, nil
}

// measureDispatch queues sendBacklogPer messages on each line in one statement and times the
// server's dispatchers until none is queued.
func measureDispatch(ctx context.Context, pool *pgxpool.Pool, b sendBench) (dispatchResult, error) {
	var since time.Time
	if err := pool.QueryRow(ctx, "SELECT now()").Scan(&since); err != nil {
		return dispatchResult{}, err
	}
	tag, err := pool.Exec(ctx, `
		INSERT INTO messages (account_id, id, conversation_id, channel_id, direction, kind, text, status, status_at, send_after, created_at, to_address)
		SELECT cv.account_id, gen_random_uuid(), cv.id, cv.channel_id, 'outbound', 'text', 'Promoção de hoje ' || g, 'queued', now(), now(), now(), cv.address
		FROM (SELECT cv.*, row_number() OVER (PARTITION BY cv.channel_id ORDER BY cv.id) AS n FROM conversations cv WHERE cv.account_id = $1) cv
		CROSS JOIN generate_series(1, $2) g
		WHERE cv.n <= 1000`, b.accountID, sendBacklogPer/1000)
	if err != nil {
		return dispatchResult{}, fmt.Errorf("queue backlog: %w", err)
	}
	took, err := waitQueued(ctx, pool, 10*time.Minute)
	if err != nil {
		return dispatchResult{}, err
	}
	out := dispatchResult{Messages: int(tag.RowsAffected()), Took: took}
	if err := pool.QueryRow(ctx, `
		WITH per AS (
			SELECT channel_id, date_trunc('second', status_at) AS s, count(*) AS n FROM messages
			WHERE status_at >= $1 AND status = 'sent' GROUP BY 1, 2),
		ranked AS (SELECT *, rank() OVER (PARTITION BY channel_id ORDER BY s) AS first,
		                     rank() OVER (PARTITION BY channel_id ORDER BY s DESC) AS last FROM per)
		SELECT coalesce(max(n), 0) FROM ranked WHERE first > 1 AND last > 1`, since).Scan(&out.MaxLineSecond); err != nil {
		return out, err
	}
	// A line's bucket starts full, so between its first and last send a line at its limit
	// sends its burst plus its rate times the span: the sustained rate leaves the burst out.
	burst := math.Floor(float64(sendLineRate) * send.BurstFraction)
	if err := pool.QueryRow(ctx, `
		SELECT coalesce(max(n / greatest(extract(epoch FROM last - first), 0.001)), 0)::float8,
		       coalesce(max((n - $2::float8) / greatest(extract(epoch FROM last - first), 0.001)), 0)::float8 FROM (
			SELECT channel_id, count(*) AS n, min(status_at) AS first, max(status_at) AS last FROM messages
			WHERE status_at >= $1 AND status = 'sent' GROUP BY 1) l`, since, burst).Scan(&out.MaxLineRate, &out.MaxLineSustained); err != nil {
		return out, err
	}
	err = pool.QueryRow(ctx, "SELECT count(*) FROM messages WHERE status = 'failed'").Scan(&out.Failed)
	return out, err
}

// noopArgs is a River job that does nothing: River's own ceiling on this machine.
type noopArgs struct{}

func (noopArgs) Kind() string { return "loadgen_noop" }

type noopWorker struct {
	river.WorkerDefaults[noopArgs]
	done *atomic.Int64
}

func (w *noopWorker) Work(context.Context, *river.Job[noopArgs]) error {
	w.done.Add(1)
	return nil
}

// measureRawRiver inserts riverNoopJobs no-op jobs, then runs them on a River client in this
// process (100 workers, 5 ms fetch cooldown, as the server's default queue) and times it.
func measureRawRiver(ctx context.Context, pool *pgxpool.Pool) (float64, error) {
	var done atomic.Int64
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker{done: &done})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Workers: workers, Queues: map[string]river.QueueConfig{"loadgen_noop": {MaxWorkers: 100, FetchCooldown: 5 * time.Millisecond}},
	})
	if err != nil {
		return 0, err
	}
	params := make([]river.InsertManyParams, 0, 10_000)
	for range 10_000 {
		params = append(params, river.InsertManyParams{Args: noopArgs{}, InsertOpts: &river.InsertOpts{Queue: "loadgen_noop"}})
	}
	for i := 0; i < riverNoopJobs; i += len(params) {
		if _, err := client.InsertManyFast(ctx, params); err != nil {
			return 0, fmt.Errorf("insert no-op jobs: %w", err)
		}
	}
	start := time.Now()
	if err := client.Start(ctx); err != nil {
		return 0, err
	}
	defer func() { _ = client.Stop(context.Background()) }()
	for done.Load() < riverNoopJobs {
		if time.Since(start) > 5*time.Minute {
			return 0, fmt.Errorf("only %d no-op jobs ran in 5 minutes", done.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return float64(riverNoopJobs) / time.Since(start).Seconds(), nil
}

// runSend is the -send benchmark: POST /v1/messages through the server, then a backlog
// dispatched to ten fake lines, then raw River throughput, all in one run.
func runSend(ctx context.Context, cfg config) (failed bool, err error) {
	started := time.Now()
	loadAtStart := loadAverage()
	const sendDB = benchDB + "_send"
	pool, benchURL, dropDB, err := scenarioDatabase(ctx, cfg, sendDB)
	if err != nil {
		return false, err
	}
	defer dropDB()
	ten, err := setupTenant(ctx, pool)
	if err != nil {
		return false, err
	}
	logf("seeding %d contacts", sendContacts)
	ids, _, err := seedContacts(ctx, pool, ten.AccountID, sendContacts, cfg.SeedWorkers)
	if err != nil {
		return false, err
	}
	sb, err := setupSend(ctx, pool, ten.AccountID, ids)
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
	raw, err := newRawTarget(ctx, benchURL, int32(cfg.DBMaxConns), ten.AccountID, nil)
	if err != nil {
		return false, err
	}
	defer raw.Close()
	// The figure is 2 500 accepted/s with p99 < 25 ms from 64 clients: offered at that
	// rate (a closed loop of 64 clients at 2 500/s would average 25.6 ms by construction); the
	// flat-out rows show the capacity behind it.
	capacity := target{MinRPS: 2500}

	// Phase 1a: an API-only process (CONVERSA_JOBS=false), as a deployment that runs its
	// dispatchers in worker processes; the accepted messages wait for phase 1b's server.
	api, err := startServer(ctx, bin, benchURL, cfg.DBMaxConns, "CONVERSA_JOBS=false")
	if err != nil {
		return false, err
	}
	apiHTTP := newHTTPTarget(api.Base, ten.APIKey, cfg.Concurrency, nil)
	// Each phase starts with the tables vacuumed, as the webhook benchmark's do: a phase's sends
	// update 25 000-40 000 of the 100 000 conversations, past autovacuum's threshold, and the
	// vacuum and analyze that follow (seconds of stalled requests on this machine: see
	// docs/benchmarks.md, issue 6) would otherwise land in the next phase whenever autovacuum's
	// minute comes round during it.
	settle := func() error {
		if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) conversations, messages"); err != nil {
			return fmt.Errorf("vacuum between phases: %w", err)
		}
		return nil
	}
	var alone []scenarioResult
	for _, sc := range []scenario{
		{Name: "POST /v1/messages (text, open session), flat out, API-only process", Clients: cfg.Concurrency, Duration: cfg.Duration,
			HTTP: apiHTTP.sendMessage(sb), Target: capacity},
		{Name: "POST /v1/messages (text, open session) at 2500/s, API-only process", Clients: cfg.Concurrency, Duration: cfg.Duration, Rate: 2500,
			HTTP: apiHTTP.sendMessage(sb), Target: target{MinRPS: 2450, MaxP99: 25 * time.Millisecond}},
	} {
		if err := settle(); err != nil {
			return false, err
		}
		alone = append(alone, measureHTTP(ctx, cfg, sc, api))
	}
	if err := api.Stop(); err != nil {
		logf("%v", err)
	}

	// Phase 1b: one process that serves and dispatches, as `conversa serve` runs by default.
	srv, err := startServer(ctx, bin, benchURL, cfg.DBMaxConns)
	if err != nil {
		return false, err
	}
	defer func() {
		if serr := srv.Stop(); serr != nil {
			logf("%v", serr)
		}
	}()
	if _, err := waitQueued(ctx, pool, 5*time.Minute); err != nil {
		return false, err
	}
	if err := settle(); err != nil {
		return false, err
	}
	web := newHTTPTarget(srv.Base, ten.APIKey, cfg.Concurrency, nil)
	sc := scenario{Name: "POST /v1/messages (text, open session), flat out, while the same process dispatches", Clients: cfg.Concurrency, Duration: cfg.Duration,
		HTTP: web.sendMessage(sb), Raw: raw.sendMessage(sb), Target: capacity}
	res := measureHTTP(ctx, cfg, sc, srv)
	apiDrain, err := waitQueued(ctx, pool, 5*time.Minute)
	if err != nil {
		return true, err
	}
	logf("  the accepted messages were all dispatched %s after the phase", apiDrain.Round(time.Millisecond))
	res.Raw = measureRaw(ctx, cfg, sc, "raw PostgreSQL")
	for i := range alone {
		alone[i].Raw = res.Raw
	}
	failed = alone[0].HTTP.Errors > 0 || alone[1].HTTP.Errors > 0 || res.HTTP.Errors > 0 || res.Raw.Errors > 0
	if _, err := waitQueued(ctx, pool, 5*time.Minute); err != nil {
		return failed, err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE messages"); err != nil {
		return failed, err
	}

	logf("dispatching a backlog of %d messages on %d fake lines of %d/s", sendBacklogPer*sendLines, sendLines, sendLineRate)
	disp, err := measureDispatch(ctx, pool, sb)
	if err != nil {
		return failed, err
	}
	logf("  %d messages in %s: %.0f msg/s; busiest line-second %d, fastest line average %.0f/s (%.0f/s after its first burst); %d failed", disp.Messages,
		disp.Took.Round(time.Millisecond), disp.rate(), disp.MaxLineSecond, disp.MaxLineRate, disp.MaxLineSustained, disp.Failed)
	logf("raw River: %d no-op jobs", riverNoopJobs)
	riverRate, err := measureRawRiver(ctx, pool)
	if err != nil {
		return failed, err
	}
	logf("  %.0f jobs/s", riverRate)
	if err := srv.Stop(); err != nil {
		logf("%v", err)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n### Run of %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s. Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", facts, loadAtStart, loadAverage())
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -send -duration %s -warmup %s -concurrency %d -db-max-conns %d`.\n",
		cfg.Duration, cfg.Warmup, cfg.Concurrency, cfg.DBMaxConns)
	fmt.Fprintf(&b, "- Server: `conversa serve` as a child process, CONVERSA_DB_MAX_CONNS=%d: first API-only (CONVERSA_JOBS=false: no River workers, "+
		"the accepted messages wait), then with its River workers on (16 line dispatchers) for the second API row and the dispatch. "+
		"%d contacts, each with an open service session on one of %d fake WhatsApp lines (throughput_mps %d, fake provider without latency). "+
		"The API phases post free-form texts by contact_id without Idempotency-Key, from 64 keep-alive clients flat out "+
		"or offered at a fixed rate; raw PG is the service's one statement for one such message (rules checked, conversation touched, message stored) "+
		"on a bare pool of the same size, flat out (the service stores the messages of concurrent requests with one such statement). "+
		"Conversations and messages are vacuumed and analyzed before each API phase.\n\n",
		cfg.DBMaxConns, sendContacts, sendLines, sendLineRate)
	b.WriteString("| Send | Clients | rps | p50 | p90 | p99 | max | Errors | Raw PG rps | Raw p99 | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range append(alone, res) {
		fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s | %s | %d | %.0f | %s | %s | %s |\n", r.Scenario.Name, r.Scenario.Clients,
			r.HTTP.RPS(), formatMs(r.HTTP.Percentile(50)), formatMs(r.HTTP.Percentile(90)), formatMs(r.HTTP.Percentile(99)),
			formatMs(r.HTTP.Max()), r.HTTP.Errors, r.Raw.RPS(), formatMs(r.Raw.Percentile(99)), r.Scenario.Target, yesNo(r.Met()))
	}
	fmt.Fprintf(&b, "\nThe messages accepted in the API phase were all dispatched %s after it ended.\n\n", apiDrain.Round(time.Millisecond))
	b.WriteString("| Dispatch | Messages | Took | msg/s | Fastest line, average | Busiest line, one calendar second | Failed | Raw River no-op jobs/s (same run) | Dispatch / River | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| backlog queued in one statement, %d lines × %d, sent to the fake provider | %d | %s | %.0f | %.0f/s (%.0f/s after the first burst; limit %d/s) | %d (bucket allows %.0f) | %d | %.0f | %.2f | ≥ 8000 msg/s, per-line limit held | %s |\n",
		sendLines, sendBacklogPer, disp.Messages, formatMs(disp.Took), disp.rate(), disp.MaxLineRate, disp.MaxLineSustained, sendLineRate, disp.MaxLineSecond,
		sendLineRate*(1+send.BurstFraction), disp.Failed, riverRate, disp.rate()/riverRate,
		yesNo(disp.rate() >= 8000 && disp.MaxLineSustained <= sendLineRate*1.01 && float64(disp.MaxLineSecond) <= sendLineRate*(1+send.BurstFraction) && disp.Failed == 0))
	fmt.Print(b.String())
	if cfg.Markdown != "" {
		if err := appendMarkdown(cfg.Markdown, b.String()); err != nil {
			return failed, err
		}
	}
	return failed, nil
}
