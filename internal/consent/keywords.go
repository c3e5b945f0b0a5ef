package consent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/fault"
)

// system is the recorder of what Conversa records on its own.
var system = Recorder{Kind: "system", ID: "inbound"}

// Settings are an account's consent keywords and the replies to them.
type Settings struct {
	// OptOutKeywords, sent alone by a contact, revoke its marketing consent on every channel.
	OptOutKeywords []string
	// OptInKeywords, sent alone, confirm the contact's pending double opt-in.
	OptInKeywords []string
	OptOutReply   string
	OptInReply    string
}

// GetSettings returns the account's consent settings.
func (s *Service) GetSettings(ctx context.Context, db store.DBTX, accountID uuid.UUID) (Settings, error) {
	row, err := s.q.GetConsentSettings(ctx, db, accountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return Settings{}, fault.NotFound("account")
	}
	if err != nil {
		return Settings{}, fmt.Errorf("read consent settings: %w", err)
	}
	return Settings{OptOutKeywords: row.OptOutKeywords, OptInKeywords: row.OptInKeywords, OptOutReply: row.OptOutReply, OptInReply: row.OptInReply}, nil
}

// UpdateSettings replaces the account's consent settings. Keywords are stored folded
// (upper case, no accents), the way replies are compared.
func (s *Service) UpdateSettings(ctx context.Context, accountID uuid.UUID, in Settings) (Settings, error) {
	var errs []fault.FieldError
	fold := func(field string, kws []string) []string {
		if len(kws) == 0 || len(kws) > 20 {
			errs = append(errs, fault.FieldError{Field: field, Message: "give 1 to 20 keywords"})
		}
		out := make([]string, 0, len(kws))
		for i, k := range kws {
			f := foldKeyword(k)
			if f == "" || utf8.RuneCountInString(f) > 30 || strings.ContainsFunc(f, unicode.IsSpace) {
				errs = append(errs, fault.FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Message: "a keyword is one word of 1 to 30 letters or digits", Value: k})
				continue
			}
			out = append(out, f)
		}
		return out
	}
	in.OptOutKeywords = fold("opt_out_keywords", in.OptOutKeywords)
	in.OptInKeywords = fold("opt_in_keywords", in.OptInKeywords)
	for _, k := range in.OptOutKeywords {
		for _, o := range in.OptInKeywords {
			if k == o {
				errs = append(errs, fault.FieldError{Field: "opt_in_keywords", Message: "a keyword cannot both opt in and opt out", Value: k})
			}
		}
	}
	for field, v := range map[string]string{"opt_out_reply": in.OptOutReply, "opt_in_reply": in.OptInReply} {
		if n := utf8.RuneCountInString(strings.TrimSpace(v)); n == 0 || n > 1000 {
			errs = append(errs, fault.FieldError{Field: field, Message: "must have 1 to 1000 characters"})
		}
	}
	if len(errs) > 0 {
		return Settings{}, fault.Invalid("invalid consent settings", errs...)
	}
	row, err := s.q.UpdateConsentSettings(ctx, s.pool, store.UpdateConsentSettingsParams{
		AccountID: accountID, OptOutKeywords: in.OptOutKeywords, OptInKeywords: in.OptInKeywords,
		OptOutReply: strings.TrimSpace(in.OptOutReply), OptInReply: strings.TrimSpace(in.OptInReply),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Settings{}, fault.NotFound("account")
	}
	if err != nil {
		return Settings{}, fmt.Errorf("update consent settings: %w", err)
	}
	return Settings{OptOutKeywords: row.OptOutKeywords, OptInKeywords: row.OptInKeywords, OptOutReply: row.OptOutReply, OptInReply: row.OptInReply}, nil
}

// ReplyAction is what a contact's message did to its consent.
type ReplyAction string

// The reply actions.
const (
	NoAction  ReplyAction = ""
	OptedOut  ReplyAction = "opted_out"
	Confirmed ReplyAction = "confirmed"
)

// ReplyResult says what HandleReply did and what to answer the contact (empty: nothing).
type ReplyResult struct {
	Action ReplyAction
	Record Record
	Reply  string
}

// Keyword says what HandleReply would do with text under these settings, without touching
// the database: the inbound pipeline reads the settings once per batch and calls HandleReply
// only for the messages that are keywords.
func (set Settings) Keyword(text string) ReplyAction {
	word := foldKeyword(text)
	switch {
	case word == "" || utf8.RuneCountInString(word) > 30:
		return NoAction
	case containsFold(set.OptOutKeywords, word):
		return OptedOut
	case containsFold(set.OptInKeywords, word):
		return Confirmed
	}
	return NoAction
}

// HandleReply is called by the inbound message pipeline with each message a contact sends. A
// message that is only an opt-out keyword ("SAIR", "pare!", "Stop") revokes the contact's
// marketing consent on every channel at once; one that is only an opt-in keyword confirms the
// contact's pending double opt-in, if it has one. Anything else changes nothing: "não quero
// parar" is not an opt-out.
func (s *Service) HandleReply(ctx context.Context, tx pgx.Tx, accountID, contactID uuid.UUID, ch channel.Type, text string, at time.Time) (ReplyResult, error) {
	word := foldKeyword(text)
	if word == "" || utf8.RuneCountInString(word) > 30 {
		return ReplyResult{}, nil
	}
	set, err := s.GetSettings(ctx, tx, accountID)
	if err != nil {
		return ReplyResult{}, err
	}
	evidence := Entry{
		OccurredAt: at, Text: strings.TrimSpace(text), Source: fmt.Sprintf("inbound %s message", ch),
	}
	if containsFold(set.OptOutKeywords, word) {
		e := evidence
		e.Action, e.Purposes, e.AllChannels, e.Method = Revoke, []Purpose{PurposeMarketing}, true, ReplyKeyword
		rec, err := s.RecordTx(ctx, tx, accountID, contactID, e, system)
		if err != nil {
			return ReplyResult{}, err
		}
		return ReplyResult{Action: OptedOut, Record: rec, Reply: set.OptOutReply}, nil
	}
	if containsFold(set.OptInKeywords, word) {
		row, err := s.q.LatestPending(ctx, tx, store.LatestPendingParams{AccountID: accountID, ContactID: contactID})
		if errors.Is(err, pgx.ErrNoRows) {
			return ReplyResult{}, nil
		}
		if err != nil {
			return ReplyResult{}, fmt.Errorf("find pending double opt-in: %w", err)
		}
		e := evidence
		e.Text = "" // the confirmation keeps the text the contact was first shown
		e.Source = fmt.Sprintf("reply %q on %s", strings.TrimSpace(text), ch)
		rec, err := s.ConfirmTx(ctx, tx, accountID, contactID, row.ID, e, system)
		if err != nil {
			return ReplyResult{}, err
		}
		return ReplyResult{Action: Confirmed, Record: rec, Reply: set.OptInReply}, nil
	}
	return ReplyResult{}, nil
}

// RecordFirstInbound records the implicit consent of a contact who writes to the business on
// a channel for the first time: service, notifications and marketing on that channel, marked
// implicit (a campaign may require explicit consent). It records nothing when any record ever
// covered the channel, so a contact who opted out is never opted back in by writing again.
func (s *Service) RecordFirstInbound(ctx context.Context, tx pgx.Tx, accountID, contactID uuid.UUID, ch channel.Type, at time.Time, messageRef string) (bool, error) {
	if err := s.lock(ctx, tx, accountID, contactID); err != nil {
		return false, err
	}
	seen, err := s.q.HasConsentOnChannel(ctx, tx, store.HasConsentOnChannelParams{AccountID: accountID, ContactID: contactID, Channel: string(ch)})
	if err != nil {
		return false, fmt.Errorf("check consent history of %s: %w", contactID, err)
	}
	if seen {
		return false, nil
	}
	_, err = s.RecordTx(ctx, tx, accountID, contactID, Entry{
		Action: Grant, Purposes: Purposes, Channels: []channel.Type{ch}, Method: FirstInboundMessage, OccurredAt: at,
		Text:   fmt.Sprintf("The contact started a conversation on %s.", ch),
		Source: fmt.Sprintf("inbound %s message %s", ch, messageRef),
	}, system)
	return err == nil, err
}

// ImportEvidence is what an import row says about a contact's consent.
type ImportEvidence struct {
	// File and Row locate the row that said the contact accepts communications.
	File string
	Row  int
	// Column is the header of the column, the closest thing to a text shown.
	Column         string
	IdentifierKind string
	Identifier     string
	At             time.Time
	By             Recorder
}

// RecordImport records the consent an import row states ("accepts communications = yes"): every
// purpose on every channel, marked implicit, with the file and row as evidence.
func (s *Service) RecordImport(ctx context.Context, tx pgx.Tx, accountID, contactID uuid.UUID, ev ImportEvidence) (Record, error) {
	return s.RecordTx(ctx, tx, accountID, contactID, Entry{
		Action: Grant, Purposes: Purposes, AllChannels: true, Method: Import, OccurredAt: ev.At,
		Text:   fmt.Sprintf("Imported: column %q = yes", ev.Column),
		Source: fmt.Sprintf("import %s, row %d", ev.File, ev.Row), IdentifierKind: ev.IdentifierKind, Identifier: ev.Identifier,
	}, ev.By)
}

// foldKeyword reduces a message to the form keywords are compared in: trimmed, surrounding
// punctuation removed, accents removed, upper case.
func foldKeyword(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) })
	if ascii(s) {
		// Nothing to strip: the common case, and the inbound pipeline folds every short
		// message it drains.
		return strings.ToUpper(s)
	}
	// A transformer keeps state, so each call makes its own.
	out, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), s)
	if err != nil {
		return ""
	}
	return strings.ToUpper(out)
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func containsFold(list []string, word string) bool {
	for _, k := range list {
		if foldKeyword(k) == word {
			return true
		}
	}
	return false
}
