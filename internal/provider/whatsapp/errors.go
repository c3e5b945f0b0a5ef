package whatsapp

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/conversa-hq/conversa/internal/provider"
)

// Codes this adapter uses on *provider.Error when the refusal is its own, not Meta's. They are
// words, never numbers, so they cannot collide with Meta's numeric codes.
const (
	// CodeInvalidMessage means the message or template spec was rejected before any request
	// was made (a missing recipient, a payload the Cloud API cannot express). Never retryable.
	CodeInvalidMessage = "invalid_message"
	// CodeNotConfigured means the Config lacks what the call needs (phone number id, WABA id,
	// access token). Never retryable: fix the channel's credentials.
	CodeNotConfigured = "not_configured"
	// CodeBadResponse means Meta answered 200 but without the id the adapter needs. The message
	// may well have been accepted, so it is not retryable: a retry could send it twice.
	CodeBadResponse = "bad_response"
)

// codeRule is what a Meta error code means and what the caller should do about it.
type codeRule struct {
	title      string        // what happened, short
	advice     string        // what to do
	retryable  bool          // the same send may succeed later
	retryAfter time.Duration // and not before this (0: caller's own backoff)
}

// permissionRule covers Meta's 200–299 permission range, which is too wide for the map.
var permissionRule = codeRule{
	title:  "permission missing",
	advice: "grant the token the whatsapp_business_messaging/whatsapp_business_management scopes; alert ops",
}

// codeRules is the one table of Meta error codes (reference §4, with the reactions of DESIGN
// §4 "WhatsApp sessions"). Codes not in it fall back on the HTTP status: 5xx and 429 are
// retryable, anything else is not. Limits and delays are Meta's mid-2026 figures.
var codeRules = map[int]codeRule{
	0:      {title: "authentication exception", advice: "refresh or rotate the system-user access token; alert ops"},
	1:      {title: "API unknown error", advice: "temporary: retry with exponential backoff", retryable: true},
	2:      {title: "API service temporarily unavailable", advice: "retry with exponential backoff", retryable: true},
	3:      {title: "API method capability missing", advice: "check the app's permissions; alert ops"},
	4:      {title: "application request limit reached", advice: "back off all API calls of the app", retryable: true, retryAfter: time.Minute},
	10:     {title: "permission denied", advice: "check the token scopes whatsapp_business_messaging/_management; alert ops"},
	33:     {title: "parameter value is not valid or the phone number was deleted", advice: "fix the request; do not retry"},
	100:    {title: "invalid parameter", advice: "fix the request; do not retry"},
	190:    {title: "access token expired or invalid", advice: "refresh or rotate the system-user access token; alert ops"},
	368:    {title: "temporarily blocked for policy violations", advice: "stop sending from this account; alert ops"},
	80007:  {title: "WhatsApp Business Account rate limit reached", advice: "back off management calls and cache template lists", retryable: true, retryAfter: time.Minute},
	130429: {title: "throughput limit reached", advice: "back off this phone number's sends and reduce concurrency", retryable: true, retryAfter: time.Second},
	130472: {title: "user's number is part of a marketing experiment", advice: "do not retry (resending gives the same error); marketing templates reach this user only inside an open service window"},
	130497: {title: "business account is restricted from messaging users in this country", advice: "stop sending to this country; alert ops"},
	131000: {title: "something went wrong", advice: "retry with exponential backoff", retryable: true},
	131005: {title: "access denied", advice: "check the token's permissions; alert ops"},
	131008: {title: "required parameter is missing", advice: "fix the request; do not retry"},
	131009: {title: "parameter value is not valid", advice: "fix the request; do not retry"},
	131016: {title: "service unavailable", advice: "retry with exponential backoff", retryable: true},
	131021: {title: "recipient cannot be the sender", advice: "do not retry"},
	131026: {title: "message undeliverable", advice: "the number may not be on WhatsApp, may not have accepted the terms or runs an old app: do not retry; reach the contact on another channel"},
	131031: {title: "business account locked", advice: "stop sending from this account; alert ops"},
	131037: {title: "display name not approved", advice: "block sends from this number until the name is approved; alert ops"},
	131042: {title: "business eligibility payment issue", advice: "stop all paid sends for this WhatsApp Business Account and fix billing; alert ops; do not retry per message"},
	131045: {title: "phone number not registered", advice: "re-register the business number; alert ops"},
	131047: {title: "re-engagement message: more than 24 hours since the contact's last message", advice: "free-form messages are allowed only within 24 hours of the contact's last message: send an approved template instead"},
	131048: {title: "spam rate limit hit", advice: "pause campaigns from this number, check its quality and retry much later", retryable: true, retryAfter: time.Hour},
	131049: {title: "not delivered to maintain healthy ecosystem engagement", advice: "do not resend within 24 hours (resending sooner can block delivery to this user); schedule at most one retry after 24 hours", retryable: true, retryAfter: 24 * time.Hour},
	131050: {title: "user stopped marketing messages from this business", advice: "never retry marketing; record the opt-out (utility and service messages are still allowed)"},
	131051: {title: "unsupported message type", advice: "fix the payload; do not retry"},
	131052: {title: "media download error", advice: "ask the user to send the media again"},
	131053: {title: "media upload error", advice: "fix the media (unsupported type or size); do not retry"},
	131056: {title: "pair rate limit hit (too many messages to this user)", advice: "retry the same message after 4^X seconds (X = 0, 1, 2...) and keep sending to other users", retryable: true, retryAfter: time.Second},
	131057: {title: "account in maintenance mode", advice: "retry shortly (a throughput upgrade takes up to a minute)", retryable: true, retryAfter: 10 * time.Second},
	131063: {title: "marketing templates are disabled for the Cloud API", advice: "send marketing through the Marketing Messages API; alert ops"},
	131064: {title: "message limit reached after template-classification violations", advice: "stop sends and review template categories"},
	132000: {title: "template parameter count mismatch", advice: "re-sync the template definition and fix the parameters; do not retry"},
	132001: {title: "template does not exist in this language or is not approved", advice: "re-sync templates and check the language code; do not retry"},
	132005: {title: "template text too long after substitution", advice: "shorten the parameters (body at most 1024 characters)"},
	132007: {title: "template format character policy violated", advice: "fix the content; do not retry"},
	132012: {title: "template parameter format mismatch", advice: "fix the parameter types (media or text, named or positional); do not retry"},
	132015: {title: "template paused for low quality", advice: "halt the campaign; the template may be sent again once it is active (pauses last 3 h, then 6 h)", retryable: true, retryAfter: 3 * time.Hour},
	132016: {title: "template disabled (paused too often)", advice: "create a new template; do not retry"},
	132018: {title: "template parameter validation error", advice: "fix the parameters; do not retry"},
	132068: {title: "flow is blocked", advice: "fix the flow; do not retry"},
	132069: {title: "flow is throttled (10 sends per hour per flow)", advice: "slow down sends of this flow", retryable: true, retryAfter: 6 * time.Minute},
	133004: {title: "server temporarily unavailable", advice: "retry with exponential backoff", retryable: true},
	133010: {title: "phone number not registered", advice: "re-register the business number; alert ops"},
}

// ruleFor returns the rule for code and whether one is known.
func ruleFor(code int) (codeRule, bool) {
	if r, ok := codeRules[code]; ok {
		return r, true
	}
	if code >= 200 && code <= 299 {
		return permissionRule, true
	}
	return codeRule{}, false
}

// metaError is Meta's error object, in the synchronous envelope and in a failed status's
// errors[] (which has title and href instead of type and fbtrace_id).
type metaError struct {
	Message      string `json:"message"`
	Title        string `json:"title"`
	Type         string `json:"type"`
	Code         int    `json:"code"`
	ErrorSubcode int    `json:"error_subcode"`
	ErrorData    struct {
		Details string `json:"details"`
	} `json:"error_data"`
	FBTraceID string `json:"fbtrace_id"`
}

// toProviderError classifies e by the code table; httpStatus is 0 for webhook errors.
func (e metaError) toProviderError(httpStatus int, retryAfterHeader time.Duration) *provider.Error {
	rule, known := ruleFor(e.Code)
	if !known {
		rule = codeRule{
			title:     "unrecognised WhatsApp error",
			retryable: httpStatus >= 500 || httpStatus == http.StatusTooManyRequests,
		}
		if rule.retryable {
			rule.advice = "retry with exponential backoff"
		} else {
			rule.advice = "check the details; not retried"
		}
	}
	parts := []string{rule.title}
	if detail := firstNonEmpty(e.ErrorData.Details, e.Message, e.Title); detail != "" {
		parts = append(parts, detail)
	}
	reason := strings.Join(parts, ": ") + ". " + upperFirst(rule.advice) + "."
	if e.ErrorSubcode != 0 {
		reason += fmt.Sprintf(" [subcode %d]", e.ErrorSubcode)
	}
	if e.FBTraceID != "" {
		reason += " [fbtrace_id " + e.FBTraceID + "]"
	}
	out := &provider.Error{
		Code:       strconv.Itoa(e.Code),
		Reason:     reason,
		Retryable:  rule.retryable,
		RetryAfter: rule.retryAfter,
		HTTPStatus: httpStatus,
	}
	if out.Retryable && retryAfterHeader > out.RetryAfter {
		out.RetryAfter = retryAfterHeader
	}
	return out
}

// errorFromResponse turns a non-2xx answer into *provider.Error: Meta's envelope when the
// body holds one, else the HTTP status itself (5xx and 429 retryable).
func errorFromResponse(resp *http.Response, body []byte) *provider.Error {
	retryAfter := parseRetryAfter(resp.Header.Get("Retry-After"))
	var env struct {
		Error *metaError `json:"error"`
	}
	var probe struct {
		Error *struct {
			Code *int `json:"code"`
		} `json:"error"`
	}
	// Code 0 is a real code (AuthException), so the envelope is recognised by the key.
	if json.Unmarshal(body, &env) == nil && json.Unmarshal(body, &probe) == nil &&
		env.Error != nil && probe.Error != nil && probe.Error.Code != nil {
		return env.Error.toProviderError(resp.StatusCode, retryAfter)
	}
	retryable := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests
	snippet := strings.TrimSpace(string(body))
	if len(snippet) > 200 {
		snippet = snippet[:200] + "..."
	}
	reason := fmt.Sprintf("HTTP %d %s without a WhatsApp error body", resp.StatusCode, http.StatusText(resp.StatusCode))
	if snippet != "" {
		reason += ": " + snippet
	}
	e := &provider.Error{
		Code:       strconv.Itoa(resp.StatusCode),
		Reason:     reason,
		Retryable:  retryable,
		HTTPStatus: resp.StatusCode,
	}
	if retryable {
		e.RetryAfter = retryAfter
	}
	return e
}

// parseRetryAfter reads a Retry-After header in seconds; anything else gives 0.
func parseRetryAfter(v string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// invalid reports a message the adapter refuses before sending.
func invalid(format string, args ...any) *provider.Error {
	return &provider.Error{Code: CodeInvalidMessage, Reason: fmt.Sprintf(format, args...)}
}
