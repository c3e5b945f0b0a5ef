// Package webhook takes deliveries from providers. The request path is as short as it can be
// while never losing an acknowledged delivery: check the signature (or token) with the
// channel's own secret, store the raw delivery with one autocommit INSERT, answer. A draining
// job (drain.go) then claims unprocessed deliveries in batches, parses them with the
// provider's adapter and records every message, status and notification once, however often
// the provider retries, several drainers at once if need be.
package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/fake"
	"github.com/conversa-hq/conversa/internal/provider/telegram"
	"github.com/conversa-hq/conversa/internal/provider/twilio"
	"github.com/conversa-hq/conversa/internal/provider/webchat"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp"
)

// The URL families of webhook endpoints (/webhooks/{family}/{channel_id}).
const (
	FamilyWhatsApp = "whatsapp"
	FamilyTelegram = "telegram"
	FamilyTwilio   = "twilio"
	FamilyWebChat  = "webchat"
	FamilyFake     = "fake"
)

// EndpointTTL is how long a channel's webhook settings (type, provider, opened credentials)
// are reused without reading the channel again: a rotated secret or a deactivated channel
// takes effect within it.
const EndpointTTL = 5 * time.Second

// Service receives and drains deliveries.
type Service struct {
	pool     *pgxpool.Pool
	q        *store.Queries
	channels *channel.Service
	clock    clock.Clock
	// Logger reports deliveries that failed to parse; slog.Default when nil.
	Logger *slog.Logger
	// Conversations take the drained messages (ApplyInbound); exported so the server can
	// share its instance (and its CampaignLinker).
	Conversations *conversation.Service
	// EventsWritten, when set, is called after a drained batch commits: the events it wrote
	// wait in the outbox until a publisher numbers them, and the server hands this process's
	// publisher a wake (event.Log.Wake) so that they do not wait for its next tick.
	EventsWritten func()

	mu    sync.Mutex
	cache map[uuid.UUID]cachedEndpoint
	// stored says a delivery was stored since the last NOTIFY (see RunNotifier).
	stored atomic.Bool
	// writer stores deliveries, grouping those of concurrent requests (see newWriter).
	writer *pgdb.Group[store.InsertWebhookDeliveryParams, struct{}]
	// draining counts this process's drain jobs between their first batch and their exit;
	// rewake hands one of them a wake (see DrainWorker.Work and WakeRunning).
	draining atomic.Int32
	rewake   chan struct{}
	// lastDrain is when this process's last drain started (Unix nanoseconds): woken drains
	// keep DrainGap from it, whichever job ran it.
	lastDrain atomic.Int64
}

type cachedEndpoint struct {
	ep      channel.Endpoint
	expires time.Time
}

// NewService returns a Service.
func NewService(pool *pgxpool.Pool, channels *channel.Service, clk clock.Clock) *Service {
	convs := conversation.NewService(pool, clk)
	convs.Linker = campaign.ReplyLinker{}
	s := &Service{pool: pool, q: store.New(), channels: channels, clock: clk, cache: map[uuid.UUID]cachedEndpoint{},
		Conversations: convs, rewake: make(chan struct{}, 1)}
	s.writer = s.newWriter()
	return s
}

func (s *Service) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// lookup returns the channel's webhook settings, from the cache when fresh.
func (s *Service) lookup(ctx context.Context, channelID uuid.UUID) (channel.Endpoint, error) {
	now := s.clock.Now()
	s.mu.Lock()
	c, ok := s.cache[channelID]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		return c.ep, nil
	}
	ep, err := s.channels.ForWebhook(ctx, channelID)
	if err != nil {
		return ep, err
	}
	s.mu.Lock()
	if len(s.cache) > 10_000 {
		clear(s.cache)
	}
	s.cache[channelID] = cachedEndpoint{ep: ep, expires: now.Add(EndpointTTL)}
	s.mu.Unlock()
	return ep, nil
}

// endpoint finds the channel a webhook URL names and checks that it belongs to the URL's
// family; a channel of another type or provider is not found.
func (s *Service) endpoint(ctx context.Context, family string, channelID uuid.UUID) (channel.Endpoint, error) {
	ep, err := s.lookup(ctx, channelID)
	if err != nil {
		return ep, err
	}
	var ok bool
	switch family {
	case FamilyWhatsApp:
		ok = ep.Type == channel.WhatsApp && (ep.Provider == "whatsapp_cloud" || ep.Provider == "fake")
	case FamilyTelegram:
		ok = ep.Type == channel.Telegram && ep.Provider == "telegram"
	case FamilyTwilio:
		ok = ep.Provider == "twilio"
	case FamilyWebChat:
		ok = ep.Type == channel.WebChat && ep.Provider == "webchat"
	case FamilyFake:
		ok = ep.Provider == "fake"
	}
	if !ok {
		return ep, fault.NotFound("webhook endpoint")
	}
	return ep, nil
}

// adapter builds what checks and parses the channel's deliveries. What the provider does not
// date (Twilio) is left undated here: a retry then maps to the same event keys, and the drain
// dates it with the delivery's receipt.
func adapter(ep channel.Endpoint, requestURL string) (interface {
	provider.InboundParser
	provider.Verifier
}, error) {
	cred := ep.Credentials
	switch ep.Provider {
	case "whatsapp_cloud":
		return whatsapp.New(whatsapp.Config{AppSecret: cred["app_secret"], VerifyToken: cred["verify_token"]}), nil
	case "fake":
		return fake.New(fake.Config{Secret: cred["webhook_secret"]}), nil
	case "telegram":
		// The bot token only names the bot (InboundMessage.To) here; parsing calls nothing.
		token := cred["bot_token"]
		if token == "" {
			token = "0:unset"
		}
		return telegram.New(telegram.Config{BotToken: token, SecretToken: cred["secret_token"]})
	case "twilio":
		if cred["auth_token"] == "" {
			return nil, fmt.Errorf("%w: the channel has no auth_token", provider.ErrBadSignature)
		}
		return twilio.New(twilio.Config{AccountSID: or(cred["account_sid"], "AC"), AuthToken: cred["auth_token"], From: or(cred["from"], "+0"),
			WebhookURL: requestURL, Clock: clock.NewManual(time.Time{})})
	case "webchat":
		return webchat.New(webchat.Config{Token: cred["widget_token"], ChannelID: ep.ChannelID}), nil
	}
	return nil, fault.NotFound("webhook endpoint")
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// authHeaders says, per provider, the header that authenticates a delivery and whether it is
// a signature of the body (kept with the delivery, checked again when it is parsed) or a
// shared token (never stored: the channel's own token stands in for it when parsing).
var authHeaders = map[string]struct {
	name  string
	token bool
}{
	"whatsapp_cloud": {whatsapp.SignatureHeader, false},
	"fake":           {fake.SignatureHeader, false},
	"twilio":         {twilio.SignatureHeader, false},
	"telegram":       {telegram.SecretHeader, true},
	"webchat":        {webchat.TokenHeader, true},
}

// tokenCredential is the credential a token-authenticated provider's header must equal.
var tokenCredential = map[string]string{"telegram": "secret_token", "webchat": "widget_token"}

// Handshake answers a WhatsApp verification request: the challenge when the verify token
// matches the channel's, else a 403 fault. Other families have no handshake (404).
func (s *Service) Handshake(ctx context.Context, family string, channelID uuid.UUID, query url.Values) (string, error) {
	if family != FamilyWhatsApp {
		return "", fault.NotFound("webhook endpoint")
	}
	ep, err := s.endpoint(ctx, family, channelID)
	if err != nil {
		return "", err
	}
	c := whatsapp.New(whatsapp.Config{VerifyToken: ep.Credentials["verify_token"]})
	challenge, ok := c.VerifyHandshake(query)
	if !ok {
		return "", fault.Forbidden("verification token does not match")
	}
	return challenge, nil
}

// Delivery is one request to a webhook endpoint.
type Delivery struct {
	Family    string
	ChannelID uuid.UUID
	Header    http.Header
	// URL is the full URL the request was made to (scheme, host, path, query), for providers
	// that sign it; a channel's "webhook_url" credential, when set, is used instead (behind a
	// proxy that rewrites the URL).
	URL  string
	Body []byte
}

// Receive checks a delivery's signature or token and stores it with one autocommit INSERT
// (shared with the deliveries that arrive at the same moment, see newWriter): nothing else
// happens before the provider gets its answer. A missing or wrong signature is a 401
// fault and stores nothing; a channel of another type is a 404. A signed delivery that does
// not parse is stored all the same and kept with its error when drained, except a WebChat
// message, which comes from a widget rather than a provider and is refused at once (400) when
// malformed.
func (s *Service) Receive(ctx context.Context, d Delivery) (uuid.UUID, error) {
	ep, err := s.endpoint(ctx, d.Family, d.ChannelID)
	if err != nil {
		return uuid.Nil, err
	}
	requestURL := or(ep.Credentials["webhook_url"], d.URL)
	now := s.clock.Now()
	a, err := adapter(ep, requestURL)
	if errors.Is(err, provider.ErrBadSignature) {
		return uuid.Nil, fault.Unauthorized("webhook signature missing or invalid")
	}
	if err != nil {
		return uuid.Nil, err
	}
	auth := authHeaders[ep.Provider]
	value := d.Header.Get(auth.name)
	if err := a.Verify(request(auth.name, value, d.Body), d.Body); err != nil {
		return uuid.Nil, fault.Unauthorized("webhook signature missing or invalid")
	}
	if ep.Provider == "webchat" {
		if _, err := webchat.Decode(d.Body); err != nil {
			return uuid.Nil, invalidWebChat(err)
		}
	}
	signature := value
	if auth.token {
		signature = ""
	}
	id := uuid.Must(uuid.NewV7())
	_, err = s.writer.Do(ctx, store.InsertWebhookDeliveryParams{
		AccountID: ep.AccountID, ID: id, ChannelID: ep.ChannelID, Provider: ep.Provider,
		Signature: signature, RequestUrl: requestURL, Body: d.Body, ReceivedAt: now,
	})
	if _, fk := pgdb.ForeignKeyViolation(err); fk {
		return uuid.Nil, fault.NotFound("webhook endpoint") // deleted since it was cached
	}
	if err != nil {
		return uuid.Nil, fmt.Errorf("store webhook delivery: %w", err)
	}
	s.stored.Store(true)
	// A drain job of this process that is lingering takes it now; the others hear of it by
	// the next NOTIFY (RunNotifier).
	s.WakeRunning()
	return id, nil
}

func invalidWebChat(err error) error {
	var inv *webchat.InvalidError
	if !errors.As(err, &inv) {
		return fault.Invalid("invalid message", fault.FieldError{Field: "body", Message: err.Error()})
	}
	fields := make([]fault.FieldError, len(inv.Problems))
	for i, p := range inv.Problems {
		fields[i] = fault.FieldError{Field: "body." + p.Field, Message: p.Message}
	}
	return fault.Invalid("invalid message", fields...)
}

// request rebuilds what an adapter's Verify and Parse read: the body and one header.
func request(header, value string, body []byte) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if value != "" {
		r.Header.Set(header, value)
	}
	return r
}

// WebChatMessages returns the messages kept for a WebChat visitor after the message id after,
// for the widget: the token must be the channel's widget token (401 otherwise), the channel a
// WebChat (404 otherwise), the visitor id well formed (422).
func (s *Service) WebChatMessages(ctx context.Context, channelID uuid.UUID, token, visitor string, after uuid.UUID, limit int) ([]webchat.Outgoing, error) {
	ep, err := s.endpoint(ctx, FamilyWebChat, channelID)
	if err != nil {
		return nil, err
	}
	c := webchat.New(webchat.Config{Token: ep.Credentials["widget_token"], Pool: s.pool, AccountID: ep.AccountID, ChannelID: ep.ChannelID})
	if err := c.Verify(request(webchat.TokenHeader, token, nil), nil); err != nil {
		return nil, fault.Unauthorized("widget token missing or invalid")
	}
	if !webchat.ValidVisitor(visitor) {
		return nil, fault.Invalid("invalid visitor", fault.FieldError{Field: "query.visitor", Message: "must be 16 to 64 letters, digits, _ or -", Value: visitor})
	}
	return c.Messages(ctx, visitor, after, limit)
}

// WebChatOrigins returns the site origins a WebChat channel's widget may call from: its
// "allowed_origins" credential, split at spaces and commas. Other channels allow none.
func (s *Service) WebChatOrigins(ctx context.Context, channelID uuid.UUID) ([]string, error) {
	ep, err := s.endpoint(ctx, FamilyWebChat, channelID)
	if err != nil {
		return nil, err
	}
	return strings.FieldsFunc(ep.Credentials["allowed_origins"], func(r rune) bool { return r == ' ' || r == ',' }), nil
}

// Failure is a delivery that was signed but could not be parsed, kept with why.
type Failure struct {
	ID          uuid.UUID
	Provider    string
	ReceivedAt  time.Time
	ProcessedAt time.Time
	Error       string
}

// Failures lists a channel's deliveries that failed to parse, newest first, before the
// delivery id before (nil for the first page); limit+1 rows are returned when there are more.
// Another account's channel is not found.
func (s *Service) Failures(ctx context.Context, accountID, channelID uuid.UUID, before *uuid.UUID, limit int) ([]Failure, error) {
	if _, err := s.channels.Get(ctx, accountID, channelID); err != nil {
		return nil, err
	}
	rows, err := s.q.ListFailedWebhookDeliveries(ctx, s.pool, store.ListFailedWebhookDeliveriesParams{
		AccountID: accountID, ChannelID: channelID, Before: before, Lim: int32(limit + 1),
	})
	if err != nil {
		return nil, fmt.Errorf("list failed deliveries of %s: %w", channelID, err)
	}
	out := make([]Failure, len(rows))
	for i, r := range rows {
		out[i] = Failure{ID: r.ID, Provider: r.Provider, ReceivedAt: r.ReceivedAt.UTC(), Error: val(r.Error)}
		if r.ProcessedAt != nil {
			out[i].ProcessedAt = r.ProcessedAt.UTC()
		}
	}
	return out, nil
}

func val(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
