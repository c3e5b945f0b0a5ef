package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/config"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// TestServeStopsGracefully runs the real server, starts a request whose body is still being
// sent, stops the server, and checks that the request still completes and the server exits
// cleanly.
func TestServeStopsGracefully(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	acct, err := account.Create(ctx, pool, "Graceful")
	require.NoError(t, err)
	keys, _ := auth.ParseKeys(auth.GenerateSeed())
	_, key, err := auth.NewService(pool, keys, clock.System{}, auth.Config{}).CreateAPIKey(ctx, acct.ID,
		auth.NewAPIKey{Name: "t", Scopes: []string{"contacts:write"}})
	require.NoError(t, err)

	cfg, err := config.Load()
	require.NoError(t, err)
	cfg.DatabaseURL = pool.Config().ConnString()
	cfg.JWTKeys = auth.GenerateSeed()
	cfg.Addr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))

	serveCtx, stop := context.WithCancel(ctx)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	// The server's side of each connection, by the client's address, once it has read a request.
	active := make(chan string, 16)
	hooks := serveHooks{
		ready: func(a string) { addrc <- a },
		connState: func(c net.Conn, st http.ConnState) {
			if st == http.StateActive {
				active <- c.RemoteAddr().String()
			}
		},
	}
	go func() { done <- serve(serveCtx, cfg, logger, hooks) }()
	addr := <-addrc

	resp, err := http.Get("http://" + addr + "/readyz")
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp.Body.Close()

	// A request in flight: headers and half the body sent.
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	body := `{"name": "In flight", "customer_code": "F-1"}`
	half := len(body) / 2
	_, err = fmt.Fprintf(conn, "POST /v1/contacts HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		key, len(body), body[:half])
	require.NoError(t, err)
	// Stop only once the server has read the request: one it has not read yet when the stop
	// begins is refused, and the client retries it elsewhere.
	for a := range active {
		if a == conn.LocalAddr().String() {
			break
		}
	}

	stop()
	_, err = conn.Write([]byte(body[half:]))
	require.NoError(t, err)
	reply, err := io.ReadAll(conn)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(reply), "HTTP/1.1 201"), string(reply))

	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return after stop")
	}
	_, err = net.Dial("tcp", addr)
	require.Error(t, err, "the listener is closed")
}

// TestServeAPIOnly: with CONVERSA_JOBS=false the process answers the API, and enqueues jobs,
// but starts no River queue: worker processes run them.
func TestServeAPIOnly(t *testing.T) {
	t.Parallel()
	pool := testdb.New(t)
	ctx := context.Background()
	acct, err := account.Create(ctx, pool, "API only")
	require.NoError(t, err)
	keys, _ := auth.ParseKeys(auth.GenerateSeed())
	_, key, err := auth.NewService(pool, keys, clock.System{}, auth.Config{}).CreateAPIKey(ctx, acct.ID,
		auth.NewAPIKey{Name: "t", Scopes: []string{"contacts:write"}})
	require.NoError(t, err)
	cfg, err := config.Load()
	require.NoError(t, err)
	cfg.APIOnly = true // CONVERSA_JOBS=false (internal/config tests the variable)
	cfg.DatabaseURL = pool.Config().ConnString()
	cfg.JWTKeys = auth.GenerateSeed()
	cfg.Addr = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second

	serveCtx, stop := context.WithCancel(ctx)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serve(serveCtx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), serveHooks{ready: func(a string) { addrc <- a }})
	}()
	addr := <-addrc
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/contacts", strings.NewReader(`{"name": "Ana", "customer_code": "A-1"}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var queues int
	require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM river_queue").Scan(&queues))
	require.Zero(t, queues, "no River queue was started")
	stop()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return after stop")
	}
}
