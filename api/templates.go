package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/template"
)

// TemplateComponents are a template's parts, within the Cloud API's limits.
type TemplateComponents struct {
	Header  *TemplateHeader  `json:"header,omitempty"`
	Body    TemplateText     `json:"body"`
	Footer  *TemplateText    `json:"footer,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty" maxItems:"20" doc:"At most 10: quick replies grouped together, at most 2 URL, 1 phone number and 1 copy code."`
}

// TemplateHeader is a text header (at most one variable, 60 characters) or a media one.
type TemplateHeader struct {
	Format     string `json:"format" enum:"text,image,video,document"`
	Text       string `json:"text,omitempty" maxLength:"2000"`
	ExampleURL string `json:"example_url,omitempty" maxLength:"2000" doc:"A media header's example link (image, video or document)."`
}

// TemplateText is a body (required, at most 1 024 characters, variables {{1}} or {{name}})
// or a footer (at most 60 characters, no variables).
type TemplateText struct {
	Text string `json:"text" maxLength:"4000"`
}

// TemplateButton is a quick reply, a URL (optionally ending with {{1}}), a phone number or a
// copy-code button.
type TemplateButton struct {
	Type        string `json:"type" enum:"quick_reply,url,phone_number,copy_code"`
	Text        string `json:"text,omitempty" maxLength:"200" doc:"The label, at most 25 characters; none for copy_code."`
	URL         string `json:"url,omitempty" maxLength:"4000"`
	PhoneNumber string `json:"phone_number,omitempty" maxLength:"40"`
}

// TemplateBinding says where a variable's value comes from.
type TemplateBinding struct {
	Source   string `json:"source,omitempty" maxLength:"100" doc:"A contact field: {nome}, {primeiro_nome}, {{contactcustomcode}}, @ChaveCliente, {codigo_cliente}, {cpf}, {cnpj}, {email}, {telefone}, {rg}, {data_nascimento}, or {key} of a custom field."`
	Text     string `json:"text,omitempty" maxLength:"1024" doc:"A fixed value, instead of a source."`
	Fallback string `json:"fallback,omitempty" maxLength:"1024" doc:"Used when the contact has no value."`
}

// TemplateChannelBody is a library channel's copy of the template at its provider.
type TemplateChannelBody struct {
	ChannelID          string     `json:"channel_id" format:"uuid"`
	Status             string     `json:"status" enum:"draft,pending,approved,rejected,paused,disabled"`
	Reason             string     `json:"reason,omitempty" doc:"The provider's reason for a rejection, pause or disabling."`
	ProviderTemplateID string     `json:"provider_template_id,omitempty"`
	Error              string     `json:"error,omitempty" doc:"Why the last submission to this channel failed (provider code and reason)."`
	SubmittedAt        *time.Time `json:"submitted_at,omitempty"`
	StatusAt           *time.Time `json:"status_at,omitempty" doc:"When the provider gave the current verdict."`
}

// TemplateBody is a message template (HSM).
type TemplateBody struct {
	ID              string                     `json:"id" format:"uuid"`
	Name            string                     `json:"name"`
	Language        string                     `json:"language"`
	Category        string                     `json:"category" enum:"marketing,utility,authentication"`
	ParameterFormat string                     `json:"parameter_format" enum:"positional,named"`
	Components      TemplateComponents         `json:"components"`
	Examples        map[string]string          `json:"examples"`
	Bindings        map[string]TemplateBinding `json:"bindings"`
	Status          string                     `json:"status" enum:"draft,pending,approved,rejected,paused,disabled" doc:"The worst verdict among the library channels; draft until submitted."`
	Reason          string                     `json:"reason,omitempty"`
	Channels        []TemplateChannelBody      `json:"channels"`
	SubmittedAt     *time.Time                 `json:"submitted_at,omitempty"`
	Version         int                        `json:"version" doc:"Grows with every change, the provider's verdicts included; the ETag."`
	CreatedAt       time.Time                  `json:"created_at"`
	UpdatedAt       time.Time                  `json:"updated_at"`
}

// TemplateInput creates a template, or changes the fields it carries.
type TemplateInput struct {
	Name       *string                     `json:"name,omitempty" maxLength:"600" doc:"Lower-case letters, digits and underscores, at most 512. Required on create."`
	Language   *string                     `json:"language,omitempty" maxLength:"15" doc:"Like pt_BR. Required on create."`
	Category   *string                     `json:"category,omitempty" enum:"marketing,utility,authentication" doc:"Required on create."`
	Components *TemplateComponents         `json:"components,omitempty" doc:"Required on create."`
	Examples   *map[string]string          `json:"examples,omitempty" doc:"One example per variable, by location: header:1, body:1 or body:first_name, button:N (a URL button's suffix or a copy code), for the provider's review."`
	Bindings   *map[string]TemplateBinding `json:"bindings,omitempty" doc:"Where each variable's value comes from, by the same locations (and header:media for a media header's link)."`
	ChannelIDs *[]string                   `json:"channel_ids,omitempty" maxItems:"100" doc:"The WhatsApp numbers whose library holds the template."`
}

// TemplatePreviewInput names the contact to render for.
type TemplatePreviewInput struct {
	ContactID    string `json:"contact_id,omitempty" format:"uuid"`
	CustomerCode string `json:"customer_code,omitempty" maxLength:"100"`
}

// TemplatePreviewBody is a template filled with a contact's data.
type TemplatePreviewBody struct {
	Header     *TemplatePreviewHeader  `json:"header,omitempty"`
	Body       string                  `json:"body"`
	Footer     string                  `json:"footer,omitempty"`
	Buttons    []TemplatePreviewButton `json:"buttons"`
	Values     map[string]string       `json:"values" doc:"The resolved values by variable location."`
	Unresolved []string                `json:"unresolved" doc:"Variables without a value (their placeholders stay in the text); such a template cannot be sent to this contact."`
}

// TemplatePreviewHeader is a rendered header.
type TemplatePreviewHeader struct {
	Format   string `json:"format"`
	Text     string `json:"text,omitempty"`
	MediaURL string `json:"media_url,omitempty"`
}

// TemplatePreviewButton is a rendered button.
type TemplatePreviewButton struct {
	Type        string `json:"type"`
	Text        string `json:"text,omitempty"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
	Code        string `json:"code,omitempty"`
}

type templateOutput struct {
	ETag string `header:"ETag"`
	Body TemplateBody
}

func templateResponse(t template.Template) *templateOutput {
	return &templateOutput{ETag: etag(t.Version), Body: toTemplateBody(t)}
}

// TemplateIDParam is the {id} of a template's path.
type TemplateIDParam struct {
	ID string `path:"id" format:"uuid"`
}

const templatesTag = "Templates"

func (s *server) registerTemplates(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-template", Method: http.MethodPost, Path: "/v1/templates", Tags: []string{templatesTag},
		Summary: "Create a message template (a draft until submitted)", DefaultStatus: http.StatusCreated,
		Errors: []int{http.StatusConflict},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *struct{ Body TemplateInput }) (*struct{ Body TemplateBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		ti, err := toTemplateInput(in.Body)
		if err != nil {
			return nil, err
		}
		t, err := s.Templates.Create(ctx, p.AccountID, ti)
		if err != nil {
			return nil, err
		}
		return &struct{ Body TemplateBody }{Body: toTemplateBody(t)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-templates", Method: http.MethodGet, Path: "/v1/templates", Tags: []string{templatesTag},
		Summary: "List and search templates", Description: "By name (substring or prefix), category, status and library channel; oldest first.",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		PageParams
		Name       string `query:"name" maxLength:"512" doc:"Templates whose name contains this."`
		NamePrefix string `query:"name_prefix" maxLength:"512" doc:"Templates whose name starts with this."`
		Category   string `query:"category" enum:"marketing,utility,authentication"`
		Status     string `query:"status" enum:"draft,pending,approved,rejected,paused,disabled"`
		ChannelID  string `query:"channel_id" format:"uuid" doc:"Templates in this channel's library."`
	}) (*struct{ Body listBody[TemplateBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		f := template.Filter{Name: in.Name, NamePrefix: in.NamePrefix, Category: in.Category, Status: in.Status, After: after, Limit: in.Limit + 1}
		if in.ChannelID != "" {
			cid, err := parseUUID("query.channel_id", in.ChannelID)
			if err != nil {
				return nil, err
			}
			f.ChannelID = &cid
		}
		ts, err := s.Templates.List(ctx, p.AccountID, f)
		if err != nil {
			return nil, err
		}
		return listPage(ts, in.Limit, func(t template.Template) uuid.UUID { return t.ID }, toTemplateBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-template", Method: http.MethodGet, Path: "/v1/templates/{id}", Tags: []string{templatesTag},
		Summary: "Get a template with its status on each library channel", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *TemplateIDParam) (*templateOutput, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		t, err := s.Templates.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return templateResponse(t), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-template", Method: http.MethodPatch, Path: "/v1/templates/{id}", Tags: []string{templatesTag},
		Summary:     "Change a template",
		Description: "With If-Match, the change is refused (412) if the template changed since it was read. Name, language, category, components and examples change only while the template is a draft: its provider reviewed the submitted content as it is (create a new template to change it). Bindings and library channels change at any time.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusPreconditionFailed},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *struct {
		TemplateIDParam
		IfMatch string `header:"If-Match" doc:"The ETag the change was based on; 412 if the template changed since."`
		Body    TemplateInput
	}) (*templateOutput, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		version, err := ifMatchVersion(in.IfMatch)
		if err != nil {
			return nil, err
		}
		ti, err := toTemplateInput(in.Body)
		if err != nil {
			return nil, err
		}
		t, err := s.Templates.Update(ctx, p.AccountID, id, ti, version)
		if err != nil {
			return nil, err
		}
		return templateResponse(t), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "delete-template", Method: http.MethodDelete, Path: "/v1/templates/{id}", Tags: []string{templatesTag},
		Summary:       "Delete a template",
		Description:   "A draft never submitted is deleted; a template that was submitted is marked deleted (gone from the API, its name and language free again) so messages sent with it keep their reference. Nothing is deleted at the provider.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *TemplateIDParam) (*struct{}, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		return nil, s.Templates.Delete(ctx, p.AccountID, id)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "submit-template", Method: http.MethodPost, Path: "/v1/templates/{id}/submit", Tags: []string{templatesTag},
		Summary:     "Submit a template to the provider of each library channel not yet submitted",
		Description: "Numbers of one WhatsApp business account share one submission. Each channel gets the provider's template id and first status (usually pending); the verdict arrives later by webhook. A channel whose submission failed keeps status draft with the provider's error, and can be submitted again. 409 when every library channel was already submitted.",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, auth.TemplatesWrite), handle(func(ctx context.Context, in *TemplateIDParam) (*struct{ Body TemplateBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		t, err := s.Templates.Submit(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body TemplateBody }{Body: toTemplateBody(t)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "preview-template", Method: http.MethodPost, Path: "/v1/templates/{id}/preview", Tags: []string{templatesTag},
		Summary:     "Render a template with a contact's data",
		Description: "Give contact_id or customer_code. Variables take their bound contact fields (dates as dd/mm/yyyy); those without a value are listed in unresolved.",
		Errors:      []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct {
		TemplateIDParam
		Body TemplatePreviewInput
	}) (*struct{ Body TemplatePreviewBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		var contactID *uuid.UUID
		switch {
		case in.Body.ContactID != "" && in.Body.CustomerCode != "":
			return nil, fault.Invalid("give contact_id or customer_code, not both", fault.FieldError{Field: "customer_code", Message: "not with contact_id"})
		case in.Body.ContactID != "":
			cid, err := parseUUID("body.contact_id", in.Body.ContactID)
			if err != nil {
				return nil, err
			}
			contactID = &cid
		case in.Body.CustomerCode == "":
			return nil, fault.Invalid("name the contact", fault.FieldError{Field: "contact_id", Message: "give contact_id or customer_code"})
		}
		r, err := s.Templates.Preview(ctx, p.AccountID, id, contactID, in.Body.CustomerCode)
		if err != nil {
			return nil, err
		}
		return &struct{ Body TemplatePreviewBody }{Body: toPreviewBody(r)}, nil
	}))
}

func toTemplateInput(in TemplateInput) (template.Input, error) {
	out := template.Input{Name: in.Name, Language: in.Language, Category: in.Category, Examples: in.Examples}
	if in.Components != nil {
		c := toComponents(*in.Components)
		out.Components = &c
	}
	if in.Bindings != nil {
		b := make(map[string]template.Binding, len(*in.Bindings))
		for k, v := range *in.Bindings {
			b[k] = template.Binding{Source: v.Source, Text: v.Text, Fallback: v.Fallback}
		}
		out.Bindings = &b
	}
	if in.ChannelIDs != nil {
		ids, err := parseUUIDs("body.channel_ids", *in.ChannelIDs)
		if err != nil {
			return out, err
		}
		out.ChannelIDs = &ids
	}
	return out, nil
}

func toComponents(c TemplateComponents) template.Components {
	out := template.Components{Body: template.Text{Text: c.Body.Text}}
	if c.Header != nil {
		out.Header = &template.Header{Format: c.Header.Format, Text: c.Header.Text, ExampleURL: c.Header.ExampleURL}
	}
	if c.Footer != nil {
		out.Footer = &template.Text{Text: c.Footer.Text}
	}
	for _, b := range c.Buttons {
		out.Buttons = append(out.Buttons, template.Button{Type: b.Type, Text: b.Text, URL: b.URL, PhoneNumber: b.PhoneNumber})
	}
	return out
}

func toTemplateBody(t template.Template) TemplateBody {
	b := TemplateBody{ID: t.ID.String(), Name: t.Name, Language: t.Language, Category: t.Category, ParameterFormat: t.ParameterFormat,
		Examples: t.Examples, Bindings: map[string]TemplateBinding{}, Status: t.Status, Reason: t.Reason,
		Channels: make([]TemplateChannelBody, len(t.Channels)), SubmittedAt: t.SubmittedAt, Version: t.Version, CreatedAt: t.CreatedAt, UpdatedAt: t.UpdatedAt}
	c := t.Components
	b.Components.Body = TemplateText{Text: c.Body.Text}
	if c.Header != nil {
		b.Components.Header = &TemplateHeader{Format: c.Header.Format, Text: c.Header.Text, ExampleURL: c.Header.ExampleURL}
	}
	if c.Footer != nil {
		b.Components.Footer = &TemplateText{Text: c.Footer.Text}
	}
	for _, btn := range c.Buttons {
		b.Components.Buttons = append(b.Components.Buttons, TemplateButton{Type: btn.Type, Text: btn.Text, URL: btn.URL, PhoneNumber: btn.PhoneNumber})
	}
	for k, v := range t.Bindings {
		b.Bindings[k] = TemplateBinding{Source: v.Source, Text: v.Text, Fallback: v.Fallback}
	}
	for i, ch := range t.Channels {
		b.Channels[i] = TemplateChannelBody{ChannelID: ch.ChannelID.String(), Status: ch.Status, Reason: ch.Reason,
			ProviderTemplateID: ch.ProviderTemplateID, Error: ch.Error, SubmittedAt: ch.SubmittedAt, StatusAt: ch.StatusAt}
	}
	return b
}

func toPreviewBody(r template.Rendered) TemplatePreviewBody {
	b := TemplatePreviewBody{Body: r.Body, Footer: r.Footer, Buttons: make([]TemplatePreviewButton, len(r.Buttons)), Values: r.Values, Unresolved: r.Unresolved}
	if b.Unresolved == nil {
		b.Unresolved = []string{}
	}
	if r.Header != nil {
		b.Header = &TemplatePreviewHeader{Format: r.Header.Format, Text: r.Header.Text, MediaURL: r.Header.MediaURL}
	}
	for i, btn := range r.Buttons {
		b.Buttons[i] = TemplatePreviewButton{Type: btn.Type, Text: btn.Text, URL: btn.URL, PhoneNumber: btn.PhoneNumber, Code: btn.Code}
	}
	return b
}
