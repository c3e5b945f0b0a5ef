package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/provider/webchat"
	"github.com/conversa-hq/conversa/internal/webhook"
)

// WebhookAck answers a stored delivery.
type WebhookAck struct {
	Received bool `json:"received"`
}

// WebhookPath names a channel's webhook endpoint (exported so huma reads it when embedded).
type WebhookPath struct {
	Provider  string `path:"provider" enum:"whatsapp,telegram,twilio,fake" doc:"The provider family the channel uses."`
	ChannelID string `path:"channel_id" format:"uuid"`
}

// requestURL captures the full URL a request was made to, as the provider that signs it
// (Twilio) saw it: the scheme from X-Forwarded-Proto or TLS, the Host header, path and query.
type requestURL struct {
	url string
}

// Resolve implements huma.Resolver.
func (r *requestURL) Resolve(ctx huma.Context) []error {
	scheme := "http"
	if ctx.TLS() != nil {
		scheme = "https"
	}
	if p := ctx.Header("X-Forwarded-Proto"); p == "https" || p == "http" {
		scheme = p
	}
	u := ctx.URL()
	r.url = scheme + "://" + ctx.Host() + u.RequestURI()
	return nil
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
		challenge, err := s.Webhooks.Handshake(ctx, in.Provider, id, q)
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
		Description: "The delivery is authenticated first with the channel's own secret: WhatsApp by X-Hub-Signature-256 (HMAC-SHA256 " +
			"of the body with the app secret), Telegram by X-Telegram-Bot-Api-Secret-Token (the channel's secret_token), the SMS " +
			"gateway by X-Twilio-Signature (HMAC-SHA1 of the full URL and the sorted form parameters with the auth token). A missing " +
			"or wrong one is a 401 and stores nothing; a channel of another type is a 404. A valid delivery is stored as received " +
			"with one INSERT and answered at once; a draining job parses it and records each message, status and notification " +
			"once, however often the provider retries.",
		Errors: []int{http.StatusUnauthorized, http.StatusNotFound},
	}, handle(func(ctx context.Context, in *struct {
		WebhookPath
		requestURL
		HubSignature    string `header:"X-Hub-Signature-256"`
		FakeSignature   string `header:"X-Fake-Signature"`
		TelegramSecret  string `header:"X-Telegram-Bot-Api-Secret-Token"`
		TwilioSignature string `header:"X-Twilio-Signature"`
		RawBody         []byte
	}) (*struct{ Body WebhookAck }, error) {
		id, err := parseUUID("path.channel_id", in.ChannelID)
		if err != nil {
			return nil, err
		}
		h := http.Header{}
		for name, v := range map[string]string{"X-Hub-Signature-256": in.HubSignature, "X-Fake-Signature": in.FakeSignature,
			"X-Telegram-Bot-Api-Secret-Token": in.TelegramSecret, "X-Twilio-Signature": in.TwilioSignature} {
			if v != "" {
				h.Set(name, v)
			}
		}
		if _, err := s.Webhooks.Receive(ctx, webhook.Delivery{Family: in.Provider, ChannelID: id, Header: h, URL: in.url, Body: in.RawBody}); err != nil {
			return nil, err
		}
		return &struct{ Body WebhookAck }{Body: WebhookAck{Received: true}}, nil
	}))
	s.registerWebChat(api)
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-webhook-failures", Method: http.MethodGet, Path: "/v1/channels/{id}/webhook-failures", Tags: []string{channelsTag},
		Summary:     "List the channel's webhook deliveries that could not be parsed, newest first",
		Description: "A delivery whose signature held but whose content could not be read is kept with the reason and never retried; this lists them.",
		Errors:      []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ChannelIDParam
		PageParams
	}) (*struct{ Body listBody[WebhookFailure] }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		before, err := in.after()
		if err != nil {
			return nil, err
		}
		fs, err := s.Webhooks.Failures(ctx, p.AccountID, id, before, in.Limit)
		if err != nil {
			return nil, err
		}
		return listPage(fs, in.Limit, func(f webhook.Failure) uuid.UUID { return f.ID }, func(f webhook.Failure) WebhookFailure {
			return WebhookFailure{ID: f.ID.String(), Provider: f.Provider, ReceivedAt: f.ReceivedAt, ProcessedAt: f.ProcessedAt, Error: f.Error}
		}), nil
	}))
}

// WebhookFailure is a delivery that could not be parsed.
type WebhookFailure struct {
	ID          string    `json:"id" format:"uuid"`
	Provider    string    `json:"provider"`
	ReceivedAt  time.Time `json:"received_at"`
	ProcessedAt time.Time `json:"processed_at"`
	Error       string    `json:"error"`
}

// WebChatMessage is a message sent to a visitor, as the widget fetches it.
type WebChatMessage struct {
	ID        string         `json:"id" format:"uuid" doc:"Pass as after= to fetch what came later."`
	Kind      string         `json:"kind" doc:"text, template, media, reaction or contact."`
	Text      string         `json:"text"`
	Payload   map[string]any `json:"payload" doc:"The parts other than the text: media, reaction, contact, reply_to, template."`
	CreatedAt time.Time      `json:"created_at"`
}

// WebChatMessages is a page of messages for a visitor.
type WebChatMessages struct {
	Messages []WebChatMessage `json:"messages"`
}

func (s *server) registerWebChat(api huma.API) {
	const path = "/webhooks/webchat/{channel_id}/messages"
	huma.Register(api, huma.Operation{
		OperationID: "post-webchat-message", Method: http.MethodPost, Path: path, Tags: []string{channelsTag},
		Summary: "Post a WebChat visitor's message (the widget's endpoint)",
		Description: "Public: authenticated by the channel's widget token in X-Widget-Token (a token of another channel or none is a 401, " +
			"a channel that is not WebChat a 404). Cross-origin calls are allowed from the origins in the channel's allowed_origins " +
			"credential. The body is JSON: id (the widget's own id for the message, a UUID it generates: a resend is recorded once), " +
			"visitor_id (16-64 letters, digits, _ or -: a random id the widget generates once and keeps in the browser), text (1-4096 " +
			"characters), and optionally name, email, phone (who the visitor says they are) and sent_at (RFC 3339). It is stored at once " +
			"and recorded by the same draining job as every provider's webhooks.",
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, handle(func(ctx context.Context, in *struct {
		ChannelID string `path:"channel_id" format:"uuid"`
		Token     string `header:"X-Widget-Token"`
		RawBody   []byte
	}) (*struct{ Body WebhookAck }, error) {
		id, err := parseUUID("path.channel_id", in.ChannelID)
		if err != nil {
			return nil, err
		}
		h := http.Header{}
		if in.Token != "" {
			h.Set(webchat.TokenHeader, in.Token)
		}
		if _, err := s.Webhooks.Receive(ctx, webhook.Delivery{Family: webhook.FamilyWebChat, ChannelID: id, Header: h, Body: in.RawBody}); err != nil {
			return nil, err
		}
		return &struct{ Body WebhookAck }{Body: WebhookAck{Received: true}}, nil
	}))
	huma.Register(api, huma.Operation{
		OperationID: "list-webchat-messages", Method: http.MethodGet, Path: path, Tags: []string{channelsTag},
		Summary:     "Fetch the messages sent to a WebChat visitor (the widget's endpoint)",
		Description: "Public, authenticated like the POST. Returns up to limit messages after the message id in after, oldest first; poll with the last id seen.",
		Errors:      []int{http.StatusUnauthorized, http.StatusNotFound, http.StatusUnprocessableEntity},
	}, handle(func(ctx context.Context, in *struct {
		ChannelID string `path:"channel_id" format:"uuid"`
		Token     string `header:"X-Widget-Token"`
		Visitor   string `query:"visitor" required:"true" doc:"The visitor id the widget keeps."`
		After     string `query:"after" doc:"The id of the last message seen."`
		Limit     int    `query:"limit" minimum:"1" maximum:"100" default:"50"`
	}) (*struct{ Body WebChatMessages }, error) {
		id, err := parseUUID("path.channel_id", in.ChannelID)
		if err != nil {
			return nil, err
		}
		var after uuid.UUID
		if in.After != "" {
			if after, err = parseUUID("query.after", in.After); err != nil {
				return nil, err
			}
		}
		msgs, err := s.Webhooks.WebChatMessages(ctx, id, in.Token, in.Visitor, after, in.Limit)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body WebChatMessages }{Body: WebChatMessages{Messages: make([]WebChatMessage, len(msgs))}}
		for i, m := range msgs {
			payload := map[string]any{}
			_ = json.Unmarshal(m.Payload, &payload) // written by webchat.Send: always an object
			out.Body.Messages[i] = WebChatMessage{ID: m.ID.String(), Kind: m.Kind, Text: m.Text, Payload: payload, CreatedAt: m.CreatedAt}
		}
		return out, nil
	}))
}

// webchatCORS answers the widget's cross-origin calls to /webhooks/webchat/{channel_id}/...:
// an Origin the channel allows (its allowed_origins credential, space- or comma-separated,
// "*" for any) gets Access-Control-Allow-Origin, and its preflight a 204 naming the methods
// and headers the widget uses. Other origins get no CORS headers (the browser then refuses).
func webchatCORS(origins func(context.Context, uuid.UUID) ([]string, error)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rest, ok := strings.CutPrefix(r.URL.Path, "/webhooks/webchat/")
			origin := r.Header.Get("Origin")
			if !ok || origins == nil {
				next.ServeHTTP(w, r)
				return
			}
			idText, _, _ := strings.Cut(rest, "/")
			id, err := uuid.Parse(idText)
			allowed := false
			if err == nil && origin != "" {
				list, err := origins(r.Context(), id)
				allowed = err == nil && (slices.Contains(list, origin) || slices.Contains(list, "*"))
			}
			w.Header().Add("Vary", "Origin")
			if allowed {
				w.Header().Set("Access-Control-Allow-Origin", origin)
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				if allowed {
					w.Header().Set("Access-Control-Allow-Methods", "GET, POST")
					w.Header().Set("Access-Control-Allow-Headers", "Content-Type, "+webchat.TokenHeader)
					w.Header().Set("Access-Control-Max-Age", "600")
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
