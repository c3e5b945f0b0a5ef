// Package twiliotest is a stand-in for Twilio's Messages API in tests: an httptest server
// answering POST /2010-04-01/Accounts/{sid}/Messages.json in Twilio's shape, checking HTTP
// Basic auth and the form fields Twilio requires, recording every request and failing on
// demand; plus SignedRequest, which builds webhook deliveries signed the way Twilio signs
// them. It keeps no message state: there are no GETs and no status callbacks of its own.
package twiliotest

import (
	"crypto/hmac"
	"crypto/sha1" // Twilio defines its webhook signature as HMAC-SHA1.
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Request is one recorded call to the Messages endpoint.
type Request struct {
	// AccountSID is the account in the request path.
	AccountSID string
	// Form is the posted form.
	Form url.Values
}

// Failure is an error answer the server gives instead of creating a message.
type Failure struct {
	// HTTPStatus is the answer's status (400, 429, 503...).
	HTTPStatus int
	// Code and Message are Twilio's error code and text.
	Code    int
	Message string
	// RetryAfter, when set, is sent as the Retry-After header.
	RetryAfter string
}

// Server is a running fake Messages API. Safe for concurrent use.
type Server struct {
	accountSID string
	authToken  string
	srv        *httptest.Server

	mu       sync.Mutex
	requests []Request
	failures []Failure
	count    int
}

// NewServer starts a fake Messages API for one account and closes it when the test ends.
// Wrong Basic credentials get 401 with code 20003, another account in the path 404 with
// 20404, missing fields the 400 Twilio gives (21604 To, 21603 From, 21602 Body), a To that
// is not E.164 400 with 21211.
func NewServer(tb testing.TB, accountSID, authToken string) *Server {
	tb.Helper()
	s := &Server{accountSID: accountSID, authToken: authToken}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to put in twilio.Config.BaseURL.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server early (to test transport failures).
func (s *Server) Close() { s.srv.Close() }

// Requests returns a copy of the authenticated calls received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// FailNext makes the next authenticated calls fail, one Failure per call, in order.
func (s *Server) FailNext(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

var (
	messagesPath = regexp.MustCompile(`^/2010-04-01/Accounts/([^/]+)/Messages\.json$`)
	e164         = regexp.MustCompile(`^(whatsapp:)?\+[1-9][0-9]{6,14}$`)
)

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	m := messagesPath.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		writeError(w, Failure{HTTPStatus: http.StatusNotFound, Code: 20404, Message: "The requested resource " + r.URL.Path + " was not found"})
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.accountSID || pass != s.authToken {
		writeError(w, Failure{HTTPStatus: http.StatusUnauthorized, Code: 20003, Message: "Authenticate"})
		return
	}
	if m[1] != s.accountSID {
		writeError(w, Failure{HTTPStatus: http.StatusNotFound, Code: 20404, Message: "The requested resource " + r.URL.Path + " was not found"})
		return
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 20001, Message: "Content-Type must be application/x-www-form-urlencoded, got " + ct})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 20001, Message: "Invalid form: " + err.Error()})
		return
	}
	form := r.PostForm

	s.mu.Lock()
	s.requests = append(s.requests, Request{AccountSID: m[1], Form: form})
	var fail *Failure
	if len(s.failures) > 0 {
		fail = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.count++
	n := s.count
	s.mu.Unlock()

	if fail != nil {
		writeError(w, *fail)
		return
	}
	switch to := form.Get("To"); {
	case to == "":
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 21604, Message: "A 'To' phone number is required."})
		return
	case !e164.MatchString(to):
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 21211, Message: "Invalid 'To' Phone Number: " + to})
		return
	}
	if form.Get("From") == "" && form.Get("MessagingServiceSid") == "" {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 21603, Message: "A 'From' phone number is required."})
		return
	}
	if form.Get("Body") == "" && form.Get("MediaUrl") == "" {
		writeError(w, Failure{HTTPStatus: http.StatusBadRequest, Code: 21602, Message: "Message body is required."})
		return
	}
	prefix, status := "SM", "queued"
	if form.Get("MediaUrl") != "" {
		prefix = "MM"
	}
	if form.Get("MessagingServiceSid") != "" {
		status = "accepted"
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"sid":                   fmt.Sprintf("%s%032x", prefix, n),
		"account_sid":           s.accountSID,
		"messaging_service_sid": nilIfEmpty(form.Get("MessagingServiceSid")),
		"from":                  nilIfEmpty(form.Get("From")),
		"to":                    form.Get("To"),
		"body":                  form.Get("Body"),
		"status":                status,
		"num_media":             fmt.Sprint(len(form["MediaUrl"])),
		"num_segments":          "1",
		"direction":             "outbound-api",
		"api_version":           "2010-04-01",
		"error_code":            nil,
		"error_message":         nil,
	})
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func writeError(w http.ResponseWriter, f Failure) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	writeJSON(w, f.HTTPStatus, map[string]any{
		"code":      f.Code,
		"message":   f.Message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", f.Code),
		"status":    f.HTTPStatus,
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Signature computes X-Twilio-Signature the way Twilio does: base64(HMAC-SHA1(authToken,
// url + each name and value, sorted by name, then by value for a repeated name)). It is
// written independently of the adapter's own code so the two check each other.
func Signature(authToken, webhookURL string, form url.Values) string {
	var b strings.Builder
	b.WriteString(webhookURL)
	names := make([]string, 0, len(form))
	for k := range form {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		vs := append([]string(nil), form[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			b.WriteString(k + v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SignedRequest builds the POST Twilio would make to webhookURL with form, signed with
// authToken, and returns it with its body (what the adapter's Parse takes).
func SignedRequest(webhookURL, authToken string, form url.Values) (*http.Request, []byte) {
	body := []byte(form.Encode())
	r := httptest.NewRequest(http.MethodPost, webhookURL, strings.NewReader(string(body)))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.Header.Set("X-Twilio-Signature", Signature(authToken, webhookURL, form))
	r.Header.Set("I-Twilio-Idempotency-Token", fmt.Sprintf("%x", sha1.Sum(body)))
	return r, body
}
