package event

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
)

// Channel is the PostgreSQL notification channel publish_events notifies.
const Channel = "conversa_events"

// Hub fans published events out to the streams connected to this process. It holds one
// connection that LISTENs for published batches and reads each batch once, whatever the number
// of streams; it also reads every PollEvery in case a notification was lost.
type Hub struct {
	pool   *pgxpool.Pool
	q      *store.Queries
	logger *slog.Logger
	// PollEvery is how often the hub reads without a notification. Defaults to a second.
	PollEvery time.Duration
	// Buffer is each subscription's queue; a stream that falls this far behind is cut off and
	// resumes from the log. Defaults to 4096.
	Buffer int

	mu    sync.Mutex
	subs  map[uuid.UUID]map[*Subscription]struct{}
	last  int64
	ready chan struct{}
}

// NewHub returns a Hub; Run starts it.
func NewHub(pool *pgxpool.Pool, logger *slog.Logger) *Hub {
	return &Hub{pool: pool, q: store.New(), logger: logger, PollEvery: time.Second, Buffer: 4096,
		subs: map[uuid.UUID]map[*Subscription]struct{}{}, ready: make(chan struct{})}
}

// Subscription receives one account's events as they are published.
type Subscription struct {
	hub     *Hub
	account uuid.UUID
	ch      chan Event
	// Dropped is closed when the subscription fell too far behind and was cut off.
	dropped chan struct{}
	once    sync.Once
}

// Events delivers the events, in seq order.
func (s *Subscription) Events() <-chan Event { return s.ch }

// Dropped is closed when the hub cut the subscription off for falling behind: the reader
// should resume from the log after the last seq it handled.
func (s *Subscription) Dropped() <-chan struct{} { return s.dropped }

// Close stops the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.detach()
}

func (s *Subscription) detach() {
	if m := s.hub.subs[s.account]; m != nil {
		delete(m, s)
		if len(m) == 0 {
			delete(s.hub.subs, s.account)
		}
	}
}

// Subscribe starts receiving an account's events. It returns the highest seq the hub had
// read when the subscription began: events up to it are not delivered (read them from the
// log), events after it all are.
func (h *Hub) Subscribe(ctx context.Context, accountID uuid.UUID) (*Subscription, int64, error) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
	s := &Subscription{hub: h, account: accountID, ch: make(chan Event, h.Buffer), dropped: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[accountID] == nil {
		h.subs[accountID] = map[*Subscription]struct{}{}
	}
	h.subs[accountID][s] = struct{}{}
	return s, h.last, nil
}

// Run listens and fans out until ctx ends, reconnecting after connection failures.
func (h *Hub) Run(ctx context.Context) error {
	last, err := h.q.LastEventSeq(ctx, h.pool)
	if err != nil {
		return fmt.Errorf("read the last event seq: %w", err)
	}
	h.mu.Lock()
	h.last = last
	h.mu.Unlock()
	close(h.ready)
	for ctx.Err() == nil {
		if err := h.listen(ctx); err != nil && ctx.Err() == nil {
			h.logger.Warn("event hub connection lost; reconnecting", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func (h *Hub) listen(ctx context.Context) error {
	conn, err := h.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// A connection that listened goes back to the pool clean.
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "UNLISTEN *"); err != nil {
			conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}()
	for {
		if err := h.read(ctx); err != nil {
			return err
		}
		wait, cancel := context.WithTimeout(ctx, h.PollEvery)
		_, err := conn.Conn().WaitForNotification(wait)
		cancel()
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
}

// read fetches everything published since the last read and hands it to the subscriptions.
// With no subscription in the process it reads only the highest seq: a process that serves no
// stream (a worker, or a server nobody is watching) does not fetch and decode every event, which
// during a dispatch is one per message sent.
func (h *Hub) read(ctx context.Context) error {
	h.mu.Lock()
	idle := len(h.subs) == 0
	h.mu.Unlock()
	if idle {
		// Numbers become visible in order, so every event up to the highest is visible: a
		// subscription that begins after this starts from it, and reads older ones from the log.
		last, err := h.q.LastEventSeq(ctx, h.pool)
		if err != nil {
			return fmt.Errorf("read the last event seq: %w", err)
		}
		h.mu.Lock()
		if len(h.subs) == 0 {
			h.last = max(h.last, last)
			h.mu.Unlock()
			return nil
		}
		h.mu.Unlock() // a subscription began meanwhile: it gets what came after h.last
	}
	for {
		h.mu.Lock()
		after := h.last
		h.mu.Unlock()
		rows, err := h.q.EventsSince(ctx, h.pool, store.EventsSinceParams{AfterSeq: after, MaxRows: MaxPage})
		if err != nil {
			return fmt.Errorf("read events after %d: %w", after, err)
		}
		if len(rows) == 0 {
			return nil
		}
		h.mu.Lock()
		for _, r := range rows {
			e := fromRow(r)
			for s := range h.subs[e.AccountID] {
				select {
				case s.ch <- e:
				default:
					s.detach()
					s.once.Do(func() { close(s.dropped) })
				}
			}
			h.last = e.Seq
		}
		h.mu.Unlock()
		if len(rows) < MaxPage {
			return nil
		}
	}
}
