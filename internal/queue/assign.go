package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
)

// Routing says how a conversation comes to a department, which decides whether the contact's
// default agent takes it (DESIGN §4).
type Routing string

// The routings.
const (
	// RoutingManual: forwarded to the department by hand (the agent console): the department
	// keeps it, the default agent is not applied.
	RoutingManual Routing = "manual"
	// RoutingAutomatic: opened or routed to the department by an automation (a flow, the
	// opening rules): the contact's default agent takes it when he is a member of the
	// department, and the department is removed (only the agent shows).
	RoutingAutomatic Routing = "automatic"
)

// MaxFlowName bounds a flow's name.
const MaxFlowName = 100

// Target is where an assignment sends a conversation: exactly one of an agent, a department
// and a flow.
type Target struct {
	AgentID      *uuid.UUID
	DepartmentID *uuid.UUID
	// Routing applies to a department; RoutingManual when empty.
	Routing Routing
	// Flow is the name of an external automation: forwarding to it closes the attendance and
	// emits flow.triggered.
	Flow string
}

// Assignment is what an assignment did.
type Assignment struct {
	ConversationID uuid.UUID
	// Status is the conversation's status after it (closed after a flow).
	Status       string
	AgentID      *uuid.UUID
	DepartmentID *uuid.UUID
	// DefaultAgent says the agent is the contact's default agent, applied on a routing to
	// its department.
	DefaultAgent bool
	Flow         string
}

var errClosed = fault.Conflict("the conversation is closed: only an open attendance is assigned or forwarded")

func (t Target) check() error {
	n := 0
	for _, set := range []bool{t.AgentID != nil, t.DepartmentID != nil, t.Flow != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return fault.Invalid("give exactly one of agent_id, department_id and flow")
	}
	if t.Routing != "" && t.Routing != RoutingManual && t.Routing != RoutingAutomatic {
		return fault.Invalid("unknown routing", fault.FieldError{Field: "body.routing", Message: "must be manual or automatic", Value: string(t.Routing)})
	}
	if t.Routing != "" && t.DepartmentID == nil {
		return fault.Invalid("routing applies to a department only", fault.FieldError{Field: "body.routing", Message: "give department_id with it", Value: string(t.Routing)})
	}
	if t.Flow != "" {
		if strings.TrimSpace(t.Flow) != t.Flow || utf8.RuneCountInString(t.Flow) > MaxFlowName {
			return fault.Invalid("invalid flow name", fault.FieldError{Field: "body.flow", Message: fmt.Sprintf("1 to %d characters, no surrounding spaces", MaxFlowName), Value: t.Flow})
		}
	}
	return nil
}

// Assign sends an open conversation to an agent (the department is removed), a department
// (the agent is removed; with RoutingAutomatic the contact's default agent takes it if he is
// a member) or a flow (the attendance closes and flow.triggered is emitted), and emits what
// happened, in one transaction. byUserID is who assigns (nil: an API key).
func (s *Service) Assign(ctx context.Context, accountID, conversationID uuid.UUID, t Target, byUserID *uuid.UUID) (Assignment, error) {
	var out Assignment
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = s.AssignIn(ctx, tx, accountID, conversationID, t, byUserID)
		return err
	})
	if err != nil {
		return Assignment{}, err
	}
	return out, nil
}

// AssignIn is Assign in the caller's transaction tx, for a caller whose own change must
// commit with the assignment or not at all (a schedule that opens an attendance and routes it).
func (s *Service) AssignIn(ctx context.Context, tx pgx.Tx, accountID, conversationID uuid.UUID, t Target, byUserID *uuid.UUID) (Assignment, error) {
	if err := t.check(); err != nil {
		return Assignment{}, err
	}
	now := s.now()
	out := Assignment{ConversationID: conversationID, Status: "open", Flow: t.Flow}
	err := func() error {
		c, err := s.q.LockConversationForAssign(ctx, tx, store.LockConversationForAssignParams{AccountID: accountID, ID: conversationID})
		if errors.Is(err, pgx.ErrNoRows) {
			return fault.NotFound("conversation")
		}
		if err != nil {
			return fmt.Errorf("lock conversation %s: %w", conversationID, err)
		}
		if c.Status != "open" {
			return errClosed
		}
		switch {
		case t.Flow != "":
			return s.toFlow(ctx, tx, accountID, conversationID, c, t.Flow, byUserID, now, &out)
		case t.AgentID != nil:
			ok, err := s.q.ActiveUserExists(ctx, tx, store.ActiveUserExistsParams{AccountID: accountID, ID: *t.AgentID})
			if err != nil {
				return fmt.Errorf("find agent: %w", err)
			}
			if !ok {
				return fault.Invalid("no such agent", fault.FieldError{Field: "body.agent_id", Message: "not an active user of the account", Value: t.AgentID.String()})
			}
			out.AgentID = t.AgentID
		default:
			ok, err := s.q.DepartmentExists(ctx, tx, store.DepartmentExistsParams{AccountID: accountID, ID: *t.DepartmentID})
			if err != nil {
				return fmt.Errorf("find department: %w", err)
			}
			if !ok {
				return fault.Invalid("no such department", fault.FieldError{Field: "body.department_id", Message: "not a department of the account", Value: t.DepartmentID.String()})
			}
			out.DepartmentID = t.DepartmentID
			if t.Routing == RoutingAutomatic {
				agent, err := s.q.DefaultAgentIn(ctx, tx, store.DefaultAgentInParams{AccountID: accountID, ContactID: c.ContactID, DepartmentID: *t.DepartmentID})
				switch {
				case errors.Is(err, pgx.ErrNoRows):
				case err != nil:
					return fmt.Errorf("find the contact's default agent: %w", err)
				default:
					out.AgentID, out.DepartmentID, out.DefaultAgent = &agent, nil, true
				}
			}
		}
		if err := s.q.SetAssignment(ctx, tx, store.SetAssignmentParams{AccountID: accountID, ID: conversationID,
			AgentID: out.AgentID, DepartmentID: out.DepartmentID, Now: now}); err != nil {
			return fmt.Errorf("assign conversation %s: %w", conversationID, err)
		}
		by := "assign"
		if out.DefaultAgent {
			by = "default_agent"
		}
		return emitAssigned(ctx, tx, accountID, now, conversationID, out.AgentID, out.DepartmentID, c.DepartmentID, by)
	}()
	if err != nil {
		return Assignment{}, err
	}
	return out, nil
}

func (s *Service) toFlow(ctx context.Context, tx pgx.Tx, accountID, conversationID uuid.UUID, c store.LockConversationForAssignRow,
	flow string, byUserID *uuid.UUID, now time.Time, out *Assignment) error {
	protocol, err := s.q.CloseForFlow(ctx, tx, store.CloseForFlowParams{AccountID: accountID, ID: conversationID, AttendanceID: c.AttendanceID, Now: now})
	if err != nil {
		return fmt.Errorf("close conversation %s for flow: %w", conversationID, err)
	}
	out.Status = "closed"
	data := map[string]any{"conversation_id": conversationID, "contact_id": c.ContactID, "attendance_id": c.AttendanceID,
		"protocol": protocol, "flow": flow, "by_user_id": byUserID}
	return event.Emit(ctx, tx, accountID, now,
		event.New{Type: EventConversationClosed, SubjectID: &conversationID, Data: map[string]any{
			"conversation_id": conversationID, "attendance_id": c.AttendanceID, "protocol": protocol, "reason": "flow"}},
		event.New{Type: EventFlowTriggered, SubjectID: &conversationID, Data: data})
}

// TakeOnReply applies the reply rule (DESIGN §4) in the sender's transaction db: an agent's
// reply to an open conversation without an agent makes the agent its agent, the department
// staying; a conversation that has an agent keeps it (a second agent replying does not take
// over). One conditional UPDATE; emits conversation.assigned when it assigned. The send path
// calls it for agents' messages that are sent (not internal notes, not reactions).
func TakeOnReply(ctx context.Context, db store.DBTX, accountID, conversationID, userID uuid.UUID, at time.Time) error {
	at = at.UTC().Truncate(time.Microsecond)
	dept, err := store.New().TakeOnReply(ctx, db, store.TakeOnReplyParams{AccountID: accountID, ID: conversationID, UserID: &userID, Now: at})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("assign conversation %s to the replying agent: %w", conversationID, err)
	}
	return emitAssigned(ctx, db, accountID, at, conversationID, &userID, dept, dept, "reply")
}

// Give puts an open conversation, which the caller has locked in db's transaction, with an
// agent (its department removed, its appointment served) and emits conversation.assigned
// saying how it came (by): the agent target of Assign, for callers that choose the agent
// themselves (the automatic distributor, by "distribution").
func Give(ctx context.Context, db store.DBTX, accountID, conversationID, agentID uuid.UUID, fromDepartmentID *uuid.UUID, at time.Time, by string) error {
	at = at.UTC().Truncate(time.Microsecond)
	if err := store.New().SetAssignment(ctx, db, store.SetAssignmentParams{AccountID: accountID, ID: conversationID, AgentID: &agentID, Now: at}); err != nil {
		return fmt.Errorf("assign conversation %s to agent %s: %w", conversationID, agentID, err)
	}
	return emitAssigned(ctx, db, accountID, at, conversationID, &agentID, nil, fromDepartmentID, by)
}

// AssignIfUnassigned gives an open conversation to agentID in the caller's transaction when it
// has no agent, and emits conversation.assigned with by; a conversation with an agent keeps
// it (assigned is false). The "new chat" of an agent uses it: the conversation it opened is
// the agent's, but a colleague already serving the contact is not displaced.
func AssignIfUnassigned(ctx context.Context, tx pgx.Tx, accountID, conversationID, agentID uuid.UUID, by string, at time.Time) (assigned bool, err error) {
	c, err := store.New().LockConversationForAssign(ctx, tx, store.LockConversationForAssignParams{AccountID: accountID, ID: conversationID})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fault.NotFound("conversation")
	}
	if err != nil {
		return false, fmt.Errorf("lock conversation %s: %w", conversationID, err)
	}
	if c.Status != "open" {
		return false, errClosed
	}
	if c.AgentID != nil {
		return false, nil
	}
	return true, Give(ctx, tx, accountID, conversationID, agentID, c.DepartmentID, at, by)
}
