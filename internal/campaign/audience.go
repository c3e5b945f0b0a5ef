package campaign

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/conversa-hq/conversa/db/store"
)

// reasonCount is how many members of an audience one reason leaves out ("" counts the
// recipients).
type reasonCount struct {
	Reason string
	N      int64
}

// audienceTuning is how the audience is read: without JIT (compiling the plan costs more than
// running it over a million contacts), by merge joins over the inputs in contact order instead
// of hash joins, and with room to sort those inputs in memory (a million phones take about
// 95 MB; the setting lasts for the reader's own short transaction). A hash of a million
// contacts' phones or consents misses the CPU caches on nearly every probe: the merge plan
// read the benchmark's audience in about half the time, and it returns the rows in contact
// order, the primary key's order, so the COPY's index insertions follow one another in the
// same leaf pages.
const audienceTuning = "SET LOCAL jit = off; SET LOCAL work_mem = '256MB'; SET LOCAL enable_hashjoin = off"

// copyRecipients writes the frozen recipients; the other columns keep their defaults
// (pending, no attempt yet).
const copyRecipients = "COPY campaign_recipients (account_id, campaign_id, contact_id, phone, requested_at) FROM STDIN (FORMAT binary)"

// audienceQuery is CampaignAudience for c as sqlc's generated method sends it (text and
// arguments in its order), with the segment's rules read on db: the freeze streams its rows
// and the schedule counts them, which the generated method (a slice of every row) does not.
func (s *Service) audienceQuery(ctx context.Context, db store.DBTX, c Campaign, since *time.Time) (query, error) {
	seg, err := s.q.GetSegment(ctx, db, store.GetSegmentParams{AccountID: c.AccountID, ID: c.SegmentID})
	if err != nil {
		return query{}, fmt.Errorf("read the segment of campaign %s: %w", c.ID, err)
	}
	var segPath *string
	if seg.MatchPath != "" {
		segPath = &seg.MatchPath
	}
	var q query
	_, err = s.q.CampaignAudience(ctx, &q, store.CampaignAudienceParams{
		TagsAny: nonNilStrings(c.TagsAny), TagsAll: nonNilStrings(c.TagsAll), Origins: nonNilStrings(c.Origins),
		ChannelIds: nonNilUUIDs(c.ChannelIdsFilter), MatchPath: c.MatchPath, ChannelType: c.ChannelType, ExplicitConsent: c.ExplicitConsent,
		AccountID: c.AccountID, ServedSince: since, SegmentID: c.SegmentID, HasRules: seg.HasRules,
		STagsAny: nonNilStrings(seg.TagsAny), STagsAll: nonNilStrings(seg.TagsAll), SOrigins: nonNilStrings(seg.Origins),
		SChannelIds: nonNilUUIDs(seg.ChannelIds), SMatchPath: segPath,
	})
	if !errors.Is(err, errCaptured) {
		return query{}, fmt.Errorf("capture the audience query: %w", err)
	}
	return q, nil
}

// nonNilUUIDs keeps an empty list an empty array: a nil one would go as NULL, and a NULL
// filter holds for no contact.
func nonNilUUIDs(ids []uuid.UUID) []uuid.UUID {
	if ids == nil {
		return []uuid.UUID{}
	}
	return ids
}

// query captures the text and arguments a generated query method sends instead of running it
// (a store.DBTX whose calls all stop at errCaptured).
type query struct {
	sql  string
	args []any
}

var errCaptured = errors.New("query captured, not run")

func (q *query) Exec(_ context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	q.sql, q.args = sql, args
	return pgconn.CommandTag{}, errCaptured
}

func (q *query) Query(_ context.Context, sql string, args ...any) (pgx.Rows, error) {
	q.sql, q.args = sql, args
	return nil, errCaptured
}

func (q *query) QueryRow(_ context.Context, sql string, args ...any) pgx.Row {
	q.sql, q.args = sql, args
	return capturedRow{}
}

type capturedRow struct{}

func (capturedRow) Scan(...any) error { return errCaptured }

// audienceUntuning puts back what audienceTuning changed, for the rest of a transaction.
const audienceUntuning = "SET LOCAL jit TO DEFAULT; SET LOCAL work_mem TO DEFAULT; SET LOCAL enable_hashjoin TO DEFAULT"

// countRecipients counts the recipients a freeze would take from c's audience now, without
// writing anything: the same statement (CampaignAudience) aggregated, on tx's snapshot.
func (s *Service) countRecipients(ctx context.Context, tx pgx.Tx, c Campaign, since *time.Time) (int64, error) {
	q, err := s.audienceQuery(ctx, tx, c, since)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, audienceTuning); err != nil {
		return 0, fmt.Errorf("tune the audience count: %w", err)
	}
	var n int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM (\n"+q.sql+"\n) a WHERE a.reason = ''", q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count the audience of campaign %s: %w", c.ID, err)
	}
	if _, err := tx.Exec(ctx, audienceUntuning); err != nil {
		return 0, fmt.Errorf("untune the audience count: %w", err)
	}
	return n, nil
}

// scheduleAlert is the limit alert of a campaign being scheduled (issue 8: a messaging limit
// the campaign would pass raises the alert before the start): its audience counted as the
// freeze would take it now, against the lines' smallest limit. Nil without a limit (nothing is
// counted then) or under it. The freeze checks again at the start.
func (s *Service) scheduleAlert(ctx context.Context, tx pgx.Tx, c Campaign, ln lines, now time.Time) (*LimitAlert, []byte, error) {
	if ln.limit <= 0 {
		return nil, nil, nil
	}
	n, err := s.countRecipients(ctx, tx, c, attendanceSince(c, now))
	if err != nil || n <= ln.limit {
		return nil, nil, err
	}
	alert := &LimitAlert{Limit: ln.limit, Recipients: n}
	b, err := json.Marshal(alert)
	if err != nil {
		return nil, nil, fmt.Errorf("encode limit alert: %w", err)
	}
	return alert, b, nil
}

// attendanceSince is the start of the window in which a served contact is left out (nil:
// contacts in attendance are included).
func attendanceSince(c Campaign, now time.Time) *time.Time {
	if c.Attendance != "exclude" || c.AttendanceHours == nil {
		return nil
	}
	t := now.Add(-time.Duration(*c.AttendanceHours) * time.Hour)
	return &t
}

// snapshotID is what pg_export_snapshot returns (hex groups and dashes), checked before it is
// spliced into SET TRANSACTION SNAPSHOT, which takes no parameters.
var snapshotID = regexp.MustCompile(`^[0-9A-Fa-f-]+$`)

// freezeAudience writes c's audience into campaign_recipients and counts it by reason. A
// second connection reads CampaignAudience in a read-only transaction on tx's snapshot (so it
// sees what tx sees, and its SELECT may run in parallel, which INSERT ... SELECT never does
// in PostgreSQL 15); its rows stream, as they come, into a binary COPY on tx, which writes a
// page of rows per WAL record instead of one record a row. Reading and writing overlap, and no
// more than a buffer of rows is held in memory. The excluded rows are only counted.
//
// The reader has a connection of its own, not one of the pool's: tx already holds one, and
// with the pool exhausted by starts, each would wait for a second forever.
func (s *Service) freezeAudience(ctx context.Context, tx pgx.Tx, c Campaign, since *time.Time, now time.Time) ([]reasonCount, error) {
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		return nil, fmt.Errorf("export the freeze's snapshot: %w", err)
	}
	if !snapshotID.MatchString(snapshot) {
		return nil, fmt.Errorf("unexpected snapshot id %q", snapshot)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := s.pool.Config()
	rd, err := pgx.ConnectConfig(ctx, cfg.ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("connect the freeze's reader: %w", err)
	}
	// Closing the connection ends its transaction, whatever happened.
	defer func() { _ = rd.Close(context.WithoutCancel(ctx)) }()
	if cfg.AfterConnect != nil {
		if err := cfg.AfterConnect(ctx, rd); err != nil {
			return nil, fmt.Errorf("prepare the freeze's reader: %w", err)
		}
	}
	if _, err := rd.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '"+snapshot+"'; "+audienceTuning); err != nil {
		return nil, fmt.Errorf("open the freeze's reader on the snapshot: %w", err)
	}
	q, err := s.audienceQuery(ctx, rd, c, since)
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	counts := map[string]int64{}
	read := make(chan error, 1)
	go func() {
		err := writeRecipients(ctx, rd, q, pw, counts, c, now)
		pw.CloseWithError(err) // nil: the COPY sees its end
		read <- err
	}()
	tag, err := tx.Conn().PgConn().CopyFrom(ctx, pr, copyRecipients)
	if err != nil {
		// Stops the reader: its query is cancelled and its writes to the pipe fail.
		cancel()
		pr.CloseWithError(err)
	}
	rerr := <-read
	// A failed read fails the COPY too; the read's error is the cause, unless it only
	// reports the COPY's failure or the cancellation that followed.
	if rerr != nil && (err == nil || !errors.Is(rerr, err) && !errors.Is(rerr, context.Canceled)) {
		return nil, fmt.Errorf("read the audience of campaign %s: %w", c.ID, rerr)
	}
	if err != nil {
		return nil, fmt.Errorf("write the recipients of campaign %s: %w", c.ID, err)
	}
	if tag.RowsAffected() != counts[""] {
		return nil, fmt.Errorf("campaign %s: %d recipients read but %d written", c.ID, counts[""], tag.RowsAffected())
	}
	out := make([]reasonCount, 0, len(counts))
	for r, n := range counts {
		out = append(out, reasonCount{Reason: r, N: n})
	}
	return out, nil
}

// pgEpoch is where PostgreSQL's binary timestamps count from.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// writeRecipients runs q on rd and writes its recipients to w in COPY's binary format
// (account, campaign, contact, phone, requested_at), counting every row by reason. The values
// pass as PostgreSQL sent them (binary uuid and text), never decoded.
func writeRecipients(ctx context.Context, rd *pgx.Conn, q query, w io.Writer, counts map[string]int64, c Campaign, now time.Time) error {
	rows, err := rd.Query(ctx, q.sql, append([]any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}, q.args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	bw := bufio.NewWriterSize(w, 256<<10)
	// The file header: signature, flags, no extension.
	_, _ = bw.WriteString("PGCOPY\n\xff\r\n\x00")
	_, _ = bw.Write(make([]byte, 8))
	// Each tuple: 5 fields, then each field's length and bytes.
	head := binary.BigEndian.AppendUint16(nil, 5)
	head = binary.BigEndian.AppendUint32(head, 16)
	head = append(head, c.AccountID[:]...)
	head = binary.BigEndian.AppendUint32(head, 16)
	head = append(head, c.ID[:]...)
	tail := binary.BigEndian.AppendUint32(nil, 8)
	tail = binary.BigEndian.AppendUint64(tail, uint64(now.Sub(pgEpoch).Microseconds()))
	var n [4]byte
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 3 || len(v[0]) != 16 {
			return fmt.Errorf("unexpected audience row: %d columns, not a binary contact id and two texts", len(v))
		}
		if len(v[2]) > 0 {
			counts[string(v[2])]++
			continue
		}
		counts[""]++
		_, _ = bw.Write(head)
		binary.BigEndian.PutUint32(n[:], 16)
		_, _ = bw.Write(n[:])
		_, _ = bw.Write(v[0])
		binary.BigEndian.PutUint32(n[:], uint32(len(v[1])))
		_, _ = bw.Write(n[:])
		_, _ = bw.Write(v[1])
		if _, err := bw.Write(tail); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	// The trailer: a field count of -1.
	_, _ = bw.Write([]byte{0xff, 0xff})
	return bw.Flush()
}
