-- +goose Up
-- Webhook deliveries are stored by one autocommit INSERT each and drained in batches by a
-- River job (claimed with FOR UPDATE SKIP LOCKED, recorded set-based, marked processed in one
-- transaction per batch), instead of one River job per delivery.

-- The URL the delivery was received on, for providers that sign it (Twilio).
ALTER TABLE webhook_deliveries ADD COLUMN request_url text NOT NULL DEFAULT '';
-- The drain's queue: only unprocessed deliveries, in arrival order (ids are UUIDv7).
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (id) WHERE processed_at IS NULL;
-- Failed deliveries stay visible, newest first per channel.
CREATE INDEX webhook_deliveries_failed ON webhook_deliveries (account_id, channel_id, id) WHERE error IS NOT NULL;

-- When the provider last reported the number's quality and the portfolio's messaging limit:
-- a notification older than what was applied never moves them back.
ALTER TABLE channels ADD COLUMN quality_updated_at timestamptz,
                     ADD COLUMN messaging_limit_updated_at timestamptz;

-- Messages sent to WebChat visitors, kept for the widget to fetch (WebChat is native: there is
-- no provider to hand them to).
CREATE TABLE webchat_messages (
    account_id uuid NOT NULL,
    channel_id uuid NOT NULL,
    id         uuid NOT NULL,
    visitor_id text NOT NULL,
    kind       text NOT NULL,
    text       text NOT NULL DEFAULT '',
    payload    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);
CREATE INDEX webchat_messages_visitor ON webchat_messages (account_id, channel_id, visitor_id, id);

-- +goose Down
DROP TABLE webchat_messages;
ALTER TABLE channels DROP COLUMN messaging_limit_updated_at, DROP COLUMN quality_updated_at;
DROP INDEX webhook_deliveries_failed;
DROP INDEX webhook_deliveries_pending;
ALTER TABLE webhook_deliveries DROP COLUMN request_url;
