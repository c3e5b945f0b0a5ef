// Package provider is the one interface every messaging provider adapter implements (the
// WhatsApp Cloud API, Telegram, an SMS gateway, e-mail, WebChat, and a fake for demos and
// benchmarks), and the provider-neutral types that cross it: what to send, what came back,
// and what arrived at a webhook. Adapters live in sub-packages named after the provider.
package provider

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Kind is the kind of an outbound message.
type Kind string

// The kinds.
const (
	KindText     Kind = "text"
	KindTemplate Kind = "template"
	KindMedia    Kind = "media"
	KindReaction Kind = "reaction"
	KindContact  Kind = "contact"
)

// MediaKind is the kind of a media attachment.
type MediaKind string

// The media kinds.
const (
	Image    MediaKind = "image"
	Audio    MediaKind = "audio"
	Video    MediaKind = "video"
	Document MediaKind = "document"
	Sticker  MediaKind = "sticker"
)

// Message is what to send, whatever the provider.
type Message struct {
	// To is the recipient as the provider addresses it: an E.164 number (without or with
	// "+", as the adapter needs), a WhatsApp business-scoped user id, a Telegram chat id, an
	// e-mail address.
	To   string
	Kind Kind
	// Text is the body of a text message (and the plain-text body of an e-mail).
	Text string
	// Subject is an e-mail's subject.
	Subject  string
	Template *Template
	Media    *Media
	Reaction *Reaction
	Contact  *ContactCard
	// ReplyTo is the provider message id this message answers, when the provider threads.
	ReplyTo string
	// Ref is Conversa's own id of the message. Adapters pass it where the provider carries a
	// client reference (WhatsApp's biz_opaque_callback_data), and a provider that dedupes by
	// it (the fake) accepts a re-send after a crash as the same message.
	Ref string
}

// Template is an approved template with its parameters, in order.
type Template struct {
	Name     string
	Language string
	// HeaderParams, BodyParams: positional values ({{1}}, {{2}}...), or named ones when
	// Name is set on each.
	HeaderParams []Param
	BodyParams   []Param
	// HeaderMedia is a header image, video or document, by link.
	HeaderMedia *Media
	// ButtonParams are the dynamic suffixes of URL buttons, by button index.
	ButtonParams map[int]string
}

// Param is a template variable's value.
type Param struct {
	Name  string // for named parameters; empty for positional ones
	Value string
}

// Media is an attachment, by public link.
type Media struct {
	Kind     MediaKind
	URL      string
	Caption  string
	Filename string
}

// Reaction is an emoji on an earlier message (an empty Emoji removes it).
type Reaction struct {
	MessageID string
	Emoji     string
}

// ContactCard is a contact shared in a message.
type ContactCard struct {
	Name   string
	Phones []string
	Emails []string
}

// Sent is a provider's acceptance of a message.
type Sent struct {
	// ID is the provider's message id, which its status updates refer to.
	ID string
}

// Error is a provider's refusal or failure, with what the caller needs to decide: its code,
// a readable reason, and whether and when to retry.
type Error struct {
	// Code is the provider's error code as text ("131026", "21211", "403").
	Code string
	// Reason is readable: what went wrong and what to do.
	Reason string
	// Retryable says the same send may succeed later; RetryAfter, when set, says not before.
	Retryable  bool
	RetryAfter time.Duration
	// HTTPStatus is the status of the provider's answer, 0 when there was none.
	HTTPStatus int
}

func (e *Error) Error() string {
	return fmt.Sprintf("provider error %s: %s", e.Code, e.Reason)
}

// Sender sends messages. Send returns *Error for anything the provider refused or failed;
// other errors are transport failures (retryable).
type Sender interface {
	Send(ctx context.Context, m Message) (Sent, error)
}

// TemplateSpec is a template submitted for approval.
type TemplateSpec struct {
	Name     string
	Language string
	Category string // marketing, utility, authentication
	// Components in the provider's own structure (header, body, footer, buttons) as JSON-able
	// values; adapters translate what they need.
	Components []Component
}

// Component is a part of a template.
type Component struct {
	Type    string // header, body, footer, buttons
	Format  string // header: text, image, video, document
	Text    string
	Example []string
	Buttons []Button
}

// Button is a template button.
type Button struct {
	Type  string // quick_reply, url, phone_number
	Text  string
	URL   string
	Phone string
}

// Submitted is a provider's answer to a template submission.
type Submitted struct {
	ID     string
	Status string // pending, approved, rejected
}

// TemplateSubmitter submits templates for approval.
type TemplateSubmitter interface {
	SubmitTemplate(ctx context.Context, t TemplateSpec) (Submitted, error)
}

// Inbound is what one webhook delivery carried.
type Inbound struct {
	Messages []InboundMessage
	Statuses []StatusUpdate
	Events   []Event
}

// InboundMessage is a message a contact sent (or, with Echo, one the business sent from
// another app on the same number).
type InboundMessage struct {
	ID   string
	From string // the contact's address: E.164 phone, business-scoped id, chat id
	// FromName is the profile name the provider reports.
	FromName string
	// To is the business's own address (phone number id, bot, number).
	To        string
	Timestamp time.Time
	Kind      string // text, image, audio, video, document, sticker, location, contacts, reaction, button, interactive, unsupported
	Text      string
	Media     *Media
	// ReplyTo is the provider id of the message this one answers or reacts to.
	ReplyTo string
	// Echo marks a message sent by the business from the provider's own app.
	Echo bool
}

// Status is a delivery state reported by a provider.
type Status string

// The statuses, in the order a message goes through them; failed ends an attempt.
const (
	StatusSent      Status = "sent"
	StatusDelivered Status = "delivered"
	StatusRead      Status = "read"
	StatusFailed    Status = "failed"
)

// StatusUpdate is a provider's report on a message it accepted.
type StatusUpdate struct {
	MessageID string
	Status    Status
	Timestamp time.Time
	Recipient string
	// Error is set when Status is failed.
	Error *Error
}

// Event is any other notification: a quality rating change, a template status change, a
// messaging-limit change. Kind names it; Data holds its fields.
type Event struct {
	Kind      string
	Timestamp time.Time
	Data      map[string]string
}

// InboundParser reads webhook deliveries. Parse first checks the delivery's signature and
// returns ErrBadSignature when it does not hold, so a forged request changes nothing.
type InboundParser interface {
	Parse(r *http.Request, body []byte) (Inbound, error)
}

// ErrBadSignature means a webhook delivery's signature is missing or wrong.
var ErrBadSignature = fmt.Errorf("webhook signature missing or invalid")

// Verifier checks a webhook delivery's signature or token without parsing what it carries:
// what a webhook endpoint does before storing the delivery, so the request path stays cheap.
// It returns ErrBadSignature (wrapped) exactly when Parse would.
type Verifier interface {
	Verify(r *http.Request, body []byte) error
}
