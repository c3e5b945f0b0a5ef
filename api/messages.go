package api

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/idempotency"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/queue"
	"github.com/conversa-hq/conversa/internal/send"
)

const messagesTag = "Messages"

// MessageContent is what a message carries: exactly one of text, media and template_id.
type MessageContent struct {
	Text       string            `json:"text,omitempty" maxLength:"4096" doc:"A free-form text. Agents: starting with \"/interna \" it is an internal note, never sent."`
	Media      *MessageMedia     `json:"media,omitempty"`
	TemplateID *uuid.UUID        `json:"template_id,omitempty" doc:"An approved template of the channel's library."`
	Variables  map[string]string `json:"variables,omitempty" doc:"Template variable values by location (body:1, header:name, button:0), over the template's bindings to the contact's fields."`
	Internal   bool              `json:"internal,omitempty" doc:"Store the text as an internal note, never sent."`
}

// MessageMedia is an attachment by public link or from the account's media library.
type MessageMedia struct {
	Kind     string     `json:"kind,omitempty" enum:"image,audio,video,document,sticker" doc:"Required with url; with media_id the library file's kind (given, it must match)."`
	URL      string     `json:"url,omitempty" format:"uri" maxLength:"2000" doc:"A public link; or media_id."`
	MediaID  *uuid.UUID `json:"media_id,omitempty" doc:"A file of the media library (POST /v1/media), sent by a signed link the provider downloads; in place of url."`
	Caption  string     `json:"caption,omitempty" maxLength:"1024"`
	Filename string     `json:"filename,omitempty" maxLength:"240"`
}

// SendMessageInput is a message to a contact on a channel.
type SendMessageInput struct {
	ChannelID    uuid.UUID  `json:"channel_id"`
	ContactID    *uuid.UUID `json:"contact_id,omitempty" doc:"The recipient; or customer_code, or phone."`
	CustomerCode string     `json:"customer_code,omitempty" maxLength:"100"`
	Phone        string     `json:"phone,omitempty" maxLength:"40" doc:"A contact's phone (any format the contacts API takes)."`
	MessageContent
}

// QueuedMessageBody answers an accepted message.
type QueuedMessageBody struct {
	ID             string `json:"id" format:"uuid"`
	ConversationID string `json:"conversation_id" format:"uuid"`
	ChannelID      string `json:"channel_id" format:"uuid"`
	Kind           string `json:"kind" enum:"text,media,template,note"`
	Status         string `json:"status,omitempty" doc:"queued; none for an internal note. Later statuses come as message.status events."`
}

func (s *server) registerMessages(api huma.API) {
	sendOp := func(ctx context.Context, key string, raw []byte, operation string, req send.Request) (*struct {
		Body QueuedMessageBody
	}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		req.AccountID, req.UserID, req.APIKeyID = p.AccountID, p.UserID, p.APIKeyID
		var q send.Queued
		// An agent's message sent in a conversation applies the reply rule (internal/queue), in
		// the message's transaction; internal notes do not.
		agentReply := req.ConversationID != nil && req.UserID != nil
		sendTx := func(tx pgx.Tx) (err error) {
			if q, err = s.Send.Send(ctx, tx, req); err != nil || !agentReply || q.Status == "" {
				return err
			}
			return queue.TakeOnReply(ctx, tx, p.AccountID, q.ConversationID, *req.UserID, s.Clock.Now())
		}
		run := func(tx pgx.Tx) (idempotency.Response, error) {
			if err := sendTx(tx); err != nil {
				return idempotency.Response{}, err
			}
			b, err := json.Marshal(toQueuedBody(q))
			return idempotency.Response{Status: http.StatusAccepted, Body: b}, err
		}
		out := &struct{ Body QueuedMessageBody }{}
		if key != "" {
			resp, replayed, err := idempotency.Do(ctx, s.Pool, p.AccountID, operation, key, raw, run)
			if err != nil {
				return nil, err
			}
			if err := json.Unmarshal(resp.Body, &out.Body); err != nil {
				return nil, err
			}
			if !replayed && q.Status != "" && s.Send.Wake != nil {
				s.Send.Wake(ctx, q.ChannelID)
			}
			return out, nil
		}
		if agentReply {
			err = pgx.BeginFunc(ctx, s.Pool, sendTx)
		} else {
			q, err = s.Send.Send(ctx, s.Pool, req)
		}
		if err != nil {
			return nil, err
		}
		if q.Status != "" && s.Send.Wake != nil {
			s.Send.Wake(ctx, q.ChannelID)
		}
		out.Body = toQueuedBody(q)
		return out, nil
	}

	huma.Register(api, secure(huma.Operation{
		OperationID: "send-message", Method: http.MethodPost, Path: "/v1/messages", Tags: []string{messagesTag},
		Summary:       "Send a message",
		DefaultStatus: http.StatusAccepted,
		Description: "Queues a text, media or template message to a contact (by contact_id, customer_code or phone) on a channel, " +
			"opening the contact's conversation on the channel if needed, and answers 202 with the message id; delivery is reported " +
			"by message.status events (sent, delivered, read, failed with the provider's code and reason). Refused: a blocked contact (409), " +
			"free-form text or media outside the WhatsApp service session (409: send a template), a template not approved on the channel (422), " +
			"a marketing template to a contact without marketing consent (409), an unknown contact or channel (404). " +
			"With an Idempotency-Key, a retried call returns the first answer and the same key with another body is refused.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
		Body           SendMessageInput
		RawBody        []byte
	}) (*struct{ Body QueuedMessageBody }, error) {
		b := in.Body
		req := toSendRequest(b.MessageContent)
		req.ChannelID, req.ContactID, req.CustomerCode, req.Phone = b.ChannelID, b.ContactID, b.CustomerCode, b.Phone
		return sendOp(ctx, in.IdempotencyKey, in.RawBody, "send-message", req)
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "send-conversation-message", Method: http.MethodPost, Path: "/v1/conversations/{id}/messages", Tags: []string{messagesTag},
		Summary:       "Send a message in a conversation",
		DefaultStatus: http.StatusAccepted,
		Description: "What an agent sends in a conversation, through the same rules as POST /v1/messages. A text starting with \"/interna \" " +
			"or internal=true is stored as an internal note and never sent.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ID             uuid.UUID `path:"id"`
		IdempotencyKey string    `header:"Idempotency-Key" maxLength:"255"`
		Body           MessageContent
		RawBody        []byte
	}) (*struct{ Body QueuedMessageBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if err := s.checkVisible(ctx, p, in.ID); err != nil {
			return nil, err
		}
		req := toSendRequest(in.Body)
		req.ConversationID = &in.ID
		return sendOp(ctx, in.IdempotencyKey, in.RawBody, "send-conversation-message:"+in.ID.String(), req)
	}))
}

func toSendRequest(c MessageContent) send.Request {
	req := send.Request{Text: c.Text, TemplateID: c.TemplateID, Variables: c.Variables, Internal: c.Internal}
	if c.Media != nil {
		req.Media = &provider.Media{Kind: provider.MediaKind(c.Media.Kind), URL: c.Media.URL, Caption: c.Media.Caption, Filename: c.Media.Filename}
		req.MediaID = c.Media.MediaID
	}
	return req
}

func toQueuedBody(q send.Queued) QueuedMessageBody {
	return QueuedMessageBody{ID: q.ID.String(), ConversationID: q.ConversationID.String(), ChannelID: q.ChannelID.String(), Kind: q.Kind, Status: q.Status}
}
