-- name: InsertCampaign :one
INSERT INTO campaigns (account_id, id, name, channel_type, segment_id, filters, tags_any, tags_all, origins,
                       channel_ids_filter, match_path, explicit_consent, line_mode, sender_ids, template_id, bindings,
                       start_at, pace_percent, pace_interval_minutes, attendance, attendance_hours,
                       window_start, window_end, time_zone, max_failure_percent, created_at, updated_at)
VALUES (sqlc.arg(account_id), sqlc.arg(id), sqlc.arg(name), sqlc.arg(channel_type), sqlc.arg(segment_id), sqlc.arg(filters), sqlc.arg(tags_any), sqlc.arg(tags_all), sqlc.arg(origins),
        sqlc.arg(channel_ids_filter), sqlc.narg('match_path'), sqlc.arg(explicit_consent), sqlc.arg(line_mode), sqlc.arg(sender_ids), sqlc.arg(template_id), sqlc.arg(bindings),
        sqlc.narg(start_time), sqlc.arg(pace_percent), sqlc.narg(interval_minutes), sqlc.arg(attendance_mode), sqlc.narg(att_hours),
        sqlc.arg(window_start), sqlc.arg(window_end), sqlc.arg(time_zone), sqlc.arg(max_failure_percent), sqlc.arg(now), sqlc.arg(now))
RETURNING id;

-- name: UpdateCampaign :execrows
-- Edits a campaign that has not started (draft or scheduled).
UPDATE campaigns SET name = sqlc.arg(name), channel_type = sqlc.arg(channel_type), segment_id = sqlc.arg(segment_id), filters = sqlc.arg(filters),
    tags_any = sqlc.arg(tags_any), tags_all = sqlc.arg(tags_all), origins = sqlc.arg(origins),
    channel_ids_filter = sqlc.arg(channel_ids_filter), match_path = sqlc.narg('match_path'),
    explicit_consent = sqlc.arg(explicit_consent), line_mode = sqlc.arg(line_mode), sender_ids = sqlc.arg(sender_ids), template_id = sqlc.arg(template_id),
    bindings = sqlc.arg(bindings), start_at = sqlc.narg(start_time), pace_percent = sqlc.arg(pace_percent),
    pace_interval_minutes = sqlc.narg(interval_minutes), attendance = sqlc.arg(attendance_mode),
    attendance_hours = sqlc.narg(att_hours), window_start = sqlc.arg(window_start), window_end = sqlc.arg(window_end),
    time_zone = sqlc.arg(time_zone), max_failure_percent = sqlc.arg(max_failure_percent), version = version + 1, updated_at = sqlc.arg(now)
WHERE account_id = sqlc.arg(account_id) AND id = sqlc.arg(id) AND status IN ('draft', 'scheduled');

-- name: GetCampaign :one
SELECT * FROM campaigns WHERE account_id = @account_id AND id = @id;

-- name: LockCampaign :one
-- The campaign a lifecycle change acts on, locked until it commits.
SELECT * FROM campaigns WHERE account_id = @account_id AND id = @id FOR UPDATE;

-- name: ListCampaigns :many
SELECT * FROM campaigns
WHERE account_id = @account_id
  AND (sqlc.narg('after')::uuid IS NULL OR id < sqlc.narg('after'))
  AND (sqlc.narg('status')::text IS NULL OR status = sqlc.narg('status'))
ORDER BY id DESC
LIMIT @lim;

-- name: DeleteDraftCampaign :execrows
DELETE FROM campaigns WHERE account_id = @account_id AND id = @id AND status = 'draft';

-- name: SetCampaignStatus :exec
-- Moves the lifecycle; what the start found (senders, warnings, alert, counts) is kept unless given.
UPDATE campaigns SET status = @status, reason = sqlc.narg('reason'),
    sender_ids = coalesce(sqlc.narg('sender_ids')::uuid[], sender_ids),
    warnings = coalesce(sqlc.narg('warnings')::text[], warnings),
    limit_alert = coalesce(sqlc.narg('limit_alert')::jsonb, limit_alert),
    recipients = coalesce(sqlc.narg('recipients')::integer, recipients),
    exclusions = coalesce(sqlc.narg('exclusions')::jsonb, exclusions),
    job_id = sqlc.narg('job_id'),
    started_at = coalesce(sqlc.narg('started_at')::timestamptz, started_at),
    finished_at = sqlc.narg('finished_at'),
    pause_reason = NULL,
    version = version + 1, updated_at = @now
WHERE account_id = @account_id AND id = @id;

-- name: CampaignRefs :one
-- Whether the segment and the template a campaign names are the account's.
SELECT EXISTS (SELECT 1 FROM segments s WHERE s.account_id = @account_id AND s.id = @segment_id)::boolean AS segment_ok,
       EXISTS (SELECT 1 FROM templates t WHERE t.account_id = @account_id AND t.id = @template_id AND t.deleted_at IS NULL)::boolean AS template_ok;

-- name: CampaignLines :many
-- Lines a campaign may send on: the given ids (explicit), or, when none are given, the
-- segment's lines; only the account's lines of the channel type.
SELECT ch.id, ch.name, ch.active, ch.line_kind, ch.quality_rating, ch.messaging_limit, ch.throughput_mps
FROM channels ch
WHERE ch.account_id = @account_id AND ch.type = @channel_type
  AND (CASE WHEN cardinality(@ids::uuid[]) > 0 THEN ch.id = ANY(@ids::uuid[])
            ELSE EXISTS (SELECT 1 FROM channel_segments cs WHERE cs.account_id = ch.account_id AND cs.channel_id = ch.id AND cs.segment_id = @segment_id) END)
ORDER BY ch.id;

-- name: FreezeCampaignAudience :many
-- The audience frozen in one statement: the segment's members (static or by its rules) within
-- the campaign's filters, each either inserted as a pending recipient or left out for the
-- first reason that applies, in this order: filters, blocked, broadcast_off, no_consent,
-- no_phone, in_attendance. Returns the count per reason (an empty one for the recipients).
WITH cp AS (
    SELECT c.account_id, c.id, c.channel_type, c.explicit_consent, c.tags_any, c.tags_all,
           c.origins, c.channel_ids_filter, c.match_path,
           s.id AS segment_id, s.has_rules, s.tags_any AS s_tags_any, s.tags_all AS s_tags_all, s.origins AS s_origins,
           s.channel_ids AS s_channel_ids, s.match_path AS s_match_path
    FROM campaigns c JOIN segments s ON s.account_id = c.account_id AND s.id = c.segment_id
    WHERE c.account_id = @account_id AND c.id = @campaign_id
), served AS (
    SELECT DISTINCT cv.contact_id
    FROM attendances a JOIN conversations cv ON cv.account_id = a.account_id AND cv.id = a.conversation_id
    WHERE a.account_id = @account_id AND sqlc.narg(served_since)::timestamptz IS NOT NULL
      AND (a.closed_at IS NULL OR a.closed_at >= sqlc.narg(served_since)::timestamptz)
), first_phone AS MATERIALIZED (
    -- The contact's first phone: position 1 almost always, so the lookup for an earlier one
    -- runs only for the rare phone stored at a later position.
    SELECT p.contact_id, p.phone FROM contact_phones p
    WHERE p.account_id = @account_id
      AND (p.position = 1 OR NOT EXISTS (SELECT 1 FROM contact_phones q
                                         WHERE q.account_id = p.account_id AND q.contact_id = p.contact_id AND q.position < p.position))
), consented AS (
    SELECT st.contact_id FROM cp, consent_state st
    WHERE st.account_id = @account_id AND st.purpose = 'marketing' AND st.channel = cp.channel_type AND st.status = 'granted'
      AND (st.explicit OR NOT cp.explicit_consent)
), audience AS MATERIALIZED (
    SELECT k.id, fp.phone,
           CASE
               WHEN NOT (
                    (cardinality(cp.tags_any) = 0 OR k.tags && cp.tags_any)
                    AND (cardinality(cp.tags_all) = 0 OR k.tags @> cp.tags_all)
                    AND (cardinality(cp.origins) = 0 OR k.origin = ANY(cp.origins))
                    AND (cardinality(cp.channel_ids_filter) = 0 OR k.origin_channel_id = ANY(cp.channel_ids_filter))
                    AND (cp.match_path IS NULL OR k.custom @@ cp.match_path::jsonpath)) THEN 'filters'
               WHEN k.blocked THEN 'blocked'
               WHEN NOT k.broadcast THEN 'broadcast_off'
               WHEN cs.contact_id IS NULL THEN 'no_consent'
               WHEN fp.phone IS NULL THEN 'no_phone'
               WHEN sv.contact_id IS NOT NULL THEN 'in_attendance'
               ELSE ''
           END AS reason
    FROM cp
    JOIN contacts k ON k.account_id = cp.account_id
    LEFT JOIN first_phone fp ON fp.contact_id = k.id
    LEFT JOIN consented cs ON cs.contact_id = k.id
    LEFT JOIN served sv ON sv.contact_id = k.id
    WHERE k.account_id = @account_id AND (
        EXISTS (SELECT 1 FROM segment_members m WHERE m.account_id = k.account_id AND m.segment_id = cp.segment_id AND m.contact_id = k.id)
        OR (cp.has_rules
            AND (cardinality(cp.s_tags_any) = 0 OR k.tags && cp.s_tags_any)
            AND (cardinality(cp.s_tags_all) = 0 OR k.tags @> cp.s_tags_all)
            AND (cardinality(cp.s_origins) = 0 OR k.origin = ANY(cp.s_origins))
            AND (cardinality(cp.s_channel_ids) = 0 OR k.origin_channel_id = ANY(cp.s_channel_ids))
            AND (cp.s_match_path IS NULL OR k.custom @@ cp.s_match_path)))
), ins AS (
    INSERT INTO campaign_recipients (account_id, campaign_id, contact_id, phone, requested_at)
    SELECT @account_id, @campaign_id, a.id, a.phone, @now FROM audience a WHERE a.reason = ''
)
SELECT a.reason::text AS reason, count(*) AS n FROM audience a GROUP BY a.reason;

