package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/event"
)

// sseResult is how long inbound messages took from their webhook POST to the SSE stream.
type sseResult struct {
	Rate      int
	Sent      int
	Seen      int
	Latencies []time.Duration
	// AfterWrite is, for each event, the part of its latency after the drain wrote it (from
	// the event's occurred_at to its arrival): publisher, NOTIFY, hub and stream.
	AfterWrite []time.Duration
	// AfterPublish is the part after the publisher numbered it (published_at to arrival):
	// the publish's commit, NOTIFY, hub and stream.
	AfterPublish []time.Duration
}

// stages are the parts of the latency sseResult breaks it into, for the report.
func (r sseResult) stages() []sseStage {
	return []sseStage{
		{"after the drain wrote the event (its occurred_at to arrival)", r.AfterWrite},
		{"after the publisher numbered it (its published_at to arrival)", r.AfterPublish},
	}
}

// sseStage is one part of the inbound-to-SSE latency, sorted.
type sseStage struct {
	name string
	ds   []time.Duration
}

// p is the stage's p-th percentile, formatted; "" when nothing was measured.
func (s sseStage) p(p float64) string {
	if len(s.ds) == 0 {
		return ""
	}
	return formatMs(percentile(s.ds, p))
}

// Percentile is the nearest-rank p-th percentile of the latencies.
func (r sseResult) Percentile(p float64) time.Duration { return percentile(r.Latencies, p) }

// measureOutboxToSSE emits n events straight into the outbox at rate per second, with an SSE
// stream open, and times each from its emit to its arrival: the publisher, NOTIFY, hub and
// stream part of the inbound-to-SSE path, without the webhook and the drain.
func measureOutboxToSSE(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, base, apiKey string, rate, n int) ([]time.Duration, error) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	after, err := lastSeq(ctx, pool, accountID)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, fmt.Sprintf("%s/v1/events/stream?after=%d", base, after), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("open the event stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("open the event stream: %s", resp.Status)
	}
	var mu sync.Mutex
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.HasPrefix(line, []byte("data:")) || !bytes.Contains(line, []byte("bench.probe")) {
				continue
			}
			var ev struct {
				Data struct {
					Sent int64 `json:"sent"`
				} `json:"data"`
			}
			if json.Unmarshal(bytes.TrimSpace(line[len("data:"):]), &ev) == nil {
				mu.Lock()
				lat = append(lat, time.Since(time.Unix(0, ev.Data.Sent)))
				mu.Unlock()
			}
		}
	}()
	time.Sleep(100 * time.Millisecond)
	for i := range n {
		time.Sleep(time.Second / time.Duration(rate))
		if err := event.Emit(ctx, pool, accountID, time.Now(), event.New{Type: "bench.probe", Data: map[string]any{"sent": time.Now().UnixNano(), "i": i}}); err != nil {
			return nil, err
		}
	}
	for range 100 {
		mu.Lock()
		got := len(lat)
		mu.Unlock()
		if got == n {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	slices.Sort(lat)
	return lat, nil
}

// lastSeq is the account's last published event: a stream opened after it starts live, as a
// console that has already loaded its state does (without a position a stream replays the
// whole log first).
func lastSeq(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID) (int64, error) {
	var seq int64
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(seq), 0) FROM events WHERE account_id = $1`, accountID).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read the last event: %w", err)
	}
	return seq, nil
}

// wamid finds a bench delivery's message id in an event's data, whatever field carries it.
var wamid = regexp.MustCompile(`wamid\.bench\.[0-9]+`)

// measureInboundToSSE holds an SSE stream open with the API key, posts signed WhatsApp
// inbound deliveries at rate per second for d, and times each from just before its POST to
// the stream event that carries its message id: the agent console's view of a contact's
// message (ingest, drain, conversation, event outbox, publisher, NOTIFY, fan-out).
func measureInboundToSSE(ctx context.Context, pool *pgxpool.Pool, base, apiKey string, w webhookBench, rate int, d time.Duration) (sseResult, error) {
	res := sseResult{Rate: rate}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	after, err := lastSeq(ctx, pool, w.accountID)
	if err != nil {
		return res, err
	}
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, fmt.Sprintf("%s/v1/events/stream?after=%d", base, after), nil)
	if err != nil {
		return res, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, fmt.Errorf("open the event stream: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("open the event stream: %s", resp.Status)
	}

	var mu sync.Mutex
	sentAt := map[string]time.Time{}
	seen := map[string]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			if !bytes.HasPrefix(line, []byte("data:")) {
				continue
			}
			at := time.Now()
			id := string(wamid.Find(line))
			if id == "" {
				continue
			}
			var ev struct {
				OccurredAt  time.Time `json:"occurred_at"`
				PublishedAt time.Time `json:"published_at"`
			}
			_ = json.Unmarshal(bytes.TrimSpace(line[len("data:"):]), &ev)
			mu.Lock()
			if t, ok := sentAt[id]; ok && !seen[id] {
				seen[id] = true
				res.Latencies = append(res.Latencies, at.Sub(t))
				if !ev.OccurredAt.IsZero() {
					res.AfterWrite = append(res.AfterWrite, at.Sub(ev.OccurredAt))
				}
				if !ev.PublishedAt.IsZero() {
					res.AfterPublish = append(res.AfterPublish, at.Sub(ev.PublishedAt))
				}
			}
			mu.Unlock()
		}
	}()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 32}}
	var wg sync.WaitGroup
	start := time.Now()
	for n := 0; ; n++ {
		due := start.Add(time.Duration(n) * time.Second / time.Duration(rate))
		if due.Sub(start) >= d {
			break
		}
		time.Sleep(time.Until(due))
		body, sig := w.delivery()
		id := string(wamid.Find(body))
		mu.Lock()
		sentAt[id] = time.Now()
		mu.Unlock()
		res.Sent++
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/webhooks/whatsapp/"+w.channelID.String(), bytes.NewReader(body))
			if err != nil {
				return
			}
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("X-Hub-Signature-256", sig)
			if resp, err := client.Do(r); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	// Give the last deliveries time to come through, then stop reading.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == res.Sent {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	res.Seen = len(seen)
	slices.Sort(res.Latencies)
	slices.Sort(res.AfterWrite)
	slices.Sort(res.AfterPublish)
	return res, nil
}

// sseMarkdown is the inbound-to-SSE table.
func sseMarkdown(r sseResult) string {
	var b strings.Builder
	b.WriteString("| Inbound to SSE | Rate | Delivered | Seen on the stream | p50 | p90 | p99 | max | Target | Met |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	maxLat := time.Duration(0)
	if len(r.Latencies) > 0 {
		maxLat = r.Latencies[len(r.Latencies)-1]
	}
	met := r.Seen == r.Sent && r.Percentile(99) < 100*time.Millisecond
	fmt.Fprintf(&b, "| webhook POST → `message.received` on GET /v1/events/stream | %d/s | %d | %d | %s | %s | %s | %s | p99 < 100 ms, none missing | %s |\n",
		r.Rate, r.Sent, r.Seen, formatMs(r.Percentile(50)), formatMs(r.Percentile(90)), formatMs(r.Percentile(99)), formatMs(maxLat), metWord(met))
	return b.String()
}
