-- +goose NO TRANSACTION
-- +goose Up
-- Raw webhook deliveries and the provider events parsed from them hold personal data (phone
-- numbers, names, message texts) and grow with every delivery (at 3 000 a second, 260 million
-- rows a day). internal/webhook prunes them once they are past their retention, in batches
-- that walk these indexes from the oldest row on. Both are written by the drain, not by the
-- webhook request: a delivery enters its index when it is marked processed (only processed
-- ones are pruned), a provider event when it is recorded. Not BRIN: once pruned space is
-- reused the table is no longer in time order, and a BRIN scan cannot resume where the last
-- batch ended, so every batch would reread what the batches before it deleted.
-- CONCURRENTLY (so outside a transaction): on a deployment's tables, a plain CREATE INDEX would
-- hold up every webhook delivery and drain while it reads them all.
CREATE INDEX CONCURRENTLY webhook_deliveries_processed ON webhook_deliveries (received_at) WHERE processed_at IS NOT NULL;
CREATE INDEX CONCURRENTLY provider_events_recorded ON provider_events (recorded_at);

-- +goose Down
DROP INDEX CONCURRENTLY provider_events_recorded;
DROP INDEX CONCURRENTLY webhook_deliveries_processed;
