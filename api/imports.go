package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/importer"
)

const importsTag = "Imports"

// DefaultMaxImportBytes caps an uploaded CSV when Deps.MaxImportBytes is zero: a million
// contact rows are about 100 MB.
const DefaultMaxImportBytes = 1 << 30

// ImportBody is an import's options, state and progress.
type ImportBody struct {
	ID         string            `json:"id"`
	Status     string            `json:"status" enum:"queued,running,done,failed,cancelled"`
	FileName   string            `json:"file_name,omitempty"`
	Mode       string            `json:"mode"`
	DryRun     bool              `json:"dry_run" doc:"A dry run validated and counted; it changed nothing."`
	Mapping    map[string]string `json:"mapping,omitempty"`
	Tags       []string          `json:"tags,omitempty"`
	SegmentID  *string           `json:"segment_id,omitempty"`
	DefaultDDD string            `json:"default_ddd,omitempty"`
	Delimiter  string            `json:"delimiter" doc:"The delimiter found in the header line."`
	Encoding   string            `json:"encoding" enum:"utf-8,windows-1252" doc:"Files that are not valid UTF-8 are read as Windows-1252."`
	BytesTotal int64             `json:"bytes_total"`
	BytesRead  int64             `json:"bytes_read"`
	RowsRead   int64             `json:"rows_read" doc:"Data rows read so far (blank lines are not rows)."`
	Created    int64             `json:"created" doc:"Rows that created a contact (in a dry run: would create)."`
	Updated    int64             `json:"updated" doc:"Rows applied to an existing contact (in a dry run: would be)."`
	Failed     int64             `json:"failed" doc:"Rows refused; GET /v1/imports/{id}/errors says why."`
	Skipped    int64             `json:"skipped" doc:"Rows left out by the mode or as duplicates within the file."`
	Percent    float64           `json:"percent" doc:"Share of the file read, 0 to 100."`
	ETASeconds *int64            `json:"eta_seconds,omitempty" doc:"Estimated seconds left, while running."`
	Error      string            `json:"error,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
	StartedAt  *time.Time        `json:"started_at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

func toImportBody(i importer.Import) ImportBody {
	b := ImportBody{
		ID: i.ID.String(), Status: i.Status, FileName: i.FileName, Mode: string(i.Options.Mode), DryRun: i.Options.DryRun,
		Mapping: i.Options.Mapping, Tags: i.Options.Tags, DefaultDDD: i.Options.DefaultDDD, Delimiter: i.Delimiter, Encoding: i.Encoding,
		BytesTotal: i.BytesTotal, BytesRead: i.BytesRead, RowsRead: i.RowsRead, Created: i.Created, Updated: i.Updated,
		Failed: i.Failed, Skipped: i.Skipped, Percent: i.Percent, Error: i.Error, CreatedAt: i.CreatedAt,
		StartedAt: i.StartedAt, FinishedAt: i.FinishedAt, UpdatedAt: i.UpdatedAt,
	}
	if i.Options.SegmentID != nil {
		s := i.Options.SegmentID.String()
		b.SegmentID = &s
	}
	if i.ETA != nil {
		s := int64(i.ETA.Seconds())
		b.ETASeconds = &s
	}
	return b
}

// ImportIDParam is the {id} of an import's path (exported so huma reads it when embedded).
type ImportIDParam struct {
	ID string `path:"id" format:"uuid"`
}

// ImportUpload is the upload's options (query parameters) and its body, read as a stream.
type ImportUpload struct {
	Mode       string `query:"mode" enum:"create_only,update_only,upsert_by_customer_code,upsert_by_phone" default:"upsert_by_customer_code" doc:"create_only skips rows whose customer code or first phone exists; update_only skips rows that match no contact; the upserts create or update, matching by customer code or by first phone."`
	Mapping    string `query:"mapping" maxLength:"20000" doc:"A JSON object from CSV header to field: name, customer_code, document (cpf, cnpj), phone (several columns allowed), email, birth_date, rg, tags, accepts_communications, custom.<key>, or ignore. Without it, headers named like fields are used." example:"{\"Nome\":\"name\",\"Código\":\"customer_code\",\"CPF\":\"document\",\"Celular\":\"phone\",\"Aceita\":\"accepts_communications\"}"`
	Tags       string `query:"tags" maxLength:"2000" doc:"Comma-separated tags given to every imported contact."`
	SegmentID  string `query:"segment_id" doc:"A segment every imported contact becomes a static member of."`
	DryRun     bool   `query:"dry_run" doc:"Validate and count, change nothing."`
	DefaultDDD string `query:"default_ddd" maxLength:"2" doc:"Area code put in front of Brazilian numbers written without one (8 or 9 digits); without it those numbers are refused."`
	FileName   string `query:"file_name" maxLength:"255" doc:"The file's name, kept as evidence of consent."`
	body       io.Reader
}

// Resolve keeps the request body as a stream: huma reads no body for this operation, so the
// file never sits whole in memory.
func (in *ImportUpload) Resolve(ctx huma.Context) []error {
	in.body = ctx.BodyReader()
	// A large file over a slow link takes longer than the server's read timeout.
	_ = ctx.SetReadDeadline(time.Now().Add(time.Hour))
	return nil
}

// errTooLarge ends an upload larger than the limit.
var errTooLarge = errors.New("upload too large")

// limitReader fails with errTooLarge past n bytes.
type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errTooLarge
	}
	return n, err
}

func (s *server) registerImports(api huma.API) {
	huma.Register(api, secure(huma.Operation{
		OperationID: "create-import", Method: http.MethodPost, Path: "/v1/imports", Tags: []string{importsTag},
		Summary: "Import contacts from a CSV file",
		Description: "The body is the CSV file itself (as Excel saves it: ';' or ',' delimited, UTF-8 with or without BOM, or Windows-1252), streamed " +
			"into the database; the import then runs as a job. Poll GET /v1/imports/{id} for progress and read the refused rows from " +
			"GET /v1/imports/{id}/errors. Rows are judged as POST /v1/contacts judges a contact. Empty cells leave an existing contact's field " +
			"as it is; tags and custom values are added to the contact's. Within one file, the last row with a key wins (create_only: the first). " +
			"\"accepts communications\" = yes records an implicit import consent for every purpose on every channel; no records nothing.",
		DefaultStatus: http.StatusAccepted,
		Errors:        []int{http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity},
		RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
			"text/csv": {Schema: &huma.Schema{Type: "string", Format: "binary"}},
		}},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *ImportUpload) (*struct {
		Location string `header:"Location"`
		Body     ImportBody
	}, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		opts := importer.Options{Mode: importer.Mode(in.Mode), DryRun: in.DryRun, DefaultDDD: in.DefaultDDD, FileName: in.FileName}
		if in.Mapping != "" {
			if err := json.Unmarshal([]byte(in.Mapping), &opts.Mapping); err != nil {
				return nil, huma.NewError(http.StatusUnprocessableEntity, "invalid import options",
					&huma.ErrorDetail{Location: "query.mapping", Message: "must be a JSON object of CSV header to field", Value: in.Mapping})
			}
		}
		for _, t := range strings.Split(in.Tags, ",") {
			if t = strings.TrimSpace(t); t != "" {
				opts.Tags = append(opts.Tags, t)
			}
		}
		if in.SegmentID != "" {
			id, err := parseUUID("query.segment_id", in.SegmentID)
			if err != nil {
				return nil, err
			}
			opts.SegmentID = &id
		}
		limit := s.MaxImportBytes
		if limit == 0 {
			limit = DefaultMaxImportBytes
		}
		imp, err := s.Imports.Upload(ctx, p.AccountID, recorder(p), opts, &limitReader{r: in.body, n: limit})
		if errors.Is(err, errTooLarge) {
			return nil, huma.NewError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the file is larger than %d bytes", limit))
		}
		if err != nil {
			return nil, err
		}
		return &struct {
			Location string `header:"Location"`
			Body     ImportBody
		}{Location: "/v1/imports/" + imp.ID.String(), Body: toImportBody(imp)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-imports", Method: http.MethodGet, Path: "/v1/imports", Tags: []string{importsTag},
		Summary: "List imports, newest first",
	}, auth.ContactsRead), handle(func(ctx context.Context, in *struct{ PageParams }) (*struct{ Body listBody[ImportBody] }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		after, err := in.after()
		if err != nil {
			return nil, err
		}
		items, err := s.Imports.List(ctx, p.AccountID, after, in.Limit+1)
		if err != nil {
			return nil, err
		}
		return listPage(items, in.Limit, func(i importer.Import) uuid.UUID { return i.ID }, toImportBody), nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "get-import", Method: http.MethodGet, Path: "/v1/imports/{id}", Tags: []string{importsTag},
		Summary: "Get an import's progress", Errors: []int{http.StatusNotFound},
	}, auth.ContactsRead), handle(func(ctx context.Context, in *ImportIDParam) (*struct{ Body ImportBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		imp, err := s.Imports.Get(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ImportBody }{Body: toImportBody(imp)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "cancel-import", Method: http.MethodPost, Path: "/v1/imports/{id}/cancel", Tags: []string{importsTag},
		Summary:     "Cancel an import",
		Description: "The import stops before its next batch; the rows of batches already applied stay. A finished import cannot be cancelled (409).",
		Errors:      []int{http.StatusNotFound, http.StatusConflict},
	}, auth.ContactsWrite), handle(func(ctx context.Context, in *ImportIDParam) (*struct{ Body ImportBody }, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, err
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, err
		}
		imp, err := s.Imports.Cancel(ctx, p.AccountID, id)
		if err != nil {
			return nil, err
		}
		return &struct{ Body ImportBody }{Body: toImportBody(imp)}, nil
	}))

	huma.Register(api, secure(huma.Operation{
		OperationID: "list-import-errors", Method: http.MethodGet, Path: "/v1/imports/{id}/errors", Tags: []string{importsTag},
		Summary:     "The rows an import refused or left out, as CSV",
		Description: "One line per problem: the line of the file where the row starts (the header is line 1), the column, the reason, and whether the row was skipped (left out by the mode or as a duplicate) rather than failed. Streamed.",
		Errors:      []int{http.StatusNotFound},
		Responses:   map[string]*huma.Response{"200": {Description: "CSV", Content: map[string]*huma.MediaType{"text/csv": {}}}},
	}, auth.ContactsRead), func(ctx context.Context, in *ImportIDParam) (*huma.StreamResponse, error) {
		p, err := principal(ctx)
		if err != nil {
			return nil, problem(err)
		}
		id, err := parseUUID("path.id", in.ID)
		if err != nil {
			return nil, problem(err)
		}
		if _, err := s.Imports.Get(ctx, p.AccountID, id); err != nil {
			return nil, problem(err)
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			hctx.SetHeader("Content-Type", "text/csv; charset=utf-8")
			hctx.SetHeader("Content-Disposition", `attachment; filename="import-errors.csv"`)
			hctx.SetStatus(http.StatusOK)
			if err := s.Imports.WriteErrors(ctx, p.AccountID, id, hctx.BodyWriter()); err != nil {
				s.Logger.ErrorContext(ctx, "import errors stopped", "import", id, "error", err)
			}
		}}, nil
	})
}
