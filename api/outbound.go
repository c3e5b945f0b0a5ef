package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/outbound"
)

// WebhookSubscriptionBody is an outbound webhook subscription.
type WebhookSubscriptionBody struct {
	ID          string    `json:"id" format:"uuid"`
	URL         string    `json:"url" format:"uri"`
	Description string    `json:"description,omitempty"`
	EventTypes  []string  `json:"event_types" doc:"The types sent; empty: every type."`
	Active      bool      `json:"active"`
	Secret      string    `json:"secret,omitempty" doc:"The signing secret, shown only in the answer that creates the subscription."`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// WebhookSubscriptionInput is a subscription as written.
type WebhookSubscriptionInput struct {
	URL         string   `json:"url" minLength:"1" maxLength:"2048" doc:"Where events are POSTed." example:"https://crm.example.com/conversa/events"`
	Description string   `json:"description,omitempty" maxLength:"500"`
	EventTypes  []string `json:"event_types,omitempty" maxItems:"100" doc:"Only these types; empty or absent: every type."`
	Active      *bool    `json:"active,omitempty" doc:"Default true; an inactive subscription queues nothing."`
}

// WebhookSendBody is one entry of a subscription's delivery log.
type WebhookSendBody struct {
	ID            string     `json:"id" format:"uuid"`
	EventSeq      int64      `json:"event_seq"`
	EventType     string     `json:"event_type"`
	Status        string     `json:"status" enum:"pending,succeeded,failed" doc:"failed: retries ended 24 hours after the event."`
	Attempts      int        `json:"attempts"`
	LastStatus    *int       `json:"last_status,omitempty" doc:"The receiver's last HTTP status."`
	LastError     string     `json:"last_error,omitempty"`
	LastAttemptAt *time.Time `json:"last_attempt_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty" doc:"When a pending delivery is tried next."`
	CreatedAt     time.Time  `json:"created_at"`
}

// WebhookIDParam is the {id} of a subscription's path (exported so huma reads it when embedded).
type WebhookIDParam struct {
	ID string `path:"id" format:"uuid"`
}

const outboundTag = "Webhook subscriptions"

func (s *server) registerOutbound(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-webhook-subscription", Method: http.MethodPost, Path: "/v1/webhooks", Tags: []string{outboundTag},
		Summary: "Subscribe a URL to the account's events",
		Description: "Each event of the chosen types is POSTed as JSON (id, seq, type, account_id, subject_id, occurred_at, data) with the headers Conversa-Event-Id, Conversa-Event-Type, " +
			"Conversa-Delivery-Id and Conversa-Signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of \"<t>.<body>\" under the secret>`. Verify the signature and refuse timestamps older than " +
			"a few minutes (replays). Any answer but 2xx is retried with exponential backoff (30 s, doubling, at most 4 h apart) until 24 hours after the event; the same event may arrive " +
			"more than once: deduplicate by its id. Receivers must be public addresses.",
		DefaultStatus: http.StatusCreated,
	}, auth.WebhooksManage), handle(func(ctx context.Context, in *struct{ Body WebhookSubscriptionInput }) (*struct{ Body WebhookSubscriptionBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		sub, secret, err := s.Outbound.Create(ctx, p.AccountID, toOutboundInput(in.Body))
		if err != nil {
			return nil, err
		}
		b := toSubscriptionBody(sub)
		b.Secret = secret
		return &struct{ Body WebhookSubscriptionBody }{Body: b}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-webhook-subscriptions", Method: http.MethodGet, Path: "/v1/webhooks", Tags: []string{outboundTag},
		Summary: "List webhook subscriptions",
	}, auth.WebhooksManage), handle(func(ctx context.Context, in *struct{ PageParams }) (*struct {
		Body listBody[WebhookSubscriptionBody]
	}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		subs, err := s.Outbound.List(ctx, p.AccountID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(subs, in.Limit, func(x outbound.Subscription) uuid.UUID { return x.ID }, toSubscriptionBody), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-webhook-subscription", Method: http.MethodGet, Path: "/v1/webhooks/{id}", Tags: []string{outboundTag},
		Summary: "Get a webhook subscription", Errors: []int{http.StatusNotFound},
	}, auth.WebhooksManage), handle(func(ctx context.Context, in *WebhookIDParam) (*struct{ Body WebhookSubscriptionBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sub, err := s.Outbound.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body WebhookSubscriptionBody }{Body: toSubscriptionBody(sub)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "replace-webhook-subscription", Method: http.MethodPut, Path: "/v1/webhooks/{id}", Tags: []string{outboundTag},
		Summary: "Change a webhook subscription's URL, types or active flag (the secret stays)", Errors: []int{http.StatusNotFound},
	}, auth.WebhooksManage), handle(func(ctx context.Context, in *struct {
		WebhookIDParam
		Body WebhookSubscriptionInput
	}) (*struct{ Body WebhookSubscriptionBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sub, err := s.Outbound.Update(ctx, p.AccountID, id, toOutboundInput(in.Body))
		if err != nil {
			return nil, err
		}
		return &struct{ Body WebhookSubscriptionBody }{Body: toSubscriptionBody(sub)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-webhook-subscription", Method: http.MethodDelete, Path: "/v1/webhooks/{id}", Tags: []string{outboundTag},
		Summary: "Delete a webhook subscription and its delivery log", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.WebhooksManage), handle(func(ctx context.Context, in *WebhookIDParam) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return nil, s.Outbound.Delete(ctx, p.AccountID, id)
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-webhook-deliveries", Method: http.MethodGet, Path: "/v1/webhooks/{id}/deliveries", Tags: []string{outboundTag},
		Summary: "A subscription's delivery log, newest event first", Errors: []int{http.StatusNotFound},
	}, auth.WebhooksManage), handle(func(ctx context.Context, in *struct {
		WebhookIDParam
		Before int64 `query:"before" minimum:"0" doc:"Only deliveries of events before this seq (the last event_seq of the previous page)."`
		Limit  int   `query:"limit" minimum:"1" maximum:"200" default:"50"`
	}) (*struct{ Body listBody[WebhookSendBody] }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sends, err := s.Outbound.Sends(ctx, p.AccountID, id, in.Before, in.Limit)
		if err != nil {
			return nil, err
		}
		out := &struct{ Body listBody[WebhookSendBody] }{Body: listBody[WebhookSendBody]{Items: make([]WebhookSendBody, len(sends))}}
		for i, x := range sends {
			b := WebhookSendBody{ID: x.ID.String(), EventSeq: x.EventSeq, EventType: x.EventType, Status: x.Status, Attempts: x.Attempts,
				LastStatus: x.LastStatus, LastError: x.LastError, LastAttemptAt: x.LastAttemptAt, CreatedAt: x.CreatedAt}
			if x.Status == "pending" {
				next := x.NextAttemptAt
				b.NextAttemptAt = &next
			}
			out.Body.Items[i] = b
		}
		return out, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "redeliver-webhook", Method: http.MethodPost, Path: "/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver", Tags: []string{outboundTag},
		Summary: "Deliver an event again, whatever became of it", DefaultStatus: http.StatusAccepted, Errors: []int{http.StatusNotFound},
	}, auth.WebhooksManage), handle(func(ctx context.Context, in *struct {
		WebhookIDParam
		DeliveryID string `path:"delivery_id" format:"uuid"`
	}) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sendID, err := parseUUID("path.delivery_id", in.DeliveryID)
		if err != nil {
			return nil, err
		}
		return nil, s.Outbound.Redeliver(ctx, p.AccountID, id, sendID)
	}))
}

func toOutboundInput(in WebhookSubscriptionInput) outbound.Input {
	return outbound.Input{URL: in.URL, Description: in.Description, EventTypes: in.EventTypes, Active: in.Active}
}

func toSubscriptionBody(x outbound.Subscription) WebhookSubscriptionBody {
	return WebhookSubscriptionBody{ID: x.ID.String(), URL: x.URL, Description: x.Description, EventTypes: x.EventTypes,
		Active: x.Active, CreatedAt: x.CreatedAt, UpdatedAt: x.UpdatedAt}
}
