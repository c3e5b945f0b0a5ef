package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/template"
)

// reportTarget is issue 8's figure for the per-contact CSV report.
const reportTarget = 200_000 // rows/s

// seedReportCampaign makes the campaign the report benchmark downloads: the freeze benchmark's
// campaign over every contact (the ones the freeze leaves out are added afterwards, so the
// campaign has exactly one recipient per contact), contacts with a CPF and an e-mail, and the
// recipients in the mix of states a finished campaign leaves (by contact number: 5 % pending,
// 10 % sent, 35 % delivered, 30 % read, 8 % replied, 10 % failed, 2 % unknown), with the text
// sent. The campaign is marked completed, so no sender picks it up while the server runs.
func seedReportCampaign(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, svc *campaign.Service, templates *template.Service) (uuid.UUID, int64, error) {
	id, err := seedCampaign(ctx, pool, accountID, svc, templates)
	if err != nil {
		return uuid.Nil, 0, err
	}
	if _, err := svc.Start(ctx, accountID, id); err != nil {
		return uuid.Nil, 0, fmt.Errorf("start the campaign: %w", err)
	}
	for _, q := range []string{
		`UPDATE contacts c SET document = lpad(s.n::text, 11, '0'), document_kind = 'cpf', email = 'cliente' || s.n || '@example.com'
		 FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM contacts WHERE account_id = $1) s
		 WHERE c.account_id = $1 AND c.id = s.id`,
		`INSERT INTO campaign_recipients (account_id, campaign_id, contact_id, phone, requested_at)
		 SELECT c.account_id, $2, c.id, p.phone, now()
		 FROM contacts c JOIN contact_phones p ON p.account_id = c.account_id AND p.contact_id = c.id AND p.position = 1
		 WHERE c.account_id = $1
		   AND NOT EXISTS (SELECT 1 FROM campaign_recipients r WHERE r.account_id = $1 AND r.campaign_id = $2 AND r.contact_id = c.id)`,
		`UPDATE campaign_recipients r SET
		    state = k.state,
		    sent_at = CASE WHEN k.state IN ('sent', 'delivered', 'read', 'replied') OR (k.state = 'failed' AND k.b % 2 = 0)
		                   THEN r.requested_at + (k.n % 7200) * interval '1 second' END,
		    delivered_at = CASE WHEN k.state IN ('delivered', 'read', 'replied') THEN r.requested_at + (k.n % 7200 + 5) * interval '1 second' END,
		    read_at = CASE WHEN k.state IN ('read', 'replied') THEN r.requested_at + (k.n % 7200 + 60) * interval '1 second' END,
		    replied_at = CASE WHEN k.state = 'replied' THEN r.requested_at + (k.n % 7200 + 300) * interval '1 second' END,
		    failed_at = CASE WHEN k.state = 'failed' THEN r.requested_at + (k.n % 7200 + 2) * interval '1 second' END,
		    code = CASE WHEN k.state = 'failed' THEN CASE WHEN k.b % 2 = 0 THEN '131026' ELSE '131049' END END,
		    reason = CASE WHEN k.state = 'failed' THEN CASE WHEN k.b % 2 = 0 THEN 'Message undeliverable'
		                  ELSE 'Not delivered to maintain healthy ecosystem engagement' END END,
		    message_text = CASE WHEN k.state NOT IN ('pending', 'unknown')
		                        THEN 'Olá ' || split_part(c.name, ' ', 1) || ', temos uma oferta para você.' END
		 FROM (SELECT contact_id, n, n / 100 AS b,
		              CASE WHEN n % 100 < 5 THEN 'pending' WHEN n % 100 < 15 THEN 'sent' WHEN n % 100 < 50 THEN 'delivered'
		                   WHEN n % 100 < 80 THEN 'read' WHEN n % 100 < 88 THEN 'replied' WHEN n % 100 < 98 THEN 'failed'
		                   ELSE 'unknown' END AS state
		       FROM (SELECT contact_id, row_number() OVER (ORDER BY contact_id) AS n
		             FROM campaign_recipients WHERE account_id = $1 AND campaign_id = $2) x) k,
		      contacts c
		 WHERE r.account_id = $1 AND r.campaign_id = $2 AND r.contact_id = k.contact_id
		   AND c.account_id = $1 AND c.id = r.contact_id`,
		`UPDATE campaigns SET status = 'completed', finished_at = now() WHERE account_id = $1 AND id = $2`,
	} {
		args := []any{accountID, id}
		if !strings.Contains(q, "$2") {
			args = args[:1]
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			return uuid.Nil, 0, fmt.Errorf("seed the report's recipients: %w", err)
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) contacts, campaign_recipients"); err != nil {
		return uuid.Nil, 0, err
	}
	var rows int64
	err = pool.QueryRow(ctx, `SELECT count(*) FROM campaign_recipients WHERE account_id = $1 AND campaign_id = $2`, accountID, id).Scan(&rows)
	return id, rows, err
}

// processCPU is the user and system CPU time pid has used so far (from /proc; 0 elsewhere),
// so a run can say how much of the machine the server itself spent.
func processCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The fields after the command name (which may hold spaces) start after its ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks (USER_HZ, 100 on Linux)
}

// downloadReport GETs the campaign's report through the server and counts its rows (lines
// after the header) as they arrive, returning the rows, the bytes and the time to the last.
func downloadReport(ctx context.Context, base, apiKey string, id uuid.UUID) (rows, size int64, took time.Duration, err error) {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/campaigns/"+id.String()+"/report.csv", nil)
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("report: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return 0, 0, 0, fmt.Errorf("report: status %d: %s", resp.StatusCode, b)
	}
	buf := make([]byte, 256<<10)
	var lines int64
	for {
		n, rerr := resp.Body.Read(buf)
		size += int64(n)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return 0, 0, 0, fmt.Errorf("read report: %w", rerr)
		}
	}
	return lines - 1, size, time.Since(start), nil
}

// runCampaignReport measures GET /v1/campaigns/{id}/report.csv of a campaign with -contacts
// recipients through the real server, with its memory, next to PostgreSQL's own COPY of the
// same rows to nowhere (the floor of any implementation reading them).
func runCampaignReport(ctx context.Context, cfg config) (failed bool, err error) {
	started := time.Now()
	loadAtStart := loadAverage()
	sc, err := newCampaignScenario(ctx, cfg, benchDB+"_report")
	if err != nil {
		return false, err
	}
	defer sc.drop()
	pool, benchURL, ten, svc, templates := sc.pool, sc.url, sc.ten, sc.svc, sc.templates
	seedFrom := time.Now()
	id, recipients, err := seedReportCampaign(ctx, pool, ten.AccountID, svc, templates)
	if err != nil {
		return false, err
	}
	logf("  campaign of %d recipients frozen, states set in %s", recipients, time.Since(seedFrom).Round(time.Millisecond))
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

	loadBefore := loadAverage()
	type run struct {
		rows, size int64
		took       time.Duration
		peak       int64
		cpu        time.Duration
	}
	var runs []run
	for i := range 2 { // the first also warms the caches; both are reported
		from, cpu := time.Now(), processCPU(srv.cmd.Process.Pid)
		rows, size, took, err := downloadReport(ctx, srv.Base, ten.APIKey, id)
		if err != nil {
			return true, err
		}
		cpu = processCPU(srv.cmd.Process.Pid) - cpu
		time.Sleep(200 * time.Millisecond) // one more RSS sample after the last byte
		runs = append(runs, run{rows, size, took, srv.RSS.Peak(from, time.Now()), cpu})
		logf("  download %d: %d rows, %.1f MB in %s: %.0f rows/s, server peak RSS %s, server CPU %s", i+1, rows, float64(size)/1e6,
			took.Round(time.Millisecond), float64(rows)/took.Seconds(), formatMB(runs[i].peak), cpu)
		if rows != recipients {
			failed = true
			logf("  expected %d rows", recipients)
		}
	}

	// The statistics and the campaigns report over the same million recipients, in-process
	// (what their GETs run): each is a pass or two over the campaign's rows.
	from := time.Now()
	st, err := svc.Stats(ctx, ten.AccountID, id)
	if err != nil {
		return failed, fmt.Errorf("stats: %w", err)
	}
	statsTook := time.Since(from)
	from = time.Now()
	sums, err := svc.CampaignsReport(ctx, ten.AccountID, campaign.ReportFilter{From: started.Add(-time.Hour), To: time.Now().Add(time.Hour)}, nil, 50)
	if err != nil {
		return failed, fmt.Errorf("campaigns report: %w", err)
	}
	sumsTook := time.Since(from)
	if st.Totals.Requested != recipients || len(sums) != 1 || sums[0].Recipients != recipients {
		failed = true
		logf("  stats or campaigns report miscounted: %+v, %+v", st.Totals, sums)
	}
	logf("  stats in %s (%d hours), campaigns report in %s", statsTook.Round(time.Millisecond), len(st.Hours), sumsTook.Round(time.Millisecond))

	// The service's own statement and settings, as COPY to nowhere: PostgreSQL's floor.
	tx, err := pool.Begin(ctx)
	if err != nil {
		return failed, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, campaign.ReportSettings); err != nil {
		return failed, err
	}
	sql := strings.NewReplacer("$1", "'"+ten.AccountID.String()+"'", "$2", "'"+id.String()+"'").Replace(campaign.ReportSQL)
	from = time.Now()
	tag, err := tx.Conn().PgConn().CopyTo(ctx, io.Discard, "COPY ("+sql+") TO STDOUT WITH (FORMAT csv)")
	if err != nil {
		return failed, fmt.Errorf("raw copy: %w", err)
	}
	rawTook := time.Since(from)
	logf("  raw COPY: %d rows in %s", tag.RowsAffected(), rawTook.Round(time.Millisecond))

	var b strings.Builder
	fmt.Fprintf(&b, "\n### CSV report run of %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s. Load average (1, 5, 15 min) at the start: %s; before the downloads: %s; at the end: %s.\n", facts, loadAtStart, loadBefore, loadAverage())
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -campaign-report -contacts %d -db-max-conns %d`.\n", cfg.Contacts, cfg.DBMaxConns)
	fmt.Fprintf(&b, "- Data: the -campaign-freeze campaign with every one of the %d contacts as a recipient (each with a CPF and an e-mail), "+
		"states by contact number: 5 %% pending, 10 %% sent, 35 %% delivered, 30 %% read, 8 %% replied, 10 %% failed, 2 %% unknown, with the text sent. "+
		"Measured: `GET /v1/campaigns/{id}/report.csv` through `conversa serve` (a child process) over loopback, from the request to the last "+
		"byte, counting the lines; twice in a row. Server CPU is the user and system time the server process spent meanwhile (the rest of the two cores went to PostgreSQL and the client). Peak RSS is the server's, sampled every 100 ms during each download (idle: %s). "+
		"Raw PG: the service's statement with its settings (`campaign.ReportSQL`, `ReportSettings`) as `COPY ... TO STDOUT (FORMAT csv)` to nowhere, PostgreSQL's own floor (it formats the times as text, which the service reads in binary).\n\n", cfg.Contacts, formatMB(srv.IdleRSS))
	b.WriteString("| Download | Rows | Size | Took | rows/s | Server CPU | Server peak RSS | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, r := range runs {
		rate := float64(r.rows) / r.took.Seconds()
		fmt.Fprintf(&b, "| report.csv #%d | %d | %.1f MB | %s | %.0f | %s | %s | %d rows/s | %s |\n", i+1, r.rows, float64(r.size)/1e6,
			formatMs(r.took), rate, r.cpu, formatMB(r.peak), reportTarget, yesNo(!failed && rate >= reportTarget))
	}
	fmt.Fprintf(&b, "| raw PG COPY of the same rows | %d | | %s | %.0f | | | | |\n", tag.RowsAffected(), formatMs(rawTook),
		float64(tag.RowsAffected())/rawTook.Seconds())
	fmt.Fprintf(&b, "\nIn-process, over the same recipients: `campaign.Service.Stats` (GET /v1/campaigns/{id}/stats: counts by state and "+
		"milestone with the top failure codes, then events per hour, in one snapshot) took %s; `CampaignsReport` (GET /v1/reports/campaigns, "+
		"this campaign's counts) took %s.\n", formatMs(statsTook), formatMs(sumsTook))
	fmt.Print(b.String())
	if cfg.Markdown != "" {
		if err := appendMarkdown(cfg.Markdown, b.String()); err != nil {
			return failed, err
		}
	}
	return failed, nil
}
