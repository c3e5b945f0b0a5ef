package api

import (
	"context"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
)

// APIKeyBody is an integrator API key as listed (never with its secret).
type APIKeyBody struct {
	ID        string     `json:"id" format:"uuid"`
	Name      string     `json:"name"`
	Prefix    string     `json:"prefix" doc:"The key's first characters, to recognise it."`
	Scopes    []string   `json:"scopes"`
	RateLimit int        `json:"rate_limit" doc:"Requests per second allowed."`
	CreatedBy string     `json:"created_by,omitempty" format:"uuid"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	CreatedAt time.Time  `json:"created_at"`
}

// CreatedAPIKeyBody is a new key with its secret, shown this once.
type CreatedAPIKeyBody struct {
	APIKeyBody
	Key string `json:"key" doc:"The secret. It is not stored and cannot be shown again."`
}

// APIKeyIDParam is the {id} of an API key's path.
type APIKeyIDParam struct {
	ID string `path:"id" format:"uuid"`
}

func (s *server) registerAPIKeys(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-api-key", Method: http.MethodPost, Path: "/v1/api-keys", Tags: []string{"API keys"},
		Summary: "Create an integrator API key", DefaultStatus: http.StatusCreated,
	}, auth.APIKeysManage), handle(func(ctx context.Context, in *struct {
		Body struct {
			Name      string     `json:"name" minLength:"1" maxLength:"200"`
			Scopes    []string   `json:"scopes" minItems:"1" maxItems:"20" doc:"What the key may do: contacts:read, contacts:write, consents:write, events:read, webhooks:manage."`
			RateLimit int        `json:"rate_limit,omitempty" minimum:"1" maximum:"10000" doc:"Requests per second; default 100."`
			ExpiresAt *time.Time `json:"expires_at,omitempty"`
		}
	}) (*struct{ Body CreatedAPIKeyBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		k, secret, err := s.Auth.CreateAPIKey(ctx, p.AccountID, auth.NewAPIKey{
			Name: in.Body.Name, Scopes: in.Body.Scopes, RateLimit: in.Body.RateLimit, ExpiresAt: in.Body.ExpiresAt, CreatedBy: p.UserID,
		})
		if err != nil {
			return nil, err
		}
		return &struct{ Body CreatedAPIKeyBody }{Body: CreatedAPIKeyBody{APIKeyBody: toAPIKeyBody(k), Key: secret}}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "list-api-keys", Method: http.MethodGet, Path: "/v1/api-keys", Tags: []string{"API keys"},
		Summary: "List the account's API keys",
	}, auth.APIKeysManage), handle(func(ctx context.Context, in *struct{ PageParams }) (*struct{ Body listBody[APIKeyBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		keys, err := s.Auth.ListAPIKeys(ctx, p.AccountID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(keys, in.Limit, func(k auth.APIKey) uuid.UUID { return k.ID }, toAPIKeyBody), nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-api-key", Method: http.MethodGet, Path: "/v1/api-keys/{id}", Tags: []string{"API keys"},
		Summary: "Get an API key", Errors: []int{http.StatusNotFound},
	}, auth.APIKeysManage), handle(func(ctx context.Context, in *APIKeyIDParam) (*struct{ Body APIKeyBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		k, err := s.Auth.GetAPIKey(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body APIKeyBody }{Body: toAPIKeyBody(k)}, nil
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "revoke-api-key", Method: http.MethodDelete, Path: "/v1/api-keys/{id}", Tags: []string{"API keys"},
		Summary: "Revoke an API key", Description: "Takes effect at once in this process and within 5 seconds in others.",
		DefaultStatus: http.StatusNoContent, Errors: []int{http.StatusNotFound},
	}, auth.APIKeysManage), handle(func(ctx context.Context, in *APIKeyIDParam) (*struct{}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		_, err = s.Auth.RevokeAPIKey(ctx, p.AccountID, id)
		return nil, err
	}))
}

// listBody is a page of a list.
type listBody[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last page."`
}

func toAPIKeyBody(k auth.APIKey) APIKeyBody {
	b := APIKeyBody{
		ID: k.ID.String(), Name: k.Name, Prefix: k.Prefix, Scopes: permStrings(k.Scopes), RateLimit: k.RateLimit,
		ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, CreatedAt: k.CreatedAt,
	}
	if k.CreatedBy != nil {
		b.CreatedBy = k.CreatedBy.String()
	}
	return b
}
