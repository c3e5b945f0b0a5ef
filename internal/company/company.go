// Package company keeps the companies contacts work for or represent, identified by CNPJ.
package company

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
	"github.com/conversa-hq/conversa/internal/document"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

// Company is a business identified by its CNPJ.
type Company struct {
	ID        uuid.UUID
	CNPJ      string
	Name      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Service manages companies, scoped to one account.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk}
}

var errNotFound = fault.NotFound("company")

func cleanName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 200 {
		return "", fault.Invalid("invalid company", fault.FieldError{Field: "name", Message: "must have 1 to 200 characters"})
	}
	return name, nil
}

// ParseCNPJ checks a CNPJ's check digits and returns it without punctuation.
func ParseCNPJ(raw string) (string, error) {
	v, kind, err := document.Parse(raw)
	if err != nil || kind != document.CNPJ {
		return "", fault.Invalid("invalid company", fault.FieldError{Field: "cnpj", Message: "must be a valid CNPJ", Value: raw})
	}
	return v, nil
}

// Create adds a company; a CNPJ already in the account is a conflict.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, cnpj, name string) (Company, error) {
	var errs []fault.FieldError
	c, err := ParseCNPJ(cnpj)
	if f, ok := fault.As(err); ok {
		errs = append(errs, f.Fields...)
	}
	n, err := cleanName(name)
	if f, ok := fault.As(err); ok {
		errs = append(errs, f.Fields...)
	}
	if len(errs) > 0 {
		return Company{}, fault.Invalid("invalid company", errs...)
	}
	row, err := s.q.CreateCompany(ctx, s.pool, store.CreateCompanyParams{AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Cnpj: c, Name: n, Now: s.clock.Now()})
	if _, ok := pgdb.UniqueViolation(err); ok {
		return Company{}, fault.Conflict("a company with this CNPJ exists", fault.FieldError{Field: "cnpj", Message: "already registered", Value: c})
	}
	if err != nil {
		return Company{}, fmt.Errorf("create company %s: %w", c, err)
	}
	return fromRow(row), nil
}

// Get returns one company.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Company, error) {
	row, err := s.q.GetCompany(ctx, s.pool, store.GetCompanyParams{AccountID: accountID, ID: id})
	return s.one(row, err)
}

// GetByCNPJ finds a company by its CNPJ, written with or without punctuation.
func (s *Service) GetByCNPJ(ctx context.Context, accountID uuid.UUID, raw string) (Company, error) {
	c, err := ParseCNPJ(raw)
	if err != nil {
		return Company{}, err
	}
	row, err := s.q.GetCompanyByCNPJ(ctx, s.pool, store.GetCompanyByCNPJParams{AccountID: accountID, Cnpj: c})
	return s.one(row, err)
}

func (s *Service) one(row store.Company, err error) (Company, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return Company{}, errNotFound
	}
	if err != nil {
		return Company{}, fmt.Errorf("get company: %w", err)
	}
	return fromRow(row), nil
}

// List pages through the account's companies.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, after *uuid.UUID, limit int) ([]Company, error) {
	rows, err := s.q.ListCompanies(ctx, s.pool, store.ListCompaniesParams{AccountID: accountID, After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list companies: %w", err)
	}
	out := make([]Company, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Rename changes a company's name (its CNPJ never changes).
func (s *Service) Rename(ctx context.Context, accountID, id uuid.UUID, name string) (Company, error) {
	n, err := cleanName(name)
	if err != nil {
		return Company{}, err
	}
	row, err := s.q.RenameCompany(ctx, s.pool, store.RenameCompanyParams{AccountID: accountID, ID: id, Name: n, Now: s.clock.Now()})
	return s.one(row, err)
}

// Delete removes a company; its contacts stay, without it.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	n, err := s.q.DeleteCompany(ctx, s.pool, store.DeleteCompanyParams{AccountID: accountID, ID: id})
	if err != nil {
		return fmt.Errorf("delete company %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

func fromRow(r store.Company) Company {
	return Company{ID: r.ID, CNPJ: r.Cnpj, Name: r.Name, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}
