// Command loadgen measures the contacts API end to end on one machine: it creates a throwaway
// database (conversa_bench), seeds an account with many contacts, starts the real `conversa
// serve` binary as a child process and drives it over loopback HTTP with keep-alive clients,
// while sampling the server's memory. Next to every HTTP figure it measures the same SQL run
// by a bare pgx pool at the same concurrency, so the report separates what PostgreSQL costs
// from what the service adds.
//
//	go run ./cmd/loadgen -database-url URL [-contacts 1000000] [-duration 10s] [-concurrency 64]
//	                     [-conversa ./bin/conversa] [-markdown docs/benchmarks.md]
//	go run ./cmd/loadgen -webhooks [-webhook-backlog 200000] [-duration 10s]   (webhooks alone)
//	go run ./cmd/loadgen -import [-import-rows 1000000] [-import-consent 10]   (the CSV import alone)
//	go run ./cmd/loadgen -send [-duration 10s]                                  (send API and dispatch alone)
//	go run ./cmd/loadgen -lists [-duration 10s]                                 (conversation lists alone)
//	go run ./cmd/loadgen -queue [-queue-waiting 100000] [-duration 10s]           (the agents' Next alone)
//	go run ./cmd/loadgen -sweep                                                 (the session-expiry sweep alone)
//	go run ./cmd/loadgen -campaign-report [-contacts 1000000]                   (a campaign's CSV report alone)
//
// URL must be a superuser connection string (the database is dropped and created); when the
// flag is empty TEST_DATABASE_URL is read, then the PostgreSQL on 127.0.0.1:5432 is tried.
// The exit status is 1 when any request failed, since the figures then mean nothing.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/conversa-hq/conversa/internal/pgdb"
)

// config is the parsed command line.
type config struct {
	DatabaseURL     string
	Contacts        int
	Duration        time.Duration
	Warmup          time.Duration
	Concurrency     int
	ListConcurrency int
	ListDuration    time.Duration
	Conversa        string
	DBMaxConns      int
	SeedWorkers     int
	Markdown        string
	KeepDB          bool
	Intervals       bool
	Consents        bool
	// Webhooks runs the webhook benchmark alone (no contacts are seeded).
	Webhooks       bool
	WebhookBacklog int
	// WebhookSenders is how many contacts the webhook scenarios' messages come from, in turn.
	WebhookSenders int
	// Send runs the Send Message API and dispatch benchmark alone (sendload.go).
	Send bool
	// Lists runs the conversation lists benchmark alone (listload.go).
	Lists bool
	// Sweep runs the session-expiry sweep benchmark alone (sweepload.go).
	Sweep bool
	// Import runs only the CSV import scenario (importload.go).
	Import        bool
	ImportRows    int
	ImportConsent int
	// ServerLogLevel is CONVERSA_LOG_LEVEL of the -import server.
	ServerLogLevel string
	// Queue runs the live queue benchmark alone (queueload.go) over QueueWaiting conversations.
	Queue        bool
	QueueWaiting int
	// CampaignFreeze runs the campaign start benchmark alone (campaignload.go).
	CampaignFreeze bool
	// FreezeRuns is how many campaigns the freeze benchmark starts over the same audience.
	FreezeRuns int
	// CampaignSend runs the campaign dispatch benchmark alone (campaignsendload.go).
	CampaignSend bool
	// CampaignReport runs the campaign CSV report benchmark alone (campaignreport.go).
	CampaignReport bool
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run := run
	if cfg.Webhooks {
		run = runWebhooks
	}
	if cfg.Send {
		run = runSend
	}
	if cfg.Lists {
		run = runLists
	}
	if cfg.Queue {
		run = runQueue
	}
	if cfg.Sweep {
		run = runSweep
	}
	if cfg.CampaignFreeze {
		run = runCampaignFreeze
	}
	if cfg.CampaignSend {
		run = runCampaignSend
	}
	if cfg.CampaignReport {
		run = runCampaignReport
	}
	failed, err := run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	if failed {
		fmt.Fprintln(os.Stderr, "loadgen: some requests failed; the figures above are not valid")
		os.Exit(1)
	}
}

// parseFlags reads the flags and fills in the defaults that depend on other flags or on the
// environment.
func parseFlags(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.StringVar(&cfg.DatabaseURL, "database-url", "", "superuser PostgreSQL URL (default $TEST_DATABASE_URL, else 127.0.0.1:5432 if it answers)")
	fs.IntVar(&cfg.Contacts, "contacts", 1_000_000, "contacts seeded in the benchmark account")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured time of each GET/POST phase")
	fs.DurationVar(&cfg.Warmup, "warmup", time.Second, "unmeasured warm-up before each phase")
	fs.IntVar(&cfg.Concurrency, "concurrency", 64, "concurrent clients for GET and POST (HTTP and raw PostgreSQL alike)")
	fs.IntVar(&cfg.ListConcurrency, "list-concurrency", 4, "concurrent clients for the list phases")
	fs.DurationVar(&cfg.ListDuration, "list-duration", 0, "measured time of each list phase (default -duration, at most 5s)")
	fs.StringVar(&cfg.Conversa, "conversa", "", "conversa binary to run (default: go build ./cmd/conversa into a temporary directory)")
	fs.IntVar(&cfg.DBMaxConns, "db-max-conns", 16, "PostgreSQL pool size of the server (CONVERSA_DB_MAX_CONNS) and of the raw pool")
	fs.IntVar(&cfg.SeedWorkers, "seed-workers", 2, "parallel COPY streams while seeding")
	fs.StringVar(&cfg.Markdown, "markdown", "", "append a Markdown report section to this file")
	fs.BoolVar(&cfg.KeepDB, "keep-db", false, "keep the conversa_bench database afterwards (default: drop it)")
	fs.BoolVar(&cfg.Intervals, "intervals", false, "log the 100 ms intervals of a phase with a p99 target in which a request took that long or more (where a tail comes from)")
	fs.BoolVar(&cfg.Consents, "consents", true, "seed consent records and measure the consent API, count and chain verification")
	fs.BoolVar(&cfg.Webhooks, "webhooks", false, "run only the webhook benchmark: ingest through the server and draining a stored backlog")
	fs.BoolVar(&cfg.Send, "send", false, "run only the send benchmark: POST /v1/messages, then a backlog dispatched to ten fake lines, next to raw River throughput")
	fs.BoolVar(&cfg.Lists, "lists", false, "run only the conversation lists benchmark: GET /v1/conversations over 1 000 000 conversations")
	fs.BoolVar(&cfg.CampaignSend, "campaign-send", false, "run only the campaign dispatch benchmark: the audience of -contacts contacts sent on ten fake lines of 1 000/s")
	fs.BoolVar(&cfg.CampaignFreeze, "campaign-freeze", false, "run only the campaign start benchmark: the audience of -contacts contacts frozen into campaign_recipients")
	fs.IntVar(&cfg.FreezeRuns, "freeze-runs", 3, "campaigns started one after the other by -campaign-freeze (each on the settled database)")
	fs.BoolVar(&cfg.CampaignReport, "campaign-report", false, "run only the campaign report benchmark: GET /v1/campaigns/{id}/report.csv of a campaign with -contacts recipients")
	fs.BoolVar(&cfg.Sweep, "sweep", false, "run only the session-expiry sweep over 1 000 000 conversations, half of them due")
	fs.IntVar(&cfg.WebhookBacklog, "webhook-backlog", 200_000, "deliveries stored at once for the webhook processing measurement")
	fs.IntVar(&cfg.WebhookSenders, "webhook-senders", 10_000, "contacts the webhook scenarios' messages come from, in turn (1: every message to one conversation)")
	fs.BoolVar(&cfg.Import, "import", false, "run only the CSV import scenario (POST /v1/imports of new rows, then of updates)")
	fs.IntVar(&cfg.ImportRows, "import-rows", 1_000_000, "rows of the generated CSV files of -import")
	fs.IntVar(&cfg.ImportConsent, "import-consent", 10, "percent of -import rows that accept communications (each records a consent grant)")
	fs.StringVar(&cfg.ServerLogLevel, "server-log-level", "warn", "log level of the server of -import (debug shows the time of each batch's steps)")
	fs.BoolVar(&cfg.Queue, "queue", false, "run only the live queue benchmark: 50 agents calling POST /v1/queue/next over -queue-waiting conversations")
	fs.IntVar(&cfg.QueueWaiting, "queue-waiting", 100_000, "waiting conversations seeded for -queue (one contact each)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if cfg.DatabaseURL == "" {
		cfg.DatabaseURL = os.Getenv("TEST_DATABASE_URL")
	}
	if cfg.DatabaseURL == "" {
		if !pgdb.SystemAnswers() {
			return cfg, errors.New("no database: pass -database-url or set TEST_DATABASE_URL (a superuser connection string)")
		}
		cfg.DatabaseURL = pgdb.SystemURL
	}
	if cfg.ListDuration == 0 {
		cfg.ListDuration = min(cfg.Duration, 5*time.Second)
	}
	switch {
	case cfg.Contacts < 1000:
		return cfg, errors.New("-contacts must be at least 1000")
	case cfg.Contacts > maxSeedContacts:
		return cfg, fmt.Errorf("-contacts must be at most %d", maxSeedContacts)
	case cfg.Concurrency < 1 || cfg.ListConcurrency < 1:
		return cfg, errors.New("-concurrency and -list-concurrency must be at least 1")
	case cfg.Duration <= 0 || cfg.Warmup < 0:
		return cfg, errors.New("-duration must be positive and -warmup not negative")
	case cfg.DBMaxConns < 1 || cfg.SeedWorkers < 1:
		return cfg, errors.New("-db-max-conns and -seed-workers must be at least 1")
	}
	if cfg.Conversa != "" {
		abs, err := filepath.Abs(cfg.Conversa)
		if err != nil {
			return cfg, fmt.Errorf("-conversa: %w", err)
		}
		cfg.Conversa = abs
	}
	return cfg, nil
}

// commandLine is the command that repeats this run, for the report. It is rebuilt from the
// settings rather than copied from os.Args so that a password in the database URL never
// reaches a report.
func (c config) commandLine() string {
	args := []string{"go run ./cmd/loadgen",
		"-contacts", strconv.Itoa(c.Contacts), "-duration", c.Duration.String(), "-warmup", c.Warmup.String(),
		"-concurrency", strconv.Itoa(c.Concurrency), "-list-concurrency", strconv.Itoa(c.ListConcurrency),
		"-list-duration", c.ListDuration.String(), "-db-max-conns", strconv.Itoa(c.DBMaxConns)}
	return strings.Join(args, " ")
}

// logf reports progress on stderr, keeping stdout for the results table.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "loadgen: "+format+"\n", args...)
}

// run does the whole benchmark: database, seed, server, phases, report, clean-up. failed is
// true when any request of any phase failed.
func run(ctx context.Context, cfg config) (failed bool, err error) {
	if cfg.Import {
		return runImportBench(ctx, cfg)
	}
	started := time.Now()
	if err := checkPhoneScheme(int64(cfg.Contacts)); err != nil {
		return false, err
	}

	benchURL, err := databaseURL(cfg.DatabaseURL, benchDB)
	if err != nil {
		return false, err
	}
	logf("creating database %s", benchDB)
	if err := recreateDatabase(ctx, cfg.DatabaseURL, benchDB); err != nil {
		return false, err
	}
	if !cfg.KeepDB {
		defer func() {
			// The parent context may be cancelled (Ctrl-C); dropping must still happen.
			dropCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if derr := dropDatabase(dropCtx, cfg.DatabaseURL, benchDB); derr != nil {
				logf("%v", derr)
			} else {
				logf("dropped database %s", benchDB)
			}
		}()
	}

	// One pool serves setup, seeding and the raw measurements; it is opened exactly like the
	// server's (pgdb.Open), so both sides plan and run statements the same way.
	pool, err := pgdb.Open(ctx, benchURL, int32(max(cfg.DBMaxConns, cfg.SeedWorkers)))
	if err != nil {
		return false, fmt.Errorf("open %s: %w", benchDB, err)
	}
	defer pool.Close()
	if err := pgdb.Migrate(ctx, pool, nil); err != nil {
		return false, fmt.Errorf("migrate %s: %w", benchDB, err)
	}
	ten, err := setupTenant(ctx, pool)
	if err != nil {
		return false, err
	}
	logf("seeding %d contacts (%d COPY streams)", cfg.Contacts, cfg.SeedWorkers)
	ids, seed, err := seedContacts(ctx, pool, ten.AccountID, cfg.Contacts, cfg.SeedWorkers)
	if err != nil {
		return false, err
	}
	logf("seeded %d contacts + %d phones in %s (%.0f contacts/s), VACUUM ANALYZE %s",
		seed.Contacts, seed.Contacts, seed.Copy.Round(time.Millisecond), seed.RowsPerSecond(), seed.Vacuum.Round(time.Millisecond))

	var queries []queryResult
	if cfg.Consents {
		logf("seeding consent records for %d contacts", len(ids))
		n, took, err := seedConsents(ctx, pool, ten.AccountID, ids)
		if err != nil {
			return false, err
		}
		seed.ConsentRecords, seed.ConsentCopy = n, took
		logf("seeded %d consent records in %s (%.0f records/s)", n, took.Round(time.Millisecond), float64(n)/took.Seconds())
		if queries, err = measureConsentQueries(ctx, pool, ten.AccountID); err != nil {
			return false, err
		}
		for _, q := range queries {
			logf("%s: %s, slowest %s", q.Name, q.Result, q.Times[len(q.Times)-1].Round(time.Millisecond))
		}
	}

	segCount, err := measureSegmentCount(ctx, pool, ten.AccountID)
	if err != nil {
		return false, err
	}
	logf("%s: %s, slowest %s", segCount.Name, segCount.Result, segCount.Times[len(segCount.Times)-1].Round(time.Millisecond))
	queries = append(queries, segCount)

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
	logf("server pid %d ready on %s after %s, RSS %s", srv.Pid(), srv.Base, srv.StartupTime.Round(time.Millisecond), formatMB(srv.RSS.Last()))

	// The raw phases use their own pool capped like the server's, separate from the one that
	// seeded (which may be larger with many seed workers).
	raw, err := newRawTarget(ctx, benchURL, int32(cfg.DBMaxConns), ten.AccountID, ids)
	if err != nil {
		return false, err
	}
	defer raw.Close()
	web := newHTTPTarget(srv.Base, ten.APIKey, cfg.Concurrency, ids)

	deepAfter := cfg.Contacts * 9 / 10
	if err := checkTargets(ctx, web, raw, ids, deepAfter); err != nil {
		return false, err
	}

	postNumbers := newCounter(int64(cfg.Contacts))
	scenarios := []scenario{
		// Each endpoint twice: flat out (closed loop: the throughput it reaches, where latency
		// is just clients / throughput), then offered the target rate over the same 64
		// connections (the latency a caller sees at that load).
		{
			Name: "GET /v1/contacts/{id}, flat out", Clients: cfg.Concurrency, Duration: cfg.Duration,
			HTTP: web.getContact, Raw: raw.getContact,
			Target: target{MinRPS: 5000},
		},
		{
			Name: "GET /v1/contacts/{id} at 5000/s", Clients: cfg.Concurrency, Duration: cfg.Duration, Rate: 5000,
			HTTP: web.getContact, Raw: raw.getContact,
			Target: target{MinRPS: 4900, MaxP99: 20 * time.Millisecond},
		},
		{
			Name: "POST /v1/contacts, flat out", Clients: cfg.Concurrency, Duration: cfg.Duration,
			HTTP: web.createContact(postNumbers), Raw: raw.createContact(postNumbers),
			Target: target{MinRPS: 2000},
		},
		{
			Name: "POST /v1/contacts at 2000/s", Clients: cfg.Concurrency, Duration: cfg.Duration, Rate: 2000,
			HTTP: web.createContact(postNumbers), Raw: raw.createContact(postNumbers),
			Target: target{MinRPS: 1960, MaxP99: 20 * time.Millisecond},
		},
		{
			Name: "GET /v1/contacts?limit=50 (first page)", Clients: cfg.ListConcurrency, Duration: cfg.ListDuration,
			HTTP: web.listContacts(""), Raw: raw.listContacts(nil),
			Target: target{MaxP99: 10 * time.Millisecond},
		},
		{
			Name: fmt.Sprintf("GET /v1/contacts?limit=50 (after #%d)", deepAfter), Clients: cfg.ListConcurrency, Duration: cfg.ListDuration,
			HTTP: web.listContacts(encodeCursor(ids[deepAfter-1])), Raw: raw.listContacts(&ids[deepAfter-1]),
			Target: target{MaxP99: 10 * time.Millisecond},
		},
	}

	if cfg.Consents {
		scenarios = append(scenarios,
			scenario{
				Name: "POST /v1/contacts/{id}/consents, flat out", Clients: cfg.Concurrency, Duration: cfg.Duration,
				HTTP: web.recordConsent, Raw: raw.recordConsent,
				Target: target{MinRPS: 2000},
			},
			scenario{
				Name: "POST /v1/contacts/{id}/consents at 2000/s", Clients: cfg.Concurrency, Duration: cfg.Duration, Rate: 2000,
				HTTP: web.recordConsent, Raw: raw.recordConsent,
				Target: target{MinRPS: 1960, MaxP99: 25 * time.Millisecond},
			})
	}

	logf("exporting the account through the API")
	exports, err := measureExport(ctx, web, pool, ten.AccountID, cfg.Contacts)
	if err != nil {
		return false, err
	}
	for _, q := range exports {
		logf("%s: %s", q.Name, q.Result)
	}
	queries = append(queries, exports...)
	logf("resyncing %d events through the API", resyncEvents)
	resync, err := measureEventResync(ctx, pool, ten.AccountID, srv.Base, ten.APIKey)
	if err != nil {
		return false, err
	}
	for _, q := range resync {
		logf("%s: %s, slowest %s", q.Name, q.Result, q.Times[len(q.Times)-1].Round(time.Millisecond))
	}
	queries = append(queries, resync...)

	var results []scenarioResult
	for _, sc := range scenarios {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		res := runScenario(ctx, sc, cfg.Warmup, srv.RSS)
		results = append(results, res)
		failed = failed || res.HTTP.Errors > 0 || res.Raw.Errors > 0
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// Stop now so that the shutdown, too, falls inside the memory samples.
	if err := srv.Stop(); err != nil {
		logf("%v", err)
	}
	rep := report{
		Started: started, Config: cfg, Facts: facts, Seed: seed, Results: results, Queries: queries,
		IdleRSS: srv.IdleRSS, PeakRSS: srv.RSS.Peak(time.Time{}, time.Now()),
		Command: cfg.commandLine(),
	}
	rep.Text(os.Stdout)
	if cfg.Markdown != "" {
		if err := rep.AppendMarkdown(cfg.Markdown); err != nil {
			return failed, err
		}
	}
	return failed, nil
}

// runScenario measures one scenario through HTTP, then the same work on the raw pool, and
// takes the server's peak memory over the HTTP phase.
func runScenario(ctx context.Context, sc scenario, warmup time.Duration, rss *rssSampler) scenarioResult {
	logf("%s: HTTP, %d clients, %s + %s warm-up", sc.Name, sc.Clients, sc.Duration, warmup)
	from := time.Now()
	httpRes := runPhase(ctx, sc.Clients, sc.Rate, warmup, sc.Duration, sc.HTTP)
	peak := rss.Peak(from, time.Now())
	logf("  %.0f rps, p50 %s, p99 %s, %d errors, server peak RSS %s",
		httpRes.RPS(), formatMs(httpRes.Percentile(50)), formatMs(httpRes.Percentile(99)), httpRes.Errors, formatMB(peak))
	printErrors(httpRes)
	if ctx.Err() != nil {
		return scenarioResult{Scenario: sc, HTTP: httpRes, PeakRSS: peak}
	}
	logf("%s: raw PostgreSQL, %d clients", sc.Name, sc.Clients)
	rawRes := runPhase(ctx, sc.Clients, sc.Rate, warmup, sc.Duration, sc.Raw)
	logf("  %.0f rps, p50 %s, p99 %s, %d errors",
		rawRes.RPS(), formatMs(rawRes.Percentile(50)), formatMs(rawRes.Percentile(99)), rawRes.Errors)
	printErrors(rawRes)
	return scenarioResult{Scenario: sc, HTTP: httpRes, Raw: rawRes, PeakRSS: peak}
}

// printErrors shows the first failures of a phase, so a broken run explains itself.
func printErrors(r phaseResult) {
	for _, e := range r.ErrorSamples {
		logf("  error: %s", e)
	}
}
