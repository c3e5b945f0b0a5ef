package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/segment"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/template"
)

// campaignLines are the prospect lines of the freeze benchmark's segment (automatic selection
// needs 3).
const campaignLines = 3

// seedCampaign makes the benchmark account's segment (every contact: rules on origin), three
// good prospect lines in it, and an approved template in their library, and returns a draft
// campaign on them. It also gives the contacts what the freeze excludes on: marketing consent
// on WhatsApp for 90 % (written to consent_state, the projection the freeze reads), blocked
// every 50th, broadcast off every 40th.
func seedCampaign(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, svc *campaign.Service, templates *template.Service) (uuid.UUID, error) {
	for _, q := range []string{
		`INSERT INTO consent_state (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
		 SELECT account_id, id, 'marketing', 'whatsapp', CASE WHEN n % 10 = 0 THEN 'revoked' ELSE 'granted' END, true, gen_random_uuid(), now()
		 FROM (SELECT account_id, id, row_number() OVER (ORDER BY id) AS n FROM contacts WHERE account_id = $1) c`,
		`UPDATE contacts c SET blocked = s.n % 50 = 0, broadcast = s.n % 40 <> 0
		 FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM contacts WHERE account_id = $1) s
		 WHERE c.account_id = $1 AND c.id = s.id AND (s.n % 50 = 0 OR s.n % 40 = 0)`,
	} {
		if _, err := pool.Exec(ctx, q, accountID); err != nil {
			return uuid.Nil, fmt.Errorf("seed exclusions: %w", err)
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE contacts, consent_state"); err != nil {
		return uuid.Nil, err
	}
	seg, err := segment.NewService(pool, clock.System{}).Create(ctx, accountID, segment.Input{Name: "Carteira", Rules: segment.Rules{Origins: []string{"api"}}})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create segment: %w", err)
	}
	box, err := secretbox.New(benchSecretKey)
	if err != nil {
		return uuid.Nil, err
	}
	chs := channel.NewService(pool, clock.System{}, box)
	lines := make([]uuid.UUID, 0, campaignLines)
	for i := range campaignLines {
		name, prov, number := fmt.Sprintf("Prospect %d", i), "fake", fmt.Sprintf("+55 11 4200-%04d", 1000+i)
		ch, err := chs.Create(ctx, accountID, channel.Input{Type: channel.WhatsApp, Name: &name, Provider: &prov, PhoneNumber: &number})
		if err != nil {
			return uuid.Nil, fmt.Errorf("create line: %w", err)
		}
		lines = append(lines, ch.ID)
	}
	if _, err := pool.Exec(ctx, `UPDATE channels SET line_kind = 'prospect', quality_rating = 'green', messaging_limit = 'unlimited' WHERE account_id = $1`, accountID); err != nil {
		return uuid.Nil, err
	}
	if _, err := pool.Exec(ctx, `INSERT INTO channel_segments (account_id, channel_id, segment_id) SELECT $1, unnest($2::uuid[]), $3`, accountID, lines, seg.ID); err != nil {
		return uuid.Nil, err
	}
	name, lang, cat := "oferta", "pt_BR", "marketing"
	body := template.Components{Body: template.Text{Text: "Olá {{1}}, temos uma oferta para você."}}
	examples := map[string]string{"body:1": "Maria"}
	bindings := map[string]template.Binding{"body:1": {Source: "{primeiro_nome}"}}
	t, err := templates.Create(ctx, accountID, template.Input{Name: &name, Language: &lang, Category: &cat, Components: &body,
		Examples: &examples, Bindings: &bindings, ChannelIDs: &lines})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create template: %w", err)
	}
	// Approved as the provider's review would leave it (the fake provider's review runs as a job).
	if _, err := pool.Exec(ctx, `UPDATE template_channels SET status = 'approved', provider_template_id = 'bench-' || channel_id, status_at = now()
		WHERE account_id = $1 AND template_id = $2`, accountID, t.ID); err != nil {
		return uuid.Nil, err
	}
	c, err := svc.Create(ctx, accountID, campaign.Input{Name: "Freeze benchmark", SegmentID: seg.ID, TemplateID: t.ID})
	if err != nil {
		return uuid.Nil, fmt.Errorf("create campaign: %w", err)
	}
	return c.ID, nil
}

// campaignScenario is where every campaign benchmark starts: its own database, the benchmark
// tenant with -contacts contacts seeded, and the campaign and template services over them.
type campaignScenario struct {
	pool      *pgxpool.Pool
	url       string
	drop      func()
	ten       tenant
	svc       *campaign.Service
	templates *template.Service
}

func newCampaignScenario(ctx context.Context, cfg config, dbName string) (sc campaignScenario, err error) {
	sc.pool, sc.url, sc.drop, err = scenarioDatabase(ctx, cfg, dbName)
	if err != nil {
		return sc, err
	}
	defer func() {
		if err != nil {
			sc.drop()
		}
	}()
	if sc.ten, err = setupTenant(ctx, sc.pool); err != nil {
		return sc, err
	}
	logf("seeding %d contacts", cfg.Contacts)
	if _, _, err = seedContacts(ctx, sc.pool, sc.ten.AccountID, cfg.Contacts, cfg.SeedWorkers); err != nil {
		return sc, err
	}
	box, err := secretbox.New(benchSecretKey)
	if err != nil {
		return sc, err
	}
	contacts := contact.NewService(sc.pool, clock.System{})
	sc.templates = template.NewService(sc.pool, clock.System{}, channel.NewService(sc.pool, clock.System{}, box), contacts)
	sc.svc = campaign.NewService(sc.pool, clock.System{}, sc.templates,
		send.NewService(sc.pool, clock.System{}, contacts, sc.templates, consent.NewService(sc.pool, clock.System{})))
	return sc, nil
}

// runCampaignFreeze measures the start of a campaign over the whole account: the line checks
// and the audience frozen into campaign_recipients (read by a second connection on the start's
// snapshot, streamed into a binary COPY), in-process (campaign.Service.Start, what
// POST /v1/campaigns/{id}/start runs).
func runCampaignFreeze(ctx context.Context, cfg config) (failed bool, err error) {
	started := time.Now()
	loadAtStart := loadAverage()
	sc, err := newCampaignScenario(ctx, cfg, benchDB+"_campaign")
	if err != nil {
		return false, err
	}
	defer sc.drop()
	pool, ten, svc, templates := sc.pool, sc.ten, sc.svc, sc.templates
	seedFrom := time.Now()
	id, err := seedCampaign(ctx, pool, ten.AccountID, svc, templates)
	if err != nil {
		return false, err
	}
	logf("  segment, lines, template, consent and exclusions seeded in %s", time.Since(seedFrom).Round(time.Millisecond))
	facts, err := machineFacts(ctx, pool)
	if err != nil {
		return false, err
	}
	draft, err := svc.Get(ctx, ten.AccountID, id)
	if err != nil {
		return false, err
	}
	type freezeRun struct {
		took     time.Duration
		rows     int64
		excluded int64
		reasons  map[string]int64
		load     string
	}
	var runs []freezeRun
	for i := range max(cfg.FreezeRuns, 1) {
		if i > 0 {
			c, err := svc.Create(ctx, ten.AccountID, campaign.Input{Name: fmt.Sprintf("Freeze benchmark %d", i+1), SegmentID: draft.SegmentID, TemplateID: draft.TemplateID})
			if err != nil {
				return false, fmt.Errorf("create campaign: %w", err)
			}
			id = c.ID
		}
		// Each start meets a settled database, as a campaign's audience usually is: every table
		// it reads vacuumed (hint bits set, visibility map current) and the seeding's or the
		// previous run's dirty pages written out, so no run pays for an earlier one's writes.
		if err := settle(ctx, pool, "contacts, contact_phones, consent_state, campaign_recipients"); err != nil {
			return false, err
		}
		load := loadAverage()
		from := time.Now()
		st, err := svc.Start(ctx, ten.AccountID, id)
		if err != nil {
			return true, err
		}
		r := freezeRun{took: time.Since(from), reasons: st.Campaign.Excluded, load: load}
		c := st.Campaign
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM campaign_recipients WHERE account_id = $1 AND campaign_id = $2`, ten.AccountID, id).Scan(&r.rows); err != nil {
			return true, err
		}
		for _, n := range c.Excluded {
			r.excluded += n
		}
		bad := c.Status != campaign.StatusRunning || c.Recipients == nil || int64(*c.Recipients) != r.rows || r.rows+r.excluded != int64(cfg.Contacts)
		logf("  run %d: froze %d recipients (%d left out: %v) in %s: %.0f rows/s", i+1, r.rows, r.excluded, c.Excluded, r.took.Round(time.Millisecond), float64(r.rows)/r.took.Seconds())
		if bad {
			failed = true
			logf("  expected every contact frozen or counted once: %d recipients stored, %d counted, %d excluded, status %s", r.rows, ptrVal(c.Recipients), r.excluded, c.Status)
		}
		runs = append(runs, r)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\n### Run of %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s. Load average (1, 5, 15 min) at the start: %s; at the end: %s.\n", facts, loadAtStart, loadAverage())
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -campaign-freeze -contacts %d -freeze-runs %d`.\n", cfg.Contacts, cfg.FreezeRuns)
	fmt.Fprintf(&b, "- %d contacts, all in the segment (rules on origin); marketing consent on WhatsApp for 90 %% (revoked for every 10th), every 50th "+
		"blocked, every 40th with broadcasts off; three good prospect lines. Measured: `campaign.Service.Start` in-process (what "+
		"`POST /v1/campaigns/{id}/start` runs): lock, line checks, the audience read by a second connection on the start's exported snapshot "+
		"and streamed into a binary `COPY` into `campaign_recipients` on the start's transaction (the exclusions counted by reason as the rows pass), "+
		"the campaign row and its events; one transaction. Each run starts a new campaign over the same audience after `VACUUM ANALYZE` of the tables "+
		"read and a `CHECKPOINT`; the earlier runs' campaigns and recipients stay, as older campaigns do, so every run appends to the table.\n\n", cfg.Contacts)
	b.WriteString("| Start | Load before | Recipients | Left out | Took | rows/s | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for i, r := range runs {
		rate := float64(r.rows) / r.took.Seconds()
		fmt.Fprintf(&b, "| run %d: freeze %d contacts | %s | %d | %d (%s) | %s | %.0f | ≤ 4 s for 1 000 000 (250 000 rows/s) | %s |\n",
			i+1, cfg.Contacts, r.load, r.rows, r.excluded, formatExclusions(r.reasons), formatMs(r.took), rate, yesNo(!failed && r.rows >= 1_000_000 && rate >= 250_000))
	}
	fmt.Print(b.String())
	if cfg.Markdown != "" {
		if err := appendMarkdown(cfg.Markdown, b.String()); err != nil {
			return failed, err
		}
	}
	return failed, nil
}

func formatExclusions(m map[string]int64) string {
	parts := make([]string, 0, len(campaign.Reasons))
	for _, r := range campaign.Reasons {
		if m[r] > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, m[r]))
		}
	}
	return strings.Join(parts, ", ")
}

func ptrVal(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}
