package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/conversa-hq/conversa/internal/auth"
)

// buildConversa compiles the server into dir and returns the binary's path. It builds by
// package path, so it works from anywhere inside the module.
func buildConversa(ctx context.Context, dir string) (string, error) {
	bin := filepath.Join(dir, "conversa")
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/conversa-hq/conversa/cmd/conversa").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/conversa: %w\n%s", err, out)
	}
	return bin, nil
}

// server is the `conversa serve` child process under test.
type server struct {
	// Base is the URL the server answers on, e.g. http://127.0.0.1:40123.
	Base string
	// StartupTime is from exec to the first 200 from /readyz; IdleRSS the memory then.
	StartupTime time.Duration
	IdleRSS     int64
	// RSS samples the process's resident memory every 100 ms for its whole life.
	RSS *rssSampler

	cmd      *exec.Cmd
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopErr  error
}

// startServer runs bin as `serve` on a free loopback port against dbURL and waits until it is
// ready. The server logs at warn level to our stderr, so its complaints show up in the run.
// extraEnv (NAME=value) is added last, so it overrides the rest.
func startServer(ctx context.Context, bin, dbURL string, maxConns int, extraEnv ...string) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cmd := exec.Command(bin, "serve", "--addr", addr)
	// Later entries win, so these override anything inherited.
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"CONVERSA_JWT_KEYS="+auth.GenerateSeed(),
		"CONVERSA_SECRET_KEY="+benchSecretKey,
		"CONVERSA_LOG_LEVEL=warn",
		"CONVERSA_DB_MAX_CONNS="+strconv.Itoa(maxConns),
		"CONVERSA_SHUTDOWN_TIMEOUT=10s",
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	dieWithParent(cmd)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &server{Base: "http://" + addr, cmd: cmd, exited: make(chan struct{})}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	s.RSS = startRSSSampler(cmd.Process.Pid, 100*time.Millisecond)
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		_ = s.Stop()
		return nil, err
	}
	s.StartupTime = time.Since(start)
	if rss, err := readRSS(cmd.Process.Pid); err == nil {
		s.IdleRSS = rss
		s.RSS.add(rss)
	}
	return s, nil
}

// Pid is the server's process id.
func (s *server) Pid() int { return s.cmd.Process.Pid }

// waitReady polls /readyz until it answers 200, the server exits, or timeout passes.
func (s *server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.Base+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("readiness request: %w", err)
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-s.exited:
			return fmt.Errorf("conversa serve exited before it was ready: %v", s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("conversa serve not ready after %s (last: %s)", timeout, last)
		case <-tick.C:
		}
	}
}

// Stop sends SIGTERM, waits for the graceful shutdown (killing the process if it takes more
// than 30 s) and stops the memory sampler. Calling it again returns the first result.
func (s *server) Stop() error {
	s.stopOnce.Do(func() {
		defer s.RSS.Close()
		select {
		case <-s.exited:
		default:
			if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
				s.stopErr = fmt.Errorf("signal conversa serve: %w", err)
			}
			select {
			case <-s.exited:
			case <-time.After(30 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.exited
				s.stopErr = errors.New("conversa serve did not stop within 30s of SIGTERM; killed")
				return
			}
		}
		if s.waitErr != nil && s.stopErr == nil {
			s.stopErr = fmt.Errorf("conversa serve: %w", s.waitErr)
		}
	})
	return s.stopErr
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// rssSampler records a process's resident set size (VmRSS) at a fixed interval, so the report
// can give the peak of the whole run and of each phase.
type rssSampler struct {
	pid  int
	mu   sync.Mutex
	at   []time.Time
	rss  []int64
	stop chan struct{}
	done chan struct{}
}

// startRSSSampler samples pid every interval until Close.
func startRSSSampler(pid int, interval time.Duration) *rssSampler {
	r := &rssSampler{pid: pid, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			// A failed read means the process is gone; there is nothing to record.
			if rss, err := readRSS(pid); err == nil {
				r.add(rss)
			}
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return r
}

func (r *rssSampler) add(rss int64) {
	r.mu.Lock()
	r.at = append(r.at, time.Now())
	r.rss = append(r.rss, rss)
	r.mu.Unlock()
}

// Close stops sampling. Safe to call more than once.
func (r *rssSampler) Close() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
}

// Peak is the largest sample, in bytes, taken between from and to.
func (r *rssSampler) Peak(from, to time.Time) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var peak int64
	for i, t := range r.at {
		if !t.Before(from) && !t.After(to) {
			peak = max(peak, r.rss[i])
		}
	}
	return peak
}

// Last is the latest sample in bytes.
func (r *rssSampler) Last() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.rss) == 0 {
		return 0
	}
	return r.rss[len(r.rss)-1]
}

// readRSS reads VmRSS of pid from /proc, in bytes.
func readRSS(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read memory of pid %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q: %w", rest, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d (a zombie?)", pid)
}

// conversaBinary is -conversa, or conversa built into a temporary directory that done removes.
func conversaBinary(ctx context.Context, cfg config) (bin string, done func(), err error) {
	if cfg.Conversa != "" {
		return cfg.Conversa, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return "", nil, fmt.Errorf("temporary directory: %w", err)
	}
	logf("building conversa")
	if bin, err = buildConversa(ctx, dir); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return bin, func() { os.RemoveAll(dir) }, nil
}
