package jobs

import (
	"context"
	"log/slog"
)

// quieter passes on records at or above min only. River reports each queue's job counts at
// info every few seconds; with periodic jobs every second that drowns the service's own log,
// so River gets the process's logger raised to warn.
type quieter struct {
	slog.Handler
	min slog.Level
}

func (q quieter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= q.min && q.Handler.Enabled(ctx, l)
}

func (q quieter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return quieter{q.Handler.WithAttrs(attrs), q.min}
}

func (q quieter) WithGroup(name string) slog.Handler {
	return quieter{q.Handler.WithGroup(name), q.min}
}

// riverLogger is logger for River: warnings and errors only.
func riverLogger(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		return nil
	}
	return slog.New(quieter{logger.Handler(), slog.LevelWarn})
}
