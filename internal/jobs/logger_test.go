package jobs

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRiverLoggerKeepsWarningsOnly(t *testing.T) {
	var buf bytes.Buffer
	l := riverLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Info("producer: job counts")
	l.With("queue", "default").Warn("job stuck")
	require.NotContains(t, buf.String(), "job counts")
	require.Contains(t, buf.String(), "job stuck")
	require.Contains(t, buf.String(), "queue=default")
}
