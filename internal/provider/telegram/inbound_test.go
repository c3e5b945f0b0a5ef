package telegram_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/telegram"
)

func webhookRequest(body string, secretHeader *string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/webhooks/telegram", bytes.NewBufferString(body))
	r.Header.Set("Content-Type", "application/json")
	if secretHeader != nil {
		r.Header.Set(telegram.SecretHeader, *secretHeader)
	}
	return r
}

func ptr(s string) *string { return &s }

var date = time.Unix(1767225600, 0).UTC() // 2026-01-01T00:00:00Z

func TestParseSignature(t *testing.T) {
	t.Parallel()
	body := `{"update_id":1,"message":{"message_id":5,"chat":{"id":42,"type":"private"},"date":1767225600,"text":"hi"}}`
	tests := []struct {
		name       string
		configured string
		header     *string
		wantBad    bool
	}{
		{"Matches", secret, ptr(secret), false},
		{"Missing", secret, nil, true},
		{"Empty", secret, ptr(""), true},
		{"Wrong", secret, ptr("webhook-s3creT"), true},
		{"Prefix", secret, ptr(secret[:5]), true},
		{"Longer", secret, ptr(secret + "x"), true},
		{"NothingConfigured", "", ptr(""), true},
		{"NothingConfiguredAnyHeader", "", ptr("anything"), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := telegram.New(telegram.Config{BotToken: botToken, SecretToken: tc.configured})
			require.NoError(t, err)
			in, err := c.Parse(webhookRequest(body, tc.header), []byte(body))
			if tc.wantBad {
				require.ErrorIs(t, err, provider.ErrBadSignature)
				require.Empty(t, in.Messages)
				return
			}
			require.NoError(t, err)
			require.Len(t, in.Messages, 1)
		})
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	from := `"from":{"id":42,"is_bot":false,"first_name":"Ana","last_name":"Souza","username":"anas"}`
	chat := `"chat":{"id":42,"type":"private","first_name":"Ana"}`
	base := provider.InboundMessage{ID: "42:5", From: "42", FromName: "Ana Souza", To: "123456", Timestamp: date}
	with := func(f func(m *provider.InboundMessage)) provider.InboundMessage {
		m := base
		f(&m)
		return m
	}
	msg := func(fields string) string {
		return `{"update_id":900,"message":{"message_id":5,` + from + `,` + chat + `,"date":1767225600,` + fields + `}}`
	}
	tests := []struct {
		name string
		body string
		want provider.Inbound
	}{
		{
			name: "Text",
			body: msg(`"text":"Olá"`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind, m.Text = "text", "Olá"
			})}},
		},
		{
			name: "TextReply",
			body: msg(`"text":"yes","reply_to_message":{"message_id":3,` + chat + `,"date":1767225500,"text":"q?"}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind, m.Text, m.ReplyTo = "text", "yes", "42:3"
			})}},
		},
		{
			name: "PhotoLargestSize",
			body: msg(`"caption":"look","photo":[` +
				`{"file_id":"small","file_unique_id":"a","width":90,"height":60,"file_size":1000},` +
				`{"file_id":"large","file_unique_id":"c","width":1280,"height":853,"file_size":90000},` +
				`{"file_id":"medium","file_unique_id":"b","width":320,"height":213,"file_size":9000}]`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind, m.Text = "image", "look"
				m.Media = &provider.Media{Kind: provider.Image, URL: "tgfile:large", Caption: "look"}
			})}},
		},
		{
			name: "Audio",
			body: msg(`"audio":{"file_id":"aud","file_unique_id":"u","duration":3,"file_name":"song.mp3","mime_type":"audio/mpeg"}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind = "audio"
				m.Media = &provider.Media{Kind: provider.Audio, URL: "tgfile:aud", Filename: "song.mp3"}
			})}},
		},
		{
			name: "Voice",
			body: msg(`"voice":{"file_id":"voi","file_unique_id":"u","duration":3,"mime_type":"audio/ogg"}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind = "audio"
				m.Media = &provider.Media{Kind: provider.Audio, URL: "tgfile:voi"}
			})}},
		},
		{
			name: "Video",
			body: msg(`"caption":"clip","video":{"file_id":"vid","file_unique_id":"u","width":1,"height":1,"duration":3}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind, m.Text = "video", "clip"
				m.Media = &provider.Media{Kind: provider.Video, URL: "tgfile:vid", Caption: "clip"}
			})}},
		},
		{
			name: "AnimationBeforeDocument",
			body: msg(`"animation":{"file_id":"gif","file_unique_id":"u","file_name":"a.mp4"},` +
				`"document":{"file_id":"gif","file_unique_id":"u","file_name":"a.mp4"}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind = "video"
				m.Media = &provider.Media{Kind: provider.Video, URL: "tgfile:gif", Filename: "a.mp4"}
			})}},
		},
		{
			name: "Document",
			body: msg(`"caption":"invoice","document":{"file_id":"doc","file_unique_id":"u","file_name":"nota fiscal.pdf","mime_type":"application/pdf"}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind, m.Text = "document", "invoice"
				m.Media = &provider.Media{Kind: provider.Document, URL: "tgfile:doc", Caption: "invoice", Filename: "nota fiscal.pdf"}
			})}},
		},
		{
			name: "Sticker",
			body: msg(`"sticker":{"file_id":"stk","file_unique_id":"u","type":"regular","width":512,"height":512,"is_animated":false,"is_video":false,"emoji":"😀"}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind = "sticker"
				m.Media = &provider.Media{Kind: provider.Sticker, URL: "tgfile:stk"}
			})}},
		},
		{
			name: "Contact",
			body: msg(`"contact":{"phone_number":"+5511987654321","first_name":"Bruno","last_name":"Lima","user_id":77}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind, m.Text = "contacts", "Bruno Lima +5511987654321"
			})}},
		},
		{
			name: "Location",
			body: msg(`"location":{"latitude":-23.55052,"longitude":-46.633308}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind, m.Text = "location", "geo:-23.55052,-46.633308"
			})}},
		},
		{
			name: "Unsupported",
			body: msg(`"dice":{"emoji":"🎲","value":4}`),
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind = "unsupported"
			})}},
		},
		{
			name: "UsernameOnly",
			body: `{"update_id":900,"message":{"message_id":5,"from":{"id":42,"is_bot":false,"first_name":"","username":"anas"},` +
				chat + `,"date":1767225600,"text":"hi"}}`,
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.Kind, m.Text, m.FromName = "text", "hi", "@anas"
			})}},
		},
		{
			name: "GroupMessage",
			body: `{"update_id":900,"message":{"message_id":5,` + from + `,"chat":{"id":-1009,"type":"supergroup","title":"Team"},` +
				`"date":1767225600,"text":"hi all"}}`,
			want: provider.Inbound{Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
				m.ID, m.From, m.Kind, m.Text = "-1009:5", "-1009", "text", "hi all"
			})}},
		},
		{
			name: "Edited",
			body: `{"update_id":901,"edited_message":{"message_id":5,` + from + `,` + chat +
				`,"date":1767225600,"edit_date":1767225660,"text":"Olá!"}}`,
			want: provider.Inbound{
				Messages: []provider.InboundMessage{with(func(m *provider.InboundMessage) {
					m.Kind, m.Text = "text", "Olá!"
				})},
				Events: []provider.Event{{Kind: telegram.EventEdited, Timestamp: date.Add(time.Minute),
					Data: map[string]string{"message_id": "42:5", "chat_id": "42"}}},
			},
		},
		{
			name: "Reaction",
			body: `{"update_id":902,"message_reaction":{` + chat + `,"message_id":5,"user":{"id":42,"is_bot":false,"first_name":"Ana"},` +
				`"date":1767225600,"old_reaction":[],"new_reaction":[{"type":"custom_emoji","custom_emoji_id":"99"},{"type":"emoji","emoji":"❤"}]}}`,
			want: provider.Inbound{Messages: []provider.InboundMessage{{
				ID: "42:5:reaction:902", From: "42", FromName: "Ana", To: "123456", Timestamp: date,
				Kind: "reaction", Text: "❤", ReplyTo: "42:5",
			}}},
		},
		{
			name: "ReactionRemoved",
			body: `{"update_id":903,"message_reaction":{` + chat + `,"message_id":5,"user":{"id":42,"is_bot":false,"first_name":"Ana"},` +
				`"date":1767225600,"old_reaction":[{"type":"emoji","emoji":"❤"}],"new_reaction":[]}}`,
			want: provider.Inbound{Messages: []provider.InboundMessage{{
				ID: "42:5:reaction:903", From: "42", FromName: "Ana", To: "123456", Timestamp: date,
				Kind: "reaction", ReplyTo: "42:5",
			}}},
		},
		{
			name: "AnonymousReactionInChannel",
			body: `{"update_id":904,"message_reaction":{"chat":{"id":-1007,"type":"channel","title":"News"},"message_id":8,` +
				`"actor_chat":{"id":-1007,"type":"channel","title":"News"},"date":1767225600,"old_reaction":[],"new_reaction":[{"type":"emoji","emoji":"👍"}]}}`,
			want: provider.Inbound{Messages: []provider.InboundMessage{{
				ID: "-1007:8:reaction:904", From: "-1007", FromName: "News", To: "123456", Timestamp: date,
				Kind: "reaction", Text: "👍", ReplyTo: "-1007:8",
			}}},
		},
		{
			name: "CallbackQueryIgnored",
			body: `{"update_id":905,"callback_query":{"id":"1","from":{"id":42,"is_bot":false,"first_name":"Ana"},"data":"x"}}`,
			want: provider.Inbound{},
		},
		{
			name: "ChannelPostIgnored",
			body: `{"update_id":906,"channel_post":{"message_id":1,"chat":{"id":-1007,"type":"channel"},"date":1767225600,"text":"x"}}`,
			want: provider.Inbound{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := telegram.New(telegram.Config{BotToken: botToken, SecretToken: secret})
			require.NoError(t, err)
			in, err := c.Parse(webhookRequest(tc.body, ptr(secret)), []byte(tc.body))
			require.NoError(t, err)
			require.Equal(t, tc.want, in)
		})
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
	}{
		{"NotJSON", "update_id=1"},
		{"Truncated", `{"update_id":1,"message":{`},
		{"WrongType", `{"update_id":"one"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := telegram.New(telegram.Config{BotToken: botToken, SecretToken: secret})
			require.NoError(t, err)
			_, err = c.Parse(webhookRequest(tc.body, ptr(secret)), []byte(tc.body))
			require.ErrorContains(t, err, "telegram: decode update")
			require.NotErrorIs(t, err, provider.ErrBadSignature)
		})
	}
}
