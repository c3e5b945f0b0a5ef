package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/closing"
)

// TokenBody is a login's or a refresh's answer.
type TokenBody struct {
	AccessToken  string `json:"access_token" doc:"Ed25519-signed JWT for Authorization: Bearer."`
	TokenType    string `json:"token_type" enum:"Bearer"`
	ExpiresIn    int    `json:"expires_in" doc:"Seconds until the access token expires."`
	RefreshToken string `json:"refresh_token" doc:"Single-use token for POST /v1/auth/refresh. Reusing one revokes every token of the login."`
}

type tokenOutput struct {
	CacheControl string `header:"Cache-Control"`
	Body         TokenBody
}

type loginInput struct {
	Body struct {
		Email    string `json:"email" minLength:"3" maxLength:"254" example:"admin@demo.conversa.local"`
		Password string `json:"password" minLength:"1" maxLength:"256"`
	}
}

type refreshInput struct {
	Body struct {
		RefreshToken string `json:"refresh_token" minLength:"1" maxLength:"200"`
	}
}

// MeBody describes the caller.
type MeBody struct {
	AccountID   string   `json:"account_id" format:"uuid"`
	AccountName string   `json:"account_name"`
	Kind        string   `json:"kind" enum:"user,api_key" doc:"Whether the caller is a user or an integrator's API key."`
	UserID      string   `json:"user_id,omitempty" format:"uuid"`
	Email       string   `json:"email,omitempty"`
	Name        string   `json:"name,omitempty"`
	Role        string   `json:"role,omitempty" enum:"admin,supervisor,agent,compliance"`
	APIKeyID    string   `json:"api_key_id,omitempty" format:"uuid"`
	Permissions []string `json:"permissions"`
	// ClosingMessage is a user's only (PATCH /v1/me sets it).
	ClosingMessage *string `json:"closing_message,omitempty" doc:"Users: the message sent when the user closes an attendance without one (\"\" for none)."`
	// Availability and Capacity are a user's only (automatic distribution).
	Availability string `json:"availability,omitempty" enum:"available,away" doc:"Users: whether automatic distribution gives the user conversations now."`
	Capacity     *int   `json:"capacity,omitempty" doc:"Users: the most open conversations automatic distribution lets the user hold (the user's own, else the account's default)."`
}

// JWKSBody is a JSON Web Key Set.
type JWKSBody struct {
	Keys []auth.JWK `json:"keys"`
}

func (s *server) registerAuth(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "login", Method: http.MethodPost, Path: "/v1/auth/login", Tags: []string{"Auth"},
		Summary:     "Log in with e-mail and password",
		Description: "Returns a 15-minute access token and a refresh token. Five wrong passwords in a row lock the user for 15 minutes; many attempts from one address are throttled (429 with Retry-After).",
		Errors:      []int{http.StatusUnauthorized, http.StatusTooManyRequests},
	}, handle(func(ctx context.Context, in *loginInput) (*tokenOutput, error) {
		t, err := s.Auth.Login(ctx, in.Body.Email, in.Body.Password, clientAddr(ctx))
		if err != nil {
			return nil, err
		}
		return tokenResponse(t), nil
	}))
	huma.Register(api, huma.Operation{
		OperationID: "refresh-token", Method: http.MethodPost, Path: "/v1/auth/refresh", Tags: []string{"Auth"},
		Summary:     "Exchange a refresh token for new tokens",
		Description: "Each refresh token works once. Presenting a used one again revokes every token descended from the same login.",
		Errors:      []int{http.StatusUnauthorized},
	}, handle(func(ctx context.Context, in *refreshInput) (*tokenOutput, error) {
		t, err := s.Auth.Refresh(ctx, in.Body.RefreshToken)
		if err != nil {
			return nil, err
		}
		return tokenResponse(t), nil
	}))
	huma.Register(api, huma.Operation{
		OperationID: "logout", Method: http.MethodPost, Path: "/v1/auth/logout", Tags: []string{"Auth"},
		Summary: "Revoke a refresh token and its whole family", DefaultStatus: http.StatusNoContent,
	}, handle(func(ctx context.Context, in *refreshInput) (*struct{}, error) {
		return nil, s.Auth.Logout(ctx, in.Body.RefreshToken)
	}))
	huma.Register(api, secure(huma.Operation{
		OperationID: "get-me", Method: http.MethodGet, Path: "/v1/me", Tags: []string{"Auth"},
		Summary: "Who am I: the caller's account, identity and permissions",
	}, ""), handle(func(ctx context.Context, _ *struct{}) (*struct{ Body MeBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		me, err := s.me(ctx, p)
		if err != nil {
			return nil, err
		}
		return &struct{ Body MeBody }{Body: me}, nil
	}))
	huma.Register(api, huma.Operation{
		OperationID: "get-jwks", Method: http.MethodGet, Path: "/.well-known/jwks.json", Tags: []string{"Auth"},
		Summary: "Public keys that verify access tokens (JWKS)",
	}, func(ctx context.Context, _ *struct{}) (*struct{ Body JWKSBody }, error) {
		return &struct{ Body JWKSBody }{Body: JWKSBody{Keys: s.Auth.Keys().JWKS()}}, nil
	})
}

// me describes the caller p (GET and PATCH /v1/me).
func (s *server) me(ctx context.Context, p auth.Principal) (MeBody, error) {
	acct, err := account.Get(ctx, s.Pool, p.AccountID)
	if err != nil {
		return MeBody{}, err
	}
	me := MeBody{AccountID: acct.ID.String(), AccountName: acct.Name, Permissions: permStrings(p.Permissions)}
	if p.UserID != nil {
		u, err := account.GetUser(ctx, s.Pool, p.AccountID, *p.UserID)
		if err != nil {
			return MeBody{}, err
		}
		me.Kind, me.UserID, me.Email, me.Name, me.Role = "user", u.ID.String(), u.Email, u.Name, string(u.Role)
		m, err := closing.ClosingMessage(ctx, s.Pool, p.AccountID, *p.UserID)
		if err != nil {
			return MeBody{}, err
		}
		me.ClosingMessage = &m
		ag, err := s.distribution.GetAgent(ctx, p.AccountID, *p.UserID)
		if err != nil {
			return MeBody{}, err
		}
		me.Availability, me.Capacity = ag.Availability, &ag.Capacity
	} else {
		me.Kind, me.APIKeyID = "api_key", p.APIKeyID.String()
	}
	return me, nil
}

func tokenResponse(t auth.Tokens) *tokenOutput {
	return &tokenOutput{CacheControl: "no-store", Body: TokenBody{
		AccessToken: t.AccessToken, TokenType: "Bearer", ExpiresIn: int(t.ExpiresIn.Seconds()), RefreshToken: t.RefreshToken,
	}}
}

func permStrings(ps []auth.Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = string(p)
	}
	return out
}

type remoteAddrKey struct{}

// clientAddr is the caller's IP address, for login throttling.
func clientAddr(ctx context.Context) string {
	addr, _ := ctx.Value(remoteAddrKey{}).(string)
	return addr
}
