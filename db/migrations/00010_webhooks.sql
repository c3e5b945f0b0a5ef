-- +goose Up
-- Webhook deliveries are stored as received (with the signature that came with them) before
-- anything else happens; a River job parses each and records what it carried, once per
-- provider id, however often the provider retries.
CREATE TABLE webhook_deliveries (
    account_id   uuid NOT NULL,
    id           uuid NOT NULL,
    channel_id   uuid NOT NULL,
    provider     text NOT NULL,
    signature    text NOT NULL DEFAULT '',
    body         bytea NOT NULL,
    received_at  timestamptz NOT NULL,
    processed_at timestamptz,
    error        text,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);

-- What processing recorded, until the messaging work turns it into conversations.
CREATE TABLE provider_events (
    account_id   uuid NOT NULL,
    channel_id   uuid NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('message', 'status', 'event')),
    provider_key text NOT NULL,
    delivery_id  uuid NOT NULL,
    payload      jsonb NOT NULL,
    occurred_at  timestamptz,
    recorded_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, channel_id, kind, provider_key),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE provider_events;
DROP TABLE webhook_deliveries;
