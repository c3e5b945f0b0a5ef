package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
)

const (
	issuer   = "conversa"
	audience = "conversa-api"

	// MaxLoginFailures failed passwords in a row lock a user for LoginLockout.
	MaxLoginFailures = 5
	// LoginLockout is how long a user stays locked after MaxLoginFailures.
	LoginLockout = 15 * time.Minute

	refreshPrefix = "cvr_"
	apiKeyPrefix  = "cvk_"
)

// Config sets the service's lifetimes. Zero values take the defaults.
type Config struct {
	// AccessTTL is an access token's lifetime. Defaults to 15 minutes.
	AccessTTL time.Duration
	// RefreshTTL is a refresh token's lifetime. Defaults to 30 days.
	RefreshTTL time.Duration
	// APIKeyCacheTTL is how long a verified API key is trusted without a database read.
	// Revocation is immediate in the process that revokes and takes up to this long in others.
	// Defaults to 5 seconds.
	APIKeyCacheTTL time.Duration
	// LoginsPerMinute caps login attempts from one client address. Defaults to 20.
	LoginsPerMinute int
}

// Service authenticates callers and issues tokens. Safe for concurrent use.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	keys  *KeySet
	clock clock.Clock
	cfg   Config

	mu        sync.Mutex
	keyCache  map[[32]byte]cachedKey
	keyLimits map[uuid.UUID]*rate.Limiter
	ipLimits  map[string]*rate.Limiter
	// revoked holds keys this process revoked recently, with when.
	revoked map[uuid.UUID]time.Time

	// accessMu guards accessCache: the access tokens this process verified, by the token
	// itself, until they expire (see verifyAccess).
	accessMu    sync.RWMutex
	accessCache map[string]cachedAccess
}

// cachedAccess is a verified access token: who it names and the times its claims allow it.
type cachedAccess struct {
	principal       Principal
	issued, expires time.Time
}

// maxAccessCache bounds the verified tokens remembered (about 400 bytes each); past it the
// cache starts again empty.
const maxAccessCache = 100_000

// accessLeeway is the clock skew allowed on an access token's times.
const accessLeeway = 5 * time.Second

type cachedKey struct {
	principal Principal
	rateLimit int
	until     time.Time
}

// NewService returns a Service signing with keys.
func NewService(pool *pgxpool.Pool, keys *KeySet, clk clock.Clock, cfg Config) *Service {
	if cfg.AccessTTL == 0 {
		cfg.AccessTTL = 15 * time.Minute
	}
	if cfg.RefreshTTL == 0 {
		cfg.RefreshTTL = 30 * 24 * time.Hour
	}
	if cfg.APIKeyCacheTTL == 0 {
		cfg.APIKeyCacheTTL = 5 * time.Second
	}
	if cfg.LoginsPerMinute == 0 {
		cfg.LoginsPerMinute = 20
	}
	return &Service{
		pool: pool, q: store.New(), keys: keys, clock: clk, cfg: cfg,
		keyCache:  map[[32]byte]cachedKey{},
		keyLimits: map[uuid.UUID]*rate.Limiter{},
		ipLimits:  map[string]*rate.Limiter{},
		revoked:   map[uuid.UUID]time.Time{},

		accessCache: map[string]cachedAccess{},
	}
}

// Keys returns the key set, for the JWKS endpoint.
func (s *Service) Keys() *KeySet { return s.keys }

// Tokens is what a login or a refresh returns.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

type accessClaims struct {
	jwt.RegisteredClaims
	Account     string   `json:"acct"`
	Role        string   `json:"role"`
	Permissions []string `json:"perms"`
}

// errBadLogin answers every failed login alike (unknown e-mail, wrong password, locked user,
// disabled user), so the answer tells nobody which e-mails exist.
var errBadLogin = fault.Unauthorized("invalid e-mail or password, or too many failed attempts: wait a few minutes and retry")

// Login checks an e-mail and password and starts a new token family. Each attempt counts
// against the user before the password is checked (atomically, so parallel guesses count
// too); MaxLoginFailures in a row lock the user for LoginLockout. Too many attempts from one
// client address answer fault.KindTooManyRequests with a retry time.
func (s *Service) Login(ctx context.Context, email, password, clientAddr string) (Tokens, error) {
	if d, ok := s.allowLogin(clientAddr); !ok {
		return Tokens{}, fault.TooManyRequests("too many login attempts from this address", d)
	}
	now := s.clock.Now()
	u, err := s.q.ClaimLoginAttempt(ctx, s.pool, store.ClaimLoginAttemptParams{
		Email: strings.ToLower(strings.TrimSpace(email)), MaxFailures: MaxLoginFailures, LockUntil: now.Add(LoginLockout), Now: now,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		checkPassword(password, dummyHash)
		return Tokens{}, errBadLogin
	}
	if err != nil {
		return Tokens{}, fmt.Errorf("login: claim attempt: %w", err)
	}
	if !checkPassword(password, u.PasswordHash) || u.DisabledAt != nil {
		return Tokens{}, errBadLogin
	}
	if err := s.q.ResetLoginFailures(ctx, s.pool, store.ResetLoginFailuresParams{AccountID: u.AccountID, ID: u.ID}); err != nil {
		return Tokens{}, fmt.Errorf("login: reset failures: %w", err)
	}
	var tokens Tokens
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tokens, err = s.issue(ctx, tx, u, uuid.Must(uuid.NewV7()))
		return err
	})
	return tokens, err
}

// Refresh exchanges a refresh token for new tokens. Each refresh token works once: presenting
// a used one again means it was stolen or replayed, so the whole family (every token descended
// from the same login) is revoked and the caller must log in again.
func (s *Service) Refresh(ctx context.Context, refreshToken string) (Tokens, error) {
	hash, ok := tokenHash(refreshToken, refreshPrefix)
	if !ok {
		return Tokens{}, fault.Unauthorized("invalid refresh token")
	}
	var (
		tokens Tokens
		reused bool
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rt, err := s.q.GetRefreshTokenForUpdate(ctx, tx, hash[:])
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.Unauthorized("invalid refresh token")
		}
		if err != nil {
			return fmt.Errorf("refresh: load token: %w", err)
		}
		now := s.clock.Now()
		switch {
		case rt.RevokedAt != nil:
			return fault.Unauthorized("refresh token revoked")
		case rt.UsedAt != nil:
			reused = true
			_, err := s.q.RevokeRefreshFamily(ctx, tx, store.RevokeRefreshFamilyParams{AccountID: rt.AccountID, FamilyID: rt.FamilyID, RevokedAt: &now})
			return err
		case !rt.ExpiresAt.After(now):
			return fault.Unauthorized("refresh token expired")
		}
		if err := s.q.MarkRefreshTokenUsed(ctx, tx, store.MarkRefreshTokenUsedParams{AccountID: rt.AccountID, ID: rt.ID, UsedAt: &now}); err != nil {
			return fmt.Errorf("refresh: mark used: %w", err)
		}
		u, err := s.q.GetUser(ctx, tx, store.GetUserParams{AccountID: rt.AccountID, ID: rt.UserID})
		if err != nil {
			return fmt.Errorf("refresh: load user: %w", err)
		}
		if u.DisabledAt != nil {
			return fault.Unauthorized("user disabled")
		}
		tokens, err = s.issue(ctx, tx, u, rt.FamilyID)
		return err
	})
	if err != nil {
		return Tokens{}, err
	}
	if reused {
		return Tokens{}, fault.Unauthorized("refresh token already used: every session of that login is revoked, log in again")
	}
	return tokens, nil
}

// Logout revokes the family of refreshToken. An unknown token is not an error: the session is
// over either way.
func (s *Service) Logout(ctx context.Context, refreshToken string) error {
	hash, ok := tokenHash(refreshToken, refreshPrefix)
	if !ok {
		return nil
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		rt, err := s.q.GetRefreshTokenForUpdate(ctx, tx, hash[:])
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("logout: load token: %w", err)
		}
		now := s.clock.Now()
		_, err = s.q.RevokeRefreshFamily(ctx, tx, store.RevokeRefreshFamilyParams{AccountID: rt.AccountID, FamilyID: rt.FamilyID, RevokedAt: &now})
		return err
	})
}

func (s *Service) issue(ctx context.Context, tx pgx.Tx, u store.User, family uuid.UUID) (Tokens, error) {
	now := s.clock.Now()
	perms := Grants(Role(u.Role), u.Permissions)
	permStrings := make([]string, len(perms))
	for i, p := range perms {
		permStrings[i] = string(p)
	}
	k := s.keys.signer()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    issuer,
			Subject:   u.ID.String(),
			Audience:  jwt.ClaimStrings{audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(s.cfg.AccessTTL)),
			ID:        uuid.NewString(),
		},
		Account:     u.AccountID.String(),
		Role:        u.Role,
		Permissions: permStrings,
	})
	tok.Header["kid"] = k.kid
	access, err := tok.SignedString(k.priv)
	if err != nil {
		return Tokens{}, fmt.Errorf("sign access token: %w", err)
	}
	refresh, hash := newSecret(refreshPrefix)
	err = s.q.CreateRefreshToken(ctx, tx, store.CreateRefreshTokenParams{
		AccountID: u.AccountID, ID: uuid.Must(uuid.NewV7()), FamilyID: family, UserID: u.ID,
		TokenHash: hash[:], ExpiresAt: now.Add(s.cfg.RefreshTTL), CreatedAt: now,
	})
	if err != nil {
		return Tokens{}, fmt.Errorf("store refresh token: %w", err)
	}
	return Tokens{AccessToken: access, RefreshToken: refresh, ExpiresIn: s.cfg.AccessTTL}, nil
}

// Authenticate turns a credential (an access JWT or an API key) into a principal. API keys are
// also rate-limited here.
func (s *Service) Authenticate(ctx context.Context, credential string) (Principal, error) {
	if strings.HasPrefix(credential, apiKeyPrefix) {
		return s.authenticateKey(ctx, credential)
	}
	return s.verifyAccess(credential)
}

// verifyAccess checks an access token and returns its principal. A token is verified once and
// then remembered until it expires: the Ed25519 signature check was a quarter of the server's
// CPU on the queue's Next (issue 7), paid again on every request of the same token. Nothing a
// verification depends on changes in between: the key set is fixed for the process's life,
// the claims are in the token itself, and an access token is not revocable (it expires;
// refresh tokens are what logout revokes). A remembered token is still judged by the clock:
// expired (or not yet issued) it is verified afresh, and so refused alike.
func (s *Service) verifyAccess(raw string) (Principal, error) {
	now := s.clock.Now()
	s.accessMu.RLock()
	c, hit := s.accessCache[raw]
	s.accessMu.RUnlock()
	if hit && now.Before(c.expires.Add(accessLeeway)) && !now.Before(c.issued.Add(-accessLeeway)) {
		return c.principal, nil
	}
	p, issued, expires, err := s.parseAccess(raw)
	if err != nil {
		if hit {
			s.accessMu.Lock()
			delete(s.accessCache, raw)
			s.accessMu.Unlock()
		}
		return Principal{}, err
	}
	s.accessMu.Lock()
	if len(s.accessCache) >= maxAccessCache {
		clear(s.accessCache)
	}
	s.accessCache[raw] = cachedAccess{principal: p, issued: issued, expires: expires}
	s.accessMu.Unlock()
	return p, nil
}

// parseAccess verifies an access token's signature and claims, and returns its principal and
// the times it is valid between.
func (s *Service) parseAccess(raw string) (p Principal, issued, expires time.Time, err error) {
	var c accessClaims
	_, err = jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		pub, ok := s.keys.lookup(kid)
		if !ok {
			return nil, errors.New("unknown key id")
		}
		return pub, nil
	},
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(accessLeeway),
		jwt.WithTimeFunc(s.clock.Now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return p, issued, expires, fault.Unauthorized("access token expired: refresh it")
		}
		return p, issued, expires, fault.Unauthorized("invalid access token")
	}
	acct, err1 := uuid.Parse(c.Account)
	uid, err2 := uuid.Parse(c.Subject)
	role, err3 := ParseRole(c.Role)
	if err1 != nil || err2 != nil || err3 != nil {
		return p, issued, expires, fault.Unauthorized("invalid access token")
	}
	perms := make([]Permission, len(c.Permissions))
	for i, perm := range c.Permissions {
		perms[i] = Permission(perm)
	}
	if c.IssuedAt != nil { // optional: checked when present
		issued = c.IssuedAt.Time
	}
	expires = c.ExpiresAt.Time // required above
	return Principal{AccountID: acct, UserID: &uid, Role: role, Permissions: perms}, issued, expires, nil
}

func (s *Service) allowLogin(addr string) (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lim, ok := s.ipLimits[addr]
	if !ok {
		if len(s.ipLimits) > 100_000 {
			clear(s.ipLimits)
		}
		lim = rate.NewLimiter(rate.Limit(float64(s.cfg.LoginsPerMinute)/60), s.cfg.LoginsPerMinute)
		s.ipLimits[addr] = lim
	}
	r := lim.ReserveN(s.clock.Now(), 1)
	if d := r.DelayFrom(s.clock.Now()); d > 0 {
		r.CancelAt(s.clock.Now())
		return d, false
	}
	return 0, true
}

// newSecret returns a random token with the given prefix and its SHA-256. Tokens carry 256
// bits of entropy, so a fast hash is enough to store them.
func newSecret(prefix string) (string, [32]byte) {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, sha256.Sum256([]byte(tok))
}

func tokenHash(tok, prefix string) ([32]byte, bool) {
	if !strings.HasPrefix(tok, prefix) || len(tok) != len(prefix)+43 {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(tok)), true
}

// PruneTokens deletes refresh tokens that expired more than a day ago.
func PruneTokens(ctx context.Context, db store.DBTX, now time.Time) (int64, error) {
	n, err := store.New().DeleteExpiredRefreshTokens(ctx, db, now.Add(-24*time.Hour))
	if err != nil {
		return 0, fmt.Errorf("prune refresh tokens: %w", err)
	}
	return n, nil
}
