package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

// TestConsentVerifyCommand runs `conversa consent verify` on a sound and on a tampered chain.
func TestConsentVerifyCommand(t *testing.T) {
	pool := testdb.New(t)
	ctx := context.Background()
	acct, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	c, err := contact.NewService(pool, clock.System{}).Create(ctx, acct.ID, contact.Fields{Name: "M", CustomerCode: ptr("M1")})
	require.NoError(t, err)
	rec, err := consent.NewService(pool, clock.System{}).Record(ctx, acct.ID, c.ID, consent.Entry{
		Action: consent.Grant, Purposes: []consent.Purpose{consent.PurposeMarketing}, Channels: []channel.Type{channel.SMS},
		Method: consent.FormMethod, Text: "ok",
	}, consent.Recorder{Kind: "system", ID: "test"})
	require.NoError(t, err)
	t.Setenv("DATABASE_URL", pool.Config().ConnString())

	run := func() (string, error) {
		var out bytes.Buffer
		cmd := rootCmd()
		cmd.SetOut(&out)
		cmd.SetArgs([]string{"consent", "verify", "--account", acct.ID.String()})
		err := cmd.ExecuteContext(ctx)
		return out.String(), err
	}
	out, err := run()
	require.NoError(t, err)
	require.Contains(t, out, "1 records of 1 contacts")

	_, err = pool.Exec(ctx, `ALTER TABLE consent_records DISABLE TRIGGER consent_records_no_update;
		UPDATE consent_records SET method = 'checkbox' WHERE id = '`+rec.ID.String()+`'`)
	require.NoError(t, err)
	out, err = run()
	require.ErrorContains(t, err, "broken")
	require.Contains(t, out, "BROKEN at record "+rec.ID.String())
}

func ptr(s string) *string { return &s }
