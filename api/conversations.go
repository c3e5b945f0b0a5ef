package api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/sla"
)

const conversationsTag = "Conversations"

// ConversationBody is a conversation as the API shows it, with the session state an agent
// console needs to know whether free text may be sent or only a template.
type ConversationBody struct {
	ID        string `json:"id" format:"uuid"`
	ContactID string `json:"contact_id" format:"uuid"`
	ChannelID string `json:"channel_id" format:"uuid"`
	Address   string `json:"address" doc:"Where replies go on the channel: a phone, a business-scoped id, a chat id."`
	Status    string `json:"status" enum:"open,closed" doc:"open while an attendance is."`
	// Attendance is the open attendance, absent when the conversation is closed.
	Attendance      *AttendanceBody `json:"attendance,omitempty" doc:"The open attendance with its protocol; absent when closed."`
	FreeFormAllowed bool            `json:"free_form_allowed" doc:"Whether a free-form message may be sent now: on WhatsApp only inside the 24-hour service session the contact's messages open; otherwise only an approved template."`
	// ServiceExpiresAt is when the service session ends.
	ServiceExpiresAt *time.Time           `json:"service_expires_at,omitempty" doc:"When the service session opened by the contact's latest message ends (WhatsApp)."`
	SessionTag       string               `json:"session_tag,omitempty" enum:"Expirando,Expirado" doc:"The session-expiry tag (WhatsApp): Expirando from 30 minutes before the service session ends, Expirado after it ended, absent otherwise. Computed at the response's time; conversation.tagged events follow within a minute."`
	Sessions         map[string]time.Time `json:"sessions" doc:"Template-category sessions open now (marketing, utility, authentication), with when each ends."`
	LastMessageAt    *time.Time           `json:"last_message_at,omitempty"`
	LastInboundAt    *time.Time           `json:"last_inbound_at,omitempty"`
	UnansweredSince  *time.Time           `json:"unanswered_since,omitempty" doc:"The first of the contact's messages not yet answered."`
	UnansweredColour string               `json:"unanswered_colour,omitempty" enum:"green,blue,orange,red" doc:"How long the contact has waited: under 15 minutes green, to 30 blue, to 60 orange, beyond red; absent when nothing waits."`
	OpenedAt         *time.Time           `json:"opened_at,omitempty" doc:"When the current (or last) attendance opened."`
	DepartmentID     string               `json:"department_id,omitempty" format:"uuid"`
	AgentID          string               `json:"agent_id,omitempty" format:"uuid"`
	LastCampaignID   string               `json:"last_campaign_id,omitempty" format:"uuid"`
	CreatedAt        time.Time            `json:"created_at"`
	UpdatedAt        time.Time            `json:"updated_at"`
}

// ConversationListItem is a conversation in a list, with what a console shows beside it.
type ConversationListItem struct {
	ConversationBody
	ContactName string   `json:"contact_name"`
	Tags        []string `json:"tags" doc:"The conversation's tags, by name: its own, its department's while routed to one (gone when an agent takes it, it is closed or forwarded elsewhere), and the session tag Expirando or Expirado (WhatsApp)."`
	Unread      *bool    `json:"unread,omitempty" doc:"The calling user's read state: whether the contact wrote after the user last read, or the user marked it unread. Absent for API keys."`
}

// AttendanceBody is one opening of a conversation for service.
type AttendanceBody struct {
	ID             string     `json:"id" format:"uuid"`
	ConversationID string     `json:"conversation_id" format:"uuid"`
	ContactID      string     `json:"contact_id,omitempty" format:"uuid"`
	ChannelID      string     `json:"channel_id,omitempty" format:"uuid"`
	Protocol       string     `json:"protocol" doc:"The number the contact quotes; {{protocolo}} in messages."`
	OpenedBy       string     `json:"opened_by,omitempty" enum:"inbound,agent,api,campaign"`
	OpenedAt       time.Time  `json:"opened_at"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`
	// The service times (internal/sla).
	FirstResponseAt      *time.Time `json:"first_response_at,omitempty" doc:"The first answer to the contact after the opening: an agent's or an automation's message, or one sent from the provider's app; internal notes and reactions are not answers. Absent until then."`
	FirstResponseSeconds *int64     `json:"first_response_seconds,omitempty" doc:"Seconds from the opening to the first response."`
	ResolutionSeconds    *int64     `json:"resolution_seconds,omitempty" doc:"Seconds from the opening to the close; absent while open."`
	SegmentID            string     `json:"segment_id,omitempty" format:"uuid" doc:"The deciding segment when the attendance opened: the contact's segment of highest priority (ties: the older segment). Automatic distribution follows it."`
	SLADueAt             *time.Time `json:"sla_due_at,omitempty" doc:"When the first response is due: the opening plus the SLA of the contact's highest-priority segment that has one (ties: the shorter SLA, then the older segment). Absent without an SLA."`
	SLABreached          bool       `json:"sla_breached" doc:"The due time passed with neither a first response nor a close by then."`
	SLABreachedAt        *time.Time `json:"sla_breached_at,omitempty" doc:"When the breach was reported by an attendance.sla_breached event (a periodic sweep, within about 30 seconds of the due time)."`
}

// MessageBody is a message in a conversation.
type MessageBody struct {
	ID                string          `json:"id" format:"uuid"`
	ConversationID    string          `json:"conversation_id" format:"uuid"`
	ChannelID         string          `json:"channel_id" format:"uuid"`
	AttendanceID      string          `json:"attendance_id,omitempty" format:"uuid"`
	Direction         string          `json:"direction" enum:"inbound,outbound,echo,internal" doc:"echo: sent by the business from the provider's own app."`
	Kind              string          `json:"kind" enum:"text,media,template,reaction,contact,location,interactive,unsupported,note,system"`
	Text              string          `json:"text"`
	Payload           json.RawMessage `json:"payload" doc:"By kind: media, template, reaction target and emoji, contact card."`
	ProviderMessageID string          `json:"provider_message_id,omitempty"`
	ReplyTo           string          `json:"reply_to_provider_id,omitempty" doc:"The provider id of the message this one answers or reacts to."`
	Status            string          `json:"status,omitempty" enum:"queued,sent,delivered,read,failed"`
	CreatedAt         time.Time       `json:"created_at" doc:"When it happened (the provider's time for inbound messages)."`
}

// ProtocolSettingsBody is the account's protocol format.
type ProtocolSettingsBody struct {
	Format string `json:"format" minLength:"1" maxLength:"40" example:"{yyyy}{mm}{dd}{seq:6}" doc:"Literal text (letters, digits, - _ . / #) and the tokens {yyyy} {yy} {mm} {dd} and exactly one {seq:N} (N from 1 to 12 digits). The sequence restarts with the finest date the format names, in Brazil's time."`
}

func (s *server) registerConversations(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-conversations", Method: http.MethodGet, Path: "/v1/conversations", Tags: []string{conversationsTag},
		Summary: "The agent console's conversation lists: views, filters, search and orders",
		Description: "Views: all; open (open, no agent, and no department or one of the caller's departments; an API key sees every department); " +
			"an agent sees, in every view, only its own conversations, its departments' and its segments' (supervisors, admins and API keys see all); " +
			"mine (assigned to the calling user); in_attendance (has an agent). Filters combine. q finds by the contact's name (any part), " +
			"phone, or the protocol of an open attendance. unread and the items' unread flag are the calling user's read state (API keys have none).",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		PageParams
		View         string `query:"view" enum:"all,open,mine,in_attendance" default:"all"`
		Order        string `query:"order" enum:"latest_message,oldest_message,newest_opening,oldest_opening" default:"latest_message"`
		ContactID    string `query:"contact_id" format:"uuid"`
		ChannelID    string `query:"channel_id" format:"uuid"`
		DepartmentID string `query:"department_id" format:"uuid"`
		AgentID      string `query:"agent_id" format:"uuid"`
		CampaignID   string `query:"campaign_id" format:"uuid" doc:"The campaign that last reached the contact on the conversation's channel."`
		TagID        string `query:"tag_id" format:"uuid" doc:"Conversations carrying this tag, including the session tags Expirando and Expirado (their ids are in GET /v1/tags once an account's first session reached them)."`
		Status       string `query:"status" enum:"open,closed"`
		Unread       string `query:"unread" enum:"true,false" doc:"Only conversations the calling user has (not) read."`
		Q            string `query:"q" maxLength:"100" doc:"A name (or part), a phone, or an open attendance's protocol."`
	}) (*struct {
		Body listBody[ConversationListItem]
	}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		q := conversation.ListQuery{AccountID: p.AccountID, UserID: p.UserID, View: conversation.View(in.View),
			Order: conversation.Order(in.Order), Search: in.Q, Limit: in.Limit + 1, Scoped: agentScoped(p)}
		if q.After, err = decodeListCursor(in.Cursor); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			field string
			value *string
			to    **uuid.UUID
		}{{"query.contact_id", &in.ContactID, &q.ContactID}, {"query.channel_id", &in.ChannelID, &q.ChannelID},
			{"query.department_id", &in.DepartmentID, &q.DepartmentID}, {"query.agent_id", &in.AgentID, &q.AgentID},
			{"query.campaign_id", &in.CampaignID, &q.CampaignID}, {"query.tag_id", &in.TagID, &q.TagID}} {
			if *f.to, err = parseOptUUID(f.field, f.value); err != nil {
				return nil, err
			}
		}
		if in.Status != "" {
			q.Status = &in.Status
		}
		if in.Unread != "" {
			unread := in.Unread == "true"
			q.Unread = &unread
		}
		items, err := s.Conversations.List(ctx, q)
		if err != nil {
			return nil, err
		}
		now := s.Conversations.Now()
		out := listBody[ConversationListItem]{Items: make([]ConversationListItem, 0, len(items))}
		if len(items) > in.Limit {
			items = items[:in.Limit]
			out.NextCursor = encodeListCursor(items[len(items)-1].Cursor)
		}
		for _, it := range items {
			out.Items = append(out.Items, ConversationListItem{ConversationBody: toConversationBody(it.Conversation, now),
				ContactName: it.ContactName, Tags: it.Tags, Unread: it.Unread})
		}
		return &struct {
			Body listBody[ConversationListItem]
		}{Body: out}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "mark-conversation-read", Method: http.MethodPost, Path: "/v1/conversations/{id}/read", Tags: []string{conversationsTag},
		Summary: "Mark the conversation read by the calling user", Description: "It is unread again when the contact next writes. Users only: an API key has no read state.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{}, error) {
		return &struct{}{}, s.markRead(ctx, in.ID, s.Conversations.MarkRead)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "mark-conversation-unread", Method: http.MethodPost, Path: "/v1/conversations/{id}/unread", Tags: []string{conversationsTag},
		Summary: "Show the conversation unread to the calling user until they read it again", Description: "Users only: an API key has no read state.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{}, error) {
		return &struct{}{}, s.markRead(ctx, in.ID, s.Conversations.MarkUnread)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-conversation", Method: http.MethodGet, Path: "/v1/conversations/{id}", Tags: []string{conversationsTag},
		Summary: "A conversation with its session state and current attendance", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{ Body ConversationBody }, error) {
		p, id, err := s.conversationCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		c, err := s.Conversations.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ConversationBody }{Body: toConversationBody(c, s.Conversations.Now())}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-conversation-messages", Method: http.MethodGet, Path: "/v1/conversations/{id}/messages", Tags: []string{conversationsTag},
		Summary:     "A conversation's messages, newest first, optionally searched",
		Description: "q searches the conversation's message text in Portuguese (stemmed, accents and case ignored; web-search syntax: quotes, or, -word).",
		Errors:      []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
		PageParams
		Q string `query:"q" maxLength:"200" doc:"Words to find in the messages' text."`
	}) (*struct{ Body listBody[MessageBody] }, error) {
		p, id, err := s.conversationCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		before, err := in.after()
		if err != nil {
			return nil, err
		}
		msgs, err := s.Conversations.Messages(ctx, p.AccountID, id, in.Q, before, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(msgs, in.Limit, func(m conversation.Message) uuid.UUID { return m.ID }, toMessageBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "find-attendances", Method: http.MethodGet, Path: "/v1/attendances", Tags: []string{conversationsTag},
		Summary: "Find the active attendance with a protocol", Description: "Only open attendances are found, as a contact quotes the protocol of the service in progress.",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		Protocol string `query:"protocol" required:"true" minLength:"1" maxLength:"64"`
	}) (*struct{ Body listBody[AttendanceBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		found, err := s.Conversations.FindByProtocol(ctx, p.AccountID, in.Protocol)
		if err != nil {
			return nil, err
		}
		out := make([]AttendanceBody, 0, len(found))
		for _, a := range found {
			// An agent finds only the attendances of conversations it sees.
			if err := s.checkVisible(ctx, p, a.ConversationID); errors.Is(err, errNotVisible) {
				continue
			} else if err != nil {
				return nil, err
			}
			out = append(out, toAttendanceBody(a, s.Conversations.Now()))
		}
		return &struct{ Body listBody[AttendanceBody] }{Body: listBody[AttendanceBody]{Items: out}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-protocol-settings", Method: http.MethodGet, Path: "/v1/protocol-settings", Tags: []string{conversationsTag},
		Summary: "The account's protocol format",
	}, auth.SettingsManage), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body ProtocolSettingsBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		st, err := s.Conversations.GetProtocolSettings(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ProtocolSettingsBody }{Body: ProtocolSettingsBody{Format: st.Format}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-protocol-settings", Method: http.MethodPut, Path: "/v1/protocol-settings", Tags: []string{conversationsTag},
		Summary: "Set the account's protocol format", Description: "Attendances opened from now on are numbered by it.",
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body ProtocolSettingsBody }) (*struct{ Body ProtocolSettingsBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		st, err := s.Conversations.SetProtocolFormat(ctx, p.AccountID, in.Body.Format)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ProtocolSettingsBody }{Body: ProtocolSettingsBody{Format: st.Format}}, nil
	}))
}

func toConversationBody(c conversation.Conversation, now time.Time) ConversationBody {
	b := ConversationBody{
		ID: c.ID.String(), ContactID: c.ContactID.String(), ChannelID: c.ChannelID.String(), Address: c.Address, Status: c.Status,
		FreeFormAllowed: c.FreeFormAllowed(now), SessionTag: c.SessionTag(now), Sessions: map[string]time.Time{},
		LastMessageAt: c.LastMessageAt, LastInboundAt: c.LastInboundAt, UnansweredSince: c.UnansweredSince,
		OpenedAt:     c.OpenedAt,
		DepartmentID: optID(c.DepartmentID), AgentID: optID(c.AgentID), LastCampaignID: optID(c.LastCampaignID),
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
	}
	// Closing hides the unanswered time; the stored time stays, so a message left unanswered
	// before the close still counts when the contact writes again (DESIGN.md §4).
	if c.Status == "closed" {
		b.UnansweredSince = nil
	}
	b.UnansweredColour = conversation.UnansweredColour(b.UnansweredSince, now)
	if !c.Session.ServiceExpiresAt.IsZero() {
		t := c.Session.ServiceExpiresAt
		b.ServiceExpiresAt = &t
	}
	for cat, end := range c.OpenSessions(now) {
		b.Sessions[string(cat)] = end
	}
	if c.Attendance != nil {
		a := toAttendanceBody(*c.Attendance, now)
		b.Attendance = &a
	}
	return b
}

// toAttendanceBody shows an attendance with its service times at now.
func toAttendanceBody(a conversation.Attendance, now time.Time) AttendanceBody {
	t := sla.Measure(a.OpenedAt, a.FirstResponseAt, a.ClosedAt, a.SLADueAt, a.SLABreachedAt, now)
	b := AttendanceBody{ID: a.ID.String(), ConversationID: a.ConversationID.String(), Protocol: a.Protocol, OpenedBy: a.OpenedBy,
		OpenedAt: a.OpenedAt, ClosedAt: a.ClosedAt, FirstResponseAt: a.FirstResponseAt, FirstResponseSeconds: seconds(t.FirstResponse),
		ResolutionSeconds: seconds(t.Resolution), SegmentID: optID(a.SegmentID), SLADueAt: a.SLADueAt, SLABreached: t.Breached,
		SLABreachedAt: a.SLABreachedAt}
	if a.ContactID != uuid.Nil {
		b.ContactID = a.ContactID.String()
	}
	if a.ChannelID != uuid.Nil {
		b.ChannelID = a.ChannelID.String()
	}
	return b
}

func toMessageBody(m conversation.Message) MessageBody {
	b := MessageBody{
		ID: m.ID.String(), ConversationID: m.ConversationID.String(), ChannelID: m.ChannelID.String(), AttendanceID: optID(m.AttendanceID),
		Direction: m.Direction, Kind: m.Kind, Text: m.Text, Payload: m.Payload, CreatedAt: m.CreatedAt,
	}
	if m.ProviderMessageID != nil {
		b.ProviderMessageID = *m.ProviderMessageID
	}
	if m.ReplyToProviderID != nil {
		b.ReplyTo = *m.ReplyToProviderID
	}
	if m.Status != nil {
		b.Status = *m.Status
	}
	return b
}

// optID is an optional id as the API writes it: "" (omitted) when absent.
func optID(id *uuid.UUID) string {
	if id == nil {
		return ""
	}
	return id.String()
}

// markRead applies a read-state change of the calling user, who must be a user.
func (s *server) markRead(ctx context.Context, rawID string, mark func(ctx context.Context, accountID, userID, id uuid.UUID) error) error {
	p, id, err := s.conversationCaller(ctx, rawID)
	if err != nil {
		return err
	}
	if p.UserID == nil {
		return fault.Invalid("read state is a user's: an API key has none")
	}
	return mark(ctx, p.AccountID, *p.UserID, id)
}

// encodeListCursor is a conversation list's cursor: the last item's sort time and id.
func encodeListCursor(c conversation.Cursor) string {
	b := make([]byte, 1, 25)
	b[0] = 'v'
	b = binary.BigEndian.AppendUint64(b, uint64(c.At.UnixMicro()))
	b = append(b, c.ID[:]...)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeListCursor(s string) (*conversation.Cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 25 || b[0] != 'v' {
		return nil, huma.NewError(422, "invalid cursor", &huma.ErrorDetail{Location: "query.cursor", Message: "not a cursor this API returned", Value: s})
	}
	id, _ := uuid.FromBytes(b[9:])
	return &conversation.Cursor{At: time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC(), ID: id}, nil
}

// seconds is a duration in whole seconds, nil for nil.
func seconds(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	n := int64(d.Seconds())
	return &n
}

// agentScoped says whether p sees only the conversations it has or may serve: an agent does
// (DESIGN §3); supervisors, admins, compliance officers and API keys see the account's.
func agentScoped(p auth.Principal) bool { return p.UserID != nil && p.Role == auth.RoleAgent }

// conversationCaller is pathCaller for a conversation's path: an agent naming a conversation
// it does not see gets the 404 of one that does not exist.
func (s *server) conversationCaller(ctx context.Context, rawID string) (auth.Principal, uuid.UUID, error) {
	p, id, err := pathCaller(ctx, rawID)
	if err != nil {
		return p, id, err
	}
	return p, id, s.checkVisible(ctx, p, id)
}

// checkVisible refuses, as not found, a conversation an agent does not see.
func (s *server) checkVisible(ctx context.Context, p auth.Principal, id uuid.UUID) error {
	if !agentScoped(p) {
		return nil
	}
	ok, err := s.Conversations.Visible(ctx, p.AccountID, *p.UserID, id)
	if err != nil {
		return err
	}
	if !ok {
		return errNotVisible
	}
	return nil
}

// errNotVisible is the 404 of a conversation an agent does not see: the answer for one that
// does not exist.
var errNotVisible = fault.NotFound("conversation")
