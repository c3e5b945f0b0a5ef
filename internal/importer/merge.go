package importer

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/tag"
)

// batcher reads and applies one import's batches.
type batcher struct {
	s         *Service
	accountID uuid.UUID
	id        uuid.UUID
	opts      Options
	plan      *plan
	defs      []customfield.Field
	createdAt time.Time
	by        consent.Recorder
	// grown counts the contacts this import created since contacts was last analyzed, which
	// then held analyzed rows (refreshStatistics).
	grown, analyzed int64
}

// lineError is a problem of the row starting at line.
type lineError struct {
	line    int
	column  string
	reason  string
	skipped bool
}

// read takes up to size non-blank records and judges each: good rows, the problems of bad
// ones, and how many records were consumed.
func (b *batcher) read(cr *csv.Reader, size int) (rows []row, errs []lineError, n int, eof bool, err error) {
	now := b.s.clock.Now()
	for n < size {
		rec, rerr := cr.Read()
		if errors.Is(rerr, io.EOF) {
			return rows, errs, n, true, nil
		}
		line, _ := cr.FieldPos(0)
		if rerr != nil {
			var pe *csv.ParseError
			if !errors.As(rerr, &pe) {
				return nil, nil, 0, false, fmt.Errorf("import %s: read line %d: %w", b.id, line, rerr)
			}
			n++
			errs = append(errs, lineError{line: pe.StartLine, reason: pe.Err.Error()})
			continue
		}
		if blank(rec) {
			continue
		}
		n++
		r, problems := b.plan.convert(rec, now, b.defs)
		if len(problems) > 0 {
			for _, p := range problems {
				errs = append(errs, lineError{line: line, column: p.Column, reason: p.Reason})
			}
			continue
		}
		r.line = line
		rows = append(rows, r)
	}
	return rows, errs, n, false, nil
}

// stageColumns are the staging table's columns, in COPY order.
var stageColumns = []string{"row_no", "line", "key", "new_id", "name", "document", "document_kind", "customer_code",
	"email", "birth_date", "rg", "phones", "tags", "custom", "consent"}

const createStage = `CREATE TEMP TABLE IF NOT EXISTS import_stage (
    row_no        integer NOT NULL,
    line          integer NOT NULL,
    key           text COLLATE "C",
    new_id        uuid NOT NULL,
    name          text,
    document      text COLLATE "C",
    document_kind text,
    customer_code text COLLATE "C",
    email         text,
    birth_date    date,
    rg            text,
    phones        text[] COLLATE "C" NOT NULL,
    fresh         text[] COLLATE "C",
    tags          text[] NOT NULL,
    custom        jsonb,
    consent       boolean NOT NULL,
    target        uuid,
    fail          text,
    fail_column   text,
    skipped       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (row_no)
) ON COMMIT DELETE ROWS;
CREATE INDEX IF NOT EXISTS import_stage_customer_code ON import_stage (customer_code)`

// batchSettings keep JIT compilation out of the batch's statements: their estimated costs
// (tens of thousands of index probes) pass the JIT thresholds, and compiling and optimising
// each statement costs more than it saves on a batch of this size.
const batchSettings = `SET LOCAL jit = off`

// apply stages one batch and merges it in one transaction with the import's progress; read
// is the number of records consumed up to the end of this batch.
func (b *batcher) apply(ctx context.Context, rows []row, errs []lineError, read, bytesRead int64) error {
	for attempt := 0; ; attempt++ {
		var created int64
		err := pgx.BeginFunc(ctx, b.s.pool, func(tx pgx.Tx) (err error) {
			created, err = b.applyTx(ctx, tx, rows, errs, read, bytesRead)
			return err
		})
		// A consent append racing on one of the batch's contacts: the batch is redone whole.
		if c, ok := pgdb.UniqueViolation(err); ok && c == "consent_records_account_id_contact_id_seq_key" && attempt < 3 {
			continue
		}
		if err == nil {
			b.grown += created
			b.refreshStatistics(ctx, int64(len(rows)))
		}
		return err
	}
}

// refreshStatistics analyzes contacts and their phones each time the import has added as many
// contacts as the tables held when they were last analyzed (so a few times per import, at
// doubling sizes). Autovacuum analyzes far later than that during a bulk load, and with
// statistics that still describe a small table the planner hashes every contact and phone of
// the account for each batch, making each batch slower than the last (measured: 1.9 s per
// 25 000 updates at 100 000 contacts, 6.5 s at 1 000 000). Fresh statistics give it the
// index lookups that keep a batch's cost flat. It gives way at once to a concurrent ANALYZE
// (another import's or autovacuum's) and never fails the import.
func (b *batcher) refreshStatistics(ctx context.Context, batch int64) {
	if b.grown < max(b.analyzed, batch) {
		return
	}
	err := pgx.BeginFunc(ctx, b.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL lock_timeout = '50ms'"); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "ANALYZE contacts, contact_phones"); err != nil {
			return err
		}
		return tx.QueryRow(ctx, "SELECT reltuples::bigint FROM pg_class WHERE oid = 'contacts'::regclass").Scan(&b.analyzed)
	})
	if err != nil {
		slog.Default().Info("import: statistics not refreshed", "import_id", b.id, "error", err)
		return
	}
	b.grown = 0
}

func (b *batcher) applyTx(ctx context.Context, tx pgx.Tx, rows []row, errs []lineError, read, bytesRead int64) (created int64, err error) {
	q := b.s.q
	pt := newPhases()
	defer pt.log(ctx, b.id, len(rows))
	cur, err := q.LockImport(ctx, tx, store.LockImportParams{AccountID: b.accountID, ID: b.id})
	if err != nil {
		return 0, fmt.Errorf("lock import %s: %w", b.id, err)
	}
	if cur.Status != StatusRunning {
		return 0, errStop // cancelled
	}
	if cur.RowsRead >= read {
		// Another run applied this batch already (a worker thought dead came back).
		return 0, fmt.Errorf("import %s: rows up to %d were applied by another run", b.id, read)
	}
	now := b.s.clock.Now()
	mode := b.opts.Mode
	// The batch's statements probe contacts and contact_phones once per staged row. With the
	// stock random_page_cost (4, a spinning disk's) the planner prices 25 000 index probes of a
	// million-contact account above reading the whole table, and the batch's cost grew with the
	// account: at 1 000 000 contacts an update batch took 2.9–3.7 s, 1.4–2.0 s of it in
	// update_contacts, against 1.6 s and 0.8 s at 200 000. Priced as the cached, solid-state
	// pages they are, the probes are chosen: 1.6–2.2 s a batch at 1 000 000 (update_contacts
	// 0.65–0.9 s), 12 868 updates/s in all instead of 7 492 (loadgen -import).
	if _, err := tx.Exec(ctx, "SET LOCAL random_page_cost = 1.1"); err != nil {
		return 0, fmt.Errorf("import %s: %w", b.id, err)
	}

	// Tags enter the catalogue and take its spelling (not in a dry run: nothing changes).
	extra := append([]string(nil), b.opts.Tags...)
	if b.opts.SegmentID != nil {
		auto, err := q.SegmentExists(ctx, tx, store.SegmentExistsParams{AccountID: b.accountID, ID: *b.opts.SegmentID})
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, b.failTx(ctx, tx, "the import's segment was deleted")
		}
		if err != nil {
			return 0, fmt.Errorf("read segment: %w", err)
		}
		extra = append(extra, auto...)
	}
	if err := b.resolveTags(ctx, tx, rows, extra, now); err != nil {
		return 0, err
	}
	pt.mark("tags")

	// Keys inside the batch: for updates the last row with a key wins, for create_only the
	// first; the others are reported as skipped. A phone on two rows of different contacts
	// fails the later row.
	keyed := make([]bool, len(rows))
	keys := make([]string, len(rows))
	label := "customer code"
	for i, r := range rows {
		switch {
		case mode == ModeUpsertByCode || (mode == ModeUpdateOnly && b.plan.has(FieldCustomerCode)) || mode == ModeCreateOnly:
			if r.c.CustomerCode != nil {
				keys[i], keyed[i] = *r.c.CustomerCode, true
			}
		default:
			label = "first phone"
			if len(r.c.Phones) > 0 {
				keys[i], keyed[i] = r.c.Phones[0], true
			}
		}
	}
	dropped := make([]bool, len(rows))
	seen := make(map[string]int, len(rows))
	for i := range rows {
		if !keyed[i] {
			if mode != ModeCreateOnly {
				errs = append(errs, lineError{line: rows[i].line, column: b.plan.headerOf(keyField(label)), reason: "the " + label + " to find the contact by is missing"})
				dropped[i] = true
			}
			continue
		}
		j, dup := seen[keys[i]]
		if !dup {
			seen[keys[i]] = i
			continue
		}
		if mode == ModeCreateOnly {
			errs = append(errs, lineError{line: rows[i].line, skipped: true, column: b.plan.headerOf(keyField(label)),
				reason: fmt.Sprintf("line %d of this file has the same %s; the first one creates the contact", rows[j].line, label)})
			dropped[i] = true
			continue
		}
		errs = append(errs, lineError{line: rows[j].line, skipped: true, column: b.plan.headerOf(keyField(label)),
			reason: fmt.Sprintf("line %d of this file has the same %s; the last one wins", rows[i].line, label)})
		dropped[j] = true
		seen[keys[i]] = i
	}
	phoneRow := map[string]int{}
	for i, r := range rows {
		if dropped[i] {
			continue
		}
		for _, p := range r.c.Phones {
			if j, dup := phoneRow[p]; dup && j != i {
				errs = append(errs, lineError{line: r.line, column: b.plan.headerOf(FieldPhone),
					reason: fmt.Sprintf("phone %s is also on line %d, for another contact", p, rows[j].line)})
				dropped[i] = true
				break
			}
		}
		if !dropped[i] {
			for _, p := range r.c.Phones {
				phoneRow[p] = i
			}
		}
	}

	if _, err := tx.Exec(ctx, createStage); err != nil {
		return 0, fmt.Errorf("create staging table: %w", err)
	}
	if _, err := tx.Exec(ctx, batchSettings); err != nil {
		return 0, fmt.Errorf("batch settings: %w", err)
	}
	staged := 0
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"import_stage"}, stageColumns, pgx.CopyFromFunc(func() ([]any, error) {
		for staged < len(rows) && dropped[staged] {
			staged++
		}
		if staged >= len(rows) {
			return nil, nil
		}
		i := staged
		staged++
		r := rows[i]
		var key *string
		if keyed[i] {
			key = &keys[i]
		}
		var custom []byte
		if len(r.c.Custom) > 0 {
			custom, _ = json.Marshal(r.c.Custom)
		}
		var name *string
		if r.c.Name != "" {
			name = &r.c.Name
		}
		return []any{int32(i), int32(r.line), key, uuid.Must(uuid.NewV7()), name, r.c.Document, r.c.DocumentKind, r.c.CustomerCode,
			r.c.Email, r.c.BirthDate, r.c.RG, r.c.Phones, r.c.Tags, custom, r.consent}, nil
	}))
	if err != nil {
		return 0, fmt.Errorf("stage batch: %w", err)
	}
	pt.mark("stage")
	if _, err := tx.Exec(ctx, `ANALYZE import_stage`); err != nil {
		return 0, fmt.Errorf("analyze staging table: %w", err)
	}
	pt.mark("analyze_stage")
	noName := false
	for i, r := range rows {
		noName = noName || (r.noName && !dropped[i])
	}
	for _, stmt := range mergeStatements(mode, b.plan, b.opts.DryRun, b.opts.SegmentID != nil, noName) {
		args := []any{b.accountID, now, b.opts.SegmentID}
		switch {
		case strings.Contains(stmt.sql, "$3"):
		case strings.Contains(stmt.sql, "$2"):
			args = args[:2]
		case strings.Contains(stmt.sql, "$1"):
			args = args[:1]
		default:
			args = nil
		}
		if _, err := tx.Exec(ctx, stmt.sql, args...); err != nil {
			return 0, fmt.Errorf("merge batch (%s): %w", stmt.name, err)
		}
		pt.mark(stmt.name)
	}
	var updated int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE fail IS NULL AND target = new_id),
		count(*) FILTER (WHERE fail IS NULL AND target <> new_id) FROM import_stage`).Scan(&created, &updated); err != nil {
		return 0, fmt.Errorf("count batch: %w", err)
	}
	if !b.opts.DryRun && b.plan.consentCol != "" {
		if err := b.recordConsent(ctx, tx); err != nil {
			return 0, err
		}
		pt.mark("consent")
	}
	failRows, err := tx.Query(ctx, `SELECT line, coalesce(fail_column, ''), fail, skipped FROM import_stage WHERE fail IS NOT NULL`)
	if err != nil {
		return 0, fmt.Errorf("read batch failures: %w", err)
	}
	for failRows.Next() {
		var e lineError
		if err := failRows.Scan(&e.line, &e.column, &e.reason, &e.skipped); err != nil {
			failRows.Close()
			return 0, fmt.Errorf("read batch failures: %w", err)
		}
		errs = append(errs, e)
	}
	failRows.Close()
	if err := failRows.Err(); err != nil {
		return 0, fmt.Errorf("read batch failures: %w", err)
	}
	failed, skipped := countRows(errs)
	if len(errs) > 0 {
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"import_errors"}, []string{"account_id", "import_id", "line", "column_name", "reason", "skipped"},
			pgx.CopyFromSlice(len(errs), func(i int) ([]any, error) {
				e := errs[i]
				return []any{b.accountID, b.id, int64(e.line), e.column, e.reason, e.skipped}, nil
			}))
		if err != nil {
			return 0, fmt.Errorf("store batch errors: %w", err)
		}
	}
	pt.mark("failures")
	if err := q.ImportProgress(ctx, tx, store.ImportProgressParams{
		AccountID: b.accountID, ID: b.id, RowsRead: read, BytesRead: bytesRead,
		Created: created, Updated: updated, Failed: failed, Skipped: skipped, Now: now,
	}); err != nil {
		return 0, fmt.Errorf("record progress of import %s: %w", b.id, err)
	}
	// The progress event commits with the batch it reports; its data are the batch's own
	// counts and the rows read so far (GET /v1/imports/{id} has the totals).
	return created, event.Emit(ctx, tx, b.accountID, now, event.New{Type: EventProgressed, SubjectID: &b.id, Data: map[string]any{
		"rows_read": read, "bytes_read": bytesRead, "batch": map[string]int64{"created": created, "updated": updated, "failed": failed, "skipped": skipped},
	}})
}

// failTx ends the import as failed from inside a batch.
func (b *batcher) failTx(ctx context.Context, tx pgx.Tx, why string) error {
	if err := b.s.q.FinishImport(ctx, tx, store.FinishImportParams{AccountID: b.accountID, ID: b.id, Status: StatusFailed, Error: &why, Now: b.s.clock.Now()}); err != nil {
		return fmt.Errorf("fail import %s: %w", b.id, err)
	}
	return errStop
}

// resolveTags gives every row the import's tags and spells each as the catalogue does,
// adding the new ones to it.
func (b *batcher) resolveTags(ctx context.Context, tx pgx.Tx, rows []row, extra []string, now time.Time) error {
	canon := map[string]string{}
	var names []string
	add := func(t string) {
		l := strings.ToLower(t)
		if _, ok := canon[l]; !ok {
			canon[l] = t
			names = append(names, t)
		}
	}
	for _, t := range extra {
		add(t)
	}
	for _, r := range rows {
		for _, t := range r.c.Tags {
			add(t)
		}
	}
	if len(names) == 0 {
		return nil
	}
	if !b.opts.DryRun {
		spelt, err := tag.Resolve(ctx, tx, b.accountID, names, now)
		if err != nil {
			return err
		}
		for _, t := range spelt {
			canon[strings.ToLower(t)] = t
		}
	}
	for i := range rows {
		tags := rows[i].c.Tags
		out := make([]string, 0, len(tags)+len(extra))
		have := map[string]bool{}
		for _, list := range [][]string{tags, extra} {
			for _, t := range list {
				l := strings.ToLower(t)
				if !have[l] {
					have[l] = true
					out = append(out, canon[l])
				}
			}
		}
		rows[i].c.Tags = out
	}
	return nil
}

// recordConsent records "accepts communications = yes" for the batch's imported rows.
func (b *batcher) recordConsent(ctx context.Context, tx pgx.Tx) error {
	rs, err := tx.Query(ctx, `SELECT target, line, phones[1], email FROM import_stage WHERE consent AND fail IS NULL`)
	if err != nil {
		return fmt.Errorf("read consenting rows: %w", err)
	}
	var grants []consent.ImportGrant
	for rs.Next() {
		var (
			g            consent.ImportGrant
			line         int32
			phone, email *string
		)
		if err := rs.Scan(&g.ContactID, &line, &phone, &email); err != nil {
			rs.Close()
			return fmt.Errorf("read consenting rows: %w", err)
		}
		g.Evidence = consentEvidence(b.fileName(), int(line), b.plan.consentCol, b.createdAt, b.by)
		switch {
		case phone != nil:
			g.Evidence.IdentifierKind, g.Evidence.Identifier = "phone", *phone
		case email != nil:
			g.Evidence.IdentifierKind, g.Evidence.Identifier = "email", *email
		}
		grants = append(grants, g)
	}
	rs.Close()
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read consenting rows: %w", err)
	}
	_, err = b.s.consent.RecordImportMany(ctx, tx, b.accountID, grants)
	return err
}

func (b *batcher) fileName() string {
	if b.opts.FileName != "" {
		return fmt.Sprintf("%q (%s)", b.opts.FileName, b.id)
	}
	return b.id.String()
}

func keyField(label string) string {
	if label == "customer code" {
		return FieldCustomerCode
	}
	return FieldPhone
}

// has says whether a column feeds field.
func (p *plan) has(field string) bool { return p.headerOf(field) != "" }

// headerOf is the (first) column that feeds field.
func (p *plan) headerOf(field string) string {
	for _, c := range p.cols {
		if c.field == field {
			return c.header
		}
	}
	return ""
}

// countRows counts the distinct failed and skipped lines.
func countRows(errs []lineError) (failed, skipped int64) {
	f, s := map[int]bool{}, map[int]bool{}
	for _, e := range errs {
		if e.skipped {
			s[e.line] = true
		} else {
			f[e.line] = true
		}
	}
	for l := range s {
		if !f[l] {
			skipped++
		}
	}
	return int64(len(f)), skipped
}

// mergeStatement is one of a batch's set-based statements, named for the debug log.
type mergeStatement struct{ name, sql string }

// mergeStatements are the set-based statements that match the staged rows to contacts, mark
// the ones that cannot be applied, and (unless dry) apply the rest. Each takes $1 the account,
// $2 the time, $3 the segment.
func mergeStatements(mode Mode, p *plan, dry, segment, noName bool) []mergeStatement {
	var out []mergeStatement
	cols := strings.NewReplacer("'+code+'", lit(p.headerOf(FieldCustomerCode)), "'+phone+'", lit(p.headerOf(FieldPhone)), "'+name+'", lit(p.headerOf(FieldName)))
	add := func(name, s string) { out = append(out, mergeStatement{name: name, sql: cols.Replace(s)}) }
	// Match: target is the existing contact, or the new id.
	switch {
	case mode == ModeUpsertByCode || (mode == ModeUpdateOnly && p.has(FieldCustomerCode)):
		add("match", `UPDATE import_stage s SET target = coalesce(
			(SELECT c.id FROM contacts c WHERE c.account_id = $1 AND c.customer_code = s.key), s.new_id)
			WHERE s.fail IS NULL`)
	case mode == ModeCreateOnly:
		add("code_exists", `UPDATE import_stage s SET skipped = true, fail = 'a contact with this customer code already exists', fail_column = '+code+'
			FROM contacts c WHERE c.account_id = $1 AND c.customer_code = s.customer_code AND s.fail IS NULL`)
		add("phone_exists", `UPDATE import_stage s SET skipped = true, fail = format('a contact with phone %s already exists', p.phone), fail_column = '+phone+'
			FROM contact_phones p WHERE p.account_id = $1 AND p.phone = s.phones[1] AND s.fail IS NULL`)
		add("match", `UPDATE import_stage SET target = new_id WHERE fail IS NULL`)
	default:
		add("match", `UPDATE import_stage s SET target = coalesce(
			(SELECT p.contact_id FROM contact_phones p WHERE p.account_id = $1 AND p.phone = s.key), s.new_id)
			WHERE s.fail IS NULL`)
	}
	if mode == ModeUpdateOnly {
		add("not_found", `UPDATE import_stage SET skipped = true, fail = 'no contact has this ' ||
			CASE WHEN customer_code = key THEN 'customer code' ELSE 'phone' END
			WHERE target = new_id AND fail IS NULL`)
	}
	if noName {
		add("no_name", `UPDATE import_stage SET fail = 'a name is required to create a contact', fail_column = '+name+'
			WHERE name IS NULL AND target = new_id AND fail IS NULL`)
	}
	// Conflicts with other contacts.
	if mode == ModeUpsertByPhone || (mode == ModeUpdateOnly && !p.has(FieldCustomerCode)) {
		add("code_taken", `UPDATE import_stage s SET fail = 'customer code already used by another contact', fail_column = '+code+'
			FROM contacts c WHERE c.account_id = $1 AND c.customer_code = s.customer_code AND c.id <> s.target AND s.fail IS NULL`)
		add("code_repeated", `UPDATE import_stage s SET fail = format('customer code is also on line %s, for another contact', d.first_line), fail_column = '+code+'
			FROM (SELECT customer_code, min(line) AS first_line FROM import_stage WHERE customer_code IS NOT NULL AND fail IS NULL
			      GROUP BY customer_code HAVING count(DISTINCT target) > 1) d
			WHERE s.customer_code = d.customer_code AND s.line > d.first_line AND s.fail IS NULL`)
	}
	// Each staged phone is looked up once, by a probe of contact_phones' key per phone (a
	// scalar subquery: joined, the planner hashed every phone of the account, a cost that grew
	// with the account to 0.36 s a batch at 1 000 000 contacts, and the update and add_phones
	// statements looked the same phones up again): a phone of another contact fails its row,
	// and the numbers no contact has yet, for a row updating a contact, are kept in fresh for
	// update_contacts (a new phone is a change) and add_phones.
	add("phones", `UPDATE import_stage s SET fresh = x.fresh,
		    fail = CASE WHEN x.taken IS NULL THEN s.fail ELSE format('phone %s belongs to another contact', x.taken) END,
		    fail_column = CASE WHEN x.taken IS NULL THEN s.fail_column ELSE '+phone+' END
		FROM (SELECT s2.row_no,
		             array_agg(ph.phone ORDER BY ph.ord) FILTER (WHERE ph.owner IS NULL AND s2.target <> s2.new_id) AS fresh,
		             min(ph.phone) FILTER (WHERE ph.owner <> s2.target) AS taken
		      FROM import_stage s2 CROSS JOIN LATERAL (
		          SELECT u.phone, u.ord, (SELECT p.contact_id FROM contact_phones p WHERE p.account_id = $1 AND p.phone = u.phone) AS owner
		          FROM unnest(s2.phones) WITH ORDINALITY AS u(phone, ord)) ph
		      WHERE s2.fail IS NULL
		      GROUP BY s2.row_no) x
		WHERE s.row_no = x.row_no AND (x.taken IS NOT NULL OR x.fresh IS NOT NULL)`)
	if mode != ModeCreateOnly {
		add("too_many_phones", `UPDATE import_stage s SET fail = 'the contact would have more than 10 phones', fail_column = '+phone+'
		FROM (SELECT s2.row_no FROM import_stage s2, contact_phones p
		      WHERE s2.target <> s2.new_id AND s2.fail IS NULL AND cardinality(s2.phones) > 0
		        AND p.account_id = $1 AND p.contact_id = s2.target AND NOT p.phone = ANY(s2.phones)
		      GROUP BY s2.row_no, s2.phones HAVING count(*) + cardinality(s2.phones) > 10) x
		WHERE s.row_no = x.row_no`)
	}
	if dry {
		return out
	}
	// Apply.
	add("insert_contacts", `INSERT INTO contacts (account_id, id, name, document, document_kind, customer_code, email, birth_date, rg,
	                           tags, custom, origin, created_at, updated_at)
		SELECT $1, s.new_id, s.name, s.document, s.document_kind, s.customer_code, s.email, s.birth_date, s.rg,
		       s.tags, coalesce(s.custom, '{}'), 'import', $2, $2
		FROM import_stage s WHERE s.target = s.new_id AND s.fail IS NULL
		ORDER BY s.customer_code`)
	// Empty cells keep what the contact has; tags and custom values are added to its own (both
	// spelt alike: tags take the catalogue's spelling everywhere), and so are phones (below).
	// A row that changes nothing writes nothing, so the contact keeps its version.
	add("update_contacts", `UPDATE contacts c SET name = coalesce(s.name, c.name), document = coalesce(s.document, c.document),
		    document_kind = CASE WHEN s.document IS NULL THEN c.document_kind ELSE s.document_kind END,
		    customer_code = coalesce(s.customer_code, c.customer_code), email = coalesce(s.email, c.email),
		    birth_date = coalesce(s.birth_date, c.birth_date), rg = coalesce(s.rg, c.rg),
		    tags = CASE WHEN cardinality(s.tags) = 0 THEN c.tags ELSE ARRAY(
		        SELECT DISTINCT ON (lower(x.t)) x.t FROM unnest(c.tags || s.tags) WITH ORDINALITY AS x(t, ord)
		        ORDER BY lower(x.t), x.ord) END,
		    custom = CASE WHEN s.custom IS NULL THEN c.custom ELSE c.custom || s.custom END,
		    version = c.version + 1, updated_at = $2
		FROM import_stage s
		WHERE c.account_id = $1 AND c.id = s.target AND s.target <> s.new_id AND s.fail IS NULL
		  AND ((s.name IS NOT NULL AND s.name <> c.name)
		    OR (s.document IS NOT NULL AND (s.document, s.document_kind) IS DISTINCT FROM (c.document, c.document_kind))
		    OR (s.customer_code IS NOT NULL AND s.customer_code IS DISTINCT FROM c.customer_code)
		    OR (s.email IS NOT NULL AND s.email IS DISTINCT FROM c.email)
		    OR (s.birth_date IS NOT NULL AND s.birth_date IS DISTINCT FROM c.birth_date)
		    OR (s.rg IS NOT NULL AND s.rg IS DISTINCT FROM c.rg)
		    OR NOT s.tags <@ c.tags
		    OR (s.custom IS NOT NULL AND NOT c.custom @> s.custom)
		    OR s.fresh IS NOT NULL)`)
	add("insert_phones", `INSERT INTO contact_phones (account_id, phone, contact_id, position)
		SELECT $1, ph.phone, s.target, ph.ord::smallint
		FROM import_stage s CROSS JOIN LATERAL unnest(s.phones) WITH ORDINALITY AS ph(phone, ord)
		WHERE s.fail IS NULL AND s.target = s.new_id
		ORDER BY 2`)
	if mode != ModeCreateOnly {
		// Numbers no contact had (fresh) go after the contact's own, in the row's order (numbers
		// of other contacts failed the row; one taken since by a concurrent writer is skipped).
		// contact_phones has no foreign key (migration 00040): the contacts are locked here
		// FOR KEY SHARE, so a delete waits for the import, and one deleted meanwhile gets none.
		add("add_phones", `WITH x AS (
			    SELECT s.target, ph.phone, ph.ord
			    FROM import_stage s CROSS JOIN LATERAL unnest(s.fresh) WITH ORDINALITY AS ph(phone, ord)
			    WHERE s.fail IS NULL AND s.target <> s.new_id AND s.fresh IS NOT NULL
			), held AS (
			    SELECT c.id FROM contacts c WHERE c.account_id = $1 AND c.id IN (SELECT x.target FROM x) FOR KEY SHARE
			)
			INSERT INTO contact_phones (account_id, phone, contact_id, position)
			SELECT $1, x.phone, x.target, (coalesce((SELECT max(p.position) FROM contact_phones p
			                                         WHERE p.account_id = $1 AND p.contact_id = x.target), 0) + x.ord)::smallint
			FROM x JOIN held ON held.id = x.target
			ON CONFLICT (account_id, phone) DO NOTHING`)
	}
	if segment {
		add("segment", `INSERT INTO segment_members (account_id, segment_id, contact_id, added_at)
			SELECT $1, $3, s.target, $2 FROM import_stage s WHERE s.fail IS NULL
			ON CONFLICT DO NOTHING`)
	}
	return out
}

// lit quotes s as an SQL string literal.
func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
