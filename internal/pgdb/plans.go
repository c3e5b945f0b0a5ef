package pgdb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// GenericPlans is a pool through which each statement may reuse a generic plan: the pool's
// connections force custom plans (Open), and a statement sent through GenericPlans runs with
// plan_cache_mode auto for itself alone, in one round trip (a batch whose implicit transaction
// sets plan_cache_mode locally and runs the statement). It satisfies sqlc's DBTX, so any generated query can be
// sent through it.
//
// For statements that take longer to plan than to run and whose generic plan was checked
// with EXPLAIN: the queue's Next spends 0.9 ms planning a custom plan and 0.5 ms running it
// (a generic plan, the same index scans, is planned in 0.06 ms); a conversation list spends
// 2.5 ms planning and 1 ms running. Not for statements whose best plan depends on their
// values (RecordSent's generic plan took 30 s a batch).
type GenericPlans struct {
	Pool *pgxpool.Pool
}

// allowGeneric sets plan_cache_mode for the batch's implicit transaction. Not SET LOCAL: outside
// an explicit BEGIN, PostgreSQL answers every SET LOCAL with a WARNING ("can only be used in
// transaction blocks", although it takes effect), which it formats, logs and sends: 4 % of the
// server's CPU under POST /v1/messages in a perf profile. set_config(…, true) does the same
// silently.
const allowGeneric = "SELECT set_config('plan_cache_mode', 'auto', true)"

// QueueGenericPlans queues in b the statement that lets the statements queued after it reuse
// generic plans until the transaction ends: what GenericPlans does for one statement, for a
// batch of them sent in one transaction. Its result is read with Exec before theirs.
func QueueGenericPlans(b *pgx.Batch) { b.Queue(allowGeneric) }

func (g GenericPlans) send(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{}
	QueueGenericPlans(b)
	b.Queue(sql, args...)
	br := g.Pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, fmt.Errorf("allow generic plans: %w", err)
	}
	return br, nil
}

// Exec runs a statement that returns no rows.
func (g GenericPlans) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br, err := g.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query runs a statement returning rows; closing the rows releases the connection.
func (g GenericPlans) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br, err := g.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs a statement returning at most one row; scanning it releases the connection.
func (g GenericPlans) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	br, err := g.send(ctx, sql, args)
	if err != nil {
		return errRow{err}
	}
	return &batchRow{row: br.QueryRow(), br: br}
}

// batchRows are a batch's one result set: closing them closes the batch, which gives the
// connection back to the pool.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		_ = r.br.Close()
	}
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r *batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
