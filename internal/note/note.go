// Package note keeps the observations users write on a contact: a text, an optional due date
// (a follow-up), and optionally the user it is forwarded to.
package note

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

// MaxLength is the longest note.
const MaxLength = 5000

// Note is an observation on a contact.
type Note struct {
	ID            uuid.UUID
	ContactID     uuid.UUID
	AuthorID      uuid.UUID
	Body          string
	DueAt         *time.Time
	ForwardedToID *uuid.UUID
	CreatedAt     time.Time
}

// Input is a new note.
type Input struct {
	Body          string
	DueAt         *time.Time
	ForwardedToID *uuid.UUID
}

// Service writes and reads notes, scoped to one account.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk}
}

// Create stores a note by author on the contact. The author and the user it is forwarded to
// must belong to the account; the contact too (else not found).
func (s *Service) Create(ctx context.Context, accountID, contactID, authorID uuid.UUID, in Input) (Note, error) {
	body := strings.TrimSpace(in.Body)
	var errs []fault.FieldError
	if body == "" || utf8.RuneCountInString(body) > MaxLength {
		errs = append(errs, fault.FieldError{Field: "body", Message: fmt.Sprintf("must have 1 to %d characters", MaxLength)})
	}
	if in.DueAt != nil && in.DueAt.Year() < 2000 {
		errs = append(errs, fault.FieldError{Field: "due_at", Message: "must be after 2000", Value: in.DueAt})
	}
	if len(errs) > 0 {
		return Note{}, fault.Invalid("invalid note", errs...)
	}
	var due *time.Time
	if in.DueAt != nil {
		d := in.DueAt.UTC()
		due = &d
	}
	row, err := s.q.CreateNote(ctx, s.pool, store.CreateNoteParams{
		AccountID: accountID, ID: uuid.Must(uuid.NewV7()), ContactID: contactID, AuthorID: authorID, Body: body,
		DueAt: due, ForwardedToID: in.ForwardedToID, CreatedAt: s.clock.Now(),
	})
	if c, ok := pgdb.ForeignKeyViolation(err); ok {
		switch {
		case strings.Contains(c, "contact_id"):
			return Note{}, fault.NotFound("contact")
		case strings.Contains(c, "forwarded_to"):
			return Note{}, fault.Invalid("invalid note", fault.FieldError{Field: "forwarded_to_id", Message: "no such user in this account"})
		}
		return Note{}, fault.NotFound("user")
	}
	if err != nil {
		return Note{}, fmt.Errorf("create note on %s: %w", contactID, err)
	}
	return fromRow(row), nil
}

// List returns the contact's notes, newest first, older than the note before (nil: from the
// newest).
func (s *Service) List(ctx context.Context, accountID, contactID uuid.UUID, before *uuid.UUID, limit int) ([]Note, error) {
	rows, err := s.q.ListNotes(ctx, s.pool, store.ListNotesParams{AccountID: accountID, ContactID: contactID, Before: before, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list notes of %s: %w", contactID, err)
	}
	if len(rows) == 0 && before == nil {
		if _, err := s.q.GetContact(ctx, s.pool, store.GetContactParams{AccountID: accountID, ID: contactID}); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, fault.NotFound("contact")
			}
			return nil, fmt.Errorf("find contact %s: %w", contactID, err)
		}
	}
	out := make([]Note, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Delete removes a note. Only its author may, unless anyAuthor (an admin).
func (s *Service) Delete(ctx context.Context, accountID, contactID, noteID, by uuid.UUID, anyAuthor bool) error {
	n, err := s.q.DeleteNote(ctx, s.pool, store.DeleteNoteParams{AccountID: accountID, ContactID: contactID, ID: noteID, AuthorID: by, AnyAuthor: anyAuthor})
	if err != nil {
		return fmt.Errorf("delete note %s: %w", noteID, err)
	}
	if n == 0 {
		return fault.NotFound("note")
	}
	return nil
}

func fromRow(r store.ContactNote) Note {
	n := Note{ID: r.ID, ContactID: r.ContactID, AuthorID: r.AuthorID, Body: r.Body, ForwardedToID: r.ForwardedToID, CreatedAt: r.CreatedAt.UTC()}
	if r.DueAt != nil {
		d := r.DueAt.UTC()
		n.DueAt = &d
	}
	return n
}
