package twilio_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/twilio"
	"github.com/conversa-hq/conversa/internal/provider/twilio/twiliotest"
)

// Vectors from Twilio's own signature-validation examples.
func TestSignatureKnownVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		caller string
		want   string
	}{
		{"Caller5310", "+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="},
		{"Caller5309", "+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			form := url.Values{
				"CallSid": {"CA1234567890ABCDE"}, "Caller": {tc.caller}, "Digits": {"1234"},
				"From": {tc.caller}, "To": {"+18005551212"},
			}
			u := "https://mycompany.com/myapp.php?foo=1&bar=2"
			require.Equal(t, tc.want, twilio.ComputeSignature("12345", u, form))
			require.Equal(t, tc.want, twiliotest.Signature("12345", u, form))
		})
	}
}

func TestParseSignature(t *testing.T) {
	t.Parallel()
	form := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}, "To": {"+5511987654321"},
		"MediaUrl": {"b", "a"}}
	tests := []struct {
		name    string
		mutate  func(*twilio.Config)
		request func() (*http.Request, []byte)
		wantBad bool
	}{
		{"Valid", nil, func() (*http.Request, []byte) { return twiliotest.SignedRequest(webhookURL, authToken, form) }, false},
		{"ValidOnStatusCallbackURL", func(c *twilio.Config) { c.StatusCallbackURL = statusURL },
			func() (*http.Request, []byte) { return twiliotest.SignedRequest(statusURL, authToken, form) }, false},
		{"ValidWithDefaultPort", nil, func() (*http.Request, []byte) {
			return twiliotest.SignedRequest("https://conversa.example:443/webhooks/twilio", authToken, form)
		}, false},
		{"ConfiguredWithPortSignedWithout", func(c *twilio.Config) { c.WebhookURL = "https://conversa.example:443/webhooks/twilio" },
			func() (*http.Request, []byte) { return twiliotest.SignedRequest(webhookURL, authToken, form) }, false},
		{"Missing", nil, func() (*http.Request, []byte) {
			r, body := twiliotest.SignedRequest(webhookURL, authToken, form)
			r.Header.Del(twilio.SignatureHeader)
			return r, body
		}, true},
		{"WrongToken", nil, func() (*http.Request, []byte) { return twiliotest.SignedRequest(webhookURL, "other", form) }, true},
		{"WrongURL", nil, func() (*http.Request, []byte) {
			return twiliotest.SignedRequest("https://conversa.example/webhooks/other", authToken, form)
		}, true},
		{"OtherPort", nil, func() (*http.Request, []byte) {
			return twiliotest.SignedRequest("https://conversa.example:8443/webhooks/twilio", authToken, form)
		}, true},
		{"StatusURLNotConfigured", nil, func() (*http.Request, []byte) {
			return twiliotest.SignedRequest(statusURL, authToken, form)
		}, true},
		{"TamperedBody", nil, func() (*http.Request, []byte) {
			r, body := twiliotest.SignedRequest(webhookURL, authToken, form)
			return r, append(body, []byte("&ErrorCode=30003")...)
		}, true},
		{"NoURLConfigured", func(c *twilio.Config) { c.WebhookURL = "" },
			func() (*http.Request, []byte) { return twiliotest.SignedRequest(webhookURL, authToken, form) }, true},
		{"NotAForm", nil, func() (*http.Request, []byte) {
			r, _ := twiliotest.SignedRequest(webhookURL, authToken, form)
			return r, []byte("MessageSid=%zz")
		}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mutate := func(*twilio.Config) {}
			if tc.mutate != nil {
				mutate = tc.mutate
			}
			c, _ := newClient(t, mutate)
			r, body := tc.request()
			in, err := c.Parse(r, body)
			if tc.wantBad {
				require.ErrorIs(t, err, provider.ErrBadSignature)
				require.Empty(t, in.Statuses)
				return
			}
			require.NoError(t, err)
			require.Len(t, in.Statuses, 1)
		})
	}
}

func TestParseStatus(t *testing.T) {
	t.Parallel()
	base := url.Values{"MessageSid": {"SM1"}, "SmsSid": {"SM1"}, "AccountSid": {accountSID},
		"From": {fromNumber}, "To": {"+5511987654321"}, "ApiVersion": {"2010-04-01"}}
	with := func(kv ...string) url.Values {
		f := url.Values{}
		for k, v := range base {
			f[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	update := func(s provider.Status, e *provider.Error) provider.Inbound {
		return provider.Inbound{Statuses: []provider.StatusUpdate{{
			MessageID: "SM1", Status: s, Timestamp: now, Recipient: "+5511987654321", Error: e,
		}}}
	}
	tests := []struct {
		name string
		form url.Values
		want provider.Inbound
	}{
		{"Sent", with("MessageStatus", "sent", "SmsStatus", "sent"), update(provider.StatusSent, nil)},
		{"Delivered", with("MessageStatus", "delivered"), update(provider.StatusDelivered, nil)},
		{"Read", with("MessageStatus", "read"), update(provider.StatusRead, nil)},
		{"LegacySmsStatusOnly", with("SmsStatus", "delivered"), update(provider.StatusDelivered, nil)},
		{"Undelivered", with("MessageStatus", "undelivered", "ErrorCode", "30005"),
			update(provider.StatusFailed, &provider.Error{Code: "30005",
				Reason: "unknown destination handset: the number does not exist or is out of service"})},
		{"FailedUnknownCode", with("MessageStatus", "failed", "ErrorCode", "63016", "ErrorMessage", "outside the window"),
			update(provider.StatusFailed, &provider.Error{Code: "63016", Reason: "outside the window"})},
		{"FailedWithoutCode", with("MessageStatus", "failed"),
			update(provider.StatusFailed, &provider.Error{Reason: "Twilio reported the message failed without an error code"})},
		{"Canceled", with("MessageStatus", "canceled"),
			update(provider.StatusFailed, &provider.Error{Code: "canceled", Reason: "the message was canceled before Twilio sent it"})},
		{"QueuedIsAnEvent", with("MessageStatus", "queued"), provider.Inbound{Events: []provider.Event{{
			Kind: twilio.EventStatus, Timestamp: now, Data: map[string]string{
				"MessageSid": "SM1", "SmsSid": "SM1", "AccountSid": accountSID, "From": fromNumber,
				"To": "+5511987654321", "ApiVersion": "2010-04-01", "MessageStatus": "queued"},
		}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t)
			in, err := c.Parse(twiliotest.SignedRequest(webhookURL, authToken, tc.form))
			require.NoError(t, err)
			require.Equal(t, tc.want, in)
		})
	}
}

func TestParseInbound(t *testing.T) {
	t.Parallel()
	base := url.Values{"MessageSid": {"SM9"}, "SmsSid": {"SM9"}, "SmsMessageSid": {"SM9"}, "AccountSid": {accountSID},
		"From": {"+5511987654321"}, "To": {fromNumber}, "SmsStatus": {"received"}, "NumSegments": {"1"},
		"FromCity": {"SAO PAULO"}, "ApiVersion": {"2010-04-01"}}
	with := func(kv ...string) url.Values {
		f := url.Values{}
		for k, v := range base {
			f[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	msg := provider.InboundMessage{ID: "SM9", From: "+5511987654321", To: fromNumber, Timestamp: now}
	tests := []struct {
		name string
		form url.Values
		want provider.Inbound
	}{
		{"SMS", with("Body", "Olá! Quero saber do pedido", "NumMedia", "0"), provider.Inbound{Messages: []provider.InboundMessage{
			func() provider.InboundMessage {
				m := msg
				m.Kind, m.Text = "text", "Olá! Quero saber do pedido"
				return m
			}(),
		}}},
		{"EmptyBody", with("Body", "", "NumMedia", "0"), provider.Inbound{Messages: []provider.InboundMessage{
			func() provider.InboundMessage { m := msg; m.Kind = "text"; return m }(),
		}}},
		{"MMSImage", with("Body", "foto", "NumMedia", "1", "MediaUrl0", "https://api.twilio.com/m/ME1",
			"MediaContentType0", "image/jpeg"), provider.Inbound{Messages: []provider.InboundMessage{
			func() provider.InboundMessage {
				m := msg
				m.Kind, m.Text = "image", "foto"
				m.Media = &provider.Media{Kind: provider.Image, URL: "https://api.twilio.com/m/ME1", Caption: "foto"}
				return m
			}(),
		}}},
		{"MMSTwoMedia", with("Body", "", "NumMedia", "2", "MediaUrl0", "https://api.twilio.com/m/ME1",
			"MediaContentType0", "application/pdf", "MediaUrl1", "https://api.twilio.com/m/ME2", "MediaContentType1", "video/mp4"),
			provider.Inbound{
				Messages: []provider.InboundMessage{func() provider.InboundMessage {
					m := msg
					m.Kind = "document"
					m.Media = &provider.Media{Kind: provider.Document, URL: "https://api.twilio.com/m/ME1"}
					return m
				}()},
				Events: []provider.Event{{Kind: twilio.EventExtraMedia, Timestamp: now, Data: map[string]string{
					"message_id": "SM9", "MediaUrl1": "https://api.twilio.com/m/ME2", "MediaContentType1": "video/mp4"}}},
			}},
		{"AudioMMS", with("NumMedia", "1", "MediaUrl0", "https://api.twilio.com/m/ME3", "MediaContentType0", "audio/amr"),
			provider.Inbound{Messages: []provider.InboundMessage{func() provider.InboundMessage {
				m := msg
				m.Kind = "audio"
				m.Media = &provider.Media{Kind: provider.Audio, URL: "https://api.twilio.com/m/ME3"}
				return m
			}()}}},
		{"WhatsAppProfileName", with("From", "whatsapp:+5511987654321", "ProfileName", "Ana", "Body", "oi"),
			provider.Inbound{Messages: []provider.InboundMessage{func() provider.InboundMessage {
				m := msg
				m.From, m.FromName, m.Kind, m.Text = "whatsapp:+5511987654321", "Ana", "text", "oi"
				return m
			}()}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t)
			in, err := c.Parse(twiliotest.SignedRequest(webhookURL, authToken, tc.form))
			require.NoError(t, err)
			require.Equal(t, tc.want, in)
		})
	}
}

func TestParseWithoutMessageSid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		form url.Values
	}{
		{"Empty", url.Values{}},
		{"OnlyBody", url.Values{"Body": {"hi"}, "From": {"+5511987654321"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t)
			_, err := c.Parse(twiliotest.SignedRequest(webhookURL, authToken, tc.form))
			require.ErrorContains(t, err, "no MessageSid")
			require.NotErrorIs(t, err, provider.ErrBadSignature)
		})
	}
}

// The request URL the server saw does not matter: only the configured WebhookURL is trusted,
// so a forged Host header cannot make a signature over another URL pass.
func TestParseIgnoresRequestHost(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		signed  string
		wantBad bool
	}{
		{"SignedOverConfiguredURL", webhookURL, false},
		{"SignedOverRequestURL", "https://attacker.example/webhooks/twilio", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t)
			form := url.Values{"MessageSid": {"SM1"}, "Body": {"hi"}}
			body := form.Encode()
			r := httptest.NewRequest(http.MethodPost, "https://attacker.example/webhooks/twilio", strings.NewReader(body))
			r.Header.Set(twilio.SignatureHeader, twiliotest.Signature(authToken, tc.signed, form))
			_, err := c.Parse(r, []byte(body))
			if tc.wantBad {
				require.ErrorIs(t, err, provider.ErrBadSignature)
				return
			}
			require.NoError(t, err)
		})
	}
}
