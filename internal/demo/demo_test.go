package demo_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/demo"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestSeedIsRepeatable seeds twice, as `make run` does on every start: the second run finds
// the account and creates nothing.
func TestSeedIsRepeatable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	keys, err := auth.ParseKeys(auth.GenerateSeed())
	require.NoError(t, err)
	svc := auth.NewService(pool, keys, clock.System{}, auth.Config{})
	first, err := demo.Seed(ctx, pool, svc, clock.System{})
	require.NoError(t, err)
	require.NotEmpty(t, first.APIKey)
	p, err := svc.Authenticate(ctx, first.APIKey)
	require.NoError(t, err)
	require.Equal(t, first.Account.ID, p.AccountID)
	_, err = svc.Login(ctx, demo.AdminEmail, demo.Password, "127.0.0.1")
	require.NoError(t, err)
	n, err := consent.NewService(pool, clock.System{}).CountGranted(ctx, first.Account.ID, consent.PurposeMarketing, channel.WhatsApp, true)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	second, err := demo.Seed(ctx, pool, svc, clock.System{})
	require.NoError(t, err)
	require.Equal(t, first.Account.ID, second.Account.ID)
	require.Empty(t, second.APIKey)
}
