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
	"github.com/conversa-hq/conversa/internal/closing"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

// TestSweepAndScheduledCloseOnRealWorkers runs a real River client (the leader of a cluster
// of one): the session-expiry sweep runs on start as a periodic job and tags the conversation
// whose session ended, and a close scheduled in the past (the fake clock is an hour behind
// the database's) is picked up by River and closes its attendance.
func TestSweepAndScheduledCloseOnRealWorkers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Now().Add(-time.Hour).Truncate(time.Millisecond))
	acct, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	fake, name, number := "fake", "Vendas", "+55 11 4000-1234"
	wa, err := channel.NewService(pool, clk, box).Create(ctx, acct.ID, channel.Input{Type: channel.WhatsApp, Name: &name, Provider: &fake, PhoneNumber: &number})
	require.NoError(t, err)
	convs := conversation.NewService(pool, clk)
	write := func(from, id string, at time.Time) {
		require.NoError(t, pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return convs.ApplyInbound(ctx, tx, []conversation.Inbound{{AccountID: acct.ID, ChannelID: wa.ID, At: at, Message: &provider.InboundMessage{
				ID: id, From: from, FromName: "Maria", Timestamp: at, Kind: "text", Text: "Oi"}}})
		}))
	}
	write("5511900000001", "wamid.1", clk.Now().Add(-25*time.Hour)) // session ended an hour ago
	write("5511900000002", "wamid.2", clk.Now())
	var ended, open uuid.UUID
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM conversations WHERE address = '5511900000001'`).Scan(&ended))
	require.NoError(t, pool.QueryRow(ctx, `SELECT id FROM conversations WHERE address = '5511900000002'`).Scan(&open))
	res, err := closing.NewService(pool, clk).Close(ctx, closing.Request{AccountID: acct.ID, ConversationID: open,
		In: 10 * time.Minute, IfContactReplies: closing.Keep, Message: new(string)})
	require.NoError(t, err)
	require.NotNil(t, res.CloseAt)

	done := startWorkers(t, pool, jobs.Config{Clock: clk}, river.EventKindJobCompleted, river.EventKindJobFailed)
	want := map[string]bool{"session_expiry_sweep": false, "conversation_close": false}
	deadline := time.After(15 * time.Second)
	for !want["session_expiry_sweep"] || !want["conversation_close"] {
		select {
		case ev := <-done:
			if _, ok := want[ev.Job.Kind]; ok {
				require.Equal(t, river.EventKindJobCompleted, ev.Kind, "%s: %+v", ev.Job.Kind, ev.Job.Errors)
				want[ev.Job.Kind] = true
			}
		case <-deadline:
			t.Fatalf("jobs not run: %v", want)
		}
	}
	var tag, status string
	require.NoError(t, pool.QueryRow(ctx, `SELECT data->>'tag' FROM event_outbox WHERE type = 'conversation.tagged' AND subject_id = $1`, ended).Scan(&tag))
	require.Equal(t, "Expirado", tag)
	require.NoError(t, pool.QueryRow(ctx, `SELECT status FROM conversations WHERE id = $1`, open).Scan(&status))
	require.Equal(t, "closed", status)
}
