package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"github.com/spf13/cobra"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/company"
	"github.com/conversa-hq/conversa/internal/config"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/department"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/importer"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/media"
	"github.com/conversa-hq/conversa/internal/newchat"
	"github.com/conversa-hq/conversa/internal/note"
	"github.com/conversa-hq/conversa/internal/outbound"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/quickreply"
	"github.com/conversa-hq/conversa/internal/schedule"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/segment"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/tag"
	"github.com/conversa-hq/conversa/internal/teamchat"
	"github.com/conversa-hq/conversa/internal/template"
	"github.com/conversa-hq/conversa/internal/webhook"
)

func serveCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the API and the River workers",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, logger, err := loadConfig()
			if err != nil {
				return err
			}
			if addr != "" {
				cfg.Addr = addr
			}
			return serve(cmd.Context(), cfg, logger, serveHooks{})
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default $CONVERSA_ADDR or :8080)")
	return cmd
}

func workerCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "worker",
		Short: "Run the River workers only",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, logger, err := loadConfig()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			pool, err := openReady(ctx, cfg)
			if err != nil {
				return err
			}
			defer pool.Close()
			var box *secretbox.Box
			if cfg.SecretKey != "" {
				if box, err = secretbox.New(cfg.SecretKey); err != nil {
					return fmt.Errorf("CONVERSA_SECRET_KEY: %w", err)
				}
			}
			webhooks := webhook.NewService(pool, channel.NewService(pool, clock.System{}, box), clock.System{})
			events := event.NewLog(pool)
			webhooks.EventsWritten = events.Wake
			out := outbound.NewService(pool, clock.System{}, box, outbound.Config{AllowPrivate: cfg.WebhooksAllowPrivate})
			imports := importer.NewService(pool, clock.System{})
			senders := send.NewSenders(channel.NewService(pool, clock.System{}, box), cfg.WhatsAppURL)
			dispatcher := send.NewDispatcher(pool, clock.System{}, senders)
			contacts := contact.NewService(pool, clock.System{})
			templates := template.NewService(pool, clock.System{}, channel.NewService(pool, clock.System{}, box), contacts)
			sender := send.NewService(pool, clock.System{}, contacts, templates, consent.NewService(pool, clock.System{}))
			schedules := schedule.NewService(pool, clock.System{}, sender)
			campaigns := campaign.NewService(pool, clock.System{}, templates, sender)
			client, err := jobs.NewClient(pool, jobs.Config{Work: true, MaxWorkers: cfg.Workers, Logger: logger, Webhooks: webhooks, Outbound: out, Imports: imports, Send: dispatcher, Schedules: schedules, Campaigns: campaigns,
				CampaignSender: campaign.NewSender(pool, clock.System{}, templates, senders)})
			if err != nil {
				return err
			}
			schedules.Wake = send.Waker(client, logger)
			imports.Enqueuer = client
			// Not ctx itself: cancelling Start's context cancels the running jobs at once, and a
			// stop must let them finish (stopWorkers, up to CONVERSA_SHUTDOWN_TIMEOUT).
			if err := client.Start(context.WithoutCancel(ctx)); err != nil {
				return fmt.Errorf("start workers: %w", err)
			}
			webhooks.Logger = logger
			go func() { _ = webhook.Listen(ctx, pool, jobs.WakeDrain(client, webhooks, logger)) }()
			go events.RunPublisher(ctx, PublishEvery, logger)
			logger.Info("workers started", "max_workers", cfg.Workers)
			<-ctx.Done()
			return stopWorkers(client, cfg.ShutdownTimeout, logger)
		},
	}
}

// PublishEvery is how often a process publishes waiting events: the delay an event can wait
// before streams and webhooks see it.
const PublishEvery = 20 * time.Millisecond

// openReady opens the pool and refuses to go on when the schema is behind the binary.
func openReady(ctx context.Context, cfg config.Config) (*pgxpool.Pool, error) {
	if cfg.DatabaseURL == "" {
		return nil, errors.New("DATABASE_URL is not set (or use `conversa dev`, which starts its own PostgreSQL)")
	}
	pool, err := pgdb.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		return nil, err
	}
	st, err := pgdb.GetStatus(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if !st.Current() {
		pool.Close()
		return nil, fmt.Errorf("database schema is not current (product %d of %d, river ok=%v): run `conversa migrate up`", st.Version, st.Latest, st.RiverOK)
	}
	return pool, nil
}

// serveHooks let callers follow the server: ready receives the listener's address once it
// accepts connections; connState sees every connection change state (http.Server.ConnState).
// Both are optional.
type serveHooks struct {
	ready     func(addr string)
	connState func(net.Conn, http.ConnState)
}

// serve runs the API and the workers until ctx ends, then stops accepting requests, lets
// in-flight requests and jobs finish (up to the shutdown timeout) and returns.
func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, hooks serveHooks) error {
	if cfg.JWTKeys == "" {
		return errors.New("CONVERSA_JWT_KEYS is not set: generate one with `conversa keygen`, or run `conversa dev`")
	}
	keys, err := auth.ParseKeys(cfg.JWTKeys)
	if err != nil {
		return fmt.Errorf("CONVERSA_JWT_KEYS: %w", err)
	}
	pool, err := openReady(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	clk := clock.System{}
	var box *secretbox.Box
	if cfg.SecretKey != "" {
		if box, err = secretbox.New(cfg.SecretKey); err != nil {
			return fmt.Errorf("CONVERSA_SECRET_KEY: %w", err)
		}
	} else {
		logger.Warn("CONVERSA_SECRET_KEY is not set: channel credentials cannot be stored")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	channels := channel.NewService(pool, clk, box)
	webhooks := webhook.NewService(pool, channels, clk)
	events := event.NewLog(pool)
	webhooks.EventsWritten = events.Wake
	out := outbound.NewService(pool, clk, box, outbound.Config{AllowPrivate: cfg.WebhooksAllowPrivate})
	imports := importer.NewService(pool, clk)
	senders := send.NewSenders(channels, cfg.WhatsAppURL)
	dispatcher := send.NewDispatcher(pool, clk, senders)
	contacts := contact.NewService(pool, clk)
	templates := template.NewService(pool, clk, channels, contacts)
	consents := consent.NewService(pool, clk)
	sender := send.NewService(pool, clk, contacts, templates, consents)
	schedules := schedule.NewService(pool, clk, sender)
	campaigns := campaign.NewService(pool, clk, templates, sender)
	// API-only (CONVERSA_JOBS=false): the client only inserts jobs; worker processes run them.
	client, err := jobs.NewClient(pool, jobs.Config{Work: !cfg.APIOnly, MaxWorkers: cfg.Workers, Logger: logger, Clock: clk, Webhooks: webhooks, Outbound: out, Imports: imports, Send: dispatcher, Schedules: schedules, Campaigns: campaigns,
		CampaignSender: campaign.NewSender(pool, clk, templates, senders)})
	if err != nil {
		return err
	}
	webhooks.Logger = logger
	templates.Enqueuer = client
	imports.Enqueuer = client
	var signer *media.Signer
	if box != nil {
		signer = media.NewSigner(box.Derive("media links"), cfg.PublicURL)
	}
	library := media.NewService(pool, clk, signer)
	sender.Media = library
	sender.Wake = send.Waker(client, logger)
	schedules.Wake = sender.Wake
	metricsCtx, cancelMetrics := context.WithCancel(context.Background())
	defer cancelMetrics()
	if !cfg.APIOnly { // an API-only process runs no jobs to measure
		if err := jobs.Metrics(metricsCtx, client, reg); err != nil {
			return err
		}
	}
	authSvc := auth.NewService(pool, keys, clk, auth.Config{AccessTTL: cfg.AccessTTL, RefreshTTL: cfg.RefreshTTL})
	// The event log: this process publishes (taking turns with the others) and fans out to its
	// streams, which end when the server shuts down.
	hub := event.NewHub(pool, logger)
	eventsCtx, stopEvents := context.WithCancel(context.Background())
	defer stopEvents()
	go events.RunPublisher(eventsCtx, PublishEvery, logger)
	go func() { _ = hub.Run(eventsCtx) }()
	closing := make(chan struct{})
	handler, _ := api.New(api.Deps{
		Pool: pool, Auth: authSvc, Contacts: contacts, Consent: consents, Notes: note.NewService(pool, clk), Tags: tag.NewService(pool, clk),
		CustomFields: customfield.NewService(pool, clk), Departments: department.NewService(pool, clk),
		Segments: segment.NewService(pool, clk), Companies: company.NewService(pool, clk),
		Channels: channels, Webhooks: webhooks, Events: events, Hub: hub, Outbound: out, Closing: closing, Templates: templates, Imports: imports, Send: sender, Schedules: schedules, Campaigns: campaigns, QuickReplies: quickreply.NewService(pool, clk, contacts),
		Media: library, TeamChat: teamchat.NewService(pool, clk), NewChat: newchat.NewService(clk, contacts, sender), MaxImportBytes: cfg.MaxImportBytes,
		Clock: clk, Logger: logger, Conversations: webhooks.Conversations,
		Registry: reg, MaxBodyBytes: cfg.MaxBodyBytes, TrustedProxies: cfg.TrustedProxies,
		Ready: func(ctx context.Context) error {
			st, err := pgdb.GetStatus(ctx, pool)
			if err != nil {
				return errors.New("database unreachable")
			}
			if !st.Current() {
				return errors.New("database schema is not current")
			}
			return nil
		},
	})

	if !cfg.APIOnly {
		// Not ctx itself: cancelling Start's context cancels the running jobs at once, and a
		// stop must let them finish (stopWorkers, up to CONVERSA_SHUTDOWN_TIMEOUT).
		if err := client.Start(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("start workers: %w", err)
		}
	}
	// Receiving stores deliveries and NOTIFYs (debounced); listening wakes the drain.
	wakeCtx, stopWake := context.WithCancel(context.Background())
	defer stopWake()
	go webhooks.RunNotifier(wakeCtx)
	go func() { _ = webhook.Listen(wakeCtx, pool, jobs.WakeDrain(client, webhooks, logger)) }()
	if cfg.DebugAddr != "" {
		stopDebug, err := serveDebug(cfg.DebugAddr, logger)
		if err != nil {
			_ = stopWorkers(client, cfg.ShutdownTimeout, logger)
			return err
		}
		defer stopDebug()
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		_ = stopWorkers(client, cfg.ShutdownTimeout, logger)
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		ConnState:         hooks.connState,
	}
	// Event streams never go idle on their own: end them when shutdown starts.
	srv.RegisterOnShutdown(func() { close(closing) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "addr", ln.Addr().String(), "workers", cfg.Workers, "api_only", cfg.APIOnly)
	if hooks.ready != nil {
		hooks.ready(ln.Addr().String())
	}

	select {
	case err := <-errc:
		_ = stopWorkers(client, cfg.ShutdownTimeout, logger)
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests and jobs", "timeout", cfg.ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	httpErr := srv.Shutdown(shutdownCtx)
	jobErr := stopWorkers(client, cfg.ShutdownTimeout, logger)
	return errors.Join(httpErr, jobErr)
}

// stopWorkers lets running jobs finish; past the timeout it cancels them (River retries them).
func stopWorkers(client *river.Client[pgx.Tx], timeout time.Duration, logger *slog.Logger) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := client.Stop(ctx); err != nil {
		logger.Warn("jobs did not finish in time; cancelling them", "error", err)
		hard, cancelHard := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelHard()
		return client.StopAndCancel(hard)
	}
	return nil
}
