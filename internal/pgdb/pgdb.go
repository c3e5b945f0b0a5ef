// Package pgdb opens the PostgreSQL pool, applies the schema (the product's goose migrations,
// then River's) and, for development and tests, runs a private PostgreSQL cluster from the
// system's binaries.
package pgdb

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"

	"github.com/conversa-hq/conversa/db"
)

// Open connects a pool to url. maxConns of 0 keeps pgx's default (4 per core, at least 4).
//
// Every connection plans each statement for its actual parameters (plan_cache_mode
// force_custom_plan). Under PostgreSQL's default (auto) a connection reuses a generic plan
// after five runs, and for the set-based statements that join unnest()ed arrays that plan can
// be ruinous: RecordSent, marking a dispatched batch sent, took 30 s a batch instead of
// milliseconds. Statements whose planning costs more than their execution, and whose generic
// plan was checked, opt in with GenericPlans.
func Open(ctx context.Context, url string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	// A bulk import stages each batch (tens of thousands of rows) in a temporary table; past
	// the 8 MB default it spills to disk and the merge reads it back from there.
	cfg.ConnConfig.RuntimeParams["temp_buffers"] = "128MB"
	// google/uuid's UUID is a driver.Valuer, so pgx would send and read every id as text (36
	// characters, formatted and parsed); registered, it goes in pgx's 16-byte binary form. The
	// webhook drain and the imports pass arrays of thousands of ids per statement.
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		pgxuuid.Register(conn.TypeMap())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	return pool, nil
}

func newGoose(pool *pgxpool.Pool, logger *slog.Logger) (*goose.Provider, error) {
	migrations, err := fs.Sub(db.Migrations, "migrations")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, stdlib.OpenDBFromPool(pool), migrations, opts...)
	if err != nil {
		return nil, fmt.Errorf("create goose provider: %w", err)
	}
	return p, nil
}

// Migrate applies every pending migration: the product's first, then River's. Safe to run from
// several processes at once (goose holds an advisory lock; River's migrator runs in one
// transaction).
func Migrate(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) error {
	p, err := newGoose(pool, logger)
	if err != nil {
		return err
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("apply product migrations: %w", err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: quiet(logger)})
	if err != nil {
		return fmt.Errorf("create river migrator: %w", err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("apply river migrations: %w", err)
	}
	// A fresh job table keeps the plan PostgreSQL made while it was empty; fresh statistics
	// keep the first burst of jobs from fetching through a sequential scan.
	if _, err := pool.Exec(ctx, "ANALYZE river_job"); err != nil {
		return fmt.Errorf("analyze river_job: %w", err)
	}
	return nil
}

// Status says how far the database's schema is from the binary's.
type Status struct {
	// Version is the newest product migration applied; Latest the newest the binary carries.
	Version, Latest int64
	// RiverOK is true when River's migrations are all applied.
	RiverOK bool
	// RiverMessages explains what River's migrator found missing.
	RiverMessages []string
}

// Current reports whether every migration is applied.
func (s Status) Current() bool { return s.Version == s.Latest && s.RiverOK }

// GetStatus reads the schema versions. It runs read-only queries and takes no lock.
func GetStatus(ctx context.Context, pool *pgxpool.Pool) (Status, error) {
	p, err := newGoose(pool, nil)
	if err != nil {
		return Status{}, err
	}
	var st Status
	if srcs := p.ListSources(); len(srcs) > 0 {
		st.Latest = srcs[len(srcs)-1].Version
	}
	st.Version, err = p.GetDBVersion(ctx)
	if err != nil && !errors.Is(err, goose.ErrVersionNotFound) {
		return Status{}, fmt.Errorf("read product schema version: %w", err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: quiet(nil)})
	if err != nil {
		return Status{}, fmt.Errorf("create river migrator: %w", err)
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return Status{}, fmt.Errorf("validate river schema: %w", err)
	}
	st.RiverOK, st.RiverMessages = res.OK, res.Messages
	return st, nil
}

// quiet keeps River's migrator from logging every step at info level.
func quiet(logger *slog.Logger) *slog.Logger {
	if logger == nil {
		logger = slog.Default()
	}
	return slog.New(levelFilter{logger.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

// UniqueViolation reports whether err is a unique-constraint violation, and of which
// constraint or index, so callers can say which value clashed.
func UniqueViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// ForeignKeyViolation reports whether err is a foreign-key violation, and of which
// constraint: with composite tenant keys this is also how a reference to another account's
// row is refused.
func ForeignKeyViolation(err error) (constraint string, ok bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" {
		return pgErr.ConstraintName, true
	}
	return "", false
}

// InvalidText reports whether PostgreSQL refused a text value it cannot store: a NUL byte,
// or bytes that are not valid UTF-8. It is bad input, not a server fault.
func InvalidText(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "22021" || pgErr.Code == "22P05")
}

// likeEscaper escapes LIKE's wildcards and its escape character.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// EscapeLike makes s match itself in a LIKE pattern (default escape character \): a search
// for "100%" finds "100%", not everything starting with "100".
func EscapeLike(s string) string { return likeEscaper.Replace(s) }
