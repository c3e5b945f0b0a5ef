package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/campaign"
)

// The campaign dispatch benchmark (issue 8): ten prospect lines at 1 000 messages/s each.
const (
	campaignSendLines    = 10
	campaignSendLineRate = 1000
)

// addCampaignLines gives the seeded campaign's account more fake prospect lines in the
// segment, with the template approved on them, and sets every line's throughput to rate.
func addCampaignLines(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, n, rate int) error {
	if n > 0 {
		if _, err := createFakeLines(ctx, pool, accountID, n, rate); err != nil {
			return err
		}
	}
	for _, q := range []string{
		`UPDATE channels SET line_kind = 'prospect', quality_rating = 'green', messaging_limit = 'unlimited', throughput_mps = $2 WHERE account_id = $1`,
		`INSERT INTO channel_segments (account_id, channel_id, segment_id)
		 SELECT ch.account_id, ch.id, s.id FROM channels ch CROSS JOIN segments s WHERE ch.account_id = $1 AND s.account_id = $1 AND $2 > 0
		 ON CONFLICT DO NOTHING`,
		`INSERT INTO template_channels (account_id, template_id, channel_id, status, provider_template_id, status_at)
		 SELECT ch.account_id, t.id, ch.id, 'approved', 'bench-' || ch.id, now() FROM channels ch CROSS JOIN templates t
		 WHERE ch.account_id = $1 AND t.account_id = $1 AND $2 > 0
		 ON CONFLICT (account_id, template_id, channel_id) DO NOTHING`,
	} {
		if _, err := pool.Exec(ctx, q, accountID, rate); err != nil {
			return fmt.Errorf("seed campaign lines: %w", err)
		}
	}
	return nil
}

// runCampaignSend measures a campaign's dispatch: the audience of -contacts contacts frozen
// in-process, then a `conversa worker`-equivalent server process (its River workers on)
// sends it on ten fake prospect lines of 1 000 messages/s each until the campaign completes;
// then raw River throughput in the same run, for the ratio.
func runCampaignSend(ctx context.Context, cfg config) (failed bool, err error) {
	started := time.Now()
	loadAtStart := loadAverage()
	const campaignDB = benchDB + "_campaign_send"
	sc, err := newCampaignScenario(ctx, cfg, campaignDB)
	if err != nil {
		return false, err
	}
	defer sc.drop()
	pool, benchURL, ten, svc, templates := sc.pool, sc.url, sc.ten, sc.svc, sc.templates
	id, err := seedCampaign(ctx, pool, ten.AccountID, svc, templates)
	if err != nil {
		return false, err
	}
	if err := addCampaignLines(ctx, pool, ten.AccountID, campaignSendLines-campaignLines, campaignSendLineRate); err != nil {
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
	st, err := svc.Start(ctx, ten.AccountID, id)
	if err != nil {
		return true, err
	}
	recipients := int(ptrVal(st.Campaign.Recipients))
	logf("froze %d recipients on %d lines", recipients, len(st.Campaign.SenderIds))
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE campaign_recipients"); err != nil {
		return false, err
	}

	loadBefore := loadAverage()
	from := time.Now()
	srv, err := startServer(ctx, bin, benchURL, cfg.DBMaxConns)
	if err != nil {
		return false, err
	}
	var status string
	for {
		if err := pool.QueryRow(ctx, `SELECT status FROM campaigns WHERE id = $1`, id).Scan(&status); err != nil {
			_ = srv.Stop()
			return true, err
		}
		if status != campaign.StatusRunning || time.Since(from) > 30*time.Minute {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	took := time.Since(from)
	peak := srv.RSS.Peak(from, time.Now())
	if err := srv.Stop(); err != nil {
		logf("%v", err)
	}
	var first, last time.Time
	var sent, other int
	if err := pool.QueryRow(ctx, `SELECT min(sent_at), max(sent_at), count(*) FILTER (WHERE state = 'sent'), count(*) FILTER (WHERE state <> 'sent')
		FROM campaign_recipients WHERE campaign_id = $1`, id).Scan(&first, &last, &sent, &other); err != nil {
		return true, err
	}
	var busiest int
	if err := pool.QueryRow(ctx, `
		WITH per AS (SELECT channel_id, date_trunc('second', sent_at) AS s, count(*) AS n FROM campaign_recipients
		             WHERE campaign_id = $1 AND sent_at IS NOT NULL GROUP BY 1, 2),
		ranked AS (SELECT *, rank() OVER (PARTITION BY channel_id ORDER BY s) AS f, rank() OVER (PARTITION BY channel_id ORDER BY s DESC) AS l FROM per)
		SELECT coalesce(max(n), 0) FROM ranked WHERE f > 1 AND l > 1`, id).Scan(&busiest); err != nil {
		return true, err
	}
	var fastest float64
	if err := pool.QueryRow(ctx, `
		SELECT coalesce(max(n / greatest(extract(epoch FROM last - first), 0.001)), 0)::float8 FROM (
			SELECT channel_id, count(*) AS n, min(sent_at) AS first, max(sent_at) AS last FROM campaign_recipients
			WHERE campaign_id = $1 AND sent_at IS NOT NULL GROUP BY 1) l`, id).Scan(&fastest); err != nil {
		return true, err
	}
	sending := last.Sub(first)
	rate := float64(sent) / sending.Seconds()
	logf("  %s: %d sent, %d not, in %s from the server's start; %.0f msg/s between the first and last send (%s); busiest line-second %d, fastest line average %.0f/s; peak RSS %d MB",
		status, sent, other, took.Round(time.Millisecond), rate, sending.Round(time.Millisecond), busiest, fastest, peak>>20)
	failed = status != campaign.StatusCompleted || sent != recipients

	logf("raw River: %d no-op jobs", riverNoopJobs)
	riverRate, err := measureRawRiver(ctx, pool)
	if err != nil {
		return failed, err
	}
	logf("  %.0f jobs/s", riverRate)

	var b strings.Builder
	fmt.Fprintf(&b, "\n### Run of %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s. Load average (1, 5, 15 min) at the start: %s; before the dispatch: %s; at the end: %s.\n", facts, loadAtStart, loadBefore, loadAverage())
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -campaign-send -contacts %d`.\n", cfg.Contacts)
	fmt.Fprintf(&b, "- The freeze benchmark's audience (%d contacts, %d recipients after the exclusions), sent on %d fake prospect lines of %d messages/s "+
		"each by one `conversa serve` child process with its River workers (16 campaign senders, CONVERSA_DB_MAX_CONNS=%d): a sender job per line "+
		"claims slices (its line's bucket, at most 1 000), sends them to the in-process fake provider, records them. Measured from the server's "+
		"start to the campaign's `completed`; the rate is between the first and last send. Raw River: %d no-op jobs on one client, same run.\n\n",
		cfg.Contacts, recipients, campaignSendLines, campaignSendLineRate, cfg.DBMaxConns, riverNoopJobs)
	b.WriteString("| Dispatch | Sent | Took (start to completed) | msg/s | Fastest line, average | Busiest line, one calendar second | Peak server RSS | Raw River no-op jobs/s | Dispatch / River | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| campaign, %d lines of %d/s | %d | %s | %.0f | %.0f/s | %d | %d MB | %.0f | %.2f | ≥ 8 000 msg/s, lines ≤ 1 000/s, < 200 MB | %s |\n",
		campaignSendLines, campaignSendLineRate, sent, took.Round(time.Millisecond), rate, fastest, busiest, peak>>20, riverRate, rate/riverRate,
		yesNo(!failed && rate >= 8000 && fastest <= campaignSendLineRate*1.01 && peak < 200<<20))
	fmt.Print(b.String())
	if cfg.Markdown != "" {
		if err := appendMarkdown(cfg.Markdown, b.String()); err != nil {
			return failed, err
		}
	}
	return failed, nil
}
