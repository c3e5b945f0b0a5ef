package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/segment"
)

// measureSegmentCount defines the custom field the seed filled, creates a rule-based segment
// (contacts tagged vip whose limite is at least 5 000) and times its count through the
// service (10 runs), checking the count against a plain SQL count of the same rule.
func measureSegmentCount(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID) (queryResult, error) {
	clk := clock.System{}
	if _, err := customfield.NewService(pool, clk).Create(ctx, accountID, customfield.Input{Key: "limite", Type: customfield.Number}); err != nil {
		return queryResult{}, err
	}
	segs := segment.NewService(pool, clk)
	seg, err := segs.Create(ctx, accountID, segment.Input{Name: "Carteira VIP", Rules: segment.Rules{
		TagsAny: []string{"vip"}, Custom: []segment.Condition{{Key: "limite", Op: "gte", Value: 5000.0}},
	}})
	if err != nil {
		return queryResult{}, err
	}
	q := queryResult{Name: "count a rule-based segment (tag vip and limite >= 5000)", Target: 500 * time.Millisecond}
	var n int64
	for range 10 {
		start := time.Now()
		if n, err = segs.Count(ctx, accountID, seg.ID); err != nil {
			return queryResult{}, err
		}
		q.Times = append(q.Times, time.Since(start))
	}
	slices.Sort(q.Times)
	var want int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE account_id = $1 AND tags @> '{vip}' AND (custom->>'limite')::numeric >= 5000`,
		accountID).Scan(&want); err != nil {
		return queryResult{}, fmt.Errorf("check segment count: %w", err)
	}
	if n != want {
		return queryResult{}, fmt.Errorf("segment count %d, plain SQL count %d", n, want)
	}
	q.Result = fmt.Sprintf("%d contacts", n)
	return q, nil
}

// measureExport times GET /v1/contacts/export of the whole account through the server, counting
// the rows it streams, next to PostgreSQL's own COPY of the same columns to nowhere. The
// target is 100 000 rows/s, so the time allowed grows with the account.
func measureExport(ctx context.Context, h *httpTarget, pool *pgxpool.Pool, accountID uuid.UUID, contacts int) ([]queryResult, error) {
	target := time.Duration(float64(contacts)/100_000*float64(time.Second)) + 50*time.Millisecond
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.base+"/v1/contacts/export", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", h.auth)
	resp, err := h.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("export: status %d", resp.StatusCode)
	}
	rows := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		rows++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read export: %w", err)
	}
	took := time.Since(start)
	rows-- // the header
	if rows < contacts {
		return nil, fmt.Errorf("export streamed %d rows, want at least %d", rows, contacts)
	}
	httpRes := queryResult{Name: "GET /v1/contacts/export (whole account, CSV)", Times: []time.Duration{took}, Target: target,
		Result: fmt.Sprintf("%d rows, %.0f rows/s", rows, float64(rows)/took.Seconds())}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	start = time.Now()
	tag, err := conn.Conn().PgConn().CopyTo(ctx, io.Discard, fmt.Sprintf(`COPY (SELECT c.id, c.name, c.document, c.customer_code,
		array(SELECT p.phone FROM contact_phones p WHERE p.account_id = c.account_id AND p.contact_id = c.id ORDER BY p.position),
		c.email, c.tags, c.custom, c.created_at FROM contacts c WHERE c.account_id = '%s' ORDER BY c.id) TO STDOUT WITH (FORMAT csv)`, accountID))
	if err != nil {
		return nil, fmt.Errorf("raw copy: %w", err)
	}
	took = time.Since(start)
	rawRes := queryResult{Name: "raw PostgreSQL COPY of the same rows to nowhere", Times: []time.Duration{took}, Target: target,
		Result: fmt.Sprintf("%d rows, %.0f rows/s", tag.RowsAffected(), float64(tag.RowsAffected())/took.Seconds())}
	return []queryResult{httpRes, rawRes}, nil
}
