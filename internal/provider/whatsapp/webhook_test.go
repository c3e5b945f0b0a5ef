package whatsapp

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp/whatsapptest"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// deliver builds a signed delivery of payload and parses it with c.
func deliver(t *testing.T, c *Client, payload []byte) (provider.Inbound, error) {
	t.Helper()
	r := whatsapptest.SignedWebhook(testSecret, payload)
	body, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return c.Parse(r, body)
}

func unix(n int64) time.Time { return time.Unix(n, 0).UTC() }

func TestParseSignature(t *testing.T) {
	t.Parallel()
	payload := fixture(t, "inbound_text.json")
	nonASCII := []byte(`{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":"106540352242922"},"messages":[{"from":"5511987654321","id":"wamid.A","timestamp":"1750030073","type":"text","text":{"body":"Olá 👋"}}]}}]}]}`)
	tests := []struct {
		name    string
		secret  string // the client's app secret
		body    []byte
		header  func(body []byte) string // "" header means none
		wantErr bool
	}{
		{"Valid", testSecret, payload, func(b []byte) string { return whatsapptest.Sign(testSecret, b) }, false},
		{"UpperCaseHex", testSecret, payload, func(b []byte) string {
			return "sha256=" + strings.ToUpper(strings.TrimPrefix(whatsapptest.Sign(testSecret, b), "sha256="))
		}, false},
		{"NonASCIISignedRaw", testSecret, nonASCII, func(b []byte) string { return whatsapptest.Sign(testSecret, b) }, false},
		{"NonASCIISignedEscaped", testSecret, nonASCII, func(b []byte) string {
			return whatsapptest.Sign(testSecret, whatsapptest.EscapeNonASCII(b))
		}, false},
		{"Missing", testSecret, payload, func([]byte) string { return "" }, true},
		{"Forged", testSecret, payload, func(b []byte) string { return whatsapptest.Sign("attacker-secret", b) }, true},
		{"WrongPrefix", testSecret, payload, func(b []byte) string {
			return "sha1=" + strings.TrimPrefix(whatsapptest.Sign(testSecret, b), "sha256=")
		}, true},
		{"NoPrefix", testSecret, payload, func(b []byte) string { return strings.TrimPrefix(whatsapptest.Sign(testSecret, b), "sha256=") }, true},
		{"NotHex", testSecret, payload, func([]byte) string { return "sha256=" + strings.Repeat("zz", 32) }, true},
		{"Truncated", testSecret, payload, func(b []byte) string { return whatsapptest.Sign(testSecret, b)[:40] }, true},
		{"OverDifferentBody", testSecret, payload, func([]byte) string { return whatsapptest.Sign(testSecret, []byte(`{"object":"x"}`)) }, true},
		{"EmptySignatureOverEmptySecret", "", payload, func(b []byte) string { return whatsapptest.Sign("", b) }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := New(Config{AppSecret: tc.secret})
			r := httptest.NewRequest(http.MethodPost, whatsapptest.WebhookPath, bytes.NewReader(tc.body))
			if h := tc.header(tc.body); h != "" {
				r.Header.Set(SignatureHeader, h)
			}
			in, err := c.Parse(r, tc.body)
			if !tc.wantErr {
				require.NoError(t, err)
				require.Len(t, in.Messages, 1)
				return
			}
			require.ErrorIs(t, err, provider.ErrBadSignature)
			require.Empty(t, in.Messages)
			require.Empty(t, in.Statuses)
			require.Empty(t, in.Events)
		})
	}
}

func TestParseNilRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body []byte
	}{
		{"WithBody", []byte(`{}`)},
		{"Empty", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(Config{AppSecret: testSecret}).Parse(nil, tc.body)
			require.ErrorIs(t, err, provider.ErrBadSignature)
		})
	}
}

func TestParseBadBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		body    string
		wantErr string // "" means no error and nothing parsed
	}{
		{"NotJSON", `{"object":`, "decode envelope"},
		{"WrongEnvelopeType", `{"object":"whatsapp_business_account","entry":{"id":"1"}}`, "decode envelope"},
		{"MessagesNotAList", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":"hi"}}]}]}`, "(messages): decode value"},
		{"OtherObject", `{"object":"page","entry":[{"id":"1","changes":[{"field":"messages","value":{"messages":[{"id":"x","type":"text"}]}}]}]}`, ""},
		{"UnknownFieldsOnly", `{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"calls","value":{"calls":[1]}},{"field":"flows","value":"?"}]}]}`, ""},
		{"Empty", `{}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, err := deliver(t, New(Config{AppSecret: testSecret}), []byte(tc.body))
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, provider.Inbound{}, in)
				return
			}
			require.Error(t, err)
			require.False(t, errors.Is(err, provider.ErrBadSignature), "a signed but malformed body is not a signature problem")
			require.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// wantEvent is an expected event: its kind and time, and a subset of its data.
type wantEvent struct {
	kind string
	at   time.Time
	data map[string]string
}

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	ana := func(m provider.InboundMessage) provider.InboundMessage {
		m.From, m.FromName, m.To = "+5511987654321", "Ana Souza", testPNID
		return m
	}
	base := map[string]string{"waba_id": testWABA}
	withBase := func(d map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for k, v := range d {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name         string
		file         string
		wantMessages []provider.InboundMessage
		wantStatuses []provider.StatusUpdate
		wantEvents   []wantEvent
	}{
		{
			name: "InboundTextWithIdentityAndReferral",
			file: "inbound_text.json",
			wantMessages: []provider.InboundMessage{{
				ID: "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", From: "+16505551234", FromName: "Sheena Nelson",
				To: testPNID, Timestamp: unix(1750030073), Kind: "text", Text: "Does it come in another color?",
			}},
			wantEvents: []wantEvent{
				{EventContactIdentity, unix(1750030073), withBase(map[string]string{"phone_number_id": testPNID,
					"wa_id": "16505551234", "phone": "+16505551234", "user_id": "US.13491208655302741918", "profile_name": "Sheena Nelson"})},
				{EventReferral, unix(1750030073), withBase(map[string]string{"source_type": "ad", "source_id": "120226305854810726",
					"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", "from": "+16505551234", "message_type": "text"})},
			},
		},
		{
			name: "InboundMedia",
			file: "inbound_media.json",
			wantMessages: []provider.InboundMessage{
				ana(provider.InboundMessage{ID: "wamid.IMG1", Timestamp: unix(1750030100), Kind: "image", Text: "Segue a foto",
					Media: &provider.Media{Kind: provider.Image, URL: "media:1003383421387256", Caption: "Segue a foto"}}),
				ana(provider.InboundMessage{ID: "wamid.DOC1", Timestamp: unix(1750030101), Kind: "document", Text: "Contrato", ReplyTo: "wamid.OUT1",
					Media: &provider.Media{Kind: provider.Document, URL: "media:1003383421387257", Caption: "Contrato", Filename: "contrato.pdf"}}),
				ana(provider.InboundMessage{ID: "wamid.AUD1", Timestamp: unix(1750030102), Kind: "audio",
					Media: &provider.Media{Kind: provider.Audio, URL: "media:1003383421387258"}}),
				ana(provider.InboundMessage{ID: "wamid.VID1", Timestamp: unix(1750030103), Kind: "video",
					Media: &provider.Media{Kind: provider.Video, URL: "media:1003383421387259"}}),
				ana(provider.InboundMessage{ID: "wamid.STK1", Timestamp: unix(1750030104), Kind: "sticker",
					Media: &provider.Media{Kind: provider.Sticker, URL: "media:1003383421387260"}}),
			},
		},
		{
			name: "InboundReactionAndRemoval",
			file: "inbound_reaction.json",
			wantMessages: []provider.InboundMessage{
				ana(provider.InboundMessage{ID: "wamid.REACT1", Timestamp: unix(1750030200), Kind: "reaction", ReplyTo: "wamid.OUT1", Text: "👍"}),
				ana(provider.InboundMessage{ID: "wamid.REACT2", Timestamp: unix(1750030201), Kind: "reaction", ReplyTo: "wamid.OUT1"}),
			},
		},
		{
			name: "InboundInteractiveAndTemplateButton",
			file: "inbound_interactive.json",
			wantMessages: []provider.InboundMessage{
				ana(provider.InboundMessage{ID: "wamid.BTN1", Timestamp: unix(1750030300), Kind: "interactive", Text: "Confirmar", ReplyTo: "wamid.OUT2"}),
				ana(provider.InboundMessage{ID: "wamid.LIST1", Timestamp: unix(1750030301), Kind: "interactive", Text: "9h", ReplyTo: "wamid.OUT3"}),
				ana(provider.InboundMessage{ID: "wamid.FLOW1", Timestamp: unix(1750030302), Kind: "interactive", Text: "Sent", ReplyTo: "wamid.OUT4"}),
				ana(provider.InboundMessage{ID: "wamid.TPLBTN1", Timestamp: unix(1750030303), Kind: "button", Text: "Parar promoções", ReplyTo: "wamid.OUT5"}),
			},
			wantEvents: []wantEvent{
				{EventReplyPayload, unix(1750030300), map[string]string{"message_id": "wamid.BTN1", "from": "+5511987654321",
					"message_type": "interactive", "type": "button_reply", "button_reply.id": "confirm-123", "button_reply.title": "Confirmar"}},
				{EventReplyPayload, unix(1750030301), map[string]string{"message_id": "wamid.LIST1", "type": "list_reply",
					"list_reply.id": "slot-9am", "list_reply.description": "Amanhã de manhã"}},
				{EventReplyPayload, unix(1750030302), map[string]string{"message_id": "wamid.FLOW1", "type": "nfm_reply",
					"nfm_reply.response_json": `{"flow_token":"t-1","cpf":"123"}`}},
				{EventReplyPayload, unix(1750030303), map[string]string{"message_id": "wamid.TPLBTN1", "message_type": "button",
					"payload": "STOP_PROMOS", "text": "Parar promoções"}},
			},
		},
		{
			name: "InboundLocationAndContacts",
			file: "inbound_location_contacts.json",
			wantMessages: []provider.InboundMessage{
				ana(provider.InboundMessage{ID: "wamid.LOC1", Timestamp: unix(1750030400), Kind: "location",
					Text: "geo:-23.5613,-46.6565\nMASP\nAv. Paulista, 1578"}),
				ana(provider.InboundMessage{ID: "wamid.VCF1", Timestamp: unix(1750030401), Kind: "contacts",
					Text: "Bruno Lima (+55 21 99876-5432, +55 21 3333-4444)\nCarla"}),
			},
		},
		{
			name: "InboundBusinessScopedUserOnly",
			file: "inbound_bsuid_only.json",
			wantMessages: []provider.InboundMessage{{ID: "wamid.BSU1", From: "BR.88812345678901234", FromName: "nightowl",
				To: testPNID, Timestamp: unix(1750030500), Kind: "text", Text: "oi"}},
			wantEvents: []wantEvent{{EventContactIdentity, unix(1750030500), withBase(map[string]string{
				"phone_number_id": testPNID, "user_id": "BR.88812345678901234", "username": "nightowl", "profile_name": "nightowl"})}},
		},
		{
			name: "InboundUnsupportedSystemOrder",
			file: "inbound_unsupported_system.json",
			wantMessages: []provider.InboundMessage{
				ana(provider.InboundMessage{ID: "wamid.UNS1", Timestamp: unix(1750030600), Kind: "unsupported", Text: "Message type is currently not supported."}),
				ana(provider.InboundMessage{ID: "wamid.ORD1", Timestamp: unix(1750030602), Kind: "unsupported", Text: `WhatsApp message of type "order"`}),
			},
			wantEvents: []wantEvent{{EventSystem, unix(1750030601), map[string]string{"message_id": "wamid.SYS1",
				"message_type": "system", "type": "user_changed_number", "wa_id": "5511912345678"}}},
		},
		{
			name: "StatusesOutOfOrderAndDuplicated",
			file: "statuses_out_of_order.json",
			wantStatuses: []provider.StatusUpdate{
				{MessageID: "wamid.OUT1", Status: provider.StatusRead, Timestamp: unix(1750030090), Recipient: "+5511987654321"},
				{MessageID: "wamid.OUT1", Status: provider.StatusDelivered, Timestamp: unix(1750030080), Recipient: "+5511987654321"},
				{MessageID: "wamid.OUT1", Status: provider.StatusSent, Timestamp: unix(1750030075), Recipient: "+5511987654321"},
				{MessageID: "wamid.OUT1", Status: provider.StatusDelivered, Timestamp: unix(1750030080), Recipient: "+5511987654321"},
				{MessageID: "wamid.OUT2", Status: provider.StatusRead, Timestamp: unix(1750030095), Recipient: "+5511987654321"},
			},
			wantEvents: []wantEvent{
				{EventPricing, unix(1750030080), withBase(map[string]string{"phone_number_id": testPNID, "message_id": "wamid.OUT1",
					"status": "delivered", "recipient": "+5511987654321", "billable": "false", "pricing_model": "PMP",
					"type": "free_customer_service", "category": "service"})},
				{EventPricing, unix(1750030075), map[string]string{"message_id": "wamid.OUT1", "status": "sent", "category": "service"}},
			},
		},
		{
			name: "FailedStatuses",
			file: "status_failed.json",
			wantStatuses: []provider.StatusUpdate{
				{MessageID: "wamid.MKT1", Status: provider.StatusFailed, Timestamp: unix(1750031000), Recipient: "+5511987654321",
					Error: &provider.Error{Code: "131049", Retryable: true, RetryAfter: 24 * time.Hour}},
				{MessageID: "wamid.TXT9", Status: provider.StatusFailed, Timestamp: unix(1750031001), Recipient: "+5511900000000",
					Error: &provider.Error{Code: "131026"}},
				{MessageID: "wamid.TXT10", Status: provider.StatusFailed, Timestamp: unix(1750031002), Recipient: "BR.88812345678901234",
					Error: &provider.Error{Code: "unknown"}},
			},
		},
		{
			name: "BusinessAppEcho",
			file: "echo.json",
			wantMessages: []provider.InboundMessage{{ID: "wamid.ECHO1", From: "+5511987654321", To: testPNID,
				Timestamp: unix(1750030700), Kind: "text", Text: "Já te respondo pelo app", Echo: true}},
		},
		{
			name: "PhoneNumberQualityUpdate",
			file: "quality_update.json",
			wantEvents: []wantEvent{{"phone_number_quality_update", unix(1750032000), withBase(map[string]string{
				"event": "THROUGHPUT_UPGRADE", "max_daily_conversations_per_business": "TIER_10K", "display_phone_number": "15550783881"})}},
		},
		{
			name: "TemplateStatusUpdate",
			file: "template_status.json",
			wantEvents: []wantEvent{{"message_template_status_update", unix(1750032100), withBase(map[string]string{
				"event": "PAUSED", "message_template_id": "1180000000000001", "message_template_name": "order_update",
				"message_template_language": "pt_BR", "reason": "NONE", "other_info.title": "FIRST_PAUSE"})}},
		},
		{
			name: "AccountEventsAndUnknownFields",
			file: "account_events.json",
			wantEvents: []wantEvent{
				{"business_capability_update", unix(1750032200), withBase(map[string]string{
					"max_daily_conversations_per_business": "TIER_100K", "max_phone_numbers_per_business": "25"})},
				{"account_update", unix(1750032200), withBase(map[string]string{
					"event": "VOLUME_BASED_PRICING_TIER_UPDATE", "volume_tier_info.tier": "25001:100000", "volume_tier_info.tier_update_time": "1750032199"})},
				{"user_preferences", unix(1750032300), withBase(map[string]string{"phone_number_id": testPNID,
					"wa_id": "5511987654321", "category": "marketing_messages", "value": "stop"})},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := New(Config{AppSecret: testSecret})
			in, err := deliver(t, c, fixture(t, tc.file))
			require.NoError(t, err)
			require.Equal(t, tc.wantMessages, in.Messages)

			require.Len(t, in.Statuses, len(tc.wantStatuses))
			for i, want := range tc.wantStatuses {
				got := in.Statuses[i]
				if want.Error != nil {
					require.NotNil(t, got.Error, "status %d", i)
					require.Equal(t, want.Error.Code, got.Error.Code, "status %d", i)
					require.Equal(t, want.Error.Retryable, got.Error.Retryable, "status %d", i)
					require.Equal(t, want.Error.RetryAfter, got.Error.RetryAfter, "status %d", i)
					require.Zero(t, got.Error.HTTPStatus, "a webhook error had no HTTP answer")
					require.NotEmpty(t, got.Error.Reason)
					got.Error, want.Error = nil, nil
				}
				require.Equal(t, want, got, "status %d", i)
			}

			require.Len(t, in.Events, len(tc.wantEvents))
			for i, want := range tc.wantEvents {
				got := in.Events[i]
				require.Equal(t, want.kind, got.Kind, "event %d", i)
				require.Equal(t, want.at, got.Timestamp, "event %d", i)
				for k, v := range want.data {
					require.Equal(t, v, got.Data[k], "event %d (%s) data %q", i, got.Kind, k)
				}
			}
		})
	}
}

func TestParseFailedReasonIsReadable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		code int
		want []string
	}{
		{"HealthyEcosystem", 131049, []string{"healthy ecosystem", "24 hours"}},
		{"Undeliverable", 131026, []string{"another channel"}},
		{"Payment", 131042, []string{"stop all paid sends"}},
		{"Experiment", 130472, []string{"do not retry"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			payload := whatsapptest.StatusPayload(whatsapptest.Status{WABAID: testWABA, PhoneNumberID: testPNID,
				MessageID: "wamid.X", Status: "failed", Recipient: "5511987654321", At: unix(1750031000), ErrorCode: tc.code})
			in, err := deliver(t, New(Config{AppSecret: testSecret}), payload)
			require.NoError(t, err)
			require.Len(t, in.Statuses, 1)
			require.NotNil(t, in.Statuses[0].Error)
			for _, w := range tc.want {
				require.Contains(t, strings.ToLower(in.Statuses[0].Error.Reason), strings.ToLower(w))
			}
		})
	}
}

func TestPayloadBuilders(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload []byte
		check   func(t *testing.T, in provider.Inbound)
	}{
		{
			name: "InboundText",
			payload: whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: testWABA, PhoneNumberID: testPNID,
				From: "5511987654321", Name: "Ana", ID: "wamid.T1", Text: "Olá 😀", At: unix(1750030000)}),
			check: func(t *testing.T, in provider.Inbound) {
				require.Equal(t, []provider.InboundMessage{{ID: "wamid.T1", From: "+5511987654321", FromName: "Ana", To: testPNID,
					Timestamp: unix(1750030000), Kind: "text", Text: "Olá 😀"}}, in.Messages)
			},
		},
		{
			name: "InboundTextByUserID",
			payload: whatsapptest.InboundTextPayload(whatsapptest.Inbound{WABAID: testWABA, PhoneNumberID: testPNID,
				UserID: "BR.1234567", Name: "Ana", Text: "oi", At: unix(1750030000)}),
			check: func(t *testing.T, in provider.Inbound) {
				require.Len(t, in.Messages, 1)
				require.Equal(t, "BR.1234567", in.Messages[0].From)
				require.True(t, strings.HasPrefix(in.Messages[0].ID, "wamid."))
			},
		},
		{
			name: "StatusSent",
			payload: whatsapptest.StatusPayload(whatsapptest.Status{WABAID: testWABA, PhoneNumberID: testPNID,
				MessageID: "wamid.S1", Status: "sent", Recipient: "5511987654321", At: unix(1750030001)}),
			check: func(t *testing.T, in provider.Inbound) {
				require.Equal(t, []provider.StatusUpdate{{MessageID: "wamid.S1", Status: provider.StatusSent,
					Timestamp: unix(1750030001), Recipient: "+5511987654321"}}, in.Statuses)
				require.Len(t, in.Events, 1)
				require.Equal(t, EventPricing, in.Events[0].Kind)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, err := deliver(t, New(Config{AppSecret: testSecret}), tc.payload)
			require.NoError(t, err)
			tc.check(t, in)
		})
	}
}

func TestVerifyHandshake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		configured    string
		query         string
		wantChallenge string
		wantOK        bool
	}{
		{"Valid", testVerify, "hub.mode=subscribe&hub.verify_token=verify-me&hub.challenge=1158201444", "1158201444", true},
		{"WrongToken", testVerify, "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1", "", false},
		{"TokenPrefix", testVerify, "hub.mode=subscribe&hub.verify_token=verify&hub.challenge=1", "", false},
		{"WrongMode", testVerify, "hub.mode=unsubscribe&hub.verify_token=verify-me&hub.challenge=1", "", false},
		{"MissingChallenge", testVerify, "hub.mode=subscribe&hub.verify_token=verify-me", "", false},
		{"NothingConfigured", "", "hub.mode=subscribe&hub.verify_token=&hub.challenge=1", "", false},
		{"Empty", testVerify, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q, err := url.ParseQuery(tc.query)
			require.NoError(t, err)
			challenge, ok := New(Config{VerifyToken: tc.configured}).VerifyHandshake(q)
			require.Equal(t, tc.wantOK, ok)
			require.Equal(t, tc.wantChallenge, challenge)
		})
	}
}

func TestEscapeNonASCIIMatchesFake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"ASCII", `{"a":"b"}`, `{"a":"b"}`},
		{"Latin", `"Olá"`, `"Ol\u00e1"`},
		{"Emoji", `"👋"`, `"\ud83d\udc4b"`},
		{"InvalidUTF8Kept", "\"\xff\"", "\"\xff\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tc.want, string(escapeNonASCII([]byte(tc.in))))
			require.Equal(t, tc.want, string(whatsapptest.EscapeNonASCII([]byte(tc.in))))
		})
	}
}
