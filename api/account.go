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
}
