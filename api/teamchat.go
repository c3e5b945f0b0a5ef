package api

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/teamchat"
)

const teamChatTag = "Team chat"

// TeamMessageInput is a message to a user of the account or to the account's room.
type TeamMessageInput struct {
	ToUserID *uuid.UUID `json:"to_user_id,omitempty" doc:"A user of the account; or room."`
	Room     bool       `json:"room,omitempty" doc:"Write to the account's room, which every user is in."`
	Body     string     `json:"body" maxLength:"4096"`
}

// TeamMessageBody is a team chat message.
type TeamMessageBody struct {
	ID           string    `json:"id" format:"uuid"`
	ThreadID     string    `json:"thread_id" format:"uuid"`
	SenderUserID string    `json:"sender_user_id" format:"uuid"`
	Body         string    `json:"body"`
	CreatedAt    time.Time `json:"created_at"`
}

// TeamThreadBody is one of the caller's threads.
type TeamThreadBody struct {
	ID          string           `json:"id" format:"uuid"`
	Kind        string           `json:"kind" enum:"direct,room"`
	WithUserID  *string          `json:"with_user_id,omitempty" format:"uuid" doc:"The other user of a direct thread."`
	LastMessage *TeamMessageBody `json:"last_message,omitempty"`
	Unread      int64            `json:"unread" doc:"The others' messages after what the caller has read."`
	CreatedAt   time.Time        `json:"created_at"`
}

// TeamThreadsBody is the caller's threads, latest activity first.
type TeamThreadsBody struct {
	Items []TeamThreadBody `json:"items"`
}

func toTeamMessageBody(m teamchat.Message) TeamMessageBody {
	return TeamMessageBody{ID: m.ID.String(), ThreadID: m.ThreadID.String(), SenderUserID: m.SenderUserID.String(), Body: m.Body, CreatedAt: m.CreatedAt}
}

// teamCaller is the calling user: the team chat is among users, so an API key has none.
func teamCaller(ctx context.Context) (auth.Principal, uuid.UUID, error) {
	p, err := principal(ctx)
	if err != nil {
		return p, uuid.Nil, err
	}
	if p.UserID == nil {
		return p, uuid.Nil, fault.Forbidden("the team chat is among users: call it with a user's access token, not an API key")
	}
	return p, *p.UserID, nil
}

// teamThreadCaller is teamCaller for an operation on the thread {id}.
func teamThreadCaller(ctx context.Context, rawID string) (p auth.Principal, me, thread uuid.UUID, err error) {
	if p, me, err = teamCaller(ctx); err != nil {
		return p, me, thread, err
	}
	thread, err = parseUUID("path.id", rawID)
	return p, me, thread, err
}

func encodeTeamCursor(seq int64) string {
	b := make([]byte, 9)
	b[0] = 't'
	binary.BigEndian.PutUint64(b[1:], uint64(seq))
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeTeamCursor(c string) (*int64, error) {
	if c == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) != 9 || b[0] != 't' {
		return nil, huma.NewError(http.StatusUnprocessableEntity, "invalid cursor", &huma.ErrorDetail{Location: "query.cursor", Message: "not a cursor this API returned", Value: c})
	}
	seq := int64(binary.BigEndian.Uint64(b[1:]))
	return &seq, nil
}

func (s *server) registerTeamChat(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "send-team-message", Method: http.MethodPost, Path: "/v1/team-chat/messages", Tags: []string{teamChatTag},
		Summary: "Write in the team chat",
		Description: "To another user of the account (their direct thread, made on the first message) or to the account's room. Never sent " +
			"to contacts. Each message is a team_chat.message event (for a direct thread, addressed to its two users) without the body. " +
			"A user's token only; another account's user is a 404.",
		DefaultStatus: http.StatusCreated, Errors: []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct{ Body TeamMessageInput }) (*struct{ Body TeamMessageBody }, error) {
		p, me, err := teamCaller(ctx)
		if err != nil {
			return nil, err
		}
		m, err := s.TeamChat.Send(ctx, p.AccountID, me, teamchat.To{UserID: in.Body.ToUserID, Room: in.Body.Room}, in.Body.Body)
		if err != nil {
			return nil, err
		}
		return &struct{ Body TeamMessageBody }{Body: toTeamMessageBody(m)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-team-threads", Method: http.MethodGet, Path: "/v1/team-chat/threads", Tags: []string{teamChatTag},
		Summary: "The caller's team chat threads", Description: "Latest activity first (at most 500), each with its last message and the caller's unread count.",
	}, auth.ContactsRead), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body TeamThreadsBody }, error) {
		p, me, err := teamCaller(ctx)
		if err != nil {
			return nil, err
		}
		threads, err := s.TeamChat.Threads(ctx, p.AccountID, me)
		if err != nil {
			return nil, err
		}
		out := TeamThreadsBody{Items: make([]TeamThreadBody, len(threads))}
		for i, t := range threads {
			b := TeamThreadBody{ID: t.ID.String(), Kind: t.Kind, Unread: t.Unread, CreatedAt: t.CreatedAt}
			if t.With != nil {
				w := t.With.String()
				b.WithUserID = &w
			}
			if t.Last != nil {
				last := toTeamMessageBody(*t.Last)
				b.LastMessage = &last
			}
			out.Items[i] = b
		}
		return &struct{ Body TeamThreadsBody }{Body: out}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-team-messages", Method: http.MethodGet, Path: "/v1/team-chat/threads/{id}/messages", Tags: []string{teamChatTag},
		Summary: "A thread's messages, newest first", Description: "A thread the caller is not in is a 404.",
		Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
		PageParams
	}) (*struct{ Body listBody[TeamMessageBody] }, error) {
		p, me, id, err := teamThreadCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		before, err := decodeTeamCursor(in.Cursor)
		if err != nil {
			return nil, err
		}
		msgs, err := s.TeamChat.Messages(ctx, p.AccountID, me, id, before, in.Limit+1)
		if err != nil {
			return nil, err
		}
		out := listBody[TeamMessageBody]{Items: []TeamMessageBody{}}
		if len(msgs) > in.Limit {
			msgs = msgs[:in.Limit]
			out.NextCursor = encodeTeamCursor(msgs[len(msgs)-1].Seq)
		}
		for _, m := range msgs {
			out.Items = append(out.Items, toTeamMessageBody(m))
		}
		return &struct{ Body listBody[TeamMessageBody] }{Body: out}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "read-team-thread", Method: http.MethodPost, Path: "/v1/team-chat/threads/{id}/read", Tags: []string{teamChatTag},
		Summary: "Mark a thread read", Description: "Everything in it so far; its unread count becomes 0 for the caller.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{}, error) {
		p, me, id, err := teamThreadCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &struct{}{}, s.TeamChat.MarkRead(ctx, p.AccountID, me, id)
	}))
}
