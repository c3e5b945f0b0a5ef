// Package channel holds what Conversa knows about the ways it reaches contacts. For now: the
// channel types, which consent records and, later, channel instances are described by.
package channel

import "slices"

// Type is a kind of channel.
type Type string

// The channel types of DESIGN §4.
const (
	WhatsApp  Type = "whatsapp"
	Email     Type = "email"
	SMS       Type = "sms"
	WebChat   Type = "webchat"
	Facebook  Type = "facebook"
	Instagram Type = "instagram"
	Telegram  Type = "telegram"
	RCS       Type = "rcs"
	Viber     Type = "viber"
	Voice     Type = "voice"
	Video     Type = "video"
	Form      Type = "form"
)

// Types lists every channel type, in a stable order.
var Types = []Type{WhatsApp, Email, SMS, WebChat, Facebook, Instagram, Telegram, RCS, Viber, Voice, Video, Form}

// Valid reports whether t is a known channel type.
func Valid(t string) bool { return slices.Contains(Types, Type(t)) }
