package api

import (
	"context"
	"net/http"
	"reflect"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/closing"
	"github.com/conversa-hq/conversa/internal/fault"
)

// CloseInput closes a conversation's attendance now or later.
type CloseInput struct {
	InMinutes *int `json:"in_minutes,omitempty" minimum:"1" maximum:"10080" doc:"Close in this many minutes instead of now (at most 7 days)."`
	// IfContactReplies only goes with InMinutes.
	IfContactReplies string  `json:"if_contact_replies,omitempty" enum:"keep,cancel" doc:"With in_minutes: what a message of the contact before then does. cancel (the default) cancels the close; keep closes anyway."`
	Message          *string `json:"message,omitempty" maxLength:"4096" doc:"The closing message. Absent: the closing user's profile message (PATCH /v1/me); \"\": none. Queued like any message when the WhatsApp service session allows free-form text; otherwise recorded as a system note and reported here as not sent."`
	// CustomFields may hold null values, which clear.
	CustomFields map[string]any `json:"custom_fields,omitempty" doc:"Values of the account's custom fields asked at closing (on_close optional or required), by key; null clears the contact's current value. Every field required at closing must hold a value after the close."`
	Flow         string         `json:"flow,omitempty" maxLength:"100" doc:"A closing flow to trigger: a flow.triggered event names it."`
}

// CloseBody says what a close did, or when it will happen.
type CloseBody struct {
	ConversationID   string              `json:"conversation_id" format:"uuid"`
	AttendanceID     string              `json:"attendance_id" format:"uuid"`
	Protocol         string              `json:"protocol"`
	Status           string              `json:"status" enum:"closed,scheduled" doc:"closed now, or scheduled for close_at."`
	ClosedAt         *time.Time          `json:"closed_at,omitempty"`
	CloseAt          *time.Time          `json:"close_at,omitempty" doc:"When a scheduled close runs."`
	IfContactReplies string              `json:"if_contact_replies,omitempty" enum:"keep,cancel"`
	Message          *ClosingMessageBody `json:"message,omitempty" doc:"What became of the closing message, when there was one (a scheduled close sends it when it runs)."`
	FlowTriggered    string              `json:"flow_triggered,omitempty" doc:"The closing flow triggered."`
}

// ClosingMessageBody is what became of a closing message.
type ClosingMessageBody struct {
	Text      string `json:"text"`
	Status    string `json:"status" enum:"queued,not_sent" doc:"queued on the send queue (delivery comes as message.status events), or not_sent: reason says why and a system note in the conversation keeps it."`
	MessageID string `json:"message_id,omitempty" format:"uuid"`
	NoteID    string `json:"note_id,omitempty" format:"uuid"`
	Reason    string `json:"reason,omitempty"`
}

// ProfileInput changes the caller's own profile.
type ProfileInput struct {
	ClosingMessage *string `json:"closing_message,omitempty" maxLength:"4096" doc:"Sent when this user closes an attendance without a message of its own; \"\" for none."`
	Availability   *string `json:"availability,omitempty" enum:"available,away" doc:"Whether automatic distribution gives this user conversations now (available) or not (away, the state until set). Becoming available runs the distributor at once."`
}

func (s *server) registerClosing(api huma.API) {
	svc := closing.NewService(s.Pool, s.Clock)
	svc.Wake = func(ctx context.Context, channelID uuid.UUID) {
		if s.Send != nil && s.Send.Wake != nil {
			s.Send.Wake(ctx, channelID)
		}
	}
	scheduled := api.OpenAPI().Components.Schemas.Schema(reflect.TypeOf(CloseBody{}), true, "CloseBody")
	huma.Register(api, secure(huma.Operation{
		Responses: map[string]*huma.Response{"202": {Description: "The close is scheduled (in_minutes).",
			Content: map[string]*huma.MediaType{"application/json": {Schema: scheduled}}}},
		OperationID: "close-conversation", Method: http.MethodPost, Path: "/v1/conversations/{id}/close", Tags: []string{conversationsTag},
		Summary: "Close the conversation's attendance, now or in N minutes",
		Description: "Now (200): the attendance closes, the conversation loses its agent and department, the closing message is queued " +
			"(or, outside the WhatsApp service session, kept as a system note and reported not_sent), the custom fields given are written, " +
			"and conversation.closed (and flow.triggered for a flow) is emitted. With in_minutes (202): the close is scheduled and runs then " +
			"with what was asked now, unless the contact writes first and if_contact_replies is cancel, or it is cancelled (DELETE) or replaced " +
			"by another close. 409 when the conversation has no open attendance; 422 names each custom field missing or invalid.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ID   string `path:"id" format:"uuid"`
		Body *CloseInput
	}) (*struct {
		Status int
		Body   CloseBody
	}, error) {
		p, id, err := s.conversationCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		req := closing.Request{AccountID: p.AccountID, ConversationID: id, UserID: p.UserID, APIKeyID: p.APIKeyID}
		if b := in.Body; b != nil {
			if b.InMinutes != nil {
				req.In = time.Duration(*b.InMinutes) * time.Minute
			}
			req.IfContactReplies, req.Message, req.CustomFields, req.Flow = b.IfContactReplies, b.Message, b.CustomFields, b.Flow
		}
		res, err := svc.Close(ctx, req)
		if err != nil {
			return nil, err
		}
		out := &struct {
			Status int
			Body   CloseBody
		}{Status: http.StatusOK, Body: toCloseBody(res)}
		if res.CloseAt != nil {
			out.Status = http.StatusAccepted
		}
		return out, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "cancel-scheduled-close", Method: http.MethodDelete, Path: "/v1/conversations/{id}/close", Tags: []string{conversationsTag},
		Summary: "Cancel the conversation's scheduled close", DefaultStatus: http.StatusNoContent,
		Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{}, error) {
		p, id, err := s.conversationCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return nil, svc.CancelPending(ctx, p.AccountID, id)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-me", Method: http.MethodPatch, Path: "/v1/me", Tags: []string{"Auth"},
		Summary:     "Change the caller's own profile (the closing message, the availability)",
		Description: "Users only: an API key has no profile (403).",
		Errors:      []int{http.StatusUnprocessableEntity},
	}, ""), handle(func(ctx context.Context, in *struct{ Body ProfileInput }) (*struct{ Body MeBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if p.UserID == nil {
			return nil, fault.Forbidden("an API key has no profile: only users set a closing message or an availability")
		}
		if in.Body.ClosingMessage != nil {
			if _, err := svc.SetClosingMessage(ctx, p.AccountID, *p.UserID, *in.Body.ClosingMessage); err != nil {
				return nil, err
			}
		}
		if in.Body.Availability != nil {
			if _, err := s.distribution.SetAvailability(ctx, p.AccountID, *p.UserID, *in.Body.Availability); err != nil {
				return nil, err
			}
		}
		me, err := s.me(ctx, p)
		if err != nil {
			return nil, err
		}
		return &struct{ Body MeBody }{Body: me}, nil
	}))
}

func toCloseBody(r closing.Result) CloseBody {
	b := CloseBody{ConversationID: r.ConversationID.String(), AttendanceID: r.AttendanceID.String(), Protocol: r.Protocol,
		Status: "closed", ClosedAt: r.ClosedAt, CloseAt: r.CloseAt, IfContactReplies: r.IfContactReplies, FlowTriggered: r.FlowTriggered}
	if r.CloseAt != nil {
		b.Status = "scheduled"
	}
	if m := r.Message; m != nil {
		b.Message = &ClosingMessageBody{Text: m.Text, Status: "not_sent", Reason: m.Reason}
		if m.Queued {
			b.Message.Status = "queued"
		}
		if m.MessageID != nil {
			b.Message.MessageID = m.MessageID.String()
		}
		if m.NoteID != nil {
			b.Message.NoteID = m.NoteID.String()
		}
	}
	return b
}
