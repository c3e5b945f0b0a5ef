package pgdb

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Recorder and Replay send the statements of sqlc's query functions in one round trip (a
// pgx.Batch, one pipeline), without writing their SQL twice: a query function run through a
// Recorder queues its statement and arguments in the batch and returns ErrRecorded; once the
// batch is sent, the same function run through a Replay, in the same order, reads its result.
//
// For a transaction that runs many statements whose arguments do not depend on each other's
// results: one round trip instead of one per statement, which on a busy machine costs more
// than the statements themselves.
type Recorder struct {
	Batch *pgx.Batch
}

// ErrRecorded is what a query function returns when run through a Recorder.
var ErrRecorded = errors.New("statement recorded for a batch, not run")

// Exec queues the statement.
func (r Recorder) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	r.Batch.Queue(sql, args...)
	return pgconn.CommandTag{}, ErrRecorded
}

// Query queues the statement.
func (r Recorder) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	r.Batch.Queue(sql, args...)
	return nil, ErrRecorded
}

// QueryRow queues the statement; the row's Scan returns ErrRecorded.
func (r Recorder) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	r.Batch.Queue(sql, args...)
	return recordedRow{}
}

type recordedRow struct{}

func (recordedRow) Scan(...any) error { return ErrRecorded }

// Replay answers each statement with the next result of a sent batch (see Recorder); the
// statement and arguments it is given are not looked at.
type Replay struct {
	Results pgx.BatchResults
}

// Exec reads the next result as a command's.
func (r Replay) Exec(context.Context, string, ...any) (pgconn.CommandTag, error) {
	return r.Results.Exec()
}

// Query reads the next result as rows.
func (r Replay) Query(context.Context, string, ...any) (pgx.Rows, error) {
	return r.Results.Query()
}

// QueryRow reads the next result as one row.
func (r Replay) QueryRow(context.Context, string, ...any) pgx.Row {
	return r.Results.QueryRow()
}
