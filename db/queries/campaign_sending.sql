-- name: SetCampaignRelease :exec
-- The pace released another stage: released recipients may now be claimed.
UPDATE campaigns SET released = @released, next_release_at = sqlc.narg('next_release_at')
WHERE account_id = @account_id AND id = @id;

-- name: ExpireCampaignClaims :execrows
-- Claims whose lease has passed belong to senders that died mid-slice: their recipients still
-- sending become unknown (the send may have reached the provider; it is never repeated). With
-- a campaign, that campaign's (its senders, under its row lock); without, every campaign's
-- (the sweep: a cancelled or paused campaign has no sender to do it).
WITH gone AS (
    -- A claim whose record is running (it deletes the claim first) is skipped: it settles
    -- its recipients itself.
    DELETE FROM campaign_claims d
    WHERE (d.account_id, d.campaign_id, d.id) IN (
        SELECT x.account_id, x.campaign_id, x.id FROM campaign_claims x
        WHERE (sqlc.narg(campaign_id)::uuid IS NULL OR x.account_id = sqlc.narg(account_id) AND x.campaign_id = sqlc.narg(campaign_id))
          AND x.lease_until < @now
        -- A bounded bite: after an outage the next call takes the rest.
        LIMIT 100
        FOR UPDATE SKIP LOCKED)
    RETURNING d.account_id, d.campaign_id, d.contact_ids
)
UPDATE campaign_recipients r
SET state = 'unknown', reason = 'the sender stopped before recording the outcome; not sent again'
FROM (SELECT g.account_id, g.campaign_id, unnest(g.contact_ids) AS contact_id FROM gone g) AS g
WHERE r.account_id = g.account_id AND r.campaign_id = g.campaign_id AND r.contact_id = g.contact_id AND r.state = 'sending';

-- name: CampaignClaimsInFlight :one
SELECT count(*) AS n, min(lease_until)::timestamptz AS first_expiry FROM campaign_claims
WHERE account_id = @account_id AND campaign_id = @campaign_id;

-- name: ClaimCampaignRecipients :many
-- The next pending recipients after the pass's cursor, in contact order (a range of the
-- primary key: no claim rescans what an earlier one took), taken for sending on the line.
-- Claims of one campaign are serialised by its row lock.
WITH next AS (
    SELECT p.contact_id FROM campaign_recipients p
    WHERE p.account_id = @account_id AND p.campaign_id = @campaign_id AND p.contact_id > @after AND p.state = 'pending'
      -- One put back after a refusal waits before its next try: 6 s (WhatsApp's pair rate
      -- limit, one message per 6 s to the same user), four times longer each time, at most an hour.
      AND (p.attempts = 0 OR p.claimed_at < sqlc.arg(now)::timestamptz - least(6 * power(4, p.attempts - 1), 3600) * interval '1 second')
    ORDER BY p.contact_id
    LIMIT @lim
)
UPDATE campaign_recipients r SET state = 'sending', channel_id = @channel_id, claimed_at = @now
FROM next
WHERE r.account_id = @account_id AND r.campaign_id = @campaign_id AND r.contact_id = next.contact_id
RETURNING r.contact_id, r.phone, r.attempts;

-- name: ClaimCampaignRetries :many
-- After the first pass over the audience: the recipients put back after a refusal whose wait is
-- over (6 s, four times longer each time, at most an hour), by the partial index that holds
-- only them, so the tail of a campaign never rescans the whole audience.
WITH next AS (
    SELECT p.contact_id FROM campaign_recipients p
    WHERE p.account_id = @account_id AND p.campaign_id = @campaign_id AND p.state = 'pending' AND p.attempts > 0
      AND p.claimed_at < sqlc.arg(now)::timestamptz - least(6 * power(4, p.attempts - 1), 3600) * interval '1 second'
    ORDER BY p.contact_id
    LIMIT @lim
)
UPDATE campaign_recipients r SET state = 'sending', channel_id = @channel_id, claimed_at = @now
FROM next
WHERE r.account_id = @account_id AND r.campaign_id = @campaign_id AND r.contact_id = next.contact_id
RETURNING r.contact_id, r.phone, r.attempts;

-- name: InsertCampaignClaim :exec
INSERT INTO campaign_claims (account_id, campaign_id, id, channel_id, contact_ids, lease_until)
VALUES (@account_id, @campaign_id, @id, @channel_id, @contact_ids, @lease_until);

-- name: AdvanceCampaignClaims :exec
-- Counts what a claim took (or, negative, what a record put back) and moves the pass's cursor.
UPDATE campaigns SET dispatched = dispatched + @taken, claim_cursor = sqlc.narg('cursor')
WHERE account_id = @account_id AND id = @id;

-- name: CampaignSliceContacts :many
-- The claimed recipients' contacts, to render the template for each.
SELECT * FROM contacts WHERE account_id = @account_id AND id = ANY(@ids::uuid[]);

-- name: DeleteCampaignClaim :execrows
DELETE FROM campaign_claims WHERE account_id = @account_id AND campaign_id = @campaign_id AND id = @id;

-- name: RecordCampaignSends :execrows
-- A slice's outcomes: sent (with the provider's id), failed (code and reason), unknown (the
-- call's outcome is not known: timed out), or pending again (a refusal that is safe to retry:
-- the provider did not take it). A recipient already marked unknown by a lease that ran out
-- still takes its real outcome.
UPDATE campaign_recipients r SET
    state = u.state,
    provider_message_id = nullif(u.provider_id, ''),
    message_text = u.text,
    sent_at = CASE WHEN u.state = 'sent' THEN u.at END,
    failed_at = CASE WHEN u.state = 'failed' THEN u.at END,
    code = nullif(u.code, ''),
    reason = nullif(u.reason, ''),
    attempts = r.attempts + CASE WHEN u.state = 'pending' THEN 1 ELSE 0 END
FROM (SELECT unnest(@contact_ids::uuid[]) AS contact_id, unnest(@states::text[]) AS state, unnest(@provider_ids::text[]) AS provider_id,
             unnest(@texts::text[]) AS text, unnest(@ats::timestamptz[]) AS at, unnest(@codes::text[]) AS code,
             unnest(@reasons::text[]) AS reason) AS u
WHERE r.account_id = @account_id AND r.campaign_id = @campaign_id AND r.contact_id = u.contact_id
  AND r.state IN ('sending', 'unknown');

-- name: ApplyCampaignStatuses :many
-- Status reports on campaign sends, by the provider's id: a recipient only moves forward (sent,
-- delivered, read, replied; failed only from sent), whatever order the reports come in.
UPDATE campaign_recipients r SET
    state = CASE WHEN r.state = 'replied' THEN r.state ELSE u.status END,
    delivered_at = CASE WHEN u.status IN ('delivered', 'read') THEN coalesce(r.delivered_at, u.at) ELSE r.delivered_at END,
    read_at = CASE WHEN u.status = 'read' THEN coalesce(r.read_at, u.at) ELSE r.read_at END,
    failed_at = CASE WHEN u.status = 'failed' THEN u.at ELSE r.failed_at END,
    code = CASE WHEN u.status = 'failed' THEN nullif(u.code, '') ELSE r.code END,
    reason = CASE WHEN u.status = 'failed' THEN nullif(u.reason, '') ELSE r.reason END
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@provider_ids::text[]) AS provider_id,
             unnest(@statuses::text[]) AS status, unnest(@ats::timestamptz[]) AS at, unnest(@codes::text[]) AS code,
             unnest(@reasons::text[]) AS reason) AS u
WHERE r.account_id = u.account_id AND r.provider_message_id = u.provider_id
  AND CASE WHEN u.status = 'failed' THEN r.state = 'sent'
           WHEN r.state = 'replied' THEN (u.status = 'delivered' AND r.delivered_at IS NULL) OR (u.status = 'read' AND r.read_at IS NULL)
           ELSE array_position(ARRAY['sent', 'delivered', 'read'], u.status) > coalesce(array_position(ARRAY['sent', 'delivered', 'read'], r.state), 0)
                AND r.state IN ('sent', 'delivered', 'read') END
RETURNING r.account_id, r.campaign_id, r.contact_id, r.state;

-- name: ShiftCampaignTallies :exec
-- Sends the provider reported failed after accepting them move from the sent tally to the
-- failed one (the automatic pause reads them).
UPDATE campaigns c SET sends_ok = c.sends_ok - u.n, sends_failed = c.sends_failed + u.n
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@campaign_ids::uuid[]) AS campaign_id, unnest(@ns::integer[]) AS n) AS u
WHERE c.account_id = u.account_id AND c.id = u.campaign_id;

-- name: LinkCampaignReplies :many
-- Contacts' replies within the attribution window after a campaign send on the same line: the
-- latest such send is marked replied (its first reply), and the reply's message and its
-- conversation are linked to the campaign (the conversations' campaign filter finds them).
WITH u AS (
    SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@contact_ids::uuid[]) AS contact_id,
           unnest(@channel_ids::uuid[]) AS channel_id, unnest(@conversation_ids::uuid[]) AS conversation_id,
           unnest(@message_ids::uuid[]) AS message_id, unnest(@ats::timestamptz[]) AS at
), hit AS (
    SELECT DISTINCT ON (u.message_id) u.*, r.campaign_id
    FROM u JOIN campaign_recipients r
      ON r.account_id = u.account_id AND r.contact_id = u.contact_id AND r.sent_at IS NOT NULL
     AND r.sent_at <= u.at AND r.sent_at > u.at - make_interval(secs => @window_seconds::float8) AND r.channel_id = u.channel_id
    ORDER BY u.message_id, r.sent_at DESC
), rec AS (
    UPDATE campaign_recipients r SET state = 'replied', replied_at = h.at
    FROM hit h
    WHERE r.account_id = h.account_id AND r.campaign_id = h.campaign_id AND r.contact_id = h.contact_id
      AND r.replied_at IS NULL AND r.state IN ('sent', 'delivered', 'read')
    RETURNING r.account_id, r.campaign_id, r.contact_id, r.replied_at, r.channel_id, r.message_text, r.provider_message_id,
              r.sent_at, r.delivered_at, r.read_at
), shown AS (
    -- The campaign's message joins the conversation the contact replied in, at its send time
    -- (a UUIDv7 of that time, so it sorts before the reply), so the agent sees what the reply
    -- answers. Only for the first reply: a campaign send lives in campaign_recipients otherwise.
    INSERT INTO messages (account_id, id, conversation_id, channel_id, direction, kind, text, template_id, provider_message_id,
                          status, status_at, campaign_id, created_at)
    SELECT rec.account_id,
           encode(overlay(set_byte(uuid_send(gen_random_uuid()), 6, (get_byte(uuid_send(gen_random_uuid()), 6) & 15) | 112)
                          placing substring(int8send((extract(epoch FROM rec.sent_at) * 1000)::bigint) FROM 3) FROM 1 FOR 6), 'hex')::uuid,
           h.conversation_id, rec.channel_id, 'outbound', 'template', coalesce(rec.message_text, ''), c.template_id, rec.provider_message_id,
           CASE WHEN rec.read_at IS NOT NULL THEN 'read' WHEN rec.delivered_at IS NOT NULL THEN 'delivered' ELSE 'sent' END,
           coalesce(rec.read_at, rec.delivered_at, rec.sent_at), rec.campaign_id, rec.sent_at
    FROM rec
    JOIN hit h ON h.account_id = rec.account_id AND h.campaign_id = rec.campaign_id AND h.contact_id = rec.contact_id
    JOIN campaigns c ON c.account_id = rec.account_id AND c.id = rec.campaign_id
    ON CONFLICT DO NOTHING
), msg AS (
    UPDATE messages m SET campaign_id = h.campaign_id
    FROM hit h WHERE m.account_id = h.account_id AND m.id = h.message_id
), conv AS (
    UPDATE conversations c SET last_campaign_id = h.campaign_id
    FROM hit h WHERE c.account_id = h.account_id AND c.id = h.conversation_id
)
SELECT rec.account_id, rec.campaign_id, rec.contact_id, rec.replied_at FROM rec;

-- name: CompleteCampaign :execrows
-- Every recipient has been claimed and every claim recorded: the campaign is done.
UPDATE campaigns cp SET status = 'completed', finished_at = @now, version = cp.version + 1, updated_at = @now
WHERE cp.account_id = @account_id AND cp.id = @id AND cp.status = 'running'
  AND cp.dispatched >= coalesce(cp.recipients, 0) AND cp.released >= coalesce(cp.recipients, 0)
  AND NOT EXISTS (SELECT 1 FROM campaign_claims c WHERE c.account_id = cp.account_id AND c.campaign_id = cp.id);

-- name: RunningCampaigns :many
-- Running campaigns with lines, for the leader's sweep that keeps their senders going.
SELECT account_id, id, sender_ids FROM campaigns WHERE status = 'running';

-- name: AutoPauseCampaign :exec
UPDATE campaigns SET status = 'paused', pause_reason = @reason, version = version + 1, updated_at = @now
WHERE account_id = @account_id AND id = @id AND status = 'running';

-- name: CountCampaignOutcomes :one
-- Adds a slice's outcomes to the campaign's tallies; returns them, and those since the last
-- resume, for the automatic pause.
UPDATE campaigns SET sends_ok = sends_ok + @ok, sends_failed = sends_failed + @failed, dispatched = dispatched - @put_back
WHERE account_id = @account_id AND id = @id
RETURNING sends_ok, sends_failed, (sends_ok - failure_base_ok)::integer AS recent_ok,
          (sends_failed - failure_base_failed)::integer AS recent_failed, max_failure_percent, status;

-- name: SetFailureBase :exec
-- A resume: the failure rate is judged again from here.
UPDATE campaigns SET failure_base_ok = sends_ok, failure_base_failed = sends_failed
WHERE account_id = @account_id AND id = @id;

-- name: LiveRetryRun :one
-- A retry run of the campaign that may still send, or has (draft, scheduled, running, paused,
-- completed): another retry of the same campaign would send to the same failures again.
SELECT id, status FROM campaigns
WHERE account_id = @account_id AND retry_of = @campaign_id AND status NOT IN ('cancelled', 'failed')
ORDER BY created_at LIMIT 1;

-- name: CopyCampaignForRetry :one
-- A retry run: a draft with the campaign's settings that will send to its failed recipients.
INSERT INTO campaigns (account_id, id, name, channel_type, segment_id, filters, tags_any, tags_all, origins, channel_ids_filter,
                       match_path, explicit_consent, line_mode, sender_ids, template_id, bindings, pace_percent, pace_interval_minutes,
                       attendance, attendance_hours, window_start, window_end, time_zone, max_failure_percent, retry_of, created_at, updated_at)
SELECT c.account_id, @new_id, left(c.name || ' (retry)', 200), c.channel_type, c.segment_id, c.filters, c.tags_any, c.tags_all, c.origins,
       c.channel_ids_filter, c.match_path, c.explicit_consent, c.line_mode,
       CASE WHEN c.line_mode = 'explicit' THEN c.sender_ids ELSE '{}' END, c.template_id, c.bindings, c.pace_percent, c.pace_interval_minutes,
       c.attendance, c.attendance_hours, c.window_start, c.window_end, c.time_zone, c.max_failure_percent, c.id, @now, @now
FROM campaigns c WHERE c.account_id = @account_id AND c.id = @id
RETURNING id;

-- name: CountFailedRecipients :one
SELECT count(*) FROM campaign_recipients WHERE account_id = @account_id AND campaign_id = @campaign_id AND state = 'failed';

-- name: FreezeRetryAudience :many
-- A retry run's audience: the failed recipients of the campaign it retries, checked again
-- (blocked, broadcasts off, consent, in attendance) and counted by reason like a freeze; the
-- address is the one the failed send used. Contacts deleted since are left out.
WITH cp AS (
    SELECT c.account_id, c.id, c.channel_type, c.explicit_consent, c.retry_of FROM campaigns c
    WHERE c.account_id = @account_id AND c.id = @campaign_id
), served AS (
    SELECT DISTINCT cv.contact_id
    FROM attendances a JOIN conversations cv ON cv.account_id = a.account_id AND cv.id = a.conversation_id
    WHERE a.account_id = @account_id AND sqlc.narg(served_since)::timestamptz IS NOT NULL
      AND (a.closed_at IS NULL OR a.closed_at >= sqlc.narg(served_since)::timestamptz)
), audience AS MATERIALIZED (
    SELECT r.contact_id AS id, r.phone,
           CASE
               WHEN k.blocked THEN 'blocked'
               WHEN NOT k.broadcast THEN 'broadcast_off'
               WHEN NOT EXISTS (SELECT 1 FROM consent_state st
                                WHERE st.account_id = cp.account_id AND st.contact_id = k.id AND st.purpose = 'marketing'
                                  AND st.channel = cp.channel_type AND st.status = 'granted' AND (st.explicit OR NOT cp.explicit_consent)) THEN 'no_consent'
               WHEN sv.contact_id IS NOT NULL THEN 'in_attendance'
               ELSE ''
           END AS reason
    FROM cp
    JOIN campaign_recipients r ON r.account_id = cp.account_id AND r.campaign_id = cp.retry_of AND r.state = 'failed'
    JOIN contacts k ON k.account_id = r.account_id AND k.id = r.contact_id
    LEFT JOIN served sv ON sv.contact_id = k.id
    -- An earlier retry run of the same campaign (cancelled or failed: a live one refuses the
    -- retry) that reached the contact, or may have, took its turn: never twice.
    WHERE NOT EXISTS (SELECT 1 FROM campaigns o
                      JOIN campaign_recipients x ON x.account_id = o.account_id AND x.campaign_id = o.id AND x.contact_id = r.contact_id
                      WHERE o.account_id = cp.account_id AND o.retry_of = cp.retry_of AND o.id <> cp.id
                        AND x.state NOT IN ('pending', 'failed'))
), ins AS (
    INSERT INTO campaign_recipients (account_id, campaign_id, contact_id, phone, requested_at)
    SELECT @account_id, @campaign_id, a.id, a.phone, @now FROM audience a WHERE a.reason = ''
)
SELECT a.reason::text AS reason, count(*) AS n FROM audience a GROUP BY a.reason;

-- name: ListCampaignRecipients :many
-- A campaign's recipients in contact order (its primary key), after a cursor, in one state
-- when asked, with the contact's name as it is now.
SELECT r.contact_id, k.name, r.phone, r.state, r.channel_id, r.provider_message_id, r.code, r.reason,
       r.requested_at, r.sent_at, r.delivered_at, r.read_at, r.failed_at, r.replied_at
FROM campaign_recipients r
LEFT JOIN contacts k ON k.account_id = r.account_id AND k.id = r.contact_id
WHERE r.account_id = @account_id AND r.campaign_id = @campaign_id
  AND r.contact_id > @after
  AND (sqlc.narg('state')::text IS NULL OR r.state = sqlc.narg('state'))
ORDER BY r.contact_id
LIMIT @lim;

-- name: CountActiveLines :one
-- How many of a campaign's sender lines still exist and are active.
SELECT count(*) FROM channels WHERE account_id = @account_id AND id = ANY(@ids::uuid[]) AND active;
