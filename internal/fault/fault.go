// Package fault is the error vocabulary shared by the domain packages: each error says what
// kind of failure it is (not found, invalid, conflict...) and which fields were wrong, so the
// HTTP layer can turn it into an RFC 9457 problem without knowing the domain, and anything
// that is not a fault becomes a logged 500 that leaks nothing.
package fault

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a failure the caller can act on.
type Kind int

// The kinds map one to one onto HTTP statuses in the api package.
const (
	KindInvalid            Kind = iota + 1 // 422: the input breaks a rule
	KindNotFound                           // 404: absent or another account's
	KindConflict                           // 409: clashes with stored state
	KindUnauthorized                       // 401: no valid credentials
	KindForbidden                          // 403: credentials lack a permission
	KindPreconditionFailed                 // 412: If-Match did not match
	KindTooManyRequests                    // 429: throttled; RetryAfter says when to retry
	KindTooLarge                           // 413: an upload beyond its limit
	KindUnsupportedMedia                   // 415: content of a type that is not accepted
)

// FieldError names one wrong input field. Field is a JSON path in the request body
// ("phones[1]") or a parameter ("path.id").
type FieldError struct {
	Field   string
	Message string
	Value   any
}

// Error is a failure with a kind, a message for people and optional field details.
type Error struct {
	Kind       Kind
	Message    string
	Fields     []FieldError
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return e.Message
	}
	return fmt.Sprintf("%s (%s: %s)", e.Message, e.Fields[0].Field, e.Fields[0].Message)
}

// Invalid reports input that breaks a rule.
func Invalid(message string, fields ...FieldError) error {
	return &Error{Kind: KindInvalid, Message: message, Fields: fields}
}

// NotFound reports a resource that does not exist in the caller's account.
func NotFound(what string) error {
	return &Error{Kind: KindNotFound, Message: what + " not found"}
}

// Conflict reports a clash with stored state (a duplicate key, a forbidden transition).
func Conflict(message string, fields ...FieldError) error {
	return &Error{Kind: KindConflict, Message: message, Fields: fields}
}

// Unauthorized reports missing, malformed, expired or revoked credentials.
func Unauthorized(message string) error {
	return &Error{Kind: KindUnauthorized, Message: message}
}

// Forbidden reports credentials that lack a permission.
func Forbidden(message string) error {
	return &Error{Kind: KindForbidden, Message: message}
}

// PreconditionFailed reports a stale If-Match.
func PreconditionFailed(message string) error {
	return &Error{Kind: KindPreconditionFailed, Message: message}
}

// TooManyRequests reports throttling; retryAfter is when the caller may try again.
func TooManyRequests(message string, retryAfter time.Duration) error {
	return &Error{Kind: KindTooManyRequests, Message: message, RetryAfter: retryAfter}
}

// TooLarge reports an upload larger than the limit that applies to it.
func TooLarge(message string) error {
	return &Error{Kind: KindTooLarge, Message: message}
}

// UnsupportedMedia reports content whose type is not accepted where it was sent.
func UnsupportedMedia(message string, fields ...FieldError) error {
	return &Error{Kind: KindUnsupportedMedia, Message: message, Fields: fields}
}

// As returns the fault in err's chain, if any.
func As(err error) (*Error, bool) {
	var f *Error
	ok := errors.As(err, &f)
	return f, ok
}

// Is reports whether err carries a fault of kind k.
func Is(err error, k Kind) bool {
	f, ok := As(err)
	return ok && f.Kind == k
}
