package contact

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/phone"
	"github.com/conversa-hq/conversa/internal/tag"
)

// Service reads and writes contacts. Every method is scoped to one account: another
// account's contact is reported as not found.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	// consent carries consent decisions over when contacts merge.
	consent *consent.Service
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk, consent: consent.NewService(pool, clk)}
}

var (
	errNotFound  = fault.NotFound("contact")
	errCodeTaken = fault.Conflict("customer code already used by another contact",
		fault.FieldError{Field: "customer_code", Message: "already used by another contact"})
)

// Create validates and stores a new contact, in one statement.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, f Fields) (Contact, error) {
	v, err := s.validate(ctx, s.pool, accountID, f)
	if err != nil {
		return Contact{}, err
	}
	c, err := s.insert(ctx, s.pool, accountID, v)
	return c, explain(err)
}

// CreateTx is Create inside the caller's transaction (an idempotent call stores its response
// in the same one).
func (s *Service) CreateTx(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, f Fields) (Contact, error) {
	v, err := s.validate(ctx, tx, accountID, f)
	if err != nil {
		return Contact{}, err
	}
	c, err := s.insert(ctx, tx, accountID, v)
	return c, explain(err)
}

func (s *Service) insert(ctx context.Context, db store.DBTX, accountID uuid.UUID, v valid) (Contact, error) {
	var err error
	if v.tags, err = tag.Resolve(ctx, db, accountID, v.tags, s.clock.Now()); err != nil {
		return Contact{}, err
	}
	row, err := s.q.CreateContactWithPhones(ctx, db, store.CreateContactWithPhonesParams{
		AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Name: v.name, Document: v.document,
		DocumentKind: v.documentKind, CustomerCode: v.customerCode, Email: v.email, BirthDate: v.birthDate,
		Rg: v.rg, ResponsibleUserID: v.responsibleUserID, DefaultAgentID: v.defaultAgentID, Tags: v.tags,
		Priority: v.priority, PriorityScore: v.priorityScore, Broadcast: v.broadcast, Now: s.clock.Now(),
		Phones: v.phones, Custom: customJSON(v.custom), CompanyID: v.companyID,
		Origin: string(v.origin), OriginChannelID: v.originChannelID,
	})
	if c, ok := pgdb.UniqueViolation(err); ok && c == "contact_phones_pkey" {
		// The statement failed whole; the caller's transaction, if any, is aborted, so the
		// owners are read from the pool.
		owners, err := s.q.FindPhoneOwners(ctx, s.pool, store.FindPhoneOwnersParams{AccountID: accountID, Phones: v.phones})
		if err != nil {
			return Contact{}, fmt.Errorf("find phone owners: %w", err)
		}
		return Contact{}, phoneConflict(owners, v.phones, uuid.Nil)
	}
	if err != nil {
		return Contact{}, fmt.Errorf("insert contact: %w", err)
	}
	return FromRow(store.Contact(row), v.phones), nil
}

// Get returns one contact.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Contact, error) {
	return s.GetIn(ctx, s.pool, accountID, id)
}

// GetIn is Get in the caller's transaction, which sees a contact it created and has not
// committed (a new chat creates the contact and renders a template for it at once).
func (s *Service) GetIn(ctx context.Context, db store.DBTX, accountID, id uuid.UUID) (Contact, error) {
	row, err := s.q.GetContact(ctx, db, store.GetContactParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Contact{}, errNotFound
	}
	if err != nil {
		return Contact{}, fmt.Errorf("get contact %s: %w", id, err)
	}
	return FromRow(row.Contact, row.Phones), nil
}

// GetByPhone finds the contact that owns a number, written in any form Normalize accepts; an
// old 8-digit Brazilian mobile finds the contact stored with the ninth digit.
func (s *Service) GetByPhone(ctx context.Context, accountID uuid.UUID, raw string) (Contact, error) {
	n, err := phone.Normalize(raw)
	if err != nil {
		return Contact{}, fault.Invalid("invalid phone", fault.FieldError{Field: "path.phone", Message: err.Error(), Value: raw})
	}
	id, err := s.q.GetContactIDByPhone(ctx, s.pool, store.GetContactIDByPhoneParams{AccountID: accountID, Phone: n.E164})
	if errors.Is(err, pgx.ErrNoRows) {
		return Contact{}, errNotFound
	}
	if err != nil {
		return Contact{}, fmt.Errorf("find contact by phone: %w", err)
	}
	return s.Get(ctx, accountID, id)
}

// List returns a page of contacts in id order (creation order: ids are UUIDv7).
func (s *Service) List(ctx context.Context, accountID uuid.UUID, f ListFilter) ([]Contact, error) {
	rows, err := s.q.ListContacts(ctx, s.pool, listParams(accountID, f))
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	out := make([]Contact, len(rows))
	for i, r := range rows {
		out[i] = FromRow(r.Contact, r.Phones)
	}
	return out, nil
}

// listParams turns a filter into ListContacts' parameters (Export reads the same).
func listParams(accountID uuid.UUID, f ListFilter) store.ListContactsParams {
	p := store.ListContactsParams{AccountID: accountID, After: f.After, Blocked: f.Blocked, MaxRows: int32(f.Limit)}
	if f.Tag != "" {
		p.Tag = &f.Tag
	}
	if f.Priority != "" {
		p.Priority = &f.Priority
	}
	if q := strings.TrimSpace(f.Q); q != "" {
		p.Q = &q
		like := pgdb.EscapeLike(q)
		p.QLike = &like
		if digits := onlyDigits(q); len(digits) >= 3 && !strings.ContainsFunc(q, unicode.IsLetter) {
			p.QDigits = &digits
			ph := phonePrefix(q, digits)
			p.QPhone = &ph
		}
	}
	return p
}

// Update applies a patch. ifVersion, when given, must be the contact's current version (the
// ETag), so two editors never overwrite each other unknowingly.
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, p Patch, ifVersion *int) (Contact, error) {
	var c Contact
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.GetContactForUpdate(ctx, tx, store.GetContactForUpdateParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("lock contact %s: %w", id, err)
		}
		if ifVersion != nil && *ifVersion != int(row.Version) {
			return fault.PreconditionFailed("the contact changed since it was read (If-Match does not match its ETag)")
		}
		phones, err := s.q.ListContactPhones(ctx, tx, store.ListContactPhonesParams{AccountID: accountID, ContactID: id})
		if err != nil {
			return fmt.Errorf("read phones of %s: %w", id, err)
		}
		f := FromRow(row, phones).fields()
		p.apply(&f)
		c, err = s.replace(ctx, tx, row, phones, f)
		return err
	})
	return c, explain(err)
}

// UpsertByCode creates or replaces the contact whose customer code is code, the way a CRM
// syncs: every writable field takes the given value. Sending the same fields again changes
// nothing (not even the version). created says whether the contact is new.
func (s *Service) UpsertByCode(ctx context.Context, accountID uuid.UUID, code string, f Fields) (c Contact, created bool, err error) {
	f.CustomerCode = &code
	for attempt := 0; ; attempt++ {
		var out Outcome
		err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			c, out, err = s.upsert(ctx, tx, accountID, ByCode, f)
			return err
		})
		// Two first syncs of the same new code race to insert; the loser updates instead.
		if attempt == 0 && (errors.Is(err, errCodeTaken) || isCodeViolation(err)) {
			continue
		}
		return c, out == Created, explain(err)
	}
}

// MatchKey says which identifier an upsert finds an existing contact by.
type MatchKey string

// The match keys.
const (
	ByCode  MatchKey = "customer_code"
	ByPhone MatchKey = "phone"
)

// Outcome is what an upsert did.
type Outcome string

// The outcomes.
const (
	Created   Outcome = "created"
	Updated   Outcome = "updated"
	Unchanged Outcome = "unchanged"
)

// MaxBatch is the most items a batch upsert takes.
const MaxBatch = 1000

// BatchResult is one item's answer: the contact and what happened to it, or why it failed.
type BatchResult struct {
	Contact Contact
	Outcome Outcome
	Err     error
}

// BatchTx upserts up to MaxBatch contacts inside the caller's transaction, each in its own
// savepoint, so a bad item is answered with its own fault and the others go on. Existing
// contacts are found by key (the customer code, or the first phone, with or without the
// Brazilian ninth digit) and replaced field by field, as UpsertByCode does. A database error
// that is not a fault aborts the whole batch.
func (s *Service) BatchTx(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, key MatchKey, items []Fields) ([]BatchResult, error) {
	if key != ByCode && key != ByPhone {
		return nil, fault.Invalid("invalid batch", fault.FieldError{Field: "key", Message: "must be customer_code or phone", Value: key})
	}
	if len(items) == 0 || len(items) > MaxBatch {
		return nil, fault.Invalid("invalid batch", fault.FieldError{Field: "items", Message: fmt.Sprintf("give 1 to %d items", MaxBatch)})
	}
	// The definitions are read once, FOR SHARE, for every item.
	defs, err := customfield.Load(ctx, tx, accountID)
	if err != nil {
		return nil, err
	}
	ctx = context.WithValue(ctx, defsKey{}, defs)
	// Items are applied in key order, so two batches touching the same contacts lock them in
	// the same order and cannot deadlock; answers keep the request's order.
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	sortKey := func(f Fields) string {
		if key == ByCode {
			return val(trimmed(f.CustomerCode))
		}
		if len(f.Phones) > 0 {
			if n, err := phone.Normalize(f.Phones[0]); err == nil {
				return n.E164
			}
		}
		return ""
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(sortKey(items[a]), sortKey(items[b])) })
	out := make([]BatchResult, len(items))
	for _, i := range order {
		f := items[i]
		sp, err := tx.Begin(ctx)
		if err != nil {
			return nil, fmt.Errorf("batch item %d: savepoint: %w", i, err)
		}
		c, outcome, err := s.upsert(ctx, sp, accountID, key, f)
		if err = explain(err); err != nil {
			if rbErr := sp.Rollback(ctx); rbErr != nil {
				return nil, fmt.Errorf("batch item %d: roll back: %w", i, rbErr)
			}
			if _, isFault := fault.As(err); !isFault {
				return nil, fmt.Errorf("batch item %d: %w", i, err)
			}
			out[i] = BatchResult{Err: err}
			continue
		}
		if err := sp.Commit(ctx); err != nil {
			return nil, fmt.Errorf("batch item %d: release savepoint: %w", i, err)
		}
		out[i] = BatchResult{Contact: c, Outcome: outcome}
	}
	return out, nil
}

// upsert finds the contact f names by key, locks it and replaces its fields, or creates it.
func (s *Service) upsert(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, key MatchKey, f Fields) (Contact, Outcome, error) {
	var (
		row store.Contact
		err error
	)
	switch key {
	case ByCode:
		code := trimmed(f.CustomerCode)
		if code == nil {
			return Contact{}, "", fault.Invalid("invalid contact", fault.FieldError{Field: "customer_code", Message: "is required to match by customer code"})
		}
		row, err = s.q.GetContactByCodeForUpdate(ctx, tx, store.GetContactByCodeForUpdateParams{AccountID: accountID, CustomerCode: code})
	case ByPhone:
		if len(f.Phones) == 0 {
			return Contact{}, "", fault.Invalid("invalid contact", fault.FieldError{Field: "phones", Message: "a phone is required to match by phone"})
		}
		n, perr := phone.Normalize(f.Phones[0])
		if perr != nil {
			return Contact{}, "", fault.Invalid("invalid contact", fault.FieldError{Field: "phones[0]", Message: perr.Error(), Value: f.Phones[0]})
		}
		var id uuid.UUID
		if id, err = s.q.GetContactIDByPhone(ctx, tx, store.GetContactIDByPhoneParams{AccountID: accountID, Phone: n.E164}); err == nil {
			row, err = s.q.GetContactForUpdate(ctx, tx, store.GetContactForUpdateParams{AccountID: accountID, ID: id})
		}
	}
	if errors.Is(err, pgx.ErrNoRows) {
		c, err := s.CreateTx(ctx, tx, accountID, f)
		return c, Created, err
	}
	if err != nil {
		return Contact{}, "", fmt.Errorf("find contact by %s: %w", key, err)
	}
	phones, err := s.q.ListContactPhones(ctx, tx, store.ListContactPhonesParams{AccountID: accountID, ContactID: row.ID})
	if err != nil {
		return Contact{}, "", fmt.Errorf("read phones of %s: %w", row.ID, err)
	}
	c, err := s.replace(ctx, tx, row, phones, f)
	if err != nil {
		return Contact{}, "", err
	}
	if c.Version == int(row.Version) {
		return c, Unchanged, nil
	}
	return c, Updated, nil
}

// replace validates f and writes it over the locked row, skipping the write when nothing
// changed.
func (s *Service) replace(ctx context.Context, tx pgx.Tx, row store.Contact, phones []string, f Fields) (Contact, error) {
	v, err := s.validate(ctx, tx, row.AccountID, f)
	if err != nil {
		return Contact{}, err
	}
	if v.tags, err = tag.Resolve(ctx, tx, row.AccountID, v.tags, s.clock.Now()); err != nil {
		return Contact{}, err
	}
	if unchanged(row, phones, v) {
		return FromRow(row, phones), nil
	}
	upd, err := s.q.UpdateContact(ctx, tx, store.UpdateContactParams{
		AccountID: row.AccountID, ID: row.ID, Name: v.name, Document: v.document, DocumentKind: v.documentKind,
		CustomerCode: v.customerCode, Email: v.email, BirthDate: v.birthDate, Rg: v.rg,
		ResponsibleUserID: v.responsibleUserID, DefaultAgentID: v.defaultAgentID, Tags: v.tags,
		Priority: v.priority, PriorityScore: v.priorityScore, Broadcast: v.broadcast, Now: s.clock.Now(),
		Custom: customJSON(v.custom), CompanyID: v.companyID,
	})
	if err != nil {
		return Contact{}, fmt.Errorf("update contact %s: %w", row.ID, err)
	}
	if !slices.Equal(phones, v.phones) {
		if err := s.q.DeleteContactPhones(ctx, tx, store.DeleteContactPhonesParams{AccountID: row.AccountID, ContactID: row.ID}); err != nil {
			return Contact{}, fmt.Errorf("replace phones of %s: %w", row.ID, err)
		}
		if err := s.insertPhones(ctx, tx, row.AccountID, row.ID, v.phones); err != nil {
			return Contact{}, err
		}
	}
	return FromRow(upd, v.phones), nil
}

// SetBlocked blocks or unblocks a contact. Doing it twice is harmless.
func (s *Service) SetBlocked(ctx context.Context, accountID, id uuid.UUID, blocked bool) (Contact, error) {
	var c Contact
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.SetContactBlocked(ctx, tx, store.SetContactBlockedParams{AccountID: accountID, ID: id, Blocked: blocked, Now: s.clock.Now()})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("block contact %s: %w", id, err)
		}
		phones, err := s.q.ListContactPhones(ctx, tx, store.ListContactPhonesParams{AccountID: accountID, ContactID: id})
		if err != nil {
			return fmt.Errorf("read phones of %s: %w", id, err)
		}
		c = FromRow(row, phones)
		return nil
	})
	return c, err
}

// Delete removes a contact and its phones. A blocked contact cannot be deleted: unblock it
// first, so a block is never lost by deleting and re-creating.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	res, err := s.q.DeleteContact(ctx, s.pool, store.DeleteContactParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return fmt.Errorf("delete contact %s: %w", id, err)
	}
	if !res.Deleted && res.Blocked {
		return fault.Conflict("a blocked contact cannot be deleted: unblock it first")
	}
	return nil
}

// insertPhones stores the contact's numbers. A number another contact owns is a conflict
// that names that contact; the check costs nothing when there is no clash.
func (s *Service) insertPhones(ctx context.Context, tx pgx.Tx, accountID, contactID uuid.UUID, phones []string) error {
	if len(phones) == 0 {
		return nil
	}
	stored, err := s.q.InsertContactPhones(ctx, tx, store.InsertContactPhonesParams{AccountID: accountID, ContactID: contactID, Phones: phones})
	if err != nil {
		return fmt.Errorf("insert phones: %w", err)
	}
	if len(stored) == len(phones) {
		return nil
	}
	owners, err := s.q.FindPhoneOwners(ctx, tx, store.FindPhoneOwnersParams{AccountID: accountID, Phones: phones})
	if err != nil {
		return fmt.Errorf("find phone owners: %w", err)
	}
	return phoneConflict(owners, phones, contactID)
}

// Erase anonymises a contact for good (LGPD right to deletion): every personal field is
// cleared, its phones released, its notes and static segment memberships deleted, but the row stays, because its consent records, which are
// legal proof, point at it. Erasing twice is harmless.
func (s *Service) Erase(ctx context.Context, accountID, id uuid.UUID) (Contact, error) {
	var c Contact
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row, err := s.q.EraseContact(ctx, tx, store.EraseContactParams{AccountID: accountID, ID: id, Now: s.clock.Now()})
		if errors.Is(err, pgx.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("erase contact %s: %w", id, err)
		}
		if err := s.q.DeleteContactPhones(ctx, tx, store.DeleteContactPhonesParams{AccountID: accountID, ContactID: id}); err != nil {
			return fmt.Errorf("erase phones of %s: %w", id, err)
		}
		// Notes are free text about the person; memberships say who the person was.
		if err := s.q.DeleteContactNotes(ctx, tx, store.DeleteContactNotesParams{AccountID: accountID, ContactID: id}); err != nil {
			return fmt.Errorf("erase notes of %s: %w", id, err)
		}
		if err := s.q.DeleteContactSegmentMemberships(ctx, tx, store.DeleteContactSegmentMembershipsParams{AccountID: accountID, ContactID: id}); err != nil {
			return fmt.Errorf("erase memberships of %s: %w", id, err)
		}
		c = FromRow(row, nil)
		return nil
	})
	return c, err
}

// phoneConflict names, for each number another contact owns, that contact.
func phoneConflict(owners []store.FindPhoneOwnersRow, phones []string, self uuid.UUID) error {
	var fields []fault.FieldError
	for _, o := range owners {
		if o.ContactID != self {
			fields = append(fields, fault.FieldError{
				Field: fmt.Sprintf("phones[%d]", slices.Index(phones, o.Phone)), Value: o.Phone,
				Message: fmt.Sprintf("belongs to contact %s", o.ContactID),
			})
		}
	}
	return fault.Conflict("phone already belongs to another contact", fields...)
}

func isCodeViolation(err error) bool {
	c, ok := pgdb.UniqueViolation(err)
	return ok && c == "contacts_customer_code_key"
}

// explain turns constraint violations into faults that name the field.
func explain(err error) error {
	if err == nil {
		return nil
	}
	if isCodeViolation(err) {
		return errCodeTaken
	}
	if c, ok := pgdb.ForeignKeyViolation(err); ok {
		switch {
		case strings.Contains(c, "company"):
			return fault.Invalid("invalid contact", fault.FieldError{Field: "company_id", Message: "no such company in this account"})
		case strings.Contains(c, "default_agent"):
			return fault.Invalid("invalid contact", fault.FieldError{Field: "default_agent_id", Message: "no such user in this account"})
		}
		return fault.Invalid("invalid contact", fault.FieldError{Field: "responsible_user_id", Message: "no such user in this account"})
	}
	return err
}

// validate checks f, loading the account's custom field definitions when f has custom values.
func (s *Service) validate(ctx context.Context, db store.DBTX, accountID uuid.UUID, f Fields) (valid, error) {
	defs, loaded := ctx.Value(defsKey{}).([]customfield.Field)
	if len(f.Custom) > 0 && !loaded {
		var err error
		if defs, err = customfield.Load(ctx, db, accountID); err != nil {
			return valid{}, err
		}
	}
	return validate(f, s.clock.Now(), defs)
}

// defsKey carries custom field definitions a batch loaded once for all its items.
type defsKey struct{}

func customJSON(m map[string]any) []byte {
	if len(m) == 0 {
		return []byte("{}")
	}
	b, _ := json.Marshal(m)
	return b
}

func decodeCustom(b []byte) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(b, &m)
	return m
}

func unchanged(r store.Contact, phones []string, v valid) bool {
	return reflect.DeepEqual(decodeCustom(r.Custom), decodeCustom(customJSON(v.custom))) && r.Name == v.name && eq(r.Document, v.document) && eq(r.DocumentKind, v.documentKind) &&
		eq(r.CustomerCode, v.customerCode) && eq(r.Email, v.email) && eqTime(r.BirthDate, v.birthDate) &&
		eq(r.Rg, v.rg) && eq(r.ResponsibleUserID, v.responsibleUserID) && eq(r.DefaultAgentID, v.defaultAgentID) && eq(r.CompanyID, v.companyID) &&
		slices.Equal(r.Tags, v.tags) && r.Priority == v.priority && eq(r.PriorityScore, v.priorityScore) &&
		r.Broadcast == v.broadcast && slices.Equal(phones, v.phones)
}

func eq[T comparable](a, b *T) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func eqTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

// FromRow is the contact of a stored row and its phones (in position order), for callers that
// read contacts in bulk with their own statement (a campaign slice).
func FromRow(r store.Contact, phones []string) Contact {
	c := Contact{
		AccountID: r.AccountID, ID: r.ID, Name: r.Name, Document: r.Document, DocumentKind: r.DocumentKind,
		CustomerCode: r.CustomerCode, Email: r.Email, BirthDate: r.BirthDate, RG: r.Rg,
		ResponsibleUserID: r.ResponsibleUserID, DefaultAgentID: r.DefaultAgentID, CompanyID: r.CompanyID, Tags: r.Tags,
		Priority: r.Priority, Blocked: r.Blocked, Broadcast: r.Broadcast, Version: int(r.Version), ErasedAt: r.ErasedAt,
		Origin: Origin(r.Origin), OriginChannelID: r.OriginChannelID,
		Custom:    decodeCustom(r.Custom),
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC(), Phones: make([]Phone, len(phones)),
	}
	if r.PriorityScore != nil {
		s := int(*r.PriorityScore)
		c.PriorityScore = &s
	}
	for i, p := range phones {
		c.Phones[i] = Phone{Number: p, Foreign: !strings.HasPrefix(p, "+55")}
	}
	return c
}

// val is s, or "" for none.
func val(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func onlyDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// phonePrefix reads the start of a number the way people type it: with + it is
// international, otherwise Brazilian (DDD first) unless it already starts with 55.
func phonePrefix(q, digits string) string {
	if strings.HasPrefix(strings.TrimSpace(q), "+") || strings.HasPrefix(digits, "55") {
		return "+" + digits
	}
	return "+55" + strings.TrimLeft(digits, "0")
}
