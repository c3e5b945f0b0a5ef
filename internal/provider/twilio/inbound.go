package twilio

import (
	"crypto/hmac"
	"crypto/sha1" // Twilio defines its webhook signature as HMAC-SHA1.
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/conversa-hq/conversa/internal/provider"
)

// SignatureHeader carries Twilio's webhook signature.
const SignatureHeader = "X-Twilio-Signature"

// Event kinds Parse reports for what is neither a message nor a final status.
const (
	// EventStatus is an intermediate or unknown MessageStatus (queued, accepted, scheduled,
	// sending, ...) that maps to no provider.Status. Data holds every posted field.
	EventStatus = "twilio.message_status"
	// EventExtraMedia lists the media of an inbound MMS beyond the first, which is the
	// message's Media. Data holds message_id and the MediaUrlN/MediaContentTypeN fields.
	EventExtraMedia = "twilio.extra_media"
)

// Parse reads one form-encoded Twilio webhook. It first verifies X-Twilio-Signature:
// base64(HMAC-SHA1(AuthToken, URL + each POSTed name and value, sorted by name)), over
// Config.WebhookURL or Config.StatusCallbackURL (each also with the default port added or
// removed, as Twilio may sign either), compared in constant time. A missing or wrong
// signature, no configured URL, or a body that is not a form returns provider.ErrBadSignature,
// wrapped. JSON-bodied webhooks (signed with bodySHA256) are not supported.
//
// A status callback (MessageStatus, or the legacy SmsStatus, other than received) becomes a
// StatusUpdate: sent, delivered and read map to the same statuses; undelivered, failed and
// canceled to StatusFailed with Error from ErrorCode through the same table Send uses;
// other statuses (queued, sending...) become an EventStatus event. An inbound message
// (MessageSid, From, To, Body, NumMedia, MediaUrl0...) becomes an InboundMessage with Kind
// "text", or the kind of its first medium (by MediaContentType0) with Media.Caption = Body;
// further media are listed in an EventExtraMedia event. Twilio media links may require HTTP
// Basic auth with the account's credentials to download.
//
// Neither kind of webhook carries a timestamp, so Timestamp is the time of receipt
// (Config.Clock). FromName is ProfileName when present (WhatsApp through Twilio), else empty.
func (c *Client) Parse(r *http.Request, body []byte) (provider.Inbound, error) {
	form, err := c.verify(r.Header.Get(SignatureHeader), body)
	if err != nil {
		return provider.Inbound{}, err
	}
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	if sid == "" {
		return provider.Inbound{}, errors.New("twilio: webhook carries no MessageSid")
	}
	status := form.Get("MessageStatus")
	if status == "" {
		status = form.Get("SmsStatus")
	}
	now := c.clock.Now()
	switch status {
	case "", "received", "receiving":
		return c.inboundMessage(sid, form), nil
	}
	update := provider.StatusUpdate{MessageID: sid, Timestamp: now, Recipient: form.Get("To")}
	switch status {
	case "sent":
		update.Status = provider.StatusSent
	case "delivered":
		update.Status = provider.StatusDelivered
	case "read":
		update.Status = provider.StatusRead
	case "undelivered", "failed":
		update.Status = provider.StatusFailed
		if code := form.Get("ErrorCode"); code != "" {
			update.Error = lookupError(code, form.Get("ErrorMessage"))
		} else {
			update.Error = &provider.Error{Reason: "Twilio reported the message " + status + " without an error code"}
		}
	case "canceled":
		update.Status = provider.StatusFailed
		update.Error = &provider.Error{Code: "canceled", Reason: "the message was canceled before Twilio sent it"}
	default:
		return provider.Inbound{Events: []provider.Event{{Kind: EventStatus, Timestamp: now, Data: flatten(form)}}}, nil
	}
	return provider.Inbound{Statuses: []provider.StatusUpdate{update}}, nil
}

func (c *Client) inboundMessage(sid string, form url.Values) provider.Inbound {
	msg := provider.InboundMessage{
		ID:        sid,
		From:      form.Get("From"),
		FromName:  form.Get("ProfileName"),
		To:        form.Get("To"),
		Timestamp: c.clock.Now(),
		Kind:      "text",
		Text:      form.Get("Body"),
	}
	var in provider.Inbound
	n, _ := strconv.Atoi(form.Get("NumMedia"))
	if n > 0 && form.Get("MediaUrl0") != "" {
		kind := mediaKind(form.Get("MediaContentType0"))
		msg.Kind = string(kind)
		msg.Media = &provider.Media{Kind: kind, URL: form.Get("MediaUrl0"), Caption: msg.Text}
	}
	if n > 1 {
		data := map[string]string{"message_id": sid}
		for i := 1; i < n; i++ {
			for _, key := range []string{"MediaUrl", "MediaContentType"} {
				if v := form.Get(key + strconv.Itoa(i)); v != "" {
					data[key+strconv.Itoa(i)] = v
				}
			}
		}
		in.Events = append(in.Events, provider.Event{Kind: EventExtraMedia, Timestamp: msg.Timestamp, Data: data})
	}
	in.Messages = []provider.InboundMessage{msg}
	return in
}

// mediaKind maps a MIME type to a media kind; anything not image, audio or video (PDF,
// vCard...) is a document.
func mediaKind(contentType string) provider.MediaKind {
	switch {
	case strings.HasPrefix(contentType, "image/"):
		return provider.Image
	case strings.HasPrefix(contentType, "audio/"):
		return provider.Audio
	case strings.HasPrefix(contentType, "video/"):
		return provider.Video
	default:
		return provider.Document
	}
}

// flatten keeps the first value of each form field.
func flatten(form url.Values) map[string]string {
	out := make(map[string]string, len(form))
	for k, v := range form {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out
}

// verify checks the signature over the raw form body and returns the parsed form.
func (c *Client) verify(sig string, body []byte) (url.Values, error) {
	if sig == "" {
		return nil, fmt.Errorf("twilio: %s header missing: %w", SignatureHeader, provider.ErrBadSignature)
	}
	if len(c.webhookURLs) == 0 {
		return nil, fmt.Errorf("twilio: no WebhookURL configured to check signatures against: %w", provider.ErrBadSignature)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, fmt.Errorf("twilio: webhook body is not a form (%v): %w", err, provider.ErrBadSignature)
	}
	ok := false
	for _, u := range c.webhookURLs {
		// Every candidate is computed and compared, so timing does not tell which matched.
		if hmac.Equal([]byte(signature(c.authToken, u, form)), []byte(sig)) {
			ok = true
		}
	}
	if !ok {
		return nil, fmt.Errorf("twilio: %s does not match: %w", SignatureHeader, provider.ErrBadSignature)
	}
	return form, nil
}

// signature is Twilio's webhook signature: base64(HMAC-SHA1(authToken, url + name1 + value1
// + name2 + value2 ...)) with names sorted bytewise and, for a repeated name, its values
// sorted too.
func signature(authToken, rawURL string, form url.Values) string {
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	sort.Strings(names)
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(rawURL))
	for _, k := range names {
		values := append([]string(nil), form[k]...)
		sort.Strings(values)
		for _, v := range values {
			mac.Write([]byte(k))
			mac.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// urlVariants is the URL as given plus, when it uses its scheme's default port or none, the
// other spelling: Twilio signs https URLs sometimes with ":443" and sometimes without, and
// its SDKs accept both.
func urlVariants(raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return []string{raw}
	}
	def := map[string]string{"https": "443", "http": "80"}[u.Scheme]
	if def == "" {
		return []string{raw}
	}
	alt := *u
	switch u.Port() {
	case "":
		alt.Host = net.JoinHostPort(u.Hostname(), def)
	case def:
		alt.Host = u.Hostname()
		if strings.Contains(alt.Host, ":") { // IPv6 literal
			alt.Host = "[" + alt.Host + "]"
		}
	default:
		return []string{raw}
	}
	return []string{raw, alt.String()}
}

// Verify checks X-Twilio-Signature only, as Parse does first (provider.Verifier).
func (c *Client) Verify(r *http.Request, body []byte) error {
	_, err := c.verify(r.Header.Get(SignatureHeader), body)
	return err
}
