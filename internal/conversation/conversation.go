// Package conversation keeps the conversations between an account and its contacts: one per
// contact and channel, openings of it for service (attendances, numbered by the account's
// protocol format), the messages in and out, and the WhatsApp session state the send path
// and the agent console read. The inbound pipeline (ApplyInbound) feeds it from the webhook
// drain, a batch at a time and set-based.
package conversation

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/session"
)

// The events the conversations emit.
const (
	// EventMessageReceived: a contact's message (direction inbound) or an echo of one the
	// business sent from the provider's app (direction echo) was stored.
	EventMessageReceived = "message.received"
	// EventConversationOpened: a contact's message opened an attendance on a closed
	// conversation.
	EventConversationOpened = "conversation.opened"
	// EventConversationUntagged: the contact renewed a WhatsApp session after Expirando went
	// on, so the session tags came off (internal/expiry emits their going on).
	EventConversationUntagged = "conversation.untagged"
)

// Service reads and feeds conversations.
type Service struct {
	pool    *pgxpool.Pool
	q       *store.Queries
	clock   clock.Clock
	consent *consent.Service
	// types caches channel types by id (they never change).
	types sync.Map
	// Linker links a contact's reply to the campaign that reached it; the campaigns work
	// sets it, and until then replies are linked to nothing.
	Linker CampaignLinker
}

// NewService returns a Service whose consent decisions go through its own consent service.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk, consent: consent.NewService(pool, clk), Linker: noLinker{}}
}

// Conversation is a contact's conversation on a channel, with its session state.
type Conversation struct {
	AccountID uuid.UUID
	ID        uuid.UUID
	ContactID uuid.UUID
	ChannelID uuid.UUID
	// ChannelType decides whether session rules apply (WhatsApp only).
	ChannelType channel.Type
	// Address is where replies go on the channel.
	Address string
	// Status is open while an attendance is.
	Status string
	// Attendance is the open attendance, nil when the conversation is closed.
	Attendance      *Attendance
	Session         session.State
	DepartmentID    *uuid.UUID
	AgentID         *uuid.UUID
	LastMessageAt   *time.Time
	LastInboundAt   *time.Time
	UnansweredSince *time.Time
	LastCampaignID  *uuid.UUID
	// OpenedAt is when the current or last attendance opened.
	OpenedAt  *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// SessionTag is the session-expiry tag the conversation carries at t: Expirando, Expirado or
// none (DESIGN §4). WhatsApp's only, and computed from the service session rather than
// stored, so it is right to the second; internal/expiry emits the events as thresholds pass.
func (c Conversation) SessionTag(t time.Time) string {
	if c.ChannelType != channel.WhatsApp {
		return ""
	}
	return c.Session.Tag(t)
}

// FreeFormAllowed says whether a free-form message may go to the contact at t: on WhatsApp
// only inside the service session (internal/session); other channels have no such window.
func (c Conversation) FreeFormAllowed(t time.Time) bool {
	if c.ChannelType != channel.WhatsApp {
		return true
	}
	return c.Session.FreeFormAllowed(t)
}

// OpenSessions lists the template-category sessions open at t (WhatsApp only).
func (c Conversation) OpenSessions(t time.Time) map[session.Category]time.Time {
	if c.ChannelType != channel.WhatsApp {
		return map[session.Category]time.Time{}
	}
	return c.Session.OpenAt(t)
}

// Attendance is one opening of a conversation for service.
type Attendance struct {
	ID             uuid.UUID
	ConversationID uuid.UUID
	ContactID      uuid.UUID
	ChannelID      uuid.UUID
	Protocol       string
	OpenedBy       string
	OpenedAt       time.Time
	ClosedAt       *time.Time
	// FirstResponseAt is the first answer after the opening (internal/sla's rule), nil before.
	FirstResponseAt *time.Time
	// SegmentID is the deciding segment when it opened (the contact's highest priority).
	SegmentID *uuid.UUID
	// SLADueAt is when the first response is due by the segment's SLA; nil without an SLA.
	SLADueAt *time.Time
	// SLABreachedAt is when the breach was reported (attendance.sla_breached), nil if not.
	SLABreachedAt *time.Time
}

// Message is a message in a conversation.
type Message struct {
	ID                uuid.UUID
	ConversationID    uuid.UUID
	ChannelID         uuid.UUID
	AttendanceID      *uuid.UUID
	Direction         string
	Kind              string
	Text              string
	Payload           json.RawMessage
	ProviderMessageID *string
	ReplyToProviderID *string
	Status            *string
	CreatedAt         time.Time
}

// Now is the service's clock, for callers that compute session state.
func (s *Service) Now() time.Time { return s.clock.Now() }

// Get returns a conversation of the account.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Conversation, error) {
	r, err := s.q.GetConversation(ctx, s.pool, store.GetConversationParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Conversation{}, fault.NotFound("conversation")
	}
	if err != nil {
		return Conversation{}, fmt.Errorf("read conversation %s: %w", id, err)
	}
	return FromRow(r)
}

// Messages returns up to limit of a conversation's messages before the cursor id, newest
// first; q, when set, keeps those whose text matches it (Portuguese full text, accents
// ignored).
func (s *Service) Messages(ctx context.Context, accountID, conversationID uuid.UUID, q string, before *uuid.UUID, limit int) ([]Message, error) {
	if _, err := s.Get(ctx, accountID, conversationID); err != nil {
		return nil, err
	}
	var query *string
	if q != "" {
		query = &q
	}
	rows, err := s.q.ListConversationMessages(ctx, s.pool, store.ListConversationMessagesParams{
		AccountID: accountID, ConversationID: conversationID, Before: before, Q: query, Lim: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list messages of %s: %w", conversationID, err)
	}
	out := make([]Message, len(rows))
	for i, r := range rows {
		out[i] = Message{
			ID: r.ID, ConversationID: r.ConversationID, ChannelID: r.ChannelID, AttendanceID: r.AttendanceID,
			Direction: r.Direction, Kind: r.Kind, Text: r.Text, Payload: r.Payload, ProviderMessageID: r.ProviderMessageID,
			ReplyToProviderID: r.ReplyToProviderID, Status: r.Status, CreatedAt: r.CreatedAt,
		}
	}
	return out, nil
}

// FindByProtocol returns the active attendances with the protocol (DESIGN §4: a search by
// protocol finds only active ones); none is not an error.
func (s *Service) FindByProtocol(ctx context.Context, accountID uuid.UUID, protocol string) ([]Attendance, error) {
	rows, err := s.q.FindActiveAttendances(ctx, s.pool, store.FindActiveAttendancesParams{AccountID: accountID, Protocol: protocol})
	if err != nil {
		return nil, fmt.Errorf("find attendances by protocol: %w", err)
	}
	out := make([]Attendance, len(rows))
	for i, r := range rows {
		out[i] = Attendance{ID: r.ID, ConversationID: r.ConversationID, ContactID: r.ContactID, ChannelID: r.ChannelID,
			Protocol: r.Protocol, OpenedBy: r.OpenedBy, OpenedAt: r.OpenedAt, ClosedAt: r.ClosedAt,
			FirstResponseAt: r.FirstResponseAt, SegmentID: r.SegmentID, SLADueAt: r.SlaDueAt, SLABreachedAt: r.SlaBreachedAt}
	}
	return out, nil
}

// CurrentProtocol is the protocol of the conversation's open attendance, "" when it has none:
// the value of {{protocolo}} in a message to the conversation.
func (s *Service) CurrentProtocol(ctx context.Context, db store.DBTX, accountID, conversationID uuid.UUID) (string, error) {
	p, err := s.q.CurrentProtocol(ctx, db, store.CurrentProtocolParams{AccountID: accountID, ConversationID: conversationID})
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fault.NotFound("conversation")
	}
	if err != nil {
		return "", fmt.Errorf("read protocol of %s: %w", conversationID, err)
	}
	return p, nil
}

// ProtocolSettings are an account's protocol settings.
type ProtocolSettings struct {
	Format    string
	UpdatedAt *time.Time
}

// GetProtocolSettings returns the account's protocol format (the default until one is set).
func (s *Service) GetProtocolSettings(ctx context.Context, accountID uuid.UUID) (ProtocolSettings, error) {
	f, err := s.q.GetProtocolFormat(ctx, s.pool, accountID)
	if err != nil {
		return ProtocolSettings{}, fmt.Errorf("read protocol format: %w", err)
	}
	if f == "" {
		f = DefaultFormat
	}
	return ProtocolSettings{Format: f}, nil
}

// SetProtocolFormat validates and stores the account's protocol format; attendances opened
// from then on are numbered by it.
func (s *Service) SetProtocolFormat(ctx context.Context, accountID uuid.UUID, format string) (ProtocolSettings, error) {
	f, err := ParseFormat(format)
	if err != nil {
		return ProtocolSettings{}, err
	}
	r, err := s.q.SetProtocolFormat(ctx, s.pool, store.SetProtocolFormatParams{AccountID: accountID, Format: f.String(), Now: s.clock.Now()})
	if err != nil {
		return ProtocolSettings{}, fmt.Errorf("store protocol format: %w", err)
	}
	return ProtocolSettings{Format: r.Format, UpdatedAt: &r.UpdatedAt}, nil
}

// FromRow makes a Conversation of a row in GetConversation's shape: for statements of other
// packages that change a conversation and return it in that shape, such as the queue's Next,
// so their callers need not read it again.
func FromRow(r store.GetConversationRow) (Conversation, error) {
	c := Conversation{
		AccountID: r.AccountID, ID: r.ID, ContactID: r.ContactID, ChannelID: r.ChannelID, ChannelType: channel.Type(r.ChannelType),
		Address: r.Address, Status: r.Status, DepartmentID: r.DepartmentID, AgentID: r.AgentID,
		LastMessageAt: r.LastMessageAt, LastInboundAt: r.LastInboundAt, UnansweredSince: r.UnansweredSince,
		LastCampaignID: r.LastCampaignID, OpenedAt: r.OpenedAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if r.ServiceExpiresAt != nil {
		c.Session.ServiceExpiresAt = *r.ServiceExpiresAt
	}
	if len(r.CategorySessions) > 0 {
		var opened map[session.Category]time.Time
		if err := json.Unmarshal(r.CategorySessions, &opened); err != nil {
			return Conversation{}, fmt.Errorf("read category sessions of %s: %w", r.ID, err)
		}
		if len(opened) > 0 {
			c.Session.Opened = opened
		}
	}
	if r.AttendanceID != nil && r.Protocol != nil && r.AttendanceOpenedAt != nil {
		c.Attendance = &Attendance{ID: *r.AttendanceID, ConversationID: r.ID, ContactID: r.ContactID, ChannelID: r.ChannelID,
			Protocol: *r.Protocol, OpenedAt: *r.AttendanceOpenedAt, FirstResponseAt: r.FirstResponseAt, SegmentID: r.AttendanceSegmentID,
			SLADueAt: r.SlaDueAt, SLABreachedAt: r.SlaBreachedAt}
	}
	return c, nil
}
