// Package customfield keeps the fields an account adds to its contacts (text, number, date,
// boolean, single choice, image URL), and checks contact values against them. Whether closing
// an attendance asks for a field is kept here too, for the closing flow.
package customfield

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
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

// Type is a field's type.
type Type string

// The types.
const (
	Text     Type = "text"
	Number   Type = "number"
	Date     Type = "date"
	Boolean  Type = "boolean"
	Choice   Type = "choice"
	ImageURL Type = "image_url"
)

// Types lists every type.
var Types = []Type{Text, Number, Date, Boolean, Choice, ImageURL}

// Limits.
const (
	MaxFields     = 100
	MaxTextLength = 1000
	MaxChoices    = 100
)

// Field is a custom field definition.
type Field struct {
	ID      uuid.UUID
	Key     string
	Label   string
	Type    Type
	Choices []string
	// OnClose is whether closing an attendance asks for the field: no, optional, required.
	OnClose   string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Input creates a field; in an update Key and Type are ignored (they cannot change) and nil
// fields are kept.
type Input struct {
	Key     string
	Label   *string
	Type    Type
	Choices []string
	OnClose *string
}

var keyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// Service manages definitions, scoped to one account.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk}
}

var errNotFound = fault.NotFound("custom field")

// Create defines a field. The key is what contact values are stored and filtered under.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, in Input) (Field, error) {
	f := Field{Key: strings.TrimSpace(in.Key), Type: in.Type, OnClose: "no"}
	var errs []fault.FieldError
	if !keyRE.MatchString(f.Key) {
		errs = append(errs, fault.FieldError{Field: "key", Message: "lower-case letters, digits and _, starting with a letter, at most 40", Value: in.Key})
	}
	if !slices.Contains(Types, f.Type) {
		errs = append(errs, fault.FieldError{Field: "type", Message: fmt.Sprintf("must be one of %v", Types), Value: in.Type})
	}
	if in.Label == nil {
		in.Label = &f.Key
	}
	errs = append(errs, apply(&f, in)...)
	if len(errs) > 0 {
		return Field{}, fault.Invalid("invalid custom field", errs...)
	}
	var out Field
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := s.q.CountCustomFieldsForUpdate(ctx, tx, accountID)
		if err != nil {
			return fmt.Errorf("count custom fields: %w", err)
		}
		if n >= MaxFields {
			return fault.Conflict(fmt.Sprintf("an account has at most %d custom fields", MaxFields))
		}
		row, err := s.q.CreateCustomField(ctx, tx, store.CreateCustomFieldParams{
			AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Key: f.Key, Label: f.Label, Type: string(f.Type),
			Choices: f.Choices, OnClose: f.OnClose, Now: s.clock.Now(),
		})
		if _, ok := pgdb.UniqueViolation(err); ok {
			return fault.Conflict("a custom field with this key exists", fault.FieldError{Field: "key", Message: "already in use", Value: f.Key})
		}
		if err != nil {
			return fmt.Errorf("create custom field %q: %w", f.Key, err)
		}
		out = fromRow(row)
		return nil
	})
	return out, err
}

// apply writes the changeable parts of in over f and reports what is wrong with them.
func apply(f *Field, in Input) []fault.FieldError {
	var errs []fault.FieldError
	if in.Label != nil {
		f.Label = strings.TrimSpace(*in.Label)
		if f.Label == "" || utf8.RuneCountInString(f.Label) > 100 {
			errs = append(errs, fault.FieldError{Field: "label", Message: "must have 1 to 100 characters", Value: *in.Label})
		}
	}
	if in.OnClose != nil {
		f.OnClose = *in.OnClose
		if !slices.Contains([]string{"no", "optional", "required"}, f.OnClose) {
			errs = append(errs, fault.FieldError{Field: "on_close", Message: "must be no, optional or required", Value: *in.OnClose})
		}
	}
	if in.Choices != nil {
		f.Choices = nil
		for i, c := range in.Choices {
			c = strings.TrimSpace(c)
			if c == "" || utf8.RuneCountInString(c) > 100 {
				errs = append(errs, fault.FieldError{Field: fmt.Sprintf("choices[%d]", i), Message: "must have 1 to 100 characters", Value: in.Choices[i]})
			} else if !slices.Contains(f.Choices, c) {
				f.Choices = append(f.Choices, c)
			}
		}
	}
	if f.Choices == nil {
		f.Choices = []string{}
	}
	switch {
	case f.Type == Choice && (len(f.Choices) == 0 || len(f.Choices) > MaxChoices):
		errs = append(errs, fault.FieldError{Field: "choices", Message: fmt.Sprintf("a choice field needs 1 to %d choices", MaxChoices)})
	case f.Type != Choice && len(f.Choices) > 0:
		errs = append(errs, fault.FieldError{Field: "choices", Message: "only a choice field has choices"})
	}
	return errs
}

// List returns the account's definitions, by key.
func (s *Service) List(ctx context.Context, accountID uuid.UUID) ([]Field, error) {
	return Load(ctx, s.pool, accountID)
}

// Load returns the account's definitions, by key.
func Load(ctx context.Context, db store.DBTX, accountID uuid.UUID) ([]Field, error) {
	rows, err := store.New().ListCustomFields(ctx, db, accountID)
	if err != nil {
		return nil, fmt.Errorf("list custom fields: %w", err)
	}
	out := make([]Field, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Get returns one definition.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Field, error) {
	row, err := s.q.GetCustomField(ctx, s.pool, store.GetCustomFieldParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Field{}, errNotFound
	}
	if err != nil {
		return Field{}, fmt.Errorf("get custom field %s: %w", id, err)
	}
	return fromRow(row), nil
}

// Update changes a definition's label, choices or closing rule. Its key and type never
// change; a choice some contact holds cannot be removed. The definition is locked while this
// runs, and contact writes read definitions FOR SHARE, so no contact takes a removed choice
// meanwhile.
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, in Input) (Field, error) {
	var out Field
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.GetCustomFieldForUpdate(ctx, tx, store.GetCustomFieldForUpdateParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("lock custom field %s: %w", id, err)
		}
		f := fromRow(row)
		old := f.Choices
		if errs := apply(&f, in); len(errs) > 0 {
			return fault.Invalid("invalid custom field", errs...)
		}
		var removed []string
		for _, c := range old {
			if !slices.Contains(f.Choices, c) {
				removed = append(removed, c)
			}
		}
		if len(removed) > 0 {
			used, err := s.q.ChoicesInUse(ctx, tx, store.ChoicesInUseParams{AccountID: accountID, Key: f.Key, Choices: removed})
			if err != nil {
				return fmt.Errorf("check choices in use: %w", err)
			}
			if len(used) > 0 {
				return fault.Conflict("choices some contacts hold cannot be removed",
					fault.FieldError{Field: "choices", Message: fmt.Sprintf("in use: %v", used)})
			}
		}
		upd, err := s.q.UpdateCustomField(ctx, tx, store.UpdateCustomFieldParams{
			AccountID: accountID, ID: id, Label: f.Label, Choices: f.Choices, OnClose: f.OnClose, Now: s.clock.Now(),
		})
		if err != nil {
			return fmt.Errorf("update custom field %s: %w", id, err)
		}
		out = fromRow(upd)
		return nil
	})
	return out, err
}

// Delete removes a definition and its values from every contact.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		key, err := s.q.DeleteCustomField(ctx, tx, store.DeleteCustomFieldParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("delete custom field %s: %w", id, err)
		}
		segs, err := s.q.SegmentsUsingField(ctx, tx, store.SegmentsUsingFieldParams{AccountID: accountID, Key: key})
		if err != nil {
			return fmt.Errorf("find segments using %q: %w", key, err)
		}
		if len(segs) > 0 {
			return fault.Conflict(fmt.Sprintf("the field cannot be deleted while segments use it: %s", strings.Join(segs, ", ")))
		}
		if _, err := s.q.RemoveCustomValues(ctx, tx, store.RemoveCustomValuesParams{AccountID: accountID, Key: key, Now: s.clock.Now()}); err != nil {
			return fmt.Errorf("remove values of %q: %w", key, err)
		}
		return nil
	})
}

// CheckValues checks values (decoded JSON, by field key) against the definitions and returns
// them normalised (numbers as float64, dates as YYYY-MM-DD, text trimmed), or the problems,
// one per bad key, located under field (e.g. "custom_fields").
func CheckValues(defs []Field, values map[string]any, field string) (map[string]any, []fault.FieldError) {
	out := make(map[string]any, len(values))
	var errs []fault.FieldError
	bad := func(key, msg string, v any) {
		errs = append(errs, fault.FieldError{Field: field + "." + key, Message: msg, Value: v})
	}
	for key, v := range values {
		i := slices.IndexFunc(defs, func(d Field) bool { return d.Key == key })
		if i < 0 {
			bad(key, "no custom field has this key", v)
			continue
		}
		d := defs[i]
		switch d.Type {
		case Text:
			s, ok := v.(string)
			if s = strings.TrimSpace(s); !ok || utf8.RuneCountInString(s) > MaxTextLength || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				bad(key, fmt.Sprintf("must be text of at most %d characters", MaxTextLength), v)
				continue
			}
			out[key] = s
		case Number:
			n, ok := v.(float64)
			if !ok || math.IsNaN(n) || math.IsInf(n, 0) {
				bad(key, "must be a number", v)
				continue
			}
			out[key] = n
		case Date:
			s, _ := v.(string)
			t, err := time.Parse(time.DateOnly, s)
			if err != nil {
				bad(key, "must be a date like 2026-12-31", v)
				continue
			}
			out[key] = t.Format(time.DateOnly)
		case Boolean:
			b, ok := v.(bool)
			if !ok {
				bad(key, "must be true or false", v)
				continue
			}
			out[key] = b
		case Choice:
			s, ok := v.(string)
			if !ok || !slices.Contains(d.Choices, s) {
				bad(key, fmt.Sprintf("must be one of %v", d.Choices), v)
				continue
			}
			out[key] = s
		case ImageURL:
			s, _ := v.(string)
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(s) > 2000 {
				bad(key, "must be an http(s) URL", v)
				continue
			}
			out[key] = s
		}
	}
	return out, errs
}

func fromRow(r store.CustomField) Field {
	return Field{ID: r.ID, Key: r.Key, Label: r.Label, Type: Type(r.Type), Choices: r.Choices, OnClose: r.OnClose,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}
