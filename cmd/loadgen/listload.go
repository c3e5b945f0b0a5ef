package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/conversation"
)

// The conversation lists benchmark (issue 7): the agent console's GET /v1/conversations over
// a million conversations.
const (
	listContacts = 100_000
	listLines    = 10 // every contact has a conversation on every line: 1 000 000 in all
	// listOpenPercent of the conversations are open; of those a third have an agent.
	listOpenPercent = 10
	listDepartments = 20
	// listRate is the paced phase's offer, lists per second in all: about 40 % of what the
	// machine answers flat out.
	listRate = 200
)

// listBench is the seeded account's lines and departments.
type listBench struct {
	accountID   uuid.UUID
	lines       []uuid.UUID
	departments []uuid.UUID
}

// seedConversations gives every contact a conversation on every line in one statement:
// message times spread over 30 days, listOpenPercent open (a third of those with an agent, a
// department on half), waiting since their last message. The spread comes from a hash of the
// pair, so every run seeds the same data.
func seedConversations(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, lines []uuid.UUID) (listBench, error) {
	b := listBench{accountID: accountID, lines: lines}
	for i := range listDepartments {
		id := uuid.Must(uuid.NewV7())
		if _, err := pool.Exec(ctx, "INSERT INTO departments (account_id, id, name, created_at, updated_at) VALUES ($1, $2, $3, now(), now())",
			accountID, id, fmt.Sprintf("Fila %d", i)); err != nil {
			return b, fmt.Errorf("create department: %w", err)
		}
		b.departments = append(b.departments, id)
	}
	var agent uuid.UUID
	if err := pool.QueryRow(ctx, "SELECT id FROM users WHERE account_id = $1 LIMIT 1", accountID).Scan(&agent); err != nil {
		return b, fmt.Errorf("find a user: %w", err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, department_id, agent_id,
		                           service_expires_at, last_message_at, last_inbound_at, unanswered_since, opened_at, created_at, updated_at)
		SELECT c.account_id, gen_random_uuid(), c.id, l.id, p.phone,
		       CASE WHEN x.open THEN 'open' ELSE 'closed' END,
		       CASE WHEN x.open AND x.h % 6 < 3 THEN ($3::uuid[])[1 + (x.h / 100)::int % $4] END,
		       CASE WHEN x.open AND x.h % 3 = 0 THEN $5::uuid END,
		       x.at + interval '24 hours', x.at, x.at, CASE WHEN x.open THEN x.at END, x.at - interval '1 hour', x.at - interval '40 days', x.at
		FROM contacts c
		JOIN contact_phones p ON p.account_id = c.account_id AND p.contact_id = c.id
		CROSS JOIN unnest($2::uuid[]) AS l(id)
		-- A hash of the pair, not random(): the planner evaluates an uncorrelated random() once.
		CROSS JOIN LATERAL (SELECT (abs(hashtextextended(c.id::text || l.id::text, 0)) % 1000000000) AS h) hx
		CROSS JOIN LATERAL (SELECT hx.h, (hx.h / 1000) % 100 < $6 AS open,
		                           now() - (hx.h % 2592000) * interval '1 second' AS at) x
		WHERE c.account_id = $1`, accountID, lines, b.departments, len(b.departments), agent, listOpenPercent); err != nil {
		return b, fmt.Errorf("seed conversations: %w", err)
	}
	// The sessions seeded as ended lie before the session-expiry sweep's marks of a fresh
	// database, so the server's first sweeps would emit an event for each of a million
	// conversations during the measurement, as after a long outage. A running system's sweep
	// is caught up: its marks are where they would be.
	if _, err := pool.Exec(ctx, `UPDATE session_expiry_marks SET after_at = CASE WHEN ended THEN now() ELSE now() + interval '30 minutes' END,
		after_id = '00000000-0000-0000-0000-000000000000'`); err != nil {
		return b, fmt.Errorf("catch the expiry sweep up: %w", err)
	}
	return b, settle(ctx, pool, "conversations")
}

// listQueries are the console lists measured: the open view filtered by a line, newest and
// oldest first, and the open view of one department.
func (b listBench) listQueries(rng *rand.Rand) (string, conversation.ListQuery) {
	q := conversation.ListQuery{AccountID: b.accountID, View: conversation.ViewOpen, Order: conversation.OrderLatestMessage, Limit: 51}
	path := "/v1/conversations?view=open"
	switch rng.IntN(3) {
	case 0, 1:
		line := b.lines[rng.IntN(len(b.lines))]
		q.ChannelID = &line
		path += "&channel_id=" + line.String()
		if rng.IntN(2) == 0 {
			q.Order = conversation.OrderOldestMessage
			path += "&order=oldest_message"
		}
	default:
		dept := b.departments[rng.IntN(len(b.departments))]
		q.DepartmentID = &dept
		path += "&department_id=" + dept.String()
	}
	return path, q
}

func (h *httpTarget) listConversations(b listBench) op {
	return func(ctx context.Context, rng *rand.Rand) error {
		path, _ := b.listQueries(rng)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+path, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", h.auth)
		resp, err := h.client.Do(req)
		if err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		defer resp.Body.Close()
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
			return fmt.Errorf("GET %s: %w", path, err)
		}
		if resp.StatusCode != http.StatusOK || len(page.Items) == 0 {
			return fmt.Errorf("GET %s: %d with %d items", path, resp.StatusCode, len(page.Items))
		}
		return nil
	}
}

// listConversationsRaw runs the service's own list statement (conversation.Service.List) on
// a bare pool: what PostgreSQL costs without HTTP.
func listConversationsRaw(svc *conversation.Service, b listBench) op {
	return func(ctx context.Context, rng *rand.Rand) error {
		_, q := b.listQueries(rng)
		items, err := svc.List(ctx, q)
		if err == nil && len(items) == 0 {
			err = fmt.Errorf("no conversations")
		}
		return err
	}
}

func runLists(ctx context.Context, cfg config) (failed bool, err error) {
	started := time.Now()
	loadAtStart := loadAverage()
	pool, benchURL, dropDB, err := scenarioDatabase(ctx, cfg, benchDB+"_lists")
	if err != nil {
		return false, err
	}
	defer dropDB()
	ten, err := setupTenant(ctx, pool)
	if err != nil {
		return false, err
	}
	logf("seeding %d contacts and %d conversations", listContacts, listContacts*listLines)
	if _, _, err := seedContacts(ctx, pool, ten.AccountID, listContacts, cfg.SeedWorkers); err != nil {
		return false, err
	}
	lines, err := createFakeLines(ctx, pool, ten.AccountID, listLines, sendLineRate)
	if err != nil {
		return false, err
	}
	seedStart := time.Now()
	lb, err := seedConversations(ctx, pool, ten.AccountID, lines)
	if err != nil {
		return false, err
	}
	seedTook := time.Since(seedStart)
	var total, open int
	if err := pool.QueryRow(ctx, "SELECT count(*), count(*) FILTER (WHERE status = 'open') FROM conversations").Scan(&total, &open); err != nil {
		return false, err
	}
	logf("  %d conversations (%d open) in %s", total, open, seedTook.Round(time.Second))
	facts, err := machineFacts(ctx, pool)
	if err != nil {
		return false, err
	}
	bin, removeBin, err := conversaBinary(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer removeBin()
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
	svc := conversation.NewService(raw.pool, clock.System{})

	sc := scenario{Name: "GET /v1/conversations, open view filtered by line (newest or oldest first) or by department, 50 per page",
		Clients: cfg.ListConcurrency, Duration: cfg.Duration, HTTP: web.listConversations(lb), Raw: listConversationsRaw(svc, lb),
		Target: target{MaxP99: 20 * time.Millisecond}}
	res := runScenario(ctx, sc, cfg.Warmup, srv.RSS)
	// The same lists offered at a steady listRate (an open loop, latency from when each request
	// was due): the flat-out phase keeps the two cores saturated, so its tail is queueing;
	// this one is a busy console floor with capacity to spare.
	paced := sc
	paced.Name, paced.Clients, paced.Rate = fmt.Sprintf("%s, at %d/s", sc.Name, listRate), 4*cfg.ListConcurrency, listRate
	resPaced := runScenario(ctx, paced, cfg.Warmup, srv.RSS)
	failed = res.HTTP.Errors > 0 || res.Raw.Errors > 0 || resPaced.HTTP.Errors > 0 || resPaced.Raw.Errors > 0

	var b strings.Builder
	fmt.Fprintf(&b, "\n### Run of %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s. Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", facts, loadAtStart, loadAverage())
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -lists -duration %s -warmup %s -list-concurrency %d -db-max-conns %d`.\n",
		cfg.Duration, cfg.Warmup, cfg.ListConcurrency, cfg.DBMaxConns)
	fmt.Fprintf(&b, "- Data: %d contacts, each with a conversation on each of %d lines: %d conversations, %d open (a third of those with an agent, "+
		"half in one of %d departments), last messages spread over 30 days; seeded in one statement in %s, then VACUUM ANALYZE and a CHECKPOINT; the session-expiry sweep's marks set to now, as a caught-up sweep has them.\n",
		listContacts, listLines, total, open, listDepartments, seedTook.Round(time.Second))
	fmt.Fprintf(&b, "- Server: `conversa serve` as a child process, CONVERSA_DB_MAX_CONNS=%d, called with an API key (which sees every department). "+
		"Each request picks at random: the open view of one line newest first, the same oldest first, or of one department; "+
		"a request that returns no conversation counts as an error. Raw PG runs the service's own statement (conversation.Service.List) "+
		"on a bare pool of the same size. First flat out (each client sends its next request when the answer arrives), then offered at "+
		"%d/s in all over %d clients (latency from when each request was due).\n\n", cfg.DBMaxConns, listRate, 4*cfg.ListConcurrency)
	b.WriteString("| " + strings.Join(columns, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", len(columns)) + "\n")
	for _, row := range (report{Results: []scenarioResult{res, resPaced}}).rows() {
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	fmt.Print(b.String())
	if cfg.Markdown != "" {
		if err := appendMarkdown(cfg.Markdown, b.String()); err != nil {
			return failed, err
		}
	}
	return failed, nil
}
