// Package telegram is the provider adapter for the Telegram Bot API: it sends messages as a
// bot (sendMessage, sendPhoto and the other media methods, sendContact, setMessageReaction)
// and reads the Updates Telegram POSTs to the bot's webhook.
//
// Telegram message ids are only unique within a chat, so every message id this package hands
// out or accepts is "<chat_id>:<message_id>" (see MessageID and ParseMessageID). Telegram has
// no delivery or read receipts for bots, no templates and no 24-hour window: a message counts
// as sent when the Bot API answers ok, and Parse never yields status updates.
package telegram

import (
	"bytes"
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

	"github.com/conversa-hq/conversa/internal/provider"
)

// DefaultBaseURL is the Bot API root used when Config.BaseURL is empty.
const DefaultBaseURL = "https://api.telegram.org"

// Codes of the *provider.Error values this package builds itself, before or instead of asking
// Telegram; errors Telegram returns carry its numeric error_code as text instead.
const (
	// CodeInvalidMessage means the message cannot be sent as given (no recipient, no text, a
	// malformed message id): fix the message, retrying cannot help.
	CodeInvalidMessage = "invalid_message"
	// CodeUnsupported means the message kind has no Telegram equivalent (a template without
	// rendered text, an unknown kind): not retryable.
	CodeUnsupported = "unsupported"
)

// maxResponse bounds how much of a Bot API answer is read; real answers are a few KiB.
const maxResponse = 1 << 20

// Config configures a Client.
type Config struct {
	// BaseURL is the Bot API root, DefaultBaseURL when empty; tests point it at telegramtest,
	// deployments may point it at a self-hosted Bot API server.
	BaseURL string
	// BotToken is the token BotFather issued ("123456789:AA..."). Required. It travels in the
	// request path, so the errors this package returns never contain it. Its numeric prefix,
	// the bot's user id, becomes InboundMessage.To.
	BotToken string
	// SecretToken is the secret_token given to setWebhook, which Telegram echoes in the
	// X-Telegram-Bot-Api-Secret-Token header. When empty, Parse refuses every delivery
	// (fail closed) rather than accept unauthenticated ones.
	SecretToken string
	// HTTPClient sends the requests; a client with a 30-second timeout when nil.
	HTTPClient *http.Client
}

// Client sends through the Telegram Bot API and parses its webhook deliveries. It implements
// provider.Sender and provider.InboundParser and is safe for concurrent use.
type Client struct {
	base   string
	token  string
	botID  string
	secret string
	http   *http.Client
}

var (
	_ provider.Sender        = (*Client)(nil)
	_ provider.InboundParser = (*Client)(nil)
)

// New returns a Client for cfg. It fails when the bot token is missing or the base URL is not
// an absolute http(s) URL; it makes no network call.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.BotToken) == "" {
		return nil, errors.New("telegram: config: BotToken is required")
	}
	base := strings.TrimRight(cfg.BaseURL, "/")
	if base == "" {
		base = DefaultBaseURL
	}
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("telegram: config: BaseURL: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("telegram: config: BaseURL %q is not an absolute http(s) URL", base)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	botID, _, _ := strings.Cut(cfg.BotToken, ":")
	return &Client{base: base, token: cfg.BotToken, botID: botID, secret: cfg.SecretToken, http: hc}, nil
}

// Send sends m through the Bot API method that fits its kind:
//   - text: sendMessage (plain text, no parse_mode, so nothing needs escaping);
//   - template: sendMessage with m.Text, the rendered template, since Telegram has no
//     templates; without Text it fails with CodeUnsupported;
//   - media: sendPhoto, sendAudio, sendVideo, sendDocument or sendSticker with the public
//     link and the caption (stickers take no caption, and Telegram only accepts .webp stickers
//     by link; documents by link keep the link's own file name);
//   - contact: sendContact with the first phone, plus a vCard when there are more phones or
//     e-mails;
//   - reaction: setMessageReaction (an empty emoji removes the bot's reaction).
//
// m.To is a chat id ("123456789", "-1001234567890") or a channel's "@username". m.ReplyTo
// and Reaction.MessageID are ids as this package returns them ("<chat_id>:<message_id>"); a
// bare message id means a message in m.To.
//
// Sent.ID is "<chat_id>:<message_id>" of the new message. setMessageReaction creates no
// message, so for a reaction Sent.ID is the id of the message reacted to, which is also what
// Telegram's message_reaction updates refer to.
//
// Errors: a *provider.Error (wrapped) for anything Telegram refused, with Code the Bot API
// error_code, Retryable for 429 (RetryAfter from parameters.retry_after) and 5xx; for
// messages that cannot be sent as given, Code is CodeInvalidMessage or CodeUnsupported and
// nothing is sent. Other errors are transport failures, worth retrying.
func (c *Client) Send(ctx context.Context, m provider.Message) (provider.Sent, error) {
	req, err := buildRequest(m)
	if err != nil {
		return provider.Sent{}, fmt.Errorf("telegram: %w", err)
	}
	raw, err := c.call(ctx, req.method, req.params)
	if err != nil {
		return provider.Sent{}, err
	}
	if req.reactionTo != "" {
		return provider.Sent{ID: req.reactionTo}, nil
	}
	var msg struct {
		MessageID int64 `json:"message_id"`
		Chat      struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	}
	if err := json.Unmarshal(raw, &msg); err != nil {
		return provider.Sent{}, fmt.Errorf("telegram %s: decode result: %w", req.method, err)
	}
	if msg.MessageID == 0 {
		return provider.Sent{}, fmt.Errorf("telegram %s: result carries no message_id", req.method)
	}
	return provider.Sent{ID: MessageID(strconv.FormatInt(msg.Chat.ID, 10), msg.MessageID)}, nil
}

// apiRequest is one Bot API call built from a provider.Message.
type apiRequest struct {
	method string
	params map[string]any
	// reactionTo is the reacted message's id, set for setMessageReaction, which returns no
	// message of its own.
	reactionTo string
}

func invalid(format string, args ...any) *provider.Error {
	return &provider.Error{Code: CodeInvalidMessage, Reason: fmt.Sprintf(format, args...)}
}

// mediaMethods maps a media kind to its Bot API method and the parameter carrying the file.
var mediaMethods = map[provider.MediaKind]struct{ method, field string }{
	provider.Image:    {"sendPhoto", "photo"},
	provider.Audio:    {"sendAudio", "audio"},
	provider.Video:    {"sendVideo", "video"},
	provider.Document: {"sendDocument", "document"},
	provider.Sticker:  {"sendSticker", "sticker"},
}

func buildRequest(m provider.Message) (apiRequest, error) {
	to := strings.TrimSpace(m.To)
	if m.Kind == provider.KindReaction {
		return buildReaction(to, m.Reaction)
	}
	if to == "" {
		return apiRequest{}, invalid("message has no recipient chat id (Message.To)")
	}
	params := map[string]any{"chat_id": chatIDParam(to)}
	if m.ReplyTo != "" {
		chat, msgID, err := resolveMessageID(m.ReplyTo, to)
		if err != nil {
			return apiRequest{}, invalid("reply-to id: %v", err)
		}
		rp := map[string]any{"message_id": msgID}
		if chat != to {
			// A reply to a message in another chat (Bot API 7.0 reply_parameters.chat_id).
			rp["chat_id"] = chatIDParam(chat)
		}
		params["reply_parameters"] = rp
	}
	switch m.Kind {
	case provider.KindText:
		if m.Text == "" {
			return apiRequest{}, invalid("text message has no text")
		}
		params["text"] = m.Text
		return apiRequest{method: "sendMessage", params: params}, nil
	case provider.KindTemplate:
		if m.Text == "" {
			return apiRequest{}, &provider.Error{Code: CodeUnsupported, Reason: "Telegram has no message templates: " +
				"render the template into Message.Text to send it as plain text"}
		}
		params["text"] = m.Text
		return apiRequest{method: "sendMessage", params: params}, nil
	case provider.KindMedia:
		return buildMedia(params, m.Media)
	case provider.KindContact:
		return buildContact(params, m.Contact)
	default:
		return apiRequest{}, &provider.Error{Code: CodeUnsupported,
			Reason: fmt.Sprintf("message kind %q is not supported by the Telegram adapter", m.Kind)}
	}
}

func buildMedia(params map[string]any, media *provider.Media) (apiRequest, error) {
	if media == nil || strings.TrimSpace(media.URL) == "" {
		return apiRequest{}, invalid("media message has no media link")
	}
	mm, ok := mediaMethods[media.Kind]
	if !ok {
		return apiRequest{}, &provider.Error{Code: CodeUnsupported,
			Reason: fmt.Sprintf("media kind %q is not supported by the Telegram adapter", media.Kind)}
	}
	params[mm.field] = media.URL
	if media.Caption != "" && media.Kind != provider.Sticker {
		params["caption"] = media.Caption
	}
	return apiRequest{method: mm.method, params: params}, nil
}

func buildContact(params map[string]any, card *provider.ContactCard) (apiRequest, error) {
	if card == nil || len(card.Phones) == 0 || strings.TrimSpace(card.Phones[0]) == "" {
		return apiRequest{}, invalid("contact card has no phone number, which Telegram requires")
	}
	name := strings.TrimSpace(card.Name)
	if name == "" {
		name = card.Phones[0]
	}
	params["phone_number"] = card.Phones[0]
	// The whole name goes in first_name: splitting names into first and last is not safe
	// across cultures, and Telegram shows the two joined anyway.
	params["first_name"] = name
	if len(card.Phones) > 1 || len(card.Emails) > 0 {
		params["vcard"] = vCard(name, card.Phones, card.Emails)
	}
	return apiRequest{method: "sendContact", params: params}, nil
}

func buildReaction(to string, r *provider.Reaction) (apiRequest, error) {
	if r == nil || r.MessageID == "" {
		return apiRequest{}, invalid("reaction has no message id")
	}
	chat, msgID, err := resolveMessageID(r.MessageID, to)
	if err != nil {
		return apiRequest{}, invalid("reaction message id: %v", err)
	}
	if to != "" && chat != to {
		return apiRequest{}, invalid("reaction to message %q sent to chat %q: a reaction goes to the message's own chat", r.MessageID, to)
	}
	reaction := []map[string]string{}
	if r.Emoji != "" {
		reaction = append(reaction, map[string]string{"type": "emoji", "emoji": r.Emoji})
	}
	return apiRequest{
		method: "setMessageReaction",
		params: map[string]any{
			"chat_id":    chatIDParam(chat),
			"message_id": msgID,
			"reaction":   reaction,
		},
		reactionTo: MessageID(chat, msgID),
	}, nil
}

// resolveMessageID parses id as ParseMessageID does, reading a bare message id as one in
// defaultChat.
func resolveMessageID(id, defaultChat string) (chat string, msgID int64, err error) {
	if n, perr := strconv.ParseInt(id, 10, 64); perr == nil && n > 0 {
		if defaultChat == "" {
			return "", 0, fmt.Errorf("bare message id %q needs Message.To for its chat", id)
		}
		return defaultChat, n, nil
	}
	return ParseMessageID(id)
}

// chatIDParam is a chat id as the Bot API takes it: a JSON integer for numeric ids, a string
// for "@username".
func chatIDParam(chat string) any {
	if n, err := strconv.ParseInt(chat, 10, 64); err == nil {
		return n
	}
	return chat
}

// vCard renders a minimal vCard 3.0 for sendContact's vcard parameter (Telegram allows up
// to 2048 bytes; longer cards are Telegram's to refuse).
func vCard(name string, phones, emails []string) string {
	var b strings.Builder
	b.WriteString("BEGIN:VCARD\r\nVERSION:3.0\r\n")
	b.WriteString("N:;" + vcardEscape(name) + ";;;\r\n")
	b.WriteString("FN:" + vcardEscape(name) + "\r\n")
	for _, p := range phones {
		b.WriteString("TEL;TYPE=CELL:" + vcardEscape(p) + "\r\n")
	}
	for _, e := range emails {
		b.WriteString("EMAIL:" + vcardEscape(e) + "\r\n")
	}
	b.WriteString("END:VCARD")
	return b.String()
}

var vcardEscaper = strings.NewReplacer(`\`, `\\`, ",", `\,`, ";", `\;`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)

func vcardEscape(s string) string { return vcardEscaper.Replace(s) }

// envelope is every Bot API answer.
type envelope struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  *struct {
		RetryAfter      int   `json:"retry_after"`
		MigrateToChatID int64 `json:"migrate_to_chat_id"`
	} `json:"parameters"`
}

// call POSTs params as JSON to the Bot API method and returns its result.
func (c *Client) call(ctx context.Context, method string, params map[string]any) (json.RawMessage, error) {
	body, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("telegram %s: encode request: %w", method, err)
	}
	endpoint := c.base + "/bot" + url.PathEscape(c.token) + "/" + method
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("telegram %s: build request: %w", method, c.redact(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("telegram %s: %w", method, c.redact(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("telegram %s: read response: %w", method, err)
	}
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			return nil, fmt.Errorf("telegram %s: decode response: %w", method, err)
		}
		// Not the Bot API's answer (a proxy's error page): judge by the HTTP status alone.
		return nil, fmt.Errorf("telegram %s: %w", method, statusError(resp.StatusCode, data))
	}
	if !env.OK {
		return nil, fmt.Errorf("telegram %s: %w", method, apiError(env, resp.StatusCode))
	}
	return env.Result, nil
}

// apiError turns a Bot API refusal into a *provider.Error.
func apiError(env envelope, httpStatus int) *provider.Error {
	code := env.ErrorCode
	if code == 0 {
		code = httpStatus
	}
	reason := env.Description
	if reason == "" {
		reason = http.StatusText(code)
	}
	e := &provider.Error{Code: strconv.Itoa(code), Reason: reason, HTTPStatus: httpStatus}
	if env.Parameters != nil && env.Parameters.MigrateToChatID != 0 {
		e.Reason += fmt.Sprintf(" (the group is now supergroup %d: send to that chat id)", env.Parameters.MigrateToChatID)
	}
	switch {
	case code == http.StatusTooManyRequests || httpStatus == http.StatusTooManyRequests:
		e.Retryable = true
		if env.Parameters != nil && env.Parameters.RetryAfter > 0 {
			e.RetryAfter = time.Duration(env.Parameters.RetryAfter) * time.Second
		}
	case code >= 500 || httpStatus >= 500:
		e.Retryable = true
	}
	return e
}

// statusError is a failure answer that is not Bot API JSON.
func statusError(status int, body []byte) *provider.Error {
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 200 {
		snippet = snippet[:200]
	}
	reason := http.StatusText(status)
	if snippet != "" {
		reason += ": " + snippet
	}
	return &provider.Error{
		Code:       strconv.Itoa(status),
		Reason:     reason,
		Retryable:  status == http.StatusTooManyRequests || status >= 500,
		HTTPStatus: status,
	}
}

// redact removes the bot token from err's text: *url.Error quotes the request URL, which
// carries the token in its path.
func (c *Client) redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		cp := *ue
		cp.URL = strings.ReplaceAll(cp.URL, c.token, "<token>")
		cp.URL = strings.ReplaceAll(cp.URL, url.PathEscape(c.token), "<token>")
		return &cp
	}
	return err
}

// MessageID is the id this package gives a Telegram message: its chat id and its per-chat
// message id, "<chat_id>:<message_id>".
func MessageID(chatID string, messageID int64) string {
	return chatID + ":" + strconv.FormatInt(messageID, 10)
}

// ParseMessageID splits an id made by MessageID. The chat part may be a numeric id (negative
// for groups and channels) or "@username". It fails when either part is missing or the
// message part is not a positive integer.
func ParseMessageID(id string) (chatID string, messageID int64, err error) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 || i == len(id)-1 {
		return "", 0, fmt.Errorf("telegram message id %q is not <chat_id>:<message_id>", id)
	}
	n, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || n <= 0 {
		return "", 0, fmt.Errorf("telegram message id %q: message part is not a positive integer", id)
	}
	return id[:i], n, nil
}
