package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/distribution"
)

const distributionTag = "Distribution"

// DistributionSettingsBody is the account's automatic distribution settings.
type DistributionSettingsBody struct {
	DefaultCapacity int `json:"default_capacity" minimum:"1" maximum:"1000" doc:"The most open conversations automatic distribution lets an agent hold, unless the agent has a capacity of its own."`
}

// AgentDistributionBody is a user's automatic distribution settings.
type AgentDistributionBody struct {
	UserID       string `json:"user_id" format:"uuid"`
	Availability string `json:"availability" enum:"available,away" doc:"The user sets it (PATCH /v1/me)."`
	OwnCapacity  *int   `json:"own_capacity" doc:"The user's own capacity; null: the account's default applies."`
	Capacity     int    `json:"capacity" doc:"The capacity that applies."`
}

// AgentDistributionInput changes a user's capacity.
type AgentDistributionInput struct {
	Capacity Patchable[int] `json:"capacity,omitempty" doc:"The most open conversations automatic distribution lets the user hold (0 to 1000; 0 gives the user none); null returns to the account's default."`
}

func toAgentDistributionBody(a distribution.Agent) AgentDistributionBody {
	return AgentDistributionBody{UserID: a.UserID.String(), Availability: a.Availability, OwnCapacity: a.OwnCapacity, Capacity: a.Capacity}
}

func (s *server) registerDistribution(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-distribution-settings", Method: http.MethodGet, Path: "/v1/distribution-settings", Tags: []string{distributionTag},
		Summary: "The account's automatic distribution settings (the default capacity)",
	}, auth.SettingsManage), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body DistributionSettingsBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		n, err := s.distribution.DefaultCapacityOf(ctx, p.AccountID)
		if err != nil {
			return nil, err
		}
		return &struct{ Body DistributionSettingsBody }{Body: DistributionSettingsBody{DefaultCapacity: n}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "set-distribution-settings", Method: http.MethodPut, Path: "/v1/distribution-settings", Tags: []string{distributionTag},
		Summary:     "Set the account's default capacity",
		Description: "Agents without a capacity of their own hold at most this many open conversations given by automatic distribution. Runs the distributor at once.",
		Errors:      []int{http.StatusUnprocessableEntity},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct{ Body DistributionSettingsBody }) (*struct{ Body DistributionSettingsBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		n, err := s.distribution.SetDefaultCapacity(ctx, p.AccountID, in.Body.DefaultCapacity)
		if err != nil {
			return nil, err
		}
		return &struct{ Body DistributionSettingsBody }{Body: DistributionSettingsBody{DefaultCapacity: n}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-user-distribution", Method: http.MethodGet, Path: "/v1/users/{id}/distribution", Tags: []string{distributionTag},
		Summary: "A user's availability and capacity for automatic distribution", Errors: []int{http.StatusNotFound},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		ID string `path:"id" format:"uuid"`
	}) (*struct{ Body AgentDistributionBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		a, err := s.distribution.GetAgent(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body AgentDistributionBody }{Body: toAgentDistributionBody(a)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "update-user-distribution", Method: http.MethodPatch, Path: "/v1/users/{id}/distribution", Tags: []string{distributionTag},
		Summary:     "Set a user's own capacity",
		Description: "Overrides the account's default capacity for this user (null returns to it). Runs the distributor at once.",
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, auth.SettingsManage), handle(func(ctx context.Context, in *struct {
		ID   string `path:"id" format:"uuid"`
		Body AgentDistributionInput
	}) (*struct{ Body AgentDistributionBody }, error) {
		p, id, err := pathCaller(ctx, in.ID)
		if err != nil {
			return nil, err
		}
		var a distribution.Agent
		if in.Body.Capacity.Sent {
			a, err = s.distribution.SetCapacity(ctx, p.AccountID, id, in.Body.Capacity.ptr())
		} else {
			a, err = s.distribution.GetAgent(ctx, p.AccountID, id)
		}
		if err != nil {
			return nil, err
		}
		return &struct{ Body AgentDistributionBody }{Body: toAgentDistributionBody(a)}, nil
	}))
}
