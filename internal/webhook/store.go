package webhook

import (
	"context"
	"fmt"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/pgdb"
)

// Writers is how many INSERTs of deliveries a process has in flight at once; MaxGroup is the
// most deliveries one INSERT carries. Two writers, not more: every INSERT takes a key-share lock
// on the channel row its foreign key names and pays its own commit, so more writers in flight
// only make smaller groups that contend for the same row. Measured (loadgen -webhooks, ingest
// tier, docs/benchmarks.md issue 5): at an offered 3 000/s the p99 was 26–33 ms with eight,
// 17–25 with three or four, 12.6–17.3 with two and 15 with one; flat out two did as well as any.
const (
	Writers  = 2
	MaxGroup = 256
)

// newWriter returns the group that stores deliveries for concurrent requests: each request
// hands its row over and waits for the commit that carries it (pgdb.Group), so under load many
// deliveries share one autocommit INSERT. A group that fails on a foreign key (a channel
// deleted meanwhile) is stored row by row, so that row fails only its own request; other
// errors fail the group.
func (s *Service) newWriter() *pgdb.Group[store.InsertWebhookDeliveryParams, struct{}] {
	return &pgdb.Group[store.InsertWebhookDeliveryParams, struct{}]{
		Runners: Writers, Max: MaxGroup,
		Run: s.insertGroup,
		Alone: func(err error) bool {
			_, fk := pgdb.ForeignKeyViolation(err)
			return fk
		},
	}
}

// insertGroup stores deliveries with one INSERT (the single-row statement for one).
func (s *Service) insertGroup(ctx context.Context, group []store.InsertWebhookDeliveryParams) ([]struct{}, error) {
	done := make([]struct{}, len(group))
	if len(group) == 1 {
		return done, s.q.InsertWebhookDelivery(ctx, s.pool, group[0])
	}
	var p store.InsertWebhookDeliveriesParams
	for _, r := range group {
		p.AccountIds, p.Ids, p.ChannelIds, p.Providers = append(p.AccountIds, r.AccountID), append(p.Ids, r.ID), append(p.ChannelIds, r.ChannelID), append(p.Providers, r.Provider)
		p.Signatures, p.RequestUrls, p.Bodies, p.ReceivedAts = append(p.Signatures, r.Signature), append(p.RequestUrls, r.RequestUrl), append(p.Bodies, r.Body), append(p.ReceivedAts, r.ReceivedAt)
	}
	if err := s.q.InsertWebhookDeliveries(ctx, s.pool, p); err != nil {
		return nil, fmt.Errorf("store %d webhook deliveries: %w", len(group), err)
	}
	return done, nil
}
