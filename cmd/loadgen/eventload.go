package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/event"
)

// resyncEvents is how many events a client catches up on in the resync measurement.
const resyncEvents = 100_000

// measureEventResync writes resyncEvents events into the outbox (one statement), times the
// publisher numbering them, then times a client catching up on all of them through
// GET /v1/events in pages of 10 000 (5 runs), next to the same page queries on a bare pool.
func measureEventResync(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, base, apiKey string) ([]queryResult, error) {
	var before int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events WHERE account_id = $1`, accountID).Scan(&before); err != nil {
		return nil, fmt.Errorf("read the last event: %w", err)
	}
	if _, err := pool.Exec(ctx, `
		INSERT INTO event_outbox (account_id, event_id, type, subject_id, data, occurred_at)
		SELECT $1, gen_random_uuid(), 'message.status', gen_random_uuid(),
		       jsonb_build_object('status', 'delivered', 'message_id', gen_random_uuid(), 'n', g), now()
		FROM generate_series(1, $2) g`, accountID, resyncEvents); err != nil {
		return nil, fmt.Errorf("write events: %w", err)
	}
	// The server's own publisher works on the outbox too (they take turns): publish here
	// until the outbox is empty, whoever numbers each batch.
	start := time.Now()
	for {
		if _, err := event.NewLog(pool).Publish(ctx); err != nil {
			return nil, err
		}
		var waiting int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM event_outbox`).Scan(&waiting); err != nil {
			return nil, err
		}
		if waiting == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	publish := time.Since(start)
	var published int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE account_id = $1 AND seq > $2`, accountID, before).Scan(&published); err != nil {
		return nil, err
	}
	if published != resyncEvents {
		return nil, fmt.Errorf("published %d events of %d", published, resyncEvents)
	}
	pub := queryResult{Name: fmt.Sprintf("publish (number) %d events", resyncEvents), Target: 5 * time.Second,
		Times: []time.Duration{publish}, Result: fmt.Sprintf("%.0f events/s", float64(resyncEvents)/publish.Seconds())}

	client := &http.Client{Timeout: time.Minute}
	viaHTTP := queryResult{Name: fmt.Sprintf("resync %d events: GET /v1/events?after=N&limit=10000 until more=false", resyncEvents), Target: 2 * time.Second}
	for range 5 {
		start := time.Now()
		after, got := before, 0
		for {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/v1/events?after=%d&limit=10000", base, after), nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+apiKey)
			resp, err := client.Do(req)
			if err != nil {
				return nil, err
			}
			var page struct {
				Items   []json.RawMessage `json:"items"`
				LastSeq int64             `json:"last_seq"`
				More    bool              `json:"more"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				return nil, fmt.Errorf("GET /v1/events: status %d: %v", resp.StatusCode, err)
			}
			got += len(page.Items)
			after = page.LastSeq
			if !page.More {
				break
			}
		}
		if got != resyncEvents {
			return nil, fmt.Errorf("resync read %d events of %d", got, resyncEvents)
		}
		viaHTTP.Times = append(viaHTTP.Times, time.Since(start))
	}
	slices.Sort(viaHTTP.Times)
	viaHTTP.Result = fmt.Sprintf("%.0f events/s (median run)", float64(resyncEvents)/viaHTTP.Times[len(viaHTTP.Times)/2].Seconds())

	log := event.NewLog(pool)
	raw := queryResult{Name: fmt.Sprintf("the same %d events read by a bare pool, pages of 10 000", resyncEvents), Target: 2 * time.Second}
	for range 5 {
		start := time.Now()
		after, got := before, 0
		for {
			evs, err := log.List(ctx, accountID, after, nil, 10_000)
			if err != nil {
				return nil, err
			}
			if len(evs) == 0 {
				break
			}
			got += len(evs)
			after = evs[len(evs)-1].Seq
		}
		if got != resyncEvents {
			return nil, fmt.Errorf("raw resync read %d events of %d", got, resyncEvents)
		}
		raw.Times = append(raw.Times, time.Since(start))
	}
	slices.Sort(raw.Times)
	raw.Result = fmt.Sprintf("%.0f events/s (median run)", float64(resyncEvents)/raw.Times[len(raw.Times)/2].Seconds())
	return []queryResult{pub, viaHTTP, raw}, nil
}
