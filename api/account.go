package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
)

// SupportCodeBody is the account's current support code.
type SupportCodeBody struct {
	Code       string    `json:"code" doc:"8 digits; read it to support staff so they can confirm they talk to this account." example:"04718236"`
	ValidUntil time.Time `json:"valid_until" doc:"When the code changes (every 4 hours); support accepts the previous code for one more window."`
}

// SupportCodeCheck is a code somebody read out, to check against the account's.
type SupportCodeCheck struct {
	Code string `json:"code" pattern:"^[0-9]{8}$" doc:"The 8 digits as read out."`
}

// SupportCodeVerdict says whether a code read out is the account's.
type SupportCodeVerdict struct {
	Valid bool `json:"valid" doc:"True for the current code and for the previous window's (a code read out just before it changed)."`
}

func (s *server) registerAccount(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-support-code", Method: http.MethodGet, Path: "/v1/support-code", Tags: []string{"Account"},
		Summary: "The account's support code, which changes every 4 hours",
	}, auth.SupportCode), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body SupportCodeBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		code, until, err := account.CurrentSupportCode(ctx, s.Pool, p.AccountID, s.Clock.Now())
		if err != nil {
			return nil, err
		}
		return &struct{ Body SupportCodeBody }{Body: SupportCodeBody{Code: code, ValidUntil: until}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "verify-support-code", Method: http.MethodPost, Path: "/v1/support-code/verify", Tags: []string{"Account"},
		Summary:     "Check a support code somebody read out",
		Description: "Whoever holds the support_code permission confirms that the person on the phone reads this account's code. An unknown code is not an error: the answer says valid false.",
	}, auth.SupportCode), handle(func(ctx context.Context, in *struct{ Body SupportCodeCheck }) (*struct{ Body SupportCodeVerdict }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		ok, err := account.CheckSupportCode(ctx, s.Pool, p.AccountID, in.Body.Code, s.Clock.Now())
		if err != nil {
			return nil, err
		}
		return &struct{ Body SupportCodeVerdict }{Body: SupportCodeVerdict{Valid: ok}}, nil
	}))
}
