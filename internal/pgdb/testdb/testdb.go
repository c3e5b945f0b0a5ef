// Package testdb gives each test its own PostgreSQL database, cloned from a template that the
// production migrations built once, so tests run against the real schema and never share rows.
//
// The server is, in order: TEST_DATABASE_URL (a superuser URL; `make test` sets it), the
// machine's PostgreSQL on 127.0.0.1:5432 unless CONVERSA_NO_SYSTEM_PG=1, or a private cluster
// that Main starts for the package and removes afterwards.
package testdb

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // pgtestdb talks database/sql through the pgx driver.
	"github.com/peterldowns/pgtestdb"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/conversa-hq/conversa/db"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

var serverURL string

// Main runs the package's tests, starting a private PostgreSQL cluster first when no server is
// configured or answering, and stopping it afterwards. Call it from TestMain.
func Main(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx := context.Background()
	switch {
	case os.Getenv("TEST_DATABASE_URL") != "":
		serverURL = os.Getenv("TEST_DATABASE_URL")
	case pgdb.SystemAnswers():
		serverURL = pgdb.SystemURL
	default:
		dir, err := os.MkdirTemp("", "conversa-testpg-")
		if err == nil {
			// Open to the postgres user, which runs the server when we are root.
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "testdb:", err)
			return 1
		}
		cluster := &pgdb.Cluster{Dir: filepath.Join(dir, "pg")}
		if err := cluster.Start(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "testdb:", err)
			return 1
		}
		defer func() {
			_ = cluster.Stop(ctx)
			_ = cluster.Remove()
			_ = os.RemoveAll(dir)
		}()
		serverURL = cluster.URL("postgres")
	}
	return m.Run()
}

// New returns a pool on a new database with the full schema (product and River migrations).
// The database is dropped when the test passes and kept, with its URL logged, when it fails.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	if serverURL == "" {
		t.Fatal("testdb: call testdb.Main from the package's TestMain")
	}
	conf, err := config(serverURL)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	inst := pgtestdb.Custom(t, conf, migrator{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgdb.Open(ctx, inst.URL(), 10)
	if err != nil {
		t.Fatalf("testdb: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// URL returns the connection string of the server the tests use (a superuser connection).
func URL() string { return serverURL }

func config(raw string) (pgtestdb.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return pgtestdb.Config{}, fmt.Errorf("parse %q: %w", raw, err)
	}
	pass, _ := u.User.Password()
	q := u.Query()
	if q.Get("sslmode") == "" {
		q.Set("sslmode", "disable")
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	return pgtestdb.Config{
		DriverName: "pgx",
		Host:       u.Hostname(),
		Port:       port,
		User:       u.User.Username(),
		Password:   pass,
		Database:   "postgres",
		Options:    q.Encode(),
		// A test that leaks a connection must not keep its database from being dropped.
		ForceTerminateConnections: true,
	}, nil
}

// migrator builds the template database with the same code as `conversa migrate up`.
type migrator struct{}

// Hash identifies the schema: the product's migration files and River's migration SQL, so a
// changed migration or a River upgrade builds a new template.
func (migrator) Hash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(db.Migrations, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := db.Migrations.ReadFile(path)
		if err != nil {
			return err
		}
		h.Write([]byte(path))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	m, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return "", fmt.Errorf("hash river migrations: %w", err)
	}
	for _, v := range m.AllVersions() {
		h.Write([]byte(v.SQLUp))
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	pool, err := pgdb.Open(ctx, conf.URL(), 2)
	if err != nil {
		return err
	}
	defer pool.Close()
	return pgdb.Migrate(ctx, pool, nil)
}
