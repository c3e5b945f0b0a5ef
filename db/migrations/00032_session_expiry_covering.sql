-- +goose Up
-- The session-expiry sweep (internal/expiry) reads conversations_service_expiry in
-- (service_expires_at, id) order and needs four more columns of each row for its events. The
-- rows lie in random heap order, so fetching them cost a heap page a row (4.4 µs, a third of a
-- batch). Carrying account_id, contact_id and channel_id in the index lets the sweep read an
-- index range alone (an index-only scan: about 35 leaf pages for 2 500 rows). None of the three
-- changes in an ordinary update (contact_id only on a merge), so HOT updates stay as they were;
-- the index grows from about 40 to 90 MB a million sessions.
DROP INDEX conversations_service_expiry;
CREATE INDEX conversations_service_expiry ON conversations (service_expires_at, id)
    INCLUDE (account_id, contact_id, channel_id) WHERE service_expires_at IS NOT NULL;

-- +goose Down
DROP INDEX conversations_service_expiry;
CREATE INDEX conversations_service_expiry ON conversations (service_expires_at, id) WHERE service_expires_at IS NOT NULL;
