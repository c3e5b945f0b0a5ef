package twilio_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/twilio"
	"github.com/conversa-hq/conversa/internal/provider/twilio/twiliotest"
)

const (
	accountSID = "AC0123456789abcdef0123456789abcdef"
	authToken  = "test-auth-token"
	fromNumber = "+15005550006"
	serviceSID = "MG0123456789abcdef0123456789abcdef"
	webhookURL = "https://conversa.example/webhooks/twilio"
	statusURL  = "https://conversa.example/webhooks/twilio/status?tenant=7"
)

var now = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func newClient(t *testing.T, mutate ...func(*twilio.Config)) (*twilio.Client, *twiliotest.Server) {
	t.Helper()
	srv := twiliotest.NewServer(t, accountSID, authToken)
	cfg := twilio.Config{
		BaseURL: srv.URL(), AccountSID: accountSID, AuthToken: authToken, From: fromNumber,
		WebhookURL: webhookURL, Clock: clock.NewManual(now),
	}
	for _, m := range mutate {
		m(&cfg)
	}
	c, err := twilio.New(cfg)
	require.NoError(t, err)
	return c, srv
}

func TestNew(t *testing.T) {
	t.Parallel()
	ok := twilio.Config{AccountSID: accountSID, AuthToken: authToken, From: fromNumber}
	tests := []struct {
		name    string
		mutate  func(*twilio.Config)
		wantErr string
	}{
		{"Valid", func(*twilio.Config) {}, ""},
		{"NoAccountSID", func(c *twilio.Config) { c.AccountSID = "" }, "AccountSID is required"},
		{"NoAuthToken", func(c *twilio.Config) { c.AuthToken = "" }, "AuthToken is required"},
		{"NoFrom", func(c *twilio.Config) { c.From = "" }, "From is required"},
		{"RelativeBaseURL", func(c *twilio.Config) { c.BaseURL = "api.twilio.com" }, "not an absolute http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := ok
			tc.mutate(&cfg)
			_, err := twilio.New(cfg)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(*twilio.Config)
		msg      provider.Message
		wantForm url.Values
		wantID   string
	}{
		{
			name:     "Text",
			msg:      provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "Olá, tudo bem?"},
			wantForm: url.Values{"To": {"+5511987654321"}, "From": {fromNumber}, "Body": {"Olá, tudo bem?"}},
			wantID:   "SM00000000000000000000000000000001",
		},
		{
			name:     "DigitsOnlyNumberGetsPlus",
			msg:      provider.Message{To: "5511987654321", Kind: provider.KindText, Text: "hi"},
			wantForm: url.Values{"To": {"+5511987654321"}, "From": {fromNumber}, "Body": {"hi"}},
			wantID:   "SM00000000000000000000000000000001",
		},
		{
			name:     "ReplyToIgnored",
			msg:      provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "hi", ReplyTo: "SMabc"},
			wantForm: url.Values{"To": {"+5511987654321"}, "From": {fromNumber}, "Body": {"hi"}},
			wantID:   "SM00000000000000000000000000000001",
		},
		{
			name: "TemplateRendered",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindTemplate, Text: "Code 123",
				Template: &provider.Template{Name: "otp"}},
			wantForm: url.Values{"To": {"+5511987654321"}, "From": {fromNumber}, "Body": {"Code 123"}},
			wantID:   "SM00000000000000000000000000000001",
		},
		{
			name: "MediaWithCaption",
			msg: provider.Message{To: "+14155550100", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Image, URL: "https://x.test/a.jpg", Caption: "look"}},
			wantForm: url.Values{"To": {"+14155550100"}, "From": {fromNumber}, "Body": {"look"}, "MediaUrl": {"https://x.test/a.jpg"}},
			wantID:   "MM00000000000000000000000000000001",
		},
		{
			name: "MediaTextAsBody",
			msg: provider.Message{To: "+14155550100", Kind: provider.KindMedia, Text: "see attached",
				Media: &provider.Media{Kind: provider.Document, URL: "https://x.test/a.pdf"}},
			wantForm: url.Values{"To": {"+14155550100"}, "From": {fromNumber}, "Body": {"see attached"}, "MediaUrl": {"https://x.test/a.pdf"}},
			wantID:   "MM00000000000000000000000000000001",
		},
		{
			name: "MediaOnly",
			msg: provider.Message{To: "+14155550100", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Image, URL: "https://x.test/a.jpg"}},
			wantForm: url.Values{"To": {"+14155550100"}, "From": {fromNumber}, "MediaUrl": {"https://x.test/a.jpg"}},
			wantID:   "MM00000000000000000000000000000001",
		},
		{
			name:     "MessagingService",
			mutate:   func(c *twilio.Config) { c.From = serviceSID },
			msg:      provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "hi"},
			wantForm: url.Values{"To": {"+5511987654321"}, "MessagingServiceSid": {serviceSID}, "Body": {"hi"}},
			wantID:   "SM00000000000000000000000000000001",
		},
		{
			name:     "AlphanumericSender",
			mutate:   func(c *twilio.Config) { c.From = "Conversa" },
			msg:      provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "hi"},
			wantForm: url.Values{"To": {"+5511987654321"}, "From": {"Conversa"}, "Body": {"hi"}},
			wantID:   "SM00000000000000000000000000000001",
		},
		{
			name:   "StatusCallback",
			mutate: func(c *twilio.Config) { c.StatusCallbackURL = statusURL },
			msg:    provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "hi"},
			wantForm: url.Values{"To": {"+5511987654321"}, "From": {fromNumber}, "Body": {"hi"},
				"StatusCallback": {statusURL}},
			wantID: "SM00000000000000000000000000000001",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mutate := func(*twilio.Config) {}
			if tc.mutate != nil {
				mutate = tc.mutate
			}
			c, srv := newClient(t, mutate)
			sent, err := c.Send(context.Background(), tc.msg)
			require.NoError(t, err)
			require.Equal(t, tc.wantID, sent.ID)
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			require.Equal(t, accountSID, reqs[0].AccountSID)
			require.Equal(t, tc.wantForm, reqs[0].Form)
		})
	}
}

func TestSendRefusedLocally(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		msg      provider.Message
		wantCode string
		wantText string
	}{
		{"NoRecipient", provider.Message{Kind: provider.KindText, Text: "hi"}, twilio.CodeInvalidMessage, "no recipient"},
		{"EmptyText", provider.Message{To: "+5511987654321", Kind: provider.KindText}, twilio.CodeInvalidMessage, "no text"},
		{"TemplateWithoutText", provider.Message{To: "+5511987654321", Kind: provider.KindTemplate,
			Template: &provider.Template{Name: "otp"}}, twilio.CodeUnsupported, "no message templates"},
		{"MediaWithoutLink", provider.Message{To: "+5511987654321", Kind: provider.KindMedia,
			Media: &provider.Media{Kind: provider.Image}}, twilio.CodeInvalidMessage, "no media link"},
		{"Contact", provider.Message{To: "+5511987654321", Kind: provider.KindContact,
			Contact: &provider.ContactCard{Name: "Ana", Phones: []string{"+5511"}}}, twilio.CodeUnsupported, `"contact" has no SMS form`},
		{"Reaction", provider.Message{To: "+5511987654321", Kind: provider.KindReaction,
			Reaction: &provider.Reaction{MessageID: "SM1", Emoji: "👍"}}, twilio.CodeUnsupported, `"reaction" has no SMS form`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := newClient(t)
			_, err := c.Send(context.Background(), tc.msg)
			var pe *provider.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.wantCode, pe.Code)
			require.False(t, pe.Retryable)
			require.Contains(t, pe.Reason, tc.wantText)
			require.Empty(t, srv.Requests(), "nothing may reach Twilio")
		})
	}
}

// errorRows is the expected content of the adapter's error table, one row per code.
var errorRows = []struct {
	code       int
	httpStatus int
	retryable  bool
	reason     string
}{
	{20003, 401, false, "authentication failed"},
	{20404, 404, false, "not found"},
	{20429, 429, true, "too many requests"},
	{21211, 400, false, "invalid 'To' number"},
	{21408, 400, false, "region is not enabled"},
	{21602, 400, false, "body is required"},
	{21606, 400, false, "'From' number cannot send"},
	{21610, 400, false, "opted out"},
	{21612, 400, false, "cannot route"},
	{21614, 400, false, "not a mobile number"},
	{21617, 400, false, "1600-character"},
	{30001, 400, true, "queue overflow"},
	{30002, 400, false, "suspended"},
	{30003, 400, false, "unreachable destination handset"},
	{30004, 400, false, "blocked"},
	{30005, 400, false, "unknown destination handset"},
	{30006, 400, false, "landline or unreachable carrier"},
	{30007, 400, false, "filtered"},
	{30008, 400, true, "unknown delivery error"},
	{30034, 400, false, "unregistered"},
}

func TestErrorTableComplete(t *testing.T) {
	t.Parallel()
	want := map[int]bool{}
	for _, row := range errorRows {
		want[row.code] = row.retryable
	}
	require.Equal(t, want, twilio.ErrorRetryable(), "every table entry has exactly one test row")
}

func TestErrorTable(t *testing.T) {
	t.Parallel()
	for _, row := range errorRows {
		t.Run(strconv.Itoa(row.code), func(t *testing.T) {
			t.Parallel()
			code := strconv.Itoa(row.code)

			// A synchronous refusal of the send.
			c, srv := newClient(t)
			srv.FailNext(twiliotest.Failure{HTTPStatus: row.httpStatus, Code: row.code, Message: "twilio says " + code})
			_, err := c.Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "hi"})
			var pe *provider.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, code, pe.Code)
			require.Equal(t, row.retryable, pe.Retryable)
			require.Equal(t, row.httpStatus, pe.HTTPStatus)
			require.Contains(t, pe.Reason, row.reason)
			require.Contains(t, pe.Reason, "twilio says "+code)

			// The same code in a failed status callback.
			r, body := twiliotest.SignedRequest(webhookURL, authToken, url.Values{
				"MessageSid": {"SM1"}, "MessageStatus": {"failed"}, "ErrorCode": {code}, "To": {"+5511987654321"},
			})
			in, err := c.Parse(r, body)
			require.NoError(t, err)
			require.Len(t, in.Statuses, 1)
			require.Equal(t, provider.StatusFailed, in.Statuses[0].Status)
			require.Equal(t, code, in.Statuses[0].Error.Code)
			require.Equal(t, row.retryable, in.Statuses[0].Error.Retryable)
			require.Contains(t, in.Statuses[0].Error.Reason, row.reason)
		})
	}
}

func TestSendHTTPErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		failure        twiliotest.Failure
		wantCode       string
		wantRetryable  bool
		wantRetryAfter time.Duration
	}{
		{"RateLimitedWithRetryAfter", twiliotest.Failure{HTTPStatus: 429, Code: 20429, Message: "Too Many Requests", RetryAfter: "3"},
			"20429", true, 3 * time.Second},
		{"UnknownCode429", twiliotest.Failure{HTTPStatus: 429, Code: 99999, Message: "slow down"},
			"99999", true, 0},
		{"ServerErrorRetryAfterDate", twiliotest.Failure{HTTPStatus: 503, Code: 20503, Message: "Service Unavailable",
			RetryAfter: now.Add(90 * time.Second).Format(http.TimeFormat)}, "20503", true, 90 * time.Second},
		{"UnknownCode400", twiliotest.Failure{HTTPStatus: 400, Code: 21999, Message: "something else"},
			"21999", false, 0},
		{"RetryAfterIgnoredWhenNotRetryable", twiliotest.Failure{HTTPStatus: 400, Code: 21610, Message: "unsubscribed", RetryAfter: "5"},
			"21610", false, 0},
		{"MalformedRetryAfter", twiliotest.Failure{HTTPStatus: 503, Code: 20503, Message: "x", RetryAfter: "soon"},
			"20503", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := newClient(t)
			srv.FailNext(tc.failure)
			_, err := c.Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "hi"})
			var pe *provider.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.wantCode, pe.Code)
			require.Equal(t, tc.wantRetryable, pe.Retryable)
			require.Equal(t, tc.wantRetryAfter, pe.RetryAfter)
			require.Equal(t, tc.failure.HTTPStatus, pe.HTTPStatus)
			require.ErrorContains(t, err, "twilio: create message")
		})
	}
}

func TestSendAgainstServerChecks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		mutate   func(*twilio.Config)
		to       string
		wantCode string
	}{
		{"WrongToken", func(c *twilio.Config) { c.AuthToken = "nope" }, "+5511987654321", "20003"},
		{"OtherAccount", func(c *twilio.Config) { c.AccountSID = "ACffffffffffffffffffffffffffffffff" }, "+5511987654321", "20003"},
		{"InvalidTo", func(*twilio.Config) {}, "+0123", "21211"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, _ := newClient(t, tc.mutate)
			_, err := c.Send(context.Background(), provider.Message{To: tc.to, Kind: provider.KindText, Text: "hi"})
			var pe *provider.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.wantCode, pe.Code)
			require.False(t, pe.Retryable)
		})
	}
}

func TestSendNonJSONAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		status        int
		body          string
		wantProvider  bool
		wantCode      string
		wantRetryable bool
	}{
		{"ProxyBadGateway", http.StatusBadGateway, "<html>bad gateway</html>", true, "502", true},
		{"ProxyForbidden", http.StatusForbidden, "", true, "403", false},
		{"CreatedWithoutSID", http.StatusCreated, `{"status":"queued"}`, false, "", false},
		{"CreatedGarbage", http.StatusCreated, `nope`, false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, err := twilio.New(twilio.Config{BaseURL: srv.URL, AccountSID: accountSID, AuthToken: authToken, From: fromNumber})
			require.NoError(t, err)
			_, err = c.Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "hi"})
			require.Error(t, err)
			var pe *provider.Error
			require.Equal(t, tc.wantProvider, errors.As(err, &pe))
			if tc.wantProvider {
				require.Equal(t, tc.wantCode, pe.Code)
				require.Equal(t, tc.wantRetryable, pe.Retryable)
			}
		})
	}
}

func TestSendTransportError(t *testing.T) {
	t.Parallel()
	c, srv := newClient(t)
	srv.Close()
	_, err := c.Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "hi"})
	require.ErrorContains(t, err, "twilio: create message")
	var pe *provider.Error
	require.False(t, errors.As(err, &pe), "a transport failure is not a provider refusal")
	require.NotContains(t, err.Error(), authToken)
}
