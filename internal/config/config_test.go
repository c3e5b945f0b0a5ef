package config

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestREADMEDocumentsEveryVariable keeps the README's configuration table complete.
func TestREADMEDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	for _, v := range Vars {
		require.True(t, strings.Contains(string(readme), "| `"+v.Name+"` |"), "README.md does not document %s", v.Name)
	}
}

func TestLoadRefusesMalformedValues(t *testing.T) {
	t.Setenv("CONVERSA_ACCESS_TTL", "forever")
	t.Setenv("CONVERSA_LOG_LEVEL", "loud")
	_, err := Load()
	require.ErrorContains(t, err, "CONVERSA_ACCESS_TTL")
	require.ErrorContains(t, err, "CONVERSA_LOG_LEVEL")
}

func TestBooleanSwitches(t *testing.T) {
	for _, tc := range []struct {
		jobs, private string
		apiOnly       bool
		allowPrivate  bool
		err           string
	}{
		{jobs: "", private: "", apiOnly: false, allowPrivate: false},
		{jobs: "false", private: "true", apiOnly: true, allowPrivate: true},
		{jobs: "1", private: "0", apiOnly: false, allowPrivate: false},
		{jobs: "no", err: "CONVERSA_JOBS"},
		{private: "yes", err: "CONVERSA_WEBHOOKS_ALLOW_PRIVATE"},
	} {
		t.Setenv("CONVERSA_JOBS", tc.jobs)
		t.Setenv("CONVERSA_WEBHOOKS_ALLOW_PRIVATE", tc.private)
		c, err := Load()
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err)
			continue
		}
		require.NoError(t, err)
		require.Equal(t, tc.apiOnly, c.APIOnly, "CONVERSA_JOBS=%q", tc.jobs)
		require.Equal(t, tc.allowPrivate, c.WebhooksAllowPrivate, "CONVERSA_WEBHOOKS_ALLOW_PRIVATE=%q", tc.private)
	}
}
