// Package webhook takes deliveries from providers: it checks each one's signature with the
// channel's own secret, stores it as received and enqueues its processing in the same
// transaction, so a delivery acknowledged to the provider is never lost; processing parses it
// with the provider's adapter and records every message, status and notification once, however
// often the provider retries.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/fake"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp"
	"github.com/conversa-hq/conversa/internal/template"
)

// Enqueuer inserts a job in the caller's transaction (a River client).
type Enqueuer interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// ProcessArgs asks for a stored delivery to be parsed and recorded.
type ProcessArgs struct {
	AccountID  uuid.UUID `json:"account_id"`
	DeliveryID uuid.UUID `json:"delivery_id"`
}

// Kind names the job in river_job.
func (ProcessArgs) Kind() string { return "webhook_process" }

// Service receives and processes deliveries.
type Service struct {
	pool     *pgxpool.Pool
	q        *store.Queries
	channels *channel.Service
	clock    clock.Clock
	// Enqueuer runs processing; set once the River client exists.
	Enqueuer Enqueuer
}

// NewService returns a Service; set Enqueuer before receiving.
func NewService(pool *pgxpool.Pool, channels *channel.Service, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), channels: channels, clock: clk}
}

// signatureHeaders are where each provider puts a delivery's signature.
var signatureHeaders = map[string]string{"whatsapp_cloud": whatsapp.SignatureHeader, "fake": fake.SignatureHeader}

// parser builds the adapter that checks and parses the endpoint's deliveries.
func parser(ep channel.Endpoint) (provider.InboundParser, error) {
	switch ep.Provider {
	case "whatsapp_cloud":
		return whatsapp.New(whatsapp.Config{AppSecret: ep.Credentials["app_secret"], VerifyToken: ep.Credentials["verify_token"]}), nil
	case "fake":
		return fake.New(fake.Config{Secret: ep.Credentials["webhook_secret"]}), nil
	}
	return nil, fault.NotFound("webhook endpoint")
}

// endpoint finds the channel a webhook URL names, for the provider family the URL says.
func (s *Service) endpoint(ctx context.Context, family string, channelID uuid.UUID) (channel.Endpoint, error) {
	ep, err := s.channels.ForWebhook(ctx, channelID)
	if err != nil {
		return ep, err
	}
	if family == "whatsapp" && ep.Type != channel.WhatsApp || family == "fake" && ep.Provider != "fake" {
		return ep, fault.NotFound("webhook endpoint")
	}
	return ep, nil
}

// Handshake answers a WhatsApp verification request: the challenge when the verify token
// matches the channel's, else a 403 fault.
func (s *Service) Handshake(ctx context.Context, channelID uuid.UUID, query url.Values) (string, error) {
	ep, err := s.endpoint(ctx, "whatsapp", channelID)
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

// Receive checks a delivery's signature and stores it with its processing job, in one
// transaction. A missing or wrong signature is a 401 fault and stores nothing.
func (s *Service) Receive(ctx context.Context, family string, channelID uuid.UUID, header http.Header, body []byte) (uuid.UUID, error) {
	ep, err := s.endpoint(ctx, family, channelID)
	if err != nil {
		return uuid.Nil, err
	}
	p, err := parser(ep)
	if err != nil {
		return uuid.Nil, err
	}
	sigHeader := signatureHeaders[ep.Provider]
	if _, err := p.Parse(request(sigHeader, header.Get(sigHeader), body), body); errors.Is(err, provider.ErrBadSignature) {
		return uuid.Nil, fault.Unauthorized("webhook signature missing or invalid")
	}
	// A signed delivery that does not parse is stored all the same; processing records why.
	id := uuid.Must(uuid.NewV7())
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.InsertWebhookDelivery(ctx, tx, store.InsertWebhookDeliveryParams{
			AccountID: ep.AccountID, ID: id, ChannelID: ep.ChannelID, Provider: ep.Provider,
			Signature: header.Get(sigHeader), Body: body, ReceivedAt: s.clock.Now(),
		}); err != nil {
			return fmt.Errorf("store webhook delivery: %w", err)
		}
		if _, err := s.Enqueuer.InsertTx(ctx, tx, ProcessArgs{AccountID: ep.AccountID, DeliveryID: id}, nil); err != nil {
			return fmt.Errorf("enqueue webhook processing: %w", err)
		}
		return nil
	})
	return id, err
}

// Process parses a stored delivery (checking its signature again) and records what it
// carried; events already recorded by an earlier delivery are skipped. It returns how many
// events were new.
func (s *Service) Process(ctx context.Context, accountID, deliveryID uuid.UUID) (int64, error) {
	d, err := s.q.GetWebhookDelivery(ctx, s.pool, store.GetWebhookDeliveryParams{AccountID: accountID, ID: deliveryID})
	if err != nil {
		return 0, fmt.Errorf("load webhook delivery %s: %w", deliveryID, err)
	}
	ep, err := s.channels.ForWebhook(ctx, d.ChannelID)
	if err != nil {
		return 0, err
	}
	p, err := parser(ep)
	if err != nil {
		return 0, err
	}
	in, perr := p.Parse(request(signatureHeaders[d.Provider], d.Signature, d.Body), d.Body)
	now := s.clock.Now()
	if perr != nil {
		msg := perr.Error()
		return 0, s.q.MarkWebhookProcessed(ctx, s.pool, store.MarkWebhookProcessedParams{AccountID: accountID, ID: deliveryID, At: &now, Error: &msg})
	}
	ev := events(in, now)
	var n int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if len(ev.kinds) > 0 {
			if n, err = s.q.InsertProviderEvents(ctx, tx, store.InsertProviderEventsParams{
				AccountID: accountID, ChannelID: d.ChannelID, DeliveryID: deliveryID, RecordedAt: now,
				Kinds: ev.kinds, Keys: ev.keys, Payloads: ev.payloads, OccurredAts: ev.times,
			}); err != nil {
				return fmt.Errorf("record provider events: %w", err)
			}
		}
		if err := template.ApplyEvents(ctx, tx, accountID, in.Events, now); err != nil {
			return err
		}
		return s.q.MarkWebhookProcessed(ctx, tx, store.MarkWebhookProcessedParams{AccountID: accountID, ID: deliveryID, At: &now})
	})
	return n, err
}

type eventRows struct {
	kinds, keys []string
	payloads    [][]byte
	times       []time.Time
}

// events flattens a parsed delivery into rows keyed so a retry maps to the same keys: a
// message by its id, a status by message id and status, a notification by its kind, time
// and content.
func events(in provider.Inbound, now time.Time) eventRows {
	var r eventRows
	add := func(kind, key string, v any, at time.Time) {
		b, _ := json.Marshal(v)
		if at.IsZero() {
			at = now
		}
		r.kinds, r.keys, r.payloads, r.times = append(r.kinds, kind), append(r.keys, key), append(r.payloads, b), append(r.times, at)
	}
	for _, m := range in.Messages {
		add("message", m.ID, m, m.Timestamp)
	}
	for _, st := range in.Statuses {
		add("status", st.MessageID+":"+string(st.Status), st, st.Timestamp)
	}
	for _, e := range in.Events {
		b, _ := json.Marshal(e.Data)
		add("event", fmt.Sprintf("%s:%d:%x", e.Kind, e.Timestamp.Unix(), b), e, e.Timestamp)
	}
	return r
}

// request rebuilds what an adapter's Parse reads: the body and the signature header.
func request(header, value string, body []byte) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
	if value != "" {
		r.Header.Set(header, value)
	}
	return r
}

// Worker runs ProcessArgs jobs.
type Worker struct {
	river.WorkerDefaults[ProcessArgs]
	Service *Service
}

// Work processes one delivery; a failure is retried by River.
func (w *Worker) Work(ctx context.Context, job *river.Job[ProcessArgs]) error {
	_, err := w.Service.Process(ctx, job.Args.AccountID, job.Args.DeliveryID)
	return err
}
