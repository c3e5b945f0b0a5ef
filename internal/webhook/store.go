package webhook

import (
	"context"
	"fmt"
	"sync"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

// Writers is how many INSERTs of deliveries a process has in flight at once; MaxGroup is the
// most deliveries one INSERT carries.
const (
	Writers  = 8
	MaxGroup = 256
)

// pendingInsert is a delivery waiting for its INSERT, and where its outcome goes.
type pendingInsert struct {
	row  store.InsertWebhookDeliveryParams
	done chan error
}

// writer stores deliveries for concurrent requests: each request hands its row over and
// waits for the commit; a writer takes every row waiting when it is free and stores them with
// one autocommit INSERT. Under load many requests share a commit (the database's limit is
// commits per second, not rows); alone, a request waits for no one (nothing is delayed to
// gather a group). Answering after the commit keeps the rule that an acknowledged delivery is
// stored.
type writer struct {
	once  sync.Once
	queue chan pendingInsert
}

// store stores one delivery, grouped with whatever other deliveries are waiting.
func (s *Service) store(ctx context.Context, row store.InsertWebhookDeliveryParams) error {
	s.writer.once.Do(func() {
		s.writer.queue = make(chan pendingInsert, Writers*MaxGroup)
		for range Writers {
			go s.runWriter()
		}
	})
	p := pendingInsert{row: row, done: make(chan error, 1)}
	select {
	case s.writer.queue <- p:
	case <-ctx.Done():
		return ctx.Err()
	}
	// The INSERT may already carry the row: wait for its outcome whatever ctx does, so a
	// cancelled request never answers "not stored" for a row that was committed.
	return <-p.done
}

func (s *Service) runWriter() {
	group := make([]pendingInsert, 0, MaxGroup)
	for first := range s.writer.queue {
		group = append(group[:0], first)
	gather:
		for len(group) < MaxGroup {
			select {
			case p := <-s.writer.queue:
				group = append(group, p)
			default:
				break gather
			}
		}
		s.insertGroup(group)
	}
}

// insertGroup stores a group with one INSERT; when that fails (a channel deleted meanwhile
// fails the whole statement) each row is tried alone, so one bad row fails only its request.
func (s *Service) insertGroup(group []pendingInsert) {
	ctx := context.Background()
	if len(group) == 1 {
		group[0].done <- s.q.InsertWebhookDelivery(ctx, s.pool, group[0].row)
		return
	}
	var p store.InsertWebhookDeliveriesParams
	for _, g := range group {
		r := g.row
		p.AccountIds, p.Ids, p.ChannelIds, p.Providers = append(p.AccountIds, r.AccountID), append(p.Ids, r.ID), append(p.ChannelIds, r.ChannelID), append(p.Providers, r.Provider)
		p.Signatures, p.RequestUrls, p.Bodies, p.ReceivedAts = append(p.Signatures, r.Signature), append(p.RequestUrls, r.RequestUrl), append(p.Bodies, r.Body), append(p.ReceivedAts, r.ReceivedAt)
	}
	err := s.q.InsertWebhookDeliveries(ctx, s.pool, p)
	if err == nil {
		for _, g := range group {
			g.done <- nil
		}
		return
	}
	if _, fk := pgdb.ForeignKeyViolation(err); !fk {
		err = fmt.Errorf("store %d webhook deliveries: %w", len(group), err)
		for _, g := range group {
			g.done <- err
		}
		return
	}
	for _, g := range group {
		g.done <- s.q.InsertWebhookDelivery(ctx, s.pool, g.row)
	}
}
