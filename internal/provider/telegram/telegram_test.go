package telegram_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/telegram"
	"github.com/conversa-hq/conversa/internal/provider/telegram/telegramtest"
)

const (
	botToken = "123456:AAH-test_token"
	secret   = "webhook-s3cret"
)

func newClient(t *testing.T) (*telegram.Client, *telegramtest.Server) {
	t.Helper()
	srv := telegramtest.NewServer(t, botToken)
	c, err := telegram.New(telegram.Config{BaseURL: srv.URL(), BotToken: botToken, SecretToken: secret})
	require.NoError(t, err)
	return c, srv
}

func num(s string) json.Number { return json.Number(s) }

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     telegram.Config
		wantErr string
	}{
		{"Defaults", telegram.Config{BotToken: botToken}, ""},
		{"NoToken", telegram.Config{}, "BotToken is required"},
		{"RelativeBaseURL", telegram.Config{BotToken: botToken, BaseURL: "api.telegram.org"}, "not an absolute http(s) URL"},
		{"BadScheme", telegram.Config{BotToken: botToken, BaseURL: "ftp://api.telegram.org"}, "not an absolute http(s) URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := telegram.New(tc.cfg)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, c)
		})
	}
}

func TestSend(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		msg        provider.Message
		wantMethod string
		wantParams map[string]any
		wantID     string
	}{
		{
			name:       "Text",
			msg:        provider.Message{To: "42", Kind: provider.KindText, Text: "Olá, ação!"},
			wantMethod: "sendMessage",
			wantParams: map[string]any{"chat_id": num("42"), "text": "Olá, ação!"},
			wantID:     "42:1",
		},
		{
			name:       "ReplySameChat",
			msg:        provider.Message{To: "42", Kind: provider.KindText, Text: "yes", ReplyTo: "42:7"},
			wantMethod: "sendMessage",
			wantParams: map[string]any{"chat_id": num("42"), "text": "yes",
				"reply_parameters": map[string]any{"message_id": num("7")}},
			wantID: "42:1",
		},
		{
			name:       "ReplyBareMessageID",
			msg:        provider.Message{To: "42", Kind: provider.KindText, Text: "yes", ReplyTo: "7"},
			wantMethod: "sendMessage",
			wantParams: map[string]any{"chat_id": num("42"), "text": "yes",
				"reply_parameters": map[string]any{"message_id": num("7")}},
			wantID: "42:1",
		},
		{
			name:       "ReplyOtherChat",
			msg:        provider.Message{To: "42", Kind: provider.KindText, Text: "yes", ReplyTo: "-100555:9"},
			wantMethod: "sendMessage",
			wantParams: map[string]any{"chat_id": num("42"), "text": "yes",
				"reply_parameters": map[string]any{"message_id": num("9"), "chat_id": num("-100555")}},
			wantID: "42:1",
		},
		{
			name:       "ChannelUsername",
			msg:        provider.Message{To: "@news", Kind: provider.KindText, Text: "hi"},
			wantMethod: "sendMessage",
			wantParams: map[string]any{"chat_id": "@news", "text": "hi"},
			wantID:     "-1001000000001:1",
		},
		{
			name: "TemplateRendered",
			msg: provider.Message{To: "42", Kind: provider.KindTemplate, Text: "Your code is 123",
				Template: &provider.Template{Name: "otp", Language: "en"}},
			wantMethod: "sendMessage",
			wantParams: map[string]any{"chat_id": num("42"), "text": "Your code is 123"},
			wantID:     "42:1",
		},
		{
			name: "Photo",
			msg: provider.Message{To: "42", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Image, URL: "https://x.test/a.jpg", Caption: "look"}},
			wantMethod: "sendPhoto",
			wantParams: map[string]any{"chat_id": num("42"), "photo": "https://x.test/a.jpg", "caption": "look"},
			wantID:     "42:1",
		},
		{
			name: "Audio",
			msg: provider.Message{To: "42", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Audio, URL: "https://x.test/a.mp3"}},
			wantMethod: "sendAudio",
			wantParams: map[string]any{"chat_id": num("42"), "audio": "https://x.test/a.mp3"},
			wantID:     "42:1",
		},
		{
			name: "VideoWithReply",
			msg: provider.Message{To: "42", Kind: provider.KindMedia, ReplyTo: "42:3",
				Media: &provider.Media{Kind: provider.Video, URL: "https://x.test/a.mp4", Caption: "clip"}},
			wantMethod: "sendVideo",
			wantParams: map[string]any{"chat_id": num("42"), "video": "https://x.test/a.mp4", "caption": "clip",
				"reply_parameters": map[string]any{"message_id": num("3")}},
			wantID: "42:1",
		},
		{
			name: "Document",
			msg: provider.Message{To: "42", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Document, URL: "https://x.test/a.pdf", Caption: "invoice", Filename: "a.pdf"}},
			wantMethod: "sendDocument",
			wantParams: map[string]any{"chat_id": num("42"), "document": "https://x.test/a.pdf", "caption": "invoice"},
			wantID:     "42:1",
		},
		{
			name: "StickerDropsCaption",
			msg: provider.Message{To: "42", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Sticker, URL: "https://x.test/s.webp", Caption: "ignored"}},
			wantMethod: "sendSticker",
			wantParams: map[string]any{"chat_id": num("42"), "sticker": "https://x.test/s.webp"},
			wantID:     "42:1",
		},
		{
			name: "ContactOnePhone",
			msg: provider.Message{To: "42", Kind: provider.KindContact,
				Contact: &provider.ContactCard{Name: "Ana Souza", Phones: []string{"+5511987654321"}}},
			wantMethod: "sendContact",
			wantParams: map[string]any{"chat_id": num("42"), "phone_number": "+5511987654321", "first_name": "Ana Souza"},
			wantID:     "42:1",
		},
		{
			name: "ContactWithVCard",
			msg: provider.Message{To: "42", Kind: provider.KindContact,
				Contact: &provider.ContactCard{Name: "Souza; Ana", Phones: []string{"+5511987654321", "+551134567890"},
					Emails: []string{"ana@x.test"}}},
			wantMethod: "sendContact",
			wantParams: map[string]any{"chat_id": num("42"), "phone_number": "+5511987654321", "first_name": "Souza; Ana",
				"vcard": "BEGIN:VCARD\r\nVERSION:3.0\r\nN:;Souza\\; Ana;;;\r\nFN:Souza\\; Ana\r\n" +
					"TEL;TYPE=CELL:+5511987654321\r\nTEL;TYPE=CELL:+551134567890\r\nEMAIL:ana@x.test\r\nEND:VCARD"},
			wantID: "42:1",
		},
		{
			name: "ContactWithoutName",
			msg: provider.Message{To: "42", Kind: provider.KindContact,
				Contact: &provider.ContactCard{Phones: []string{"+5511987654321"}}},
			wantMethod: "sendContact",
			wantParams: map[string]any{"chat_id": num("42"), "phone_number": "+5511987654321", "first_name": "+5511987654321"},
			wantID:     "42:1",
		},
		{
			name:       "Reaction",
			msg:        provider.Message{To: "42", Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "42:7", Emoji: "👍"}},
			wantMethod: "setMessageReaction",
			wantParams: map[string]any{"chat_id": num("42"), "message_id": num("7"),
				"reaction": []any{map[string]any{"type": "emoji", "emoji": "👍"}}},
			wantID: "42:7",
		},
		{
			name:       "ReactionRemovedWithoutTo",
			msg:        provider.Message{Kind: provider.KindReaction, Reaction: &provider.Reaction{MessageID: "-100555:9"}},
			wantMethod: "setMessageReaction",
			wantParams: map[string]any{"chat_id": num("-100555"), "message_id": num("9"), "reaction": []any{}},
			wantID:     "-100555:9",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := newClient(t)
			sent, err := c.Send(context.Background(), tc.msg)
			require.NoError(t, err)
			require.Equal(t, tc.wantID, sent.ID)
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			require.Equal(t, tc.wantMethod, reqs[0].Method)
			require.Equal(t, "application/json", reqs[0].ContentType)
			require.Equal(t, tc.wantParams, reqs[0].Params)
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
		{"NoRecipient", provider.Message{Kind: provider.KindText, Text: "hi"}, telegram.CodeInvalidMessage, "no recipient"},
		{"EmptyText", provider.Message{To: "42", Kind: provider.KindText}, telegram.CodeInvalidMessage, "no text"},
		{"TemplateWithoutText", provider.Message{To: "42", Kind: provider.KindTemplate,
			Template: &provider.Template{Name: "otp"}}, telegram.CodeUnsupported, "no message templates"},
		{"UnknownKind", provider.Message{To: "42", Kind: "poll"}, telegram.CodeUnsupported, `"poll"`},
		{"MediaWithoutLink", provider.Message{To: "42", Kind: provider.KindMedia,
			Media: &provider.Media{Kind: provider.Image}}, telegram.CodeInvalidMessage, "no media link"},
		{"MediaNil", provider.Message{To: "42", Kind: provider.KindMedia}, telegram.CodeInvalidMessage, "no media link"},
		{"UnknownMediaKind", provider.Message{To: "42", Kind: provider.KindMedia,
			Media: &provider.Media{Kind: "hologram", URL: "https://x.test/h"}}, telegram.CodeUnsupported, `"hologram"`},
		{"ContactWithoutPhone", provider.Message{To: "42", Kind: provider.KindContact,
			Contact: &provider.ContactCard{Name: "Ana"}}, telegram.CodeInvalidMessage, "no phone"},
		{"BadReplyTo", provider.Message{To: "42", Kind: provider.KindText, Text: "hi", ReplyTo: "42:abc"},
			telegram.CodeInvalidMessage, "reply-to id"},
		{"ReactionWithoutID", provider.Message{To: "42", Kind: provider.KindReaction,
			Reaction: &provider.Reaction{Emoji: "👍"}}, telegram.CodeInvalidMessage, "no message id"},
		{"ReactionBareIDWithoutTo", provider.Message{Kind: provider.KindReaction,
			Reaction: &provider.Reaction{MessageID: "7", Emoji: "👍"}}, telegram.CodeInvalidMessage, "needs Message.To"},
		{"ReactionOtherChat", provider.Message{To: "42", Kind: provider.KindReaction,
			Reaction: &provider.Reaction{MessageID: "43:7", Emoji: "👍"}}, telegram.CodeInvalidMessage, "own chat"},
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
			require.Empty(t, srv.Requests(), "nothing may reach Telegram")
		})
	}
}

func TestSendAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name           string
		failure        telegramtest.Failure
		wantCode       string
		wantRetryable  bool
		wantRetryAfter time.Duration
		wantReason     string
	}{
		{"Blocked", telegramtest.Failure{ErrorCode: 403, Description: "Forbidden: bot was blocked by the user"},
			"403", false, 0, "bot was blocked by the user"},
		{"BadRequest", telegramtest.Failure{ErrorCode: 400, Description: "Bad Request: chat not found"},
			"400", false, 0, "chat not found"},
		{"Unauthorized", telegramtest.Failure{ErrorCode: 401, Description: "Unauthorized"},
			"401", false, 0, "Unauthorized"},
		{"TooManyRequests", telegramtest.Failure{ErrorCode: 429, Description: "Too Many Requests: retry after 7", RetryAfter: 7},
			"429", true, 7 * time.Second, "retry after 7"},
		{"TooManyRequestsNoParameters", telegramtest.Failure{ErrorCode: 429, Description: "Too Many Requests"},
			"429", true, 0, "Too Many Requests"},
		{"ServerError", telegramtest.Failure{ErrorCode: 500, Description: "Internal Server Error"},
			"500", true, 0, "Internal Server Error"},
		{"BadGateway", telegramtest.Failure{ErrorCode: 502, Description: "Bad Gateway"},
			"502", true, 0, "Bad Gateway"},
		{"GroupMigrated", telegramtest.Failure{ErrorCode: 400, Description: "Bad Request: group chat was upgraded to a supergroup chat",
			MigrateToChatID: -1009876}, "400", false, 0, "supergroup -1009876"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := newClient(t)
			srv.FailNext(tc.failure)
			_, err := c.Send(context.Background(), provider.Message{To: "42", Kind: provider.KindText, Text: "hi"})
			var pe *provider.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.wantCode, pe.Code)
			require.Equal(t, tc.wantRetryable, pe.Retryable)
			require.Equal(t, tc.wantRetryAfter, pe.RetryAfter)
			require.Equal(t, tc.failure.ErrorCode, pe.HTTPStatus)
			require.Contains(t, pe.Reason, tc.wantReason)
			require.ErrorContains(t, err, "telegram sendMessage")
		})
	}
}

func TestSendWrongToken(t *testing.T) {
	t.Parallel()
	srv := telegramtest.NewServer(t, botToken)
	c, err := telegram.New(telegram.Config{BaseURL: srv.URL(), BotToken: "999:other"})
	require.NoError(t, err)
	_, err = c.Send(context.Background(), provider.Message{To: "42", Kind: provider.KindText, Text: "hi"})
	var pe *provider.Error
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "401", pe.Code)
	require.False(t, pe.Retryable)
}

func TestSendNonAPIAnswers(t *testing.T) {
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
		{"ProxyForbidden", http.StatusForbidden, "denied", true, "403", false},
		{"GarbageOK", http.StatusOK, "not json", false, "", false},
		{"OKWithoutMessageID", http.StatusOK, `{"ok":true,"result":{}}`, false, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, err := telegram.New(telegram.Config{BaseURL: srv.URL, BotToken: botToken})
			require.NoError(t, err)
			_, err = c.Send(context.Background(), provider.Message{To: "42", Kind: provider.KindText, Text: "hi"})
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

func TestSendTransportErrorHidesToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		ctx  func() context.Context
	}{
		{"ServerDown", context.Background},
		{"Canceled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, srv := newClient(t)
			srv.Close()
			_, err := c.Send(tc.ctx(), provider.Message{To: "42", Kind: provider.KindText, Text: "hi"})
			require.Error(t, err)
			var pe *provider.Error
			require.False(t, errors.As(err, &pe), "a transport failure is not a provider refusal")
			require.NotContains(t, err.Error(), botToken)
			require.NotContains(t, err.Error(), "AAH-test_token")
			require.Contains(t, err.Error(), "<token>")
		})
	}
}

func TestParseMessageID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id       string
		wantChat string
		wantMsg  int64
		wantErr  bool
	}{
		{"42:7", "42", 7, false},
		{"-1001234567890:15", "-1001234567890", 15, false},
		{"@news:3", "@news", 3, false},
		{"42", "", 0, true},
		{":7", "", 0, true},
		{"42:", "", 0, true},
		{"42:x", "", 0, true},
		{"42:0", "", 0, true},
		{"42:-1", "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			t.Parallel()
			chat, msg, err := telegram.ParseMessageID(tc.id)
			if tc.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.wantChat, chat)
			require.Equal(t, tc.wantMsg, msg)
			require.Equal(t, tc.id, telegram.MessageID(chat, msg))
		})
	}
}

func TestFileID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url    string
		wantID string
		wantOK bool
	}{
		{"tgfile:AgACAgQ", "AgACAgQ", true},
		{"tgfile:", "", false},
		{"https://x.test/a.jpg", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			id, ok := telegram.FileID(tc.url)
			require.Equal(t, tc.wantOK, ok)
			if ok {
				require.Equal(t, tc.wantID, id)
			}
		})
	}
}

// A base URL with a trailing slash must not produce a double slash the server rejects.
func TestBaseURLTrailingSlash(t *testing.T) {
	t.Parallel()
	srv := telegramtest.NewServer(t, botToken)
	c, err := telegram.New(telegram.Config{BaseURL: srv.URL() + "/", BotToken: botToken})
	require.NoError(t, err)
	sent, err := c.Send(context.Background(), provider.Message{To: "42", Kind: provider.KindText, Text: "hi"})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(sent.ID, "42:"))
}
