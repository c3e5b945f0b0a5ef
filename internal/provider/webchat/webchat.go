// Package webchat is the native WebChat channel. There is no provider behind it: the site's
// widget posts a visitor's messages to a public endpoint authenticated by the channel's widget
// token (header X-Widget-Token), and what the business sends to a visitor is kept in the
// database for the widget to fetch. It implements provider.Sender, provider.InboundParser and
// provider.Verifier like the other adapters, so inbound WebChat messages take the same
// store-then-drain path as every provider's webhooks.
//
// A visitor is identified by a visitor id the widget generates once (a random UUID or
// 16–64 URL-safe characters) and keeps in the browser's storage. Anyone holding the widget
// token (which is public: it sits in the site's page) and a visitor id can read that visitor's
// messages, so the id must be random and is the visitor's only secret. The widget may add the
// visitor's name, e-mail and phone, reported as an EventVisitor event next to the message.
package webchat

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/provider"
)

// TokenHeader carries the channel's widget token on every widget request.
const TokenHeader = "X-Widget-Token"

// EventVisitor reports what the widget told about its visitor: Data has "visitor_id" and,
// when given, "name", "email" and "phone".
const EventVisitor = "webchat.visitor"

// Limits of what the widget may post.
const (
	MaxText = 4096
	MaxName = 100
)

var (
	visitorPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{16,64}$`)
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,100}$`)
)

// Posted is the JSON body the widget posts for one visitor message.
type Posted struct {
	// ID is the widget's own id for the message (a UUID it generates): a resend with the same
	// id is recorded once.
	ID        string     `json:"id"`
	VisitorID string     `json:"visitor_id"`
	Text      string     `json:"text"`
	Name      string     `json:"name,omitempty"`
	Email     string     `json:"email,omitempty"`
	Phone     string     `json:"phone,omitempty"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// FieldProblem is one thing wrong with what the widget posted.
type FieldProblem struct {
	Field   string
	Message string
}

// InvalidError lists what is wrong with a posted message.
type InvalidError struct{ Problems []FieldProblem }

func (e *InvalidError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + " " + p.Message
	}
	return "webchat: invalid message: " + strings.Join(parts, "; ")
}

// ValidVisitor reports whether id can be a visitor id.
func ValidVisitor(id string) bool { return visitorPattern.MatchString(id) }

// Decode reads and checks a posted message; what is wrong comes back as *InvalidError.
func Decode(body []byte) (Posted, error) {
	var p Posted
	if err := json.Unmarshal(body, &p); err != nil {
		return p, &InvalidError{Problems: []FieldProblem{{Field: "body", Message: "must be a JSON object: " + err.Error()}}}
	}
	var bad []FieldProblem
	add := func(field, msg string) { bad = append(bad, FieldProblem{Field: field, Message: msg}) }
	if !idPattern.MatchString(p.ID) {
		add("id", "must be 1 to 100 characters of letters, digits and _.:- (a UUID the widget generates)")
	}
	if !ValidVisitor(p.VisitorID) {
		add("visitor_id", "must be 16 to 64 letters, digits, _ or - (a random id the widget keeps)")
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(p.Text)); n == 0 || n > MaxText || !utf8.ValidString(p.Text) {
		add("text", fmt.Sprintf("must have 1 to %d characters", MaxText))
	}
	if utf8.RuneCountInString(p.Name) > MaxName {
		add("name", fmt.Sprintf("must have at most %d characters", MaxName))
	}
	if p.Email != "" && (len(p.Email) > 254 || !strings.Contains(p.Email, "@")) {
		add("email", "must be an e-mail address")
	}
	if len(p.Phone) > 32 {
		add("phone", "must have at most 32 characters")
	}
	if len(bad) > 0 {
		return p, &InvalidError{Problems: bad}
	}
	return p, nil
}

// Config configures a Client.
type Config struct {
	// Token is the channel's widget token; an empty one refuses every request.
	Token string
	// Pool, AccountID and ChannelID say where Send keeps messages for the widget; only Send
	// and Messages need them.
	Pool      *pgxpool.Pool
	AccountID uuid.UUID
	ChannelID uuid.UUID
	// Clock stamps sent messages; the system clock when nil.
	Clock clock.Clock
}

// Client is one WebChat channel.
type Client struct {
	cfg Config
	q   *store.Queries
}

var (
	_ provider.Sender        = (*Client)(nil)
	_ provider.InboundParser = (*Client)(nil)
	_ provider.Verifier      = (*Client)(nil)
)

// New returns a Client for cfg.
func New(cfg Config) *Client {
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	return &Client{cfg: cfg, q: store.New()}
}

// Verify checks the X-Widget-Token header against the channel's token, in constant time.
func (c *Client) Verify(r *http.Request, _ []byte) error {
	got := ""
	if r != nil {
		got = r.Header.Get(TokenHeader)
	}
	if c.cfg.Token == "" || got == "" {
		return fmt.Errorf("webchat: %s missing: %w", TokenHeader, provider.ErrBadSignature)
	}
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(c.cfg.Token))
	if subtle.ConstantTimeCompare(a[:], b[:]) != 1 {
		return fmt.Errorf("webchat: %s does not match: %w", TokenHeader, provider.ErrBadSignature)
	}
	return nil
}

// Parse verifies the token and reads one posted message: an InboundMessage with ID
// "<visitor_id>:<id>" (ids are the widget's, unique per visitor), From the visitor id,
// FromName the name, Kind "text", Timestamp sent_at (zero when the widget sent none), and an
// EventVisitor event when the widget told the visitor's name, e-mail or phone.
func (c *Client) Parse(r *http.Request, body []byte) (provider.Inbound, error) {
	if err := c.Verify(r, body); err != nil {
		return provider.Inbound{}, err
	}
	p, err := Decode(body)
	if err != nil {
		return provider.Inbound{}, err
	}
	var at time.Time
	if p.SentAt != nil {
		at = p.SentAt.UTC()
	}
	in := provider.Inbound{Messages: []provider.InboundMessage{{
		ID: p.VisitorID + ":" + p.ID, From: p.VisitorID, FromName: strings.TrimSpace(p.Name), To: c.cfg.ChannelID.String(),
		Timestamp: at, Kind: "text", Text: p.Text,
	}}}
	if p.Name != "" || p.Email != "" || p.Phone != "" {
		d := map[string]string{"visitor_id": p.VisitorID}
		for k, v := range map[string]string{"name": strings.TrimSpace(p.Name), "email": strings.TrimSpace(p.Email), "phone": strings.TrimSpace(p.Phone)} {
			if v != "" {
				d[k] = v
			}
		}
		in.Events = append(in.Events, provider.Event{Kind: EventVisitor, Timestamp: at, Data: d})
	}
	return in, nil
}

// Outgoing is a message kept for the widget.
type Outgoing struct {
	ID        uuid.UUID       `json:"id"`
	Kind      string          `json:"kind"`
	Text      string          `json:"text"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

// Send keeps m for the widget of visitor m.To; the widget fetches it with Messages. Every
// kind is kept: text (and a template, as its rendered m.Text), media, a reaction, a contact
// card; Payload holds the parts other than the text.
func (c *Client) Send(ctx context.Context, m provider.Message) (provider.Sent, error) {
	if !ValidVisitor(m.To) {
		return provider.Sent{}, &provider.Error{Code: "invalid_visitor", Reason: "the recipient is not a WebChat visitor id"}
	}
	if c.cfg.Pool == nil {
		return provider.Sent{}, errors.New("webchat: no database configured")
	}
	kind := m.Kind
	if kind == "" {
		kind = provider.KindText
	}
	payload, err := json.Marshal(struct {
		Media    *provider.Media       `json:"media,omitempty"`
		Reaction *provider.Reaction    `json:"reaction,omitempty"`
		Contact  *provider.ContactCard `json:"contact,omitempty"`
		ReplyTo  string                `json:"reply_to,omitempty"`
		Template string                `json:"template,omitempty"`
	}{Media: m.Media, Reaction: m.Reaction, Contact: m.Contact, ReplyTo: m.ReplyTo, Template: templateName(m.Template)})
	if err != nil {
		return provider.Sent{}, fmt.Errorf("webchat: encode message: %w", err)
	}
	id := uuid.Must(uuid.NewV7())
	if err := c.q.InsertWebChatMessage(ctx, c.cfg.Pool, store.InsertWebChatMessageParams{
		AccountID: c.cfg.AccountID, ChannelID: c.cfg.ChannelID, ID: id, VisitorID: m.To, Kind: string(kind),
		Text: m.Text, Payload: payload, CreatedAt: c.cfg.Clock.Now(),
	}); err != nil {
		return provider.Sent{}, fmt.Errorf("webchat: keep message for %s: %w", m.To, err)
	}
	return provider.Sent{ID: id.String()}, nil
}

func templateName(t *provider.Template) string {
	if t == nil {
		return ""
	}
	return t.Name
}

// Messages returns up to limit messages kept for visitorID after the message id after (the
// zero UUID for the first page), oldest first.
func (c *Client) Messages(ctx context.Context, visitorID string, after uuid.UUID, limit int) ([]Outgoing, error) {
	rows, err := c.q.ListWebChatMessages(ctx, c.cfg.Pool, store.ListWebChatMessagesParams{
		AccountID: c.cfg.AccountID, ChannelID: c.cfg.ChannelID, VisitorID: visitorID, After: after, Lim: int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("webchat: messages of %s: %w", visitorID, err)
	}
	out := make([]Outgoing, len(rows))
	for i, r := range rows {
		out[i] = Outgoing{ID: r.ID, Kind: r.Kind, Text: r.Text, Payload: r.Payload, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}
