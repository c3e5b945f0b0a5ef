package contact

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
)

// EventMerged is emitted when a duplicate is merged into a survivor (the subject).
const EventMerged = "contact.merged"

// MergeResult is the survivor of a merge and what moved to it.
type MergeResult struct {
	Contact Contact
	// Consent are the records appended to the survivor's chain to carry over the merged
	// contact's decisions.
	Consent []consent.Record
	Notes   int64
	// Segments counts the static memberships the survivor gained.
	Segments int64
	Phones   int64
	// Conversations counts the duplicate's conversations that moved to the survivor, folded
	// into the survivor's own on the same channel or taken over whole.
	Conversations int64
	// Replayed is true when the duplicate had already been merged into this survivor: a
	// retried call answers as the first did, and nothing changes.
	Replayed bool
}

// Merge folds the duplicate contact dupID into keepID and deletes the duplicate, in one
// transaction: its phones, notes, static segment memberships and tags move to the survivor,
// its other fields fill the survivor's gaps (the survivor's values win), its consent
// decisions are carried over by consent.CarryOverTx, and the duplicate is kept whole as a
// snapshot in contact_merges. A block on either contact blocks the survivor. Merging again
// a duplicate already merged into the same survivor is harmless. Conversations will follow
// the survivor once the messaging pipeline exists.
func (s *Service) Merge(ctx context.Context, accountID, keepID, dupID uuid.UUID, by consent.Recorder) (MergeResult, error) {
	if keepID == dupID {
		return MergeResult{}, fault.Invalid("a contact cannot be merged into itself",
			fault.FieldError{Field: "contact_id", Message: "must differ from the contact in the path", Value: dupID.String()})
	}
	var res MergeResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		res, err = s.merge(ctx, tx, accountID, keepID, dupID, by)
		return err
	})
	return res, err
}

func (s *Service) merge(ctx context.Context, tx pgx.Tx, accountID, keepID, dupID uuid.UUID, by consent.Recorder) (MergeResult, error) {
	rows, err := s.q.LockContactsForMerge(ctx, tx, store.LockContactsForMergeParams{AccountID: accountID, Ids: []uuid.UUID{keepID, dupID}})
	if err != nil {
		return MergeResult{}, fmt.Errorf("lock contacts %s and %s: %w", keepID, dupID, err)
	}
	var keep, dup *store.Contact
	for i := range rows {
		switch rows[i].ID {
		case keepID:
			keep = &rows[i]
		case dupID:
			dup = &rows[i]
		}
	}
	switch {
	case keep == nil:
		return MergeResult{}, errNotFound
	case dup == nil:
		return s.mergedAlready(ctx, tx, accountID, keepID, dupID)
	case keep.ErasedAt != nil || dup.ErasedAt != nil:
		return MergeResult{}, fault.Conflict("an erased contact cannot be merged")
	}

	res := MergeResult{}
	if res.Consent, err = s.consent.CarryOverTx(ctx, tx, accountID, dupID, keepID, by); err != nil {
		return MergeResult{}, err
	}
	now := s.clock.Now()
	if err := s.q.RecordContactMerge(ctx, tx, store.RecordContactMergeParams{
		AccountID: accountID, MergedID: dupID, SurvivorID: keepID, Now: now, MergedBy: by.Kind + ":" + by.ID,
	}); err != nil {
		return MergeResult{}, fmt.Errorf("record merge of %s: %w", dupID, err)
	}
	ids := store.MoveContactNotesParams{AccountID: accountID, SurvivorID: keepID, MergedID: dupID}
	if res.Notes, err = s.q.MoveContactNotes(ctx, tx, ids); err != nil {
		return MergeResult{}, fmt.Errorf("move notes of %s: %w", dupID, err)
	}
	if res.Segments, err = s.q.CopySegmentMemberships(ctx, tx, store.CopySegmentMembershipsParams(ids)); err != nil {
		return MergeResult{}, fmt.Errorf("move memberships of %s: %w", dupID, err)
	}
	if res.Phones, err = s.q.MoveContactPhones(ctx, tx, store.MoveContactPhonesParams(ids)); err != nil {
		return MergeResult{}, fmt.Errorf("move phones of %s: %w", dupID, err)
	}
	if res.Conversations, err = s.moveConversations(ctx, tx, accountID, keepID, dupID, now); err != nil {
		return MergeResult{}, err
	}
	// The duplicate goes before the survivor takes its customer code (unique in the account).
	if err := s.q.DeleteMergedContact(ctx, tx, store.DeleteMergedContactParams{AccountID: accountID, MergedID: dupID}); err != nil {
		return MergeResult{}, fmt.Errorf("delete merged contact %s: %w", dupID, err)
	}
	row, err := s.q.MergeContactFields(ctx, tx, store.MergeContactFieldsParams{
		AccountID: accountID, SurvivorID: keepID, Document: dup.Document, DocumentKind: dup.DocumentKind,
		CustomerCode: dup.CustomerCode, Email: dup.Email, BirthDate: dup.BirthDate, Rg: dup.Rg,
		ResponsibleUserID: dup.ResponsibleUserID, DefaultAgentID: dup.DefaultAgentID, CompanyID: dup.CompanyID,
		OriginChannelID: dup.OriginChannelID, Tags: dup.Tags, Priority: dup.Priority, PriorityScore: dup.PriorityScore,
		Custom: dup.Custom, Blocked: dup.Blocked, Broadcast: dup.Broadcast, Now: now,
	})
	if err != nil {
		return MergeResult{}, fmt.Errorf("merge fields of %s into %s: %w", dupID, keepID, err)
	}
	phones, err := s.q.ListContactPhones(ctx, tx, store.ListContactPhonesParams{AccountID: accountID, ContactID: keepID})
	if err != nil {
		return MergeResult{}, fmt.Errorf("read phones of %s: %w", keepID, err)
	}
	res.Contact = FromRow(row, phones)
	if err := event.Emit(ctx, tx, accountID, now, event.New{Type: EventMerged, SubjectID: &keepID, Data: map[string]any{
		"survivor_id": keepID, "merged_id": dupID, "notes": res.Notes, "segments": res.Segments, "phones": res.Phones,
		"consent_records": len(res.Consent),
	}}); err != nil {
		return MergeResult{}, err
	}
	return res, nil
}

// mergedAlready answers a merge whose duplicate no longer exists: a retry of a merge into the
// same survivor gets the survivor as it is now; anything else is not found.
func (s *Service) mergedAlready(ctx context.Context, tx pgx.Tx, accountID, keepID, dupID uuid.UUID) (MergeResult, error) {
	survivor, err := s.q.GetContactMerge(ctx, tx, store.GetContactMergeParams{AccountID: accountID, MergedID: dupID})
	if errors.Is(err, pgx.ErrNoRows) {
		return MergeResult{}, fault.NotFound("contact to merge")
	}
	if err != nil {
		return MergeResult{}, fmt.Errorf("find merge of %s: %w", dupID, err)
	}
	if survivor != keepID {
		return MergeResult{}, fault.Conflict(fmt.Sprintf("contact %s was already merged into contact %s", dupID, survivor))
	}
	row, err := s.q.GetContact(ctx, tx, store.GetContactParams{AccountID: accountID, ID: keepID})
	if err != nil {
		return MergeResult{}, fmt.Errorf("read survivor %s: %w", keepID, err)
	}
	return MergeResult{Contact: FromRow(row.Contact, row.Phones), Replayed: true}, nil
}

// moveConversations gives the survivor the duplicate's conversations (before the duplicate's
// deletion would cascade them away): one on a channel where the survivor has one too is
// folded into it, so there stays one conversation per contact and channel; the others move
// whole. The duplicate's channel identities and blocked messages follow, so its next message
// reaches the survivor.
func (s *Service) moveConversations(ctx context.Context, tx pgx.Tx, accountID, keepID, dupID uuid.UUID, now time.Time) (int64, error) {
	folded, err := s.q.FoldMergedConversations(ctx, tx, store.FoldMergedConversationsParams{AccountID: accountID, SurvivorID: keepID, MergedID: dupID, Now: now})
	if err != nil {
		return 0, fmt.Errorf("fold conversations of %s: %w", dupID, err)
	}
	if err := s.q.DeleteFoldedConversations(ctx, tx, store.DeleteFoldedConversationsParams{AccountID: accountID, SurvivorID: keepID, MergedID: dupID}); err != nil {
		return 0, fmt.Errorf("delete folded conversations of %s: %w", dupID, err)
	}
	moved, err := s.q.MoveContactConversations(ctx, tx, store.MoveContactConversationsParams{AccountID: accountID, SurvivorID: keepID, MergedID: dupID, Now: now})
	if err != nil {
		return 0, fmt.Errorf("move conversations of %s: %w", dupID, err)
	}
	if _, err := s.q.MoveContactIdentities(ctx, tx, store.MoveContactIdentitiesParams{AccountID: accountID, SurvivorID: keepID, MergedID: dupID}); err != nil {
		return 0, fmt.Errorf("move channel identities of %s: %w", dupID, err)
	}
	if _, err := s.q.MoveBlockedMessages(ctx, tx, store.MoveBlockedMessagesParams{AccountID: accountID, SurvivorID: keepID, MergedID: dupID}); err != nil {
		return 0, fmt.Errorf("move blocked messages of %s: %w", dupID, err)
	}
	return folded + moved, nil
}
