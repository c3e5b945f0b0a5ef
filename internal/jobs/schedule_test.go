package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/schedule"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/template"
)

// TestScheduleOnRealWorkers schedules a flow trigger, inserted with its River job in one
// transaction, and lets a real River client run it at its time: the schedule ends done and the
// flow.triggered event goes out once. The fake clock runs an hour behind the database's, so
// River finds the job due at once; the clock is moved past the schedule's time first, as the
// worker acts only when the schedule is due on the injected clock.
func TestScheduleOnRealWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Now().Add(-time.Hour).Truncate(time.Millisecond))
	acct, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	fake, name, number := "fake", "Vendas", "+55 11 4000-1234"
	channels := channel.NewService(pool, clk, box)
	wa, err := channels.Create(ctx, acct.ID, channel.Input{Type: channel.WhatsApp, Name: &name, Provider: &fake, PhoneNumber: &number})
	require.NoError(t, err)
	require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		return conversation.NewService(pool, clk).ApplyInbound(ctx, tx, []conversation.Inbound{{AccountID: acct.ID, ChannelID: wa.ID, At: clk.Now(),
			Message: &provider.InboundMessage{ID: "wamid.1", From: "5511900000001", FromName: "Maria", Timestamp: clk.Now(), Kind: "text", Text: "Oi"}}})
	}))
	var contactID uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, `SELECT contact_id FROM conversations WHERE address = '5511900000001'`).Scan(&contactID))
	contacts := contact.NewService(pool, clk)
	sender := send.NewService(pool, clk, contacts, template.NewService(pool, clk, channels, contacts), consent.NewService(pool, clk))
	schedules := schedule.NewService(pool, clk, sender)
	sc, err := schedules.Create(ctx, schedule.Request{AccountID: acct.ID, ContactID: contactID, Kind: schedule.KindFlow,
		At: clk.Now().Add(10 * time.Minute), Flow: "boas-vindas"})
	require.NoError(t, err)
	clk.Advance(11 * time.Minute)

	done := startWorkers(t, pool, jobs.Config{Clock: clk, Schedules: schedules}, river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobSnoozed)
	deadline := time.After(15 * time.Second)
	for ran := false; !ran; {
		select {
		case ev := <-done:
			if ev.Job.Kind == "schedule_run" {
				require.Equal(t, river.EventKindJobCompleted, ev.Kind, "%+v", ev.Job.Errors)
				ran = true
			}
		case <-deadline:
			t.Fatal("the schedule's job did not run")
		}
	}
	got, err := schedules.Get(ctx, acct.ID, sc.ID)
	require.NoError(t, err)
	require.Equal(t, schedule.StatusDone, got.Status)
	var n int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM event_outbox WHERE type = 'flow.triggered' AND data->>'schedule_id' = $1`, sc.ID.String()).Scan(&n))
	require.Equal(t, 1, n)
}
