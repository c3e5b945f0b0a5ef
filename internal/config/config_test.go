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
