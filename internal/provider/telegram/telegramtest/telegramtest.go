// Package telegramtest is a stand-in for the Telegram Bot API in tests: an httptest server
// that answers POST /bot<token>/<method> in the Bot API's {"ok":...} shape, checks the token
// and each method's required parameters, records every request, and fails on demand with a
// given error_code, description and retry_after. It covers the methods the telegram adapter
// calls (sendMessage, sendPhoto, sendAudio, sendVideo, sendDocument, sendSticker,
// sendContact, setMessageReaction); it does not store chats or check that replied-to
// messages exist.
package telegramtest

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// UsernameChatID is the chat id the server reports for any "@username" chat_id.
const UsernameChatID int64 = -1001000000001

// Request is one recorded call.
type Request struct {
	// Method is the Bot API method ("sendMessage").
	Method string
	// ContentType is the request's media type (application/json or a form type).
	ContentType string
	// Params are the parameters: decoded JSON (numbers as json.Number) for a JSON body,
	// strings for a form.
	Params map[string]any
}

// Failure is an error answer the server gives instead of a result.
type Failure struct {
	// ErrorCode is error_code and the HTTP status (400, 403, 429, 500...).
	ErrorCode int
	// Description is the Bot API's description ("Forbidden: bot was blocked by the user").
	Description string
	// RetryAfter, when positive, is sent as parameters.retry_after (seconds).
	RetryAfter int
	// MigrateToChatID, when set, is sent as parameters.migrate_to_chat_id.
	MigrateToChatID int64
}

// requiredParams lists, per supported method, the parameters Telegram rejects a call without.
var requiredParams = map[string][]string{
	"sendMessage":        {"chat_id", "text"},
	"sendPhoto":          {"chat_id", "photo"},
	"sendAudio":          {"chat_id", "audio"},
	"sendVideo":          {"chat_id", "video"},
	"sendDocument":       {"chat_id", "document"},
	"sendSticker":        {"chat_id", "sticker"},
	"sendContact":        {"chat_id", "phone_number", "first_name"},
	"setMessageReaction": {"chat_id", "message_id"},
}

// Server is a running fake Bot API. Safe for concurrent use.
type Server struct {
	token string
	srv   *httptest.Server

	mu       sync.Mutex
	requests []Request
	failures []Failure
	nextID   int64
}

// NewServer starts a fake Bot API accepting token and closes it when the test ends. A
// request with another token gets 401 Unauthorized, like Telegram.
func NewServer(tb testing.TB, token string) *Server {
	tb.Helper()
	s := &Server{token: token}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	tb.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to put in telegram.Config.BaseURL.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server early (to test transport failures).
func (s *Server) Close() { s.srv.Close() }

// Requests returns a copy of the calls received so far, in order, including refused ones.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// FailNext makes the next calls fail, one Failure per call, in order, whatever the method.
func (s *Server) FailNext(f ...Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, f...)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	botToken, method, ok := strings.Cut(path, "/")
	if !ok || !strings.HasPrefix(botToken, "bot") {
		writeError(w, Failure{ErrorCode: http.StatusNotFound, Description: "Not Found"})
		return
	}
	if strings.TrimPrefix(botToken, "bot") != s.token {
		writeError(w, Failure{ErrorCode: http.StatusUnauthorized, Description: "Unauthorized"})
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, Failure{ErrorCode: http.StatusMethodNotAllowed, Description: "Method Not Allowed: use POST"})
		return
	}
	req, err := readRequest(r, method)
	if err != nil {
		writeError(w, Failure{ErrorCode: http.StatusBadRequest, Description: "Bad Request: " + err.Error()})
		return
	}

	s.mu.Lock()
	s.requests = append(s.requests, req)
	var fail *Failure
	if len(s.failures) > 0 {
		fail = &s.failures[0]
		s.failures = s.failures[1:]
	}
	s.nextID++
	id := s.nextID
	s.mu.Unlock()

	if fail != nil {
		writeError(w, *fail)
		return
	}
	required, known := requiredParams[method]
	if !known {
		writeError(w, Failure{ErrorCode: http.StatusNotFound, Description: "Not Found: method not found"})
		return
	}
	for _, p := range required {
		if v, ok := req.Params[p]; !ok || v == "" {
			writeError(w, Failure{ErrorCode: http.StatusBadRequest, Description: "Bad Request: " + p + " is empty"})
			return
		}
	}
	if method == "setMessageReaction" {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": true})
		return
	}
	chatID, chatType := resultChat(req.Params["chat_id"])
	result := map[string]any{
		"message_id": id,
		"date":       time.Now().Unix(),
		"chat":       map[string]any{"id": chatID, "type": chatType},
	}
	if text, ok := req.Params["text"]; ok {
		result["text"] = text
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}

func readRequest(r *http.Request, method string) (Request, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	req := Request{Method: method, ContentType: ct, Params: map[string]any{}}
	switch ct {
	case "application/json":
		dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
		dec.UseNumber()
		if err := dec.Decode(&req.Params); err != nil {
			return req, fmt.Errorf("can't parse JSON: %w", err)
		}
	case "application/x-www-form-urlencoded", "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil && err != http.ErrNotMultipart {
			return req, fmt.Errorf("can't parse form: %w", err)
		}
		for k, v := range r.Form {
			req.Params[k] = v[0]
		}
	case "":
		// No body: every parameter is missing.
	default:
		return req, fmt.Errorf("unsupported content type %q", ct)
	}
	return req, nil
}

// resultChat is the chat the answer reports for a chat_id parameter.
func resultChat(v any) (int64, string) {
	switch id := v.(type) {
	case json.Number:
		if n, err := id.Int64(); err == nil {
			return n, chatType(n)
		}
	case string:
		var n int64
		if _, err := fmt.Sscan(id, &n); err == nil && !strings.HasPrefix(id, "@") {
			return n, chatType(n)
		}
		return UsernameChatID, "channel"
	}
	return 0, "private"
}

func chatType(id int64) string {
	if id < 0 {
		return "supergroup"
	}
	return "private"
}

func writeError(w http.ResponseWriter, f Failure) {
	body := map[string]any{"ok": false, "error_code": f.ErrorCode, "description": f.Description}
	params := map[string]any{}
	if f.RetryAfter > 0 {
		params["retry_after"] = f.RetryAfter
	}
	if f.MigrateToChatID != 0 {
		params["migrate_to_chat_id"] = f.MigrateToChatID
	}
	if len(params) > 0 {
		body["parameters"] = params
	}
	writeJSON(w, f.ErrorCode, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
