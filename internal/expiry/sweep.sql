-- SweepSessionTags: one batch of the sweep (internal/expiry). It lives here, embedded, rather
-- than in db/queries because it finds rows again by ctid, a system column sqlc cannot parse.
-- Parameters: $1 now, $2 soon (now plus the warning), $3 batch size; $4, $5, $6 where the
-- scans of states 4, 1 and 0 start (the previous batch's last service_expires_at: the index
-- entries before it are rows already moved, dead until vacuumed, and a scan from the start
-- would walk them again every batch); $7 the events' ids (UUIDv7, at least $3 of them).
-- One batch of the session-expiry sweep, in one statement:
--
-- 1. Lock up to $3 conversations with a tag step due, skipping rows others hold, by the
--    partial index conversations_session_tag_due: renewed while tagged (4) first, then
--    sessions ended while Expirando (1), then sessions ending before $2 (0). Each scan is
--    ordered by the index (most overdue first), which keeps the planner on the index rather
--    than on a sequential scan past every row already done; the scans are read lazily, in
--    that order, until the batch is full.
-- 2. Move each a step: 4 to 0, 1 or 0 to Expirado (2) once the session ended, 0 to Expirando
--    (1) before, and a conversation not on WhatsApp to 3 (no tags). The rows are found again
--    by their ctid (a TID scan), not by a join on the key the planner would hash over the
--    whole table.
-- 3. Create the accounts' Expirando and Expirado tags (automation-only) where missing; a tag
--    of that name the account made itself is used as it is.
-- 4. Take off the tags the step replaces and put on the new one.
-- 5. Emit conversation.tagged (or conversation.untagged for 4 to 0) per conversation, the
--    event data built here rather than encoded per row in Go.
--
-- Returns the counts, where each scan got to, and missing: the conversations whose account's
-- tags could not be found (another transaction created them meanwhile), in which case the
-- caller rolls the batch back and runs it again.
WITH renewed AS (
    SELECT v.ctid AS tid, v.account_id, v.channel_id, v.session_tag FROM conversations v
    WHERE v.session_tag = 4 AND v.service_expires_at >= $4
    ORDER BY v.service_expires_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), ended AS (
    SELECT v.ctid AS tid, v.account_id, v.channel_id, v.session_tag FROM conversations v
    WHERE v.session_tag = 1 AND v.service_expires_at >= $5 AND v.service_expires_at <= $1
    ORDER BY v.service_expires_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), ending AS (
    SELECT v.ctid AS tid, v.account_id, v.channel_id, v.session_tag FROM conversations v
    WHERE v.session_tag = 0 AND v.service_expires_at >= $6 AND v.service_expires_at <= $2
    ORDER BY v.service_expires_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
), claimed AS (
    SELECT * FROM renewed
    UNION ALL SELECT * FROM ended
    UNION ALL SELECT * FROM ending
    LIMIT $3
), due AS (
    SELECT c.tid, c.account_id, c.session_tag, (ch.type = 'whatsapp') AS whatsapp
    FROM claimed c JOIN channels ch ON ch.account_id = c.account_id AND ch.id = c.channel_id
), moved AS (
    UPDATE conversations v SET session_tag = CASE
            WHEN due.session_tag = 4 THEN 0
            WHEN NOT due.whatsapp THEN 3
            WHEN v.service_expires_at <= $1 THEN 2
            ELSE 1 END
    FROM due
    WHERE v.ctid = ANY(ARRAY(SELECT d.tid FROM due d)) AND v.ctid = due.tid
    RETURNING v.account_id, v.id, v.contact_id, v.channel_id, v.service_expires_at,
              due.session_tag AS old_tag, v.session_tag AS new_tag
), accounts AS (
    SELECT DISTINCT m.account_id FROM moved m WHERE m.new_tag <> 3
), created AS (
    INSERT INTO tags (account_id, id, name, color, automation_only, created_at, updated_at)
    SELECT a.account_id, gen_random_uuid(), n.name, n.color, true, $1, $1
    FROM accounts a, (VALUES ('Expirando', '#ff7f0e'), ('Expirado', '#d62728')) AS n(name, color)
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
), steps AS (
    SELECT m.account_id, m.id, m.contact_id, m.channel_id, m.service_expires_at, m.old_tag, m.new_tag,
           st.expiring, st.expired, row_number() OVER () AS n
    FROM moved m LEFT JOIN session_tags st ON st.account_id = m.account_id
    WHERE m.new_tag <> 3
), untag AS (
    DELETE FROM conversation_tags ct USING steps s
    WHERE ct.account_id = s.account_id AND ct.conversation_id = s.id
      AND ((s.new_tag = 2 AND ct.tag_id = s.expiring) OR (s.new_tag = 0 AND ct.tag_id IN (s.expiring, s.expired)))
), tag AS (
    INSERT INTO conversation_tags (account_id, conversation_id, tag_id, created_at)
    SELECT s.account_id, s.id, CASE s.new_tag WHEN 1 THEN s.expiring ELSE s.expired END, $1
    FROM steps s WHERE s.new_tag IN (1, 2) AND s.expiring IS NOT NULL AND s.expired IS NOT NULL
    ON CONFLICT DO NOTHING
), events AS (
    INSERT INTO event_outbox (account_id, event_id, type, subject_id, data, occurred_at)
    SELECT s.account_id, ($7::uuid[])[s.n],
           CASE WHEN s.new_tag = 0 THEN 'conversation.untagged' ELSE 'conversation.tagged' END, s.id,
           jsonb_build_object('conversation_id', s.id, 'contact_id', s.contact_id, 'channel_id', s.channel_id,
                              'service_expires_at', s.service_expires_at)
               || CASE s.new_tag
                      WHEN 0 THEN jsonb_build_object('tags', jsonb_build_array('Expirando', 'Expirado'))
                      WHEN 1 THEN jsonb_build_object('tag', 'Expirando', 'tag_id', s.expiring)
                      ELSE jsonb_build_object('tag', 'Expirado', 'tag_id', s.expired)
                          || CASE WHEN s.old_tag = 1 THEN jsonb_build_object('replaced', 'Expirando') ELSE '{}'::jsonb END
                  END,
           $1
    FROM steps s
)
SELECT (SELECT count(*) FROM moved)::int AS moved,
       (SELECT max(m.service_expires_at) FILTER (WHERE m.old_tag = 4) FROM moved m) AS renewed_upto,
       (SELECT max(m.service_expires_at) FILTER (WHERE m.old_tag = 1) FROM moved m) AS ended_upto,
       (SELECT max(m.service_expires_at) FILTER (WHERE m.old_tag = 0) FROM moved m) AS ending_upto,
       count(*) FILTER (WHERE s.new_tag IN (1, 2))::int AS tagged,
       count(*) FILTER (WHERE s.new_tag = 0)::int AS untagged,
       count(*) FILTER (WHERE s.expiring IS NULL OR s.expired IS NULL)::int AS missing
FROM steps s;
