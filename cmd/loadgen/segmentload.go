package main

import (
	"context"
	"fmt"
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
