-- +goose Up
-- Session-expiry tags become a view of the clock, and the sweep a reader of one index.
--
-- Expirando and Expirado are a pure function of a WhatsApp conversation's service_expires_at
-- and the time (internal/session State.Tag): conversation lists compute them, exactly on
-- time, instead of reading conversation_tags rows a sweep wrote. What remains for the
-- periodic sweep (internal/expiry) is to emit the events when a threshold passes. It walks
-- conversations_service_expiry from where it stopped (the watermarks below) to the clock's
-- time, so it writes one event per conversation and nothing else: no conversation update
-- (which, non-HOT, wrote all eleven indexes of conversations), no tag rows, no row locks.
-- The contact renewing the session emits conversation.untagged from the inbound path.
DROP INDEX conversations_session_tag_due;
ALTER TABLE conversations DROP COLUMN session_tag;

-- The tag rows the old sweep wrote: the tags are computed now.
DELETE FROM conversation_tags ct USING tags t
WHERE t.account_id = ct.account_id AND t.id = ct.tag_id AND lower(t.name) IN ('expirando', 'expirado');

-- The sweep's scan, across accounts, in time order.
CREATE INDEX conversations_service_expiry ON conversations (service_expires_at, id) WHERE service_expires_at IS NOT NULL;

-- Where the sweep stopped, one row: the events are emitted for sessions whose end lies after
-- (expired_at, expired_id) up to now (Expirado) and whose end lies after (expiring_at,
-- expiring_id) up to now plus the warning (Expirando), in (service_expires_at, id) order.
-- Each batch advances them in the transaction that writes its events, so a sweep run twice,
-- or by two processes, emits each event once. A database that already holds conversations
-- starts from now (the past thresholds' events are not replayed); an empty one from the start (the year 1).
CREATE TABLE session_expiry_sweep (
    singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    expired_at  timestamptz NOT NULL,
    expired_id  uuid NOT NULL,
    expiring_at timestamptz NOT NULL,
    expiring_id uuid NOT NULL
);
INSERT INTO session_expiry_sweep (expired_at, expired_id, expiring_at, expiring_id)
SELECT CASE WHEN EXISTS (SELECT 1 FROM conversations) THEN now() ELSE '0001-01-01 00:00:00+00' END, '00000000-0000-0000-0000-000000000000',
       CASE WHEN EXISTS (SELECT 1 FROM conversations) THEN now() + interval '30 minutes' ELSE '0001-01-01 00:00:00+00' END, '00000000-0000-0000-0000-000000000000';

-- +goose Down
DROP TABLE session_expiry_sweep;
DROP INDEX conversations_service_expiry;
ALTER TABLE conversations
    ADD COLUMN session_tag smallint NOT NULL DEFAULT 0 CHECK (session_tag BETWEEN 0 AND 4);
CREATE INDEX conversations_session_tag_due ON conversations (session_tag, service_expires_at)
    WHERE session_tag IN (0, 1, 4) AND service_expires_at IS NOT NULL;
