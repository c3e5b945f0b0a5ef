package whatsapp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
)

const (
	testPNID   = "106540352242922"
	testWABA   = "102290129340398"
	testSecret = "app-secret-for-tests"
	testVerify = "verify-me"
)

type testBundle struct {
	srv    *whatsapptest.Server
	client *Client
}

func setup(t *testing.T, cfg whatsapptest.Config) *testBundle {
	t.Helper()
	cfg.PhoneNumberID, cfg.WABAID = testPNID, testWABA
	srv := whatsapptest.New(t, cfg)
	client := New(Config{
		BaseURL: srv.URL, PhoneNumberID: testPNID, WABAID: testWABA,
		AccessToken: whatsapptest.DefaultAccessToken, AppSecret: testSecret, VerifyToken: testVerify,
		HTTPClient: srv.Client(),
	})
	return &testBundle{srv: srv, client: client}
}

// requireProviderError asserts err is a *provider.Error and returns it.
func requireProviderError(t *testing.T, err error) *provider.Error {
	t.Helper()
	require.Error(t, err)
	var pe *provider.Error
	require.True(t, errors.As(err, &pe), "want *provider.Error, got %T: %v", err, err)
	return pe
}

func TestSendWireFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  provider.Message
		want string
	}{
		{
			name: "Text",
			msg:  provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "Olá, tudo bem?"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"text",
				"text":{"body":"Olá, tudo bem?","preview_url":false}}`,
		},
		{
			name: "TextFormattedNumber",
			msg:  provider.Message{To: "+55 (11) 98765-4321", Kind: provider.KindText, Text: "hi"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"text",
				"text":{"body":"hi","preview_url":false}}`,
		},
		{
			name: "TextDigitsGetPlus",
			msg:  provider.Message{To: "16505551234", Kind: provider.KindText, Text: "hi"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+16505551234","type":"text",
				"text":{"body":"hi","preview_url":false}}`,
		},
		{
			name: "TextReply",
			msg:  provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "sim", ReplyTo: "wamid.IN1"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"text",
				"context":{"message_id":"wamid.IN1"},"text":{"body":"sim","preview_url":false}}`,
		},
		{
			name: "TextToBusinessScopedUserID",
			msg:  provider.Message{To: "US.13491208655302741918", Kind: provider.KindText, Text: "hi"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"US.13491208655302741918","type":"text",
				"text":{"body":"hi","preview_url":false}}`,
		},
		{
			name: "TextToParentBusinessScopedUserID",
			msg:  provider.Message{To: "US.ENT.abc123", Kind: provider.KindText, Text: "hi"},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","recipient":"US.ENT.abc123","type":"text",
				"text":{"body":"hi","preview_url":false}}`,
		},
		{
			name: "Image",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Image, URL: "https://cdn.example.com/a.jpg", Caption: "foto"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"image",
				"image":{"link":"https://cdn.example.com/a.jpg","caption":"foto"}}`,
		},
		{
			name: "Audio",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Audio, URL: "https://cdn.example.com/a.ogg"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"audio",
				"audio":{"link":"https://cdn.example.com/a.ogg"}}`,
		},
		{
			name: "Video",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Video, URL: "https://cdn.example.com/v.mp4", Caption: "vídeo"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"video",
				"video":{"link":"https://cdn.example.com/v.mp4","caption":"vídeo"}}`,
		},
		{
			name: "Document",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Document, URL: "https://cdn.example.com/c.pdf", Caption: "Contrato", Filename: "contrato.pdf"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"document",
				"document":{"link":"https://cdn.example.com/c.pdf","caption":"Contrato","filename":"contrato.pdf"}}`,
		},
		{
			name: "Sticker",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Sticker, URL: "https://cdn.example.com/s.webp"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"sticker",
				"sticker":{"link":"https://cdn.example.com/s.webp"}}`,
		},
		{
			name: "MediaByReceivedID",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Image, URL: "media:1003383421387256"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"image",
				"image":{"id":"1003383421387256"}}`,
		},
		{
			name: "Reaction",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindReaction,
				Reaction: &provider.Reaction{MessageID: "wamid.IN1", Emoji: "👍"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"reaction",
				"reaction":{"message_id":"wamid.IN1","emoji":"👍"}}`,
		},
		{
			name: "ReactionRemoved",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindReaction,
				Reaction: &provider.Reaction{MessageID: "wamid.IN1"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"reaction",
				"reaction":{"message_id":"wamid.IN1","emoji":""}}`,
		},
		{
			name: "ContactCard",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindContact,
				Contact: &provider.ContactCard{Name: "Bruno de Lima", Phones: []string{"+5521998765432"}, Emails: []string{"bruno@example.com"}}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"contacts",
				"contacts":[{"name":{"formatted_name":"Bruno de Lima","first_name":"Bruno","last_name":"de Lima"},
				"phones":[{"phone":"+5521998765432"}],"emails":[{"email":"bruno@example.com"}]}]}`,
		},
		{
			name: "TemplatePositionalWithURLButton",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindTemplate, Template: &provider.Template{
				Name: "order_update", Language: "pt_BR",
				HeaderParams: []provider.Param{{Value: "SKB-1"}},
				BodyParams:   []provider.Param{{Value: "Jessica"}, {Value: "R$ 10,00"}},
				ButtonParams: map[int]string{1: "track/SKB 1", 0: "a%20b"},
			}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"template",
				"template":{"name":"order_update","language":{"code":"pt_BR"},"components":[
					{"type":"header","parameters":[{"type":"text","text":"SKB-1"}]},
					{"type":"body","parameters":[{"type":"text","text":"Jessica"},{"type":"text","text":"R$ 10,00"}]},
					{"type":"button","sub_type":"url","index":"0","parameters":[{"type":"text","text":"a%20b"}]},
					{"type":"button","sub_type":"url","index":"1","parameters":[{"type":"text","text":"track/SKB%201"}]}]}}`,
		},
		{
			name: "TemplateNamed",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindTemplate, ReplyTo: "wamid.IN9", Template: &provider.Template{
				Name: "welcome", Language: "en_US",
				BodyParams: []provider.Param{{Name: "first_name", Value: "Jessica"}, {Name: "order_number", Value: "SKB-1"}},
			}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"template",
				"context":{"message_id":"wamid.IN9"},
				"template":{"name":"welcome","language":{"code":"en_US"},"components":[
					{"type":"body","parameters":[{"type":"text","parameter_name":"first_name","text":"Jessica"},
					{"type":"text","parameter_name":"order_number","text":"SKB-1"}]}]}}`,
		},
		{
			name: "TemplateHeaderImage",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindTemplate, Template: &provider.Template{
				Name: "promo", Language: "pt_BR",
				HeaderMedia: &provider.Media{Kind: provider.Image, URL: "https://cdn.example.com/promo.jpg"},
				BodyParams:  []provider.Param{{Value: "20%"}},
			}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"template",
				"template":{"name":"promo","language":{"code":"pt_BR"},"components":[
					{"type":"header","parameters":[{"type":"image","image":{"link":"https://cdn.example.com/promo.jpg"}}]},
					{"type":"body","parameters":[{"type":"text","text":"20%"}]}]}}`,
		},
		{
			name: "TemplateHeaderDocument",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindTemplate, Template: &provider.Template{
				Name: "invoice", Language: "pt_BR",
				HeaderMedia: &provider.Media{Kind: provider.Document, URL: "https://cdn.example.com/nf.pdf", Filename: "nota.pdf"},
			}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"template",
				"template":{"name":"invoice","language":{"code":"pt_BR"},"components":[
					{"type":"header","parameters":[{"type":"document","document":{"link":"https://cdn.example.com/nf.pdf","filename":"nota.pdf"}}]}]}}`,
		},
		{
			name: "TemplateWithoutParameters",
			msg: provider.Message{To: "+5511987654321", Kind: provider.KindTemplate,
				Template: &provider.Template{Name: "hello_world", Language: "en_US"}},
			want: `{"messaging_product":"whatsapp","recipient_type":"individual","to":"+5511987654321","type":"template",
				"template":{"name":"hello_world","language":{"code":"en_US"}}}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{})
			sent, err := b.client.Send(context.Background(), tc.msg)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(sent.ID, "wamid."), sent.ID)

			msgs := b.srv.Messages()
			require.Len(t, msgs, 1)
			require.Equal(t, sent.ID, msgs[0].ID)
			require.JSONEq(t, tc.want, string(msgs[0].Body))

			reqs := b.srv.Requests()
			require.Len(t, reqs, 1)
			require.Equal(t, "/"+DefaultAPIVersion+"/"+testPNID+"/messages", reqs[0].Path)
			require.Equal(t, "Bearer "+whatsapptest.DefaultAccessToken, reqs[0].Header.Get("Authorization"))
			require.Equal(t, "application/json", reqs[0].Header.Get("Content-Type"))
		})
	}
}

func TestSendRefusedLocally(t *testing.T) {
	t.Parallel()
	to := "+5511987654321"
	tests := []struct {
		name string
		msg  provider.Message
		want string // part of the reason
	}{
		{"EmptyRecipient", provider.Message{Kind: provider.KindText, Text: "x"}, "recipient is empty"},
		{"RecipientWithLetters", provider.Message{To: "+55abc", Kind: provider.KindText, Text: "x"}, "neither"},
		{"RecipientTooShort", provider.Message{To: "+123", Kind: provider.KindText, Text: "x"}, "neither"},
		{"EmptyText", provider.Message{To: to, Kind: provider.KindText}, "no text"},
		{"UnknownKind", provider.Message{To: to, Kind: "carrier_pigeon"}, "not supported"},
		{"MediaMissing", provider.Message{To: to, Kind: provider.KindMedia}, "no media"},
		{"MediaNotHTTP", provider.Message{To: to, Kind: provider.KindMedia, Media: &provider.Media{Kind: provider.Image, URL: "ftp://x/y.jpg"}}, "not an http(s) link"},
		{"MediaEmptyID", provider.Message{To: to, Kind: provider.KindMedia, Media: &provider.Media{Kind: provider.Image, URL: "media:"}}, "no id"},
		{"MediaUnknownKind", provider.Message{To: to, Kind: provider.KindMedia, Media: &provider.Media{Kind: "hologram", URL: "https://x/y"}}, "not supported"},
		{"CaptionOnAudio", provider.Message{To: to, Kind: provider.KindMedia, Media: &provider.Media{Kind: provider.Audio, URL: "https://x/a.ogg", Caption: "c"}}, "caption"},
		{"FilenameOnImage", provider.Message{To: to, Kind: provider.KindMedia, Media: &provider.Media{Kind: provider.Image, URL: "https://x/a.jpg", Filename: "a.jpg"}}, "file name"},
		{"ReactionWithoutTarget", provider.Message{To: to, Kind: provider.KindReaction, Reaction: &provider.Reaction{Emoji: "👍"}}, "reacts to"},
		{"ContactWithoutName", provider.Message{To: to, Kind: provider.KindContact, Contact: &provider.ContactCard{Phones: []string{"+1"}}}, "needs a name"},
		{"TemplateMissing", provider.Message{To: to, Kind: provider.KindTemplate}, "template name and language"},
		{"TemplateMixedParams", provider.Message{To: to, Kind: provider.KindTemplate, Template: &provider.Template{Name: "t", Language: "en",
			BodyParams: []provider.Param{{Name: "a", Value: "1"}, {Value: "2"}}}}, "all positional or all named"},
		{"TemplateEmptyParam", provider.Message{To: to, Kind: provider.KindTemplate, Template: &provider.Template{Name: "t", Language: "en",
			BodyParams: []provider.Param{{Value: ""}}}}, "is empty"},
		{"TemplateHeaderMediaAndText", provider.Message{To: to, Kind: provider.KindTemplate, Template: &provider.Template{Name: "t", Language: "en",
			HeaderParams: []provider.Param{{Value: "x"}}, HeaderMedia: &provider.Media{Kind: provider.Image, URL: "https://x/y.jpg"}}}, "either media or text"},
		{"TemplateHeaderAudio", provider.Message{To: to, Kind: provider.KindTemplate, Template: &provider.Template{Name: "t", Language: "en",
			HeaderMedia: &provider.Media{Kind: provider.Audio, URL: "https://x/y.ogg"}}}, "image, video or document"},
		{"TemplateButtonIndex", provider.Message{To: to, Kind: provider.KindTemplate, Template: &provider.Template{Name: "t", Language: "en",
			ButtonParams: map[int]string{10: "x"}}}, "outside 0–9"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{})
			_, err := b.client.Send(context.Background(), tc.msg)
			pe := requireProviderError(t, err)
			require.Equal(t, CodeInvalidMessage, pe.Code)
			require.False(t, pe.Retryable)
			require.Contains(t, pe.Reason, tc.want)
			require.Empty(t, b.srv.Requests(), "nothing may reach the API")
		})
	}
}

func TestSendNotConfigured(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"NoPhoneNumberID", Config{AccessToken: "x"}},
		{"NoAccessToken", Config{PhoneNumberID: "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.cfg).Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "x"})
			pe := requireProviderError(t, err)
			require.Equal(t, CodeNotConfigured, pe.Code)
			require.False(t, pe.Retryable)
		})
	}
}

// TestSendFakeRejectsBadRequests checks that Meta's refusals of the request itself (token,
// unknown number, version) come back classified.
func TestSendFakeRejectsBadRequests(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		mutate     func(*Config)
		wantCode   string
		wantStatus int
	}{
		{"WrongToken", func(c *Config) { c.AccessToken = "stolen" }, "190", http.StatusUnauthorized},
		{"UnknownPhoneNumberID", func(c *Config) { c.PhoneNumberID = "999" }, "100", http.StatusBadRequest},
		{"BadVersion", func(c *Config) { c.APIVersion = "latest" }, "100", http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{})
			cfg := b.client.cfg
			tc.mutate(&cfg)
			_, err := New(cfg).Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "x"})
			pe := requireProviderError(t, err)
			require.Equal(t, tc.wantCode, pe.Code)
			require.Equal(t, tc.wantStatus, pe.HTTPStatus)
			require.False(t, pe.Retryable)
			require.Contains(t, pe.Reason, "fbtrace_id")
			require.Empty(t, b.srv.Messages())
		})
	}
}

// codeExpectations is written independently of codeRules: one row per code in the table
// (TestCodeTableCovered makes sure none is missed), checked against the fake server.
var codeExpectations = []struct {
	code       int
	retryable  bool
	retryAfter string // time.Duration text; "0s" for none
	reason     string // part of Reason
}{
	{0, false, "0s", "rotate"},
	{1, true, "0s", "backoff"},
	{2, true, "0s", "backoff"},
	{3, false, "0s", "permission"},
	{4, true, "1m0s", "back off all API calls"},
	{10, false, "0s", "scopes"},
	{33, false, "0s", "fix the request"},
	{100, false, "0s", "fix the request"},
	{190, false, "0s", "access token"},
	{368, false, "0s", "policy"},
	{80007, true, "1m0s", "management"},
	{130429, true, "1s", "throughput"},
	{130472, false, "0s", "experiment"},
	{130497, false, "0s", "country"},
	{131000, true, "0s", "backoff"},
	{131005, false, "0s", "access denied"},
	{131008, false, "0s", "missing"},
	{131009, false, "0s", "not valid"},
	{131016, true, "0s", "backoff"},
	{131021, false, "0s", "sender"},
	{131026, false, "0s", "another channel"},
	{131031, false, "0s", "locked"},
	{131037, false, "0s", "display name"},
	{131042, false, "0s", "stop all paid sends"},
	{131045, false, "0s", "re-register"},
	{131047, false, "0s", "send an approved template"},
	{131048, true, "1h0m0s", "pause campaigns"},
	{131049, true, "24h0m0s", "24 hours"},
	{131050, false, "0s", "opt-out"},
	{131051, false, "0s", "unsupported message type"},
	{131052, false, "0s", "send the media again"},
	{131053, false, "0s", "fix the media"},
	{131056, true, "1s", "4^X"},
	{131057, true, "10s", "maintenance"},
	{131063, false, "0s", "Marketing Messages API"},
	{131064, false, "0s", "template categories"},
	{132000, false, "0s", "count mismatch"},
	{132001, false, "0s", "language"},
	{132005, false, "0s", "shorten"},
	{132007, false, "0s", "policy"},
	{132012, false, "0s", "format mismatch"},
	{132015, true, "3h0m0s", "paused"},
	{132016, false, "0s", "new template"},
	{132018, false, "0s", "validation"},
	{132068, false, "0s", "flow is blocked"},
	{132069, true, "6m0s", "throttled"},
	{133004, true, "0s", "backoff"},
	{133010, false, "0s", "re-register"},
	{250, false, "0s", "permission missing"}, // the 200–299 range
	{999999, false, "0s", "unrecognised"},    // unknown code, 400: not retryable
}

func TestCodeTableCovered(t *testing.T) {
	t.Parallel()
	covered := map[int]bool{}
	for _, e := range codeExpectations {
		covered[e.code] = true
	}
	for code := range codeRules {
		require.True(t, covered[code], "code %d has no row in codeExpectations", code)
	}
}

func TestSendErrorCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range codeExpectations {
		t.Run("Code"+strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			b := setup(t, whatsapptest.Config{})
			b.srv.FailNextWith(1, whatsapptest.APIError{Code: tc.code, HTTPStatus: http.StatusBadRequest, Details: "details from meta"})
			_, err := b.client.Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "x"})
			pe := requireProviderError(t, err)
			require.Equal(t, strconv.Itoa(tc.code), pe.Code)
			require.Equal(t, tc.retryable, pe.Retryable)
			require.Equal(t, tc.retryAfter, pe.RetryAfter.String())
			require.Equal(t, http.StatusBadRequest, pe.HTTPStatus)
			require.Contains(t, strings.ToLower(pe.Reason), strings.ToLower(tc.reason))
			require.Contains(t, pe.Reason, "details from meta")
			require.Contains(t, pe.Reason, "fbtrace_id")
			require.Contains(t, err.Error(), "whatsapp send text: ")
			require.NotContains(t, err.Error(), "5511987654321", "no phone numbers in error texts (they reach logs)")

			// The fake only failed once: the retry goes through.
			_, err = b.client.Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "x"})
			require.NoError(t, err)
		})
	}
}

// TestSendHTTPFailures covers answers that are not Meta's error envelope, and transport errors.
func TestSendHTTPFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		handler        http.HandlerFunc
		wantCode       string
		wantRetryable  bool
		wantRetryAfter string
		wantReason     string
	}{
		{
			name: "GatewayHTML",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = w.Write([]byte("<html>bad gateway</html>"))
			},
			wantCode: "502", wantRetryable: true, wantRetryAfter: "0s", wantReason: "HTTP 502",
		},
		{
			name: "TooManyRequestsWithRetryAfter",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "30")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			wantCode: "429", wantRetryable: true, wantRetryAfter: "30s", wantReason: "HTTP 429",
		},
		{
			name: "MetaRateLimitRetryAfterHeaderWins",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":{"message":"(#130429) Rate limit hit","type":"OAuthException","code":130429,"fbtrace_id":"X"}}`))
			},
			wantCode: "130429", wantRetryable: true, wantRetryAfter: "2m0s", wantReason: "Rate limit hit",
		},
		{
			name:     "NotFoundPlain",
			handler:  func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) },
			wantCode: "404", wantRetryable: false, wantRetryAfter: "0s", wantReason: "HTTP 404",
		},
		{
			name: "UnknownMetaCodeServerError",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"error":{"message":"(#777) Brand new","code":777,"error_subcode":42}}`))
			},
			wantCode: "777", wantRetryable: true, wantRetryAfter: "0s", wantReason: "[subcode 42]",
		},
		{
			name:     "OKNotJSON",
			handler:  func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) },
			wantCode: CodeBadResponse, wantRetryable: false, wantRetryAfter: "0s", wantReason: "not the expected JSON",
		},
		{
			name: "OKWithoutID",
			handler: func(w http.ResponseWriter, _ *http.Request) {
				_, _ = w.Write([]byte(`{"messaging_product":"whatsapp","messages":[]}`))
			},
			wantCode: CodeBadResponse, wantRetryable: false, wantRetryAfter: "0s", wantReason: "no message id",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			c := New(Config{BaseURL: srv.URL, PhoneNumberID: "1", AccessToken: "t", HTTPClient: srv.Client()})
			_, err := c.Send(context.Background(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "x"})
			pe := requireProviderError(t, err)
			require.Equal(t, tc.wantCode, pe.Code)
			require.Equal(t, tc.wantRetryable, pe.Retryable)
			require.Equal(t, tc.wantRetryAfter, pe.RetryAfter.String())
			require.Contains(t, pe.Reason, tc.wantReason)
		})
	}
}

func TestSendTransportError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func() context.Context
	}{
		{"ServerGone", context.Background},
		{"ContextCancelled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.NotFoundHandler())
			srv.Close() // nothing listens any more
			c := New(Config{BaseURL: srv.URL, PhoneNumberID: "1", AccessToken: "t"})
			_, err := c.Send(tc.ctx(), provider.Message{To: "+5511987654321", Kind: provider.KindText, Text: "x"})
			require.Error(t, err)
			var pe *provider.Error
			require.False(t, errors.As(err, &pe), "transport failures are plain errors (retryable by contract)")
			require.Contains(t, err.Error(), "call whatsapp cloud api")
		})
	}
}
