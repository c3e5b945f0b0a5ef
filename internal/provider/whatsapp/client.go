// Package whatsapp is the WhatsApp Cloud API adapter: it sends messages and submits templates
// through Meta's Graph API, and reads (and verifies) the webhooks Meta delivers. It speaks the
// real wire format (reference/whatsapp-cloud-api.md §1, §2, §6) and classifies Meta's error
// codes into retry decisions in one table (§4). Package whatsapptest is a local fake of the
// Cloud API for tests.
package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/conversa-hq/conversa/internal/provider"
)

// Defaults for Config.
const (
	// DefaultBaseURL is Meta's Graph API host.
	DefaultBaseURL = "https://graph.facebook.com"
	// DefaultAPIVersion is the Graph API version used when Config.APIVersion is empty. Meta's
	// mid-2026 docs show v23.0–v25.0 and each version lives about two years, so it is
	// configuration, not a constant to rely on.
	DefaultAPIVersion = "v23.0"
	// DefaultTimeout bounds one HTTP call when Config.HTTPClient is nil.
	DefaultTimeout = 30 * time.Second
	// maxResponseBytes caps how much of Meta's answer is read.
	maxResponseBytes = 1 << 20
)

// Config is one WhatsApp business number's credentials and where to reach the API.
type Config struct {
	// BaseURL is the Graph API root; DefaultBaseURL when empty. Tests point it at whatsapptest.
	BaseURL string
	// APIVersion is the path version ("v23.0"); DefaultAPIVersion when empty.
	APIVersion string
	// PhoneNumberID is the business number's id (not the phone number); Send needs it.
	PhoneNumberID string
	// WABAID is the WhatsApp Business Account id; SubmitTemplate needs it.
	WABAID string
	// AccessToken is the system-user or business token sent as Bearer.
	AccessToken string
	// AppSecret is the Meta app's secret that signs webhooks; Parse refuses everything when empty.
	AppSecret string
	// VerifyToken is the string configured for the webhook handshake; VerifyHandshake refuses
	// everything when empty.
	VerifyToken string
	// HTTPClient makes the calls; a client with DefaultTimeout when nil.
	HTTPClient *http.Client
}

// Client is a WhatsApp Cloud API adapter for one business number. It implements
// provider.Sender, provider.TemplateSubmitter and provider.InboundParser, and is safe for
// concurrent use.
type Client struct {
	cfg Config
}

var (
	_ provider.Sender            = (*Client)(nil)
	_ provider.TemplateSubmitter = (*Client)(nil)
	_ provider.InboundParser     = (*Client)(nil)
)

// New returns a Client for cfg, filling in the defaults. It does not check the credentials:
// the calls that need a missing one fail with CodeNotConfigured.
func New(cfg Config) *Client {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	if cfg.APIVersion == "" {
		cfg.APIVersion = DefaultAPIVersion
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: DefaultTimeout}
	}
	return &Client{cfg: cfg}
}

// Send sends m through POST /{version}/{phone-number-id}/messages and returns Meta's message
// id (the wamid every later status webhook refers to). HTTP 200 means accepted, not delivered.
//
// To is an E.164 number, with or without "+" and with any of the separators Meta accepts; it
// is sent as "+" and digits, because Meta prepends the business number's own country code to
// a number without "+" (reference §1.2). A business-scoped user id ("US.1349...", "US.ENT.x")
// is sent as "recipient" instead of "to" (§1.2, §8). A Media URL of the form "media:<id>"
// (what Parse produces for received media) is sent by id; any other URL by link.
//
// Errors: *provider.Error with CodeInvalidMessage or CodeNotConfigured before any request;
// *provider.Error with Meta's numeric code, classified by the table in errors.go, when Meta
// refuses; *provider.Error with the HTTP status as code for non-Meta error answers; a wrapped
// plain error for transport failures (retryable).
func (c *Client) Send(ctx context.Context, m provider.Message) (provider.Sent, error) {
	if c.cfg.PhoneNumberID == "" || c.cfg.AccessToken == "" {
		return provider.Sent{}, &provider.Error{Code: CodeNotConfigured, Reason: "whatsapp channel lacks its phone number id or access token"}
	}
	msg, err := buildMessage(m)
	if err != nil {
		return provider.Sent{}, err
	}
	var out struct {
		Messages []struct {
			ID            string `json:"id"`
			MessageStatus string `json:"message_status"`
		} `json:"messages"`
	}
	if err := c.post(ctx, c.cfg.PhoneNumberID+"/messages", msg, &out); err != nil {
		return provider.Sent{}, fmt.Errorf("whatsapp send %s: %w", m.Kind, err)
	}
	if len(out.Messages) == 0 || out.Messages[0].ID == "" {
		return provider.Sent{}, &provider.Error{
			Code:       CodeBadResponse,
			Reason:     "WhatsApp accepted the message (HTTP 200) but returned no message id; not retried, to avoid sending it twice",
			HTTPStatus: http.StatusOK,
		}
	}
	return provider.Sent{ID: out.Messages[0].ID}, nil
}

// post sends body as JSON to {base}/{version}/{path} and decodes a 2xx answer into out. A
// non-2xx answer becomes *provider.Error; a 2xx answer that is not JSON becomes CodeBadResponse.
func (c *Client) post(ctx context.Context, path string, body, out any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(body); err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	endpoint := c.cfg.BaseURL + "/" + c.cfg.APIVersion + "/" + path
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, &buf)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("call whatsapp cloud api: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("read whatsapp cloud api answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorFromResponse(resp, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return &provider.Error{
			Code:       CodeBadResponse,
			Reason:     fmt.Sprintf("WhatsApp answered HTTP %d with a body that is not the expected JSON (%v); not retried, the request may have been applied", resp.StatusCode, err),
			HTTPStatus: resp.StatusCode,
		}
	}
	return nil
}

// The send wire format (reference §1.2–§1.4).
type (
	wireMessage struct {
		MessagingProduct string        `json:"messaging_product"`
		RecipientType    string        `json:"recipient_type"`
		To               string        `json:"to,omitempty"`
		Recipient        string        `json:"recipient,omitempty"`
		Type             string        `json:"type"`
		Context          *wireContext  `json:"context,omitempty"`
		Text             *wireText     `json:"text,omitempty"`
		Template         *wireTemplate `json:"template,omitempty"`
		Image            *wireMedia    `json:"image,omitempty"`
		Audio            *wireMedia    `json:"audio,omitempty"`
		Video            *wireMedia    `json:"video,omitempty"`
		Document         *wireMedia    `json:"document,omitempty"`
		Sticker          *wireMedia    `json:"sticker,omitempty"`
		Reaction         *wireReaction `json:"reaction,omitempty"`
		Contacts         []wireContact `json:"contacts,omitempty"`
		// BizOpaqueCallbackData comes back in the message's status webhooks (Message.Ref).
		BizOpaqueCallbackData string `json:"biz_opaque_callback_data,omitempty"`
	}
	wireContext struct {
		MessageID string `json:"message_id"`
	}
	wireText struct {
		Body       string `json:"body"`
		PreviewURL bool   `json:"preview_url"`
	}
	wireMedia struct {
		ID       string `json:"id,omitempty"`
		Link     string `json:"link,omitempty"`
		Caption  string `json:"caption,omitempty"`
		Filename string `json:"filename,omitempty"`
	}
	wireReaction struct {
		MessageID string `json:"message_id"`
		Emoji     string `json:"emoji"`
	}
	wireContact struct {
		Name   wireContactName    `json:"name"`
		Phones []wireContactPhone `json:"phones,omitempty"`
		Emails []wireContactEmail `json:"emails,omitempty"`
	}
	wireContactName struct {
		FormattedName string `json:"formatted_name"`
		FirstName     string `json:"first_name,omitempty"`
		LastName      string `json:"last_name,omitempty"`
	}
	wireContactPhone struct {
		Phone string `json:"phone"`
	}
	wireContactEmail struct {
		Email string `json:"email"`
	}
	wireTemplate struct {
		Name       string             `json:"name"`
		Language   wireLanguage       `json:"language"`
		Components []wireTplComponent `json:"components,omitempty"`
	}
	wireLanguage struct {
		Code string `json:"code"`
	}
	wireTplComponent struct {
		Type       string         `json:"type"`
		SubType    string         `json:"sub_type,omitempty"`
		Index      string         `json:"index,omitempty"`
		Parameters []wireTplParam `json:"parameters"`
	}
	wireTplParam struct {
		Type          string     `json:"type"`
		ParameterName string     `json:"parameter_name,omitempty"`
		Text          string     `json:"text,omitempty"`
		Image         *wireMedia `json:"image,omitempty"`
		Video         *wireMedia `json:"video,omitempty"`
		Document      *wireMedia `json:"document,omitempty"`
	}
)

// bsuidPattern matches a business-scoped user id: a country code, an optional "ENT." for a
// parent id, and the id itself (reference §1.2, §8). Phone numbers never contain letters.
var bsuidPattern = regexp.MustCompile(`^[A-Z]{2}\.(ENT\.)?[0-9A-Za-z]+$`)

// IsBSUID reports whether to is a business-scoped user id rather than a phone number, which
// decides whether Send addresses it as "recipient" or "to".
func IsBSUID(to string) bool { return bsuidPattern.MatchString(to) }

// normalizeTo returns "+" and the digits of an E.164 number written with the separators Meta
// accepts (+ - ( ) . and spaces), or ok false when anything else is in it.
func normalizeTo(to string) (string, bool) {
	var b strings.Builder
	b.WriteByte('+')
	for _, r := range to {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+' || r == '-' || r == '(' || r == ')' || r == '.' || r == ' ':
		default:
			return "", false
		}
	}
	digits := b.Len() - 1
	if digits < 7 || digits > 15 {
		return "", false
	}
	return b.String(), true
}

// buildMessage translates m into the wire envelope, or says why it cannot.
func buildMessage(m provider.Message) (*wireMessage, error) {
	to := strings.TrimSpace(m.To)
	w := &wireMessage{MessagingProduct: "whatsapp", RecipientType: "individual"}
	switch {
	case to == "":
		return nil, invalid("recipient is empty")
	case IsBSUID(to):
		w.Recipient = to
	default:
		n, ok := normalizeTo(to)
		if !ok {
			return nil, invalid("recipient %q is neither an E.164 phone number nor a business-scoped user id", m.To)
		}
		w.To = n
	}
	if m.ReplyTo != "" && m.Kind != provider.KindReaction {
		w.Context = &wireContext{MessageID: m.ReplyTo}
	}
	w.BizOpaqueCallbackData = m.Ref
	switch m.Kind {
	case provider.KindText:
		if m.Text == "" {
			return nil, invalid("text message has no text")
		}
		w.Type, w.Text = "text", &wireText{Body: m.Text}
	case provider.KindMedia:
		if err := setMedia(w, m.Media); err != nil {
			return nil, err
		}
	case provider.KindTemplate:
		t, err := buildTemplate(m.Template)
		if err != nil {
			return nil, err
		}
		w.Type, w.Template = "template", t
	case provider.KindReaction:
		if m.Reaction == nil || m.Reaction.MessageID == "" {
			return nil, invalid("reaction needs the id of the message it reacts to")
		}
		w.Type, w.Reaction = "reaction", &wireReaction{MessageID: m.Reaction.MessageID, Emoji: m.Reaction.Emoji}
	case provider.KindContact:
		c, err := buildContact(m.Contact)
		if err != nil {
			return nil, err
		}
		w.Type, w.Contacts = "contacts", []wireContact{c}
	default:
		return nil, invalid("message kind %q is not supported by WhatsApp", m.Kind)
	}
	return w, nil
}

// mediaRef is a media object by id ("media:<id>") or by link.
func mediaRef(u string) (wireMedia, error) {
	if id, ok := strings.CutPrefix(u, MediaURLPrefix); ok {
		if id == "" {
			return wireMedia{}, invalid("media reference %q has no id", u)
		}
		return wireMedia{ID: id}, nil
	}
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return wireMedia{}, invalid("media URL %q is not an http(s) link", u)
	}
	return wireMedia{Link: u}, nil
}

func setMedia(w *wireMessage, m *provider.Media) error {
	if m == nil {
		return invalid("media message has no media")
	}
	obj, err := mediaRef(m.URL)
	if err != nil {
		return err
	}
	obj.Caption, obj.Filename = m.Caption, m.Filename
	if m.Caption != "" && m.Kind != provider.Image && m.Kind != provider.Video && m.Kind != provider.Document {
		return invalid("WhatsApp takes a caption only on images, videos and documents, not on %s", m.Kind)
	}
	if m.Filename != "" && m.Kind != provider.Document {
		return invalid("WhatsApp takes a file name only on documents, not on %s", m.Kind)
	}
	w.Type = string(m.Kind)
	switch m.Kind {
	case provider.Image:
		w.Image = &obj
	case provider.Audio:
		w.Audio = &obj
	case provider.Video:
		w.Video = &obj
	case provider.Document:
		w.Document = &obj
	case provider.Sticker:
		w.Sticker = &obj
	default:
		return invalid("media kind %q is not supported by WhatsApp", m.Kind)
	}
	return nil
}

func buildContact(c *provider.ContactCard) (wireContact, error) {
	if c == nil || strings.TrimSpace(c.Name) == "" {
		return wireContact{}, invalid("contact card needs a name")
	}
	name := strings.TrimSpace(c.Name)
	// Meta requires formatted_name plus at least one name part.
	first, last, _ := strings.Cut(name, " ")
	out := wireContact{Name: wireContactName{FormattedName: name, FirstName: first, LastName: strings.TrimSpace(last)}}
	for _, p := range c.Phones {
		out.Phones = append(out.Phones, wireContactPhone{Phone: p})
	}
	for _, e := range c.Emails {
		out.Emails = append(out.Emails, wireContactEmail{Email: e})
	}
	return out, nil
}

func buildTemplate(t *provider.Template) (*wireTemplate, error) {
	if t == nil || t.Name == "" || t.Language == "" {
		return nil, invalid("template message needs a template name and language")
	}
	w := &wireTemplate{Name: t.Name, Language: wireLanguage{Code: t.Language}}
	if t.HeaderMedia != nil && len(t.HeaderParams) > 0 {
		return nil, invalid("template %q: a header is either media or text, not both", t.Name)
	}
	if t.HeaderMedia != nil {
		obj, err := mediaRef(t.HeaderMedia.URL)
		if err != nil {
			return nil, err
		}
		obj.Filename = t.HeaderMedia.Filename
		p := wireTplParam{Type: string(t.HeaderMedia.Kind)}
		switch t.HeaderMedia.Kind {
		case provider.Image:
			p.Image = &obj
		case provider.Video:
			p.Video = &obj
		case provider.Document:
			p.Document = &obj
		default:
			return nil, invalid("template %q: header media must be an image, video or document, not %q", t.Name, t.HeaderMedia.Kind)
		}
		w.Components = append(w.Components, wireTplComponent{Type: "header", Parameters: []wireTplParam{p}})
	}
	for _, part := range []struct {
		typ    string
		params []provider.Param
	}{{"header", t.HeaderParams}, {"body", t.BodyParams}} {
		if len(part.params) == 0 {
			continue
		}
		ps, err := textParams(t.Name, part.typ, part.params)
		if err != nil {
			return nil, err
		}
		w.Components = append(w.Components, wireTplComponent{Type: part.typ, Parameters: ps})
	}
	idx := make([]int, 0, len(t.ButtonParams))
	for i := range t.ButtonParams {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		if i < 0 || i > 9 {
			return nil, invalid("template %q: button index %d is outside 0–9", t.Name, i)
		}
		w.Components = append(w.Components, wireTplComponent{
			Type: "button", SubType: "url", Index: strconv.Itoa(i),
			Parameters: []wireTplParam{{Type: "text", Text: encodeURLSuffix(t.ButtonParams[i])}},
		})
	}
	return w, nil
}

// textParams renders one component's values, all positional or all named (Meta refuses a mix
// with 132012).
func textParams(tpl, component string, params []provider.Param) ([]wireTplParam, error) {
	named := params[0].Name != ""
	out := make([]wireTplParam, 0, len(params))
	for i, p := range params {
		if (p.Name != "") != named {
			return nil, invalid("template %q %s: parameters must be all positional or all named", tpl, component)
		}
		if p.Value == "" {
			return nil, invalid("template %q %s: parameter %d is empty", tpl, component, i+1)
		}
		out = append(out, wireTplParam{Type: "text", ParameterName: p.Name, Text: p.Value})
	}
	return out, nil
}

// encodeURLSuffix percent-encodes what may not appear in a URL (spaces, non-ASCII, quotes)
// and leaves the rest, including existing %XX escapes, alone, so an already encoded suffix
// passes unchanged (Meta requires URL-button values percent-encoded, reference §1.4).
func encodeURLSuffix(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0x20 && c < 0x7f && !strings.ContainsRune("\"<>\\^`{|}", rune(c)) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
	return b.String()
}
