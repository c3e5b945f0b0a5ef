package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

var errorLogger atomic.Pointer[slog.Logger]

// installErrorHandler makes every 5xx a bare "internal server error" problem, logged with the
// request id, so no internal text (SQL, stack, driver messages) reaches a client.
func installErrorHandler(logger *slog.Logger) {
	errorLogger.Store(logger)
	errorHandlerOnce.Do(installErrorHook)
}

// errorHandlerOnce replaces huma's error constructor once: it is a package variable huma
// reads while serving, and several APIs may be built at once (parallel tests).
var errorHandlerOnce sync.Once

func installErrorHook() {
	huma.NewErrorWithContext = func(hctx huma.Context, status int, msg string, errs ...error) huma.StatusError {
		if status >= 500 {
			ctx := context.Background()
			if hctx != nil {
				ctx = hctx.Context()
			}
			errorLogger.Load().ErrorContext(ctx, "request failed", "status", status, "message", msg, "error", errors.Join(errs...))
			return huma.NewError(status, "internal server error")
		}
		return huma.NewError(status, msg, errs...)
	}
}

// problem turns a domain fault into the matching RFC 9457 problem; anything else passes
// through (and becomes a logged 500).
func problem(err error) error {
	f, ok := fault.As(err)
	if !ok {
		if pgdb.InvalidText(err) {
			return huma.NewError(http.StatusUnprocessableEntity, "text with a NUL byte or invalid UTF-8 cannot be stored")
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return huma.NewError(http.StatusServiceUnavailable, "request cancelled or timed out")
		}
		return err
	}
	status := map[fault.Kind]int{
		fault.KindInvalid:            http.StatusUnprocessableEntity,
		fault.KindNotFound:           http.StatusNotFound,
		fault.KindConflict:           http.StatusConflict,
		fault.KindUnauthorized:       http.StatusUnauthorized,
		fault.KindForbidden:          http.StatusForbidden,
		fault.KindPreconditionFailed: http.StatusPreconditionFailed,
		fault.KindTooManyRequests:    http.StatusTooManyRequests,
		fault.KindTooLarge:           http.StatusRequestEntityTooLarge,
		fault.KindUnsupportedMedia:   http.StatusUnsupportedMediaType,
	}[f.Kind]
	if status == 0 {
		return err
	}
	details := make([]error, len(f.Fields))
	for i, fe := range f.Fields {
		details[i] = &huma.ErrorDetail{Location: location(fe.Field), Message: fe.Message, Value: fe.Value}
	}
	out := huma.NewError(status, f.Message, details...)
	headers := http.Header{}
	if f.Kind == fault.KindTooManyRequests {
		headers.Set("Retry-After", strconv.Itoa(int((f.RetryAfter+time.Second-1)/time.Second)))
	}
	if f.Kind == fault.KindUnauthorized {
		headers.Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	if len(headers) > 0 {
		return huma.ErrorWithHeaders(out, headers)
	}
	return out
}

// location writes a field path the way huma's own validation errors do ("body.phones[1]").
func location(field string) string {
	if field == "body" {
		return field
	}
	for _, p := range []string{"body.", "path.", "query.", "header."} {
		if len(field) >= len(p) && field[:len(p)] == p {
			return field
		}
	}
	return "body." + field
}

// handle wraps a handler so its faults become problems.
func handle[I, O any](fn func(context.Context, *I) (*O, error)) func(context.Context, *I) (*O, error) {
	return func(ctx context.Context, in *I) (*O, error) {
		out, err := fn(ctx, in)
		if err != nil {
			return nil, problem(err)
		}
		return out, nil
	}
}
