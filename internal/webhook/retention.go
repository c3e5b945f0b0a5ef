package webhook

import (
	"context"
	"fmt"
	"time"

	"github.com/conversa-hq/conversa/db/store"
)

// Retention is how long raw deliveries and the provider events parsed from them are kept.
// Both hold personal data (numbers, names, message texts) that the messages, statuses and
// events recorded from them already carry, so they are kept only as long as they serve: the
// raw body to look into a delivery that failed or surprised, the provider event to record a
// provider's retry once (Meta retries a delivery for up to 7 days) and to apply a status that
// arrived before its message's id was stored.
const Retention = 30 * 24 * time.Hour

// PruneBatch is how many rows one statement of Prune deletes.
const PruneBatch = 10_000

// Pruned counts what Prune deleted.
type Pruned struct {
	Deliveries int64
	Events     int64
}

// Prune deletes the processed deliveries received before before, and the provider events
// recorded before it, oldest first, batch rows at a time (each batch its own transaction, and
// each starting where the last ended) until none is left or ctx ends. A delivery not yet
// processed stays, however old: it still has to be recorded.
func Prune(ctx context.Context, db store.DBTX, before time.Time, batch int) (Pruned, error) {
	var p Pruned
	var err error
	q := store.New()
	p.Deliveries, err = oldestFirst(batch, func(after time.Time) (int64, time.Time, error) {
		r, err := q.PruneWebhookDeliveries(ctx, db, store.PruneWebhookDeliveriesParams{After: after, Before: before, Batch: int32(batch)})
		return r.Deleted, r.Last, err
	})
	if err != nil {
		return p, fmt.Errorf("prune webhook deliveries after %d: %w", p.Deliveries, err)
	}
	p.Events, err = oldestFirst(batch, func(after time.Time) (int64, time.Time, error) {
		r, err := q.PruneProviderEvents(ctx, db, store.PruneProviderEventsParams{After: after, Before: before, Batch: int32(batch)})
		return r.Deleted, r.Last, err
	})
	if err != nil {
		return p, fmt.Errorf("prune provider events after %d: %w", p.Events, err)
	}
	return p, nil
}

// oldestFirst runs del, which deletes up to batch rows from after on and says the time of the
// last, until a batch comes back short; it returns how many rows went.
func oldestFirst(batch int, del func(after time.Time) (int64, time.Time, error)) (int64, error) {
	var total int64
	for after := (time.Time{}); ; {
		n, last, err := del(after)
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
		after = last
	}
}
