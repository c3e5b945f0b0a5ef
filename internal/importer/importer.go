// Package importer brings contacts in from the CSV files that spreadsheets (Brazilian Excel
// above all) export: the upload is streamed into PostgreSQL, and a River job reads it back,
// judges every row as the contacts API would, and applies it in batches, each with one
// COPY into a staging table and set-based statements in the transaction that also records
// the import's progress, so a worker that dies resumes from its last batch without doing
// anything twice.
package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/tag"
)

// Mode says what an import does with rows that match existing contacts and rows that do not.
type Mode string

// The modes. The upserts find existing contacts by customer code or by the row's first phone
// (with or without the Brazilian ninth digit, as everywhere).
const (
	ModeCreateOnly    Mode = "create_only"
	ModeUpdateOnly    Mode = "update_only"
	ModeUpsertByCode  Mode = "upsert_by_customer_code"
	ModeUpsertByPhone Mode = "upsert_by_phone"
)

// Modes lists the modes.
var Modes = []Mode{ModeCreateOnly, ModeUpdateOnly, ModeUpsertByCode, ModeUpsertByPhone}

// The statuses of an import.
const (
	StatusQueued    = "queued"
	StatusRunning   = "running"
	StatusDone      = "done"
	StatusFailed    = "failed"
	StatusCancelled = "cancelled"
)

// Options are what the uploader chose.
type Options struct {
	// Mapping maps CSV headers to contact fields (name, customer_code, document, phone, email,
	// birth_date, rg, tags, accepts_communications, custom.<key>). Empty maps the headers
	// that are field names.
	Mapping map[string]string `json:"mapping,omitempty"`
	Mode    Mode              `json:"mode"`
	// Tags are given to every imported contact.
	Tags []string `json:"tags,omitempty"`
	// SegmentID is a segment every imported contact becomes a static member of.
	SegmentID *uuid.UUID `json:"segment_id,omitempty"`
	// DryRun validates and counts without changing anything.
	DryRun bool `json:"dry_run"`
	// DefaultDDD is put in front of Brazilian numbers written without an area code. Without
	// it, such numbers are refused (a guessed area code reaches a stranger).
	DefaultDDD string `json:"default_ddd,omitempty"`
	FileName   string `json:"file_name,omitempty"`
}

// Import is an import's state and progress, what a frontend polls.
type Import struct {
	ID        uuid.UUID
	Status    string
	FileName  string
	Options   Options
	Delimiter string
	Encoding  string
	BytesTotal,
	BytesRead int64
	RowsRead, Created, Updated, Failed, Skipped int64
	// Percent of the file read, from 0 to 100.
	Percent float64
	// ETA is the estimated time left while running.
	ETA        *time.Duration
	Error      string
	CreatedBy  string
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	UpdatedAt  time.Time
}

// Enqueuer inserts a job in the caller's transaction (a River client).
type Enqueuer interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// The events an import emits, each with the import as subject: queued with the upload,
// started, progressed with every batch applied (in the batch's transaction), finished (done,
// failed or cancelled).
const (
	EventQueued     = "import.queued"
	EventStarted    = "import.started"
	EventProgressed = "import.progressed"
	EventFinished   = "import.finished"
)

// Service uploads, runs and reports imports. Every method is scoped to one account.
type Service struct {
	pool    *pgxpool.Pool
	q       *store.Queries
	clock   clock.Clock
	consent *consent.Service
	// Enqueuer runs the import job; set once the River client exists.
	Enqueuer Enqueuer
	// BatchSize is how many rows one batch applies (default DefaultBatchSize).
	BatchSize int
}

// DefaultBatchSize is the rows per batch: big enough that the per-batch statements cost
// little per row, small enough that a batch's transaction stays short and that the two batches
// alive at once (one applied, the next read and judged meanwhile, about 360 bytes a row) keep
// the server under 150 MB.
const DefaultBatchSize = 25_000

// chunkSize is the size of the pieces an upload is stored in.
const chunkSize = 1 << 20

// NewService returns a Service; set Enqueuer before uploading.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk, consent: consent.NewService(pool, clk), BatchSize: DefaultBatchSize}
}

var errNotFound = fault.NotFound("import")

// Upload checks the options and the start of body (a CSV file, its header, the mapping
// against it), then streams body into PostgreSQL in pieces of 1 MiB and enqueues the import
// job in the same transaction: the whole file is never held in memory, and either the import
// is stored whole and queued or nothing is. by names the uploader (it becomes the consent
// records' recorder).
func (s *Service) Upload(ctx context.Context, accountID uuid.UUID, by consent.Recorder, opts Options, body io.Reader) (Import, error) {
	if err := s.checkOptions(ctx, accountID, &opts); err != nil {
		return Import{}, err
	}
	head := make([]byte, 64<<10)
	n, err := io.ReadFull(body, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return Import{}, fmt.Errorf("read upload: %w", err)
	}
	head = head[:n]
	if why := notCSV(head); why != "" {
		return Import{}, fault.Invalid("not a CSV file", fault.FieldError{Field: "body", Message: why})
	}
	check := newUTF8Checker()
	check.write(head)
	encoding := UTF8
	if !check.valid {
		encoding = Windows1252
	}
	delim := sniffDelimiter(head)
	if n == len(head) && !containsNewline(head) {
		return Import{}, fault.Invalid("not a CSV file", fault.FieldError{Field: "body", Message: "the first line is longer than 64 KiB"})
	}
	header, err := readHeader(head, encoding, delim)
	if err != nil {
		return Import{}, fault.Invalid("not a CSV file", fault.FieldError{Field: "body", Message: err.Error()})
	}
	defs, err := customfield.Load(ctx, s.pool, accountID)
	if err != nil {
		return Import{}, err
	}
	if _, err := makePlan(header, opts.Mapping, defs, opts.Mode, opts.DefaultDDD); err != nil {
		return Import{}, err
	}
	optJSON, err := json.Marshal(opts)
	if err != nil {
		return Import{}, fmt.Errorf("encode import options: %w", err)
	}
	id := uuid.Must(uuid.NewV7())
	now := s.clock.Now()
	var created Import
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.CreateImport(ctx, tx, store.CreateImportParams{
			AccountID: accountID, ID: id, FileName: opts.FileName, Mode: string(opts.Mode), DryRun: opts.DryRun,
			Options: optJSON, SegmentID: opts.SegmentID, Delimiter: string(delim), Encoding: encoding,
			CreatedBy: by.Kind + ":" + by.ID, Now: now,
		}); err != nil {
			return fmt.Errorf("create import: %w", err)
		}
		total, err := s.storeBody(ctx, tx, accountID, id, head, body, check)
		if err != nil {
			return err
		}
		if !check.done() {
			encoding = Windows1252
		}
		if err := s.q.SetImportUpload(ctx, tx, store.SetImportUploadParams{AccountID: accountID, ID: id, Encoding: encoding, BytesTotal: total}); err != nil {
			return fmt.Errorf("record upload of import %s: %w", id, err)
		}
		if _, err := s.Enqueuer.InsertTx(ctx, tx, Args{AccountID: accountID, ImportID: id}, nil); err != nil {
			return fmt.Errorf("enqueue import %s: %w", id, err)
		}
		if err := event.Emit(ctx, tx, accountID, s.clock.Now(), event.New{Type: EventQueued, SubjectID: &id,
			Data: map[string]any{"bytes": total, "encoding": encoding}}); err != nil {
			return err
		}
		// Read back in the transaction: the import as accepted (queued). After the commit a
		// worker may already have started it, and the answer would depend on that race.
		row, err := s.q.GetImport(ctx, tx, store.GetImportParams{AccountID: accountID, ID: id})
		if err != nil {
			return fmt.Errorf("read import %s back: %w", id, err)
		}
		created = s.fromRow(row)
		return nil
	})
	if err != nil {
		return Import{}, err
	}
	return created, nil
}

// storeBody writes head and the rest of body as chunks and returns the size.
func (s *Service) storeBody(ctx context.Context, tx pgx.Tx, accountID, id uuid.UUID, head []byte, body io.Reader, check *utf8Checker) (int64, error) {
	buf := make([]byte, chunkSize)
	copy(buf, head)
	filled := len(head)
	var (
		total int64
		seq   int32
	)
	for {
		n, err := io.ReadFull(body, buf[filled:])
		check.write(buf[filled : filled+n])
		filled += n
		eof := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		if err != nil && !eof {
			return 0, fmt.Errorf("read upload: %w", err)
		}
		if filled > 0 {
			if err := s.q.AddImportChunk(ctx, tx, store.AddImportChunkParams{AccountID: accountID, ImportID: id, Seq: seq, Data: buf[:filled]}); err != nil {
				return 0, fmt.Errorf("store upload of import %s: %w", id, err)
			}
			total += int64(filled)
			seq++
			filled = 0
		}
		if eof {
			return total, nil
		}
	}
}

func containsNewline(b []byte) bool {
	return strings.ContainsAny(string(b), "\r\n")
}

// checkOptions validates opts in place (mode, DDD, tags, segment).
func (s *Service) checkOptions(ctx context.Context, accountID uuid.UUID, opts *Options) error {
	var errs []fault.FieldError
	if opts.Mode == "" {
		opts.Mode = ModeUpsertByCode
	}
	if !contains(strs(Modes), string(opts.Mode)) {
		errs = append(errs, fault.FieldError{Field: "query.mode", Message: fmt.Sprintf("must be one of %v", Modes), Value: opts.Mode})
	}
	if d := strings.TrimSpace(opts.DefaultDDD); d != "" {
		if len(d) != 2 || !allDigits(d) || d[0] == '0' || d[1] == '0' {
			errs = append(errs, fault.FieldError{Field: "query.default_ddd", Message: "must be a Brazilian area code of two digits, like 11", Value: opts.DefaultDDD})
		}
		opts.DefaultDDD = d
	}
	var tags []string
	for i, raw := range opts.Tags {
		t, ok := tag.CleanName(raw)
		if !ok {
			errs = append(errs, fault.FieldError{Field: fmt.Sprintf("query.tags[%d]", i), Message: fmt.Sprintf("must have 1 to %d printable characters", tag.MaxNameLength), Value: raw})
			continue
		}
		if indexFunc(tags, func(x string) bool { return strings.EqualFold(x, t) }) < 0 {
			tags = append(tags, t)
		}
	}
	opts.Tags = tags
	if opts.SegmentID != nil {
		_, err := s.q.SegmentExists(ctx, s.pool, store.SegmentExistsParams{AccountID: accountID, ID: *opts.SegmentID})
		if errors.Is(err, pgx.ErrNoRows) {
			errs = append(errs, fault.FieldError{Field: "query.segment_id", Message: "no such segment in this account", Value: opts.SegmentID.String()})
		} else if err != nil {
			return fmt.Errorf("find segment: %w", err)
		}
	}
	if len(errs) > 0 {
		return fault.Invalid("invalid import options", errs...)
	}
	return nil
}

// Get returns one import with its progress.
func (s *Service) Get(ctx context.Context, accountID, id uuid.UUID) (Import, error) {
	row, err := s.q.GetImport(ctx, s.pool, store.GetImportParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return Import{}, errNotFound
	}
	if err != nil {
		return Import{}, fmt.Errorf("get import %s: %w", id, err)
	}
	return s.fromRow(row), nil
}

// List returns a page of the account's imports, newest first; after is the last id of the
// previous page.
func (s *Service) List(ctx context.Context, accountID uuid.UUID, after *uuid.UUID, limit int) ([]Import, error) {
	rows, err := s.q.ListImports(ctx, s.pool, store.ListImportsParams{AccountID: accountID, After: after, MaxRows: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list imports: %w", err)
	}
	out := make([]Import, len(rows))
	for i, r := range rows {
		out[i] = s.fromRow(r)
	}
	return out, nil
}

// Cancel stops a queued or running import at its next batch; what earlier batches imported
// stays. Cancelling a finished import is a conflict.
func (s *Service) Cancel(ctx context.Context, accountID, id uuid.UUID) (Import, error) {
	now := s.clock.Now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := s.q.CancelImport(ctx, tx, store.CancelImportParams{AccountID: accountID, ID: id, Now: now}); err != nil {
			return err
		}
		return event.Emit(ctx, tx, accountID, now, event.New{Type: EventFinished, SubjectID: &id, Data: map[string]any{"status": StatusCancelled}})
	})
	if errors.Is(err, pgx.ErrNoRows) {
		imp, gerr := s.Get(ctx, accountID, id)
		if gerr != nil {
			return Import{}, gerr
		}
		return Import{}, fault.Conflict(fmt.Sprintf("the import is %s already", imp.Status))
	}
	if err != nil {
		return Import{}, fmt.Errorf("cancel import %s: %w", id, err)
	}
	return s.Get(ctx, accountID, id)
}

// WriteErrors streams the import's failed and skipped rows to w as CSV (line, column, reason,
// skipped) in line order, in constant memory.
func (s *Service) WriteErrors(ctx context.Context, accountID, id uuid.UUID, w io.Writer) error {
	// Read row by row (sqlc's :many would hold every error in memory).
	rows, err := s.pool.Query(ctx, `SELECT line, column_name, reason, skipped FROM import_errors
		WHERE account_id = $1 AND import_id = $2 ORDER BY line`, accountID, id)
	if err != nil {
		return fmt.Errorf("read errors of import %s: %w", id, err)
	}
	defer rows.Close()
	cw := newErrorWriter(w)
	var (
		line           int64
		column, reason string
		skipped        bool
	)
	for rows.Next() {
		if err := rows.Scan(&line, &column, &reason, &skipped); err != nil {
			return fmt.Errorf("read errors of import %s: %w", id, err)
		}
		if err := cw.write(line, column, reason, skipped); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read errors of import %s: %w", id, err)
	}
	return cw.flush()
}

func (s *Service) fromRow(r store.Import) Import {
	imp := Import{
		ID: r.ID, Status: r.Status, FileName: r.FileName, Delimiter: r.Delimiter, Encoding: r.Encoding,
		BytesTotal: r.BytesTotal, BytesRead: r.BytesRead, RowsRead: r.RowsRead, Created: r.RowsCreated, Updated: r.RowsUpdated,
		Failed: r.RowsFailed, Skipped: r.RowsSkipped, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(),
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, UpdatedAt: r.UpdatedAt.UTC(),
	}
	_ = json.Unmarshal(r.Options, &imp.Options)
	if r.Error != nil {
		imp.Error = *r.Error
	}
	switch {
	case r.Status == StatusDone:
		imp.Percent = 100
	case r.BytesTotal > 0:
		imp.Percent = float64(r.BytesRead) * 100 / float64(r.BytesTotal)
	}
	if r.Status == StatusRunning && r.StartedAt != nil && r.BytesRead > 0 && r.BytesRead < r.BytesTotal {
		elapsed := s.clock.Now().Sub(*r.StartedAt)
		eta := time.Duration(float64(elapsed) * float64(r.BytesTotal-r.BytesRead) / float64(r.BytesRead)).Round(time.Second)
		imp.ETA = &eta
	}
	return imp
}

func strs[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
