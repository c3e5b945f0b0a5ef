package api

import (
	"context"
	"net/http"
	"net/url"

	"github.com/danielgtaylor/huma/v2"
)

// WebhookAck answers a stored delivery.
type WebhookAck struct {
	Received bool `json:"received"`
}

// WebhookPath names a channel's webhook endpoint (exported so huma reads it when embedded).
type WebhookPath struct {
	Provider  string `path:"provider" enum:"whatsapp,fake" doc:"The provider family the channel uses."`
	ChannelID string `path:"channel_id" format:"uuid"`
}

func (s *server) registerWebhooks(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "verify-webhook", Method: http.MethodGet, Path: "/webhooks/{provider}/{channel_id}", Tags: []string{channelsTag},
		Summary: "Answer a provider's webhook verification (WhatsApp's hub.challenge handshake)",
		Errors:  []int{http.StatusForbidden, http.StatusNotFound},
	}, handle(func(ctx context.Context, in *struct {
		WebhookPath
		Mode      string `query:"hub.mode"`
		Token     string `query:"hub.verify_token"`
		Challenge string `query:"hub.challenge"`
	}) (*struct {
		ContentType string `header:"Content-Type"`
		Body        []byte
	}, error) {
		id, err := parseUUID("path.channel_id", in.ChannelID)
		if err != nil {
			return nil, err
		}
		q := url.Values{"hub.mode": {in.Mode}, "hub.verify_token": {in.Token}, "hub.challenge": {in.Challenge}}
		challenge, err := s.Webhooks.Handshake(ctx, id, q)
		if err != nil {
			return nil, err
		}
		return &struct {
			ContentType string `header:"Content-Type"`
			Body        []byte
		}{ContentType: "text/plain", Body: []byte(challenge)}, nil
	}))
	huma.Register(api, huma.Operation{
		OperationID: "receive-webhook", Method: http.MethodPost, Path: "/webhooks/{provider}/{channel_id}", Tags: []string{channelsTag},
		Summary: "Receive a provider's webhook delivery",
		Description: "The signature (WhatsApp: X-Hub-Signature-256 with the channel's app secret) is checked first: a missing or wrong one " +
			"is a 401 and stores nothing. A signed delivery is stored as received and answered at once; a job parses it and records " +
			"each message, status and notification once, however often the provider retries.",
		Errors: []int{http.StatusUnauthorized, http.StatusNotFound},
	}, handle(func(ctx context.Context, in *struct {
		WebhookPath
		HubSignature  string `header:"X-Hub-Signature-256"`
		FakeSignature string `header:"X-Fake-Signature"`
		RawBody       []byte
	}) (*struct{ Body WebhookAck }, error) {
		id, err := parseUUID("path.channel_id", in.ChannelID)
		if err != nil {
			return nil, err
		}
		h := http.Header{}
		if in.HubSignature != "" {
			h.Set("X-Hub-Signature-256", in.HubSignature)
		}
		if in.FakeSignature != "" {
			h.Set("X-Fake-Signature", in.FakeSignature)
		}
		if _, err := s.Webhooks.Receive(ctx, in.Provider, id, h, in.RawBody); err != nil {
			return nil, err
		}
		return &struct{ Body WebhookAck }{Body: WebhookAck{Received: true}}, nil
	}))
}
