package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/template"
)

// The chaos test's worker processes are this test binary run again with these variables: a
// real River worker process sending campaigns to a Cloud API server in the test's process.
const (
	chaosWorkerEnv = "CONVERSA_CHAOS_WORKER_DB"
	chaosWhatsApp  = "CONVERSA_CHAOS_WHATSAPP_URL"
)

// runChaosWorkerIfAsked runs a campaign worker process when the test binary was started as
// one, and exits; otherwise it returns.
func runChaosWorkerIfAsked() {
	dsn := os.Getenv(chaosWorkerEnv)
	if dsn == "" {
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := chaosWorker(ctx, dsn, os.Getenv(chaosWhatsApp)); err != nil {
		fmt.Fprintln(os.Stderr, "chaos worker:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func chaosWorker(ctx context.Context, dsn, waURL string) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	box, err := secretbox.New(secretbox.GenerateKey())
	if err != nil {
		return err
	}
	clk := clock.System{}
	templates := template.NewService(pool, clk, channel.NewService(pool, clk, box), contact.NewService(pool, clk))
	cloud := slowProvider{whatsapp.New(whatsapp.Config{BaseURL: waURL, PhoneNumberID: "111", AccessToken: whatsapptest.DefaultAccessToken})}
	senders := func(context.Context, uuid.UUID, uuid.UUID) (provider.Sender, error) { return cloud, nil }
	// One sender job at a time per process, so each process holds a line's job: the one killed
	// is mid-campaign.
	client, err := jobs.NewClient(pool, jobs.Config{Work: true, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		CampaignSender: campaign.NewSender(pool, clk, templates, send.Senders(senders)), CampaignWorkers: 1})
	if err != nil {
		return err
	}
	// A stop lets the running jobs finish (as `conversa worker` does): Start's own context
	// would cancel them.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	<-ctx.Done()
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return client.Stop(stopCtx)
}

// slowProvider answers after a provider's round trip (a few hundred milliseconds), so a
// process killed at any moment most likely has sends in flight.
type slowProvider struct{ provider.Sender }

func (p slowProvider) Send(ctx context.Context, m provider.Message) (provider.Sent, error) {
	select {
	case <-time.After(200 * time.Millisecond):
	case <-ctx.Done():
		return provider.Sent{}, ctx.Err()
	}
	return p.Sender.Send(ctx, m)
}

// TestCampaignChaos sends a campaign with three worker processes, kills one with SIGKILL
// mid-campaign, starts another, and checks that no recipient was sent twice: every send the
// provider received has its own recipient, every recipient recorded as sent was received once,
// and the recipients the killed process had in flight are unknown, never resent.
func TestCampaignChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Parallel()
	e := setup(t)
	f := e.campaignFixture("Caos")
	srv := whatsapptest.New(t, whatsapptest.Config{})
	const n = 600
	items := make([]map[string]any, n)
	for i := range items {
		items[i] = map[string]any{"name": fmt.Sprintf("Cliente %03d", i), "customer_code": fmt.Sprintf("K-%03d", i),
			"tags": []string{"carteira"}, "phones": []string{fmt.Sprintf("+55 11 9%04d-%04d", 7000+i/100, i)}}
	}
	e.do(http.MethodPost, "/v1/contacts/batch", f.a.apiKey, map[string]any{"key": "customer_code", "items": items}).ok(nil)
	e.exec(`INSERT INTO consent_state (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
		SELECT account_id, id, 'marketing', 'whatsapp', 'granted', true, gen_random_uuid(), now() FROM contacts WHERE account_id = $1`, f.a.account.ID)
	// 3 lines at 20 messages/s: the campaign takes about ten seconds, so the survivors' senders
	// reach their budget (campaign.SendBudget) and need the sweep to go on.
	e.exec(`UPDATE channels SET throughput_mps = 20 WHERE account_id = $1`, f.a.account.ID)

	var c api.CampaignBody
	e.do(http.MethodPost, "/v1/campaigns", f.a.token, f.body()).status(http.StatusCreated).ok(&c)
	e.do(http.MethodPost, "/v1/campaigns/"+c.ID+"/start", f.a.token, nil).ok(reset(&c))
	require.EqualValues(t, n, *c.Recipients)

	// A sweep left running, as a process killed mid-sweep leaves it (SIGKILL cannot be timed
	// to land in one): the campaign must not wait for River to rescue it.
	inserter, err := jobs.NewClient(e.pool, jobs.Config{CampaignSender: campaign.NewSender(e.pool, e.clock, e.templates, newCountingLines().senders())})
	require.NoError(t, err)
	sweep, err := inserter.Insert(context.Background(), campaign.SweepArgs{}, nil)
	require.NoError(t, err)
	e.exec(`UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now(), attempted_by = '{killed}' WHERE id = $1`, sweep.Job.ID)

	dsn := e.pool.Config().ConnString()
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), chaosWorkerEnv+"="+dsn, chaosWhatsApp+"="+srv.URL)
		cmd.Stderr = os.Stderr
		require.NoError(t, cmd.Start())
		return cmd
	}
	workers := []*exec.Cmd{start(), start(), start()}
	t.Cleanup(func() {
		for _, w := range workers {
			_ = w.Process.Kill()
			_ = w.Wait()
		}
	})
	require.Eventually(t, func() bool { return len(srv.Messages()) >= n/5 }, time.Minute, 20*time.Millisecond, "the workers send")
	require.NoError(t, workers[0].Process.Signal(syscall.SIGKILL))
	_ = workers[0].Wait()
	killedAt := len(srv.Messages())
	require.Less(t, killedAt, n, "killed mid-campaign")
	workers[0] = start()

	pending := func() int {
		return e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND state = 'pending'`, c.ID)
	}
	if !assert.Eventually(t, func() bool { return pending() == 0 }, 2*time.Minute, 50*time.Millisecond, "the survivors send the rest") {
		e.logRows(`SELECT state, channel_id, count(*) FROM campaign_recipients WHERE campaign_id = $1 GROUP BY 1, 2`, c.ID)
		e.logRows(`SELECT id, kind, state, attempt, attempted_at, attempted_by, args FROM river_job WHERE kind LIKE 'campaign%' ORDER BY id`)
		t.FailNow()
	}
	// Stop the live workers: their last slices are recorded; what stays sending is the killed one's.
	for _, w := range workers[1:] {
		require.NoError(t, w.Process.Signal(syscall.SIGTERM))
	}
	for _, w := range workers[1:] {
		require.NoError(t, w.Wait())
	}
	inFlight := e.count(`SELECT count(*) FROM campaign_recipients WHERE campaign_id = $1 AND state = 'sending'`, c.ID)
	require.Equal(t, inFlight, e.count(`SELECT coalesce(sum(cardinality(contact_ids)), 0) FROM campaign_claims WHERE campaign_id = $1`, c.ID))
	// After the lease, the killed process's recipients are unknown and the campaign completes.
	// (The workers' clock is the system's; the test's started behind it.)
	e.clock.Set(time.Now().Add(campaign.ClaimLease + time.Second))
	s := campaign.NewSender(e.pool, e.clock, e.templates, newCountingLines().senders())
	require.Zero(t, e.sendCampaign(s, f.a, c.ID, c.SenderIDs), "nothing is sent again")
	require.Equal(t, "completed", e.campaignBody(f.a, c.ID).Status)

	// Zero duplicates: each reference (campaign and contact) reached the provider at most once.
	refs := map[string]int{}
	byPID := map[string]bool{}
	for _, m := range srv.Messages() {
		var body struct {
			Ref string `json:"biz_opaque_callback_data"`
		}
		require.NoError(t, json.Unmarshal(m.Body, &body))
		refs[body.Ref]++
		byPID[m.ID] = true
	}
	for ref, k := range refs {
		require.Equal(t, 1, k, "sent twice: %s", ref)
	}
	states := map[string]int{}
	for _, r := range e.recipients(c.ID) {
		states[r.State]++
		ref := "campaign:" + c.ID + ":" + r.Contact.String()
		switch r.State {
		case "sent":
			require.Equal(t, 1, refs[ref])
			require.True(t, byPID[*r.PID], "the recorded provider id is the one the provider gave")
		case "unknown":
			require.LessOrEqual(t, refs[ref], 1)
		default:
			t.Fatalf("recipient %s ended %s", r.Contact, r.State)
		}
	}
	require.Equal(t, n, states["sent"]+states["unknown"])
	require.Equal(t, inFlight, states["unknown"])
	t.Logf("killed after %d sends; %d sent, %d unknown (in flight in the killed process)", killedAt, states["sent"], states["unknown"])
}

// logRows logs what a query returns, row by row: the state a failed wait leaves behind.
func (e *testEnv) logRows(query string, args ...any) {
	e.t.Helper()
	rows, err := e.pool.Query(context.Background(), query, args...)
	require.NoError(e.t, err)
	defer rows.Close()
	for rows.Next() {
		vals, err := rows.Values()
		require.NoError(e.t, err)
		e.t.Logf("%v", vals)
	}
	require.NoError(e.t, rows.Err())
}
