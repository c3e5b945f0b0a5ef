-- name: ClaimSessionTagSteps :many
-- One batch of the session-expiry sweep: locks up to @batch conversations with a tag step due
-- (skipping rows others hold), by the partial index conversations_session_tag_due, and moves
-- each to its next state: renewed while tagged (4) to 0, sessions ended to Expirado (2),
-- sessions ending before @soon to Expirando (1); conversations not on WhatsApp to 3 (no
-- tags). The three scans are read lazily in that order until the batch is full. Returns the
-- state before and after, and what the events need.
WITH renewed AS (
    SELECT v.account_id, v.id, v.session_tag FROM conversations v
    WHERE v.session_tag = 4 AND v.service_expires_at IS NOT NULL
    LIMIT @batch
    FOR UPDATE SKIP LOCKED
), ended AS (
    SELECT v.account_id, v.id, v.session_tag FROM conversations v
    WHERE v.session_tag = 1 AND v.service_expires_at IS NOT NULL AND v.service_expires_at <= @now
    LIMIT @batch
    FOR UPDATE SKIP LOCKED
), ending AS (
    SELECT v.account_id, v.id, v.session_tag FROM conversations v
    WHERE v.session_tag = 0 AND v.service_expires_at IS NOT NULL AND v.service_expires_at <= @soon
    LIMIT @batch
    FOR UPDATE SKIP LOCKED
), due AS (
    SELECT * FROM renewed
    UNION ALL SELECT * FROM ended
    UNION ALL SELECT * FROM ending
    LIMIT @batch
)
UPDATE conversations v SET session_tag = CASE
        WHEN due.session_tag = 4 THEN 0
        WHEN ch.type <> 'whatsapp' THEN 3
        WHEN v.service_expires_at <= @now THEN 2
        ELSE 1 END
FROM due, channels ch
WHERE v.account_id = due.account_id AND v.id = due.id AND ch.account_id = v.account_id AND ch.id = v.channel_id
RETURNING v.account_id, v.id, v.contact_id, v.channel_id, v.service_expires_at,
          due.session_tag AS old_tag, v.session_tag AS new_tag;

-- name: EnsureSessionTags :exec
-- Creates the system tags Expirando and Expirado (automation-only) in each account lacking
-- them. A tag of that name the account made itself is used as it is.
INSERT INTO tags (account_id, id, name, color, automation_only, created_at, updated_at)
SELECT a.account_id, gen_random_uuid(), n.name, n.color, true, @now, @now
FROM unnest(@account_ids::uuid[]) AS a(account_id),
     (VALUES ('Expirando', '#ff7f0e'), ('Expirado', '#d62728')) AS n(name, color)
ORDER BY a.account_id, n.name
ON CONFLICT (account_id, lower(name)) DO NOTHING;

-- name: SessionTagIDs :many
-- The ids of the accounts' Expirando and Expirado tags.
SELECT account_id, id, lower(name)::text AS name FROM tags
WHERE account_id = ANY(@account_ids::uuid[]) AND lower(name) IN ('expirando', 'expirado');

-- name: ApplySessionTags :exec
-- Puts each conversation's tag on and takes its other session tags off, in one statement
-- (uuid.Nil as add_tag_id adds nothing; the removals are the given tag ids).
WITH r AS (
    SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@conversation_ids::uuid[]) AS conversation_id,
           unnest(@add_tag_ids::uuid[]) AS add_tag_id, unnest(@remove_tag_ids::uuid[]) AS remove_tag_id
), del AS (
    DELETE FROM conversation_tags t USING r
    WHERE t.account_id = r.account_id AND t.conversation_id = r.conversation_id AND t.tag_id = r.remove_tag_id
)
INSERT INTO conversation_tags (account_id, conversation_id, tag_id, created_at)
SELECT r.account_id, r.conversation_id, r.add_tag_id, @now FROM r
WHERE r.add_tag_id <> '00000000-0000-0000-0000-000000000000'
ON CONFLICT DO NOTHING;
