package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/api"
	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
)

func TestLogin(t *testing.T) {
	t.Parallel()

	t.Run("TokensWorkAndMeDescribesTheUser", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var me api.MeBody
		e.do(http.MethodGet, "/v1/me", a.token, nil).ok(&me)
		require.Equal(t, "user", me.Kind)
		require.Equal(t, a.account.ID.String(), me.AccountID)
		require.Equal(t, "admin", me.Role)
		require.Contains(t, me.Permissions, "consent_read")
	})

	t.Run("WrongPasswordAndUnknownEmailLookTheSame", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		p1 := e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": a.admin.Email, "password": "wrong password"}).problem(401)
		p2 := e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "wrong password"}).problem(401)
		require.Equal(t, p1.Detail, p2.Detail)
	})

	t.Run("FiveFailuresLockTheUserUntilTheLockoutEnds", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		bad := map[string]string{"email": a.admin.Email, "password": "wrong password"}
		good := map[string]string{"email": a.admin.Email, "password": testPassword}
		var unknown problem
		for range auth.MaxLoginFailures {
			unknown = e.do(http.MethodPost, "/v1/auth/login", "", bad).problem(401)
		}
		// Locked: even the right password fails, and the answer is the same as for an e-mail
		// nobody has, so a lockout tells nobody which e-mails exist.
		locked := e.do(http.MethodPost, "/v1/auth/login", "", good).problem(401)
		nobody := e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "x"}).problem(401)
		require.Equal(t, locked.Detail, nobody.Detail)
		require.Equal(t, unknown.Detail, locked.Detail)
		e.clock.Advance(auth.LoginLockout + time.Second)
		// The count started again: one typo after the lockout does not lock anew.
		e.do(http.MethodPost, "/v1/auth/login", "", bad).problem(401)
		e.do(http.MethodPost, "/v1/auth/login", "", good).ok(nil)
	})

	t.Run("ParallelGuessesCountToo", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var wg sync.WaitGroup
		for range 3 * auth.MaxLoginFailures {
			wg.Go(func() {
				e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": a.admin.Email, "password": "guess"})
			})
		}
		wg.Wait()
		e.do(http.MethodPost, "/v1/auth/login", "", map[string]string{"email": a.admin.Email, "password": testPassword}).problem(401)
	})

	t.Run("ThrottledPerClientAddress", func(t *testing.T) {
		t.Parallel()
		e := setupWith(t, auth.Config{LoginsPerMinute: 3})
		body := map[string]string{"email": "nobody@example.com", "password": "x"}
		for range 3 {
			e.do(http.MethodPost, "/v1/auth/login", "", body).problem(401)
		}
		r := e.do(http.MethodPost, "/v1/auth/login", "", body)
		r.problem(429)
		require.Equal(t, "20", r.Header.Get("Retry-After"))
		e.clock.Advance(20 * time.Second)
		e.do(http.MethodPost, "/v1/auth/login", "", body).problem(401)
	})

	t.Run("MalformedBodiesAreProblems", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.do(http.MethodPost, "/v1/auth/login", "", `{"email": "a@b.c", "password": `).problem(400)
		e.do(http.MethodPost, "/v1/auth/login", "", `{"email": 5, "password": "x"}`).problem(422)
		e.do(http.MethodPost, "/v1/auth/login", "", `{"email": "a@b.c", "password": "x", "admin": true}`).problem(422)
	})
}

func TestRefresh(t *testing.T) {
	t.Parallel()

	t.Run("RotatesAndAReusedTokenRevokesTheFamily", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var second api.TokenBody
		e.do(http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": a.refresh}).ok(&second)
		require.NotEqual(t, a.refresh, second.RefreshToken)
		e.do(http.MethodGet, "/v1/me", second.AccessToken, nil).ok(nil)

		// The first token again: a thief's replay. Everything from that login dies.
		e.do(http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": a.refresh}).problem(401)
		e.do(http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": second.RefreshToken}).problem(401)
	})

	t.Run("LogoutRevokesTheFamily", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		e.do(http.MethodPost, "/v1/auth/logout", "", map[string]string{"refresh_token": a.refresh}).ok(nil)
		e.do(http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": a.refresh}).problem(401)
	})

	t.Run("ExpiredRefreshTokenIsRefused", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		e.clock.Advance(31 * 24 * time.Hour)
		e.do(http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": a.refresh}).problem(401)
	})

	t.Run("GarbageIsRefused", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		e.do(http.MethodPost, "/v1/auth/refresh", "", map[string]string{"refresh_token": "cvr_nope"}).problem(401)
	})
}

func TestAccessTokens(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")

	var jwks api.JWKSBody
	e.do(http.MethodGet, "/.well-known/jwks.json", "", nil).ok(&jwks)
	require.Len(t, jwks.Keys, 1)
	pub, err := base64.RawURLEncoding.DecodeString(jwks.Keys[0].X)
	require.NoError(t, err)

	t.Run("VerifiesWithThePublishedKey", func(t *testing.T) {
		t.Parallel()
		_, err := jwt.Parse(a.token, func(*jwt.Token) (any, error) { return ed25519.PublicKey(pub), nil },
			jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithTimeFunc(e.clock.Now))
		require.NoError(t, err)
	})

	claims := jwt.MapClaims{
		"iss": "conversa", "aud": "conversa-api", "sub": a.admin.ID.String(), "acct": a.account.ID.String(),
		"role": "admin", "perms": []string{"contacts:read"}, "iat": e.clock.Now().Unix(), "exp": e.clock.Now().Add(time.Hour).Unix(),
	}
	forged := map[string]func() string{
		"AlgNone": func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
			tok.Header["kid"] = jwks.Keys[0].Kid
			s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
			require.NoError(t, err)
			return s
		},
		"HMACWithThePublicKey": func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
			tok.Header["kid"] = jwks.Keys[0].Kid
			s, err := tok.SignedString(pub)
			require.NoError(t, err)
			return s
		},
		"AnotherEd25519Key": func() string {
			_, other, _ := ed25519.GenerateKey(nil)
			tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
			tok.Header["kid"] = jwks.Keys[0].Kid
			s, err := tok.SignedString(other)
			require.NoError(t, err)
			return s
		},
		"TamperedPayload": func() string {
			parts := splitJWT(a.token)
			body, _ := base64.RawURLEncoding.DecodeString(parts[1])
			body = []byte(string(body[:len(body)-1]) + `,"x":1}`)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + parts[2]
		},
	}
	for name, make := range forged {
		t.Run("Refuses"+name, func(t *testing.T) {
			t.Parallel()
			e := e.as(t)
			e.do(http.MethodGet, "/v1/me", make(), nil).problem(401)
		})
	}

	t.Run("ExpiresAfterFifteenMinutes", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		b := e.newTenant("Beta")
		e.clock.Advance(14 * time.Minute)
		e.do(http.MethodGet, "/v1/me", b.token, nil).ok(nil)
		e.clock.Advance(2 * time.Minute)
		r := e.do(http.MethodGet, "/v1/me", b.token, nil)
		require.Contains(t, r.problem(401).Detail, "expired")
		require.Contains(t, r.Header.Get("WWW-Authenticate"), "Bearer")
	})

	t.Run("MissingOrMalformedHeader", func(t *testing.T) {
		t.Parallel()
		e := e.as(t)
		e.do(http.MethodGet, "/v1/contacts", "", nil).problem(401)
		e.do(http.MethodGet, "/v1/contacts", "", nil, "Authorization: Basic dXNlcjpwYXNz").problem(401)
	})
}

func splitJWT(s string) [3]string {
	var out [3]string
	i := 0
	start := 0
	for j := 0; j < len(s); j++ {
		if s[j] == '.' {
			out[i] = s[start:j]
			i++
			start = j + 1
		}
	}
	out[2] = s[start:]
	return out
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()

	t.Run("AdminCreatesScopedKeyShownOnce", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var created api.CreatedAPIKeyBody
		e.do(http.MethodPost, "/v1/api-keys", a.token, map[string]any{"name": "reader", "scopes": []string{"contacts:read"}}).ok(&created)
		require.NotEmpty(t, created.Key)

		// Bearer and X-API-Key both work; the scope is enforced.
		e.do(http.MethodGet, "/v1/contacts", created.Key, nil).ok(nil)
		e.do(http.MethodGet, "/v1/contacts", "", nil, "X-API-Key: "+created.Key).ok(nil)
		e.do(http.MethodPost, "/v1/contacts", created.Key, map[string]any{"name": "X", "customer_code": "1"}).problem(403)
		// A key never manages keys.
		e.do(http.MethodGet, "/v1/api-keys", created.Key, nil).problem(403)

		var got api.APIKeyBody
		e.do(http.MethodGet, "/v1/api-keys/"+created.ID, a.token, nil).ok(&got)
		require.Equal(t, created.Prefix, got.Prefix)
		require.NotContains(t, string(e.do(http.MethodGet, "/v1/api-keys", a.token, nil).Body), created.Key)
	})

	t.Run("RevokedKeyStopsAtOnce", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var created api.CreatedAPIKeyBody
		e.do(http.MethodPost, "/v1/api-keys", a.token, map[string]any{"name": "k", "scopes": []string{"contacts:read"}}).ok(&created)
		e.do(http.MethodGet, "/v1/contacts", created.Key, nil).ok(nil)
		e.do(http.MethodDelete, "/v1/api-keys/"+created.ID, a.token, nil).ok(nil)
		require.Contains(t, e.do(http.MethodGet, "/v1/contacts", created.Key, nil).problem(401).Detail, "revoked")
	})

	t.Run("ExpiredKeyIsRefused", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var created api.CreatedAPIKeyBody
		e.do(http.MethodPost, "/v1/api-keys", a.token, map[string]any{
			"name": "k", "scopes": []string{"contacts:read"}, "expires_at": e.clock.Now().Add(time.Hour),
		}).ok(&created)
		e.do(http.MethodGet, "/v1/contacts", created.Key, nil).ok(nil)
		e.clock.Advance(time.Hour + time.Second)
		e.do(http.MethodGet, "/v1/contacts", created.Key, nil).problem(401)
	})

	t.Run("RateLimited", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		var created api.CreatedAPIKeyBody
		e.do(http.MethodPost, "/v1/api-keys", a.token, map[string]any{"name": "slow", "scopes": []string{"contacts:read"}, "rate_limit": 2}).ok(&created)
		e.do(http.MethodGet, "/v1/contacts", created.Key, nil).ok(nil)
		e.do(http.MethodGet, "/v1/contacts", created.Key, nil).ok(nil)
		r := e.do(http.MethodGet, "/v1/contacts", created.Key, nil)
		r.problem(429)
		require.NotEmpty(t, r.Header.Get("Retry-After"))
		e.clock.Advance(time.Second)
		e.do(http.MethodGet, "/v1/contacts", created.Key, nil).ok(nil)
	})

	t.Run("BadScopesAreFieldErrors", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		p := e.do(http.MethodPost, "/v1/api-keys", a.token, map[string]any{"name": "k", "scopes": []string{"contacts:read", "api_keys:manage"}}).problem(422)
		require.Equal(t, []string{"body.scopes[1]"}, p.locations())
	})

	t.Run("OnlyAdminsManageKeys", func(t *testing.T) {
		t.Parallel()
		e := setup(t)
		a := e.newTenant("Acme")
		agent := e.newUser(a, "agent")
		e.do(http.MethodGet, "/v1/api-keys", agent, nil).problem(403)
		e.do(http.MethodGet, "/v1/contacts", agent, nil).ok(nil)
	})
}

func TestSupportCode(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	var sc api.SupportCodeBody
	e.do(http.MethodGet, "/v1/support-code", a.token, nil).ok(&sc)
	require.Len(t, sc.Code, 8)
	require.True(t, sc.ValidUntil.After(e.clock.Now()))
	ok, err := account.CheckSupportCode(context.Background(), e.pool, a.account.ID, sc.Code, e.clock.Now())
	require.NoError(t, err)
	require.True(t, ok)
	// An agent lacks the support_code permission; so does an integrator key.
	agent := e.newUser(a, "agent")
	e.do(http.MethodGet, "/v1/support-code", agent, nil).problem(403)
	e.do(http.MethodGet, "/v1/support-code", a.apiKey, nil).problem(403)
	e.do(http.MethodPost, "/v1/support-code/verify", agent, map[string]string{"code": sc.Code}).problem(403)

	// Verifying: the current code and, after it changes, the previous one; not older ones, and
	// not another account's.
	var v api.SupportCodeVerdict
	e.do(http.MethodPost, "/v1/support-code/verify", a.token, map[string]string{"code": sc.Code}).ok(&v)
	require.True(t, v.Valid)
	b := e.newTenant("Other")
	e.do(http.MethodPost, "/v1/support-code/verify", b.token, map[string]string{"code": sc.Code}).ok(&v)
	require.False(t, v.Valid, "another account's code")
	e.do(http.MethodPost, "/v1/support-code/verify", a.token, map[string]string{"code": "12ab"}).problem(422)
	e.clock.Advance(account.SupportCodeWindow)
	a.token = e.login(a)
	e.do(http.MethodPost, "/v1/support-code/verify", a.token, map[string]string{"code": sc.Code}).ok(&v)
	require.True(t, v.Valid, "the previous window's code")
	e.clock.Advance(account.SupportCodeWindow)
	a.token = e.login(a)
	e.do(http.MethodPost, "/v1/support-code/verify", a.token, map[string]string{"code": sc.Code}).ok(&v)
	require.False(t, v.Valid, "two windows old")
}

func TestOperationsEndpoints(t *testing.T) {
	t.Parallel()
	e := setup(t)
	a := e.newTenant("Acme")
	e.do(http.MethodGet, "/v1/contacts", a.apiKey, nil).ok(nil)
	e.do(http.MethodGet, "/v1/contacts/01890000-0000-7000-8000-000000000000", a.apiKey, nil).problem(404)

	metrics := string(e.do(http.MethodGet, "/metrics", "", nil).Body)
	require.Contains(t, metrics, `conversa_http_requests_total{operation="list-contacts",status="200"} 1`)
	require.Contains(t, metrics, `conversa_http_requests_total{operation="get-contact",status="404"} 1`)
	require.Contains(t, metrics, `conversa_http_request_duration_seconds_bucket{operation="login"`)

	r := e.do(http.MethodGet, "/healthz", "", nil, "X-Request-Id: trace-42")
	require.Equal(t, "trace-42", r.Header.Get("X-Request-Id"), "a caller's request id is kept")
	r = e.do(http.MethodGet, "/healthz", "", nil, "X-Request-Id: bad id with spaces")
	require.Len(t, r.Header.Get("X-Request-Id"), 24, "a malformed one is replaced")
	e.do(http.MethodGet, "/readyz", "", nil).ok(nil)
	for _, doc := range []string{"/openapi.json", "/openapi.yaml", "/openapi-3.0.yaml", "/docs"} {
		e.do(http.MethodGet, doc, "", nil).ok(nil)
	}
}
