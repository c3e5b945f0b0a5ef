package pgdb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Cluster is a private PostgreSQL cluster run from the system's server binaries, for `conversa
// dev` and for tests on machines where no server answers. It listens on 127.0.0.1 only, on a
// free port, with trust authentication for the `postgres` role.
type Cluster struct {
	// Dir holds the data directory and the server log. When the process runs as root the
	// server runs as the `postgres` OS user (PostgreSQL refuses root); if that user cannot
	// reach Dir, the cluster lives in a directory under os.TempDir() named after Dir instead.
	Dir string
	// Durable keeps fsync and synchronous commit on and runs with ServerSettings, as a
	// production server would (conversa dev, make bench). Test clusters turn durability off:
	// they are thrown away.
	Durable bool
	// Logf reports progress (installing, initialising, starting). Optional.
	Logf func(format string, args ...any)

	dataDir string
	port    int
	bin     string
	cred    *syscall.Credential
	started bool
}

// URL is the connection string of the cluster's database name.
func (c *Cluster) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

func (c *Cluster) logf(format string, args ...any) {
	if c.Logf != nil {
		c.Logf(format, args...)
	}
}

// Start initialises the cluster if it is new and starts it, or adopts the server already
// running from the same data directory. It installs Debian's postgresql package first when no
// server binaries are found and the process is root with apt-get; otherwise it returns an
// error that names what to install.
func (c *Cluster) Start(ctx context.Context) error {
	bin, err := serverBinDir(ctx, c.logf)
	if err != nil {
		return err
	}
	c.bin = bin
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return errors.New("running as root, PostgreSQL must run as another user: create the `postgres` OS user (Debian's postgresql package does)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	}
	if err := c.prepareDir(ctx); err != nil {
		return err
	}
	if pid, port, ok := c.running(); ok {
		c.port = port
		c.logf("reusing PostgreSQL already running from %s (pid %d, port %d)", c.dataDir, pid, port)
		return nil
	}
	if _, err := os.Stat(filepath.Join(c.dataDir, "PG_VERSION")); err != nil {
		c.logf("initialising a PostgreSQL cluster in %s", c.dataDir)
		if out, err := c.run(ctx, filepath.Join(c.bin, "initdb"), "-D", c.dataDir, "-U", "postgres",
			"-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
			return fmt.Errorf("initdb: %w: %s", err, out)
		}
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	c.port = port
	opts := []string{
		"-p " + strconv.Itoa(port),
		"-c listen_addresses=127.0.0.1",
		"-c unix_socket_directories=",
		"-c max_connections=300",
	}
	if c.Durable {
		for _, kv := range ServerSettings(totalMemory(), hasLZ4(ctx, c.bin)) {
			opts = append(opts, "-c "+kv)
		}
	} else {
		opts = append(opts, "-c shared_buffers=256MB", "-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off")
	}
	logFile := filepath.Join(filepath.Dir(c.dataDir), "postgres.log")
	if out, err := c.run(ctx, filepath.Join(c.bin, "pg_ctl"), "start", "-D", c.dataDir, "-l", logFile,
		"-w", "-t", "60", "-o", strings.Join(opts, " ")); err != nil {
		tail, _ := os.ReadFile(logFile)
		return fmt.Errorf("start postgres: %w: %s\n%s", err, out, lastLines(tail, 15))
	}
	c.started = true
	c.logf("PostgreSQL started from %s on 127.0.0.1:%d", c.dataDir, port)
	return nil
}

// Stop shuts the server down if Start started it (fast mode: open sessions are ended).
func (c *Cluster) Stop(ctx context.Context) error {
	if !c.started {
		return nil
	}
	c.started = false
	if out, err := c.run(ctx, filepath.Join(c.bin, "pg_ctl"), "stop", "-D", c.dataDir, "-m", "fast", "-w"); err != nil {
		return fmt.Errorf("stop postgres: %w: %s", err, out)
	}
	return nil
}

// Remove deletes the cluster's files. Call it after Stop.
func (c *Cluster) Remove() error {
	return os.RemoveAll(filepath.Dir(c.dataDir))
}

// prepareDir picks the data directory and makes it the server user's.
func (c *Cluster) prepareDir(ctx context.Context) error {
	abs, err := filepath.Abs(c.Dir)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", c.Dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", abs, err)
	}
	base := abs
	if c.cred != nil {
		if err := os.Chown(abs, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
			return fmt.Errorf("give %s to postgres: %w", abs, err)
		}
		if _, err := c.run(ctx, "/bin/sh", "-c", `test -w "$0" && test -x "$0"`, abs); err != nil {
			// A parent directory is closed to the postgres user (mktemp -d makes 0700 ones).
			sum := sha256.Sum256([]byte(abs))
			base = filepath.Join(os.TempDir(), "conversa-pg-"+hex.EncodeToString(sum[:6]))
			if err := os.MkdirAll(base, 0o700); err != nil {
				return fmt.Errorf("create %s: %w", base, err)
			}
			if err := os.Chown(base, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
				return fmt.Errorf("give %s to postgres: %w", base, err)
			}
			c.logf("the postgres user cannot reach %s; keeping the cluster in %s", abs, base)
			_ = os.WriteFile(filepath.Join(abs, "WHERE"), []byte(base+"\n"), 0o644)
		}
	}
	c.dataDir = filepath.Join(base, "data")
	return nil
}

// running reports a live server already started from the data directory.
func (c *Cluster) running() (pid, port int, ok bool) {
	b, err := os.ReadFile(filepath.Join(c.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, 0, false
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 4 {
		return 0, 0, false
	}
	pid, _ = strconv.Atoi(strings.TrimSpace(lines[0]))
	port, _ = strconv.Atoi(strings.TrimSpace(lines[3]))
	if pid <= 0 || port <= 0 || syscall.Kill(pid, 0) != nil {
		return 0, 0, false
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return 0, 0, false
	}
	_ = conn.Close()
	return pid, port, true
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = os.TempDir()
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		cmd.Env = append(os.Environ(), "HOME="+os.TempDir())
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// serverBinDir finds initdb, pg_ctl and postgres: through pg_config, then Debian's
// /usr/lib/postgresql/<version>/bin (newest first), then PATH.
func serverBinDir(ctx context.Context, logf func(string, ...any)) (string, error) {
	if dir := findBinDir(ctx); dir != "" {
		return dir, nil
	}
	_, aptErr := exec.LookPath("apt-get")
	if os.Geteuid() != 0 || aptErr != nil {
		return "", errors.New("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found: install PostgreSQL 15 or newer (Debian/Ubuntu: apt-get install postgresql; macOS: brew install postgresql) or set DATABASE_URL")
	}
	logf("no PostgreSQL server binaries found; installing Debian's postgresql package")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "postgresql"}} {
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get %s: %w: %s", args[0], err, lastLines(out, 10))
		}
	}
	if dir := findBinDir(ctx); dir != "" {
		return dir, nil
	}
	return "", errors.New("installed Debian's postgresql package but still found no initdb")
}

func findBinDir(ctx context.Context) string {
	var candidates []string
	if out, err := exec.CommandContext(ctx, "pg_config", "--bindir").Output(); err == nil {
		candidates = append(candidates, strings.TrimSpace(string(out)))
	}
	debian, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(debian, func(i, j int) bool { return pgMajor(debian[i]) > pgMajor(debian[j]) })
	candidates = append(candidates, debian...)
	if p, err := exec.LookPath("initdb"); err == nil {
		candidates = append(candidates, filepath.Dir(p))
	}
	for _, dir := range candidates {
		if isExec(filepath.Join(dir, "initdb")) && isExec(filepath.Join(dir, "pg_ctl")) && isExec(filepath.Join(dir, "postgres")) {
			return dir
		}
	}
	return ""
}

func pgMajor(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExec(path string) bool {
	st, err := os.Stat(path)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// SystemURL is the PostgreSQL this machine may already run (127.0.0.1:5432, trust auth for
// the postgres role).
const SystemURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// SystemAnswers reports whether a PostgreSQL server accepts TCP connections on 127.0.0.1:5432
// and CONVERSA_NO_SYSTEM_PG is not 1. Tests and `make test` use that server when it does.
func SystemAnswers() bool {
	if os.Getenv("CONVERSA_NO_SYSTEM_PG") == "1" {
		return false
	}
	conn, err := net.DialTimeout("tcp", "127.0.0.1:5432", time.Second)
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

// EnsureDatabase creates the database name on the server at serverURL unless it exists.
func EnsureDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", serverURL, err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}
