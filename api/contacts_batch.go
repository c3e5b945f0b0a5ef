package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/contact"
)

// BatchItemResult is one item's answer in a batch upsert.
type BatchItemResult struct {
	Index   int              `json:"index" doc:"The item's position in the request, from 0."`
	Outcome string           `json:"outcome" enum:"created,updated,unchanged,failed"`
	Contact *ContactBody     `json:"contact,omitempty"`
	Problem *huma.ErrorModel `json:"problem,omitempty" doc:"Why the item failed (RFC 9457); field locations are relative to the request body."`
}

// BatchResultBody answers a batch upsert.
type BatchResultBody struct {
	Created   int               `json:"created"`
	Updated   int               `json:"updated"`
	Unchanged int               `json:"unchanged"`
	Failed    int               `json:"failed"`
	Results   []BatchItemResult `json:"results"`
}

func (s *server) registerContactBatch(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "batch-upsert-contacts", Method: http.MethodPost, Path: "/v1/contacts/batch", Tags: []string{contactsTag},
		Summary: "Create or update up to 1 000 contacts at once",
		Description: "How a CRM syncs: each item is matched by customer code (key=customer_code, the default) or by its first phone (key=phone), " +
			"and replaced field by field, or created. Each item is answered with its own result or problem, in order; a bad item does not stop the others. " +
			"With an Idempotency-Key, a retried call returns the first answer.",
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *struct {
		IdempotencyKey string `header:"Idempotency-Key" maxLength:"255"`
		Body           struct {
			Key   string         `json:"key,omitempty" enum:"customer_code,phone" default:"customer_code"`
			Items []ContactInput `json:"items" minItems:"1" maxItems:"1000"`
		}
		RawBody []byte
	}) (*struct{ Body BatchResultBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		items := make([]contact.Fields, len(in.Body.Items))
		for i, it := range in.Body.Items {
			if items[i], err = toFields(it, p); err != nil {
				return nil, prefixProblem(problem(err), i)
			}
		}
		out, _, err := idempotent(ctx, s, p.AccountID, "batch-upsert-contacts", in.IdempotencyKey, in.RawBody, http.StatusOK,
			func(tx pgx.Tx) (BatchResultBody, error) {
				results, err := s.Contacts.BatchTx(ctx, tx, p.AccountID, contact.MatchKey(in.Body.Key), items)
				return toBatchBody(results), err
			})
		if err != nil {
			return nil, err
		}
		return &struct{ Body BatchResultBody }{Body: out}, nil
	}))
}

func toBatchBody(results []contact.BatchResult) BatchResultBody {
	out := BatchResultBody{Results: make([]BatchItemResult, len(results))}
	for i, r := range results {
		item := BatchItemResult{Index: i, Outcome: string(r.Outcome)}
		if r.Err != nil {
			item.Outcome = "failed"
			var em *huma.ErrorModel
			if errors.As(prefixProblem(problem(r.Err), i), &em) {
				item.Problem = em
			}
			out.Failed++
		} else {
			body := toContactBody(r.Contact)
			item.Contact = &body
			switch r.Outcome {
			case contact.Created:
				out.Created++
			case contact.Updated:
				out.Updated++
			default:
				out.Unchanged++
			}
		}
		out.Results[i] = item
	}
	return out
}

// prefixProblem points a problem's field locations at item i of the request body.
func prefixProblem(err error, i int) error {
	var em *huma.ErrorModel
	if !errors.As(err, &em) {
		return err
	}
	for _, d := range em.Errors {
		if len(d.Location) > 5 && d.Location[:5] == "body." {
			d.Location = fmt.Sprintf("body.items[%d].%s", i, d.Location[5:])
		}
	}
	return err
}
