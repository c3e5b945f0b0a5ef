package telegram

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/conversa-hq/conversa/internal/provider"
)

// SecretHeader is the header in which Telegram echoes setWebhook's secret_token.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// FileScheme prefixes the Media.URL of inbound media: Telegram sends a file_id, not a link,
// and the file must be fetched with getFile before it can be downloaded (links from getFile
// expire after an hour and carry the bot token, so they are not stored).
const FileScheme = "tgfile:"

// EventEdited is the Event.Kind Parse adds for an edited_message, next to the message itself
// (which keeps the original message's id), so a consumer that deduplicates by id can still
// tell an edit happened. Data holds message_id (in MessageID form) and chat_id.
const EventEdited = "telegram.message_edited"

// FileID returns the Telegram file_id inside a Media.URL that Parse produced, and false when
// the URL is not a FileScheme URL.
func FileID(mediaURL string) (string, bool) {
	id, ok := strings.CutPrefix(mediaURL, FileScheme)
	return id, ok && id != ""
}

// Parse reads one webhook delivery, an Update. It first checks that the
// X-Telegram-Bot-Api-Secret-Token header equals Config.SecretToken (in constant time) and
// returns provider.ErrBadSignature, wrapped, when the header is missing or wrong or no secret
// is configured.
//
// Supported updates: message and edited_message (text; photo, whose largest size becomes
// Media; audio and voice; video, video_note and animation; document; sticker; contact;
// location; anything else becomes Kind "unsupported"), and message_reaction (Kind
// "reaction", Text the first emoji of the new reaction, empty when it was removed, ReplyTo the
// reacted message). Other update types (callback_query, channel_post, ...) are ignored and
// yield an empty Inbound. Telegram sends one update per delivery; deduplicate by message id.
//
// Mapping: ID is "<chat_id>:<message_id>" (a reaction, which has no id of its own, gets
// "<chat_id>:<message_id>:reaction:<update_id>"); From is the chat id, which is where answers
// go (in a group, the group, not the member: the provider model has no separate sender id);
// FromName is the sender's first and last name, else "@username"; To is the bot's user id
// (the numeric prefix of the token); Timestamp is the message's date; Media.URL is
// FileScheme + file_id; a caption is both Text and Media.Caption; a location's Text is a
// "geo:<lat>,<lon>" URI (RFC 5870); a contact's Text is "<name> <phone>".
//
// A body that is not an Update's JSON is an error (after the signature check passed).
func (c *Client) Parse(r *http.Request, body []byte) (provider.Inbound, error) {
	if !c.secretMatches(r.Header.Get(SecretHeader)) {
		return provider.Inbound{}, fmt.Errorf("telegram: %s header: %w", SecretHeader, provider.ErrBadSignature)
	}
	var u update
	if err := json.Unmarshal(body, &u); err != nil {
		return provider.Inbound{}, fmt.Errorf("telegram: decode update: %w", err)
	}
	var in provider.Inbound
	switch {
	case u.Message != nil:
		in.Messages = append(in.Messages, c.inboundMessage(u.Message))
	case u.EditedMessage != nil:
		msg := c.inboundMessage(u.EditedMessage)
		in.Messages = append(in.Messages, msg)
		when := msg.Timestamp
		if u.EditedMessage.EditDate != 0 {
			when = time.Unix(u.EditedMessage.EditDate, 0).UTC()
		}
		in.Events = append(in.Events, provider.Event{
			Kind:      EventEdited,
			Timestamp: when,
			Data: map[string]string{
				"message_id": msg.ID,
				"chat_id":    strconv.FormatInt(u.EditedMessage.Chat.ID, 10),
			},
		})
	case u.MessageReaction != nil:
		in.Messages = append(in.Messages, c.inboundReaction(u.UpdateID, u.MessageReaction))
	}
	return in, nil
}

// secretMatches compares SHA-256 digests so that neither the content nor the length of the
// configured secret leaks through timing.
func (c *Client) secretMatches(got string) bool {
	if c.secret == "" || got == "" {
		return false
	}
	a := sha256.Sum256([]byte(got))
	b := sha256.Sum256([]byte(c.secret))
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

type update struct {
	UpdateID        int64            `json:"update_id"`
	Message         *message         `json:"message"`
	EditedMessage   *message         `json:"edited_message"`
	MessageReaction *messageReaction `json:"message_reaction"`
}

type user struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Username  string `json:"username"`
}

type chat struct {
	ID       int64  `json:"id"`
	Type     string `json:"type"`
	Title    string `json:"title"`
	Username string `json:"username"`
}

type file struct {
	FileID   string `json:"file_id"`
	FileName string `json:"file_name"`
	MimeType string `json:"mime_type"`
}

type photoSize struct {
	FileID   string `json:"file_id"`
	Width    int    `json:"width"`
	Height   int    `json:"height"`
	FileSize int64  `json:"file_size"`
}

type message struct {
	MessageID      int64       `json:"message_id"`
	From           *user       `json:"from"`
	SenderChat     *chat       `json:"sender_chat"`
	Chat           chat        `json:"chat"`
	Date           int64       `json:"date"`
	EditDate       int64       `json:"edit_date"`
	Text           string      `json:"text"`
	Caption        string      `json:"caption"`
	Photo          []photoSize `json:"photo"`
	Audio          *file       `json:"audio"`
	Voice          *file       `json:"voice"`
	Video          *file       `json:"video"`
	VideoNote      *file       `json:"video_note"`
	Animation      *file       `json:"animation"`
	Document       *file       `json:"document"`
	Sticker        *file       `json:"sticker"`
	Contact        *contact    `json:"contact"`
	Location       *location   `json:"location"`
	ReplyToMessage *struct {
		MessageID int64 `json:"message_id"`
	} `json:"reply_to_message"`
}

type contact struct {
	PhoneNumber string `json:"phone_number"`
	FirstName   string `json:"first_name"`
	LastName    string `json:"last_name"`
}

type location struct {
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
}

type messageReaction struct {
	Chat        chat           `json:"chat"`
	MessageID   int64          `json:"message_id"`
	User        *user          `json:"user"`
	ActorChat   *chat          `json:"actor_chat"`
	Date        int64          `json:"date"`
	NewReaction []reactionType `json:"new_reaction"`
}

type reactionType struct {
	Type  string `json:"type"`
	Emoji string `json:"emoji"`
}

func (c *Client) inboundMessage(m *message) provider.InboundMessage {
	chatID := strconv.FormatInt(m.Chat.ID, 10)
	out := provider.InboundMessage{
		ID:        MessageID(chatID, m.MessageID),
		From:      chatID,
		FromName:  senderName(m.From, m.SenderChat),
		To:        c.botID,
		Timestamp: time.Unix(m.Date, 0).UTC(),
		Text:      m.Text,
	}
	if m.ReplyToMessage != nil && m.ReplyToMessage.MessageID != 0 {
		out.ReplyTo = MessageID(chatID, m.ReplyToMessage.MessageID)
	}
	media := func(kind provider.MediaKind, f *file) {
		out.Kind = string(kind)
		out.Text = m.Caption
		out.Media = &provider.Media{Kind: kind, URL: FileScheme + f.FileID, Caption: m.Caption, Filename: f.FileName}
	}
	switch {
	case m.Text != "":
		out.Kind = "text"
	case len(m.Photo) > 0:
		media(provider.Image, &file{FileID: largestPhoto(m.Photo).FileID})
	case m.Animation != nil: // before document: Telegram sets both for an animation
		media(provider.Video, m.Animation)
	case m.Audio != nil:
		media(provider.Audio, m.Audio)
	case m.Voice != nil:
		media(provider.Audio, m.Voice)
	case m.Video != nil:
		media(provider.Video, m.Video)
	case m.VideoNote != nil:
		media(provider.Video, m.VideoNote)
	case m.Document != nil:
		media(provider.Document, m.Document)
	case m.Sticker != nil:
		media(provider.Sticker, m.Sticker)
	case m.Contact != nil:
		out.Kind = "contacts"
		name := strings.TrimSpace(m.Contact.FirstName + " " + m.Contact.LastName)
		out.Text = strings.TrimSpace(name + " " + m.Contact.PhoneNumber)
	case m.Location != nil:
		out.Kind = "location"
		out.Text = "geo:" + strconv.FormatFloat(m.Location.Latitude, 'f', -1, 64) + "," +
			strconv.FormatFloat(m.Location.Longitude, 'f', -1, 64)
	default:
		out.Kind = "unsupported"
	}
	return out
}

func (c *Client) inboundReaction(updateID int64, r *messageReaction) provider.InboundMessage {
	chatID := strconv.FormatInt(r.Chat.ID, 10)
	target := MessageID(chatID, r.MessageID)
	out := provider.InboundMessage{
		ID:        target + ":reaction:" + strconv.FormatInt(updateID, 10),
		From:      chatID,
		FromName:  senderName(r.User, r.ActorChat),
		To:        c.botID,
		Timestamp: time.Unix(r.Date, 0).UTC(),
		Kind:      "reaction",
		ReplyTo:   target,
	}
	for _, rt := range r.NewReaction {
		if rt.Type == "emoji" && rt.Emoji != "" {
			out.Text = rt.Emoji
			break
		}
	}
	return out
}

// senderName is a user's display name, or the title of the chat that sent on its behalf.
func senderName(u *user, sender *chat) string {
	if u != nil {
		if name := strings.TrimSpace(u.FirstName + " " + u.LastName); name != "" {
			return name
		}
		if u.Username != "" {
			return "@" + u.Username
		}
	}
	if sender != nil {
		if sender.Title != "" {
			return sender.Title
		}
		if sender.Username != "" {
			return "@" + sender.Username
		}
	}
	return ""
}

// largestPhoto picks the biggest of a photo's sizes (Telegram lists them smallest first, but
// the order is not documented as a guarantee).
func largestPhoto(sizes []photoSize) photoSize {
	best := sizes[0]
	for _, s := range sizes[1:] {
		if s.Width*s.Height > best.Width*best.Height ||
			(s.Width*s.Height == best.Width*best.Height && s.FileSize > best.FileSize) {
			best = s
		}
	}
	return best
}

// Verify checks the X-Telegram-Bot-Api-Secret-Token header only, as Parse does first
// (provider.Verifier).
func (c *Client) Verify(r *http.Request, _ []byte) error {
	if !c.secretMatches(r.Header.Get(SecretHeader)) {
		return fmt.Errorf("telegram: %s header: %w", SecretHeader, provider.ErrBadSignature)
	}
	return nil
}
