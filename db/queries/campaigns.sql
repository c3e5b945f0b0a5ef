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

-- name: CampaignAudience :many
-- A campaign's audience as the freeze takes it: every member of the segment (static, or by its
-- rules), with its first phone and the first reason that leaves it out, in this order: filters,
-- blocked, broadcast_off, no_consent, no_phone, in_attendance ('' for a recipient). The freeze
-- streams these rows into campaign_recipients by COPY and counts the reasons as they pass;
-- scheduling a campaign counts its recipients (a count over this text) for the limit alert.
-- The segment's rules and the campaign's filters come in as parameters, so each run is planned
-- for them: an empty filter folds away at planning instead of being tested on every contact.
-- served_since is NULL when contacts in attendance are included (the served join is empty).
SELECT k.id AS contact_id,
       coalesce(fp.phone,
                -- The rare contact without a phone at position 1 (a number taken by another
                -- contact, a merge): its earliest one.
                (SELECT p.phone FROM contact_phones p WHERE p.account_id = k.account_id AND p.contact_id = k.id
                 ORDER BY p.position LIMIT 1), '')::text AS phone,
       (CASE
            WHEN NOT ((cardinality(@tags_any::text[]) = 0 OR k.tags && @tags_any::text[])
                      AND (cardinality(@tags_all::text[]) = 0 OR k.tags @> @tags_all::text[])
                      AND (cardinality(@origins::text[]) = 0 OR k.origin = ANY(@origins::text[]))
                      AND (cardinality(@channel_ids::uuid[]) = 0 OR k.origin_channel_id = ANY(@channel_ids::uuid[]))
                      AND (sqlc.narg('match_path')::text IS NULL OR k.custom @@ sqlc.narg('match_path')::text::jsonpath)) THEN 'filters'
            WHEN k.blocked THEN 'blocked'
            WHEN NOT k.broadcast THEN 'broadcast_off'
            WHEN st.contact_id IS NULL THEN 'no_consent'
            WHEN fp.phone IS NULL AND NOT EXISTS (SELECT 1 FROM contact_phones p WHERE p.account_id = k.account_id AND p.contact_id = k.id) THEN 'no_phone'
            WHEN sv.contact_id IS NOT NULL THEN 'in_attendance'
            ELSE ''
        END)::text AS reason
FROM contacts k
-- The consents and first phones come from subqueries ordered by contact, which their indexes
-- return in that order: the merge joins then stream from the first row instead of sorting a
-- million rows of each first (join conditions on the nullable side of a LEFT JOIN do not let
-- the planner use an index's order), so the freeze's COPY starts writing at once.
LEFT JOIN (SELECT s.contact_id FROM consent_state s
           WHERE s.account_id = @account_id AND s.purpose = 'marketing' AND s.channel = @channel_type AND s.status = 'granted'
             AND (s.explicit OR NOT @explicit_consent::bool)
           ORDER BY s.contact_id) st ON st.contact_id = k.id
LEFT JOIN (SELECT f.contact_id, f.phone FROM contact_phones f
           WHERE f.account_id = @account_id AND f.position = 1
           ORDER BY f.contact_id) fp ON fp.contact_id = k.id
LEFT JOIN (SELECT DISTINCT cv.contact_id
           FROM attendances a JOIN conversations cv ON cv.account_id = a.account_id AND cv.id = a.conversation_id
           WHERE a.account_id = @account_id AND sqlc.narg('served_since')::timestamptz IS NOT NULL
             AND (a.closed_at IS NULL OR a.closed_at >= sqlc.narg('served_since')::timestamptz)) sv ON sv.contact_id = k.id
WHERE k.account_id = @account_id AND (
    EXISTS (SELECT 1 FROM segment_members m WHERE m.account_id = k.account_id AND m.segment_id = @segment_id AND m.contact_id = k.id)
    OR (@has_rules::bool
        AND (cardinality(@s_tags_any::text[]) = 0 OR k.tags && @s_tags_any::text[])
        AND (cardinality(@s_tags_all::text[]) = 0 OR k.tags @> @s_tags_all::text[])
        AND (cardinality(@s_origins::text[]) = 0 OR k.origin = ANY(@s_origins::text[]))
        AND (cardinality(@s_channel_ids::uuid[]) = 0 OR k.origin_channel_id = ANY(@s_channel_ids::uuid[]))
        AND (sqlc.narg('s_match_path')::text IS NULL OR k.custom @@ sqlc.narg('s_match_path')::text::jsonpath)))
ORDER BY k.id;
