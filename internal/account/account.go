// Package account keeps the tenants and their users. Every row of product data belongs to an
// account; users log in to exactly one.
package account

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

var q = store.New()

// Account is a tenant.
type Account struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
}

// User is a person who logs in to an account.
type User struct {
	AccountID   uuid.UUID
	ID          uuid.UUID
	Email       string
	Name        string
	Role        auth.Role
	Permissions []auth.Permission
	CreatedAt   time.Time
}

// Create stores a new account with a fresh support-code secret.
func Create(ctx context.Context, db store.DBTX, name string) (Account, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return Account{}, fault.Invalid("invalid account", fault.FieldError{Field: "name", Message: "must have 1 to 200 characters", Value: name})
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	row, err := q.CreateAccount(ctx, db, store.CreateAccountParams{ID: uuid.Must(uuid.NewV7()), Name: name, SupportSecret: secret})
	if err != nil {
		return Account{}, fmt.Errorf("create account %q: %w", name, err)
	}
	return Account{ID: row.ID, Name: row.Name, CreatedAt: row.CreatedAt.UTC()}, nil
}

// NewUser is what creating a user needs. Permissions are extra permissions beyond the role
// (contact_notes, support_code, consent_read).
type NewUser struct {
	AccountID   uuid.UUID
	Email       string
	Name        string
	Password    string
	Role        string
	Permissions []string
}

// CreateUser stores a user with an argon2id password hash. An e-mail already used by any
// account is a conflict: login is by e-mail alone.
func CreateUser(ctx context.Context, db store.DBTX, in NewUser) (User, error) {
	var fields []fault.FieldError
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
		fields = append(fields, fault.FieldError{Field: "email", Message: "must be a plain e-mail address", Value: in.Email})
	}
	role, err := auth.ParseRole(in.Role)
	if err != nil {
		fields = append(fields, fault.FieldError{Field: "role", Message: err.Error(), Value: in.Role})
	}
	for i, p := range in.Permissions {
		if !slices.Contains(auth.ExtraPermissions, auth.Permission(p)) {
			fields = append(fields, fault.FieldError{Field: fmt.Sprintf("permissions[%d]", i), Message: fmt.Sprintf("not an extra permission; valid: %v", auth.ExtraPermissions), Value: p})
		}
	}
	hash, err := auth.HashPassword(in.Password)
	if err != nil {
		fields = append(fields, fault.FieldError{Field: "password", Message: err.Error()})
	}
	if len(fields) > 0 {
		return User{}, fault.Invalid("invalid user", fields...)
	}
	perms := in.Permissions
	if perms == nil {
		perms = []string{}
	}
	row, err := q.CreateUser(ctx, db, store.CreateUserParams{
		AccountID: in.AccountID, ID: uuid.Must(uuid.NewV7()), Email: email, Name: strings.TrimSpace(in.Name),
		PasswordHash: hash, Role: string(role), Permissions: perms,
	})
	if _, ok := pgdb.UniqueViolation(err); ok {
		return User{}, fault.Conflict("e-mail already in use", fault.FieldError{Field: "email", Message: "already in use", Value: email})
	}
	if _, ok := pgdb.ForeignKeyViolation(err); ok {
		return User{}, fault.NotFound("account")
	}
	if err != nil {
		return User{}, fmt.Errorf("create user %q: %w", email, err)
	}
	return userFromRow(row), nil
}

// GetUser returns a user of the account.
func GetUser(ctx context.Context, db store.DBTX, accountID, id uuid.UUID) (User, error) {
	row, err := q.GetUser(ctx, db, store.GetUserParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fault.NotFound("user")
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", id, err)
	}
	return userFromRow(row), nil
}

// Get returns an account.
func Get(ctx context.Context, db store.DBTX, id uuid.UUID) (Account, error) {
	row, err := q.GetAccount(ctx, db, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, fault.NotFound("account")
	}
	if err != nil {
		return Account{}, fmt.Errorf("get account %s: %w", id, err)
	}
	return Account{ID: row.ID, Name: row.Name, CreatedAt: row.CreatedAt.UTC()}, nil
}

func userFromRow(r store.User) User {
	return User{
		AccountID: r.AccountID, ID: r.ID, Email: r.Email, Name: r.Name, Role: auth.Role(r.Role),
		Permissions: auth.Grants(auth.Role(r.Role), r.Permissions), CreatedAt: r.CreatedAt.UTC(),
	}
}
