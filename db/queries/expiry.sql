-- name: LockSessionExpiryMark :one
-- Where the sweep of one threshold (@ended: Expirado, else Expirando) stopped, locked for the
-- batch's transaction: one batch per threshold at a time, whatever the number of processes.
SELECT after_at, after_id FROM session_expiry_marks WHERE ended = @ended FOR UPDATE;

-- name: SweepSessionExpiry :one
-- One batch of one threshold of the session-expiry sweep (internal/expiry), after
-- LockSessionExpiryMark:
--
-- 1. Read, by conversations_service_expiry (an index-only scan: the index carries every
--    column read), up to @batch conversations whose session ends after the watermark and by
--    @upto, in (end, id) order: @upto is now for Expirado (@ended), now plus the warning for
--    Expirando.
-- 2. Keep the WhatsApp ones (sessions are WhatsApp's); for Expirando, only those whose session
--    has not ended by @now (an ended one gets its Expirado event from the other threshold).
-- 3. Create the accounts' Expirando and Expirado tags (automation-only) where missing, so the
--    events and the conversation filter name them by id; a tag of that name the account made
--    itself is used as it is.
-- 4. Emit conversation.tagged per conversation, ids from @event_ids (UUIDv7, one per row).
-- 5. Move the watermark to the last row read.
--
-- Returns how many rows the scan read (a full scan means more may follow), the events
-- emitted, and missing: conversations whose account's tags could not be seen (another
-- transaction created them meanwhile), in which case the caller rolls the batch back and
-- runs it again.
WITH due AS (
    SELECT v.account_id, v.id, v.contact_id, v.channel_id, v.service_expires_at FROM conversations v
    WHERE v.service_expires_at IS NOT NULL
      AND (v.service_expires_at, v.id) > (@after_at::timestamptz, @after_id::uuid)
      AND v.service_expires_at <= @upto::timestamptz
    ORDER BY v.service_expires_at, v.id
    LIMIT @batch::int
), steps AS (
    SELECT d.account_id, d.id, d.contact_id, d.channel_id, d.service_expires_at, row_number() OVER () AS n
    FROM due d JOIN channels ch ON ch.account_id = d.account_id AND ch.id = d.channel_id
    WHERE ch.type = 'whatsapp' AND (@ended::boolean OR d.service_expires_at > @now::timestamptz)
), accounts AS (
    SELECT DISTINCT s.account_id FROM steps s
), created AS (
    INSERT INTO tags (account_id, id, name, color, automation_only, created_at, updated_at)
    SELECT a.account_id, gen_random_uuid(), n.name, n.color, true, @now, @now
    FROM accounts a, (VALUES ('Expirando', '#ff7f0e'), ('Expirado', '#d62728')) AS n(name, color)
    WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.account_id = a.account_id AND lower(t.name) = lower(n.name))
    ORDER BY a.account_id, n.name
    ON CONFLICT (account_id, lower(name)) DO NOTHING
    RETURNING account_id, id, lower(name) AS name
), found AS (
    SELECT t.account_id, t.id, lower(t.name) AS name FROM tags t
    WHERE t.account_id IN (SELECT a.account_id FROM accounts a) AND lower(t.name) IN ('expirando', 'expirado')
    UNION ALL
    SELECT c.account_id, c.id, c.name FROM created c
), session_tags AS (
    SELECT f.account_id,
           (array_agg(f.id) FILTER (WHERE f.name = 'expirando'))[1] AS expiring,
           (array_agg(f.id) FILTER (WHERE f.name = 'expirado'))[1] AS expired
    FROM found f GROUP BY f.account_id
), events AS (
    -- The data is to_jsonb of a row whose columns name the keys (the lateral subqueries are
    -- pulled up into row constructors): a third cheaper than jsonb_build_object, which looks
    -- up each argument's type on every row, and the same document.
    INSERT INTO event_outbox (account_id, event_id, type, subject_id, data, occurred_at)
    SELECT s.account_id, (@event_ids::uuid[])[s.n], 'conversation.tagged', s.id,
           CASE WHEN @ended::boolean THEN to_jsonb(expired_data) ELSE to_jsonb(expiring_data) END,
           @now
    FROM steps s JOIN session_tags st ON st.account_id = s.account_id
    CROSS JOIN LATERAL (
        SELECT s.id AS conversation_id, s.contact_id, s.channel_id, s.service_expires_at,
               'Expirado' AS tag, st.expired AS tag_id, 'Expirando' AS replaced) expired_data
    CROSS JOIN LATERAL (
        SELECT s.id AS conversation_id, s.contact_id, s.channel_id, s.service_expires_at,
               'Expirando' AS tag, st.expiring AS tag_id) expiring_data
    WHERE st.expiring IS NOT NULL AND st.expired IS NOT NULL
    RETURNING 1
), last AS (
    SELECT d.service_expires_at, d.id FROM due d ORDER BY d.service_expires_at DESC, d.id DESC LIMIT 1
), mark AS (
    UPDATE session_expiry_marks w SET after_at = l.service_expires_at, after_id = l.id
    FROM last l WHERE w.ended = @ended::boolean
)
SELECT (SELECT count(*) FROM due)::int AS read,
       (SELECT count(*) FROM events)::int AS emitted,
       ((SELECT count(*) FROM steps) - (SELECT count(*) FROM events))::int AS missing;
