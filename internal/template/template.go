// Package template keeps the account's message templates (HSM, DESIGN §4 Templates): their
// content checked against the WhatsApp Cloud API's rules before anything reaches a provider,
// the WhatsApp numbers whose library holds each one with the provider's verdict, how each
// variable takes its value from a contact, and Render, the one function that fills a template
// for a contact (the preview now, the sends of the messaging work later).
package template

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/phone"
)

// Statuses of a template and of each library channel. Only approved templates are sent.
const (
	StatusDraft    = "draft"
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusRejected = "rejected"
	StatusPaused   = "paused"
	StatusDisabled = "disabled"
)

// Categories are the Cloud API's only template categories (reference §3.2).
var Categories = []string{"marketing", "utility", "authentication"}

// Button types.
const (
	QuickReply  = "quick_reply"
	URLButton   = "url"
	PhoneButton = "phone_number"
	CopyCode    = "copy_code"
)

// Header formats.
const (
	HeaderText     = "text"
	HeaderImage    = "image"
	HeaderVideo    = "video"
	HeaderDocument = "document"
)

// Cloud API limits (reference §6 and Meta's component reference).
const (
	MaxNameLength       = 512
	MaxBodyLength       = 1024
	MaxHeaderTextLength = 60
	MaxFooterLength     = 60
	MaxButtons          = 10
	MaxURLButtons       = 2
	MaxPhoneButtons     = 1
	MaxCopyCodeButtons  = 1
	MaxButtonText       = 25
	MaxURLLength        = 2000
	MaxPhoneLength      = 20
	MaxCopyCodeExample  = 15
	MaxExampleLength    = 1024
)

// Template is a message template and the state of its review on each library channel.
type Template struct {
	ID       uuid.UUID
	Name     string
	Language string
	Category string
	// ParameterFormat is "positional" ({{1}}) or "named" ({{first_name}}), from the texts.
	ParameterFormat string
	Components      Components
	// Examples are the sample values the provider's reviewers see, by variable location.
	Examples map[string]string
	// Bindings say where each variable's value comes from, by variable location.
	Bindings map[string]Binding
	// Status summarises the channels' verdicts: the worst of them, draft while none was
	// submitted; Reason is that verdict's reason.
	Status      string
	Reason      string
	Channels    []ChannelState
	SubmittedAt *time.Time
	Version     int
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ChannelState is a library channel's copy of the template at its provider.
type ChannelState struct {
	ChannelID          uuid.UUID
	Status             string
	Reason             string
	ProviderTemplateID string
	// Error is why the last submission to this channel failed, when it did.
	Error       string
	SubmittedAt *time.Time
	StatusAt    *time.Time
}

// Components are the parts of a template, as the Cloud API has them.
type Components struct {
	Header  *Header  `json:"header,omitempty"`
	Body    Text     `json:"body"`
	Footer  *Text    `json:"footer,omitempty"`
	Buttons []Button `json:"buttons,omitempty"`
}

// Header is a text header (with at most one variable) or a media one shown by an example link.
type Header struct {
	Format     string `json:"format"`
	Text       string `json:"text,omitempty"`
	ExampleURL string `json:"example_url,omitempty"`
}

// Text is a body or footer.
type Text struct {
	Text string `json:"text"`
}

// Button is one of a template's buttons. A URL may end with one variable {{1}}.
type Button struct {
	Type        string `json:"type"`
	Text        string `json:"text,omitempty"`
	URL         string `json:"url,omitempty"`
	PhoneNumber string `json:"phone_number,omitempty"`
}

// Binding is where a variable's value comes from: a contact field (Source: "{nome}",
// "{{contactcustomcode}}", "@ChaveCliente", "{email}", or "{key}" for a custom field) or a
// fixed Text; Fallback is used when the contact has no value.
type Binding struct {
	Source   string `json:"source,omitempty"`
	Text     string `json:"text,omitempty"`
	Fallback string `json:"fallback,omitempty"`
}

// Variable is one place a template takes a value at send time.
type Variable struct {
	// Location names it: "header:1", "body:first_name", "button:2" (a URL button's suffix or
	// a copy-code button's code, by button index), "header:media" (a media header's link).
	Location string
	// Name is the variable as written ("1", "first_name"); empty for buttons and media.
	Name string
}

var (
	nameRE      = regexp.MustCompile(`^[a-z0-9_]+$`)
	languageRE  = regexp.MustCompile(`^[a-z]{2,3}(_[A-Z][A-Za-z]{1,3})?$`)
	namedVarRE  = regexp.MustCompile(`^[a-z_]+$`)
	placeholder = regexp.MustCompile(`\{\{([^{}]*)\}\}`)
)

// MediaLocation is the location of a media header's link.
const MediaLocation = "header:media"

// Checked is what Check found in valid content: the parameter format and every variable.
type Checked struct {
	ParameterFormat string
	Variables       []Variable
}

// Check validates name, language, category and components against the Cloud API's rules and
// lists the variables, or returns one field error per violation (fields are JSON paths of
// the request body, e.g. "components.buttons[3].text").
func Check(name, language, category string, c Components) (Checked, []fault.FieldError) {
	var errs []fault.FieldError
	bad := func(field, msg string, v any) {
		errs = append(errs, fault.FieldError{Field: field, Message: msg, Value: v})
	}
	if !nameRE.MatchString(name) || len(name) > MaxNameLength {
		bad("name", fmt.Sprintf("lower-case letters, digits and underscores only, 1 to %d characters", MaxNameLength), name)
	}
	if !languageRE.MatchString(language) {
		bad("language", "a language code like pt_BR, en_US or es", language)
	}
	if !slices.Contains(Categories, category) {
		bad("category", "must be marketing, utility or authentication", category)
	}
	var out Checked
	positional, named := false, false
	note := func(v Variable) {
		out.Variables = append(out.Variables, v)
		if _, err := strconv.Atoi(v.Name); err == nil {
			positional = true
		} else {
			named = true
		}
	}
	if h := c.Header; h != nil {
		switch h.Format {
		case HeaderText:
			n := utf8.RuneCountInString(h.Text)
			if strings.TrimSpace(h.Text) == "" || n > MaxHeaderTextLength {
				bad("components.header.text", fmt.Sprintf("a text header has 1 to %d characters", MaxHeaderTextLength), n)
			}
			vars, verrs := variables("components.header.text", h.Text)
			errs = append(errs, verrs...)
			if len(vars) > 1 {
				bad("components.header.text", "a text header has at most one variable", len(vars))
			}
			for _, v := range vars {
				note(Variable{Location: "header:" + v, Name: v})
			}
			if h.ExampleURL != "" {
				bad("components.header.example_url", "only a media header has an example link", h.ExampleURL)
			}
		case HeaderImage, HeaderVideo, HeaderDocument:
			if h.Text != "" {
				bad("components.header.text", "a media header has no text", h.Text)
			}
			if !httpURL(h.ExampleURL) {
				bad("components.header.example_url", "a media header needs an example http(s) link to the "+h.Format, h.ExampleURL)
			}
			if category == "authentication" {
				bad("components.header.format", "an authentication template has no media header", h.Format)
			}
			out.Variables = append(out.Variables, Variable{Location: MediaLocation})
		default:
			bad("components.header.format", "must be text, image, video or document", h.Format)
		}
	}
	n := utf8.RuneCountInString(c.Body.Text)
	if strings.TrimSpace(c.Body.Text) == "" || n > MaxBodyLength {
		bad("components.body.text", fmt.Sprintf("the body is required and has at most %d characters", MaxBodyLength), n)
	}
	vars, verrs := variables("components.body.text", c.Body.Text)
	errs = append(errs, verrs...)
	for _, v := range vars {
		note(Variable{Location: "body:" + v, Name: v})
	}
	if f := c.Footer; f != nil {
		n := utf8.RuneCountInString(f.Text)
		if strings.TrimSpace(f.Text) == "" || n > MaxFooterLength {
			bad("components.footer.text", fmt.Sprintf("a footer has 1 to %d characters", MaxFooterLength), n)
		}
		if placeholder.MatchString(f.Text) {
			bad("components.footer.text", "a footer has no variables", f.Text)
		}
	}
	if positional && named {
		bad("components", "variables are all positional ({{1}}) or all named ({{first_name}}), not mixed", nil)
	}
	if named {
		out.ParameterFormat = "named"
	} else {
		out.ParameterFormat = "positional"
		// Positional variables of each text are {{1}}..{{n}}, in any order but without gaps.
		for _, part := range []string{"header", "body"} {
			var nums []int
			for _, v := range out.Variables {
				if strings.HasPrefix(v.Location, part+":") && v.Name != "" {
					k, _ := strconv.Atoi(v.Name)
					nums = append(nums, k)
				}
			}
			slices.Sort(nums)
			for i, k := range nums {
				if k != i+1 {
					bad("components."+part+".text", fmt.Sprintf("positional variables are numbered {{1}} to {{%d}} without gaps", len(nums)), fmt.Sprintf("{{%d}}", k))
					break
				}
			}
		}
	}
	errs = append(errs, checkButtons(category, c.Buttons, &out)...)
	return out, errs
}

func checkButtons(category string, buttons []Button, out *Checked) []fault.FieldError {
	var errs []fault.FieldError
	bad := func(field, msg string, v any) {
		errs = append(errs, fault.FieldError{Field: field, Message: msg, Value: v})
	}
	if len(buttons) > MaxButtons {
		bad("components.buttons", fmt.Sprintf("at most %d buttons", MaxButtons), len(buttons))
	}
	count := map[string]int{}
	lastQuick := -1
	for i, b := range buttons {
		field := fmt.Sprintf("components.buttons[%d]", i)
		count[b.Type]++
		if b.Type != CopyCode {
			if n := utf8.RuneCountInString(b.Text); strings.TrimSpace(b.Text) == "" || n > MaxButtonText {
				bad(field+".text", fmt.Sprintf("a button label has 1 to %d characters", MaxButtonText), b.Text)
			}
		}
		if b.Type != URLButton && b.URL != "" {
			bad(field+".url", "only a URL button has a URL", b.URL)
		}
		if b.Type != PhoneButton && b.PhoneNumber != "" {
			bad(field+".phone_number", "only a phone number button has a phone number", b.PhoneNumber)
		}
		switch b.Type {
		case QuickReply:
			if lastQuick >= 0 && lastQuick != i-1 {
				bad(field+".type", "quick reply buttons are grouped together, not mixed with other buttons", b.Type)
			}
			lastQuick = i
		case URLButton:
			base, hasVar := strings.CutSuffix(b.URL, "{{1}}")
			if len(b.URL) > MaxURLLength || !httpURL(base+"x") {
				bad(field+".url", fmt.Sprintf("an http(s) URL of at most %d characters", MaxURLLength), b.URL)
			} else if placeholder.MatchString(base) || strings.Contains(base, "{{") {
				bad(field+".url", "a URL has at most one variable, {{1}}, at its end", b.URL)
			}
			if hasVar {
				out.Variables = append(out.Variables, Variable{Location: fmt.Sprintf("button:%d", i)})
			}
		case PhoneButton:
			if n, err := phone.Normalize(b.PhoneNumber); err != nil || len(b.PhoneNumber) > MaxPhoneLength {
				bad(field+".phone_number", "a phone number in international format, like +55 11 4000-1234", b.PhoneNumber)
			} else {
				buttons[i].PhoneNumber = n.E164
			}
		case CopyCode:
			if b.Text != "" {
				bad(field+".text", "a copy code button's label is set by WhatsApp", b.Text)
			}
			out.Variables = append(out.Variables, Variable{Location: fmt.Sprintf("button:%d", i)})
		default:
			bad(field+".type", "must be quick_reply, url, phone_number or copy_code", b.Type)
		}
		if category == "authentication" && (b.Type == QuickReply || b.Type == PhoneButton) {
			bad(field+".type", "an authentication template has only a copy code or URL (one-time password) button", b.Type)
		}
	}
	for _, l := range []struct {
		typ   string
		limit int
	}{{URLButton, MaxURLButtons}, {PhoneButton, MaxPhoneButtons}, {CopyCode, MaxCopyCodeButtons}} {
		if count[l.typ] > l.limit {
			bad("components.buttons", fmt.Sprintf("at most %d %s button(s)", l.limit, l.typ), count[l.typ])
		}
	}
	return errs
}

// variables returns the distinct variable names of text in order of first appearance, and
// an error for each placeholder that is neither {{n}} nor {{lower_case_name}}.
func variables(field, text string) ([]string, []fault.FieldError) {
	var out []string
	var errs []fault.FieldError
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		v := m[1]
		n, err := strconv.Atoi(v)
		switch {
		case err == nil && n >= 1 && strconv.Itoa(n) == v:
		case namedVarRE.MatchString(v):
		default:
			errs = append(errs, fault.FieldError{Field: field, Message: "a variable is {{1}}, {{2}}... or a name of lower-case letters and underscores like {{first_name}}", Value: m[0]})
			continue
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out, errs
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && len(s) <= MaxURLLength
}

// CheckExamples insists on one non-empty example per variable (the provider rejects a
// template without them) and on nothing else; a media header's example is its example_url.
func CheckExamples(vars []Variable, buttons []Button, examples map[string]string) []fault.FieldError {
	var errs []fault.FieldError
	known := map[string]bool{}
	for _, v := range vars {
		if v.Location == MediaLocation {
			continue
		}
		known[v.Location] = true
		ex := examples[v.Location]
		switch {
		case strings.TrimSpace(ex) == "":
			errs = append(errs, fault.FieldError{Field: "examples." + v.Location, Message: "every variable needs an example for the provider's review"})
		case utf8.RuneCountInString(ex) > MaxExampleLength:
			errs = append(errs, fault.FieldError{Field: "examples." + v.Location, Message: fmt.Sprintf("at most %d characters", MaxExampleLength)})
		case strings.HasPrefix(v.Location, "button:"):
			i, _ := strconv.Atoi(strings.TrimPrefix(v.Location, "button:"))
			if buttons[i].Type == CopyCode && utf8.RuneCountInString(ex) > MaxCopyCodeExample {
				errs = append(errs, fault.FieldError{Field: "examples." + v.Location, Message: fmt.Sprintf("a code has at most %d characters", MaxCopyCodeExample), Value: ex})
			}
		}
	}
	extra := make([]string, 0, len(examples))
	for loc := range examples {
		if !known[loc] {
			extra = append(extra, loc)
		}
	}
	slices.Sort(extra)
	for _, loc := range extra {
		errs = append(errs, fault.FieldError{Field: "examples." + loc, Message: "the template has no variable here", Value: loc})
	}
	return errs
}

// Sendable returns the library channel's copy of the template when it may be sent through
// that channel: only a template the channel's provider approved is sent (DESIGN §4).
func (t Template) Sendable(channelID uuid.UUID) (ChannelState, bool) {
	for _, c := range t.Channels {
		if c.ChannelID == channelID {
			return c, c.Status == StatusApproved && c.ProviderTemplateID != ""
		}
	}
	return ChannelState{}, false
}
