package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/company"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/department"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/importer"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/media"
	"github.com/conversa-hq/conversa/internal/newchat"
	"github.com/conversa-hq/conversa/internal/note"
	"github.com/conversa-hq/conversa/internal/outbound"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
	"github.com/conversa-hq/conversa/internal/quickreply"
	"github.com/conversa-hq/conversa/internal/schedule"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/segment"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/tag"
	"github.com/conversa-hq/conversa/internal/teamchat"
	"github.com/conversa-hq/conversa/internal/template"
	"github.com/conversa-hq/conversa/internal/webhook"
)

func TestMain(m *testing.M) {
	runChaosWorkerIfAsked()
	testdb.Main(m)
}

const testPassword = "correct horse battery"

// testEnv is a real API over a fresh database, driven through its HTTP handler.
type testEnv struct {
	t        *testing.T
	handler  http.Handler
	pool     *pgxpool.Pool
	clock    *clock.Manual
	auth     *auth.Service
	webhooks *webhook.Service
	imports  *importer.Service
	// templates is the API's template service, for tests that point its WhatsApp adapter at
	// a local server.
	templates *template.Service
	events    *event.Log
	outbound  *outbound.Service
	// schedules runs the schedules' jobs directly (their Work), on the test's clock.
	schedules *schedule.Service
	// sender is the API's send service, for tests that dispatch what it queued.
	sender *send.Service
	// campaigns runs the scheduled starts' jobs directly, on the test's clock.
	campaigns *campaign.Service
}

// testPublicURL is where the test server's media links point.
const testPublicURL = "https://conversa.test"

// publish numbers the events waiting in the outbox, as the publisher of a running server does.
func (e *testEnv) publish() {
	e.t.Helper()
	_, err := e.events.Publish(context.Background())
	require.NoError(e.t, err)
}

// tenant is an account with an admin who has logged in and an integrator API key.
type tenant struct {
	account account.Account
	admin   account.User
	token   string // the admin's access token
	refresh string
	apiKey  string
}

func setup(t *testing.T) *testEnv {
	t.Helper()
	return setupWith(t, auth.Config{LoginsPerMinute: 1000})
}

// setupWith is setup with the auth service configured by cfg.
func setupWith(t *testing.T, cfg auth.Config) *testEnv {
	t.Helper()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Now())
	keys, err := auth.ParseKeys(auth.GenerateSeed())
	require.NoError(t, err)
	authSvc := auth.NewService(pool, keys, clk, cfg)
	box, err := secretbox.New(secretbox.GenerateKey())
	require.NoError(t, err)
	channels := channel.NewService(pool, clk, box)
	webhooks := webhook.NewService(pool, channels, clk)
	webhooks.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	imports := importer.NewService(pool, clk)
	enqueuer, err := jobs.NewClient(pool, jobs.Config{Imports: imports, Clock: clk})
	require.NoError(t, err)
	imports.Enqueuer = enqueuer
	events := event.NewLog(pool)
	hub := event.NewHub(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	hubCtx, stopHub := context.WithCancel(context.Background())
	t.Cleanup(stopHub)
	go func() { _ = hub.Run(hubCtx) }()
	out := outbound.NewService(pool, clk, box, outbound.Config{AllowPrivate: true})
	contacts := contact.NewService(pool, clk)
	templates := template.NewService(pool, clk, channels, contacts)
	templates.Enqueuer = enqueuer
	consents := consent.NewService(pool, clk)
	sender := send.NewService(pool, clk, contacts, templates, consents)
	schedules := schedule.NewService(pool, clk, sender)
	library := media.NewService(pool, clk, media.NewSigner(box.Derive("media links"), testPublicURL))
	sender.Media = library
	campaigns := campaign.NewService(pool, clk, templates, sender)
	handler, _ := api.New(api.Deps{
		Send: sender, Schedules: schedules, Campaigns: campaigns, QuickReplies: quickreply.NewService(pool, clk, contacts), Media: library,
		TeamChat: teamchat.NewService(pool, clk), NewChat: newchat.NewService(clk, contacts, sender),
		Events: events, Hub: hub, Outbound: out, Heartbeat: time.Hour, // streams must not need the periodic heartbeat to open
		Pool: pool, Auth: authSvc, Contacts: contacts, Consent: consents, Notes: note.NewService(pool, clk), Tags: tag.NewService(pool, clk), CustomFields: customfield.NewService(pool, clk),
		Departments: department.NewService(pool, clk), Segments: segment.NewService(pool, clk),
		Companies: company.NewService(pool, clk), Channels: channels, Webhooks: webhooks, Templates: templates, Imports: imports, Clock: clk,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		MaxBodyBytes: 64 << 10, MaxImportBytes: 256 << 10, Conversations: webhooks.Conversations,
	})
	return &testEnv{t: t, handler: handler, pool: pool, clock: clk, auth: authSvc, webhooks: webhooks, events: events, outbound: out, templates: templates, imports: imports, schedules: schedules, sender: sender, campaigns: campaigns}
}

// as returns the environment reporting to t, for subtests that share it.
func (e *testEnv) as(t *testing.T) *testEnv {
	c := *e
	c.t = t
	return &c
}

func (e *testEnv) newTenant(name string) tenant {
	e.t.Helper()
	ctx := context.Background()
	acct, err := account.Create(ctx, e.pool, name)
	require.NoError(e.t, err)
	email := strings.ToLower(strings.ReplaceAll(name, " ", "")) + "-" + acct.ID.String()[:8] + "@example.com"
	admin, err := account.CreateUser(ctx, e.pool, account.NewUser{AccountID: acct.ID, Email: email, Password: testPassword, Role: "admin"})
	require.NoError(e.t, err)
	var tok api.TokenBody
	e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": testPassword}).ok(&tok)
	_, key, err := e.auth.CreateAPIKey(ctx, acct.ID, auth.NewAPIKey{Name: "test", Scopes: []string{"contacts:read", "contacts:write", "consents:write"}})
	require.NoError(e.t, err)
	return tenant{account: acct, admin: admin, token: tok.AccessToken, refresh: tok.RefreshToken, apiKey: key}
}

// response is what the handler answered.
type response struct {
	t      *testing.T
	Status int
	Header http.Header
	Body   []byte
}

// do sends a request. body is JSON-encoded unless it is a string or []byte (sent as is);
// headers are "Name: value" pairs.
func (e *testEnv) do(method, path, token string, body any, headers ...string) *response {
	e.t.Helper()
	return e.doCtx(context.Background(), method, path, token, body, headers...)
}

// doCtx is do with the request's context: a stream ends when it is done.
func (e *testEnv) doCtx(ctx context.Context, method, path, token string, body any, headers ...string) *response {
	e.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		enc, err := json.Marshal(b)
		require.NoError(e.t, err)
		r = bytes.NewReader(enc)
	}
	req := httptest.NewRequestWithContext(ctx, method, path, r)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	return &response{t: e.t, Status: rec.Code, Header: rec.Header(), Body: rec.Body.Bytes()}
}

// ok asserts a 2xx and decodes the body into v (when not nil).
func (r *response) ok(v any) *response {
	r.t.Helper()
	require.True(r.t, r.Status >= 200 && r.Status < 300, "status %d: %s", r.Status, r.Body)
	if v != nil {
		require.NoError(r.t, json.Unmarshal(r.Body, v), string(r.Body))
	}
	return r
}

// problem is an RFC 9457 body.
type problem struct {
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Errors []struct {
		Message  string `json:"message"`
		Location string `json:"location"`
	} `json:"errors"`
}

// problem asserts the status and a problem+json body, and returns it.
func (r *response) problem(status int) problem {
	r.t.Helper()
	require.Equal(r.t, status, r.Status, string(r.Body))
	require.Equal(r.t, "application/problem+json", r.Header.Get("Content-Type"), string(r.Body))
	var p problem
	require.NoError(r.t, json.Unmarshal(r.Body, &p))
	require.Equal(r.t, status, p.Status)
	return p
}

// locations lists the field locations of a problem.
func (p problem) locations() []string {
	out := make([]string, len(p.Errors))
	for i, e := range p.Errors {
		out[i] = e.Location
	}
	return out
}

// login signs the tenant's admin in again: a fresh access token once the test clock has
// moved past the old one's lifetime.
func (e *testEnv) login(a tenant) string {
	e.t.Helper()
	var tok api.TokenBody
	e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": a.admin.Email, "password": testPassword}).ok(&tok)
	return tok.AccessToken
}

// newUser creates a user with role in the tenant's account and returns its access token.
func (e *testEnv) newUser(a tenant, role string) string {
	e.t.Helper()
	return e.newNamedUser(a, role, role)
}

// newNamedUser is newUser for a second user of a role: name tells the users apart.
func (e *testEnv) newNamedUser(a tenant, role, name string) string {
	e.t.Helper()
	email := name + "-" + a.account.ID.String() + "@example.com"
	_, err := account.CreateUser(context.Background(), e.pool, account.NewUser{AccountID: a.account.ID, Email: email, Password: testPassword, Role: role})
	require.NoError(e.t, err)
	var tok api.TokenBody
	e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": email, "password": testPassword}).ok(&tok)
	return tok.AccessToken
}
