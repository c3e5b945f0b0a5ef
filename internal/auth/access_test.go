package auth

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/clock"
)

// signAccess signs an access token as issue does, without the refresh token's database row.
func signAccess(t *testing.T, s *Service, now time.Time, ttl time.Duration) string {
	t.Helper()
	k := s.keys.signer()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: issuer, Subject: uuid.NewString(), Audience: jwt.ClaimStrings{audience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)), ID: uuid.NewString(),
		},
		Account: uuid.NewString(), Role: string(RoleAgent), Permissions: []string{string(ContactsRead)},
	})
	tok.Header["kid"] = k.kid
	raw, err := tok.SignedString(k.priv)
	require.NoError(t, err)
	return raw
}

// A verified access token is kept until verification would refuse it, and not a moment longer;
// keeping one never lets another, forged from it, through.
func TestVerifiedAccessTokensExpireOnTime(t *testing.T) {
	t.Parallel()
	keys, err := ParseKeys(GenerateSeed())
	require.NoError(t, err)
	start := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	clk := clock.NewManual(start)
	s := NewService(nil, keys, clk, Config{})
	ctx := context.Background()
	tok := signAccess(t, s, start, 15*time.Minute)

	for _, tc := range []struct {
		at      time.Duration
		refused string
	}{
		{0, ""},
		{14 * time.Minute, ""},
		{15*time.Minute + accessLeeway - time.Second, ""}, // within the clock-skew leeway
		{15*time.Minute + accessLeeway + time.Second, "expired"},
	} {
		clk.Set(start.Add(tc.at))
		p, err := s.Authenticate(ctx, tok)
		if tc.refused == "" {
			require.NoError(t, err, "at %s", tc.at)
			require.Equal(t, RoleAgent, p.Role)
			continue
		}
		require.ErrorContains(t, err, tc.refused, "at %s", tc.at)
	}

	clk.Set(start)
	_, err = s.Authenticate(ctx, tok)
	require.NoError(t, err)
	forged := tok[:len(tok)-4] + "AAAA"
	if forged == tok {
		forged = tok[:len(tok)-4] + "BBBB"
	}
	_, err = s.Authenticate(ctx, forged)
	require.ErrorContains(t, err, "invalid access token")
}
