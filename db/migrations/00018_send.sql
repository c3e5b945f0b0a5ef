-- +goose Up
-- The send path: per-line send slots shared by every dispatcher process, the account-wide stop
-- of paid sends, and what a dispatcher needs on each queued message.

-- A token bucket per channel: a dispatcher takes as many slots as it may send, under this row's
-- lock, so the line's throughput holds whatever the number of worker processes. backoff_until
-- stops the whole line after the provider said it was over its throughput (130429).
CREATE TABLE channel_send_slots (
    account_id    uuid NOT NULL,
    channel_id    uuid NOT NULL,
    tokens        double precision NOT NULL,
    refilled_at   timestamptz NOT NULL,
    backoff_until timestamptz,
    -- How many times in a row the line was told to slow down: the exponent of its back-off.
    backoffs      integer NOT NULL DEFAULT 0,
    PRIMARY KEY (channel_id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);

-- Paid (template) sends stopped for an account after the provider refused one for a payment
-- problem (131042). Deleting the row clears the stop.
CREATE TABLE paid_send_stops (
    account_id uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    channel_id uuid NOT NULL,
    code       text NOT NULL,
    reason     text NOT NULL,
    stopped_at timestamptz NOT NULL
);

-- Where the message goes (the conversation's address when it was queued) and whether its
-- one retry after a 131049 refusal was already scheduled (it is never retried twice).
ALTER TABLE messages
    ADD COLUMN to_address text,
    ADD COLUMN engagement_retried boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE messages DROP COLUMN engagement_retried, DROP COLUMN to_address;
DROP TABLE paid_send_stops;
DROP TABLE channel_send_slots;
