package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/customfield"
)

// CustomFieldBody is a custom field definition.
type CustomFieldBody struct {
	ID        string    `json:"id" format:"uuid"`
	Key       string    `json:"key" doc:"What contact values are stored and filtered under, and the variable name in messages."`
	Label     string    `json:"label"`
	Type      string    `json:"type" enum:"text,number,date,boolean,choice,image_url"`
	Choices   []string  `json:"choices"`
	OnClose   string    `json:"on_close" enum:"no,optional,required" doc:"Whether closing an attendance asks for the field."`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// CustomFieldInput defines a field (key and type are fixed once created).
type CustomFieldInput struct {
	Key     string   `json:"key,omitempty" maxLength:"40" doc:"Required on create: lower-case letters, digits and _."`
	Label   *string  `json:"label,omitempty" maxLength:"100"`
	Type    string   `json:"type,omitempty" enum:"text,number,date,boolean,choice,image_url" doc:"Required on create."`
	Choices []string `json:"choices,omitempty" maxItems:"100"`
	OnClose *string  `json:"on_close,omitempty" enum:"no,optional,required"`
}

// CustomFieldIDParam is the {id} of a custom field's path.
type CustomFieldIDParam struct {
	ID string `path:"id" format:"uuid"`
}

const accountTag = "Account"

func (s *server) registerCustomFields(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-custom-field", Method: http.MethodPost, Path: "/v1/custom-fields", Tags: []string{accountTag},
		Summary: "Define a custom field for contacts", DefaultStatus: http.StatusCreated, Errors: []int{http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body CustomFieldInput }) (*struct{ Body CustomFieldBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		f, err := s.CustomFields.Create(ctx, p.AccountID, customfield.Input{Key: in.Body.Key, Label: in.Body.Label,
			Type: customfield.Type(in.Body.Type), Choices: in.Body.Choices, OnClose: in.Body.OnClose})
		if err != nil {
			return nil, err
		}
		return &struct{ Body CustomFieldBody }{Body: toCustomFieldBody(f)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-custom-fields", Method: http.MethodGet, Path: "/v1/custom-fields", Tags: []string{accountTag},
		Summary: "List the account's custom fields (at most 100), by key",
	}, auth.ContactsRead), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body listBody[CustomFieldBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		fields, err := s.CustomFields.List(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		items := make([]CustomFieldBody, len(fields))
		for i, f := range fields {
			items[i] = toCustomFieldBody(f)
		}
		return &struct{ Body listBody[CustomFieldBody] }{Body: listBody[CustomFieldBody]{Items: items}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-custom-field", Method: http.MethodGet, Path: "/v1/custom-fields/{id}", Tags: []string{accountTag},
		Summary: "Get a custom field", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *CustomFieldIDParam) (*struct{ Body CustomFieldBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		f, err := s.CustomFields.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body CustomFieldBody }{Body: toCustomFieldBody(f)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-custom-field", Method: http.MethodPatch, Path: "/v1/custom-fields/{id}", Tags: []string{accountTag},
		Summary:     "Change a custom field's label, choices or closing rule",
		Description: "The key and the type never change. A choice some contact holds cannot be removed (409).",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		CustomFieldIDParam
		Body CustomFieldInput
	}) (*struct{ Body CustomFieldBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		f, err := s.CustomFields.Update(ctx, p.AccountID, id, customfield.Input{Label: in.Body.Label, Choices: in.Body.Choices, OnClose: in.Body.OnClose})
		if err != nil {
			return nil, err
		}
		return &struct{ Body CustomFieldBody }{Body: toCustomFieldBody(f)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-custom-field", Method: http.MethodDelete, Path: "/v1/custom-fields/{id}", Tags: []string{accountTag},
		Summary: "Delete a custom field and its values on every contact", DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *CustomFieldIDParam) (*struct{}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		return nil, s.CustomFields.Delete(ctx, p.AccountID, id)
	}))
}

func toCustomFieldBody(f customfield.Field) CustomFieldBody {
	return CustomFieldBody{ID: f.ID.String(), Key: f.Key, Label: f.Label, Type: string(f.Type), Choices: f.Choices,
		OnClose: f.OnClose, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt}
}
