package whatsapp

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/conversa-hq/conversa/internal/provider"
)

// SignatureHeader is the header Meta signs webhook deliveries with: "sha256=" and the hex
// HMAC-SHA256 of the raw body keyed with the app secret (reference §2.2).
const SignatureHeader = "X-Hub-Signature-256"

// MediaURLPrefix marks a Media.URL that is a WhatsApp media id, not a link: Parse reports
// received media as "media:<id>" (fetch it with GET /{media-id} within 7 days), and Send sends
// such a URL by id.
const MediaURLPrefix = "media:"

// Event kinds Parse reports besides Meta's own webhook field names (which it uses as Kind for
// phone_number_quality_update, message_template_status_update, message_template_quality_update,
// template_category_update, account_update, account_alerts, business_capability_update and
// user_preferences, with the value's fields flattened into Data as "a.b" keys). The ones below
// carry what provider.InboundMessage and provider.StatusUpdate have no field for. Every event's
// Data also has "waba_id" and, when known, "phone_number_id".
const (
	// EventContactIdentity links a contact's phone and business-scoped user id: Data has
	// "wa_id", "phone" (+digits), "user_id", "parent_user_id", "username", "profile_name".
	// Reported for every webhook contact that has a user_id, since a contact may later be
	// known by that id alone (reference §8).
	EventContactIdentity = "contact_identity"
	// EventReplyPayload carries the machine-readable part of a template quick-reply button
	// ("payload") or an interactive reply ("button_reply.id", "list_reply.id",
	// "nfm_reply.response_json"...), with "message_id", "from" and "message_type".
	EventReplyPayload = "reply_payload"
	// EventReferral reports a message that came from a Click-to-WhatsApp ad or page CTA (a
	// free entry point, reference §3.1): the referral fields plus "message_id" and "from".
	EventReferral = "referral"
	// EventSystem is a system message, such as a user changing number: the system fields
	// plus "message_id" and "from".
	EventSystem = "system"
	// EventPricing is a status's pricing block ("billable", "pricing_model", "type",
	// "category") with "message_id", "status" and "recipient", for cost reports (reference §3.4).
	EventPricing = "pricing"
	// EventWebhookError is a system, app or account error Meta reported in a messages
	// webhook outside any message: "code", "title", "message", "error_data.details"...
	EventWebhookError = "webhook_error"
)

// eventFields are the non-message webhook fields reported as events (reference §2.6).
var eventFields = map[string]bool{
	"phone_number_quality_update":     true,
	"message_template_status_update":  true,
	"message_template_quality_update": true,
	"template_category_update":        true,
	"account_update":                  true,
	"account_alerts":                  true,
	"business_capability_update":      true,
	"user_preferences":                true,
}

// VerifyHandshake answers Meta's GET verification: when hub.mode is "subscribe" and
// hub.verify_token equals Config.VerifyToken (compared in constant time), it returns the
// hub.challenge to write back as the raw 200 body. Otherwise ok is false and the caller
// answers 403 (reference §2.1). An empty VerifyToken refuses every handshake.
func (c *Client) VerifyHandshake(query url.Values) (challenge string, ok bool) {
	if c.cfg.VerifyToken == "" || query.Get("hub.mode") != "subscribe" {
		return "", false
	}
	got := sha256.Sum256([]byte(query.Get("hub.verify_token")))
	want := sha256.Sum256([]byte(c.cfg.VerifyToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return "", false
	}
	challenge = query.Get("hub.challenge")
	return challenge, challenge != ""
}

// verifySignature checks header against body. Meta signs the raw bytes; its docs also say
// the signed form has non-ASCII characters escaped as \uXXXX, so a body with non-ASCII that
// fails on the raw bytes is tried once more in that form (reference §2.2).
func (c *Client) verifySignature(header string, body []byte) error {
	if c.cfg.AppSecret == "" {
		return fmt.Errorf("%w: app secret not configured", provider.ErrBadSignature)
	}
	if header == "" {
		return fmt.Errorf("%w: %s header missing", provider.ErrBadSignature, SignatureHeader)
	}
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return fmt.Errorf("%w: %s does not start with sha256=", provider.ErrBadSignature, SignatureHeader)
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil || len(sig) != sha256.Size {
		return fmt.Errorf("%w: %s is not a hex SHA-256 digest", provider.ErrBadSignature, SignatureHeader)
	}
	if hmac.Equal(sig, sign(c.cfg.AppSecret, body)) {
		return nil
	}
	if hasNonASCII(body) && hmac.Equal(sig, sign(c.cfg.AppSecret, escapeNonASCII(body))) {
		return nil
	}
	return fmt.Errorf("%w: %s does not match the body", provider.ErrBadSignature, SignatureHeader)
}

func sign(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

func hasNonASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return true
		}
	}
	return false
}

// escapeNonASCII writes every non-ASCII character as \uXXXX with lower-case hex (a surrogate
// pair above U+FFFF); bytes that are not UTF-8 are kept. Non-ASCII can only appear inside JSON
// strings, so the result is the same JSON.
func escapeNonASCII(b []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(b) + len(b)/4)
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

// Parse verifies a webhook delivery's X-Hub-Signature-256 and reads what it carries
// (reference §2.2–§2.6, §8):
//   - field "messages": value.messages become InboundMessages (From is "+" and the wa_id, or
//     the business-scoped user id when the phone is withheld; To is the phone_number_id;
//     received media has Media.URL "media:<id>" and its caption also as Text; a reaction has ReplyTo the reacted message;
//     a location's Text is a "geo:lat,long" URI then name and address lines; shared contacts'
//     Text is one "Name (phones)" line each); value.statuses become StatusUpdates ("played"
//     reads as read, other unknown statuses are skipped; a failed one's first error is
//     classified by the same table as Send's errors);
//   - field "smb_message_echoes" (messages sent from the WhatsApp Business app on the same
//     number): InboundMessages with Echo set and From the contact they were sent to;
//   - the fields in the EventContactIdentity comment: Events.
//
// Unknown fields, message types and statuses are ignored (unknown message types come back as
// Kind "unsupported"), never an error; so is an object other than whatsapp_business_account.
// Errors: provider.ErrBadSignature (wrapped) when the signature is missing, malformed or
// wrong, or no app secret is configured; a decode error when the signed body is not the
// webhook JSON.
func (c *Client) Parse(r *http.Request, body []byte) (provider.Inbound, error) {
	header := ""
	if r != nil {
		header = r.Header.Get(SignatureHeader)
	}
	if err := c.verifySignature(header, body); err != nil {
		return provider.Inbound{}, err
	}
	var env struct {
		Object string `json:"object"`
		Entry  []struct {
			ID      string   `json:"id"`
			Time    flexTime `json:"time"`
			Changes []struct {
				Field string          `json:"field"`
				Value json.RawMessage `json:"value"`
			} `json:"changes"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return provider.Inbound{}, fmt.Errorf("whatsapp webhook: decode envelope: %w", err)
	}
	var in provider.Inbound
	if env.Object != "whatsapp_business_account" {
		return in, nil
	}
	for i, entry := range env.Entry {
		for j, ch := range entry.Changes {
			var err error
			switch {
			case ch.Field == "messages" || ch.Field == "smb_message_echoes":
				err = parseMessages(&in, entry.ID, ch.Value)
			case ch.Field == "user_preferences":
				err = parseUserPreferences(&in, entry.ID, ch.Value)
			case eventFields[ch.Field]:
				err = parseEvent(&in, ch.Field, entry.ID, entry.Time.t, ch.Value)
			}
			if err != nil {
				return provider.Inbound{}, fmt.Errorf("whatsapp webhook: entry %d change %d (%s): %w", i, j, ch.Field, err)
			}
		}
	}
	return in, nil
}

// flexTime reads Meta's unix seconds, sent as a string in most places and as a number in
// entry.time. Anything unreadable is the zero time rather than a rejected delivery.
type flexTime struct{ t time.Time }

func (f *flexTime) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n > 0 {
		f.t = time.Unix(n, 0).UTC()
	}
	return nil
}

// The messages webhook value (reference §2.3–§2.5).
type (
	inValue struct {
		Metadata struct {
			DisplayPhoneNumber string `json:"display_phone_number"`
			PhoneNumberID      string `json:"phone_number_id"`
		} `json:"metadata"`
		Contacts []struct {
			Profile struct {
				Name string `json:"name"`
			} `json:"profile"`
			WaID         string `json:"wa_id"`
			UserID       string `json:"user_id"`
			ParentUserID string `json:"parent_user_id"`
			Username     string `json:"username"`
		} `json:"contacts"`
		Messages      []inMessage       `json:"messages"`
		MessageEchoes []inMessage       `json:"message_echoes"`
		Statuses      []inStatus        `json:"statuses"`
		Errors        []json.RawMessage `json:"errors"`
	}
	inMessage struct {
		From       string   `json:"from"`
		FromUserID string   `json:"from_user_id"`
		To         string   `json:"to"`
		ToUserID   string   `json:"to_user_id"`
		ID         string   `json:"id"`
		Timestamp  flexTime `json:"timestamp"`
		Type       string   `json:"type"`
		Context    *struct {
			ID string `json:"id"`
		} `json:"context"`
		Text *struct {
			Body string `json:"body"`
		} `json:"text"`
		Image    *inMedia `json:"image"`
		Audio    *inMedia `json:"audio"`
		Video    *inMedia `json:"video"`
		Document *inMedia `json:"document"`
		Sticker  *inMedia `json:"sticker"`
		Location *struct {
			Latitude  float64 `json:"latitude"`
			Longitude float64 `json:"longitude"`
			Name      string  `json:"name"`
			Address   string  `json:"address"`
		} `json:"location"`
		Contacts []struct {
			Name struct {
				FormattedName string `json:"formatted_name"`
			} `json:"name"`
			Phones []struct {
				Phone string `json:"phone"`
			} `json:"phones"`
		} `json:"contacts"`
		Reaction *struct {
			MessageID string `json:"message_id"`
			Emoji     string `json:"emoji"`
		} `json:"reaction"`
		Button      json.RawMessage `json:"button"`
		Interactive json.RawMessage `json:"interactive"`
		System      json.RawMessage `json:"system"`
		Referral    json.RawMessage `json:"referral"`
		Errors      []metaError     `json:"errors"`
	}
	inMedia struct {
		ID       string `json:"id"`
		Caption  string `json:"caption"`
		Filename string `json:"filename"`
	}
	inStatus struct {
		ID              string          `json:"id"`
		Status          string          `json:"status"`
		Timestamp       flexTime        `json:"timestamp"`
		RecipientID     string          `json:"recipient_id"`
		RecipientUserID string          `json:"recipient_user_id"`
		Pricing         json.RawMessage `json:"pricing"`
		Errors          []metaError     `json:"errors"`
	}
)

// address is how a WhatsApp user is addressed: "+" and the wa_id, else the user id.
func address(waID, userID string) string {
	switch {
	case waID == "":
		return userID
	case IsBSUID(waID) || strings.HasPrefix(waID, "+"):
		return waID
	default:
		return "+" + waID
	}
}

func parseMessages(in *provider.Inbound, wabaID string, raw json.RawMessage) error {
	var v inValue
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	pnid := v.Metadata.PhoneNumberID
	base := func() map[string]string {
		d := map[string]string{"waba_id": wabaID}
		if pnid != "" {
			d["phone_number_id"] = pnid
		}
		return d
	}
	names := map[string]string{}
	var firstTS time.Time
	if len(v.Messages) > 0 {
		firstTS = v.Messages[0].Timestamp.t
	}
	for _, ct := range v.Contacts {
		if ct.WaID != "" {
			names[ct.WaID] = ct.Profile.Name
		}
		if ct.UserID != "" {
			names[ct.UserID] = ct.Profile.Name
			d := base()
			for k, val := range map[string]string{
				"wa_id": ct.WaID, "phone": address(ct.WaID, ""), "user_id": ct.UserID,
				"parent_user_id": ct.ParentUserID, "username": ct.Username, "profile_name": ct.Profile.Name,
			} {
				if val != "" {
					d[k] = val
				}
			}
			in.Events = append(in.Events, provider.Event{Kind: EventContactIdentity, Timestamp: firstTS, Data: d})
		}
	}
	for _, m := range v.Messages {
		name := names[m.From]
		if name == "" {
			name = names[m.FromUserID]
		}
		msg, events := convertMessage(m, address(m.From, m.FromUserID), pnid, base)
		in.Events = append(in.Events, events...)
		if msg != nil {
			msg.FromName = name
			in.Messages = append(in.Messages, *msg)
		}
	}
	for _, m := range v.MessageEchoes {
		msg, events := convertMessage(m, address(m.To, m.ToUserID), pnid, base)
		in.Events = append(in.Events, events...)
		if msg != nil {
			msg.Echo = true
			in.Messages = append(in.Messages, *msg)
		}
	}
	for _, s := range v.Statuses {
		st, ok := map[string]provider.Status{
			"sent": provider.StatusSent, "delivered": provider.StatusDelivered, "read": provider.StatusRead,
			"played": provider.StatusRead, "failed": provider.StatusFailed,
		}[s.Status]
		if !ok {
			continue
		}
		u := provider.StatusUpdate{
			MessageID: s.ID, Status: st, Timestamp: s.Timestamp.t,
			Recipient: address(s.RecipientID, s.RecipientUserID),
		}
		if st == provider.StatusFailed {
			if len(s.Errors) > 0 {
				u.Error = s.Errors[0].toProviderError(0, 0)
			} else {
				u.Error = &provider.Error{Code: "unknown", Reason: "WhatsApp reported the message failed without saying why"}
			}
		}
		in.Statuses = append(in.Statuses, u)
		if len(s.Pricing) > 0 && string(s.Pricing) != "null" {
			d := base()
			if err := flattenJSON(s.Pricing, d); err != nil {
				return fmt.Errorf("status %s pricing: %w", s.ID, err)
			}
			d["message_id"], d["status"], d["recipient"] = s.ID, s.Status, u.Recipient
			in.Events = append(in.Events, provider.Event{Kind: EventPricing, Timestamp: s.Timestamp.t, Data: d})
		}
	}
	for _, e := range v.Errors {
		d := base()
		if err := flattenJSON(e, d); err != nil {
			return fmt.Errorf("errors: %w", err)
		}
		in.Events = append(in.Events, provider.Event{Kind: EventWebhookError, Data: d})
	}
	return nil
}

// convertMessage turns one received (or echoed) message into an InboundMessage and the events
// for what the message type cannot hold. A system message is only an event.
func convertMessage(m inMessage, from, pnid string, base func() map[string]string) (*provider.InboundMessage, []provider.Event) {
	var events []provider.Event
	event := func(kind string, raw json.RawMessage) {
		d := base()
		if err := flattenJSON(raw, d); err != nil {
			d["raw"] = string(raw)
		}
		d["message_id"], d["from"], d["message_type"] = m.ID, from, m.Type
		events = append(events, provider.Event{Kind: kind, Timestamp: m.Timestamp.t, Data: d})
	}
	if len(m.Referral) > 0 {
		event(EventReferral, m.Referral)
	}
	if m.Type == "system" {
		event(EventSystem, m.System)
		return nil, events
	}
	msg := &provider.InboundMessage{ID: m.ID, From: from, To: pnid, Timestamp: m.Timestamp.t, Kind: m.Type}
	if m.Context != nil {
		msg.ReplyTo = m.Context.ID
	}
	media := map[string]*inMedia{"image": m.Image, "audio": m.Audio, "video": m.Video, "document": m.Document, "sticker": m.Sticker}
	switch m.Type {
	case "text":
		if m.Text != nil {
			msg.Text = m.Text.Body
		}
	case "image", "audio", "video", "document", "sticker":
		if md := media[m.Type]; md != nil {
			msg.Media = &provider.Media{Kind: provider.MediaKind(m.Type), URL: MediaURLPrefix + md.ID, Caption: md.Caption, Filename: md.Filename}
			msg.Text = md.Caption
		}
	case "location":
		if l := m.Location; l != nil {
			lines := []string{"geo:" + strconv.FormatFloat(l.Latitude, 'f', -1, 64) + "," + strconv.FormatFloat(l.Longitude, 'f', -1, 64)}
			for _, s := range []string{l.Name, l.Address} {
				if s != "" {
					lines = append(lines, s)
				}
			}
			msg.Text = strings.Join(lines, "\n")
		}
	case "contacts":
		lines := make([]string, 0, len(m.Contacts))
		for _, ct := range m.Contacts {
			phones := make([]string, 0, len(ct.Phones))
			for _, p := range ct.Phones {
				phones = append(phones, p.Phone)
			}
			line := ct.Name.FormattedName
			if len(phones) > 0 {
				line += " (" + strings.Join(phones, ", ") + ")"
			}
			lines = append(lines, line)
		}
		msg.Text = strings.Join(lines, "\n")
	case "reaction":
		if m.Reaction != nil {
			msg.ReplyTo, msg.Text = m.Reaction.MessageID, m.Reaction.Emoji
		}
	case "button":
		var b struct {
			Text string `json:"text"`
		}
		_ = json.Unmarshal(m.Button, &b)
		msg.Text = b.Text
		event(EventReplyPayload, m.Button)
	case "interactive":
		var it struct {
			Type        string `json:"type"`
			ButtonReply struct {
				Title string `json:"title"`
			} `json:"button_reply"`
			ListReply struct {
				Title string `json:"title"`
			} `json:"list_reply"`
			NFMReply struct {
				Body string `json:"body"`
			} `json:"nfm_reply"`
		}
		_ = json.Unmarshal(m.Interactive, &it)
		msg.Text = firstNonEmpty(it.ButtonReply.Title, it.ListReply.Title, it.NFMReply.Body)
		event(EventReplyPayload, m.Interactive)
	case "unsupported":
		if len(m.Errors) > 0 {
			msg.Text = firstNonEmpty(m.Errors[0].ErrorData.Details, m.Errors[0].Message, m.Errors[0].Title)
		}
	default:
		msg.Kind = "unsupported"
		msg.Text = fmt.Sprintf("WhatsApp message of type %q", m.Type)
	}
	return msg, events
}

func parseUserPreferences(in *provider.Inbound, wabaID string, raw json.RawMessage) error {
	var v struct {
		Metadata struct {
			PhoneNumberID string `json:"phone_number_id"`
		} `json:"metadata"`
		UserPreferences []json.RawMessage `json:"user_preferences"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	for _, p := range v.UserPreferences {
		d := map[string]string{"waba_id": wabaID}
		if v.Metadata.PhoneNumberID != "" {
			d["phone_number_id"] = v.Metadata.PhoneNumberID
		}
		if err := flattenJSON(p, d); err != nil {
			return fmt.Errorf("user preference: %w", err)
		}
		var ts struct {
			Timestamp flexTime `json:"timestamp"`
		}
		_ = json.Unmarshal(p, &ts)
		in.Events = append(in.Events, provider.Event{Kind: "user_preferences", Timestamp: ts.Timestamp.t, Data: d})
	}
	return nil
}

func parseEvent(in *provider.Inbound, field, wabaID string, entryTime time.Time, raw json.RawMessage) error {
	d := map[string]string{"waba_id": wabaID}
	if err := flattenJSON(raw, d); err != nil {
		return fmt.Errorf("decode value: %w", err)
	}
	if id, ok := d["metadata.phone_number_id"]; ok {
		d["phone_number_id"] = id
	}
	ts := entryTime
	if ts.IsZero() {
		var v struct {
			Timestamp flexTime `json:"timestamp"`
		}
		_ = json.Unmarshal(raw, &v)
		ts = v.Timestamp.t
	}
	in.Events = append(in.Events, provider.Event{Kind: field, Timestamp: ts, Data: d})
	return nil
}

// flattenJSON writes the scalars of a JSON object into out as "a.b.0.c" keys; numbers keep
// their text, nulls are left out.
func flattenJSON(raw json.RawMessage, out map[string]string) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	flatten("", v, out)
	return nil
}

func flatten(prefix string, v any, out map[string]string) {
	join := func(k string) string {
		if prefix == "" {
			return k
		}
		return prefix + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			flatten(join(k), val, out)
		}
	case []any:
		for i, val := range x {
			flatten(join(strconv.Itoa(i)), val, out)
		}
	case string:
		if prefix != "" {
			out[prefix] = x
		}
	case json.Number:
		if prefix != "" {
			out[prefix] = x.String()
		}
	case bool:
		if prefix != "" {
			out[prefix] = strconv.FormatBool(x)
		}
	}
}

// Verify checks X-Hub-Signature-256 only, as Parse does first (provider.Verifier).
func (c *Client) Verify(r *http.Request, body []byte) error {
	header := ""
	if r != nil {
		header = r.Header.Get(SignatureHeader)
	}
	return c.verifySignature(header, body)
}
