package importer

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/event"
)

// Args asks for an uploaded import to be run (or resumed).
type Args struct {
	AccountID uuid.UUID `json:"account_id"`
	ImportID  uuid.UUID `json:"import_id"`
}

// Kind names the job in river_job.
func (Args) Kind() string { return "import_contacts" }

// InsertOpts gives an import a few attempts: each resumes after the last committed batch.
func (Args) InsertOpts() river.InsertOpts { return river.InsertOpts{MaxAttempts: 5} }

// Worker runs imports.
type Worker struct {
	river.WorkerDefaults[Args]
	Service *Service
}

// Timeout lets an import of millions of rows run: River's default of one minute would cut it.
func (w *Worker) Timeout(*river.Job[Args]) time.Duration { return 2 * time.Hour }

// Work runs the import from where its last committed batch left it. On its last attempt a
// failure is recorded on the import, which then stops being retried.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	err := w.Service.Run(ctx, job.Args.AccountID, job.Args.ImportID, 0)
	if err != nil && job.Attempt >= job.MaxAttempts {
		if ferr := w.Service.finish(ctx, job.Args.AccountID, job.Args.ImportID, StatusFailed, err.Error()); ferr != nil {
			return errors.Join(err, ferr)
		}
	}
	return err
}

// errStop ends a run early without failing it (cancelled, or maxBatches reached).
var errStop = errors.New("import stopped")

// Run applies the import's remaining rows batch by batch. maxBatches > 0 stops after that
// many batches (what a worker dying after N batches leaves behind; tests use it).
func (s *Service) Run(ctx context.Context, accountID, id uuid.UUID, maxBatches int) error {
	row, err := s.q.GetImport(ctx, s.pool, store.GetImportParams{AccountID: accountID, ID: id})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // deleted with its account
	}
	if err != nil {
		return fmt.Errorf("read import %s: %w", id, err)
	}
	if row.Status != StatusQueued && row.Status != StatusRunning {
		return nil
	}
	var opts Options
	if err := json.Unmarshal(row.Options, &opts); err != nil {
		return fmt.Errorf("decode options of import %s: %w", id, err)
	}
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.StartImport(ctx, tx, store.StartImportParams{AccountID: accountID, ID: id, Now: s.clock.Now()}); err != nil {
			return fmt.Errorf("start import %s: %w", id, err)
		}
		return event.Emit(ctx, tx, accountID, s.clock.Now(), event.New{Type: EventStarted, SubjectID: &id})
	}); err != nil {
		return err
	}
	src := &chunkReader{ctx: ctx, s: s, accountID: accountID, id: id}
	cr := newCSVReader(src, row.Encoding, []rune(row.Delimiter)[0])
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("read header of import %s: %w", id, err)
	}
	header = trimAll(header)
	defs, err := customfield.Load(ctx, s.pool, accountID)
	if err != nil {
		return err
	}
	p, err := makePlan(header, opts.Mapping, defs, opts.Mode, opts.DefaultDDD)
	if err != nil {
		// The mapping was checked at upload; a custom field deleted since makes it fail here.
		return s.finish(ctx, accountID, id, StatusFailed, err.Error())
	}
	b := &batcher{s: s, accountID: accountID, id: id, opts: opts, plan: p, defs: defs, createdAt: row.CreatedAt,
		by: recorderOf(row.CreatedBy)}
	// Skip the records earlier batches applied.
	read := row.RowsRead
	for n := int64(0); n < read; {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil && !isRecordError(err) {
			return fmt.Errorf("import %s: skip applied rows: %w", id, err)
		}
		if !blank(rec) {
			n++
		}
	}
	size := s.BatchSize
	if size <= 0 {
		size = DefaultBatchSize
	}
	// Reading and judging the next batch (Go) overlaps applying this one (PostgreSQL).
	rctx, stopReading := context.WithCancel(ctx)
	defer stopReading()
	batches := make(chan readBatch)
	go func() {
		defer close(batches)
		for {
			var rb readBatch
			rb.rows, rb.errs, rb.n, rb.eof, rb.err = b.read(cr, size)
			rb.consumed = src.consumed
			select {
			case batches <- rb:
			case <-rctx.Done():
				return
			}
			if rb.eof || rb.err != nil {
				return
			}
		}
	}()
	applied := 0
	for rb := range batches {
		if rb.err != nil {
			return rb.err
		}
		if maxBatches > 0 && applied == maxBatches {
			return nil
		}
		if rb.n > 0 {
			read += int64(rb.n)
			if err := b.apply(ctx, rb.rows, rb.errs, read, rb.consumed); err != nil {
				if errors.Is(err, errStop) {
					return nil
				}
				return err
			}
			applied++
		}
		if rb.eof {
			break
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.finish(ctx, accountID, id, StatusDone, "")
}

// readBatch is one batch read and judged, ready to apply.
type readBatch struct {
	rows     []row
	errs     []lineError
	n        int
	eof      bool
	err      error
	consumed int64
}

// finish records the end of an import and deletes its uploaded file; its errors stay.
func (s *Service) finish(ctx context.Context, accountID, id uuid.UUID, status, why string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		cur, err := s.q.LockImport(ctx, tx, store.LockImportParams{AccountID: accountID, ID: id})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("lock import %s: %w", id, err)
		}
		if cur.Status == StatusQueued || cur.Status == StatusRunning {
			var e *string
			if why != "" {
				e = &why
			}
			if err := s.q.FinishImport(ctx, tx, store.FinishImportParams{AccountID: accountID, ID: id, Status: status, Error: e, Now: s.clock.Now()}); err != nil {
				return fmt.Errorf("finish import %s: %w", id, err)
			}
			data := map[string]any{"status": status}
			if why != "" {
				data["error"] = why
			}
			if err := event.Emit(ctx, tx, accountID, s.clock.Now(), event.New{Type: EventFinished, SubjectID: &id, Data: data}); err != nil {
				return err
			}
		}
		if err := s.q.DeleteImportChunks(ctx, tx, store.DeleteImportChunksParams{AccountID: accountID, ImportID: id}); err != nil {
			return fmt.Errorf("delete upload of import %s: %w", id, err)
		}
		return nil
	})
}

// chunkReader reads an upload back from its chunks, one at a time.
type chunkReader struct {
	ctx       context.Context
	s         *Service
	accountID uuid.UUID
	id        uuid.UUID
	seq       int32
	buf       []byte
	consumed  int64
	done      bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.done {
			return 0, io.EOF
		}
		data, err := r.s.q.GetImportChunk(r.ctx, r.s.pool, store.GetImportChunkParams{AccountID: r.accountID, ImportID: r.id, Seq: r.seq})
		if errors.Is(err, pgx.ErrNoRows) {
			r.done = true
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read chunk %d of import %s: %w", r.seq, r.id, err)
		}
		r.buf = data
		r.seq++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.consumed += int64(n)
	return n, nil
}

func isRecordError(err error) bool {
	var pe *csv.ParseError
	return errors.As(err, &pe)
}

// blank says whether a record has only empty cells (Excel writes ";;;;" for an empty row).
func blank(rec []string) bool {
	for _, c := range rec {
		for i := 0; i < len(c); i++ {
			if c[i] != ' ' && c[i] != '\t' {
				return false
			}
		}
	}
	return true
}

func trimAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = strings.TrimSpace(x)
	}
	return out
}

// recorderOf reads back the created_by column ("user:<id>", "api_key:<id>").
func recorderOf(s string) consent.Recorder {
	for i := 0; i < len(s); i++ {
		if s[i] == ':' {
			return consent.Recorder{Kind: s[:i], ID: s[i+1:]}
		}
	}
	return consent.Recorder{Kind: "system", ID: "import"}
}

// errorWriter writes the errors CSV.
type errorWriter struct{ w *csv.Writer }

func newErrorWriter(w io.Writer) *errorWriter {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"line", "column", "reason", "skipped"})
	return &errorWriter{w: cw}
}

func (e *errorWriter) write(line int64, column, reason string, skipped bool) error {
	if err := e.w.Write([]string{strconv.FormatInt(line, 10), column, reason, strconv.FormatBool(skipped)}); err != nil {
		return fmt.Errorf("write errors csv: %w", err)
	}
	return nil
}

func (e *errorWriter) flush() error {
	e.w.Flush()
	if err := e.w.Error(); err != nil {
		return fmt.Errorf("write errors csv: %w", err)
	}
	return nil
}
