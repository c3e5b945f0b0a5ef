package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
)

// HealthBody is the health probes' answer.
type HealthBody struct {
	Status string `json:"status" enum:"ok,unavailable" doc:"ok when the probe passes."`
	Detail string `json:"detail,omitempty" doc:"Why the service is not ready."`
}

type healthOutput struct {
	Body HealthBody
}

func (s *server) registerHealth(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "healthz", Method: http.MethodGet, Path: "/healthz", Tags: []string{"Operations"},
		Summary: "Liveness: the process is up",
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		return &healthOutput{Body: HealthBody{Status: "ok"}}, nil
	})
	huma.Register(api, huma.Operation{
		OperationID: "readyz", Method: http.MethodGet, Path: "/readyz", Tags: []string{"Operations"},
		Summary: "Readiness: the database answers and its schema is current",
		Errors:  []int{http.StatusServiceUnavailable},
	}, func(ctx context.Context, _ *struct{}) (*healthOutput, error) {
		if s.Ready != nil {
			if err := s.Ready(ctx); err != nil {
				return nil, huma.NewError(http.StatusServiceUnavailable, "not ready: "+err.Error())
			}
		}
		return &healthOutput{Body: HealthBody{Status: "ok"}}, nil
	})
}
