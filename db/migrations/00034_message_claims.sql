-- +goose Up
-- A dispatcher's claim of a line's due messages, one row per batch, instead of an update of
-- every claimed message (00018 moved each one's send_after to the lease's end). That update
-- rewrote each message (a row lock, then a new row version and an entry in each of its
-- indexes: send_after is in messages_due, so it is never a HOT update) only to hide it from
-- other dispatchers until the batch is recorded, which updates it again. Claims of one line
-- are already serialised by its bucket row (channel_send_slots, FOR UPDATE), so a claim needs
-- no row locks either: it skips the messages held by the line's live claims, and the record
-- of a batch deletes its claim in the transaction that stores the outcomes. A claim whose
-- lease ran out belongs to a dispatcher that died mid-batch: the next claim of the line
-- deletes it, counts the attempt on its messages and takes them again.
CREATE TABLE message_claims (
    account_id  uuid NOT NULL,
    channel_id  uuid NOT NULL,
    id          uuid NOT NULL,
    message_ids uuid[] NOT NULL,
    lease_until timestamptz NOT NULL,
    PRIMARY KEY (account_id, channel_id, id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);

-- Messages leased by the old claim (send_after moved to the lease's end) are due again when
-- it ends, as before: nothing to convert.

-- +goose Down
DROP TABLE message_claims;
