package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/newchat"
)

// NewChatInput is a template to a number that may not be a contact yet.
type NewChatInput struct {
	ChannelID  uuid.UUID         `json:"channel_id"`
	Phone      string            `json:"phone" maxLength:"40" doc:"The number as typed. Brazilian unless foreign is set."`
	Foreign    bool              `json:"foreign,omitempty" doc:"The number is outside Brazil: read as international (a missing + is added). Required for such a number."`
	Name       string            `json:"name,omitempty" maxLength:"200" doc:"The new contact's name; required when the number is not a contact yet (an existing contact keeps its own)."`
	TemplateID uuid.UUID         `json:"template_id" doc:"An approved template of the channel's library."`
	Variables  map[string]string `json:"variables,omitempty" doc:"Template variable values by location, over the template's bindings."`
	Open       bool              `json:"open,omitempty" doc:"Open the conversation now, assigned to the calling user (an API key's waits in the queue): the contact's answer lands in the open chats, not the initial flow."`
}

// NewChatBody answers a new chat.
type NewChatBody struct {
	ContactID      string  `json:"contact_id" format:"uuid"`
	ContactCreated bool    `json:"contact_created" doc:"false: the number already was this contact's, which was used."`
	ConversationID string  `json:"conversation_id" format:"uuid"`
	MessageID      string  `json:"message_id" format:"uuid"`
	AttendanceID   *string `json:"attendance_id,omitempty" format:"uuid" doc:"The open attendance, when open was asked."`
	Protocol       string  `json:"protocol,omitempty"`
	AgentID        *string `json:"agent_id,omitempty" format:"uuid" doc:"Who serves the open conversation (a colleague already serving it keeps it)."`
}

func toNewChatBody(r newchat.Result) NewChatBody {
	b := NewChatBody{ContactID: r.ContactID.String(), ContactCreated: r.ContactCreated, ConversationID: r.Message.ConversationID.String(), MessageID: r.Message.ID.String()}
	if r.Attendance != nil {
		id := r.Attendance.ID.String()
		b.AttendanceID, b.Protocol = &id, r.Attendance.Protocol
	}
	if r.AgentID != nil {
		id := r.AgentID.String()
		b.AgentID = &id
	}
	return b
}

func (s *server) registerNewChat(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "start-new-chat", Method: http.MethodPost, Path: "/v1/conversations/new-chat", Tags: []string{messagesTag},
		Summary:       "Start a chat with a template to a number",
		DefaultStatus: http.StatusAccepted,
		Description: "The console's \"new chat\": the number's contact is used, or created with the name (never a duplicate); the template is " +
			"queued through the same rules as POST /v1/messages (approval on the channel, marketing consent, the paid-send stop), and with " +
			"open the conversation's attendance is opened for the caller. A number outside Brazil needs foreign. Nothing is stored when " +
			"anything is refused. With an Idempotency-Key, a retried call returns the first answer.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
		Body           NewChatInput
		RawBody        []byte
	}) (*struct{ Body NewChatBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		b := in.Body
		req := newchat.Request{AccountID: p.AccountID, UserID: p.UserID, APIKeyID: p.APIKeyID, Phone: b.Phone, Foreign: b.Foreign, Name: b.Name,
			ChannelID: b.ChannelID, TemplateID: b.TemplateID, Variables: b.Variables, Open: b.Open}
		var res newchat.Result
		body, replayed, err := idempotent(ctx, s, p.AccountID, "start-new-chat", in.IdempotencyKey, in.RawBody, http.StatusAccepted,
			func(tx pgx.Tx) (NewChatBody, error) {
				var err error
				res, err = s.NewChat.Start(ctx, tx, req)
				return toNewChatBody(res), err
			})
		if err != nil {
			return nil, err
		}
		if !replayed && s.Send.Wake != nil {
			s.Send.Wake(ctx, res.Message.ChannelID)
		}
		return &struct{ Body NewChatBody }{Body: body}, nil
	}))
}
