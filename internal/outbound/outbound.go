// Package outbound delivers the event log to the account's webhook subscriptions: each event a
// subscription wants becomes one send (queued by the publisher, in the transaction that numbers
// the event), posted as JSON with an HMAC-SHA256 signature over a timestamp and the body, and
// retried with exponential backoff for up to 24 hours. Every send keeps its last outcome for the
// delivery log, and any send can be delivered again by hand.
package outbound

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/secretbox"
)

// Subscription is a URL that receives some of the account's events.
type Subscription struct {
	ID          uuid.UUID
	URL         string
	Description string
	// EventTypes are the types sent; empty means all.
	EventTypes []string
	Active     bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Input is a subscription as a caller writes it.
type Input struct {
	URL         string
	Description string
	EventTypes  []string
	// Active defaults to true.
	Active *bool
}

// Send is one event's delivery to one subscription, as the delivery log shows it.
type Send struct {
	ID            uuid.UUID
	EventSeq      int64
	EventType     string
	Status        string
	Attempts      int
	LastStatus    *int
	LastError     string
	LastAttemptAt *time.Time
	NextAttemptAt time.Time
	CreatedAt     time.Time
}

// Service manages subscriptions and delivers sends.
type Service struct {
	pool   *pgxpool.Pool
	q      *store.Queries
	clock  clock.Clock
	box    *secretbox.Box
	sender *sender
}

// Config tunes delivery.
type Config struct {
	// AllowPrivate lets subscriptions reach loopback and private addresses (development and
	// tests); otherwise such addresses are refused when connecting, so a subscription cannot
	// be used to probe the network Conversa runs in.
	AllowPrivate bool
	// Timeout bounds one request. Defaults to 10 s.
	Timeout time.Duration
	// Concurrency is how many requests one sender makes at once. Defaults to 16.
	Concurrency int
}

// NewService returns a Service. Without a box (no CONVERSA_SECRET_KEY) subscriptions cannot be
// created: their signing secrets are kept sealed.
func NewService(pool *pgxpool.Pool, clk clock.Clock, box *secretbox.Box, cfg Config) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk, box: box, sender: newSender(cfg)}
}

var errNotFound = fault.NotFound("webhook subscription")

// MaxEventTypes bounds a subscription's type filter.
const MaxEventTypes = 100

func (s *Service) check(in Input) (Input, error) {
	var errs []fault.FieldError
	in.URL = strings.TrimSpace(in.URL)
	u, err := url.Parse(in.URL)
	switch {
	case err != nil || !u.IsAbs() || u.Host == "":
		errs = append(errs, fault.FieldError{Field: "url", Message: "must be an absolute http or https URL", Value: in.URL})
	case u.Scheme != "https" && u.Scheme != "http":
		errs = append(errs, fault.FieldError{Field: "url", Message: "must use http or https", Value: in.URL})
	case u.User != nil:
		errs = append(errs, fault.FieldError{Field: "url", Message: "must not carry credentials; verify the signature instead", Value: in.URL})
	case len(in.URL) > 2048:
		errs = append(errs, fault.FieldError{Field: "url", Message: "must have at most 2048 characters"})
	}
	types := []string{}
	for i, t := range in.EventTypes {
		t = strings.TrimSpace(t)
		if t == "" || len(t) > 100 {
			errs = append(errs, fault.FieldError{Field: fmt.Sprintf("event_types[%d]", i), Message: "must have 1 to 100 characters", Value: t})
			continue
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if len(types) > MaxEventTypes {
		errs = append(errs, fault.FieldError{Field: "event_types", Message: fmt.Sprintf("at most %d types", MaxEventTypes)})
	}
	in.EventTypes = types
	if len(in.Description) > 500 {
		errs = append(errs, fault.FieldError{Field: "description", Message: "must have at most 500 characters"})
	}
	if len(errs) > 0 {
		return in, fault.Invalid("invalid webhook subscription", errs...)
	}
	return in, nil
}

// Create adds a subscription and returns it with its signing secret, which is shown this once.
func (s *Service) Create(ctx context.Context, accountID uuid.UUID, in Input) (Subscription, string, error) {
	if s.box == nil {
		return Subscription{}, "", fault.Conflict("webhook subscriptions need CONVERSA_SECRET_KEY to keep their signing secrets")
	}
	in, err := s.check(in)
	if err != nil {
		return Subscription{}, "", err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.RawURLEncoding.EncodeToString(raw)
	id := uuid.Must(uuid.NewV7())
	row, err := s.q.CreateWebhookSubscription(ctx, s.pool, store.CreateWebhookSubscriptionParams{
		AccountID: accountID, ID: id, Url: in.URL, Description: in.Description, EventTypes: in.EventTypes,
		Secret: s.box.Seal([]byte(secret), id[:]), Now: s.clock.Now(),
	})
	if err != nil {
		return Subscription{}, "", fmt.Errorf("create webhook subscription: %w", err)
	}
	return fromRow(row), secret, nil
}

// Get returns one subscription.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Subscription, error) {
	row, err := s.q.GetWebhookSubscription(ctx, s.pool, store.GetWebhookSubscriptionParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, errNotFound
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("get webhook subscription %s: %w", id, err)
	}
	return fromRow(row), nil
}

// List pages through the account's subscriptions.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, after *uuid.UUID, limit int) ([]Subscription, error) {
	rows, err := s.q.ListWebhookSubscriptions(ctx, s.pool, store.ListWebhookSubscriptionsParams{AccountID: accountID, After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list webhook subscriptions: %w", err)
	}
	out := make([]Subscription, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Update replaces a subscription's URL, description, types and active flag; the secret stays.
func (s *Service) Update(ctx context.Context, accountID, id uuid.UUID, in Input) (Subscription, error) {
	in, err := s.check(in)
	if err != nil {
		return Subscription{}, err
	}
	active := in.Active == nil || *in.Active
	row, err := s.q.UpdateWebhookSubscription(ctx, s.pool, store.UpdateWebhookSubscriptionParams{
		AccountID: accountID, ID: id, Url: in.URL, Description: in.Description, EventTypes: in.EventTypes, Active: active, Now: s.clock.Now(),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, errNotFound
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("update webhook subscription %s: %w", id, err)
	}
	return fromRow(row), nil
}

// Delete removes a subscription and its delivery log.
func (s *Service) Delete(ctx context.Context, accountID, id uuid.UUID) error {
	n, err := s.q.DeleteWebhookSubscription(ctx, s.pool, store.DeleteWebhookSubscriptionParams{AccountID: accountID, ID: id})
	if err != nil {
		return fmt.Errorf("delete webhook subscription %s: %w", id, err)
	}
	if n == 0 {
		return errNotFound
	}
	return nil
}

// Sends lists a subscription's delivery log, newest event first, before event seq before (0:
// from the newest).
func (s *Service) Sends(ctx context.Context, accountID, id uuid.UUID, before int64, limit int) ([]Send, error) {
	if _, err := s.Get(ctx, accountID, id); err != nil {
		return nil, err
	}
	var b *int64
	if before > 0 {
		b = &before
	}
	rows, err := s.q.ListWebhookSends(ctx, s.pool, store.ListWebhookSendsParams{AccountID: accountID, SubscriptionID: id, Before: b, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list sends of %s: %w", id, err)
	}
	out := make([]Send, len(rows))
	for i, r := range rows {
		out[i] = Send{ID: r.ID, EventSeq: r.EventSeq, EventType: r.EventType, Status: r.Status, Attempts: int(r.Attempts),
			LastError: deref(r.LastError), LastAttemptAt: r.LastAttemptAt, NextAttemptAt: r.NextAttemptAt.UTC(), CreatedAt: r.CreatedAt.UTC()}
		if r.LastStatus != nil {
			v := int(*r.LastStatus)
			out[i].LastStatus = &v
		}
	}
	return out, nil
}

// Redeliver queues a send again, whatever became of it; the next sender posts it.
func (s *Service) Redeliver(ctx context.Context, accountID, subscriptionID, sendID uuid.UUID) error {
	_, err := s.q.RedeliverWebhookSend(ctx, s.pool, store.RedeliverWebhookSendParams{AccountID: accountID, SubscriptionID: subscriptionID, ID: sendID, Now: s.clock.Now()})
	if errors.Is(err, pgx.ErrNoRows) {
		return fault.NotFound("webhook delivery")
	}
	if err != nil {
		return fmt.Errorf("redeliver %s: %w", sendID, err)
	}
	return nil
}

func fromRow(r store.WebhookSubscription) Subscription {
	return Subscription{ID: r.ID, URL: r.Url, Description: r.Description, EventTypes: r.EventTypes, Active: r.Active,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// SignatureHeader carries the timestamp and signature of a delivery.
const SignatureHeader = "Conversa-Signature"

// Sign returns the SignatureHeader value for body sent at t: "t=<unix seconds>,v1=<hex
// HMAC-SHA256 of "<t>.<body>" under the secret>". The timestamp is inside what is signed, so a
// receiver that refuses old timestamps refuses replays.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Verify checks a SignatureHeader value as a receiver should: the signature must match and the
// timestamp must be within tolerance of now.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return errors.New("malformed signature header")
	}
	got, err := hex.DecodeString(sig)
	if err != nil || !hmac.Equal(got, mac(secret, ts, body)) {
		return errors.New("signature does not match")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("timestamp outside the tolerance: a replay, or a clock far off")
	}
	return nil
}
