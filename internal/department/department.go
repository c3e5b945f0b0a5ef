// Package department keeps the teams users belong to. Conversations are routed to
// departments, segments are served by them, and a user sees the conversations of the
// departments they belong to.
package department

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

// Department is a team of users.
type Department struct {
	ID        uuid.UUID
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Member is a user of a department.
type Member struct {
	UserID  uuid.UUID
	Email   string
	Name    string
	Role    string
	AddedAt time.Time
}

// Service manages departments, scoped to one account.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk}
}

var (
	errNotFound = fault.NotFound("department")
	errTaken    = fault.Conflict("a department with this name exists", fault.FieldError{Field: "name", Message: "already in use"})
)

func cleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 100 {
		return "", fault.Invalid("invalid department", fault.FieldError{Field: "name", Message: "must have 1 to 100 characters"})
	}
	return name, nil
}

// Create adds a department; names are unique in the account, ignoring case.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, name string) (Department, error) {
	name, err := cleanName(name)
	if err != nil {
		return Department{}, err
	}
	row, err := s.q.CreateDepartment(ctx, s.pool, store.CreateDepartmentParams{AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Name: name, Now: s.clock.Now()})
	if _, ok := pgdb.UniqueViolation(err); ok {
		return Department{}, errTaken
	}
	if err != nil {
		return Department{}, fmt.Errorf("create department %q: %w", name, err)
	}
	return fromRow(row), nil
}

// Get returns one department.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Department, error) {
	row, err := s.q.GetDepartment(ctx, s.pool, store.GetDepartmentParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Department{}, errNotFound
	}
	if err != nil {
		return Department{}, fmt.Errorf("get department %s: %w", id, err)
	}
	return fromRow(row), nil
}

// List pages through the account's departments.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, after *uuid.UUID, limit int) ([]Department, error) {
	rows, err := s.q.ListDepartments(ctx, s.pool, store.ListDepartmentsParams{AccountID: accountID, After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list departments: %w", err)
	}
	out := make([]Department, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Rename changes a department's name.
func (s *Service) Rename(ctx context.Context, accountID, id uuid.UUID, name string) (Department, error) {
	name, err := cleanName(name)
	if err != nil {
		return Department{}, err
	}
	row, err := s.q.RenameDepartment(ctx, s.pool, store.RenameDepartmentParams{AccountID: accountID, ID: id, Name: name, Now: s.clock.Now()})
	if errors.Is(err, pgx.ErrNoRows) {
		return Department{}, errNotFound
	}
	if _, ok := pgdb.UniqueViolation(err); ok {
		return Department{}, errTaken
	}
	if err != nil {
		return Department{}, fmt.Errorf("rename department %s: %w", id, err)
	}
	return fromRow(row), nil
}

// Delete removes a department and its memberships.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	n, err := s.q.DeleteDepartment(ctx, s.pool, store.DeleteDepartmentParams{AccountID: accountID, ID: id})
	if err != nil {
		return fmt.Errorf("delete department %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// AddMembers adds users (of the account) to a department; users already in it are left as
// they are. A user of another account is refused.
func (s *Service) AddMembers(ctx context.Context, accountID, id uuid.UUID, userIDs []uuid.UUID) (int64, error) {
	if len(userIDs) == 0 || len(userIDs) > 1000 {
		return 0, fault.Invalid("invalid members", fault.FieldError{Field: "user_ids", Message: "give 1 to 1000 user ids"})
	}
	if _, err := s.Get(ctx, accountID, id); err != nil {
		return 0, err
	}
	n, err := s.q.AddDepartmentMembers(ctx, s.pool, store.AddDepartmentMembersParams{AccountID: accountID, DepartmentID: id, UserIds: userIDs, Now: s.clock.Now()})
	if _, ok := pgdb.ForeignKeyViolation(err); ok {
		return 0, fault.Invalid("invalid members", fault.FieldError{Field: "user_ids", Message: "a user id names no user of this account"})
	}
	if err != nil {
		return 0, fmt.Errorf("add members to %s: %w", id, err)
	}
	return n, nil
}

// RemoveMember takes a user out of a department.
func (s *Service) RemoveMember(ctx context.Context, accountID, id, userID uuid.UUID) error {
	n, err := s.q.RemoveDepartmentMember(ctx, s.pool, store.RemoveDepartmentMemberParams{AccountID: accountID, DepartmentID: id, UserID: userID})
	if err != nil {
		return fmt.Errorf("remove member of %s: %w", id, err)
	}
	if n == 0 {
		return fault.NotFound("member")
	}
	return nil
}

// Members lists a department's users, by e-mail.
func (s *Service) Members(ctx context.Context, accountID, id uuid.UUID) ([]Member, error) {
	if _, err := s.Get(ctx, accountID, id); err != nil {
		return nil, err
	}
	rows, err := s.q.ListDepartmentMembers(ctx, s.pool, store.ListDepartmentMembersParams{AccountID: accountID, DepartmentID: id})
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", id, err)
	}
	out := make([]Member, len(rows))
	for i, r := range rows {
		out[i] = Member{UserID: r.ID, Email: r.Email, Name: r.Name, Role: r.Role, AddedAt: r.AddedAt.UTC()}
	}
	return out, nil
}

func fromRow(r store.Department) Department {
	return Department{ID: r.ID, Name: r.Name, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

// Of lists the departments a user belongs to (what an agent may see follows them).
func (s *Service) Of(ctx context.Context, accountID, userID uuid.UUID) ([]uuid.UUID, error) {
	ids, err := s.q.UserDepartmentIDs(ctx, s.pool, store.UserDepartmentIDsParams{AccountID: accountID, UserID: userID})
	if err != nil {
		return nil, fmt.Errorf("departments of %s: %w", userID, err)
	}
	return ids, nil
}
