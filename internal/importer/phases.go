package importer

import (
	"context"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// phases times the steps of one batch's transaction for the debug log
// (CONVERSA_LOG_LEVEL=debug): where an import's time goes, statement by statement, without a
// profiler or a kept database.
type phases struct {
	start, last time.Time
	attrs       []slog.Attr
}

func newPhases() *phases {
	now := time.Now()
	return &phases{start: now, last: now}
}

// mark ends the step that began at the previous mark (or at the start).
func (p *phases) mark(step string) {
	now := time.Now()
	p.attrs = append(p.attrs, slog.Duration(step, now.Sub(p.last)))
	p.last = now
}

// log writes the steps of a batch of rows rows (before its commit).
func (p *phases) log(ctx context.Context, id uuid.UUID, rows int) {
	l := slog.Default()
	if !l.Enabled(ctx, slog.LevelDebug) {
		return
	}
	attrs := append([]slog.Attr{slog.String("import_id", id.String()), slog.Int("rows", rows),
		slog.Duration("total", time.Since(p.start))}, p.attrs...)
	l.LogAttrs(ctx, slog.LevelDebug, "import: batch steps", attrs...)
}
