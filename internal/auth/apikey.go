package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/time/rate"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
)

// DefaultAPIKeyRateLimit is the requests per second a key gets when none is chosen.
const DefaultAPIKeyRateLimit = 100

// APIKey is an integrator's credential as listed; the secret itself is only returned once, by
// CreateAPIKey.
type APIKey struct {
	ID        uuid.UUID
	Name      string
	Prefix    string
	Scopes    []Permission
	RateLimit int
	CreatedBy *uuid.UUID
	ExpiresAt *time.Time
	RevokedAt *time.Time
	CreatedAt time.Time
}

// NewAPIKey is what creating a key needs.
type NewAPIKey struct {
	Name      string
	Scopes    []string
	RateLimit int
	ExpiresAt *time.Time
	CreatedBy *uuid.UUID
}

// CreateAPIKey stores a new key for the account and returns it with its secret, which is
// never shown again (only its SHA-256 is kept).
func (s *Service) CreateAPIKey(ctx context.Context, accountID uuid.UUID, in NewAPIKey) (APIKey, string, error) {
	var fields []fault.FieldError
	name := strings.TrimSpace(in.Name)
	if name == "" || len(name) > 200 {
		fields = append(fields, fault.FieldError{Field: "name", Message: "must have 1 to 200 characters", Value: in.Name})
	}
	if len(in.Scopes) == 0 {
		fields = append(fields, fault.FieldError{Field: "scopes", Message: "give at least one scope"})
	}
	scopes := make([]string, 0, len(in.Scopes))
	for i, sc := range in.Scopes {
		if !slices.Contains(APIKeyScopes, Permission(sc)) {
			fields = append(fields, fault.FieldError{Field: fmt.Sprintf("scopes[%d]", i), Message: fmt.Sprintf("unknown scope; valid scopes: %v", APIKeyScopes), Value: sc})
			continue
		}
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if in.RateLimit == 0 {
		in.RateLimit = DefaultAPIKeyRateLimit
	}
	if in.RateLimit < 1 || in.RateLimit > 10_000 {
		fields = append(fields, fault.FieldError{Field: "rate_limit", Message: "must be between 1 and 10000 requests per second", Value: in.RateLimit})
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.clock.Now()) {
		fields = append(fields, fault.FieldError{Field: "expires_at", Message: "must be in the future", Value: in.ExpiresAt})
	}
	if len(fields) > 0 {
		return APIKey{}, "", fault.Invalid("invalid API key", fields...)
	}
	secret, hash := newSecret(apiKeyPrefix)
	row, err := s.q.CreateAPIKey(ctx, s.pool, store.CreateAPIKeyParams{
		AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Name: name, Prefix: secret[:len(apiKeyPrefix)+8],
		KeyHash: hash[:], Scopes: scopes, RateLimit: int32(in.RateLimit), CreatedBy: in.CreatedBy, ExpiresAt: in.ExpiresAt,
	})
	if err != nil {
		return APIKey{}, "", fmt.Errorf("create api key: %w", err)
	}
	return apiKeyFromRow(row), secret, nil
}

// GetAPIKey returns one of the account's keys.
func (s *Service) GetAPIKey(ctx context.Context, accountID, id uuid.UUID) (APIKey, error) {
	row, err := s.q.GetAPIKey(ctx, s.pool, store.GetAPIKeyParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, fault.NotFound("API key")
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("get api key: %w", err)
	}
	return apiKeyFromRow(row), nil
}

// ListAPIKeys pages through the account's keys, oldest first, after the key id after.
func (s *Service) ListAPIKeys(ctx context.Context, accountID uuid.UUID, after *uuid.UUID, limit int) ([]APIKey, error) {
	rows, err := s.q.ListAPIKeys(ctx, s.pool, store.ListAPIKeysParams{AccountID: accountID, After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", err)
	}
	out := make([]APIKey, len(rows))
	for i, r := range rows {
		out[i] = apiKeyFromRow(r)
	}
	return out, nil
}

// RevokeAPIKey revokes a key. Revoking twice keeps the first revocation time.
func (s *Service) RevokeAPIKey(ctx context.Context, accountID, id uuid.UUID) (APIKey, error) {
	now := s.clock.Now()
	row, err := s.q.RevokeAPIKey(ctx, s.pool, store.RevokeAPIKeyParams{AccountID: accountID, ID: id, RevokedAt: &now})
	if errors.Is(err, pgx.ErrNoRows) {
		return APIKey{}, fault.NotFound("API key")
	}
	if err != nil {
		return APIKey{}, fmt.Errorf("revoke api key: %w", err)
	}
	s.mu.Lock()
	for h, c := range s.keyCache {
		if c.principal.APIKeyID != nil && *c.principal.APIKeyID == id {
			delete(s.keyCache, h)
		}
	}
	// A request that read the key before the revocation must not cache it afterwards.
	s.revoked[id] = now
	for k, at := range s.revoked {
		if now.Sub(at) > 2*s.cfg.APIKeyCacheTTL {
			delete(s.revoked, k)
		}
	}
	s.mu.Unlock()
	return apiKeyFromRow(row), nil
}

func (s *Service) authenticateKey(ctx context.Context, secret string) (Principal, error) {
	hash, ok := tokenHash(secret, apiKeyPrefix)
	if !ok {
		return Principal{}, fault.Unauthorized("invalid API key")
	}
	now := s.clock.Now()
	s.mu.Lock()
	c, hit := s.keyCache[hash]
	s.mu.Unlock()
	if !hit || now.After(c.until) {
		row, err := s.q.GetAPIKeyByHash(ctx, s.pool, hash[:])
		if errors.Is(err, pgx.ErrNoRows) {
			return Principal{}, fault.Unauthorized("invalid API key")
		}
		if err != nil {
			return Principal{}, fmt.Errorf("authenticate api key: %w", err)
		}
		if row.RevokedAt != nil {
			return Principal{}, fault.Unauthorized("API key revoked")
		}
		until := now.Add(s.cfg.APIKeyCacheTTL)
		if row.ExpiresAt != nil {
			if !row.ExpiresAt.After(now) {
				return Principal{}, fault.Unauthorized("API key expired")
			}
			until = minTime(until, *row.ExpiresAt)
		}
		id := row.ID
		perms := make([]Permission, len(row.Scopes))
		for i, sc := range row.Scopes {
			perms[i] = Permission(sc)
		}
		c = cachedKey{principal: Principal{AccountID: row.AccountID, APIKeyID: &id, Permissions: perms}, rateLimit: int(row.RateLimit), until: until}
		s.mu.Lock()
		_, revoked := s.revoked[id]
		if !revoked {
			if len(s.keyCache) > 100_000 {
				clear(s.keyCache)
			}
			s.keyCache[hash] = c
		}
		s.mu.Unlock()
		if revoked {
			return Principal{}, fault.Unauthorized("API key revoked")
		}
	}
	if d, ok := s.allowKey(*c.principal.APIKeyID, c.rateLimit, now); !ok {
		return Principal{}, fault.TooManyRequests("API key rate limit exceeded", d)
	}
	return c.principal, nil
}

func (s *Service) allowKey(id uuid.UUID, perSecond int, now time.Time) (time.Duration, bool) {
	s.mu.Lock()
	lim, ok := s.keyLimits[id]
	if !ok || lim.Burst() != perSecond {
		lim = rate.NewLimiter(rate.Limit(perSecond), perSecond)
		s.keyLimits[id] = lim
	}
	s.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

func apiKeyFromRow(r store.ApiKey) APIKey {
	scopes := make([]Permission, len(r.Scopes))
	for i, sc := range r.Scopes {
		scopes[i] = Permission(sc)
	}
	return APIKey{
		ID: r.ID, Name: r.Name, Prefix: r.Prefix, Scopes: scopes, RateLimit: int(r.RateLimit),
		CreatedBy: r.CreatedBy, ExpiresAt: utc(r.ExpiresAt), RevokedAt: utc(r.RevokedAt), CreatedAt: r.CreatedAt.UTC(),
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
