package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/expiry"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

// Sweep benchmark settings: sweepLines × sweepContacts conversations, a quarter each with a
// session ended since the sweep's last run (Expirado due), ending within the warning
// (Expirando due), ending later (not due) and ended before the last run (done).
const (
	sweepLines    = 100
	sweepContacts = 10_000
)

// seedSweep creates the lines and the conversations of the sweep benchmark and returns how
// many are due.
func seedSweep(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, contacts []uuid.UUID) (total, due int, err error) {
	box, err := secretbox.New(benchSecretKey)
	if err != nil {
		return 0, 0, err
	}
	svc := channel.NewService(pool, clock.System{}, box)
	lines := make([]uuid.UUID, 0, sweepLines)
	for i := range sweepLines {
		name, prov, number := fmt.Sprintf("Sweep line %d", i), "fake", fmt.Sprintf("+55 11 4100-%04d", 1000+i)
		ch, err := svc.Create(ctx, accountID, channel.Input{Type: channel.WhatsApp, Name: &name, Provider: &prov, PhoneNumber: &number})
		if err != nil {
			return 0, 0, fmt.Errorf("create line: %w", err)
		}
		lines = append(lines, ch.ID)
	}
	// Row n: n % 4 = 0 ended 1 to 60 minutes ago, 1 ends within the next 30 minutes, 2 ends in
	// 2 to 23 hours, 3 ended yesterday. The sweep last ran 61 minutes ago. Closed, so the
	// queue placement trigger (which the sweep does not depend on) stays out of the seeding.
	tag, err := pool.Exec(ctx, `
		INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, service_expires_at,
		                           last_inbound_at, created_at, updated_at)
		SELECT $1, gen_random_uuid(), c.id, l.id, '+55119' || lpad((row_number() OVER ())::text, 8, '0'), 'closed',
		       now() + CASE s.n % 4 WHEN 0 THEN -(1 + s.n % 59) * interval '1 minute'
		                            WHEN 1 THEN (1 + s.n % 29) * interval '1 minute'
		                            WHEN 2 THEN (2 + s.n % 21) * interval '1 hour'
		                            ELSE -interval '1 day' END,
		       now() - interval '1 day', now(), now()
		FROM unnest($2::uuid[]) WITH ORDINALITY AS l(id, li)
		CROSS JOIN unnest($3::uuid[]) WITH ORDINALITY AS c(id, ci)
		CROSS JOIN LATERAL (SELECT (l.li * 7919 + c.ci)::bigint AS n) AS s`, accountID, lines, contacts)
	if err != nil {
		return 0, 0, fmt.Errorf("seed conversations: %w", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE session_expiry_marks SET after_at = CASE WHEN ended THEN now() - interval '61 minutes' ELSE now() END`); err != nil {
		return 0, 0, fmt.Errorf("place the sweep's watermarks: %w", err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE service_expires_at > now() - interval '61 minutes' AND service_expires_at <= now() + interval '30 minutes')
		FROM conversations WHERE account_id = $1`, accountID).Scan(&due); err != nil {
		return 0, 0, err
	}
	// The seeding wrote about a gigabyte of WAL, which sets off a checkpoint (max_wal_size):
	// settle takes it now, so that the sweep is not measured paying for the seeding's dirty
	// pages and full-page images.
	if err := settle(ctx, pool, "conversations"); err != nil {
		return 0, 0, err
	}
	return int(tag.RowsAffected()), due, nil
}

// runSweep measures the session-expiry sweep: a million conversations, half of them due, swept
// in-process by internal/expiry (what the periodic job runs) in batches of expiry.BatchSize.
func runSweep(ctx context.Context, cfg config) (failed bool, err error) {
	started := time.Now()
	loadAtStart := loadAverage()
	const sweepDB = benchDB + "_sweep"
	pool, _, dropDB, err := scenarioDatabase(ctx, cfg, sweepDB)
	if err != nil {
		return false, err
	}
	defer dropDB()
	ten, err := setupTenant(ctx, pool)
	if err != nil {
		return false, err
	}
	logf("seeding %d contacts", sweepContacts)
	ids, _, err := seedContacts(ctx, pool, ten.AccountID, sweepContacts, cfg.SeedWorkers)
	if err != nil {
		return false, err
	}
	logf("seeding %d conversations on %d lines", sweepContacts*sweepLines, sweepLines)
	seedFrom := time.Now()
	total, due, err := seedSweep(ctx, pool, ten.AccountID, ids)
	if err != nil {
		return false, err
	}
	logf("  %d conversations, %d due, seeded in %s", total, due, time.Since(seedFrom).Round(time.Millisecond))
	facts, err := machineFacts(ctx, pool)
	if err != nil {
		return false, err
	}
	loadBefore := loadAverage()
	// Both sweeps run at the same clock time, so the second must find nothing (on the wall
	// clock, sessions ending while the first one ran would rightly be due again).
	sw := expiry.NewSweeper(pool, clock.NewManual(time.Now()))
	from := time.Now()
	st, err := sw.Sweep(ctx)
	if err != nil {
		return true, err
	}
	took := time.Since(from)
	rate := float64(st.Tagged) / took.Seconds()
	logf("  swept %d rows in %d batches (%d rows on average) in %s: %.0f rows/s, longest batch %s", st.Tagged, st.Batches,
		st.Tagged/max(1, st.Batches), took.Round(time.Millisecond), rate, formatMs(st.LongestBatch))
	again, err := sw.Sweep(ctx)
	if err != nil {
		return true, err
	}
	var events int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM event_outbox WHERE type = 'conversation.tagged'`).Scan(&events); err != nil {
		return true, err
	}
	failed = st.Tagged != due || again.Tagged != 0 || events != due
	if failed {
		logf("  expected %d conversations tagged once: swept %d, %d on a second sweep, %d events", due, st.Tagged, again.Tagged, events)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n### Run of %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s. Load average (1, 5, 15 min) at the start: %s; before the sweep: %s; at the end: %s.\n", facts, loadAtStart, loadBefore, loadAverage())
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -sweep`.\n")
	fmt.Fprintf(&b, "- %d conversations (%d lines × %d contacts): a quarter with the session ended within the hour, a quarter ending within 30 minutes, "+
		"a quarter ending in 2–23 hours (not due), a quarter ended yesterday (before the sweep's last run, 61 minutes ago); VACUUM ANALYZE and a CHECKPOINT after seeding. The sweep is `internal/expiry` "+
		"in-process, exactly what the periodic River job runs: rounds of two transactions at once on two connections, one per threshold "+
		"(ended; within the warning), each of at most %d rows: it locks its threshold's watermark, reads the next range of "+
		"`conversations_service_expiry` by an index-only scan, creates the tags if missing, emits one `conversation.tagged` event "+
		"per WhatsApp conversation and moves the watermark. No conversation row is written or locked (the tags are computed from the session's end). "+
		"The second sweep runs at the same clock time and must find nothing.\n\n",
		total, sweepLines, sweepContacts, expiry.BatchSize)
	b.WriteString("| Sweep | Rows due | Rows tagged | Rounds | Took | rows/s | Longest batch (transaction; no conversation locked) | Second sweep | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| Expirando/Expirado over 1M conversations | %d | %d | %d | %s | %.0f | %s | %d rows | ≥ 100000 rows/s, each batch < 50 ms | %s |\n",
		due, st.Tagged, st.Batches, formatMs(took), rate, formatMs(st.LongestBatch), again.Tagged,
		yesNo(!failed && rate >= 100_000 && st.LongestBatch < 50*time.Millisecond))
	fmt.Print(b.String())
	if cfg.Markdown != "" {
		if err := appendMarkdown(cfg.Markdown, b.String()); err != nil {
			return failed, err
		}
	}
	return failed, nil
}
