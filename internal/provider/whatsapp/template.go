package whatsapp

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/conversa-hq/conversa/internal/provider"
)

// The template management wire format (reference §6).
type (
	wireTemplateSpec struct {
		Name            string              `json:"name"`
		Language        string              `json:"language"`
		Category        string              `json:"category"`
		ParameterFormat string              `json:"parameter_format"`
		Components      []wireSpecComponent `json:"components"`
	}
	wireSpecComponent struct {
		Type    string       `json:"type"`
		Format  string       `json:"format,omitempty"`
		Text    string       `json:"text,omitempty"`
		Example *wireExample `json:"example,omitempty"`
		Buttons []wireButton `json:"buttons,omitempty"`
	}
	wireExample struct {
		HeaderText            []string         `json:"header_text,omitempty"`
		HeaderTextNamedParams []wireNamedParam `json:"header_text_named_params,omitempty"`
		HeaderHandle          []string         `json:"header_handle,omitempty"`
		BodyText              [][]string       `json:"body_text,omitempty"`
		BodyTextNamedParams   []wireNamedParam `json:"body_text_named_params,omitempty"`
	}
	wireNamedParam struct {
		ParamName string `json:"param_name"`
		Example   string `json:"example"`
	}
	wireButton struct {
		Type        string   `json:"type"`
		Text        string   `json:"text"`
		URL         string   `json:"url,omitempty"`
		PhoneNumber string   `json:"phone_number,omitempty"`
		Example     []string `json:"example,omitempty"`
	}
)

// placeholderPattern finds template variables: {{1}} or {{first_name}}.
var placeholderPattern = regexp.MustCompile(`\{\{\s*([a-z0-9_]+)\s*\}\}`)

// templateCategories are Meta's only template categories (reference §3.2).
var templateCategories = map[string]bool{"MARKETING": true, "UTILITY": true, "AUTHENTICATION": true}

// SubmitTemplate creates a template for review through POST /{version}/{waba-id}/message_templates
// and returns its id and status (lower-case: pending, approved, rejected). The final verdict
// arrives later in a message_template_status_update webhook.
//
// Translation of t (reference §6): category and component types and formats are upper-cased;
// parameter_format is "named" when the texts use {{name}} variables and "positional" otherwise.
// Component.Example holds the examples Meta requires: for a header or body, one value per
// distinct variable ({{1}}, {{2}}... in number order; {{name}}s in order of first
// appearance); for a media header, the
// Resumable-Upload handle; for the buttons component, the example of each URL button with a
// variable, in button order (a full URL, or just the suffix to put in place of the variable).
//
// Errors: *provider.Error with CodeInvalidMessage (unknown category, mixed variable styles,
// missing or surplus examples) or CodeNotConfigured before any request; Meta's refusals and
// transport failures as for Send.
func (c *Client) SubmitTemplate(ctx context.Context, t provider.TemplateSpec) (provider.Submitted, error) {
	if c.cfg.WABAID == "" || c.cfg.AccessToken == "" {
		return provider.Submitted{}, &provider.Error{Code: CodeNotConfigured, Reason: "whatsapp channel lacks its business account id or access token"}
	}
	spec, err := buildTemplateSpec(t)
	if err != nil {
		return provider.Submitted{}, err
	}
	var out struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Category string `json:"category"`
	}
	if err := c.post(ctx, c.cfg.WABAID+"/message_templates", spec, &out); err != nil {
		return provider.Submitted{}, fmt.Errorf("whatsapp submit template %q (%s): %w", t.Name, t.Language, err)
	}
	if out.ID == "" {
		return provider.Submitted{}, &provider.Error{Code: CodeBadResponse, Reason: "WhatsApp accepted the template but returned no id", HTTPStatus: 200}
	}
	return provider.Submitted{ID: out.ID, Status: strings.ToLower(out.Status)}, nil
}

// buildTemplateSpec translates t into the management wire format, or says why it cannot.
func buildTemplateSpec(t provider.TemplateSpec) (*wireTemplateSpec, error) {
	if t.Name == "" || t.Language == "" {
		return nil, invalid("template needs a name and a language")
	}
	category := strings.ToUpper(t.Category)
	if !templateCategories[category] {
		return nil, invalid("template %q: category %q is not marketing, utility or authentication", t.Name, t.Category)
	}
	format, err := parameterFormat(t)
	if err != nil {
		return nil, err
	}
	spec := &wireTemplateSpec{Name: t.Name, Language: t.Language, Category: category, ParameterFormat: format}
	for _, comp := range t.Components {
		wc, err := buildSpecComponent(t.Name, format, comp)
		if err != nil {
			return nil, err
		}
		spec.Components = append(spec.Components, wc)
	}
	return spec, nil
}

// variables lists the distinct variable names of text in order of first appearance.
func variables(text string) []string {
	var out []string
	seen := map[string]bool{}
	for _, m := range placeholderPattern.FindAllStringSubmatch(text, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			out = append(out, m[1])
		}
	}
	return out
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// parameterFormat is "named" or "positional" for the whole template; a mix is refused.
func parameterFormat(t provider.TemplateSpec) (string, error) {
	positional, named := false, false
	for _, comp := range t.Components {
		if !strings.EqualFold(comp.Type, "header") && !strings.EqualFold(comp.Type, "body") {
			continue
		}
		for _, v := range variables(comp.Text) {
			if isDigits(v) {
				positional = true
			} else {
				named = true
			}
		}
	}
	if positional && named {
		return "", invalid("template %q mixes positional {{1}} and named {{name}} variables", t.Name)
	}
	if named {
		return "named", nil
	}
	return "positional", nil
}

func buildSpecComponent(tpl, format string, comp provider.Component) (wireSpecComponent, error) {
	typ := strings.ToUpper(comp.Type)
	wc := wireSpecComponent{Type: typ, Format: strings.ToUpper(comp.Format), Text: comp.Text}
	switch typ {
	case "HEADER":
		if wc.Format == "" {
			wc.Format = "TEXT"
		}
		if wc.Format != "TEXT" {
			if wc.Format == "IMAGE" || wc.Format == "VIDEO" || wc.Format == "DOCUMENT" {
				if len(comp.Example) != 1 {
					return wc, invalid("template %q: a %s header needs exactly one example (its upload handle)", tpl, wc.Format)
				}
				wc.Example = &wireExample{HeaderHandle: comp.Example}
			}
			wc.Text = ""
			return wc, nil
		}
		vars := variables(comp.Text)
		if err := checkExamples(tpl, typ, vars, comp.Example); err != nil {
			return wc, err
		}
		if len(vars) == 0 {
			return wc, nil
		}
		if format == "named" {
			wc.Example = &wireExample{HeaderTextNamedParams: namedExamples(vars, comp.Example)}
		} else {
			wc.Example = &wireExample{HeaderText: comp.Example}
		}
	case "BODY":
		wc.Format = ""
		vars := variables(comp.Text)
		if err := checkExamples(tpl, typ, vars, comp.Example); err != nil {
			return wc, err
		}
		if len(vars) == 0 {
			return wc, nil
		}
		if format == "named" {
			wc.Example = &wireExample{BodyTextNamedParams: namedExamples(vars, comp.Example)}
		} else {
			wc.Example = &wireExample{BodyText: [][]string{comp.Example}}
		}
	case "FOOTER":
		wc.Format = ""
	case "BUTTONS":
		wc.Format, wc.Text = "", ""
		examples := comp.Example
		for _, b := range comp.Buttons {
			wb := wireButton{Type: strings.ToUpper(b.Type), Text: b.Text, URL: b.URL, PhoneNumber: b.Phone}
			if wb.Type == "URL" && placeholderPattern.MatchString(b.URL) {
				if len(examples) == 0 {
					return wc, invalid("template %q: URL button %q has a variable but no example", tpl, b.Text)
				}
				ex := examples[0]
				examples = examples[1:]
				if !strings.HasPrefix(ex, "http://") && !strings.HasPrefix(ex, "https://") {
					ex = placeholderPattern.ReplaceAllLiteralString(b.URL, ex)
				}
				wb.Example = []string{ex}
			}
			wc.Buttons = append(wc.Buttons, wb)
		}
		if len(examples) > 0 {
			return wc, invalid("template %q: %d button examples left over with no URL variable to use them", tpl, len(examples))
		}
	default:
		return wc, invalid("template %q: component type %q is not header, body, footer or buttons", tpl, comp.Type)
	}
	return wc, nil
}

// checkExamples insists on one example per variable (Meta rejects a template without them).
func checkExamples(tpl, typ string, vars, examples []string) error {
	if len(vars) != len(examples) {
		return invalid("template %q: %s has %d variables but %d examples", tpl, strings.ToLower(typ), len(vars), len(examples))
	}
	for i, e := range examples {
		if strings.TrimSpace(e) == "" {
			return invalid("template %q: %s example %d is empty", tpl, strings.ToLower(typ), i+1)
		}
	}
	return nil
}

func namedExamples(vars, examples []string) []wireNamedParam {
	out := make([]wireNamedParam, len(vars))
	for i, v := range vars {
		out[i] = wireNamedParam{ParamName: v, Example: examples[i]}
	}
	return out
}
