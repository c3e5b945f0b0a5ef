package smtp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/smtp"
	"github.com/conversa-hq/conversa/internal/provider/smtp/smtptest"
)

const sender = "Conversa <no-reply@conversa.test>"

var now = time.Date(2026, 3, 14, 15, 9, 26, 0, time.FixedZone("BRT", -3*3600))

// newClient returns a client for srv; mutate adjusts the config first.
func newClient(t *testing.T, srv *smtptest.Server, mutate func(*smtp.Config)) *smtp.Client {
	t.Helper()
	cfg := smtp.Config{
		Host: srv.Host(), Port: srv.Port(), From: sender, StartTLS: smtp.StartTLSOff,
		HeloName: "app.conversa.test", Timeout: 10 * time.Second, Clock: clock.NewManual(now),
	}
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := smtp.New(cfg)
	require.NoError(t, err)
	return c
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     smtp.Config
		wantErr string
	}{
		{"Minimal", smtp.Config{Host: "smtp.example.com", From: "a@example.com"}, ""},
		{"AllModes", smtp.Config{Host: "smtp.example.com", From: "a@example.com", StartTLS: smtp.StartTLSIfOffered}, ""},
		{"NoHost", smtp.Config{From: "a@example.com"}, "Host is required"},
		{"NoFrom", smtp.Config{Host: "smtp.example.com"}, "From"},
		{"BadFrom", smtp.Config{Host: "smtp.example.com", From: "not an address"}, "From"},
		{"BadPort", smtp.Config{Host: "smtp.example.com", From: "a@example.com", Port: 70000}, "Port 70000"},
		{"BadMode", smtp.Config{Host: "smtp.example.com", From: "a@example.com", StartTLS: "maybe"}, `StartTLS "maybe"`},
		{"BadHelo", smtp.Config{Host: "smtp.example.com", From: "a@example.com", HeloName: "a b"}, "HeloName"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := smtp.New(tc.cfg)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.wantErr)
		})
	}
}

var messageIDPattern = regexp.MustCompile(`^<[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@conversa\.test>$`)

func TestSendMessage(t *testing.T) {
	t.Parallel()
	longSubject := "Confirmação do seu pedido nº 12345 — entrega prevista para sexta-feira, às 14h, em São Paulo"
	tests := []struct {
		name        string
		from        string
		msg         provider.Message
		wantRcpt    string
		wantTo      string
		wantFrom    string
		wantSubject string // decoded; empty means no Subject header
		wantBody    string // decoded, CRLF line endings
		wantRawBody []string
		wantReplyTo string
	}{
		{
			name:        "PlainASCII",
			msg:         provider.Message{To: "ana@example.com", Kind: provider.KindText, Subject: "Hello", Text: "Hi Ana,\nsee you.\n"},
			wantRcpt:    "ana@example.com",
			wantTo:      "<ana@example.com>",
			wantSubject: "Hello",
			wantBody:    "Hi Ana,\r\nsee you.\r\n",
		},
		{
			name: "Accents",
			msg: provider.Message{To: "Ana Souza <ana@example.com>", Kind: provider.KindText,
				Subject: "Atenção: promoção", Text: "Olá, Ana! Sua inscrição está confirmada. Até já — equipe"},
			wantRcpt:    "ana@example.com",
			wantTo:      `"Ana Souza" <ana@example.com>`,
			wantSubject: "Atenção: promoção",
			wantBody:    "Olá, Ana! Sua inscrição está confirmada. Até já — equipe\r\n",
			wantRawBody: []string{"Ol=C3=A1", "inscri=C3=A7=C3=A3o", "est=C3=A1", "=E2=80=94"},
		},
		{
			name:        "LongNonASCIISubjectFolded",
			msg:         provider.Message{To: "ana@example.com", Kind: provider.KindText, Subject: longSubject, Text: "x"},
			wantRcpt:    "ana@example.com",
			wantTo:      "<ana@example.com>",
			wantSubject: longSubject,
			wantBody:    "x\r\n",
		},
		{
			name:        "NonASCIIFromName",
			from:        "João da Silva <joao@conversa.test>",
			msg:         provider.Message{To: "ana@example.com", Kind: provider.KindText, Subject: "Oi", Text: "oi"},
			wantRcpt:    "ana@example.com",
			wantTo:      "<ana@example.com>",
			wantFrom:    "João da Silva <joao@conversa.test>",
			wantSubject: "Oi",
			wantBody:    "oi\r\n",
		},
		{
			name:     "NoSubject",
			msg:      provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "hi"},
			wantRcpt: "ana@example.com",
			wantTo:   "<ana@example.com>",
			wantBody: "hi\r\n",
		},
		{
			name: "Threading",
			msg: provider.Message{To: "ana@example.com", Kind: provider.KindText, Subject: "Re: pedido", Text: "ok",
				ReplyTo: "CAF=abc.123@mail.example.com"},
			wantRcpt:    "ana@example.com",
			wantTo:      "<ana@example.com>",
			wantSubject: "Re: pedido",
			wantBody:    "ok\r\n",
			wantReplyTo: "<CAF=abc.123@mail.example.com>",
		},
		{
			name: "ThreadingWithBrackets",
			msg: provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "ok",
				ReplyTo: "<1b4e28ba-2fa1-11d2-883f-0016d3cca427@conversa.test>"},
			wantRcpt:    "ana@example.com",
			wantTo:      "<ana@example.com>",
			wantBody:    "ok\r\n",
			wantReplyTo: "<1b4e28ba-2fa1-11d2-883f-0016d3cca427@conversa.test>",
		},
		{
			name:     "DotLinesSurviveStuffing",
			msg:      provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "line\n.\n..two\n.end"},
			wantRcpt: "ana@example.com",
			wantTo:   "<ana@example.com>",
			wantBody: "line\r\n.\r\n..two\r\n.end\r\n",
		},
		{
			name: "SubjectHeaderInjection",
			msg: provider.Message{To: "ana@example.com", Kind: provider.KindText, Subject: "hi\r\nBcc: evil@example.com",
				Text: "x"},
			wantRcpt:    "ana@example.com",
			wantTo:      "<ana@example.com>",
			wantSubject: "hi  Bcc: evil@example.com",
			wantBody:    "x\r\n",
		},
		{
			name: "TemplateRendered",
			msg: provider.Message{To: "ana@example.com", Kind: provider.KindTemplate, Subject: "Código", Text: "Seu código é 123",
				Template: &provider.Template{Name: "otp"}},
			wantRcpt:    "ana@example.com",
			wantTo:      "<ana@example.com>",
			wantSubject: "Código",
			wantBody:    "Seu código é 123\r\n",
		},
		{
			name: "MediaAsLink",
			msg: provider.Message{To: "ana@example.com", Kind: provider.KindMedia, Subject: "Nota", Text: "Segue a nota.",
				Media: &provider.Media{Kind: provider.Document, URL: "https://files.example.com/n/123.pdf",
					Caption: "Nota fiscal de março", Filename: "nota-123.pdf"}},
			wantRcpt:    "ana@example.com",
			wantTo:      "<ana@example.com>",
			wantSubject: "Nota",
			wantBody:    "Segue a nota.\r\n\r\nNota fiscal de março\r\n\r\nnota-123.pdf: https://files.example.com/n/123.pdf\r\n",
		},
		{
			name: "MediaLinkOnly",
			msg: provider.Message{To: "ana@example.com", Kind: provider.KindMedia,
				Media: &provider.Media{Kind: provider.Image, URL: "https://files.example.com/a.jpg"}},
			wantRcpt: "ana@example.com",
			wantTo:   "<ana@example.com>",
			wantBody: "https://files.example.com/a.jpg\r\n",
		},
		{
			name: "LongLineSoftBreaks",
			msg: provider.Message{To: "ana@example.com", Kind: provider.KindText,
				Text: strings.Repeat("ação ", 40)},
			wantRcpt: "ana@example.com",
			wantTo:   "<ana@example.com>",
			wantBody: strings.Repeat("ação ", 40) + "\r\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.NewServer(t, smtptest.Options{})
			c := newClient(t, srv, func(cfg *smtp.Config) {
				if tc.from != "" {
					cfg.From = tc.from
				}
			})
			sent, err := c.Send(context.Background(), tc.msg)
			require.NoError(t, err)
			require.Regexp(t, messageIDPattern, sent.ID)

			msgs := srv.Messages()
			require.Len(t, msgs, 1)
			got := msgs[0]
			require.Equal(t, "app.conversa.test", got.Helo)
			require.Equal(t, []string{tc.wantRcpt}, got.To)
			wantEnvelopeFrom := "no-reply@conversa.test"
			if tc.from != "" {
				wantEnvelopeFrom = "joao@conversa.test"
			}
			require.Equal(t, wantEnvelopeFrom, got.From)

			// Every line ends in CRLF and stays within the RFC 5322 limits.
			require.True(t, bytes.HasSuffix(got.Data, []byte("\r\n")))
			head, rawBody, ok := bytes.Cut(got.Data, []byte("\r\n\r\n"))
			require.True(t, ok)
			for _, line := range strings.Split(strings.TrimSuffix(string(got.Data), "\r\n"), "\r\n") {
				require.NotContains(t, line, "\n")
				require.LessOrEqual(t, len(line), 76, "line %q", line)
			}
			for _, line := range strings.Split(string(head), "\r\n") {
				for _, r := range line {
					require.Less(t, r, rune(128), "header line %q must be ASCII", line)
				}
			}
			for _, want := range tc.wantRawBody {
				require.Contains(t, string(rawBody), want)
			}

			m, err := mail.ReadMessage(bytes.NewReader(got.Data))
			require.NoError(t, err)
			h := m.Header
			require.Equal(t, sent.ID, h.Get("Message-ID"))
			date, err := h.Date()
			require.NoError(t, err)
			require.True(t, now.Equal(date), "Date %v", date)
			require.Equal(t, "1.0", h.Get("MIME-Version"))
			require.Equal(t, "text/plain; charset=UTF-8", h.Get("Content-Type"))
			require.Equal(t, "quoted-printable", h.Get("Content-Transfer-Encoding"))
			require.Equal(t, tc.wantTo, h.Get("To"))
			require.Empty(t, h.Get("Bcc"))

			fromAddr, err := mail.ParseAddress(h.Get("From"))
			require.NoError(t, err)
			wantFrom := tc.wantFrom
			if wantFrom == "" {
				wantFrom = sender
			}
			wantAddr, err := mail.ParseAddress(wantFrom)
			require.NoError(t, err)
			require.Equal(t, wantAddr, fromAddr)

			if tc.wantSubject == "" {
				require.NotContains(t, h, "Subject")
			} else {
				subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
				require.NoError(t, err)
				require.Equal(t, tc.wantSubject, subject)
			}
			require.Equal(t, tc.wantReplyTo, h.Get("In-Reply-To"))
			require.Equal(t, tc.wantReplyTo, h.Get("References"))

			body, err := io.ReadAll(quotedprintable.NewReader(m.Body))
			require.NoError(t, err)
			require.Equal(t, tc.wantBody, string(body))
		})
	}
}

func TestSendMessageIDsAreUnique(t *testing.T) {
	t.Parallel()
	srv := smtptest.NewServer(t, smtptest.Options{})
	c := newClient(t, srv, nil)
	seen := map[string]bool{}
	for range 3 {
		sent, err := c.Send(context.Background(), provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "x"})
		require.NoError(t, err)
		require.False(t, seen[sent.ID])
		seen[sent.ID] = true
	}
	require.Len(t, srv.Messages(), 3)
}

func TestSendRefusedLocally(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		msg      provider.Message
		wantCode string
		wantText string
	}{
		{"NoRecipient", provider.Message{Kind: provider.KindText, Text: "hi"}, smtp.CodeInvalidMessage, "no recipient"},
		{"BadRecipient", provider.Message{To: "ana at example", Kind: provider.KindText, Text: "hi"}, smtp.CodeInvalidMessage, "not an e-mail address"},
		{"InjectedRecipient", provider.Message{To: "ana@example.com\r\nBcc: x@example.com", Kind: provider.KindText, Text: "hi"},
			smtp.CodeInvalidMessage, "not an e-mail address"},
		{"EmptyText", provider.Message{To: "ana@example.com", Kind: provider.KindText}, smtp.CodeInvalidMessage, "no text"},
		{"TemplateWithoutText", provider.Message{To: "ana@example.com", Kind: provider.KindTemplate,
			Template: &provider.Template{Name: "otp"}}, smtp.CodeUnsupported, "no message templates"},
		{"MediaWithoutLink", provider.Message{To: "ana@example.com", Kind: provider.KindMedia,
			Media: &provider.Media{Kind: provider.Image}}, smtp.CodeInvalidMessage, "no media link"},
		{"Contact", provider.Message{To: "ana@example.com", Kind: provider.KindContact,
			Contact: &provider.ContactCard{Name: "Ana"}}, smtp.CodeUnsupported, `"contact"`},
		{"Reaction", provider.Message{To: "ana@example.com", Kind: provider.KindReaction,
			Reaction: &provider.Reaction{MessageID: "<a@b>", Emoji: "👍"}}, smtp.CodeUnsupported, `"reaction"`},
		{"BadReplyTo", provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "hi", ReplyTo: "no-at-sign"},
			smtp.CodeInvalidMessage, "not a Message-ID"},
		{"InjectedReplyTo", provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "hi", ReplyTo: "a@b>\r\nBcc: x@y"},
			smtp.CodeInvalidMessage, "not a Message-ID"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.NewServer(t, smtptest.Options{})
			c := newClient(t, srv, nil)
			_, err := c.Send(context.Background(), tc.msg)
			var pe *provider.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.wantCode, pe.Code)
			require.False(t, pe.Retryable)
			require.Contains(t, pe.Reason, tc.wantText)
			require.Empty(t, srv.Commands(), "no connection may be made")
		})
	}
}

func TestSendSession(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		opts         smtptest.Options
		host         string // overrides the server's host when set
		mode         smtp.StartTLSMode
		username     string
		password     string
		trust        bool
		wantCode     string // a *provider.Error code; empty for success
		wantErr      string // a plain error's text, for non-provider failures
		wantTLS      bool
		wantAuthUser string
		wantCommands []string // verbs expected in order (subsequence of the transcript)
	}{
		{
			name: "RequireTLSAndAuth", opts: smtptest.Options{TLS: true, Username: "bot", Password: "pw"},
			mode: smtp.StartTLSRequire, username: "bot", password: "pw", trust: true,
			wantTLS: true, wantAuthUser: "bot",
			wantCommands: []string{"EHLO", "NOOP", "STARTTLS", "EHLO", "AUTH PLAIN ***", "MAIL", "RCPT", "DATA", "QUIT"},
		},
		{
			// A non-localhost spelling of the loopback address: AUTH is allowed only over TLS.
			name: "RequireTLSAndAuthRemoteName", opts: smtptest.Options{TLS: true, Username: "bot", Password: "pw"},
			host: "::ffff:127.0.0.1", mode: smtp.StartTLSRequire, username: "bot", password: "pw", trust: true,
			wantTLS: true, wantAuthUser: "bot",
		},
		{
			name: "RequireButNotOffered", opts: smtptest.Options{},
			mode: smtp.StartTLSRequire, wantCode: smtp.CodeStartTLSUnavailable,
		},
		{
			name: "IfOfferedNotOffered", opts: smtptest.Options{},
			mode: smtp.StartTLSIfOffered, wantTLS: false,
			wantCommands: []string{"EHLO", "MAIL", "RCPT", "DATA"},
		},
		{
			name: "IfOfferedOffered", opts: smtptest.Options{TLS: true},
			mode: smtp.StartTLSIfOffered, trust: true, wantTLS: true,
			wantCommands: []string{"STARTTLS", "EHLO", "MAIL"},
		},
		{
			name: "OffIgnoresOffer", opts: smtptest.Options{TLS: true},
			mode: smtp.StartTLSOff, wantTLS: false,
		},
		{
			name: "UntrustedCertificate", opts: smtptest.Options{TLS: true},
			mode: smtp.StartTLSRequire, trust: false, wantErr: "STARTTLS",
		},
		{
			name: "AuthOverClearTextToLocalhost", opts: smtptest.Options{Username: "bot", Password: "pw"},
			mode: smtp.StartTLSOff, username: "bot", password: "pw", wantAuthUser: "bot",
		},
		{
			name: "AuthOverClearTextToRemoteRefused", opts: smtptest.Options{Username: "bot", Password: "pw"},
			host: "::ffff:127.0.0.1", mode: smtp.StartTLSOff, username: "bot", password: "pw",
			wantCode: smtp.CodeAuthNeedsTLS,
		},
		{
			name: "WrongPassword", opts: smtptest.Options{TLS: true, Username: "bot", Password: "pw"},
			mode: smtp.StartTLSRequire, username: "bot", password: "nope", trust: true,
			wantCode: "535 5.7.8",
		},
		{
			name: "AuthRequiredButNotConfigured", opts: smtptest.Options{Username: "bot", Password: "pw"},
			mode: smtp.StartTLSOff, wantCode: "530 5.7.0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.NewServer(t, tc.opts)
			c := newClient(t, srv, func(cfg *smtp.Config) {
				if tc.host != "" {
					cfg.Host = tc.host
				}
				cfg.StartTLS = tc.mode
				cfg.Username, cfg.Password = tc.username, tc.password
				if tc.trust {
					cfg.TLSConfig = srv.ClientTLSConfig()
				}
			})
			_, err := c.Send(context.Background(), provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "hi"})
			switch {
			case tc.wantCode != "":
				var pe *provider.Error
				require.ErrorAs(t, err, &pe)
				require.Equal(t, tc.wantCode, pe.Code)
				require.False(t, pe.Retryable)
				require.Empty(t, srv.Messages())
				return
			case tc.wantErr != "":
				require.ErrorContains(t, err, tc.wantErr)
				var pe *provider.Error
				require.False(t, errors.As(err, &pe))
				require.Empty(t, srv.Messages())
				return
			}
			require.NoError(t, err)
			msgs := srv.Messages()
			require.Len(t, msgs, 1)
			require.Equal(t, tc.wantTLS, msgs[0].TLS)
			require.Equal(t, tc.wantAuthUser, msgs[0].AuthUser)
			if tc.wantCommands != nil {
				requireSubsequence(t, tc.wantCommands, srv.Commands())
			}
			for _, cmd := range srv.Commands() {
				require.NotContains(t, cmd, "cHc", "credentials must not be logged") // base64 of "pw"
			}
		})
	}
}

// requireSubsequence checks that each wanted prefix matches a command, in order.
func requireSubsequence(t *testing.T, want, commands []string) {
	t.Helper()
	i := 0
	for _, cmd := range commands {
		if i < len(want) && strings.HasPrefix(cmd, want[i]) {
			i++
		}
	}
	require.Equal(t, len(want), i, "commands %q should contain %q in order", commands, want)
}

func TestSendServerReplies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		opts          smtptest.Options
		wantCode      string
		wantRetryable bool
		wantReason    string
		wantStage     string
	}{
		{"GreetingBusy", smtptest.Options{Greeting: &smtptest.Reply{Code: 421, Text: "4.3.2 Service not available, closing"}},
			"421 4.3.2", true, "4.3.2 Service not available, closing", "greeting"},
		{"GreetingRefused", smtptest.Options{Greeting: &smtptest.Reply{Code: 554, Text: "No SMTP service here"}},
			"554", false, "No SMTP service here", "greeting"},
		{"MailGreylisted", smtptest.Options{RejectMail: &smtptest.Reply{Code: 451, Text: "4.7.1 Greylisted, try again later"}},
			"451 4.7.1", true, "Greylisted", "MAIL FROM"},
		{"MailPolicy", smtptest.Options{RejectMail: &smtptest.Reply{Code: 553, Text: "5.7.1 Sender address rejected"}},
			"553 5.7.1", false, "Sender address rejected", "MAIL FROM"},
		{"RcptMailboxFull", smtptest.Options{RejectRcpt: &smtptest.Reply{Code: 452, Text: "4.2.2 Mailbox full"}},
			"452 4.2.2", true, "Mailbox full", "RCPT TO"},
		{"RcptUnknownUser", smtptest.Options{RejectRcpt: &smtptest.Reply{Code: 550, Text: "5.1.1 The email account that you tried to reach does not exist"}},
			"550 5.1.1", false, "does not exist", "RCPT TO"},
		{"RcptMultiline", smtptest.Options{RejectRcpt: &smtptest.Reply{Code: 550,
			Text: "5.1.1 The email account that you tried to reach does not exist.\n5.1.1 Please try double-checking the address."}},
			"550 5.1.1", false, "does not exist. Please try double-checking the address.", "RCPT TO"},
		{"RcptNoEnhancedCode", smtptest.Options{RejectRcpt: &smtptest.Reply{Code: 550, Text: "Mailbox unavailable"}},
			"550", false, "Mailbox unavailable", "RCPT TO"},
		{"DataTooBig", smtptest.Options{RejectData: &smtptest.Reply{Code: 552, Text: "5.3.4 Message size exceeds fixed limit"}},
			"552 5.3.4", false, "size exceeds", "end of DATA"},
		{"DataSpam", smtptest.Options{RejectData: &smtptest.Reply{Code: 554, Text: "5.7.1 Message rejected as spam"}},
			"554 5.7.1", false, "rejected as spam", "end of DATA"},
		{"DataTemporary", smtptest.Options{RejectData: &smtptest.Reply{Code: 451, Text: "4.3.0 Temporary local problem"}},
			"451 4.3.0", true, "Temporary local problem", "end of DATA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := smtptest.NewServer(t, tc.opts)
			c := newClient(t, srv, nil)
			_, err := c.Send(context.Background(), provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "hi"})
			var pe *provider.Error
			require.ErrorAs(t, err, &pe)
			require.Equal(t, tc.wantCode, pe.Code)
			require.Equal(t, tc.wantRetryable, pe.Retryable)
			require.Contains(t, pe.Reason, tc.wantReason)
			require.Zero(t, pe.HTTPStatus)
			require.ErrorContains(t, err, "smtp: "+tc.wantStage+":")
			require.Empty(t, srv.Messages())
		})
	}
}

func TestReplyError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		code          int
		text          string
		wantCode      string
		wantReason    string
		wantRetryable bool
	}{
		{"Transient", 450, "4.2.1 Try later", "450 4.2.1", "4.2.1 Try later", true},
		{"Permanent", 550, "5.1.1 No such user", "550 5.1.1", "5.1.1 No such user", false},
		{"NoEnhanced", 554, "Transaction failed", "554", "Transaction failed", false},
		{"EnhancedOnly", 421, "4.4.2", "421 4.4.2", "4.4.2", true},
		{"NotEnhancedNumber", 550, "5.1 is not enhanced", "550", "5.1 is not enhanced", false},
		{"Multiline", 550, "5.7.1 Blocked\n5.7.1 see https://x.test", "550 5.7.1", "5.7.1 Blocked see https://x.test", false},
		{"Empty", 451, "", "451", "SMTP reply 451", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := smtp.ReplyError(tc.code, tc.text)
			require.Equal(t, tc.wantCode, e.Code)
			require.Equal(t, tc.wantReason, e.Reason)
			require.Equal(t, tc.wantRetryable, e.Retryable)
		})
	}
}

func TestSendTransportFailures(t *testing.T) {
	t.Parallel()
	// A server that accepts connections and never greets.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	accepted := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := silent.Accept()
			if err != nil {
				return
			}
			accepted <- conn
		}
	}()
	t.Cleanup(func() {
		_ = silent.Close()
		<-done
		close(accepted)
		for conn := range accepted {
			_ = conn.Close()
		}
	})
	silentPort := silent.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name    string
		port    func(t *testing.T) int
		ctx     func(t *testing.T) context.Context
		wantIs  error
		wantErr string
	}{
		{
			name: "ConnectionRefused",
			port: func(t *testing.T) int {
				srv := smtptest.NewServer(t, smtptest.Options{})
				srv.Close()
				return srv.Port()
			},
			ctx:     func(*testing.T) context.Context { return context.Background() },
			wantErr: "smtp: connect",
		},
		{
			name: "Canceled",
			port: func(t *testing.T) int { return silentPort },
			ctx: func(*testing.T) context.Context {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx
			},
			wantIs: context.Canceled,
		},
		{
			name: "DeadlineWhileWaitingForGreeting",
			port: func(t *testing.T) int { return silentPort },
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			wantIs: context.DeadlineExceeded,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := smtp.New(smtp.Config{Host: "127.0.0.1", Port: tc.port(t), From: sender, StartTLS: smtp.StartTLSOff})
			require.NoError(t, err)
			_, err = c.Send(tc.ctx(t), provider.Message{To: "ana@example.com", Kind: provider.KindText, Text: "hi"})
			require.Error(t, err)
			var pe *provider.Error
			require.False(t, errors.As(err, &pe), "a transport failure is not a provider refusal: %v", err)
			if tc.wantIs != nil {
				require.ErrorIs(t, err, tc.wantIs)
			}
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
			}
		})
	}
}
