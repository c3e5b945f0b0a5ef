package whatsapptest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// WebhookPath is the path SignedWebhook's requests are addressed to.
const WebhookPath = "/webhooks/whatsapp"

// Sign returns the X-Hub-Signature-256 value for body: "sha256=" and the hex HMAC-SHA256 of
// the bytes keyed with appSecret (reference §2.2).
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// EscapeNonASCII rewrites every non-ASCII character of a JSON document as \uXXXX with
// lower-case hex (surrogate pairs above U+FFFF), which is how Meta serialises the webhook
// bodies it signs (reference §2.2).
func EscapeNonASCII(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r < utf8.RuneSelf || (r == utf8.RuneError && size == 1):
			out.Write(b[:size])
		case r > 0xFFFF:
			r1, r2 := utf16.EncodeRune(r)
			fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
		default:
			fmt.Fprintf(&out, `\u%04x`, r)
		}
		b = b[size:]
	}
	return out.Bytes()
}

// SignedWebhook builds the POST Meta would deliver for payload: the body ASCII-escaped as
// Meta sends it, Content-Type application/json and a valid X-Hub-Signature-256 for appSecret.
// Read the body back with io.ReadAll(r.Body) (or r.GetBody for a fresh copy).
func SignedWebhook(appSecret string, payload []byte) *http.Request {
	body := EscapeNonASCII(payload)
	r := httptest.NewRequest(http.MethodPost, WebhookPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Hub-Signature-256", Sign(appSecret, body))
	return r
}

// Inbound describes one received text message for InboundTextPayload.
type Inbound struct {
	WABAID        string
	PhoneNumberID string
	// From is the user's wa_id (digits); UserID their business-scoped id (either may be empty,
	// not both).
	From   string
	UserID string
	Name   string
	ID     string // a new wamid when empty
	Text   string
	At     time.Time
}

// InboundTextPayload returns a messages webhook carrying one text message, shaped as in
// reference §2.3–§2.4.
func InboundTextPayload(in Inbound) []byte {
	if in.ID == "" {
		in.ID = NewWAMID()
	}
	contact := map[string]any{"profile": map[string]string{"name": in.Name}}
	msg := map[string]any{
		"id": in.ID, "timestamp": strconv.FormatInt(in.At.Unix(), 10), "type": "text",
		"text": map[string]string{"body": in.Text},
	}
	if in.From != "" {
		contact["wa_id"], msg["from"] = in.From, in.From
	}
	if in.UserID != "" {
		contact["user_id"], msg["from_user_id"] = in.UserID, in.UserID
	}
	return envelope(in.WABAID, "messages", map[string]any{
		"messaging_product": "whatsapp",
		"metadata":          map[string]string{"display_phone_number": "15550000000", "phone_number_id": in.PhoneNumberID},
		"contacts":          []any{contact},
		"messages":          []any{msg},
	})
}

// Status describes one status update for StatusPayload.
type Status struct {
	WABAID        string
	PhoneNumberID string
	MessageID     string
	// Status is sent, delivered, read or failed.
	Status string
	// Recipient is the user's wa_id (digits).
	Recipient string
	At        time.Time
	// ErrorCode, on a failed status, becomes errors[0] with Meta's title for it.
	ErrorCode int
}

// StatusPayload returns a messages webhook carrying one status update, shaped as in reference
// §2.5 (pricing on sent, errors on failed).
func StatusPayload(s Status) []byte {
	st := map[string]any{
		"id": s.MessageID, "status": s.Status, "timestamp": strconv.FormatInt(s.At.Unix(), 10),
		"recipient_id": s.Recipient,
	}
	if s.Status == "sent" {
		st["pricing"] = map[string]any{"billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility"}
	}
	if s.Status == "failed" {
		title := metaTitles[s.ErrorCode]
		if title == "" {
			title = "Unknown error"
		}
		st["errors"] = []any{map[string]any{
			"code": s.ErrorCode, "title": title, "message": title,
			"error_data": map[string]string{"details": title},
			"href":       "https://developers.facebook.com/documentation/business-messaging/whatsapp/support/error-codes",
		}}
	}
	return envelope(s.WABAID, "messages", map[string]any{
		"messaging_product": "whatsapp",
		"metadata":          map[string]string{"display_phone_number": "15550000000", "phone_number_id": s.PhoneNumberID},
		"statuses":          []any{st},
	})
}

func envelope(wabaID, field string, value any) []byte {
	b, err := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{
			"id":      wabaID,
			"changes": []any{map[string]any{"field": field, "value": value}},
		}},
	})
	if err != nil {
		panic("whatsapptest: marshal webhook: " + err.Error()) // maps of strings always marshal
	}
	return b
}
