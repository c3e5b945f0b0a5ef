package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/queue"
)

// Queue benchmark settings.
const (
	queueAgents   = 50
	queueRate     = 2000 // assignments per second offered in the paced phase (the target)
	queuePassword = "loadgen-agent-password"
)

// queueBench is the account's agents (each with its access token) over the seeded queue.
type queueBench struct {
	accountID uuid.UUID
	agents    []uuid.UUID
	// tokens hands each request an agent nobody else is using, so 50 clients are 50 agents.
	tokens chan string
	// given records every conversation handed out, by HTTP or raw, to catch one given twice.
	mu     sync.Mutex
	given  map[uuid.UUID]struct{}
	dupes  atomic.Int64
	served atomic.Int64
}

func (b *queueBench) record(id uuid.UUID) error {
	b.served.Add(1)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, dup := b.given[id]; dup {
		b.dupes.Add(1)
		return fmt.Errorf("conversation %s given twice", id)
	}
	b.given[id] = struct{}{}
	return nil
}

// seedQueue stores n waiting conversations in the account: one per contact, spread over four
// channels (WebChat rare), waiting since up to a day ago, 1 % of contacts in a VIP segment and
// 1 % with an own priority; and queueAgents agents. Set-based, through the placement trigger
// as the service's own writes go.
func seedQueue(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, n int) (*queueBench, error) {
	b := &queueBench{accountID: accountID, given: map[uuid.UUID]struct{}{}}
	chans := make([]uuid.UUID, 0, 4)
	for _, c := range []struct {
		typ      string
		priority int
	}{{"whatsapp", 80}, {"email", 50}, {"sms", 30}, {"webchat", 100}} {
		id := uuid.Must(uuid.NewV7())
		if _, err := pool.Exec(ctx, `INSERT INTO channels (account_id, id, type, name, provider, priority, created_at, updated_at)
			VALUES ($1, $2, $3, $3, 'fake', $4, now(), now())`, accountID, id, c.typ, c.priority); err != nil {
			return b, fmt.Errorf("create %s channel: %w", c.typ, err)
		}
		chans = append(chans, id)
	}
	if _, err := pool.Exec(ctx, `
		WITH s AS (INSERT INTO segments (account_id, id, name, priority, created_at, updated_at)
		           VALUES ($1, gen_random_uuid(), 'VIP', 100, now(), now()) RETURNING id)
		INSERT INTO segment_members (account_id, segment_id, contact_id, added_at)
		SELECT $1, s.id, c.id, now() FROM s, contacts c WHERE c.account_id = $1 AND hashtext(c.id::text) % 100 = 0`, accountID); err != nil {
		return b, fmt.Errorf("seed VIP segment: %w", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE contacts SET priority_score = 1 + abs(hashtext(id::text)) % 100
		WHERE account_id = $1 AND hashtext(id::text) % 100 = 1`, accountID); err != nil {
		return b, fmt.Errorf("seed own priorities: %w", err)
	}
	// Channel by position: WebChat for 1 in 1 000, else WhatsApp, e-mail and SMS in turn.
	if _, err := pool.Exec(ctx, `
		INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, attendance_id, unanswered_since,
		                           last_message_at, last_inbound_at, created_at, updated_at)
		SELECT c.account_id, gen_random_uuid(), c.id,
		       CASE WHEN c.n % 1000 = 0 THEN ($2::uuid[])[4] ELSE ($2::uuid[])[1 + c.n % 3] END,
		       'addr', 'open', gen_random_uuid(), t, t, t, t, t
		FROM (SELECT ct.*, row_number() OVER (ORDER BY ct.id) AS n,
		             now() - (random() * interval '24 hours') AS t
		      FROM contacts ct WHERE ct.account_id = $1 LIMIT $3) c`, accountID, chans, n); err != nil {
		return b, fmt.Errorf("seed waiting conversations: %w", err)
	}
	// Agents: one made by the service (its password hash), the others share it.
	first, err := account.CreateUser(ctx, pool, account.NewUser{AccountID: accountID, Email: "agent-0@loadgen.example.com",
		Name: "Agent 0", Password: queuePassword, Role: "agent"})
	if err != nil {
		return b, fmt.Errorf("create agent: %w", err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO users (account_id, id, email, name, password_hash, role)
		SELECT u.account_id, gen_random_uuid(), 'agent-' || g || '@loadgen.example.com', 'Agent ' || g, u.password_hash, 'agent'
		FROM users u, generate_series(1, $2 - 1) g WHERE u.id = $1`, first.ID, queueAgents); err != nil {
		return b, fmt.Errorf("create agents: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT id FROM users WHERE account_id = $1 AND role = 'agent' ORDER BY email`, accountID)
	if err != nil {
		return b, err
	}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return b, err
		}
		b.agents = append(b.agents, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return b, err
	}
	return b, settle(ctx, pool, "conversations, contacts, users")
}

// loginAgents logs every agent in through the server. Login is throttled per client address,
// so each agent comes from its own address through the trusted loopback proxy.
func (b *queueBench) loginAgents(ctx context.Context, base string) error {
	b.tokens = make(chan string, queueAgents)
	client := &http.Client{Timeout: 30 * time.Second}
	for i := range queueAgents {
		body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("agent-%d@loadgen.example.com", i), "password": queuePassword})
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/auth/login", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.7.%d.%d", i/250, 1+i%250))
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("log agent %d in: %w", i, err)
		}
		var tok struct {
			AccessToken string `json:"access_token"`
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("log agent %d in: %s: %s", i, resp.Status, raw)
		}
		if err := json.Unmarshal(raw, &tok); err != nil {
			return fmt.Errorf("log agent %d in: %w", i, err)
		}
		b.tokens <- tok.AccessToken
	}
	return nil
}

// next is one agent's POST /v1/queue/next: 200 with a conversation never given before.
func (h *httpTarget) queueNext(b *queueBench) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		tok := <-b.tokens
		defer func() { b.tokens <- tok }()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/v1/queue/next", nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := h.client.Do(req)
		if err != nil {
			return fmt.Errorf("POST /v1/queue/next: %w", err)
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return fmt.Errorf("POST /v1/queue/next: read body: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("POST /v1/queue/next: %s: %.200s", resp.Status, raw)
		}
		var c struct {
			ID uuid.UUID `json:"id"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return fmt.Errorf("POST /v1/queue/next: %w", err)
		}
		return b.record(c.ID)
	}
}

// rawQueueNext is what the service does in the database for one Next: the assigning
// statement and the event, in one transaction (internal/queue), on a bare pool.
func rawQueueNext(svc *queue.Service, b *queueBench) op {
	return func(ctx context.Context, rng *rand.Rand) error {
		a, err := svc.Next(ctx, b.accountID, b.agents[rng.IntN(len(b.agents))])
		if err != nil {
			return err
		}
		return b.record(a.ID)
	}
}

// runQueue is the -queue benchmark: 50 agents pressing Next over HTTP against a deep queue, flat
// out and then at the target rate, then the same Next on a bare pool, checking that no
// conversation is given twice.
func runQueue(ctx context.Context, cfg config) (failed bool, err error) {
	started := time.Now()
	loadAtStart := loadAverage()
	pool, benchURL, dropDB, err := scenarioDatabase(ctx, cfg, benchDB+"_queue")
	if err != nil {
		return false, err
	}
	defer dropDB()
	ten, err := setupTenant(ctx, pool)
	if err != nil {
		return false, err
	}
	logf("seeding %d contacts", cfg.QueueWaiting)
	if _, _, err := seedContacts(ctx, pool, ten.AccountID, cfg.QueueWaiting, cfg.SeedWorkers); err != nil {
		return false, err
	}
	logf("seeding %d waiting conversations", cfg.QueueWaiting)
	seedFrom := time.Now()
	qb, err := seedQueue(ctx, pool, ten.AccountID, cfg.QueueWaiting)
	if err != nil {
		return false, err
	}
	seedTook := time.Since(seedFrom)
	logf("  seeded in %s", seedTook.Round(time.Millisecond))
	facts, err := machineFacts(ctx, pool)
	if err != nil {
		return false, err
	}
	bin, removeBin, err := conversaBinary(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer removeBin()
	// The agents log in from distinct addresses through a trusted loopback "proxy".
	if err := os.Setenv("CONVERSA_TRUSTED_PROXIES", "127.0.0.0/8"); err != nil {
		return false, err
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
	if err := qb.loginAgents(ctx, srv.Base); err != nil {
		return false, err
	}
	rawPool, err := pgdb.Open(ctx, benchURL, int32(cfg.DBMaxConns))
	if err != nil {
		return false, fmt.Errorf("open raw pool: %w", err)
	}
	defer rawPool.Close()
	web := newHTTPTarget(srv.Base, "", queueAgents, nil)

	sc := scenario{Name: fmt.Sprintf("POST /v1/queue/next, %d waiting", cfg.QueueWaiting), Clients: queueAgents, Duration: cfg.Duration,
		HTTP: web.queueNext(qb), Raw: rawQueueNext(queue.NewService(rawPool, clock.System{}), qb),
		Target: target{MinRPS: queueRate, MaxP99: 10 * time.Millisecond}}
	httpCPU := startCPUMeter(ctx, pool, srv.cmd.Process.Pid, &qb.served)
	res := measureHTTP(ctx, cfg, sc, srv)
	httpCost := httpCPU.stop(ctx)
	// Agents do not press Next back to back: the same agents offered the target rate, latency
	// counted from when each request was due (a closed loop of 50 clients has latency = 50 ÷
	// throughput, so its p99 says little about one agent's wait at 2 000/s).
	paced := scenario{Name: fmt.Sprintf("POST /v1/queue/next at %d/s, %d waiting", queueRate, cfg.QueueWaiting), Clients: queueAgents,
		Duration: cfg.Duration, Rate: queueRate, HTTP: web.queueNext(qb), Raw: sc.Raw, Target: target{MaxP99: 10 * time.Millisecond}}
	pacedRes := measureHTTP(ctx, cfg, paced, srv)
	httpCheck, err := qb.check(ctx, pool)
	if err != nil {
		return true, err
	}
	logf("  %s", httpCheck)
	// The raw phase starts from the same queue: every conversation waits again.
	if err := qb.reset(ctx, pool); err != nil {
		return true, err
	}
	rawCPU := startCPUMeter(ctx, pool, 0, &qb.served)
	res.Raw = measureRaw(ctx, cfg, sc, "raw PostgreSQL")
	rawCost := rawCPU.stop(ctx)
	logf("  CPU per assignment: flat out over HTTP %s; raw %s", httpCost, rawCost)
	// The same Next offered the paced rate on the bare pool, after the flat-out phase as over
	// HTTP: the floor of the paced phase's p99, what the database alone gives at 2 000/s on this
	// machine.
	pacedRes.Raw = measureRaw(ctx, cfg, paced, "raw PostgreSQL")
	rawCheck, err := qb.check(ctx, pool)
	if err != nil {
		return true, err
	}
	logf("  %s", rawCheck)
	failed = res.HTTP.Errors > 0 || pacedRes.HTTP.Errors > 0 || res.Raw.Errors > 0 || pacedRes.Raw.Errors > 0 || !httpCheck.ok() || !rawCheck.ok()
	dupes, served := httpCheck.Dupes, httpCheck.Served
	if err := srv.Stop(); err != nil {
		logf("%v", err)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n### Run of %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s. Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", facts, loadAtStart, loadAverage())
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -queue -queue-waiting %d -duration %s -warmup %s -db-max-conns %d`.\n",
		cfg.QueueWaiting, cfg.Duration, cfg.Warmup, cfg.DBMaxConns)
	fmt.Fprintf(&b, "- Server: `conversa serve` as a child process, CONVERSA_DB_MAX_CONNS=%d. %d waiting conversations (open, no agent) seeded "+
		"in %s through the placement trigger, over WhatsApp, e-mail and SMS (WebChat 1 in 1 000), 1 %% of contacts in a VIP segment and 1 %% "+
		"with an own priority. %d agents, each its own client with its own token, press Next back to back (flat out), then at 2000/s in all "+
		"(latency from when each request was due); each answer is checked "+
		"against every earlier one. Raw PG is internal/queue's Next (the assigning statement and the event, one transaction) on a bare "+
		"pool of the same size, %d clients, flat out and then at 2000/s, from the same queue.\n\n", cfg.DBMaxConns, cfg.QueueWaiting, seedTook.Round(time.Millisecond), queueAgents, queueAgents)
	b.WriteString("| Queue | Agents | rps | p50 | p90 | p99 | max | Errors | Raw PG rps | Raw p50 | Raw p99 | Given twice (HTTP) | Given twice (raw) | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s | %s | %d | %.0f | %s | %s | %d of %d | %d of %d | %s | %s |\n", sc.Name, sc.Clients,
		res.HTTP.RPS(), formatMs(res.HTTP.Percentile(50)), formatMs(res.HTTP.Percentile(90)), formatMs(res.HTTP.Percentile(99)),
		formatMs(res.HTTP.Max()), res.HTTP.Errors, res.Raw.RPS(), formatMs(res.Raw.Percentile(50)), formatMs(res.Raw.Percentile(99)),
		dupes, served, rawCheck.Dupes, rawCheck.Served, sc.Target, yesNo(res.Met() && !failed))
	fmt.Fprintf(&b, "| %s | %d | %.0f | %s | %s | %s | %s | %d | %.0f | %s | %s | (with the row above) | | %s | %s |\n", paced.Name, paced.Clients,
		pacedRes.HTTP.RPS(), formatMs(pacedRes.HTTP.Percentile(50)), formatMs(pacedRes.HTTP.Percentile(90)), formatMs(pacedRes.HTTP.Percentile(99)),
		formatMs(pacedRes.HTTP.Max()), pacedRes.HTTP.Errors, pacedRes.Raw.RPS(), formatMs(pacedRes.Raw.Percentile(50)),
		formatMs(pacedRes.Raw.Percentile(99)), paced.Target, yesNo(pacedRes.Met() && pacedRes.HTTP.RPS() >= 0.98*queueRate && !failed))
	fmt.Fprintf(&b, "\nCPU per assignment (user + system, warm-up included; PostgreSQL is every process pg_stat_activity lists): "+
		"flat out over HTTP %s; raw %s.\n", httpCost, rawCost)
	fmt.Print(b.String())
	if cfg.Markdown != "" {
		if err := appendMarkdown(cfg.Markdown, b.String()); err != nil {
			return failed, err
		}
	}
	if !httpCheck.ok() || !rawCheck.ok() {
		return true, errors.New("a conversation was given twice, or an answer was not stored")
	}
	return failed, nil
}

// queueCheck compares a phase's answers with the database.
type queueCheck struct {
	Served, Dupes, Assigned, Waiting int64
}

func (c queueCheck) ok() bool { return c.Dupes == 0 && c.Assigned == c.Served }

func (c queueCheck) String() string {
	return fmt.Sprintf("%d conversations handed out, %d of them twice; %d assigned in the database, %d still waiting", c.Served, c.Dupes, c.Assigned, c.Waiting)
}

// check counts what the phase handed out against the assigned rows.
func (b *queueBench) check(ctx context.Context, pool *pgxpool.Pool) (queueCheck, error) {
	c := queueCheck{Served: b.served.Load(), Dupes: b.dupes.Load()}
	err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE agent_id IS NOT NULL), count(*) FILTER (WHERE agent_id IS NULL)
		FROM conversations WHERE account_id = $1`, b.accountID).Scan(&c.Assigned, &c.Waiting)
	return c, err
}

// reset puts every conversation back in the queue and forgets what was handed out.
func (b *queueBench) reset(ctx context.Context, pool *pgxpool.Pool) error {
	if _, err := pool.Exec(ctx, `UPDATE conversations SET agent_id = NULL WHERE account_id = $1 AND agent_id IS NOT NULL`, b.accountID); err != nil {
		return fmt.Errorf("reset the queue: %w", err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE conversations"); err != nil {
		return err
	}
	b.mu.Lock()
	b.given = map[uuid.UUID]struct{}{}
	b.mu.Unlock()
	b.served.Store(0)
	b.dupes.Store(0)
	return nil
}

// cpuMeter measures the CPU time PostgreSQL, the server and this process spend during a phase,
// per conversation handed out: a figure that moves much less with the other load on a shared
// machine than the throughput does.
type cpuMeter struct {
	pool      *pgxpool.Pool
	serverPID int
	served    *atomic.Int64
	pg        map[int]time.Duration
	server    time.Duration
	self      time.Duration
	handed    int64
}

func startCPUMeter(ctx context.Context, pool *pgxpool.Pool, serverPID int, served *atomic.Int64) *cpuMeter {
	m := &cpuMeter{pool: pool, serverPID: serverPID, served: served, pg: pgCPU(ctx, pool)}
	if serverPID > 0 {
		m.server = processCPU(serverPID)
	}
	m.self = processCPU(os.Getpid())
	m.handed = served.Load()
	return m
}

// pgCPU is the CPU time so far of each process of the database server that pg_stat_activity
// lists (backends, autovacuum, walwriter, checkpointer…).
func pgCPU(ctx context.Context, pool *pgxpool.Pool) map[int]time.Duration {
	out := map[int]time.Duration{}
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity`)
	if err != nil {
		return out
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		if rows.Scan(&pid) == nil {
			out[pid] = processCPU(pid)
		}
	}
	return out
}

// phaseCost is a phase's CPU time per conversation handed out.
type phaseCost struct {
	PG, Server, Self time.Duration
	Handed           int64
}

func (c phaseCost) String() string {
	if c.Handed == 0 {
		return "(nothing handed out)"
	}
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.0f µs", float64(d.Microseconds())/float64(c.Handed))
	}
	s := "PostgreSQL " + per(c.PG)
	if c.Server > 0 {
		s += ", server " + per(c.Server)
	}
	return s + ", load generator " + per(c.Self) + fmt.Sprintf(" (%d handed out)", c.Handed)
}

// stop ends the measurement. A server process that started during the phase counts whole;
// one that ended during it is missed (an autovacuum worker, at most).
func (m *cpuMeter) stop(ctx context.Context) phaseCost {
	c := phaseCost{Handed: m.served.Load() - m.handed, Self: processCPU(os.Getpid()) - m.self}
	if m.serverPID > 0 {
		c.Server = processCPU(m.serverPID) - m.server
	}
	for pid, cpu := range pgCPU(ctx, m.pool) {
		c.PG += cpu - m.pg[pid]
	}
	return c
}
