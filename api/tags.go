package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/tag"
)

// TagBody is an entry of the tag catalogue.
type TagBody struct {
	ID             string    `json:"id" format:"uuid"`
	Name           string    `json:"name"`
	Color          string    `json:"color" example:"#1f77b4"`
	AutomationOnly bool      `json:"automation_only" doc:"Applied by automations only; hidden from manual tagging lists."`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// TagInput creates or changes a tag.
type TagInput struct {
	Name           *string `json:"name,omitempty" minLength:"1" maxLength:"50"`
	Color          *string `json:"color,omitempty" pattern:"^#[0-9a-fA-F]{6}$" doc:"Default: one picked from the name."`
	AutomationOnly *bool   `json:"automation_only,omitempty"`
}

// TagContactsBody lists the contacts to tag or untag.
type TagContactsBody struct {
	ContactIDs []string `json:"contact_ids" minItems:"1" maxItems:"10000"`
}

// TagContactsResult says how many contacts changed.
type TagContactsResult struct {
	Changed int64 `json:"changed" doc:"Contacts that gained (or lost) the tag; those that already had (or lacked) it and ids of no contact of the account are not counted."`
}

// TagIDParam is the {id} of a tag's path (exported so huma reads it when embedded).
type TagIDParam struct {
	ID string `path:"id" format:"uuid"`
}

const tagsTag = "Tags"

func (s *server) registerTags(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-tag", Method: http.MethodPost, Path: "/v1/tags", Tags: []string{tagsTag},
		Summary: "Add a tag to the catalogue", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
		Description: "Tags given on a contact are added to the catalogue on their own; this sets a colour or marks a tag automation-only.",
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body TagInput }) (*struct{ Body TagBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		t, err := s.Tags.Create(ctx, p.AccountID, tag.Input(in.Body))
		if err != nil {
			return nil, err
		}
		return &struct{ Body TagBody }{Body: toTagBody(t)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-tags", Method: http.MethodGet, Path: "/v1/tags", Tags: []string{tagsTag},
		Summary: "List the tag catalogue",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		PageParams
		Manual bool   `query:"manual" doc:"Only tags a person may apply (automation-only tags hidden)."`
		Prefix string `query:"prefix" maxLength:"50" doc:"Names starting with this, ignoring case."`
	}) (*struct{ Body listBody[TagBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		tags, err := s.Tags.List(ctx, p.AccountID, in.Manual, in.Prefix, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(tags, in.Limit, func(t tag.Tag) uuid.UUID { return t.ID }, toTagBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-tag", Method: http.MethodGet, Path: "/v1/tags/{id}", Tags: []string{tagsTag},
		Summary: "Get a tag", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *TagIDParam) (*struct{ Body TagBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		t, err := s.Tags.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body TagBody }{Body: toTagBody(t)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-tag", Method: http.MethodPatch, Path: "/v1/tags/{id}", Tags: []string{tagsTag},
		Summary:     "Rename or recolour a tag",
		Description: "A rename rewrites every contact that carries the tag, in the same transaction.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		TagIDParam
		Body TagInput
	}) (*struct{ Body TagBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		t, err := s.Tags.Update(ctx, p.AccountID, id, tag.Input(in.Body))
		if err != nil {
			return nil, err
		}
		return &struct{ Body TagBody }{Body: toTagBody(t)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-tag", Method: http.MethodDelete, Path: "/v1/tags/{id}", Tags: []string{tagsTag},
		Summary: "Delete a tag and remove it from every contact", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *TagIDParam) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return nil, s.Tags.Delete(ctx, p.AccountID, id)
	}))
	for _, b := range []struct {
		op, path, summary string
		add               bool
	}{
		{"tag-contacts", "/v1/tags/{id}/contacts", "Tag many contacts at once (up to 10 000)", true},
		{"untag-contacts", "/v1/tags/{id}/contacts/remove", "Untag many contacts at once (up to 10 000)", false},
	} {
		huma.Register(api, secure(huma.Operation{
			OperationID: b.op, Method: http.MethodPost, Path: b.path, Tags: []string{tagsTag},
			Summary: b.summary, Errors: []int{http.StatusNotFound},
		}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
			TagIDParam
			Body TagContactsBody
		}) (*struct{ Body TagContactsResult }, error) {
			p, id, err := pathCaller(ctx, in.ID)
			if err != nil {
				return nil, err
			}
			ids := make([]uuid.UUID, len(in.Body.ContactIDs))
			for i, raw := range in.Body.ContactIDs {
				if ids[i], err = uuid.Parse(raw); err != nil {
					return nil, huma.NewError(http.StatusUnprocessableEntity, "invalid contact id", &huma.ErrorDetail{
						Location: "body.contact_ids", Message: "must be UUIDs", Value: raw})
				}
			}
			var n int64
			if b.add {
				n, err = s.Tags.Apply(ctx, p.AccountID, id, ids)
			} else {
				n, err = s.Tags.Remove(ctx, p.AccountID, id, ids)
			}
			if err != nil {
				return nil, err
			}
			return &struct{ Body TagContactsResult }{Body: TagContactsResult{Changed: n}}, nil
		}))
	}
}

func toTagBody(t tag.Tag) TagBody {
	return TagBody{ID: t.ID.String(), Name: t.Name, Color: t.Color, AutomationOnly: t.AutomationOnly, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
}
