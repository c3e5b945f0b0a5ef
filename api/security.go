package api

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/fault"
)

const (
	schemeBearer = "bearer"
	schemeAPIKey = "apiKey"
	permissionMD = "permission"
)

// secure marks op as needing credentials that hold perm. The OpenAPI document lists both ways
// to present them; the authenticate middleware enforces it.
func secure(op huma.Operation, perm auth.Permission) huma.Operation {
	op.Security = []map[string][]string{{schemeBearer: {}}, {schemeAPIKey: {}}}
	if op.Metadata == nil {
		op.Metadata = map[string]any{}
	}
	op.Metadata[permissionMD] = perm
	op.Errors = append(op.Errors, http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests)
	if perm != "" {
		op.Description = strings.TrimSpace(op.Description + "\n\nNeeds the `" + string(perm) + "` permission.")
	}
	return op
}

// authenticate enforces the security of operations marked by secure: it reads a bearer token
// or an X-API-Key, checks the operation's permission and passes the principal on.
func authenticate(api huma.API, svc *auth.Service) func(huma.Context, func(huma.Context)) {
	return func(ctx huma.Context, next func(huma.Context)) {
		op := ctx.Operation()
		if len(op.Security) == 0 {
			next(ctx)
			return
		}
		var cred string
		if h := ctx.Header("Authorization"); h != "" {
			scheme, tok, ok := strings.Cut(h, " ")
			if !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) == "" {
				writeProblem(api, ctx, fault.Unauthorized("the Authorization header must be `Bearer <token>`"))
				return
			}
			cred = strings.TrimSpace(tok)
		} else {
			cred = strings.TrimSpace(ctx.Header("X-API-Key"))
		}
		if cred == "" {
			writeProblem(api, ctx, fault.Unauthorized("credentials required: an access token or API key in Authorization: Bearer, or an API key in X-API-Key"))
			return
		}
		p, err := svc.Authenticate(ctx.Context(), cred)
		if err != nil {
			writeProblem(api, ctx, err)
			return
		}
		if perm, _ := op.Metadata[permissionMD].(auth.Permission); perm != "" && !p.Can(perm) {
			writeProblem(api, ctx, fault.Forbidden("these credentials lack the "+string(perm)+" permission"))
			return
		}
		next(huma.WithContext(ctx, auth.WithPrincipal(ctx.Context(), p)))
	}
}

// writeProblem answers from a middleware with the problem for err.
func writeProblem(api huma.API, ctx huma.Context, err error) {
	err = problem(err)
	var he huma.HeadersError
	if errors.As(err, &he) {
		for k, vs := range he.GetHeaders() {
			for _, v := range vs {
				ctx.SetHeader(k, v)
			}
		}
	}
	var se *huma.ErrorModel
	if errors.As(err, &se) {
		details := make([]error, len(se.Errors))
		for i, d := range se.Errors {
			details[i] = d
		}
		_ = huma.WriteErr(api, ctx, se.Status, se.Detail, details...)
		return
	}
	_ = huma.WriteErr(api, ctx, http.StatusInternalServerError, "internal server error", err)
}

// principal returns the caller the middleware authenticated.
// pathCaller is the caller and the {id} of the operation's path, for operations on one
// resource.
func pathCaller(ctx context.Context, id string) (auth.Principal, uuid.UUID, error) {
	p, err := principal(ctx)
	if err != nil {
		return p, uuid.Nil, err
	}
	rid, err := parseUUID("path.id", id)
	return p, rid, err
}

func principal(ctx context.Context) (auth.Principal, error) {
	p, ok := auth.FromContext(ctx)
	if !ok {
		return auth.Principal{}, errors.New("no principal in context: operation not secured")
	}
	return p, nil
}
