package api

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/schedule"
)

const schedulesTag = "Schedules"

// ScheduleInput schedules something for a contact.
type ScheduleInput struct {
	Kind string    `json:"kind" enum:"template,flow,appointment" doc:"template: a template message; flow: a flow trigger; appointment: a callback on an open conversation."`
	At   time.Time `json:"at" doc:"When it runs (RFC 3339), in the future and within 366 days."`
	// template
	ChannelID      *uuid.UUID        `json:"channel_id,omitempty" doc:"template: the line to send on (required); flow: the line the flow runs on (optional)."`
	TemplateID     *uuid.UUID        `json:"template_id,omitempty" doc:"template: the template to send, approved on the line when it runs."`
	Variables      map[string]string `json:"variables,omitempty" maxProperties:"50" doc:"template: values by variable location (body:1, header:name, button:0), over the template's bindings, as POST /v1/messages."`
	OpenAttendance bool              `json:"open_attendance,omitempty" doc:"template: open an attendance with the message (\"Abrir atendimento?\"). Without agent_id or department_id it opens for nobody."`
	AgentID        *uuid.UUID        `json:"agent_id,omitempty" doc:"template with open_attendance: give the attendance to this agent."`
	DepartmentID   *uuid.UUID        `json:"department_id,omitempty" doc:"template with open_attendance: route the attendance to this department (the contact's default agent takes it when a member)."`
	// flow
	Flow string `json:"flow,omitempty" maxLength:"100" doc:"flow: the external automation to trigger (a flow.triggered event names it)."`
	// appointment
	ConversationID *uuid.UUID `json:"conversation_id,omitempty" doc:"appointment: the contact's open conversation to call back. It is hidden from the queue until 5 minutes before at, then first until served."`
}

// ScheduleBody is a schedule and, once it ran, its outcome.
type ScheduleBody struct {
	ID                string            `json:"id" format:"uuid"`
	Kind              string            `json:"kind" enum:"template,flow,appointment"`
	ContactID         string            `json:"contact_id,omitempty" format:"uuid" doc:"Absent once the contact was deleted or merged away."`
	At                time.Time         `json:"at"`
	Status            string            `json:"status" enum:"pending,done,failed,skipped,cancelled"`
	Reason            string            `json:"reason,omitempty" doc:"Why it failed or was skipped (the contact is blocked, the template is no longer approved...), or what it did."`
	ChannelID         string            `json:"channel_id,omitempty" format:"uuid"`
	TemplateID        string            `json:"template_id,omitempty" format:"uuid"`
	Variables         map[string]string `json:"variables,omitempty"`
	OpenAttendance    bool              `json:"open_attendance"`
	AgentID           string            `json:"agent_id,omitempty" format:"uuid"`
	DepartmentID      string            `json:"department_id,omitempty" format:"uuid"`
	Flow              string            `json:"flow,omitempty"`
	ConversationID    string            `json:"conversation_id,omitempty" format:"uuid" doc:"An appointment's conversation; a sent template's."`
	MessageID         string            `json:"message_id,omitempty" format:"uuid" doc:"The message a template schedule queued."`
	CreatedByUserID   string            `json:"created_by_user_id,omitempty" format:"uuid" doc:"The user who scheduled it."`
	CreatedByAPIKeyID string            `json:"created_by_api_key_id,omitempty" format:"uuid" doc:"The API key that scheduled it."`
	CreatedAt         time.Time         `json:"created_at"`
	FinishedAt        *time.Time        `json:"finished_at,omitempty" doc:"When it ran or was cancelled."`
	CancelledByUserID string            `json:"cancelled_by_user_id,omitempty" format:"uuid"`
}

func toScheduleBody(sc schedule.Schedule) ScheduleBody {
	b := ScheduleBody{ID: sc.ID.String(), Kind: sc.Kind, ContactID: optID(sc.ContactID), At: sc.RunAt, Status: sc.Status,
		ChannelID: optID(sc.ChannelID), TemplateID: optID(sc.TemplateID), OpenAttendance: sc.OpenAttendance,
		AgentID: optID(sc.AgentID), DepartmentID: optID(sc.DepartmentID), ConversationID: optID(sc.ConversationID),
		MessageID: optID(sc.MessageID), CreatedByUserID: optID(sc.CreatedByUserID), CreatedByAPIKeyID: optID(sc.CreatedByApiKeyID),
		CreatedAt: sc.CreatedAt, FinishedAt: sc.FinishedAt, CancelledByUserID: optID(sc.CancelledByUserID)}
	if sc.Reason != nil {
		b.Reason = *sc.Reason
	}
	if sc.Flow != nil {
		b.Flow = *sc.Flow
	}
	if len(sc.Vars) > 0 {
		b.Variables = sc.Vars
	}
	return b
}

func (s *server) registerSchedules(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-schedule", Method: http.MethodPost, Path: "/v1/contacts/{id}/schedules", Tags: []string{schedulesTag},
		Summary: "Schedule a template message, a flow trigger or an appointment for the contact", DefaultStatus: http.StatusCreated,
		Description: "Runs as a job at its time. With an Idempotency-Key, a retried call returns the first answer (and schedules once). A template goes through the Send Message API's rules then (blocked contact, approval, " +
			"marketing consent, paid-send stop): a refusal skips or fails the schedule with the reason. 404: unknown contact; 409: blocked " +
			"contact, or an appointment on a closed conversation or one that already has an appointment; 422: a time not in the future, " +
			"a field that does not apply to the kind, or a channel, template, agent, department or conversation that is not the account's " +
			"(or the contact's).",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ID             string `path:"id" format:"uuid"`
		IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
		Body           ScheduleInput
		RawBody        []byte
	}) (*struct{ Body ScheduleBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		b := in.Body
		if b.ConversationID != nil {
			// An agent schedules callbacks only on conversations it sees.
			if err := s.checkVisible(ctx, p, *b.ConversationID); errors.Is(err, errNotVisible) {
				return nil, fault.Invalid("no such conversation", fault.FieldError{Field: "body.conversation_id", Message: "not a conversation of this contact"})
			} else if err != nil {
				return nil, err
			}
		}
		req := schedule.Request{AccountID: p.AccountID, ContactID: id, Kind: b.Kind, At: b.At,
			ChannelID: b.ChannelID, TemplateID: b.TemplateID, Variables: b.Variables, OpenAttendance: b.OpenAttendance,
			AgentID: b.AgentID, DepartmentID: b.DepartmentID, Flow: b.Flow, ConversationID: b.ConversationID,
			UserID: p.UserID, APIKeyID: p.APIKeyID}
		body, _, err := idempotent(ctx, s, p.AccountID, "create-schedule:"+id.String(), in.IdempotencyKey, in.RawBody, http.StatusCreated,
			func(tx pgx.Tx) (ScheduleBody, error) {
				sc, err := s.Schedules.CreateIn(ctx, tx, req)
				return toScheduleBody(sc), err
			})
		if err != nil {
			return nil, err
		}
		return &struct{ Body ScheduleBody }{Body: body}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-contact-schedules", Method: http.MethodGet, Path: "/v1/contacts/{id}/schedules", Tags: []string{schedulesTag},
		Summary: "List the contact's schedules: pending first, then the rest, newest first", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
		PageParams
	}) (*struct{ Body listBody[ScheduleBody] }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		items, err := s.Schedules.ListForContact(ctx, p.AccountID, id, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(items, in.Limit, scheduleID, toScheduleBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-schedules", Method: http.MethodGet, Path: "/v1/schedules", Tags: []string{schedulesTag},
		Summary: "List the account's schedules, newest first", Description: "from and until bound the run time (at).",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		PageParams
		Kind      string    `query:"kind" enum:"template,flow,appointment"`
		Status    string    `query:"status" enum:"pending,done,failed,skipped,cancelled"`
		AgentID   string    `query:"agent_id" format:"uuid" doc:"Template schedules whose attendance opens to this agent."`
		CreatedBy string    `query:"created_by" format:"uuid" doc:"Schedules this user created."`
		From      time.Time `query:"from" doc:"Running at or after."`
		Until     time.Time `query:"until" doc:"Running before."`
	}) (*struct{ Body listBody[ScheduleBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		f := schedule.Filter{Kind: in.Kind, Status: in.Status, Limit: in.Limit + 1}
		if f.After, err = in.after(); err != nil {
			return nil, err
		}
		if f.AgentID, err = parseOptUUID("query.agent_id", &in.AgentID); err != nil {
			return nil, err
		}
		if f.CreatedBy, err = parseOptUUID("query.created_by", &in.CreatedBy); err != nil {
			return nil, err
		}
		if !in.From.IsZero() {
			f.From = &in.From
		}
		if !in.Until.IsZero() {
			f.To = &in.Until
		}
		if f.From != nil && f.To != nil && !f.From.Before(*f.To) {
			return nil, fault.Invalid("empty period", fault.FieldError{Field: "query.until", Message: "must be after from", Value: in.Until})
		}
		items, err := s.Schedules.List(ctx, p.AccountID, f)
		if err != nil {
			return nil, err
		}
		return listPage(items, in.Limit, scheduleID, toScheduleBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-schedule", Method: http.MethodGet, Path: "/v1/schedules/{id}", Tags: []string{schedulesTag},
		Summary: "Get a schedule and its outcome", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{ Body ScheduleBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sc, err := s.Schedules.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ScheduleBody }{Body: toScheduleBody(sc)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "cancel-schedule", Method: http.MethodDelete, Path: "/v1/schedules/{id}", Tags: []string{schedulesTag},
		Summary:     "Cancel a pending schedule",
		Description: "An appointment's conversation loses the appointment. 409 when the schedule already ran or was cancelled.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{ Body ScheduleBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		sc, err := s.Schedules.Cancel(ctx, p.AccountID, id, p.UserID)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ScheduleBody }{Body: toScheduleBody(sc)}, nil
	}))
}

func scheduleID(sc schedule.Schedule) uuid.UUID { return sc.ID }
