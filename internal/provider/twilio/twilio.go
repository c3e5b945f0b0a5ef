// Package twilio is the provider adapter for SMS (and MMS) through Twilio Programmable
// Messaging, or any gateway speaking its REST shape: it creates Message resources and reads
// the form-encoded webhooks Twilio POSTs for inbound messages and status callbacks, after
// checking their X-Twilio-Signature.
//
// Only text and media go over SMS/MMS. Templates are sent as their rendered text; contacts
// and reactions have no SMS form and are refused. SMS does not thread, so Message.ReplyTo is
// ignored. Opt-out (STOP/START) is handled by Twilio itself: sending to an opted-out number
// fails with error 21610.
package twilio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/provider"
)

// DefaultBaseURL is the REST API root used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.twilio.com"

// Codes of the *provider.Error values this package builds itself, before asking Twilio;
// errors from Twilio carry its numeric error code as text instead.
const (
	// CodeInvalidMessage means the message cannot be sent as given (no recipient, no body, no
	// media link): fix the message, retrying cannot help.
	CodeInvalidMessage = "invalid_message"
	// CodeUnsupported means the message kind has no SMS form (contact, reaction, a template
	// without rendered text): not retryable.
	CodeUnsupported = "unsupported"
)

// maxResponse bounds how much of a Twilio answer is read; a Message resource is ~1 KiB.
const maxResponse = 1 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the REST API root, DefaultBaseURL when empty; tests point it at twiliotest.
	BaseURL string
	// AccountSID ("AC...") and AuthToken authenticate sends (HTTP Basic) and sign webhooks.
	// Both required. With an API key, put the key's SID and secret in a custom HTTPClient
	// transport instead; webhooks are still signed with the account's AuthToken.
	AccountSID string
	AuthToken  string
	// From is the sender: an E.164 number, an alphanumeric sender id, or a Messaging Service
	// SID ("MG" + 32 hex digits), which is sent as MessagingServiceSid instead. Required.
	From string
	// StatusCallbackURL, when set, is sent as StatusCallback so Twilio reports delivery.
	StatusCallbackURL string
	// WebhookURL is the full public URL Twilio calls for inbound messages, exactly as
	// configured in Twilio (scheme, host, path and query string): the signature covers it.
	// Parse also accepts signatures over StatusCallbackURL, for status callbacks. Parse refuses
	// every delivery when neither is set.
	WebhookURL string
	// HTTPClient sends the requests; a client with a 30-second timeout when nil.
	HTTPClient *http.Client
	// Clock stamps inbound messages and status updates, which carry no time of their own, and
	// reads Retry-After dates; the system clock when nil.
	Clock clock.Clock
}

// Client sends SMS/MMS through Twilio and parses its webhooks. It implements
// provider.Sender and provider.InboundParser and is safe for concurrent use.
type Client struct {
	endpoint    string
	accountSID  string
	authToken   string
	from        string
	statusURL   string
	webhookURLs []string
	http        *http.Client
	clock       clock.Clock
}

var (
	_ provider.Sender        = (*Client)(nil)
	_ provider.InboundParser = (*Client)(nil)
)

// New returns a Client for cfg. It fails when AccountSID, AuthToken or From is missing or
// BaseURL is not an absolute http(s) URL; it makes no network call.
func New(cfg Config) (*Client, error) {
	switch {
	case cfg.AccountSID == "":
		return nil, errors.New("twilio: config: AccountSID is required")
	case cfg.AuthToken == "":
		return nil, errors.New("twilio: config: AuthToken is required")
	case cfg.From == "":
		return nil, errors.New("twilio: config: From is required")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("twilio: config: BaseURL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("twilio: config: BaseURL %q is not an absolute http(s) URL", base)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.System{}
	}
	var hooks []string
	for _, h := range []string{cfg.WebhookURL, cfg.StatusCallbackURL} {
		if h != "" {
			hooks = append(hooks, urlVariants(h)...)
		}
	}
	return &Client{
		endpoint:    base + "/2010-04-01/Accounts/" + url.PathEscape(cfg.AccountSID) + "/Messages.json",
		accountSID:  cfg.AccountSID,
		authToken:   cfg.AuthToken,
		from:        cfg.From,
		statusURL:   cfg.StatusCallbackURL,
		webhookURLs: hooks,
		http:        hc,
		clock:       clk,
	}, nil
}

// Send creates a Message resource: POST {base}/2010-04-01/Accounts/{sid}/Messages.json,
// form-encoded, with To, From or MessagingServiceSid, Body, MediaUrl for media (with the
// caption as Body; MMS reaches only some countries, elsewhere Twilio refuses it) and
// StatusCallback when configured. A template is sent as m.Text, its rendered text.
// m.To is an E.164 number; digits without "+" get one. Sent.ID is the Message SID
// ("SM..."/"MM..."), which status callbacks refer to.
//
// Errors: a *provider.Error (wrapped) for anything Twilio refused, Code its error code
// ("21211"), Reason from the table of known codes plus Twilio's message, Retryable for
// 20429/429 and 5xx (RetryAfter from a Retry-After header) and not for number, opt-out or
// content problems; CodeInvalidMessage or CodeUnsupported for messages that cannot be sent
// as given, in which case nothing is sent. Other errors are transport failures, worth
// retrying.
func (c *Client) Send(ctx context.Context, m provider.Message) (provider.Sent, error) {
	form, err := c.buildForm(m)
	if err != nil {
		return provider.Sent{}, fmt.Errorf("twilio: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return provider.Sent{}, fmt.Errorf("twilio: build request: %w", err)
	}
	req.SetBasicAuth(c.accountSID, c.authToken)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return provider.Sent{}, fmt.Errorf("twilio: create message: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return provider.Sent{}, fmt.Errorf("twilio: create message: read response: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return provider.Sent{}, fmt.Errorf("twilio: create message: %w", c.responseError(resp, data))
	}
	var msg struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		return provider.Sent{}, fmt.Errorf("twilio: create message: decode response: %w", err)
	}
	if msg.SID == "" {
		return provider.Sent{}, errors.New("twilio: create message: response carries no sid")
	}
	return provider.Sent{ID: msg.SID}, nil
}

func invalid(format string, args ...any) *provider.Error {
	return &provider.Error{Code: CodeInvalidMessage, Reason: fmt.Sprintf(format, args...)}
}

func (c *Client) buildForm(m provider.Message) (url.Values, error) {
	to := strings.TrimSpace(m.To)
	if to == "" {
		return nil, invalid("message has no recipient number (Message.To)")
	}
	form := url.Values{}
	form.Set("To", normalizeTo(to))
	if isServiceSID(c.from) {
		form.Set("MessagingServiceSid", c.from)
	} else {
		form.Set("From", c.from)
	}
	switch m.Kind {
	case provider.KindText:
		if m.Text == "" {
			return nil, invalid("text message has no text")
		}
		form.Set("Body", m.Text)
	case provider.KindTemplate:
		if m.Text == "" {
			return nil, &provider.Error{Code: CodeUnsupported, Reason: "SMS has no message templates: " +
				"render the template into Message.Text to send it as plain text"}
		}
		form.Set("Body", m.Text)
	case provider.KindMedia:
		if m.Media == nil || strings.TrimSpace(m.Media.URL) == "" {
			return nil, invalid("media message has no media link")
		}
		form.Set("MediaUrl", m.Media.URL)
		body := m.Media.Caption
		if body == "" {
			body = m.Text
		}
		if body != "" {
			form.Set("Body", body)
		}
	default:
		return nil, &provider.Error{Code: CodeUnsupported,
			Reason: fmt.Sprintf("message kind %q has no SMS form: only text, media and rendered templates are sent", m.Kind)}
	}
	if c.statusURL != "" {
		form.Set("StatusCallback", c.statusURL)
	}
	return form, nil
}

// normalizeTo adds the "+" that E.164 needs to a number given as digits only; anything else
// ("+55...", "whatsapp:+55...") is left to Twilio.
func normalizeTo(to string) string {
	for _, r := range to {
		if r < '0' || r > '9' {
			return to
		}
	}
	return "+" + to
}

// isServiceSID tells a Messaging Service SID ("MG" and 32 hex digits) from a sender number.
func isServiceSID(s string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, "MG") {
		return false
	}
	for _, r := range s[2:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// responseError turns a non-2xx answer into a *provider.Error.
func (c *Client) responseError(resp *http.Response, data []byte) *provider.Error {
	var body struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	_ = json.Unmarshal(data, &body) // a non-JSON answer (a proxy page) leaves code 0
	var e *provider.Error
	if body.Code != 0 {
		e = lookupError(strconv.Itoa(body.Code), body.Message)
	} else {
		reason := strings.TrimSpace(string(data))
		if len(reason) > 200 {
			reason = reason[:200]
		}
		if reason == "" {
			reason = http.StatusText(resp.StatusCode)
		}
		e = &provider.Error{Code: strconv.Itoa(resp.StatusCode), Reason: reason}
	}
	e.HTTPStatus = resp.StatusCode
	if _, known := errorTable[body.Code]; !known {
		e.Retryable = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	}
	if e.Retryable {
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.clock.Now())
	}
	return e
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date. Zero when absent,
// malformed or past.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
