// Package quickreply keeps an account's quick replies: canned answers an agent finds by
// shortcut while typing ("/boleto") and sends filled for the conversation at hand, with the
// contact's fields, the attendance's protocol and the agent's name.
package quickreply

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/template"
)

// QuickReply is a canned answer.
type QuickReply struct {
	ID uuid.UUID
	// Shortcut is what the agent types: a slash and 1 to 40 lowercase letters, digits, - or _.
	Shortcut string
	Title    string
	// Text may hold variables: the contact's ({nome}, {primeiro_nome}, @ChaveCliente, custom
	// fields as {key}), {{protocolo}} and {agente}.
	Text      string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Input creates a quick reply; in an update, nil fields are kept.
type Input struct {
	Shortcut *string
	Title    *string
	Text     *string
}

// Service manages quick replies, scoped to one account.
type Service struct {
	pool     *pgxpool.Pool
	q        *store.Queries
	clock    clock.Clock
	contacts *contact.Service
}

// NewService returns a Service; contacts reads the contact a reply is filled for.
func NewService(pool *pgxpool.Pool, clk clock.Clock, contacts *contact.Service) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk, contacts: contacts}
}

var (
	shortcutRE  = regexp.MustCompile(`^/[a-z0-9_-]{1,40}$`)
	errNotFound = fault.NotFound("quick reply")
	errTaken    = fault.Conflict("a quick reply with this shortcut exists", fault.FieldError{Field: "body.shortcut", Message: "already in use"})
)

// apply validates in over q.
func apply(q *QuickReply, in Input) error {
	var errs []fault.FieldError
	if in.Shortcut != nil {
		q.Shortcut = strings.ToLower(strings.TrimSpace(*in.Shortcut))
		if !strings.HasPrefix(q.Shortcut, "/") {
			q.Shortcut = "/" + q.Shortcut
		}
		if !shortcutRE.MatchString(q.Shortcut) {
			errs = append(errs, fault.FieldError{Field: "body.shortcut", Message: "must be a slash and 1 to 40 letters, digits, - or _", Value: *in.Shortcut})
		}
	}
	if in.Title != nil {
		q.Title = strings.TrimSpace(*in.Title)
	}
	if in.Text != nil {
		q.Text = strings.TrimSpace(*in.Text)
	}
	if n := utf8.RuneCountInString(q.Title); n < 1 || n > 100 {
		errs = append(errs, fault.FieldError{Field: "body.title", Message: "must have 1 to 100 characters"})
	}
	if n := utf8.RuneCountInString(q.Text); n < 1 || n > 4096 {
		errs = append(errs, fault.FieldError{Field: "body.text", Message: "must have 1 to 4096 characters"})
	}
	if len(errs) > 0 {
		return fault.Invalid("invalid quick reply", errs...)
	}
	return nil
}

// Create adds a quick reply; a shortcut already in use is a conflict.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, in Input) (QuickReply, error) {
	if in.Shortcut == nil {
		return QuickReply{}, fault.Invalid("invalid quick reply", fault.FieldError{Field: "body.shortcut", Message: "is required"})
	}
	var q QuickReply
	if err := apply(&q, in); err != nil {
		return QuickReply{}, err
	}
	row, err := s.q.CreateQuickReply(ctx, s.pool, store.CreateQuickReplyParams{AccountID: accountID, ID: uuid.Must(uuid.NewV7()),
		Shortcut: q.Shortcut, Title: q.Title, Text: q.Text, Now: s.clock.Now()})
	if _, ok := pgdb.UniqueViolation(err); ok {
		return QuickReply{}, errTaken
	}
	if err != nil {
		return QuickReply{}, fmt.Errorf("create quick reply %s: %w", q.Shortcut, err)
	}
	return fromRow(row), nil
}

// Get returns one quick reply.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (QuickReply, error) {
	row, err := s.q.GetQuickReply(ctx, s.pool, store.GetQuickReplyParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return QuickReply{}, errNotFound
	}
	if err != nil {
		return QuickReply{}, fmt.Errorf("read quick reply %s: %w", id, err)
	}
	return fromRow(row), nil
}

// List returns up to limit quick replies by shortcut after the cursor shortcut, only those
// starting with prefix when it is set.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, prefix string, after *string, limit int) ([]QuickReply, error) {
	p := store.ListQuickRepliesParams{AccountID: accountID, After: after, Lim: int32(limit)}
	if prefix = strings.ToLower(strings.TrimSpace(prefix)); prefix != "" {
		if !strings.HasPrefix(prefix, "/") {
			prefix = "/" + prefix
		}
		p.Prefix = &prefix
	}
	rows, err := s.q.ListQuickReplies(ctx, s.pool, p)
	if err != nil {
		return nil, fmt.Errorf("list quick replies: %w", err)
	}
	out := make([]QuickReply, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Update changes a quick reply.
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, in Input) (QuickReply, error) {
	q, err := s.Get(ctx, accountID, id)
	if err != nil {
		return QuickReply{}, err
	}
	if err := apply(&q, in); err != nil {
		return QuickReply{}, err
	}
	row, err := s.q.UpdateQuickReply(ctx, s.pool, store.UpdateQuickReplyParams{AccountID: accountID, ID: id, Shortcut: q.Shortcut,
		Title: q.Title, Text: q.Text, Now: s.clock.Now()})
	if _, ok := pgdb.UniqueViolation(err); ok {
		return QuickReply{}, errTaken
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return QuickReply{}, errNotFound
	}
	if err != nil {
		return QuickReply{}, fmt.Errorf("update quick reply %s: %w", id, err)
	}
	return fromRow(row), nil
}

// Delete removes a quick reply.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	n, err := s.q.DeleteQuickReply(ctx, s.pool, store.DeleteQuickReplyParams{AccountID: accountID, ID: id})
	if err != nil {
		return fmt.Errorf("delete quick reply %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// Render fills the quick reply for a conversation: the contact's fields, the open
// attendance's protocol as {{protocolo}} and agentName as {agente}. The agent reviews the
// text and sends it through the messages API like any other.
func (s *Service) Render(ctx context.Context, accountID, id, conversationID uuid.UUID, agentName string) (string, error) {
	q, err := s.Get(ctx, accountID, id)
	if err != nil {
		return "", err
	}
	target, err := s.q.ConversationTarget(ctx, s.pool, store.ConversationTargetParams{AccountID: accountID, ID: conversationID})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fault.NotFound("conversation")
	}
	if err != nil {
		return "", fmt.Errorf("read conversation %s: %w", conversationID, err)
	}
	protocol, err := s.q.CurrentProtocol(ctx, s.pool, store.CurrentProtocolParams{AccountID: accountID, ConversationID: conversationID})
	if err != nil {
		return "", fmt.Errorf("read protocol of %s: %w", conversationID, err)
	}
	c, err := s.contacts.Get(ctx, accountID, target.ContactID)
	if err != nil {
		return "", err
	}
	defs, err := customfield.Load(ctx, s.pool, accountID)
	if err != nil {
		return "", err
	}
	return template.FillText(q.Text, c, defs, map[string]string{"{{protocolo}}": protocol, "{agente}": agentName}), nil
}

func fromRow(r store.QuickReply) QuickReply {
	return QuickReply{ID: r.ID, Shortcut: r.Shortcut, Title: r.Title, Text: r.Text, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}
