// Package smtp is the provider adapter for e-mail: it submits each message as a plain-text
// RFC 5322 e-mail to a mail submission server with net/smtp (STARTTLS, AUTH PLAIN).
//
// SMTP has no inbound webhook: the 250 after DATA only means the server accepted the message,
// and delivery failures come back later as bounces (DSN, RFC 3464) to the envelope sender, or
// as an e-mail provider's own webhooks. This package therefore implements provider.Sender
// only, not provider.InboundParser; bounce handling is to come. The Message-ID it generates
// is the external id such bounces will be matched on.
//
// Limits: one recipient per message, text/plain only (media travel as links in the text,
// never as attachments), no implicit TLS (port 465), no List-Unsubscribe headers, and only
// AUTH PLAIN, which net/smtp sends only over TLS or to localhost.
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	netsmtp "net/smtp"
	"net/textproto"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/provider"
)

// Codes of the *provider.Error values this package builds itself; refusals from the server
// carry its reply code instead ("550", or "550 5.1.1" with the enhanced status code).
const (
	// CodeInvalidMessage means the message cannot be sent as given (no or a malformed
	// recipient, no text, a malformed reply-to id): not retryable.
	CodeInvalidMessage = "invalid_message"
	// CodeUnsupported means the message kind has no e-mail form here (contact, reaction, a
	// template without rendered text): not retryable.
	CodeUnsupported = "unsupported"
	// CodeStartTLSUnavailable means StartTLS is StartTLSRequire and the server did not offer
	// STARTTLS: a configuration problem (or a downgrade attack), not retryable.
	CodeStartTLSUnavailable = "starttls_unavailable"
	// CodeAuthNeedsTLS means credentials are configured but the connection is not encrypted
	// and the server is not localhost, so the password is not sent: not retryable.
	CodeAuthNeedsTLS = "auth_needs_tls"
)

// StartTLSMode says whether the connection must, may or must not be upgraded with STARTTLS.
type StartTLSMode string

// The STARTTLS modes.
const (
	// StartTLSRequire fails the send when the server does not offer STARTTLS. The default.
	StartTLSRequire StartTLSMode = "require"
	// StartTLSIfOffered upgrades when the server offers STARTTLS and goes on in clear
	// otherwise (opportunistic, open to downgrade).
	StartTLSIfOffered StartTLSMode = "if-offered"
	// StartTLSOff never upgrades; for a local relay or a test server.
	StartTLSOff StartTLSMode = "off"
)

// Defaults for zero Config fields.
const (
	DefaultPort    = 587
	DefaultTimeout = 30 * time.Second
)

// Config configures a Client.
type Config struct {
	// Host is the submission server's host name, which TLS verifies and net/smtp's AUTH
	// PLAIN checks. Required.
	Host string
	// Port is the submission port, DefaultPort (587) when zero.
	Port int
	// Username and Password, when Username is set, authenticate with AUTH PLAIN.
	Username string
	Password string
	// From is the sender, "addr@example.com" or "Name <addr@example.com>" (a non-ASCII name
	// is RFC 2047-encoded). Required; its domain also names the Message-IDs.
	From string
	// StartTLS is the STARTTLS mode, StartTLSRequire when empty.
	StartTLS StartTLSMode
	// HeloName is the name sent in EHLO/HELO, net/smtp's "localhost" when empty; set it to
	// this host's FQDN in production, as some servers score "localhost" as spam.
	HeloName string
	// Timeout bounds a whole send (connect, dialogue, DATA); DefaultTimeout when zero. A
	// context deadline that comes sooner wins.
	Timeout time.Duration
	// TLSConfig, when set, is used for STARTTLS (a custom CA pool, say); its ServerName
	// defaults to Host.
	TLSConfig *tls.Config
	// Clock supplies the Date header; the system clock when nil.
	Clock clock.Clock
}

// Client sends e-mail through one submission server, one connection per message. It
// implements provider.Sender and is safe for concurrent use.
type Client struct {
	host     string
	port     int
	username string
	password string
	from     *mail.Address
	domain   string
	mode     StartTLSMode
	helo     string
	timeout  time.Duration
	tls      *tls.Config
	clock    clock.Clock
}

var _ provider.Sender = (*Client)(nil)

// New returns a Client for cfg. It fails when Host or From is missing or malformed, the
// port is out of range or the STARTTLS mode unknown; it makes no network call.
func New(cfg Config) (*Client, error) {
	if strings.TrimSpace(cfg.Host) == "" {
		return nil, errors.New("smtp: config: Host is required")
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: config: From %q: %w", cfg.From, err)
	}
	_, domain, _ := strings.Cut(from.Address, "@")
	port := cfg.Port
	if port == 0 {
		port = DefaultPort
	}
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("smtp: config: Port %d out of range", cfg.Port)
	}
	mode := cfg.StartTLS
	switch mode {
	case "":
		mode = StartTLSRequire
	case StartTLSRequire, StartTLSIfOffered, StartTLSOff:
	default:
		return nil, fmt.Errorf("smtp: config: StartTLS %q is not require, if-offered or off", cfg.StartTLS)
	}
	if strings.ContainsAny(cfg.HeloName, " \r\n") {
		return nil, fmt.Errorf("smtp: config: HeloName %q is not a host name", cfg.HeloName)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	var tlsCfg *tls.Config
	if cfg.TLSConfig != nil {
		tlsCfg = cfg.TLSConfig.Clone()
	} else {
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tlsCfg.ServerName == "" {
		tlsCfg.ServerName = cfg.Host
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.System{}
	}
	return &Client{
		host: cfg.Host, port: port, username: cfg.Username, password: cfg.Password,
		from: from, domain: domain, mode: mode, helo: cfg.HeloName, timeout: timeout,
		tls: tlsCfg, clock: clk,
	}, nil
}

// Send builds m as an e-mail (see the package doc and buildMessage for its shape) and submits
// it: EHLO, STARTTLS per the mode, AUTH PLAIN when a Username is set, MAIL FROM, one RCPT TO,
// DATA. m.To is the recipient's address ("ana@example.com" or "Ana <ana@example.com>");
// m.Subject the subject; m.ReplyTo the Message-ID this message answers (In-Reply-To and
// References); a template is sent as m.Text, its rendered text. Sent.ID is the generated
// Message-ID, angle brackets included ("<uuid@domain>").
//
// Errors: a refusal by the server is a *provider.Error (wrapped with the SMTP stage), Code
// the 3-digit reply code plus the enhanced status code when the reply has one ("550 5.1.1"),
// Reason the server's text, Retryable for 4xx and not for 5xx. Messages that cannot be sent
// as given get CodeInvalidMessage or CodeUnsupported before any connection; a missing
// STARTTLS under StartTLSRequire gets CodeStartTLSUnavailable, credentials over clear text
// CodeAuthNeedsTLS. Connection, TLS and timeout failures are plain errors, worth retrying.
func (c *Client) Send(ctx context.Context, m provider.Message) (provider.Sent, error) {
	msg, err := c.buildMessage(m)
	if err != nil {
		return provider.Sent{}, fmt.Errorf("smtp: %w", err)
	}
	if err := c.deliver(ctx, msg.rcpt, msg.raw); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return provider.Sent{}, fmt.Errorf("smtp: %w (%v)", ctxErr, err)
		}
		// The socket deadline is the context's when that comes first, and its i/o timeout
		// can fire a moment before ctx.Err() is set: report it as the context's deadline.
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			return provider.Sent{}, fmt.Errorf("smtp: %w (%v)", context.DeadlineExceeded, err)
		}
		return provider.Sent{}, err
	}
	return provider.Sent{ID: msg.id}, nil
}

// deliver runs one SMTP session for one message.
func (c *Client) deliver(ctx context.Context, rcpt string, raw []byte) error {
	deadline := time.Now().Add(c.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	addr := net.JoinHostPort(c.host, strconv.Itoa(c.port))
	dialer := net.Dialer{Deadline: deadline}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp: connect %s: %w", addr, err)
	}
	if err := conn.SetDeadline(deadline); err != nil {
		_ = conn.Close()
		return fmt.Errorf("smtp: set deadline: %w", err)
	}
	// Cancelling ctx interrupts whatever read or write is under way.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	cl, err := netsmtp.NewClient(conn, c.host)
	if err != nil {
		_ = conn.Close()
		return stageError("greeting", err)
	}
	defer cl.Close()
	if c.helo != "" {
		if err := cl.Hello(c.helo); err != nil {
			return stageError("HELO", err)
		}
	}
	// NOOP makes net/smtp say EHLO now and report its failure, which Extension would hide.
	if err := cl.Noop(); err != nil {
		return stageError("EHLO", err)
	}
	if c.mode != StartTLSOff {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			if err := cl.StartTLS(c.tls); err != nil {
				return stageError("STARTTLS", err)
			}
		} else if c.mode == StartTLSRequire {
			return fmt.Errorf("smtp: %w", &provider.Error{Code: CodeStartTLSUnavailable,
				Reason: fmt.Sprintf("%s does not offer STARTTLS and StartTLS is %q: fix the server or the configuration", addr, c.mode)})
		}
	}
	if c.username != "" {
		if _, encrypted := cl.TLSConnectionState(); !encrypted && !isLocalhost(c.host) {
			return fmt.Errorf("smtp: %w", &provider.Error{Code: CodeAuthNeedsTLS,
				Reason: fmt.Sprintf("refusing to send credentials to %s over an unencrypted connection: enable STARTTLS", addr)})
		}
		if err := cl.Auth(netsmtp.PlainAuth("", c.username, c.password, c.host)); err != nil {
			return stageError("AUTH", err)
		}
	}
	if err := cl.Mail(c.from.Address); err != nil {
		return stageError("MAIL FROM", err)
	}
	if err := cl.Rcpt(rcpt); err != nil {
		return stageError("RCPT TO", err)
	}
	w, err := cl.Data()
	if err != nil {
		return stageError("DATA", err)
	}
	if _, err := w.Write(raw); err != nil {
		_ = w.Close()
		return stageError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return stageError("end of DATA", err)
	}
	// The message is accepted; a failed QUIT changes nothing.
	_ = cl.Quit()
	return nil
}

// isLocalhost mirrors net/smtp's own exception for AUTH PLAIN without TLS.
func isLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// enhancedCode matches an RFC 3463 enhanced status code opening a reply's text.
var enhancedCode = regexp.MustCompile(`^([245]\.\d{1,3}\.\d{1,3})(\s|$)`)

// stageError wraps err with the SMTP stage, turning a server reply into a *provider.Error.
func stageError(stage string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return fmt.Errorf("smtp: %s: %w", stage, ReplyError(te.Code, te.Msg))
	}
	return fmt.Errorf("smtp: %s: %w", stage, err)
}

// ReplyError is the *provider.Error for an SMTP reply: Code the reply code plus its enhanced
// status code when the text opens with one ("550 5.1.1"), Reason the text (a multi-line
// reply's lines joined by spaces), Retryable for transient 4xx replies. Exported for the
// bounce handling to come, which reads the same codes from DSNs.
func ReplyError(code int, text string) *provider.Error {
	lines := strings.Split(text, "\n")
	c := strconv.Itoa(code)
	if m := enhancedCode.FindStringSubmatch(lines[0]); m != nil {
		c += " " + m[1]
		// Continuation lines usually repeat the enhanced code; keep it once.
		for i := 1; i < len(lines); i++ {
			lines[i] = strings.TrimPrefix(lines[i], m[1])
		}
	}
	text = strings.Join(strings.Fields(strings.Join(lines, " ")), " ")
	if text == "" {
		text = "SMTP reply " + strconv.Itoa(code)
	}
	return &provider.Error{Code: c, Reason: text, Retryable: code >= 400 && code < 500}
}
