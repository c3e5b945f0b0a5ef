// Package tag keeps an account's tag catalogue: the names contacts are labelled with, their
// colour, and whether only automations apply them. Contacts carry tags by name; this package
// keeps the two in step (a rename or a delete rewrites the contacts that carry the tag) and
// tags or untags many contacts in one statement.
package tag

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

// Limits.
const (
	MaxNameLength = 50
	// MaxBulk is the most contacts one Apply or Remove call changes.
	MaxBulk = 10_000
)

// Tag is an entry of the catalogue.
type Tag struct {
	ID             uuid.UUID
	Name           string
	Color          string
	AutomationOnly bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Input creates a tag; in an update, nil fields are kept.
type Input struct {
	Name           *string
	Color          *string
	AutomationOnly *bool
}

// Service manages the catalogue, scoped to one account.
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
	colorRE     = regexp.MustCompile(`^#[0-9a-f]{6}$`)
	errNotFound = fault.NotFound("tag")
	errTaken    = fault.Conflict("a tag with this name exists", fault.FieldError{Field: "name", Message: "already in use (names are compared ignoring case)"})
)

// palette gives tags created without a colour one picked from their name, so a name always
// gets the same colour.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"}

func defaultColor(name string) string {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(name)))
	return palette[h.Sum32()%uint32(len(palette))]
}

// CleanName trims a tag name and checks it: 1 to 50 printable characters.
func CleanName(name string) (string, bool) {
	name = strings.TrimSpace(name)
	ok := name != "" && utf8.RuneCountInString(name) <= MaxNameLength && strings.IndexFunc(name, unicode.IsControl) < 0
	return name, ok
}

// Create adds a tag. A name already in the catalogue, in any case, is a conflict.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, in Input) (Tag, error) {
	if in.Name == nil {
		return Tag{}, fault.Invalid("invalid tag", fault.FieldError{Field: "name", Message: "is required"})
	}
	t := Tag{Name: *in.Name}
	if err := apply(&t, in); err != nil {
		return Tag{}, err
	}
	row, err := s.q.CreateTag(ctx, s.pool, store.CreateTagParams{
		AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Name: t.Name, Color: t.Color, AutomationOnly: t.AutomationOnly, Now: s.clock.Now(),
	})
	if _, ok := pgdb.UniqueViolation(err); ok {
		return Tag{}, errTaken
	}
	if err != nil {
		return Tag{}, fmt.Errorf("create tag %q: %w", t.Name, err)
	}
	return fromRow(row), nil
}

// apply validates in and writes it over t.
func apply(t *Tag, in Input) error {
	var errs []fault.FieldError
	if in.Name != nil {
		name, ok := CleanName(*in.Name)
		if !ok {
			errs = append(errs, fault.FieldError{Field: "name", Message: fmt.Sprintf("must have 1 to %d printable characters", MaxNameLength), Value: *in.Name})
		}
		t.Name = name
	}
	if in.Color != nil {
		c := strings.ToLower(strings.TrimSpace(*in.Color))
		if !colorRE.MatchString(c) {
			errs = append(errs, fault.FieldError{Field: "color", Message: "must be a colour like #1a2b3c", Value: *in.Color})
		}
		t.Color = c
	}
	if t.Color == "" {
		t.Color = defaultColor(t.Name)
	}
	if in.AutomationOnly != nil {
		t.AutomationOnly = *in.AutomationOnly
	}
	if len(errs) > 0 {
		return fault.Invalid("invalid tag", errs...)
	}
	return nil
}

// Get returns one tag.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Tag, error) {
	row, err := s.q.GetTag(ctx, s.pool, store.GetTagParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Tag{}, errNotFound
	}
	if err != nil {
		return Tag{}, fmt.Errorf("get tag %s: %w", id, err)
	}
	return fromRow(row), nil
}

// List pages through the catalogue. manualOnly hides automation-only tags, for the lists an
// agent tags contacts from; prefix matches the start of the name, ignoring case.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, manualOnly bool, prefix string, after *uuid.UUID, limit int) ([]Tag, error) {
	p := store.ListTagsParams{AccountID: accountID, After: after, ManualOnly: manualOnly, MaxRows: int32(limit)}
	if prefix = strings.TrimSpace(prefix); prefix != "" {
		esc := pgdb.EscapeLike(prefix)
		p.Prefix = &esc
	}
	rows, err := s.q.ListTags(ctx, s.pool, p)
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	out := make([]Tag, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Update changes a tag. A rename rewrites, in the same transaction, every contact that carries
// the old name.
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, in Input) (Tag, error) {
	var out Tag
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.GetTagForUpdate(ctx, tx, store.GetTagForUpdateParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("lock tag %s: %w", id, err)
		}
		t := fromRow(row)
		if err := apply(&t, in); err != nil {
			return err
		}
		if t.Name != row.Name {
			if err := s.notUsedBySegments(ctx, tx, accountID, row.Name, "renamed"); err != nil {
				return err
			}
		}
		now := s.clock.Now()
		upd, err := s.q.UpdateTag(ctx, tx, store.UpdateTagParams{AccountID: accountID, ID: id, Name: t.Name, Color: t.Color, AutomationOnly: t.AutomationOnly, Now: now})
		if _, ok := pgdb.UniqueViolation(err); ok {
			return errTaken
		}
		if err != nil {
			return fmt.Errorf("update tag %s: %w", id, err)
		}
		if upd.Name != row.Name {
			if _, err := s.q.RenameTagOnContacts(ctx, tx, store.RenameTagOnContactsParams{AccountID: accountID, OldName: row.Name, NewName: upd.Name, Now: now}); err != nil {
				return fmt.Errorf("rename tag on contacts: %w", err)
			}
		}
		out = fromRow(upd)
		return nil
	})
	return out, err
}

// Delete removes a tag from the catalogue and from every contact that carries it.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		name, err := s.q.DeleteTag(ctx, tx, store.DeleteTagParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("delete tag %s: %w", id, err)
		}
		if err := s.notUsedBySegments(ctx, tx, accountID, name, "deleted"); err != nil {
			return err
		}
		if _, err := s.q.RemoveTagEverywhere(ctx, tx, store.RemoveTagEverywhereParams{AccountID: accountID, Name: name, Now: s.clock.Now()}); err != nil {
			return fmt.Errorf("remove tag from contacts: %w", err)
		}
		return nil
	})
}

// notUsedBySegments refuses to rename or delete a tag that segments select by or apply: they
// name tags, and would silently stop matching (or bring a deleted tag back).
func (s *Service) notUsedBySegments(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, name, what string) error {
	segs, err := s.q.SegmentsUsingTag(ctx, tx, store.SegmentsUsingTagParams{AccountID: accountID, Tag: name})
	if err != nil {
		return fmt.Errorf("find segments using %q: %w", name, err)
	}
	if len(segs) > 0 {
		return fault.Conflict(fmt.Sprintf("the tag cannot be %s while segments use it: %s", what, strings.Join(segs, ", ")))
	}
	return nil
}

// Apply tags the given contacts (of the account; other ids are ignored) and returns how many
// changed; contacts that already had the tag are left alone.
func (s *Service) Apply(ctx context.Context, accountID, id uuid.UUID, contactIDs []uuid.UUID) (int64, error) {
	return s.bulk(ctx, accountID, id, contactIDs, true)
}

// Remove untags the given contacts and returns how many changed.
func (s *Service) Remove(ctx context.Context, accountID, id uuid.UUID, contactIDs []uuid.UUID) (int64, error) {
	return s.bulk(ctx, accountID, id, contactIDs, false)
}

func (s *Service) bulk(ctx context.Context, accountID, id uuid.UUID, contactIDs []uuid.UUID, add bool) (int64, error) {
	if len(contactIDs) == 0 || len(contactIDs) > MaxBulk {
		return 0, fault.Invalid("invalid contact list", fault.FieldError{Field: "contact_ids", Message: fmt.Sprintf("give 1 to %d contact ids", MaxBulk)})
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// FOR SHARE: a rename or delete waits until these contacts carry the name it will see.
		row, err := s.q.GetTagForShare(ctx, tx, store.GetTagForShareParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("read tag %s: %w", id, err)
		}
		now := s.clock.Now()
		if add {
			n, err = s.q.AddTagToContacts(ctx, tx, store.AddTagToContactsParams{AccountID: accountID, Ids: contactIDs, Name: row.Name, Now: now})
		} else {
			n, err = s.q.RemoveTagFromContacts(ctx, tx, store.RemoveTagFromContactsParams{AccountID: accountID, Ids: contactIDs, Name: row.Name, Now: now})
		}
		if err != nil {
			return fmt.Errorf("tag contacts with %q: %w", row.Name, err)
		}
		return nil
	})
	return n, err
}

// Resolve returns names spelt as the catalogue spells them, adding the ones it lacks (with a
// default colour), so a contact's tags always name catalogue entries. names must already be
// cleaned and free of duplicates.
func Resolve(ctx context.Context, db store.DBTX, accountID uuid.UUID, names []string, now time.Time) ([]string, error) {
	if len(names) == 0 {
		return names, nil
	}
	q := store.New()
	ids := make([]uuid.UUID, len(names))
	colors := make([]string, len(names))
	lower := make([]string, len(names))
	for i, n := range names {
		ids[i], colors[i], lower[i] = uuid.Must(uuid.NewV7()), defaultColor(n), strings.ToLower(n)
	}
	if err := q.EnsureTags(ctx, db, store.EnsureTagsParams{AccountID: accountID, Now: now, Ids: ids, Names: names, Colors: colors}); err != nil {
		return nil, fmt.Errorf("add tags to the catalogue: %w", err)
	}
	canonical, err := q.CanonicalTagNames(ctx, db, store.CanonicalTagNamesParams{AccountID: accountID, LowerNames: lower})
	if err != nil {
		return nil, fmt.Errorf("read tag names: %w", err)
	}
	out := make([]string, 0, len(names))
	for _, n := range names {
		spelt := n // kept as given if the database folds case differently from Go
		for _, c := range canonical {
			if strings.EqualFold(c, n) {
				spelt = c
				break
			}
		}
		if !slices.Contains(out, spelt) {
			out = append(out, spelt)
		}
	}
	return out, nil
}

func fromRow(r store.Tag) Tag {
	return Tag{ID: r.ID, Name: r.Name, Color: r.Color, AutomationOnly: r.AutomationOnly, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}
