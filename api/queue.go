package api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/queue"
)

const queueTag = "Queue"

// QueueEntryBody is a waiting conversation at its place in the queue.
type QueueEntryBody struct {
	Position        int        `json:"position" doc:"1 is the next conversation served (for an agent who may serve it)."`
	ConversationID  string     `json:"conversation_id" format:"uuid"`
	ContactID       string     `json:"contact_id" format:"uuid"`
	ContactName     string     `json:"contact_name"`
	ChannelID       string     `json:"channel_id" format:"uuid"`
	ChannelType     string     `json:"channel_type"`
	DepartmentID    string     `json:"department_id,omitempty" format:"uuid"`
	UnansweredSince *time.Time `json:"unanswered_since,omitempty" doc:"Waiting since: the contact's first unanswered message."`
	AppointmentAt   *time.Time `json:"appointment_at,omitempty" doc:"A due appointment (callback): it goes first from 5 minutes before."`
	WebChat         bool       `json:"webchat" doc:"WebChat conversations go before all but due appointments."`
	Priority        int        `json:"priority" doc:"Effective priority 1-100: the contact's own, else its highest segment's, else its channel's."`
	Urgent          bool       `json:"urgent" doc:"A due appointment, a WebChat, or a priority of 90 or more."`
}

// QueueChannelCount is how many conversations wait on a channel.
type QueueChannelCount struct {
	ChannelID   string `json:"channel_id" format:"uuid"`
	ChannelType string `json:"channel_type"`
	Waiting     int    `json:"waiting"`
}

// QueueBody is a page of the queue with its summary.
type QueueBody struct {
	Items      []QueueEntryBody    `json:"items"`
	NextCursor string              `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
	Waiting    int                 `json:"waiting" doc:"Conversations waiting (appointments not yet due are hidden)."`
	Urgent     bool                `json:"urgent" doc:"Something urgent waits: a WebChat, a priority of 90 or more, or a due appointment (the console's red Next button)."`
	ByChannel  []QueueChannelCount `json:"by_channel"`
}

// AssignInput is where a conversation goes: exactly one of agent_id, department_id and flow.
type AssignInput struct {
	AgentID      *uuid.UUID `json:"agent_id,omitempty" doc:"Assign to this agent; the department is removed."`
	DepartmentID *uuid.UUID `json:"department_id,omitempty" doc:"Route to this department; the agent is removed."`
	Routing      string     `json:"routing,omitempty" enum:"manual,automatic" doc:"With department_id. manual (default): forwarded by hand, the department keeps it. automatic: routed by an automation, and the contact's default agent takes it when he is a member of the department (the department is then removed)."`
	Flow         string     `json:"flow,omitempty" maxLength:"100" doc:"Forward to this external flow (automation): the attendance closes and a flow.triggered event (and webhook) carries the conversation to it."`
}

// AssignmentBody is what an assignment did.
type AssignmentBody struct {
	ConversationID string `json:"conversation_id" format:"uuid"`
	Status         string `json:"status" enum:"open,closed" doc:"closed after forwarding to a flow."`
	AgentID        string `json:"agent_id,omitempty" format:"uuid"`
	DepartmentID   string `json:"department_id,omitempty" format:"uuid"`
	DefaultAgent   bool   `json:"default_agent" doc:"The agent is the contact's default agent, applied on an automatic routing to his department."`
	Flow           string `json:"flow,omitempty"`
}

var errQueueEmpty = fault.NotFound("waiting conversation for you")

func (s *server) registerQueue(api huma.API) {
	q := queue.NewService(s.Pool, s.Clock)
	huma.Register(api, secure(huma.Operation{
		OperationID: "queue-next", Method: http.MethodPost, Path: "/v1/queue/next", Tags: []string{queueTag},
		Summary: "Take the next conversation (the agent's Next)",
		Description: "Assigns the calling agent the first waiting conversation it may serve and returns it, atomically: two agents " +
			"never get the same one. Order: due appointments (from 5 minutes before), WebChat, effective priority (contact, else " +
			"highest segment, else channel), then waiting since. An agent may serve a conversation of one of its departments, and one " +
			"without a department when none of the contact's segments names who serves it or one names the agent or one of its " +
			"departments. Assigning removes the department. When nothing waits for the agent: 404 problem. Needs a user's token (an API key is not an agent).",
		Errors: []int{http.StatusNotFound},
	}, auth.ContactsWrite), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body ConversationBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if p.UserID == nil {
			return nil, fault.Forbidden("only a user (an agent) takes conversations from the queue: use a user's token, not an API key")
		}
		c, err := q.Next(ctx, p.AccountID, *p.UserID)
		if errors.Is(err, queue.ErrEmpty) {
			return nil, errQueueEmpty
		}
		if err != nil {
			return nil, err
		}
		return &struct{ Body ConversationBody }{Body: toConversationBody(c, s.Conversations.Now())}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-queue", Method: http.MethodGet, Path: "/v1/queue", Tags: []string{queueTag},
		Summary: "The queue in order, with counts per channel and the urgent flag",
		Description: "The account's waiting conversations (open, without agent) in the order Next serves them; appointments not yet " +
			"due are hidden. The queue is live: between pages agents take conversations and others arrive, so a page is the queue " +
			"as it is when read. Lists the first 10 000 positions.",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct{ PageParams }) (*struct{ Body QueueBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		skip, err := positionCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		if skip+in.Limit > queue.MaxList {
			return nil, huma.NewError(http.StatusUnprocessableEntity, "the queue lists its first 10 000 positions", &huma.ErrorDetail{
				Location: "query.cursor", Message: "beyond the listed positions", Value: in.Cursor})
		}
		entries, err := q.List(ctx, p.AccountID, skip, in.Limit+1)
		if err != nil {
			return nil, err
		}
		sum, err := q.Summarize(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		out := QueueBody{Items: []QueueEntryBody{}, Waiting: sum.Waiting, Urgent: sum.Urgent, ByChannel: make([]QueueChannelCount, len(sum.ByChannel))}
		for i, c := range sum.ByChannel {
			out.ByChannel[i] = QueueChannelCount{ChannelID: c.ChannelID.String(), ChannelType: c.ChannelType, Waiting: c.Waiting}
		}
		if len(entries) > in.Limit {
			entries = entries[:in.Limit]
			if skip+in.Limit < queue.MaxList {
				out.NextCursor = encodePosition(skip + in.Limit)
			}
		}
		for i, e := range entries {
			out.Items = append(out.Items, QueueEntryBody{Position: skip + i + 1, ConversationID: e.ConversationID.String(),
				ContactID: e.ContactID.String(), ContactName: e.ContactName, ChannelID: e.ChannelID.String(), ChannelType: e.ChannelType,
				DepartmentID: optID(e.DepartmentID), UnansweredSince: e.UnansweredSince, AppointmentAt: e.AppointmentAt,
				WebChat: e.WebChat, Priority: e.Priority, Urgent: e.Urgent})
		}
		return &struct{ Body QueueBody }{Body: out}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "assign-conversation", Method: http.MethodPost, Path: "/v1/conversations/{id}/assign", Tags: []string{queueTag},
		Summary: "Assign or forward a conversation: to an agent, a department or a flow",
		Description: "To an agent: the department is removed. To a department: the agent is removed and the conversation waits in the " +
			"queue for the department's members; with routing=automatic the contact's default agent takes it when he is a member. " +
			"To a flow: the attendance closes and flow.triggered is emitted (delivered by outbound webhooks). Emits conversation.assigned " +
			"(or conversation.closed and flow.triggered). A closed conversation: 409.",
		Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		ID   string `path:"id" format:"uuid"`
		Body AssignInput
	}) (*struct{ Body AssignmentBody }, error) {
		p, id, err := s.conversationCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		b := in.Body
		a, err := q.Assign(ctx, p.AccountID, id, queue.Target{AgentID: b.AgentID, DepartmentID: b.DepartmentID,
			Routing: queue.Routing(b.Routing), Flow: b.Flow}, p.UserID)
		if err != nil {
			return nil, err
		}
		return &struct{ Body AssignmentBody }{Body: AssignmentBody{ConversationID: a.ConversationID.String(), Status: a.Status,
			AgentID: optID(a.AgentID), DepartmentID: optID(a.DepartmentID), DefaultAgent: a.DefaultAgent, Flow: a.Flow}}, nil
	}))
}

// positionCursor decodes a queue cursor: the position the next page starts from.
func positionCursor(c string) (int, error) {
	if c == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 5 || b[0] != 'q' {
		return 0, huma.NewError(http.StatusUnprocessableEntity, "invalid cursor", &huma.ErrorDetail{
			Location: "query.cursor", Message: "not a cursor this API returned", Value: c})
	}
	return int(binary.BigEndian.Uint32(b[1:])), nil
}

func encodePosition(n int) string {
	b := []byte{'q', 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return base64.RawURLEncoding.EncodeToString(b)
}
