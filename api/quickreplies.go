package api

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/quickreply"
)

const quickRepliesTag = "Quick replies"

// QuickReplyInput creates or changes a quick reply.
type QuickReplyInput struct {
	Shortcut *string `json:"shortcut,omitempty" maxLength:"41" example:"/boleto" doc:"What the agent types: a slash and 1 to 40 letters, digits, - or _ (lowercased)."`
	Title    *string `json:"title,omitempty" maxLength:"100"`
	Text     *string `json:"text,omitempty" maxLength:"4096" doc:"May hold {nome}, {primeiro_nome}, @ChaveCliente, {key} of a custom field, {{protocolo}} and {agente}, filled by the render operation."`
}

// QuickReplyBody is a quick reply.
type QuickReplyBody struct {
	ID        string    `json:"id" format:"uuid"`
	Shortcut  string    `json:"shortcut"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// QuickReplyRenderInput names the conversation a quick reply is filled for.
type QuickReplyRenderInput struct {
	ConversationID uuid.UUID `json:"conversation_id"`
}

// RenderedQuickReplyBody is a quick reply filled for a conversation, ready to send.
type RenderedQuickReplyBody struct {
	Text string `json:"text"`
}

func toQuickReplyBody(q quickreply.QuickReply) QuickReplyBody {
	return QuickReplyBody{ID: q.ID.String(), Shortcut: q.Shortcut, Title: q.Title, Text: q.Text, CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
}

func (s *server) registerQuickReplies(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-quick-reply", Method: http.MethodPost, Path: "/v1/quick-replies", Tags: []string{quickRepliesTag},
		Summary: "Add a quick reply", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body QuickReplyInput }) (*struct{ Body QuickReplyBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		q, err := s.QuickReplies.Create(ctx, p.AccountID, quickreply.Input(in.Body))
		if err != nil {
			return nil, err
		}
		return &struct{ Body QuickReplyBody }{Body: toQuickReplyBody(q)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-quick-replies", Method: http.MethodGet, Path: "/v1/quick-replies", Tags: []string{quickRepliesTag},
		Summary: "List quick replies by shortcut", Description: "prefix keeps those whose shortcut starts with what the agent has typed.",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		PageParams
		Prefix string `query:"prefix" maxLength:"41" doc:"The start of the shortcut, with or without the slash."`
	}) (*struct{ Body listBody[QuickReplyBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		var after *string
		if in.Cursor != "" {
			b, err := base64.RawURLEncoding.DecodeString(in.Cursor)
			if err != nil || !strings.HasPrefix(string(b), "/") {
				return nil, huma.NewError(422, "invalid cursor", &huma.ErrorDetail{Location: "query.cursor", Message: "not a cursor this API returned", Value: in.Cursor})
			}
			last := string(b)
			after = &last
		}
		list, err := s.QuickReplies.List(ctx, p.AccountID, in.Prefix, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		out := listBody[QuickReplyBody]{Items: []QuickReplyBody{}}
		if len(list) > in.Limit {
			list = list[:in.Limit]
			out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(list[len(list)-1].Shortcut))
		}
		for _, q := range list {
			out.Items = append(out.Items, toQuickReplyBody(q))
		}
		return &struct{ Body listBody[QuickReplyBody] }{Body: out}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-quick-reply", Method: http.MethodGet, Path: "/v1/quick-replies/{id}", Tags: []string{quickRepliesTag},
		Summary: "Get a quick reply", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{ Body QuickReplyBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		q, err := s.QuickReplies.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body QuickReplyBody }{Body: toQuickReplyBody(q)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-quick-reply", Method: http.MethodPatch, Path: "/v1/quick-replies/{id}", Tags: []string{quickRepliesTag},
		Summary: "Change a quick reply", Errors: []int{http.StatusNotFound, http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		ID   string `path:"id" format:"uuid"`
		Body QuickReplyInput
	}) (*struct{ Body QuickReplyBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		q, err := s.QuickReplies.Update(ctx, p.AccountID, id, quickreply.Input(in.Body))
		if err != nil {
			return nil, err
		}
		return &struct{ Body QuickReplyBody }{Body: toQuickReplyBody(q)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-quick-reply", Method: http.MethodDelete, Path: "/v1/quick-replies/{id}", Tags: []string{quickRepliesTag},
		Summary: "Delete a quick reply", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return &struct{}{}, s.QuickReplies.Delete(ctx, p.AccountID, id)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "render-quick-reply", Method: http.MethodPost, Path: "/v1/quick-replies/{id}/render", Tags: []string{quickRepliesTag},
		Summary:     "Fill a quick reply for a conversation",
		Description: "The contact's fields, the open attendance's protocol ({{protocolo}}) and the calling user's name ({agente}; empty for an API key). The agent reviews the text and sends it with POST /v1/conversations/{id}/messages.",
		Errors:      []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		ID   string `path:"id" format:"uuid"`
		Body QuickReplyRenderInput
	}) (*struct{ Body RenderedQuickReplyBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		agent := ""
		if p.UserID != nil {
			u, err := account.GetUser(ctx, s.Pool, p.AccountID, *p.UserID)
			if err != nil {
				return nil, err
			}
			agent = u.Name
		}
		text, err := s.QuickReplies.Render(ctx, p.AccountID, id, in.Body.ConversationID, agent)
		if err != nil {
			return nil, err
		}
		return &struct{ Body RenderedQuickReplyBody }{Body: RenderedQuickReplyBody{Text: text}}, nil
	}))
}
