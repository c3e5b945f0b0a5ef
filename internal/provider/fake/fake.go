// Package fake is a messaging provider that sends nowhere, for development, demos, tests and
// benchmarks (DESIGN §4 "Channels"): Send waits a configurable latency, hands out ids, and
// fails every Nth message with a configurable code; SubmitTemplate approves at once or after
// a delay measured on an injected clock; Parse reads a simple signed JSON webhook format, so
// demos and load tests can inject inbound messages and status updates.
//
// # Webhook format
//
// A delivery is a POST whose body is JSON:
//
//	{
//	  "messages": [{"id": "m1", "from": "+5511987654321", "from_name": "Ana", "to": "fake-line",
//	                "timestamp": "2026-07-01T12:00:00Z", "kind": "text", "text": "oi",
//	                "media": {"kind": "image", "url": "https://...", "caption": "", "filename": ""},
//	                "reply_to": "", "echo": false}],
//	  "statuses": [{"message_id": "fake-...", "status": "delivered", "timestamp": "...",
//	                "recipient": "+5511987654321",
//	                "error": {"code": "x", "reason": "y", "retryable": false, "retry_after_seconds": 0}}],
//	  "events":   [{"kind": "quality", "timestamp": "...", "data": {"rating": "green"}}]
//	}
//
// signed in the header X-Fake-Signature as "sha256=" and the lower- or upper-case hex
// HMAC-SHA256 of the raw body keyed with Config.Secret (Sign computes it). Timestamps are RFC
// 3339; a missing one is the clock's now. Messages need id and from (kind defaults to text);
// statuses need message_id and one of sent, delivered, read, failed; events need kind.
// Unknown JSON fields are ignored.
package fake

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/provider"
)

// Defaults and limits.
const (
	// DefaultFailCode is the Error.Code of injected failures when Config.FailCode is empty.
	DefaultFailCode = "fake_failure"
	// CodeInvalidMessage is the Error.Code of a message the fake refuses because a real
	// provider could not send it either (no recipient, no payload for its kind). Not retryable.
	CodeInvalidMessage = "invalid_message"
	// SentLimit is how many of the latest accepted messages Sent keeps: enough for tests and
	// demos, and flat memory for a process that sends millions through many fake lines.
	SentLimit = 4_000
	// RefLimit is how many of the latest accepted references the dedupe remembers: a re-send
	// after a crash comes soon after the first, and a process that sends millions must not
	// keep them all.
	RefLimit = 4_000
	// SignatureHeader carries a webhook delivery's signature; see the package comment.
	SignatureHeader = "X-Fake-Signature"
)

// Template statuses reported by SubmitTemplate and Status.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
)

// ErrUnknownTemplate is returned by Status for an id SubmitTemplate never returned.
var ErrUnknownTemplate = errors.New("fake: unknown template id")

// Config shapes a Provider. The zero value is an instant, never-failing provider whose
// webhooks cannot be verified (Parse needs Secret).
type Config struct {
	// Latency is how long each Send takes; 0 for none.
	Latency time.Duration
	// FailEvery makes every FailEvery-th send attempt fail (the 3rd, 6th... for 3); 0 never.
	FailEvery int
	// FailCode is the failures' Error.Code; DefaultFailCode when empty.
	FailCode string
	// Retryable is the failures' Error.Retryable.
	Retryable bool
	// Sleep waits d or until ctx ends, returning ctx's error then. Tests inject one that does
	// not sleep; nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// ApproveAfter, when > 0, makes submitted templates pending until Clock has moved this far
	// past the submission; 0 approves them at once.
	ApproveAfter time.Duration
	// Clock tells the time for ApproveAfter and missing webhook timestamps; clock.System{}
	// when nil.
	Clock clock.Clock
	// Secret keys the webhook signature; Parse refuses everything when empty.
	Secret string
}

// Provider is the fake provider. It implements provider.Sender, provider.TemplateSubmitter and
// provider.InboundParser, and is safe for concurrent use.
type Provider struct {
	cfg        Config
	attempts   atomic.Int64
	accepted   atomic.Int64
	duplicates atomic.Int64

	mu        sync.Mutex
	sent      []provider.Message // ring buffer of at most SentLimit
	next      int                // where the next message goes once sent is full
	templates map[string]time.Time
	// refs maps each accepted message's Ref to the id it was given: a re-send is the same
	// message, not a second one. refOrder holds them in acceptance order (a ring of RefLimit),
	// so the oldest is forgotten first.
	refs     map[string]string
	refOrder []string
	refNext  int
}

var (
	_ provider.Sender            = (*Provider)(nil)
	_ provider.TemplateSubmitter = (*Provider)(nil)
	_ provider.InboundParser     = (*Provider)(nil)
)

// New returns a Provider for cfg, filling in the defaults.
func New(cfg Config) *Provider {
	if cfg.FailCode == "" {
		cfg.FailCode = DefaultFailCode
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System{}
	}
	return &Provider{cfg: cfg, templates: map[string]time.Time{}, refs: map[string]string{}}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Send waits Config.Latency (returning ctx's error, wrapped, if ctx ends first; such a send
// is not counted), then accepts m with an id "fake-<uuid>" or, on every FailEvery-th attempt,
// refuses it with *provider.Error{Code: FailCode, Retryable: Config.Retryable}. A message no
// real provider could send is refused with CodeInvalidMessage before any waiting. A message
// whose Ref was accepted before gets the same id again and is not counted twice (Duplicates
// counts these), as an idempotent provider API would.
func (p *Provider) Send(ctx context.Context, m provider.Message) (provider.Sent, error) {
	if err := validate(m); err != nil {
		return provider.Sent{}, err
	}
	if err := ctx.Err(); err != nil {
		return provider.Sent{}, fmt.Errorf("fake send %s: %w", m.Kind, err)
	}
	if p.cfg.Latency > 0 {
		if err := p.cfg.Sleep(ctx, p.cfg.Latency); err != nil {
			return provider.Sent{}, fmt.Errorf("fake send %s: %w", m.Kind, err)
		}
	}
	n := p.attempts.Add(1)
	if p.cfg.FailEvery > 0 && n%int64(p.cfg.FailEvery) == 0 {
		return provider.Sent{}, &provider.Error{
			Code:      p.cfg.FailCode,
			Reason:    fmt.Sprintf("fake provider fails every %d sends; this was send %d", p.cfg.FailEvery, n),
			Retryable: p.cfg.Retryable,
		}
	}
	id := "fake-" + uuid.NewString()
	if m.Ref != "" {
		p.mu.Lock()
		prev, seen := p.refs[m.Ref]
		if !seen {
			p.remember(m.Ref, id)
		}
		p.mu.Unlock()
		if seen {
			p.duplicates.Add(1)
			return provider.Sent{ID: prev}, nil
		}
	}
	p.record(m)
	p.accepted.Add(1)
	return provider.Sent{ID: id}, nil
}

// Duplicates returns how many sends repeated the Ref of an accepted message (answered with
// the first id, not counted by Count).
func (p *Provider) Duplicates() int64 { return p.duplicates.Load() }

func validate(m provider.Message) error {
	bad := func(reason string) error {
		return &provider.Error{Code: CodeInvalidMessage, Reason: reason}
	}
	if strings.TrimSpace(m.To) == "" {
		return bad("recipient is empty")
	}
	switch m.Kind {
	case provider.KindText:
		if m.Text == "" {
			return bad("text message has no text")
		}
	case provider.KindTemplate:
		if m.Template == nil || m.Template.Name == "" {
			return bad("template message has no template name")
		}
	case provider.KindMedia:
		if m.Media == nil || m.Media.URL == "" {
			return bad("media message has no media URL")
		}
	case provider.KindReaction:
		if m.Reaction == nil || m.Reaction.MessageID == "" {
			return bad("reaction has no target message")
		}
	case provider.KindContact:
		if m.Contact == nil || m.Contact.Name == "" {
			return bad("contact card has no name")
		}
	default:
		return bad(fmt.Sprintf("unknown message kind %q", m.Kind))
	}
	return nil
}

// remember keeps ref's id, forgetting the oldest reference once RefLimit are kept. The caller
// holds p.mu.
func (p *Provider) remember(ref, id string) {
	p.refs[ref] = id
	if len(p.refOrder) < RefLimit {
		p.refOrder = append(p.refOrder, ref)
		return
	}
	delete(p.refs, p.refOrder[p.refNext])
	p.refOrder[p.refNext] = ref
	p.refNext = (p.refNext + 1) % RefLimit
}

func (p *Provider) record(m provider.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.sent) < SentLimit {
		p.sent = append(p.sent, m)
		return
	}
	p.sent[p.next] = m
	p.next = (p.next + 1) % SentLimit
}

// Count returns how many messages were accepted since New.
func (p *Provider) Count() int64 { return p.accepted.Load() }

// Attempts returns how many sends got past the latency, accepted or failed; FailEvery counts
// these.
func (p *Provider) Attempts() int64 { return p.attempts.Load() }

// Sent returns the latest accepted messages, oldest first: all of them up to SentLimit, then
// the last SentLimit.
func (p *Provider) Sent() []provider.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]provider.Message, 0, len(p.sent))
	out = append(out, p.sent[p.next:]...)
	return append(out, p.sent[:p.next]...)
}

// SubmitTemplate accepts t with an id "fake-tpl-<uuid>", approved at once, or pending when
// Config.ApproveAfter > 0 (see Status). It refuses, with CodeInvalidMessage, a template without
// name or language or with a category other than marketing, utility or authentication.
func (p *Provider) SubmitTemplate(ctx context.Context, t provider.TemplateSpec) (provider.Submitted, error) {
	if err := ctx.Err(); err != nil {
		return provider.Submitted{}, fmt.Errorf("fake submit template %q: %w", t.Name, err)
	}
	if t.Name == "" || t.Language == "" {
		return provider.Submitted{}, &provider.Error{Code: CodeInvalidMessage, Reason: "template needs a name and a language"}
	}
	switch strings.ToLower(t.Category) {
	case "marketing", "utility", "authentication":
	default:
		return provider.Submitted{}, &provider.Error{Code: CodeInvalidMessage,
			Reason: fmt.Sprintf("template category %q is not marketing, utility or authentication", t.Category)}
	}
	id := "fake-tpl-" + uuid.NewString()
	p.mu.Lock()
	p.templates[id] = p.cfg.Clock.Now()
	p.mu.Unlock()
	status := StatusApproved
	if p.cfg.ApproveAfter > 0 {
		status = StatusPending
	}
	return provider.Submitted{ID: id, Status: status}, nil
}

// Status reports a submitted template's status: approved once the clock is ApproveAfter or
// more past its submission, pending before. Returns ErrUnknownTemplate for an unknown id.
func (p *Provider) Status(id string) (string, error) {
	p.mu.Lock()
	at, ok := p.templates[id]
	p.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("fake template %q: %w", id, ErrUnknownTemplate)
	}
	if p.cfg.Clock.Now().Sub(at) >= p.cfg.ApproveAfter {
		return StatusApproved, nil
	}
	return StatusPending, nil
}

// Sign returns the X-Fake-Signature value for body: "sha256=" and the hex HMAC-SHA256 of the
// body keyed with secret.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// The webhook wire format (see the package comment).
type (
	wireInbound struct {
		Messages []wireMessage `json:"messages"`
		Statuses []wireStatus  `json:"statuses"`
		Events   []wireEvent   `json:"events"`
	}
	wireMessage struct {
		ID        string    `json:"id"`
		From      string    `json:"from"`
		FromName  string    `json:"from_name"`
		To        string    `json:"to"`
		Timestamp time.Time `json:"timestamp"`
		Kind      string    `json:"kind"`
		Text      string    `json:"text"`
		Media     *struct {
			Kind     string `json:"kind"`
			URL      string `json:"url"`
			Caption  string `json:"caption"`
			Filename string `json:"filename"`
		} `json:"media"`
		ReplyTo string `json:"reply_to"`
		Echo    bool   `json:"echo"`
	}
	wireStatus struct {
		MessageID string    `json:"message_id"`
		Status    string    `json:"status"`
		Timestamp time.Time `json:"timestamp"`
		Recipient string    `json:"recipient"`
		Error     *struct {
			Code              string `json:"code"`
			Reason            string `json:"reason"`
			Retryable         bool   `json:"retryable"`
			RetryAfterSeconds int    `json:"retry_after_seconds"`
		} `json:"error"`
	}
	wireEvent struct {
		Kind      string            `json:"kind"`
		Timestamp time.Time         `json:"timestamp"`
		Data      map[string]string `json:"data"`
	}
)

// Parse verifies X-Fake-Signature and reads the delivery (format in the package comment).
// Errors: provider.ErrBadSignature (wrapped) when the header is missing, malformed or wrong,
// or Config.Secret is empty; a decode or validation error naming the offending item when the
// signed body is not valid.
func (p *Provider) Parse(r *http.Request, body []byte) (provider.Inbound, error) {
	if err := p.verify(r, body); err != nil {
		return provider.Inbound{}, err
	}
	var w wireInbound
	if err := json.Unmarshal(body, &w); err != nil {
		return provider.Inbound{}, fmt.Errorf("fake webhook: decode: %w", err)
	}
	now := p.cfg.Clock.Now()
	orNow := func(t time.Time) time.Time {
		if t.IsZero() {
			return now
		}
		return t.UTC()
	}
	var in provider.Inbound
	for i, m := range w.Messages {
		if m.ID == "" || m.From == "" {
			return provider.Inbound{}, fmt.Errorf("fake webhook: message %d: id and from are required", i)
		}
		kind := m.Kind
		if kind == "" {
			kind = "text"
		}
		msg := provider.InboundMessage{ID: m.ID, From: m.From, FromName: m.FromName, To: m.To,
			Timestamp: orNow(m.Timestamp), Kind: kind, Text: m.Text, ReplyTo: m.ReplyTo, Echo: m.Echo}
		if m.Media != nil {
			msg.Media = &provider.Media{Kind: provider.MediaKind(m.Media.Kind), URL: m.Media.URL, Caption: m.Media.Caption, Filename: m.Media.Filename}
		}
		in.Messages = append(in.Messages, msg)
	}
	for i, s := range w.Statuses {
		st := provider.Status(s.Status)
		switch st {
		case provider.StatusSent, provider.StatusDelivered, provider.StatusRead, provider.StatusFailed:
		default:
			return provider.Inbound{}, fmt.Errorf("fake webhook: status %d: %q is not sent, delivered, read or failed", i, s.Status)
		}
		if s.MessageID == "" {
			return provider.Inbound{}, fmt.Errorf("fake webhook: status %d: message_id is required", i)
		}
		u := provider.StatusUpdate{MessageID: s.MessageID, Status: st, Timestamp: orNow(s.Timestamp), Recipient: s.Recipient}
		if s.Error != nil {
			u.Error = &provider.Error{Code: s.Error.Code, Reason: s.Error.Reason, Retryable: s.Error.Retryable,
				RetryAfter: time.Duration(s.Error.RetryAfterSeconds) * time.Second}
		} else if st == provider.StatusFailed {
			u.Error = &provider.Error{Code: p.cfg.FailCode, Reason: "fake provider reported the message failed"}
		}
		in.Statuses = append(in.Statuses, u)
	}
	for i, e := range w.Events {
		if e.Kind == "" {
			return provider.Inbound{}, fmt.Errorf("fake webhook: event %d: kind is required", i)
		}
		in.Events = append(in.Events, provider.Event{Kind: e.Kind, Timestamp: orNow(e.Timestamp), Data: e.Data})
	}
	return in, nil
}

func (p *Provider) verify(r *http.Request, body []byte) error {
	if p.cfg.Secret == "" {
		return fmt.Errorf("%w: fake provider has no secret configured", provider.ErrBadSignature)
	}
	if r == nil {
		return fmt.Errorf("%w: no request", provider.ErrBadSignature)
	}
	header := r.Header.Get(SignatureHeader)
	if header == "" {
		return fmt.Errorf("%w: %s header missing", provider.ErrBadSignature, SignatureHeader)
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w: %s does not start with sha256=", provider.ErrBadSignature, SignatureHeader)
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil || len(got) != sha256.Size {
		return fmt.Errorf("%w: %s is not a hex SHA-256 digest", provider.ErrBadSignature, SignatureHeader)
	}
	m := hmac.New(sha256.New, []byte(p.cfg.Secret))
	m.Write(body)
	if !hmac.Equal(got, m.Sum(nil)) {
		return fmt.Errorf("%w: %s does not match the body", provider.ErrBadSignature, SignatureHeader)
	}
	return nil
}

// Verify checks X-Fake-Signature only (provider.Verifier).
func (p *Provider) Verify(r *http.Request, body []byte) error { return p.verify(r, body) }
