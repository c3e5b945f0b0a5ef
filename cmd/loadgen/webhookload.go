package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/jobs"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
	"github.com/conversa-hq/conversa/internal/secretbox"
	"github.com/conversa-hq/conversa/internal/webhook"
)

// benchSecretKey seals the bench channel's credentials; the server gets it as
// CONVERSA_SECRET_KEY so it can open them.
var benchSecretKey = secretbox.GenerateKey()

// webhookBench is a WhatsApp channel and the signed delivery the webhook scenarios post.
type webhookBench struct {
	channelID uuid.UUID
	accountID uuid.UUID
	body      []byte
	signature string
}

// setupWebhook registers a WhatsApp channel with an app secret and builds a signed inbound
// text delivery, shaped as Meta sends them.
func setupWebhook(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID) (webhookBench, error) {
	box, err := secretbox.New(benchSecretKey)
	if err != nil {
		return webhookBench{}, err
	}
	name := "Bench WhatsApp"
	number := "+55 11 4000-9999"
	ch, err := channel.NewService(pool, clock.System{}, box).Create(ctx, accountID, channel.Input{
		Type: channel.WhatsApp, Name: &name, PhoneNumber: &number,
		Credentials: map[string]string{"app_secret": "bench-secret", "verify_token": "bench"},
	})
	if err != nil {
		return webhookBench{}, fmt.Errorf("create bench channel: %w", err)
	}
	body := whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: "1", PhoneNumberID: "2", From: "5511987654321",
		Name: "Bench", ID: "wamid.bench", Text: "Olá", At: time.Now()})
	return webhookBench{channelID: ch.ID, accountID: accountID, body: body, signature: whatsapptest.Sign("bench-secret", body)}, nil
}

// receiveWebhook posts the signed delivery, as Meta does.
func (h *httpTarget) receiveWebhook(w webhookBench) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"/webhooks/whatsapp/"+w.channelID.String(), bytes.NewReader(w.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Hub-Signature-256", w.signature)
		return h.send(req)
	}
}

// receiveWebhook does what storing a delivery does in the database: in one transaction, the
// delivery row and its River job.
func (r *rawTarget) receiveWebhook(w webhookBench, client interface {
	InsertTx(context.Context, pgx.Tx, webhook.ProcessArgs) error
}) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			id := uuid.Must(uuid.NewV7())
			if err := r.q.InsertWebhookDelivery(ctx, tx, store.InsertWebhookDeliveryParams{
				AccountID: w.accountID, ID: id, ChannelID: w.channelID, Provider: "whatsapp_cloud",
				Signature: w.signature, Body: w.body, ReceivedAt: time.Now(),
			}); err != nil {
				return err
			}
			return client.InsertTx(ctx, tx, webhook.ProcessArgs{AccountID: w.accountID, DeliveryID: id})
		})
	}
}

// riverInserter inserts jobs through an insert-only River client.
type riverInserter struct {
	insert func(context.Context, pgx.Tx, webhook.ProcessArgs) error
}

func (r riverInserter) InsertTx(ctx context.Context, tx pgx.Tx, args webhook.ProcessArgs) error {
	return r.insert(ctx, tx, args)
}

// newRiverInserter returns an insert-only River client for the raw webhook phase.
func newRiverInserter(pool *pgxpool.Pool) (riverInserter, error) {
	wh := webhook.NewService(pool, nil, clock.System{})
	client, err := jobs.NewClient(pool, jobs.Config{Webhooks: wh})
	if err != nil {
		return riverInserter{}, err
	}
	return riverInserter{insert: func(ctx context.Context, tx pgx.Tx, args webhook.ProcessArgs) error {
		_, err := client.InsertTx(ctx, tx, args, nil)
		return err
	}}, nil
}
