package smtp

import (
	"bytes"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/provider"
)

// maxLine is the length header lines are folded to: RFC 5322 recommends 78, RFC 2047 caps
// lines holding encoded-words at 76.
const maxLine = 76

// outgoing is a built e-mail.
type outgoing struct {
	raw  []byte // the RFC 5322 message, CRLF line endings
	id   string // its Message-ID, with angle brackets
	rcpt string // the envelope recipient
}

func invalid(format string, args ...any) *provider.Error {
	return &provider.Error{Code: CodeInvalidMessage, Reason: fmt.Sprintf(format, args...)}
}

// buildMessage renders m as a single-part text/plain e-mail:
//
//	Date, Message-ID <uuid@from-domain>, From, To, Subject (RFC 2047 Q-encoded when not
//	ASCII, folded at 78 columns), In-Reply-To and References (m.ReplyTo), MIME-Version,
//	Content-Type: text/plain; charset=UTF-8, Content-Transfer-Encoding: quoted-printable
//
// A media message's link (after its filename, when known) and caption are appended to the
// text: nothing is attached. CR and LF in the subject become spaces, so no header can be
// injected through it.
func (c *Client) buildMessage(m provider.Message) (outgoing, error) {
	if strings.TrimSpace(m.To) == "" {
		return outgoing{}, invalid("message has no recipient address (Message.To)")
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return outgoing{}, invalid("recipient %q is not an e-mail address: %v", m.To, err)
	}
	var text string
	switch m.Kind {
	case provider.KindText:
		if m.Text == "" {
			return outgoing{}, invalid("text message has no text")
		}
		text = m.Text
	case provider.KindTemplate:
		if m.Text == "" {
			return outgoing{}, &provider.Error{Code: CodeUnsupported, Reason: "e-mail has no message templates: " +
				"render the template into Message.Text to send it as plain text"}
		}
		text = m.Text
	case provider.KindMedia:
		if m.Media == nil || strings.TrimSpace(m.Media.URL) == "" {
			return outgoing{}, invalid("media message has no media link")
		}
		text = withLink(m.Text, m.Media)
	default:
		return outgoing{}, &provider.Error{Code: CodeUnsupported,
			Reason: fmt.Sprintf("message kind %q has no e-mail form: only text, media links and rendered templates are sent", m.Kind)}
	}
	var inReplyTo string
	if m.ReplyTo != "" {
		if inReplyTo, err = normalizeMessageID(m.ReplyTo); err != nil {
			return outgoing{}, invalid("reply-to id: %v", err)
		}
	}

	id := "<" + uuid.NewString() + "@" + c.domain + ">"
	var b bytes.Buffer
	writeHeader(&b, "Date", c.clock.Now().Format(time.RFC1123Z))
	writeHeader(&b, "Message-ID", id)
	writeHeader(&b, "From", c.from.String())
	writeHeader(&b, "To", to.String())
	if subject := headerText(m.Subject); subject != "" {
		writeHeader(&b, "Subject", mime.QEncoding.Encode("UTF-8", subject))
	}
	if inReplyTo != "" {
		writeHeader(&b, "In-Reply-To", inReplyTo)
		// Only the parent is known, so References holds just it (RFC 5322 3.6.4 would also
		// carry the parent's own References).
		writeHeader(&b, "References", inReplyTo)
	}
	writeHeader(&b, "MIME-Version", "1.0")
	writeHeader(&b, "Content-Type", "text/plain; charset=UTF-8")
	writeHeader(&b, "Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")

	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	qp := quotedprintable.NewWriter(&b) // turns "\n" into CRLF, wraps at 76 with soft breaks
	if _, err := qp.Write([]byte(text)); err != nil {
		return outgoing{}, fmt.Errorf("quoted-printable body: %w", err)
	}
	if err := qp.Close(); err != nil {
		return outgoing{}, fmt.Errorf("quoted-printable body: %w", err)
	}
	return outgoing{raw: b.Bytes(), id: id, rcpt: to.Address}, nil
}

// withLink appends a media's caption and link to the text.
func withLink(text string, media *provider.Media) string {
	var parts []string
	if text != "" {
		parts = append(parts, text)
	}
	if media.Caption != "" && media.Caption != text {
		parts = append(parts, media.Caption)
	}
	link := strings.TrimSpace(media.URL)
	if media.Filename != "" {
		link = headerText(media.Filename) + ": " + link
	}
	return strings.Join(append(parts, link), "\n\n")
}

// headerText flattens s to one line: control characters (CR, LF, tabs) become spaces.
func headerText(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s))
}

// normalizeMessageID returns id as "<left@right>", accepting it with or without the brackets.
func normalizeMessageID(id string) (string, error) {
	core := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
	if core == "" || !strings.Contains(core, "@") ||
		strings.ContainsFunc(core, func(r rune) bool { return r <= ' ' || r == '<' || r == '>' || r == 0x7f }) {
		return "", fmt.Errorf("%q is not a Message-ID", id)
	}
	return "<" + core + ">", nil
}

// writeHeader writes "Name: value" folded at spaces so lines stay within maxLine where the
// value allows (a word longer than a line stays whole; the hard limit is 998). Go's
// mime.WordEncoder emits encoded-words of at most 75 characters, so an encoded header
// always fits.
func writeHeader(b *bytes.Buffer, name, value string) {
	line := name + ":"
	for i, word := range strings.Split(value, " ") {
		switch {
		case i == 0 && len(line)+1+len(word) > maxLine:
			// A long first word (a 75-character encoded-word) starts on the next line.
			b.WriteString(line + "\r\n")
			line = " " + word
		case i == 0:
			line += " " + word
		case word != "" && len(line)+1+len(word) > maxLine: // never leave a blank continuation line
			b.WriteString(line + "\r\n")
			line = " " + word
		default:
			line += " " + word
		}
	}
	b.WriteString(line + "\r\n")
}
