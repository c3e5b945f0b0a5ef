package consent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
)

// Service records and reads consent. Every method is scoped to one account.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
}

// NewService returns a Service on pool.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk}
}

var errNoContact = fault.NotFound("contact")

// Record appends a grant, revocation or pending double opt-in to the contact's chain and
// updates the current state, in one transaction. Grants need a purpose and the text shown;
// methods that are not consent are refused.
func (s *Service) Record(ctx context.Context, accountID, contactID uuid.UUID, e Entry, by Recorder) (Record, error) {
	return s.record(ctx, s.pool, accountID, contactID, e, by)
}

// RecordTx is Record inside the caller's transaction (an import, the inbound pipeline, an
// idempotent call).
func (s *Service) RecordTx(ctx context.Context, tx pgx.Tx, accountID, contactID uuid.UUID, e Entry, by Recorder) (Record, error) {
	return s.record(ctx, tx, accountID, contactID, e, by)
}

func (s *Service) record(ctx context.Context, db store.DBTX, accountID, contactID uuid.UUID, e Entry, by Recorder) (Record, error) {
	if e.Confirms != nil {
		return Record{}, fault.Invalid("invalid consent record", fault.FieldError{Field: "confirms", Message: "confirm a pending record with Confirm"})
	}
	now := s.now()
	e, explicit, err := normalize(e, now)
	if err != nil {
		return Record{}, err
	}
	return s.append(ctx, db, accountID, contactID, e, explicit, by, now)
}

// Confirm turns a pending double opt-in into a grant with its own evidence (when and from
// where the contact confirmed). The grant covers what the pending record asked for.
func (s *Service) Confirm(ctx context.Context, accountID, contactID, pendingID uuid.UUID, evidence Entry, by Recorder) (Record, error) {
	var rec Record
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		rec, err = s.ConfirmTx(ctx, tx, accountID, contactID, pendingID, evidence, by)
		return err
	})
	return rec, err
}

// ConfirmTx is Confirm inside the caller's transaction.
func (s *Service) ConfirmTx(ctx context.Context, tx pgx.Tx, accountID, contactID, pendingID uuid.UUID, evidence Entry, by Recorder) (Record, error) {
	if err := s.lock(ctx, tx, accountID, contactID); err != nil {
		return Record{}, err
	}
	row, err := s.q.GetConsentRecord(ctx, tx, store.GetConsentRecordParams{AccountID: accountID, ID: pendingID})
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && row.ContactID != contactID) {
		return Record{}, fault.NotFound("consent record")
	}
	if err != nil {
		return Record{}, fmt.Errorf("read pending record %s: %w", pendingID, err)
	}
	if Action(row.Action) != Pending {
		return Record{}, fault.Conflict("only a pending double opt-in can be confirmed")
	}
	done, err := s.q.IsConfirmed(ctx, tx, store.IsConfirmedParams{AccountID: accountID, ContactID: contactID, PendingID: pendingID})
	if err != nil {
		return Record{}, fmt.Errorf("check confirmation of %s: %w", pendingID, err)
	}
	if done {
		return Record{}, fault.Conflict("this double opt-in is already confirmed")
	}
	pending := fromRow(row)
	e := evidence
	e.Action, e.Method = Grant, DoubleOptIn
	e.Purposes, e.Channels, e.AllChannels = pending.Purposes, pending.Channels, pending.AllChannels
	if e.Text == "" {
		e.Text = pending.Text
	}
	now := s.now()
	e, explicit, err := normalize(e, now)
	if err != nil {
		return Record{}, err
	}
	e.Confirms = &pendingID
	return s.append(ctx, tx, accountID, contactID, e, explicit, by, now)
}

// lock takes the contact's chain lock (the one append_consent takes) for the rest of the
// transaction, for checks that must not race with an append.
func (s *Service) lock(ctx context.Context, tx pgx.Tx, accountID, contactID uuid.UUID) error {
	found, err := s.q.LockContactChain(ctx, tx, store.LockContactChainParams{AccountID: accountID, ContactID: contactID})
	if err != nil {
		return fmt.Errorf("lock consent chain of %s: %w", contactID, err)
	}
	if !found {
		return errNoContact
	}
	return nil
}

// append stores a normalised entry in one round trip: the database locks the chain, reads its
// tip, seals the record with the digest computed here, and updates the projection.
func (s *Service) append(ctx context.Context, db store.DBTX, accountID, contactID uuid.UUID, e Entry, explicit bool, by Recorder, now time.Time) (Record, error) {
	rec := Record{
		AccountID: accountID, ID: uuid.Must(uuid.NewV7()), ContactID: contactID,
		Action: e.Action, Purposes: e.Purposes, Channels: e.Channels, AllChannels: e.AllChannels, Explicit: explicit,
		Method: e.Method, OccurredAt: e.OccurredAt, RecordedAt: now, Text: e.Text, IP: e.IP, UserAgent: e.UserAgent,
		Source: e.Source, TermsVersion: e.TermsVersion, IdentifierKind: e.IdentifierKind, Identifier: e.Identifier,
		Recorder: by, Confirms: e.Confirms,
	}
	sealed, err := s.q.AppendConsent(ctx, db, store.AppendConsentParams{
		AccountID: rec.AccountID, ID: rec.ID, ContactID: rec.ContactID,
		Action: string(rec.Action), Purposes: strs(rec.Purposes), Channels: strs(rec.Channels), AllChannels: rec.AllChannels,
		Explicit: rec.Explicit, Method: string(rec.Method), OccurredAt: rec.OccurredAt, RecordedAt: rec.RecordedAt,
		TextShown: opt(rec.Text), Ip: opt(rec.IP), UserAgent: opt(rec.UserAgent), Source: opt(rec.Source),
		TermsVersion: opt(rec.TermsVersion), IdentifierKind: opt(rec.IdentifierKind), Identifier: opt(rec.Identifier),
		RecorderKind: by.Kind, RecorderID: by.ID, Confirms: rec.Confirms, Digest: contentDigest(rec), Scope: strs(rec.scope()),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Record{}, errNoContact
	}
	if err != nil {
		return Record{}, fmt.Errorf("append consent record for %s: %w", contactID, err)
	}
	rec.Seq, rec.PrevHash, rec.Hash = int(sealed.Seq), sealed.PrevHash, sealed.Hash
	return rec, nil
}

// Allowed answers the gate for one contact: does it have consent in force for purpose on
// channel (explicit consent only, when explicitOnly)? A pair never recorded is no consent.
func (s *Service) Allowed(ctx context.Context, db store.DBTX, accountID, contactID uuid.UUID, purpose Purpose, ch channel.Type, explicitOnly bool) (bool, error) {
	st, err := s.q.ConsentStatus(ctx, db, store.ConsentStatusParams{AccountID: accountID, ContactID: contactID, Purpose: string(purpose), Channel: string(ch)})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read consent of %s: %w", contactID, err)
	}
	return Status(st.Status) == Granted && (st.Explicit || !explicitOnly), nil
}

// CountGranted counts the account's contacts with consent in force for purpose on channel.
func (s *Service) CountGranted(ctx context.Context, accountID uuid.UUID, purpose Purpose, ch channel.Type, explicitOnly bool) (int64, error) {
	n, err := s.q.CountGranted(ctx, s.pool, store.CountGrantedParams{AccountID: accountID, Purpose: string(purpose), Channel: string(ch), ExplicitOnly: explicitOnly})
	if err != nil {
		return 0, fmt.Errorf("count consents: %w", err)
	}
	return n, nil
}

// History returns a page of the contact's records in chain order, after sequence afterSeq.
// A deleted contact's records stay readable: they are proof.
func (s *Service) History(ctx context.Context, accountID, contactID uuid.UUID, afterSeq, limit int) ([]Record, error) {
	rows, err := s.q.ListContactConsents(ctx, s.pool, store.ListContactConsentsParams{
		AccountID: accountID, ContactID: contactID, AfterSeq: int32(afterSeq), MaxRows: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list consents of %s: %w", contactID, err)
	}
	if len(rows) == 0 && afterSeq == 0 {
		if err := s.mustExist(ctx, accountID, contactID); err != nil {
			return nil, err
		}
	}
	out := make([]Record, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

func (s *Service) mustExist(ctx context.Context, accountID, contactID uuid.UUID) error {
	_, err := s.q.GetContact(ctx, s.pool, store.GetContactParams{AccountID: accountID, ID: contactID})
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoContact
	}
	if err != nil {
		return fmt.Errorf("find contact %s: %w", contactID, err)
	}
	return nil
}

// StateEntry is one row of a contact's current state.
type StateEntry struct {
	Key
	State
	UpdatedAt time.Time
}

// CurrentState returns the contact's consent in force, per purpose and channel.
func (s *Service) CurrentState(ctx context.Context, accountID, contactID uuid.UUID) ([]StateEntry, error) {
	if err := s.mustExist(ctx, accountID, contactID); err != nil {
		return nil, err
	}
	rows, err := s.q.ContactConsentState(ctx, s.pool, store.ContactConsentStateParams{AccountID: accountID, ContactID: contactID})
	if err != nil {
		return nil, fmt.Errorf("read consent state of %s: %w", contactID, err)
	}
	out := make([]StateEntry, len(rows))
	for i, r := range rows {
		out[i] = StateEntry{
			Key:       Key{Purpose(r.Purpose), channel.Type(r.Channel)},
			State:     State{Status: Status(r.Status), Explicit: r.Explicit, RecordID: r.RecordID},
			UpdatedAt: r.UpdatedAt.UTC(),
		}
	}
	return out, nil
}

// SearchFilter narrows a search of the account's records. Zero fields do not filter.
type SearchFilter struct {
	ContactID *uuid.UUID
	From      *time.Time
	Until     *time.Time
	Purpose   Purpose
	Channel   channel.Type
	Method    Method
	Action    Action
	After     *uuid.UUID
	Limit     int
}

// Search lists the account's records, oldest first.
func (s *Service) Search(ctx context.Context, accountID uuid.UUID, f SearchFilter) ([]Record, error) {
	p := store.SearchConsentsParams{AccountID: accountID, After: f.After, ContactID: f.ContactID, From: f.From, Until: f.Until, MaxRows: int32(f.Limit)}
	p.Purpose, p.Channel, p.Method, p.Action = opt(string(f.Purpose)), opt(string(f.Channel)), opt(string(f.Method)), opt(string(f.Action))
	rows, err := s.q.SearchConsents(ctx, s.pool, p)
	if err != nil {
		return nil, fmt.Errorf("search consents: %w", err)
	}
	out := make([]Record, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Problem is the first record where a chain does not hold.
type Problem struct {
	RecordID  uuid.UUID
	ContactID uuid.UUID
	Seq       int
	Reason    string
}

// Verification is the result of walking chains.
type Verification struct {
	Records  int64
	Contacts int64
	// Problem is nil when every chain holds.
	Problem *Problem
}

// verifyPage is how many records Verify reads at a time.
const verifyPage = 5000

// Verify walks every chain of the account, in constant memory, recomputing each record's hash
// and its link to the previous record, and stops at the first record that does not match: a
// record changed, removed or inserted by someone with database access.
func (s *Service) Verify(ctx context.Context, accountID uuid.UUID) (Verification, error) {
	var (
		v        Verification
		prev     *Record
		after    = store.ChainPageParams{AccountID: accountID, MaxRows: verifyPage}
		lastSeen uuid.UUID
	)
	for {
		rows, err := s.q.ChainPage(ctx, s.pool, after)
		if err != nil {
			return v, fmt.Errorf("read consent chain page: %w", err)
		}
		for _, row := range rows {
			r := fromRow(row)
			if r.ContactID != lastSeen {
				v.Contacts++
				lastSeen, prev = r.ContactID, nil
			}
			v.Records++
			if p := checkLink(prev, r); p != nil {
				v.Problem = p
				return v, nil
			}
			prev = &r
		}
		if len(rows) < verifyPage {
			return v, nil
		}
		last := rows[len(rows)-1]
		after.AfterContact, after.AfterSeq = last.ContactID, last.Seq
	}
}

// VerifyChain checks one contact's complete history, in chain order.
func VerifyChain(history []Record) *Problem {
	var prev *Record
	for i := range history {
		if p := checkLink(prev, history[i]); p != nil {
			return p
		}
		prev = &history[i]
	}
	return nil
}

// checkLink checks r against its predecessor in the same chain (nil for the first record).
func checkLink(prev *Record, r Record) *Problem {
	bad := func(reason string) *Problem {
		return &Problem{RecordID: r.ID, ContactID: r.ContactID, Seq: r.Seq, Reason: reason}
	}
	switch {
	case prev == nil && r.Seq != 1:
		return bad(fmt.Sprintf("the chain starts at record %d: earlier records are missing", r.Seq))
	case prev != nil && r.Seq != prev.Seq+1:
		return bad(fmt.Sprintf("record %d follows record %d: records are missing", r.Seq, prev.Seq))
	case prev == nil && r.PrevHash != nil:
		return bad("the first record points at a previous one")
	case prev != nil && !bytes.Equal(r.PrevHash, prev.Hash):
		return bad("the link to the previous record does not match its hash: the previous record was altered or replaced")
	case !bytes.Equal(computeHash(r), r.Hash):
		return bad("the record's content does not match its hash: it was altered")
	}
	return nil
}

// LogAccess records that by read consent records (operation, the contact when there is one,
// and what was asked).
func (s *Service) LogAccess(ctx context.Context, accountID uuid.UUID, by Recorder, operation string, contactID *uuid.UUID, detail string) error {
	err := s.q.LogConsentAccess(ctx, s.pool, store.LogConsentAccessParams{
		AccountID: accountID, ID: uuid.Must(uuid.NewV7()), At: s.now(), PrincipalKind: by.Kind, PrincipalID: by.ID,
		Operation: operation, ContactID: contactID, Detail: detail,
	})
	if err != nil {
		return fmt.Errorf("log consent access: %w", err)
	}
	return nil
}

// Access is one logged read of consent records.
type Access struct {
	ID        uuid.UUID
	At        time.Time
	By        Recorder
	Operation string
	ContactID *uuid.UUID
	Detail    string
}

// AccessLog pages through the log of reads, oldest first.
func (s *Service) AccessLog(ctx context.Context, accountID uuid.UUID, contactID, after *uuid.UUID, limit int) ([]Access, error) {
	rows, err := s.q.ListConsentAccess(ctx, s.pool, store.ListConsentAccessParams{AccountID: accountID, ContactID: contactID, After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list consent access: %w", err)
	}
	out := make([]Access, len(rows))
	for i, r := range rows {
		out[i] = Access{ID: r.ID, At: r.At.UTC(), By: Recorder{Kind: r.PrincipalKind, ID: r.PrincipalID}, Operation: r.Operation, ContactID: r.ContactID, Detail: r.Detail}
	}
	return out, nil
}

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

func fromRow(r store.ConsentRecord) Record {
	out := Record{
		AccountID: r.AccountID, ID: r.ID, ContactID: r.ContactID, Seq: int(r.Seq), Action: Action(r.Action),
		Purposes: make([]Purpose, len(r.Purposes)), Channels: make([]channel.Type, len(r.Channels)), AllChannels: r.AllChannels,
		Explicit: r.Explicit, Method: Method(r.Method), OccurredAt: r.OccurredAt.UTC(), RecordedAt: r.RecordedAt.UTC(),
		Text: val(r.TextShown), IP: val(r.Ip), UserAgent: val(r.UserAgent), Source: val(r.Source), TermsVersion: val(r.TermsVersion),
		IdentifierKind: val(r.IdentifierKind), Identifier: val(r.Identifier), Recorder: Recorder{Kind: r.RecorderKind, ID: r.RecorderID},
		Confirms: r.Confirms, PrevHash: r.PrevHash, Hash: r.Hash,
	}
	for i, p := range r.Purposes {
		out.Purposes[i] = Purpose(p)
	}
	for i, c := range r.Channels {
		out.Channels[i] = channel.Type(c)
	}
	return out
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}

func opt(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func val(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
