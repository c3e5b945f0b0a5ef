// Package auth decides who is calling and what they may do: users log in with e-mail and
// password for short-lived access tokens (Ed25519-signed JWTs) and rotating refresh tokens;
// integrators use hashed, scoped, revocable, rate-limited API keys.
package auth

import (
	"context"
	"slices"

	"github.com/google/uuid"
)

// Principal is the authenticated caller of a request.
type Principal struct {
	AccountID uuid.UUID
	// UserID is set for users, APIKeyID for integrators; exactly one of them is.
	UserID   *uuid.UUID
	APIKeyID *uuid.UUID
	// Role is empty for API keys.
	Role        Role
	Permissions []Permission
}

// Can reports whether the principal holds perm.
func (p Principal) Can(perm Permission) bool { return slices.Contains(p.Permissions, perm) }

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the auth middleware stored, if any.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}
