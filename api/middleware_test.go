package api

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	lb := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, peer, xff string
		trusted         []netip.Prefix
		want            string
	}{
		{"NoProxyIgnoresTheHeader", "203.0.113.5:4000", "198.51.100.1", nil, "203.0.113.5"},
		{"UntrustedPeerIgnoresTheHeader", "203.0.113.5:4000", "198.51.100.1", lb, "203.0.113.5"},
		{"TrustedPeerGivesTheClient", "10.0.0.2:4000", "198.51.100.1", lb, "198.51.100.1"},
		{"ForgedLeftmostEntryIsNotTaken", "10.0.0.2:4000", "1.2.3.4, 198.51.100.1", lb, "198.51.100.1"},
		{"ChainedProxiesAreSkipped", "10.0.0.2:4000", "198.51.100.1, 10.0.0.7", lb, "198.51.100.1"},
		{"GarbageFallsBackToThePeer", "10.0.0.2:4000", "not-an-ip", lb, "10.0.0.2"},
		{"IPv6Peer", "[2001:db8::1]:4000", "", lb, "2001:db8::1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			require.Equal(t, tc.want, clientIP(r, tc.trusted))
		})
	}
}
