package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

// listFetch is the rows a 50-item page reads: the service asks for one more than the page to
// know whether a next page exists.
const listFetch = 51

// rawTarget does each scenario's database work with nothing above pgx: the service's own
// sqlc queries (so the SQL text and the row decoding are exactly the service's), on a pool
// opened by pgdb.Open like the server's and of the same size, with no HTTP, JSON,
// authentication or validation. HTTP/raw is then what the service adds.
type rawTarget struct {
	pool      *pgxpool.Pool
	q         *store.Queries
	accountID uuid.UUID
	ids       []uuid.UUID
}

// newRawTarget opens the raw pool.
func newRawTarget(ctx context.Context, dbURL string, maxConns int32, accountID uuid.UUID, ids []uuid.UUID) (*rawTarget, error) {
	pool, err := pgdb.Open(ctx, dbURL, maxConns)
	if err != nil {
		return nil, fmt.Errorf("open raw pool: %w", err)
	}
	return &rawTarget{pool: pool, q: store.New(), accountID: accountID, ids: ids}, nil
}

// Close closes the pool.
func (r *rawTarget) Close() { r.pool.Close() }

// getContact runs GetContact (the contact row and its phones subquery) for a random seeded
// contact, as GET /v1/contacts/{id} does.
func (r *rawTarget) getContact(ctx context.Context, rng *rand.Rand) error {
	id := r.ids[rng.IntN(len(r.ids))]
	if _, err := r.q.GetContact(ctx, r.pool, store.GetContactParams{AccountID: r.accountID, ID: id}); err != nil {
		return fmt.Errorf("get contact %s: %w", id, err)
	}
	return nil
}

// createContact returns an op that does what POST /v1/contacts does in the database: the one
// statement inserting the contact and its phone (CreateContactWithPhones), with the next
// unused number and the defaults validation would give.
func (r *rawTarget) createContact(numbers *counter) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		n, err := numbers.Next()
		if err != nil {
			return err
		}
		code := postCode(n)
		_, err = r.q.CreateContactWithPhones(ctx, r.pool, store.CreateContactWithPhonesParams{
			AccountID: r.accountID, ID: uuid.Must(uuid.NewV7()), Name: contactName(int(n)),
			CustomerCode: &code, Tags: []string{}, Priority: "medium", Broadcast: true, Origin: "api",
			Now: time.Now().UTC(), Phones: []string{canonicalMobile(n)}, Custom: []byte("{}"),
		})
		if err != nil {
			return fmt.Errorf("insert contact %s: %w", code, err)
		}
		return nil
	}
}

// listContacts returns an op that runs ListContacts for 51 rows after the given id (the first
// page when nil), as GET /v1/contacts?limit=50 does.
func (r *rawTarget) listContacts(after *uuid.UUID) op {
	return func(ctx context.Context, _ *rand.Rand) error {
		rows, err := r.list(ctx, after)
		if err != nil {
			return err
		}
		if len(rows) != listFetch {
			return fmt.Errorf("list contacts: %d rows, want %d", len(rows), listFetch)
		}
		return nil
	}
}

// list reads one page's rows.
func (r *rawTarget) list(ctx context.Context, after *uuid.UUID) ([]store.ListContactsRow, error) {
	rows, err := r.q.ListContacts(ctx, r.pool, store.ListContactsParams{AccountID: r.accountID, After: after, MaxRows: listFetch})
	if err != nil {
		return nil, fmt.Errorf("list contacts: %w", err)
	}
	return rows, nil
}
