package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/conversa-hq/conversa/internal/auth"
)

// PaidSendsBody says whether the account's template (paid) sends may go.
type PaidSendsBody struct {
	Stopped   bool       `json:"stopped" doc:"True after the provider refused a template for a payment problem (WhatsApp 131042): templates are refused (409) and those already queued wait until the stop is cleared. Free-form messages still go."`
	ChannelID string     `json:"channel_id,omitempty" format:"uuid" doc:"The line whose send the provider refused."`
	Code      string     `json:"code,omitempty" doc:"The provider's error code."`
	Reason    string     `json:"reason,omitempty"`
	StoppedAt *time.Time `json:"stopped_at,omitempty"`
}

func (s *server) registerPaidSends(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-paid-sends", Method: http.MethodGet, Path: "/v1/paid-sends", Tags: []string{messagesTag},
		Summary: "Whether the account's template sends are stopped, and why",
	}, auth.ContactsRead), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body PaidSendsBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		st, err := s.Send.PaidSendStop(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		out := PaidSendsBody{}
		if st != nil {
			at := st.StoppedAt
			out = PaidSendsBody{Stopped: true, ChannelID: st.ChannelID.String(), Code: st.Code, Reason: st.Reason, StoppedAt: &at}
		}
		return &struct{ Body PaidSendsBody }{Body: out}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "clear-paid-send-stop", Method: http.MethodDelete, Path: "/v1/paid-sends/stop", Tags: []string{messagesTag},
		Summary:       "Let template sends go again after the payment problem was fixed",
		Description:   "The held template messages go out on the lines' next dispatch, and account.paid_sends_resumed is emitted. Clearing when nothing is stopped changes nothing.",
		DefaultStatus: http.StatusNoContent,
	}, auth.SettingsManage), handle(func(ctx context.Context, _ *struct{}) (*struct{}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := s.Send.ResumePaidSends(ctx, p.AccountID); err != nil {
			return nil, err
		}
		return &struct{}{}, nil
	}))
}
