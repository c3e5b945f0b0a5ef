// Package smtptest is a tiny SMTP server for tests (RFC 5321 subset): it listens on
// 127.0.0.1 and speaks EHLO/HELO, optional STARTTLS (with a throwaway self-signed
// certificate), optional AUTH PLAIN, MAIL FROM, RCPT TO, DATA with dot-unstuffing, RSET,
// NOOP and QUIT, and records the messages it accepts. It can refuse the greeting, MAIL,
// RCPT or the end of DATA with a given reply. It does not relay, check addresses, pipeline,
// or enforce size limits.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

// Reply is an SMTP reply; a Text with newlines is sent as a multi-line reply.
type Reply struct {
	Code int
	Text string
}

// Options configures a Server; the zero value accepts everything without TLS or AUTH.
type Options struct {
	// Username and Password, when Username is set, make the server advertise AUTH PLAIN and
	// require it before MAIL FROM.
	Username string
	Password string
	// TLS makes the server advertise STARTTLS; ClientTLSConfig trusts its certificate.
	TLS bool
	// Greeting, when set, replaces the 220 greeting (421 or 554 to refuse the session).
	Greeting *Reply
	// RejectMail, RejectRcpt and RejectData, when set, are the replies to MAIL FROM, RCPT TO
	// and the end of DATA instead of 250.
	RejectMail *Reply
	RejectRcpt *Reply
	RejectData *Reply
}

// Message is one accepted message with its envelope and session facts.
type Message struct {
	// Helo is the name the client gave in EHLO or HELO (after STARTTLS, the second one).
	Helo string
	// TLS says the message came over a STARTTLS-upgraded connection.
	TLS bool
	// AuthUser is the user that authenticated, empty without AUTH.
	AuthUser string
	From     string
	To       []string
	// Data is the message as received, dot-unstuffed, CRLF line endings, without the final
	// ".".
	Data []byte
}

// Server is a running test SMTP server. Safe for concurrent use.
type Server struct {
	opts      Options
	ln        net.Listener
	serverTLS *tls.Config
	clientTLS *tls.Config

	mu       sync.Mutex
	messages []Message
	commands []string
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// NewServer starts a server on 127.0.0.1 (a free port) and stops it when the test ends.
func NewServer(tb testing.TB, opts Options) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s := &Server{opts: opts, ln: ln, conns: map[net.Conn]struct{}{}}
	if opts.TLS {
		if s.serverTLS, s.clientTLS, err = selfSigned(); err != nil {
			_ = ln.Close()
			tb.Fatalf("smtptest: certificate: %v", err)
		}
	}
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.Close)
	return s
}

// Host is the address the server listens on, "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the port the server listens on.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// ClientTLSConfig trusts the server's certificate (valid for 127.0.0.1, ::1 and localhost);
// nil unless Options.TLS.
func (s *Server) ClientTLSConfig() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// Messages returns a copy of the accepted messages, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Commands returns the command lines received so far, in order, across sessions, with AUTH
// credentials replaced by "***".
func (s *Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// Close stops the server and ends open sessions; it is safe to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	_ = s.ln.Close()
	s.wg.Wait()
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = conn.Close()
			return
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			s.serve(conn)
			s.mu.Lock()
			delete(s.conns, conn)
			s.mu.Unlock()
		}()
	}
}

// session is the state of one connection.
type session struct {
	helo     string
	tls      bool
	authUser string
	from     string
	hasFrom  bool
	to       []string
}

func reply(tp *textproto.Conn, code int, text string) error {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		if err := tp.PrintfLine("%d%s%s", code, sep, l); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) serve(conn net.Conn) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	greeting := Reply{220, "127.0.0.1 ESMTP smtptest"}
	if s.opts.Greeting != nil {
		greeting = *s.opts.Greeting
	}
	if reply(tp, greeting.Code, greeting.Text) != nil || greeting.Code != 220 {
		return
	}
	var st session
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		verb = strings.ToUpper(verb)
		s.record(verb, line)
		switch verb {
		case "EHLO":
			st = session{helo: arg, tls: st.tls}
			ext := []string{"127.0.0.1 greets " + arg, "8BITMIME", "ENHANCEDSTATUSCODES"}
			if s.opts.TLS && !st.tls {
				ext = append(ext, "STARTTLS")
			}
			if s.opts.Username != "" {
				ext = append(ext, "AUTH PLAIN")
			}
			err = reply(tp, 250, strings.Join(ext, "\n"))
		case "HELO":
			st = session{helo: arg, tls: st.tls}
			err = reply(tp, 250, "127.0.0.1 greets "+arg)
		case "STARTTLS":
			if !s.opts.TLS || st.tls {
				err = reply(tp, 502, "5.5.1 STARTTLS not available")
				break
			}
			if err = reply(tp, 220, "2.0.0 Ready to start TLS"); err != nil {
				return
			}
			tlsConn := tls.Server(conn, s.serverTLS)
			if err := tlsConn.Handshake(); err != nil {
				return
			}
			tp = textproto.NewConn(tlsConn)
			st = session{tls: true} // RFC 3207: forget everything, expect a new EHLO
		case "AUTH":
			err = s.auth(tp, &st, arg)
		case "MAIL":
			switch addr, ok := path(arg, "FROM:"); {
			case st.helo == "":
				err = reply(tp, 503, "5.5.1 Send EHLO first")
			case s.opts.Username != "" && st.authUser == "":
				err = reply(tp, 530, "5.7.0 Authentication required")
			case !ok:
				err = reply(tp, 501, "5.5.4 Syntax: MAIL FROM:<address>")
			case s.opts.RejectMail != nil:
				err = reply(tp, s.opts.RejectMail.Code, s.opts.RejectMail.Text)
			default:
				st.from, st.hasFrom, st.to = addr, true, nil
				err = reply(tp, 250, "2.1.0 Sender OK")
			}
		case "RCPT":
			switch addr, ok := path(arg, "TO:"); {
			case !st.hasFrom:
				err = reply(tp, 503, "5.5.1 Need MAIL before RCPT")
			case !ok || addr == "":
				err = reply(tp, 501, "5.5.4 Syntax: RCPT TO:<address>")
			case s.opts.RejectRcpt != nil:
				err = reply(tp, s.opts.RejectRcpt.Code, s.opts.RejectRcpt.Text)
			default:
				st.to = append(st.to, addr)
				err = reply(tp, 250, "2.1.5 Recipient OK")
			}
		case "DATA":
			if len(st.to) == 0 {
				err = reply(tp, 503, "5.5.1 Need RCPT before DATA")
				break
			}
			err = s.data(tp, &st)
		case "RSET":
			st.from, st.hasFrom, st.to = "", false, nil
			err = reply(tp, 250, "2.0.0 OK")
		case "NOOP":
			err = reply(tp, 250, "2.0.0 OK")
		case "QUIT":
			_ = reply(tp, 221, "2.0.0 Bye")
			return
		default:
			err = reply(tp, 502, "5.5.2 Command not recognized")
		}
		if err != nil {
			return
		}
	}
}

func (s *Server) record(verb, line string) {
	if verb == "AUTH" {
		mech, _, _ := strings.Cut(strings.TrimPrefix(line[len(verb):], " "), " ")
		line = "AUTH " + mech + " ***"
	}
	s.mu.Lock()
	s.commands = append(s.commands, line)
	s.mu.Unlock()
}

// auth handles AUTH PLAIN, with or without an initial response.
func (s *Server) auth(tp *textproto.Conn, st *session, arg string) error {
	if s.opts.Username == "" {
		return reply(tp, 502, "5.5.1 AUTH not available")
	}
	if st.authUser != "" {
		return reply(tp, 503, "5.5.1 Already authenticated")
	}
	mech, initial, _ := strings.Cut(arg, " ")
	if !strings.EqualFold(mech, "PLAIN") {
		return reply(tp, 504, "5.5.4 Unrecognized authentication type")
	}
	if initial == "" {
		if err := reply(tp, 334, ""); err != nil {
			return err
		}
		var err error
		if initial, err = tp.ReadLine(); err != nil {
			return err
		}
	}
	if initial == "*" {
		return reply(tp, 501, "5.7.0 Authentication cancelled")
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	if err != nil {
		return reply(tp, 501, "5.5.2 Cannot decode response")
	}
	parts := bytes.Split(raw, []byte{0})
	if len(parts) != 3 || string(parts[1]) != s.opts.Username || string(parts[2]) != s.opts.Password {
		return reply(tp, 535, "5.7.8 Authentication credentials invalid")
	}
	st.authUser = string(parts[1])
	return reply(tp, 235, "2.7.0 Authentication successful")
}

// data reads a message up to the lone ".", undoing dot-stuffing.
func (s *Server) data(tp *textproto.Conn, st *session) error {
	if err := reply(tp, 354, "Start mail input; end with <CRLF>.<CRLF>"); err != nil {
		return err
	}
	var buf bytes.Buffer
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return err
		}
		if line == "." {
			break
		}
		buf.WriteString(strings.TrimPrefix(line, "."))
		buf.WriteString("\r\n")
	}
	msg := Message{Helo: st.helo, TLS: st.tls, AuthUser: st.authUser, From: st.from,
		To: append([]string(nil), st.to...), Data: buf.Bytes()}
	st.from, st.hasFrom, st.to = "", false, nil
	if r := s.opts.RejectData; r != nil {
		return reply(tp, r.Code, r.Text)
	}
	s.mu.Lock()
	s.messages = append(s.messages, msg)
	n := len(s.messages)
	s.mu.Unlock()
	return reply(tp, 250, fmt.Sprintf("2.0.0 OK queued as %d", n))
}

// path reads "FROM:<addr> [params]" or "TO:<addr> [params]" (prefix case-insensitive).
func path(arg, prefix string) (string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", false
	}
	rest := strings.TrimSpace(arg[len(prefix):])
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}

// selfSigned makes a throwaway certificate for the loopback addresses and the client
// config that trusts it.
func selfSigned() (server, client *tls.Config, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, fmt.Errorf("parse certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return server, client, nil
}
