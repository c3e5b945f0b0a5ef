// Package whatsapptest is a local fake of the WhatsApp Cloud API for tests (reference
// whatsapp-cloud-api.md §9): an httptest server that checks the Bearer token and the request's
// wire format the way Meta does, answers with Meta's success and error envelopes (§1.5, §1.6),
// records what it received, can be told to fail the next calls with a given code, keeps a
// template catalogue, and builds correctly signed webhook requests (§2.2).
//
// It depends on nothing in package whatsapp, so that package's own tests can use it.
// Not simulated: rate limits, the 24 h window, media upload and download, template list and
// delete, and status webhooks pushed by the server itself (build them with StatusPayload and
// SignedWebhook instead).
package whatsapptest

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// DefaultAccessToken is the token the server expects when Config.AccessToken is empty.
const DefaultAccessToken = "test-access-token"

// Config shapes a Server.
type Config struct {
	// AccessToken is the only Bearer token accepted; DefaultAccessToken when empty. Anything
	// else gets Meta's 401 with code 190.
	AccessToken string
	// PhoneNumberID, when set, is the only phone number id the messages endpoint accepts;
	// others get Meta's 400 "Unsupported post request" (code 100, subcode 33).
	PhoneNumberID string
	// WABAID, when set, is the only business account id the message_templates endpoint accepts.
	WABAID string
	// StrictTemplates makes template sends of a (name, language) the catalogue does not hold
	// fail with 132001. Without it only known templates are checked (status and body
	// parameter count), so simple tests need no catalogue.
	StrictTemplates bool
}

// Request is one HTTP request the server received, accepted or not.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// Message is one send the server accepted.
type Message struct {
	// ID is the wamid returned for it.
	ID            string
	PhoneNumberID string
	// To and Recipient are as sent (phone or business-scoped user id).
	To        string
	Recipient string
	Type      string
	// Body is the raw JSON request body.
	Body []byte
}

// Template is one template in the fake catalogue.
type Template struct {
	ID       string
	Name     string
	Language string
	Category string
	// Status is Meta's upper-case status: PENDING after submission; see SetTemplateStatus.
	Status          string
	ParameterFormat string
	// BodyParams is the number of distinct variables in the BODY text; a template send with
	// another number of body parameters fails with 132000.
	BodyParams int
	// Body is the raw submission, nil for templates added with AddTemplate.
	Body []byte
}

// APIError is an error the server answers with, in Meta's envelope (reference §1.6).
type APIError struct {
	// HTTPStatus defaults to Meta's usual status for the code (401 for 0/190, 403 for
	// permissions, 500 for 1/2/131000/131016/133004, else 400).
	HTTPStatus int
	Code       int
	// Subcode is sent as error_subcode when not 0.
	Subcode int
	// Title goes into message as "(#code) Title"; Meta's title for the code when empty.
	Title string
	// Details goes into error_data.details; the title when empty.
	Details string
}

// Server is the fake Cloud API. Its URL is the Config.BaseURL for package whatsapp. Safe for
// concurrent use.
type Server struct {
	*httptest.Server
	cfg Config

	mu        sync.Mutex
	requests  []Request
	messages  []Message
	failures  []APIError
	templates []*Template
	nextTplID int64
}

// New starts a Server and closes it when tb's test ends.
func New(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	if cfg.AccessToken == "" {
		cfg.AccessToken = DefaultAccessToken
	}
	s := &Server{cfg: cfg, nextTplID: 1_180_000_000_000_001}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{version}/{id}/messages", s.handleMessages)
	mux.HandleFunc("POST /{version}/{id}/message_templates", s.handleTemplates)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.record(r, nil)
		writeError(w, APIError{Code: 100, Subcode: 33, Title: "Unsupported post request",
			Details: fmt.Sprintf("Unsupported %s request for path %q", r.Method, r.URL.Path)})
	})
	s.Server = httptest.NewServer(mux)
	tb.Cleanup(s.Close)
	return s
}

// FailNext makes the next n authorised API calls (sends and template submissions) fail with
// code and httpStatus (0: Meta's usual status for the code), after the token check and before
// the payload is read.
func (s *Server) FailNext(n, code, httpStatus int) {
	s.FailNextWith(n, APIError{Code: code, HTTPStatus: httpStatus})
}

// FailNextWith is FailNext with full control of the error envelope.
func (s *Server) FailNextWith(n int, e APIError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.failures = append(s.failures, e)
	}
}

// Requests returns every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Messages returns the sends accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Templates returns the catalogue, in order of creation.
func (s *Server) Templates() []Template {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Template, 0, len(s.templates))
	for _, t := range s.templates {
		out = append(out, *t)
	}
	return out
}

// AddTemplate puts t in the catalogue as if submitted and reviewed (Status APPROVED and a new
// ID unless set) and returns its ID.
func (s *Server) AddTemplate(t Template) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Status == "" {
		t.Status = "APPROVED"
	}
	if t.ID == "" {
		t.ID = s.newTemplateID()
	}
	s.templates = append(s.templates, &t)
	return t.ID
}

// templateStatuses are the statuses SetTemplateStatus accepts (reference §6).
var templateStatuses = map[string]bool{
	"APPROVED": true, "PENDING": true, "REJECTED": true, "PAUSED": true, "DISABLED": true,
	"IN_APPEAL": true, "PENDING_DELETION": true, "DELETED": true, "ARCHIVED": true, "LIMIT_EXCEEDED": true,
}

// SetTemplateStatus changes a template's status (APPROVED, REJECTED, PAUSED, DISABLED...), as
// Meta's review or quality system would. It returns an error for an unknown id or status.
func (s *Server) SetTemplateStatus(id, status string) error {
	status = strings.ToUpper(status)
	if !templateStatuses[status] {
		return fmt.Errorf("whatsapptest: unknown template status %q", status)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.templates {
		if t.ID == id {
			t.Status = status
			return nil
		}
	}
	return fmt.Errorf("whatsapptest: no template with id %q", id)
}

func (s *Server) newTemplateID() string {
	id := strconv.FormatInt(s.nextTplID, 10)
	s.nextTplID++
	return id
}

func (s *Server) record(r *http.Request, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
}

var versionPattern = regexp.MustCompile(`^v\d+\.\d+$`)

// admit records the request and applies the checks common to every endpoint: version,
// token, injected failures. It returns the body, or false after answering.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, wantID string) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 10<<20))
	s.record(r, body)
	if err != nil {
		writeError(w, APIError{Code: 100, Details: "request body unreadable or too large"})
		return nil, false
	}
	if !versionPattern.MatchString(r.PathValue("version")) {
		writeError(w, APIError{Code: 100, Subcode: 33, Title: "Unsupported post request",
			Details: fmt.Sprintf("unknown API version %q", r.PathValue("version"))})
		return nil, false
	}
	auth := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(auth, "Bearer "); !ok || token != s.cfg.AccessToken {
		w.Header().Set("WWW-Authenticate", `OAuth "Facebook Platform" "invalid_token" "Invalid OAuth access token"`)
		writeError(w, APIError{HTTPStatus: http.StatusUnauthorized, Code: 190, Title: "Invalid OAuth access token - Cannot parse access token"})
		return nil, false
	}
	if wantID != "" && r.PathValue("id") != wantID {
		writeError(w, APIError{Code: 100, Subcode: 33, Title: "Unsupported post request",
			Details: fmt.Sprintf("Object with ID '%s' does not exist, cannot be loaded due to missing permissions, or does not support this operation", r.PathValue("id"))})
		return nil, false
	}
	s.mu.Lock()
	var fail *APIError
	if len(s.failures) > 0 {
		fail = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.mu.Unlock()
	if fail != nil {
		writeError(w, *fail)
		return nil, false
	}
	return body, true
}

func (s *Server) handleMessages(w http.ResponseWriter, r *http.Request) {
	body, ok := s.admit(w, r, s.cfg.PhoneNumberID)
	if !ok {
		return
	}
	var req sendRequest
	if e := decodeStrict(body, &req); e != nil {
		writeError(w, *e)
		return
	}
	if req.Status != "" { // mark as read / typing indicator (reference §1.1)
		if e := req.validateRead(); e != nil {
			writeError(w, *e)
			return
		}
		writeJSON(w, map[string]bool{"success": true})
		return
	}
	if e := req.validate(); e != nil {
		writeError(w, *e)
		return
	}
	if req.Template != nil {
		if e := s.checkCatalogue(req.Template); e != nil {
			writeError(w, *e)
			return
		}
	}
	id := NewWAMID()
	s.mu.Lock()
	s.messages = append(s.messages, Message{ID: id, PhoneNumberID: r.PathValue("id"), To: req.To, Recipient: req.Recipient, Type: req.Type, Body: body})
	s.mu.Unlock()
	contact := map[string]string{}
	if req.To != "" {
		contact["input"], contact["wa_id"] = req.To, digits(req.To)
	} else {
		contact["input"], contact["user_id"] = req.Recipient, req.Recipient
	}
	writeJSON(w, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []any{contact},
		"messages":          []any{map[string]string{"id": id}},
	})
}

// checkCatalogue applies the catalogue rules of reference §9.1 to a template send.
func (s *Server) checkCatalogue(t *sendTemplate) *APIError {
	s.mu.Lock()
	var found *Template
	for _, c := range s.templates {
		if c.Name == t.Name && c.Language == t.Language.Code && c.Status != "DELETED" {
			cp := *c
			found = &cp
			break
		}
	}
	s.mu.Unlock()
	if found == nil {
		if s.cfg.StrictTemplates {
			return &APIError{Code: 132001, Details: fmt.Sprintf("template name (%s) does not exist in %s", t.Name, t.Language.Code)}
		}
		return nil
	}
	switch found.Status {
	case "APPROVED":
	case "PAUSED":
		return &APIError{Code: 132015, Details: fmt.Sprintf("template %s is paused due to low quality", t.Name)}
	case "DISABLED":
		return &APIError{Code: 132016, Details: fmt.Sprintf("template %s has been disabled due to low quality", t.Name)}
	default:
		return &APIError{Code: 132001, Details: fmt.Sprintf("template %s (%s) is %s, not approved", t.Name, t.Language.Code, found.Status)}
	}
	body := 0
	for _, c := range t.Components {
		if c.Type == "body" {
			body += len(c.Parameters)
		}
	}
	if body != found.BodyParams {
		return &APIError{Code: 132000, Details: fmt.Sprintf("body: number of localizable_params (%d) does not match the expected number of params (%d)", body, found.BodyParams)}
	}
	return nil
}

func (s *Server) handleTemplates(w http.ResponseWriter, r *http.Request) {
	body, ok := s.admit(w, r, s.cfg.WABAID)
	if !ok {
		return
	}
	var sub templateSubmission
	if e := decodeStrict(body, &sub); e != nil {
		writeError(w, *e)
		return
	}
	bodyParams, e := sub.validate()
	if e != nil {
		writeError(w, *e)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.templates {
		if t.Name == sub.Name && t.Language == sub.Language {
			writeError(w, APIError{Code: 100, Subcode: 2388024, Title: "Invalid parameter",
				Details: "Content in This Language Already Exists: there is already " + sub.Language + " content for this template"})
			return
		}
	}
	format := sub.ParameterFormat
	if format == "" {
		format = "positional"
	}
	t := &Template{ID: s.newTemplateID(), Name: sub.Name, Language: sub.Language, Category: sub.Category,
		Status: "PENDING", ParameterFormat: format, BodyParams: bodyParams, Body: body}
	s.templates = append(s.templates, t)
	writeJSON(w, map[string]string{"id": t.ID, "status": t.Status, "category": t.Category})
}

// NewWAMID returns a message id shaped like Meta's: "wamid." and base64 (reference §8).
func NewWAMID() string {
	b := make([]byte, 30)
	_, _ = rand.Read(b)
	return "wamid." + base64.StdEncoding.EncodeToString(b)
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// metaTitles are Meta's titles for the codes the fake is likely to be asked for.
var metaTitles = map[int]string{
	0: "AuthException", 1: "API Unknown", 2: "API Service", 4: "API Too Many Calls",
	10: "Permission Denied", 100: "Invalid parameter", 190: "Access token has expired",
	368: "Temporarily blocked for policies violations", 80007: "Rate limit issues",
	130429: "Rate limit hit", 130472: "User's number is part of an experiment",
	131000: "Something went wrong", 131005: "Access denied", 131008: "Required parameter is missing",
	131009: "Parameter value is not valid", 131016: "Service unavailable",
	131021: "Recipient cannot be sender", 131026: "Message undeliverable",
	131031: "Account has been locked", 131042: "Business eligibility payment issue",
	131047: "Re-engagement message", 131048: "Spam rate limit hit",
	131049: "This message was not delivered to maintain healthy ecosystem engagement",
	131050: "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business",
	131051: "Unsupported message type", 131053: "Media upload error",
	131056: "(Business Account, Consumer Account) pair rate limit hit",
	131057: "Account in maintenance mode",
	132000: "Number of parameters does not match the expected number of params",
	132001: "Template name does not exist in the translation",
	132012: "Parameter format does not match format in the created template",
	132015: "Template is Paused", 132016: "Template is Disabled",
	132018: "There was an issue with the parameters in your template",
	133004: "Server temporarily unavailable",
}

// defaultStatus is Meta's usual HTTP status for a code (reference §1.6, uncertain there too).
func defaultStatus(code int) int {
	switch {
	case code == 0 || code == 190:
		return http.StatusUnauthorized
	case code == 10 || code == 131005 || (code >= 200 && code <= 299):
		return http.StatusForbidden
	case code == 1 || code == 2 || code == 131000 || code == 131016 || code == 133004:
		return http.StatusInternalServerError
	default:
		return http.StatusBadRequest
	}
}

// writeError answers with Meta's error envelope (reference §1.6).
func writeError(w http.ResponseWriter, e APIError) {
	if e.Title == "" {
		e.Title = metaTitles[e.Code]
		if e.Title == "" {
			e.Title = "Unknown error"
		}
	}
	if e.Details == "" {
		e.Details = e.Title
	}
	if e.HTTPStatus == 0 {
		e.HTTPStatus = defaultStatus(e.Code)
	}
	trace := make([]byte, 16)
	_, _ = rand.Read(trace)
	obj := map[string]any{
		"message":    fmt.Sprintf("(#%d) %s", e.Code, e.Title),
		"type":       "OAuthException",
		"code":       e.Code,
		"error_data": map[string]string{"messaging_product": "whatsapp", "details": e.Details},
		"fbtrace_id": base64.RawURLEncoding.EncodeToString(trace),
	}
	if e.Subcode != 0 {
		obj["error_subcode"] = e.Subcode
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.HTTPStatus)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": obj})
}
