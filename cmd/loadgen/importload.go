package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/importer"
)

// The import scenario (-import): a CSV as Brazilian Excel exports it is generated to a file,
// uploaded over HTTP to the real server (POST /v1/imports), and polled until done, first with
// every row a new contact, then again with every row changing an existing one; next to each,
// PostgreSQL's own COPY of the same rows into a table shaped like contacts. It runs alone:
// no seeding, no other phase.

// importBenchDB is the import scenario's own database, so it can run while another loadgen
// uses conversa_bench.
const importBenchDB = "conversa_bench_import"

// importFigures is one measured import.
type importFigures struct {
	Name           string
	Rows           int
	Upload         time.Duration // POST until 202
	Job            time.Duration // 202 until done (what rows/s counts)
	Created        int64
	Updated        int64
	Failed         int64
	PeakRSS        int64
	Target         float64
	FileBytes      int64
	RawCopy        time.Duration // COPY of the same rows into a copy of contacts with its indexes
	RawCopyNoIndex time.Duration
	// RawCopyReal is the COPY of the rows and their phones into the real tables (rawCopyReal).
	RawCopyReal time.Duration
	// RawUpdate is the bare UPDATE of the same contacts with the same kind of change
	// (rawUpdateReal): the floor for the updates import.
	RawUpdate time.Duration
}

func (f importFigures) rowsPerSecond() float64 { return float64(f.Rows) / f.Job.Seconds() }

// importRow writes data row n of the generated file: a realistic mix of formats, with one
// row in a hundred broken (a CPF with wrong check digits or a phone without enough digits).
// update changes the name and e-mail, so the second pass really rewrites every contact.
func importRow(w *bufio.Writer, n int, update bool, consentShare int) {
	name := importName(n)
	email := fmt.Sprintf("cliente%d@example.com", n)
	if update {
		name += " Atualizado"
		email = fmt.Sprintf("cliente%d@exemplo.com.br", n)
	}
	cpf := cpfOf(n)
	cpfText := cpf[0:3] + "." + cpf[3:6] + "." + cpf[6:9] + "-" + cpf[9:11]
	if n%3 == 0 {
		cpfText = cpf
	}
	sub := fmt.Sprintf("%08d", n)
	var phone string
	switch n % 4 {
	case 0:
		phone = "(11) 9" + sub[:4] + "-" + sub[4:]
	case 1:
		phone = "+55 11 9" + sub[:4] + "-" + sub[4:]
	case 2:
		phone = "119" + sub
	default:
		phone = "55119" + sub
	}
	if n%100 == 42 {
		if n%200 == 42 {
			cpfText = cpf[:10] + string(rune('0'+(cpf[10]-'0'+1)%10))
		} else {
			phone = "11 9" + sub[:3]
		}
	}
	accepts := "não"
	if consentShare > 0 && n%100 < consentShare {
		accepts = "sim"
	}
	birth := fmt.Sprintf("%02d/%02d/%d", 1+n%28, 1+n%12, 1950+n%50)
	fmt.Fprintf(w, "%s;IMP-%09d;%s;%s;%s;%s;%s\r\n", name, n, cpfText, phone, email, birth, accepts)
}

// importName is row n's contact name: 1 728 combinations of common Brazilian names, so the
// trigram index on names sees realistic variety.
func importName(n int) string {
	first := []string{"Maria", "José", "Ana", "João", "Francisca", "Antônio", "Adriana", "Carlos", "Juliana", "Paulo", "Márcia", "Luiz"}
	last := []string{"Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima", "Gomes", "Conceição", "Araújo"}
	return first[n%len(first)] + " " + last[(n/len(first))%len(last)] + " " + last[(n/7)%len(last)]
}

// cpfOf makes a valid CPF from n.
func cpfOf(n int) string {
	d := []byte(fmt.Sprintf("%09d", (n*7919+123456789)%1_000_000_000))
	for _, l := range []int{9, 10} {
		sum := 0
		for i := 0; i < l; i++ {
			sum += int(d[i]-'0') * (l + 1 - i)
		}
		r := sum * 10 % 11
		if r == 10 {
			r = 0
		}
		d = append(d, byte('0'+r))
	}
	s := string(d)
	if strings.Count(s, s[:1]) == len(s) {
		return "52998224725"
	}
	return s
}

// writeImportFile generates the CSV and returns its path and size.
func writeImportFile(dir string, rows int, update bool, consentShare int) (string, int64, error) {
	path := filepath.Join(dir, fmt.Sprintf("import-%t.csv", update))
	fh, err := os.Create(path)
	if err != nil {
		return "", 0, fmt.Errorf("create %s: %w", path, err)
	}
	w := bufio.NewWriterSize(fh, 1<<20)
	w.WriteString("\xEF\xBB\xBFNome;Código do cliente;CPF;Celular;E-mail;Data de nascimento;Aceita comunicações\r\n")
	for n := 0; n < rows; n++ {
		importRow(w, n, update, consentShare)
	}
	if err := w.Flush(); err != nil {
		fh.Close()
		return "", 0, fmt.Errorf("write %s: %w", path, err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return "", 0, err
	}
	return path, st.Size(), fh.Close()
}

var importMapping = `{"Nome":"name","Código do cliente":"customer_code","CPF":"document","Celular":"phone","E-mail":"email",` +
	`"Data de nascimento":"birth_date","Aceita comunicações":"accepts_communications"}`

// importStatus is what the poll reads.
type importStatus struct {
	ID       string  `json:"id"`
	Status   string  `json:"status"`
	RowsRead int64   `json:"rows_read"`
	Created  int64   `json:"created"`
	Updated  int64   `json:"updated"`
	Failed   int64   `json:"failed"`
	Percent  float64 `json:"percent"`
	Error    string  `json:"error"`
}

// uploadAndWait posts the file and polls the import every 250 ms until it ends.
func uploadAndWait(ctx context.Context, base, apiKey, path string, rss *rssSampler) (importStatus, time.Duration, time.Duration, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return importStatus{}, 0, 0, 0, err
	}
	defer fh.Close()
	q := url.Values{"mode": {"upsert_by_customer_code"}, "mapping": {importMapping}, "file_name": {filepath.Base(path)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/imports?"+q.Encode(), fh)
	if err != nil {
		return importStatus{}, 0, 0, 0, err
	}
	req.Header.Set("Content-Type", "text/csv")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return importStatus{}, 0, 0, 0, fmt.Errorf("upload: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	upload := time.Since(start)
	if resp.StatusCode != http.StatusAccepted {
		return importStatus{}, 0, 0, 0, fmt.Errorf("upload: status %d: %s", resp.StatusCode, body)
	}
	var st importStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return importStatus{}, 0, 0, 0, fmt.Errorf("upload answer: %w", err)
	}
	accepted := time.Now()
	lastLog := accepted
	for st.Status == "queued" || st.Status == "running" {
		select {
		case <-ctx.Done():
			return st, 0, 0, 0, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/imports/"+st.ID, nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return st, 0, 0, 0, fmt.Errorf("poll: %w", err)
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return st, 0, 0, 0, fmt.Errorf("poll: %w", err)
		}
		if time.Since(lastLog) > 2*time.Second {
			logf("  %s: %.0f%%, %d rows read", st.Status, st.Percent, st.RowsRead)
			lastLog = time.Now()
		}
	}
	job := time.Since(accepted)
	if st.Status != "done" {
		return st, upload, job, 0, fmt.Errorf("import ended %s: %s", st.Status, st.Error)
	}
	return st, upload, job, rss.Peak(start, time.Now()), nil
}

// rawCopy COPYs the file's rows, normalised as the import stores them, into a fresh table
// like contacts (with its indexes, or none) and returns the time of the COPY.
func rawCopy(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, rows int, indexes bool) (time.Duration, error) {
	like := "LIKE contacts INCLUDING DEFAULTS"
	if indexes {
		like = "LIKE contacts INCLUDING ALL"
	}
	if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy ("+like+")"); err != nil {
		return 0, fmt.Errorf("create bench_copy: %w", err)
	}
	defer pool.Exec(context.Background(), "DROP TABLE IF EXISTS bench_copy") //nolint:errcheck
	now := time.Now()
	birth := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	i := 0
	start := time.Now()
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"bench_copy"},
		[]string{"account_id", "id", "name", "document", "document_kind", "customer_code", "email", "birth_date", "tags", "custom", "created_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= rows {
				return nil, nil
			}
			n := i
			i++
			return []any{accountID, uuid.Must(uuid.NewV7()), importName(n), cpfOf(n), "cpf", fmt.Sprintf("IMP-%09d", n),
				fmt.Sprintf("cliente%d@example.com", n), birth, []string{}, []byte("{}"), now, now}, nil
		}))
	if err != nil {
		return 0, fmt.Errorf("copy into bench_copy: %w", err)
	}
	return time.Since(start), nil
}

// rawCopyReal is the floor for importing new contacts: the rows COPYed straight into the real
// contacts table and their phones into contact_phones, with every index, foreign key and
// trigger of the schema, in one transaction that is then rolled back (the import that follows
// starts from an empty account). No parsing, validation, staging, consent or progress: what
// PostgreSQL alone costs for the rows the import must write.
func rawCopyReal(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, rows int) (time.Duration, error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin raw copy: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	ids := make([]uuid.UUID, rows)
	for i := range ids {
		ids[i] = uuid.Must(uuid.NewV7())
	}
	now := time.Now()
	birth := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	i := 0
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"},
		[]string{"account_id", "id", "name", "document", "document_kind", "customer_code", "email", "birth_date", "origin", "created_at", "updated_at"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= rows {
				return nil, nil
			}
			n := i
			i++
			return []any{accountID, ids[n], importName(n), cpfOf(n), "cpf", fmt.Sprintf("IMP-%09d", n),
				fmt.Sprintf("cliente%d@example.com", n), birth, "import", now, now}, nil
		})); err != nil {
		return 0, fmt.Errorf("copy into contacts: %w", err)
	}
	i = 0
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"contact_phones"}, []string{"account_id", "phone", "contact_id", "position"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= rows {
				return nil, nil
			}
			n := i
			i++
			return []any{accountID, fmt.Sprintf("+55119%08d", n), ids[n], 0}, nil
		})); err != nil {
		return 0, fmt.Errorf("copy into contact_phones: %w", err)
	}
	return time.Since(start), nil
}

// rawUpdateReal is the floor for an import whose every row updates a contact: the contacts'
// new names and e-mails (as the second file changes them, with another suffix) staged by
// COPY, then written to the real contacts table by one bare UPDATE per batch of the import's
// size, joined on the customer code, in one transaction that is then rolled back. Only the
// UPDATEs are timed: no parsing, validation, phones, consent or progress, and the table
// vacuumed and analyzed just before. What PostgreSQL alone costs for the contact rows the
// import must rewrite (an update here is never HOT: the name is in the trigram index, and the
// pages the import filled have no room).
func rawUpdateReal(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, rows int) (time.Duration, error) {
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) contacts"); err != nil {
		return 0, fmt.Errorf("vacuum before the raw update: %w", err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin raw update: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE raw_update (n integer PRIMARY KEY, code text NOT NULL, name text NOT NULL, email text NOT NULL) ON COMMIT DROP`); err != nil {
		return 0, fmt.Errorf("create raw_update: %w", err)
	}
	i := 0
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"raw_update"}, []string{"n", "code", "name", "email"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= rows {
				return nil, nil
			}
			n := i
			i++
			return []any{int32(n), fmt.Sprintf("IMP-%09d", n), importName(n) + " Revisto", fmt.Sprintf("cliente%d@exemplo.net", n)}, nil
		})); err != nil {
		return 0, fmt.Errorf("copy into raw_update: %w", err)
	}
	if _, err := tx.Exec(ctx, "ANALYZE raw_update; SET LOCAL random_page_cost = 1.1; SET LOCAL jit = off"); err != nil {
		return 0, fmt.Errorf("prepare raw update: %w", err)
	}
	var spent time.Duration
	for from := 0; from < rows; from += importer.DefaultBatchSize {
		start := time.Now()
		if _, err := tx.Exec(ctx, `UPDATE contacts c SET name = u.name, email = u.email, version = c.version + 1, updated_at = now()
			FROM raw_update u WHERE c.account_id = $1 AND c.customer_code = u.code AND u.n >= $2 AND u.n < $3`,
			accountID, from, from+importer.DefaultBatchSize); err != nil {
			return 0, fmt.Errorf("raw update of rows from %d: %w", from, err)
		}
		spent += time.Since(start)
	}
	return spent, nil
}

// runImportBench is the whole -import run.
func runImportBench(ctx context.Context, cfg config) (bool, error) {
	started := time.Now()
	pool, benchURL, dropDB, err := scenarioDatabase(ctx, cfg, importBenchDB)
	if err != nil {
		return false, err
	}
	defer dropDB()
	ten, err := setupTenant(ctx, pool)
	if err != nil {
		return false, err
	}
	facts, err := machineFacts(ctx, pool)
	if err != nil {
		return false, err
	}
	dir, err := os.MkdirTemp("", "loadgen-import-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	bin, removeBin, err := conversaBinary(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer removeBin()
	logf("writing two CSV files of %d rows", cfg.ImportRows)
	newPath, newSize, err := writeImportFile(dir, cfg.ImportRows, false, cfg.ImportConsent)
	if err != nil {
		return false, err
	}
	updPath, updSize, err := writeImportFile(dir, cfg.ImportRows, true, cfg.ImportConsent)
	if err != nil {
		return false, err
	}

	rawIdx, err := rawCopy(ctx, pool, ten.AccountID, cfg.ImportRows, true)
	if err != nil {
		return false, err
	}
	rawBare, err := rawCopy(ctx, pool, ten.AccountID, cfg.ImportRows, false)
	if err != nil {
		return false, err
	}
	rawReal, err := rawCopyReal(ctx, pool, ten.AccountID, cfg.ImportRows)
	if err != nil {
		return false, err
	}
	// The rolled-back rows are dead tuples and index entries until vacuumed: the import must
	// not start on a bloated table.
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) contacts, contact_phones"); err != nil {
		return false, fmt.Errorf("vacuum after the raw copy: %w", err)
	}
	logf("raw COPY of %d contact rows: %.0f rows/s into a copy of contacts with its indexes, %.0f rows/s without indexes, "+
		"%.0f rows/s into the real contacts and contact_phones (indexes and foreign keys)",
		cfg.ImportRows, float64(cfg.ImportRows)/rawIdx.Seconds(), float64(cfg.ImportRows)/rawBare.Seconds(), float64(cfg.ImportRows)/rawReal.Seconds())

	srv, err := startServer(ctx, bin, benchURL, cfg.DBMaxConns, "CONVERSA_LOG_LEVEL="+cfg.ServerLogLevel)
	if err != nil {
		return false, err
	}
	defer func() {
		if serr := srv.Stop(); serr != nil {
			logf("%v", serr)
		}
	}()
	logf("server pid %d ready, RSS %s", srv.Pid(), formatMB(srv.RSS.Last()))

	var figures []importFigures
	for _, ph := range []struct {
		name   string
		path   string
		size   int64
		target float64
	}{
		{"new contacts", newPath, newSize, 75_000},
		{"every row updates an existing contact", updPath, updSize, 25_000},
	} {
		logf("import (%s): uploading %s (%.1f MB)", ph.name, filepath.Base(ph.path), float64(ph.size)/1e6)
		st, upload, job, peak, err := uploadAndWait(ctx, srv.Base, ten.APIKey, ph.path, srv.RSS)
		if err != nil {
			return true, err
		}
		f := importFigures{Name: ph.name, Rows: cfg.ImportRows, Upload: upload, Job: job, Created: st.Created, Updated: st.Updated,
			Failed: st.Failed, PeakRSS: peak, Target: ph.target, FileBytes: ph.size, RawCopy: rawIdx, RawCopyNoIndex: rawBare, RawCopyReal: rawReal}
		logf("  upload %s, import %s: %.0f rows/s (target %.0f), created %d, updated %d, failed %d, server peak RSS %s",
			upload.Round(time.Millisecond), job.Round(time.Millisecond), f.rowsPerSecond(), ph.target, st.Created, st.Updated, st.Failed, formatMB(peak))
		figures = append(figures, f)
	}
	if err := srv.Stop(); err != nil {
		logf("%v", err)
	}
	rawUpd, err := rawUpdateReal(ctx, pool, ten.AccountID, cfg.ImportRows)
	if err != nil {
		return false, err
	}
	logf("raw UPDATE of %d contacts in batches of %d: %.0f rows/s", cfg.ImportRows, importer.DefaultBatchSize, float64(cfg.ImportRows)/rawUpd.Seconds())
	for i := range figures {
		figures[i].RawUpdate = rawUpd
	}
	if cfg.Markdown != "" {
		if err := appendImportMarkdown(cfg, started, facts, figures); err != nil {
			return false, err
		}
		logf("appended the report to %s", cfg.Markdown)
	}
	return false, nil
}

func appendImportMarkdown(cfg config, started time.Time, facts facts, figures []importFigures) error {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### CSV import run, %s\n\n", started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %s.\n", facts)
	fmt.Fprintf(&b, "- Command: `go run ./cmd/loadgen -import -import-rows %d -import-consent %d -db-max-conns %d`.\n", cfg.ImportRows, cfg.ImportConsent, cfg.DBMaxConns)
	fmt.Fprintf(&b, "- File: %d rows, ';' delimited, UTF-8 with BOM, CRLF; CPFs with and without punctuation, mobiles in four "+
		"formats ((11) 9XXXX-XXXX, +55 11 9XXXX-XXXX, 119XXXXXXXX, 55119XXXXXXXX), birth dates as 31/12/1990, %d%% \"sim\" in the "+
		"accepts-communications column (each records a consent grant; the second file's, the same contacts', find it in force and record none), 1%% broken rows (bad CPF or short phone). Mode "+
		"upsert_by_customer_code. The second file has the same codes with a new name and e-mail on every row.\n", cfg.ImportRows, cfg.ImportConsent)
	b.WriteString("- Rows/s counts from the 202 to the poll that saw `done` (polled every 250 ms), i.e. the job alone; the upload " +
		"(streamed into PostgreSQL) is timed apart. Server RSS is VmRSS sampled every 100 ms from the upload to the end.\n")
	b.WriteString("- Raw COPY: the same number of contact rows COPYed by the load generator into a fresh table `LIKE contacts` " +
		"(with all its indexes: unique customer code, trigram name, GIN tags and custom, document), and without indexes; no phones. " +
		"Raw COPY into the real tables: the rows into `contacts` and one phone each into `contact_phones`, with every index and " +
		"foreign key, in one transaction (rolled back): the floor for the new-contacts import. Raw UPDATE: after both imports, " +
		"with `contacts` vacuumed and analyzed, a new name and e-mail for each of the same contacts staged by COPY and written by one " +
		"bare `UPDATE contacts … FROM` per batch of the import's size, joined on the customer code, in one transaction (rolled back); " +
		"only the UPDATEs timed: the floor for the updates import.\n\n")
	b.WriteString("| import | file | upload | import job | rows/s | target | created | updated | failed | server peak RSS | raw COPY with indexes | raw COPY no indexes | raw COPY into contacts + phones | raw UPDATE of contacts |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, f := range figures {
		fmt.Fprintf(&b, "| %s | %.1f MB | %s | %s | %.0f | %.0f: %s | %d | %d | %d | %s | %.0f rows/s | %.0f rows/s | %.0f rows/s | %.0f rows/s |\n",
			f.Name, float64(f.FileBytes)/1e6, f.Upload.Round(time.Millisecond), f.Job.Round(time.Millisecond), f.rowsPerSecond(),
			f.Target, metWord(f.rowsPerSecond() >= f.Target), f.Created, f.Updated, f.Failed, formatMB(f.PeakRSS),
			float64(f.Rows)/f.RawCopy.Seconds(), float64(f.Rows)/f.RawCopyNoIndex.Seconds(), float64(f.Rows)/f.RawCopyReal.Seconds(), float64(f.Rows)/f.RawUpdate.Seconds())
	}
	return appendMarkdown(cfg.Markdown, b.String())
}
