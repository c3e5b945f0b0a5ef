-- name: SendTarget :one
-- Everything the send path checks, in one round trip: the contact (found by id, customer code
-- or phone), its first phone and e-mail, the channel, and the conversation on that channel if
-- there is one. No row: the contact is not in the account.
SELECT c.id AS contact_id, c.blocked,
       coalesce((SELECT p.phone FROM contact_phones p WHERE p.account_id = c.account_id AND p.contact_id = c.id
                 ORDER BY p.position LIMIT 1), '')::text AS first_phone,
       coalesce(c.email, '')::text AS email,
       ch.id AS channel_id, ch.type AS channel_type, ch.active AS channel_active,
       cv.id AS conversation_id, cv.address AS conversation_address,
       cv.service_expires_at, cv.category_sessions
FROM contacts c
LEFT JOIN channels ch ON ch.account_id = c.account_id AND ch.id = @channel_id
LEFT JOIN conversations cv ON cv.account_id = c.account_id AND cv.contact_id = c.id AND cv.channel_id = @channel_id
WHERE c.account_id = @account_id
  AND c.id = coalesce(sqlc.narg(contact_id)::uuid,
                      (SELECT x.id FROM contacts x WHERE x.account_id = @account_id AND x.customer_code = sqlc.narg(customer_code)::text),
                      (SELECT p.contact_id FROM contact_phones p WHERE p.account_id = @account_id AND p.phone = sqlc.narg(phone)::text));

-- name: ConversationTarget :one
-- The same for an agent's message in a conversation.
SELECT cv.contact_id, c.blocked, cv.channel_id, ch.type AS channel_type, ch.active AS channel_active,
       cv.id AS conversation_id, cv.address AS conversation_address, cv.service_expires_at, cv.category_sessions
FROM conversations cv
JOIN contacts c ON c.account_id = cv.account_id AND c.id = cv.contact_id
JOIN channels ch ON ch.account_id = cv.account_id AND ch.id = cv.channel_id
WHERE cv.account_id = @account_id AND cv.id = @id;

-- name: QueueMessage :one
-- Opens the contact's conversation on the channel if it has none and stores the message, in
-- one statement (one round trip, atomic on its own). The conversation's address is kept when
-- it exists. Returns the conversation the message went to.
WITH cv AS (
    INSERT INTO conversations (account_id, id, contact_id, channel_id, address, created_at, updated_at, last_message_at)
    VALUES (@account_id, @new_conversation_id, @contact_id, @channel_id, @address, @created_at, @created_at, @created_at)
    ON CONFLICT (account_id, contact_id, channel_id)
        DO UPDATE SET last_message_at = greatest(conversations.last_message_at, excluded.last_message_at),
                      updated_at = excluded.updated_at,
                      unanswered_since = CASE WHEN @direction::text = 'outbound' THEN NULL ELSE conversations.unanswered_since END
    RETURNING id, address
)
INSERT INTO messages (account_id, id, conversation_id, channel_id, direction, kind, text, payload,
                      template_id, template_category, status, status_at, send_after, sent_by_user_id,
                      api_key_id, created_at, to_address)
SELECT @account_id, @id, cv.id, @channel_id, @direction, @kind, @text, @payload,
       sqlc.narg(template_id), sqlc.narg(template_category), sqlc.narg(status), sqlc.narg(status_at),
       sqlc.narg(send_after), sqlc.narg(sent_by_user_id), sqlc.narg(api_key_id), @created_at, cv.address
FROM cv
RETURNING conversation_id;

-- name: InsertSystemNotes :exec
-- System notes (never sent) in the conversations of the given messages: what a dispatcher
-- leaves when it cannot send a message and people should see why.
INSERT INTO messages (account_id, id, conversation_id, channel_id, direction, kind, text, created_at)
SELECT m.account_id, u.note_id, m.conversation_id, m.channel_id, 'internal', 'system', u.text, @created_at
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@message_ids::uuid[]) AS message_id, unnest(@note_ids::uuid[]) AS note_id, unnest(@texts::text[]) AS text) AS u
JOIN messages m ON m.account_id = u.account_id AND m.id = u.message_id;

-- name: EnsureSendSlots :exec
-- A line's bucket, created when its first message is dispatched.
INSERT INTO channel_send_slots (account_id, channel_id, tokens, refilled_at)
SELECT ch.account_id, ch.id, @tokens, @now FROM channels ch WHERE ch.id = @channel_id
ON CONFLICT (channel_id) DO NOTHING;

-- name: LockSendSlots :one
-- The line's bucket, locked until the claim's transaction ends: dispatchers of one line in
-- any process take turns here. Also says whether the line's account has paid sends stopped.
SELECT s.account_id, s.tokens, s.refilled_at, s.backoff_until, s.backoffs, ch.throughput_mps, ch.type, ch.provider, ch.active, ch.quality_rating,
       EXISTS (SELECT 1 FROM paid_send_stops p WHERE p.account_id = s.account_id) AS paid_stopped
FROM channel_send_slots s
JOIN channels ch ON ch.account_id = s.account_id AND ch.id = s.channel_id
WHERE s.channel_id = @channel_id
FOR UPDATE OF s;

-- name: SetSendSlots :exec
UPDATE channel_send_slots SET tokens = @tokens, refilled_at = @refilled_at WHERE channel_id = @channel_id;

-- name: BackOffLine :exec
-- The provider said the line is over its throughput: stop it until @backoff_until (longer each
-- time it happens again before a send succeeds; internal/send computes it from backoffs).
UPDATE channel_send_slots SET backoff_until = @backoff_until, backoffs = backoffs + 1, tokens = 0, refilled_at = @now
WHERE channel_id = @channel_id;

-- name: ClearLineBackOff :exec
UPDATE channel_send_slots SET backoffs = 0, backoff_until = NULL WHERE channel_id = @channel_id AND backoffs > 0;

-- name: ReleaseExpiredClaims :exec
-- The line's claims whose lease ran out (their dispatcher died mid-batch, after its sends or
-- before them): deleted, and the attempt each made counted on its messages still queued. The
-- claim after this takes those messages again; a provider that dedupes by our reference sees
-- the same one.
WITH gone AS (
    DELETE FROM message_claims c
    WHERE c.account_id = @account_id AND c.channel_id = @channel_id AND c.lease_until <= @now
    RETURNING c.message_ids
), tried AS (
    SELECT u.id, count(*)::integer AS n FROM gone g CROSS JOIN LATERAL unnest(g.message_ids) AS u(id) GROUP BY u.id
)
UPDATE messages m SET attempts = m.attempts + t.n
FROM tried t
WHERE m.account_id = @account_id AND m.id = t.id AND m.status IS NOT DISTINCT FROM 'queued'; -- not messages_due: see RecordSent

-- name: ClaimDueMessages :many
-- Claims up to @batch due messages of the line (the messages_due index) for one batch: the
-- claim is a message_claims row holding their ids until @lease_until, and the messages
-- themselves are not written (00034). Messages held by another live claim of the line are
-- skipped; claims of one line are serialised by its bucket row (LockSendSlots, in the same
-- transaction), so no two live claims share a message. attempts counts this one. With
-- @skip_templates (paid sends stopped) template messages stay queued.
WITH held AS (
    SELECT unnest(c.message_ids) AS id FROM message_claims c
    WHERE c.account_id = @account_id AND c.channel_id = @channel_id AND c.lease_until > @now
), due AS (
    SELECT m.account_id, m.id, m.conversation_id, m.kind, m.text, m.payload, m.to_address, m.attempts + 1 AS attempts,
           m.template_id, m.template_category, m.error_code, m.engagement_retried
    FROM messages m
    WHERE m.channel_id = @channel_id AND m.status = 'queued' AND m.send_after <= @now AND m.account_id = @account_id
      AND NOT (@skip_templates::boolean AND m.kind = 'template')
      AND m.id NOT IN (SELECT h.id FROM held h)
    ORDER BY m.send_after
    LIMIT @batch
), claim AS (
    INSERT INTO message_claims (account_id, channel_id, id, message_ids, lease_until)
    SELECT @account_id, @channel_id, @claim_id, array_agg(d.id), @lease_until FROM due d
    HAVING count(*) > 0
)
SELECT d.account_id, d.id, d.conversation_id, d.kind, d.text, d.payload, d.to_address, d.attempts::integer AS attempts,
       d.template_id, d.template_category, d.error_code, d.engagement_retried,
       (d.template_id IS NOT NULL AND NOT EXISTS (
           SELECT 1 FROM templates t WHERE t.account_id = d.account_id AND t.id = d.template_id AND t.deleted_at IS NULL
       ))::boolean AS template_gone
FROM due d;

-- name: DeleteMessageClaim :exec
-- A batch's outcomes are recorded: its claim ends with them, in the same transaction.
DELETE FROM message_claims WHERE account_id = @account_id AND channel_id = @channel_id AND id = @id;

-- name: LockLineStatuses :exec
-- Serialises a dispatcher storing provider ids with a drain applying status updates of the
-- same line (shared by drains, exclusive here), so a status that arrives while its message's
-- provider id is being stored is either applied by the drain or found again by the dispatcher.
SELECT pg_advisory_xact_lock(hashtextextended(@line::text, 6));

-- name: LockLinesShared :exec
SELECT pg_advisory_xact_lock_shared(hashtextextended(u.line, 6))
FROM (SELECT unnest(@lines::text[]) AS line) AS u ORDER BY u.line;

-- name: RecordSent :many
-- Messages the provider accepted: sent, with the provider's id. This and the two below count
-- the attempt the batch made (its claim did not write the messages). They find each message by
-- its primary key. Their "still queued" test is written IS NOT DISTINCT FROM so that it does not
-- match the messages_due index's predicate: with status = 'queued' the planner may read every
-- queued message through that index into a hash table for each batch (its statistics, taken
-- when the queue was short, promise a handful), which cost ~400 ms a batch with 200 000 queued.
UPDATE messages m SET status = 'sent', status_at = u.at, provider_message_id = u.provider_id, send_after = NULL,
       error_code = NULL, error_reason = NULL, attempts = m.attempts + 1
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id, unnest(@provider_ids::text[]) AS provider_id, unnest(@ats::timestamptz[]) AS at) AS u
WHERE m.account_id = u.account_id AND m.id = u.id AND m.status IS NOT DISTINCT FROM 'queued'
RETURNING m.account_id, m.id, m.conversation_id, m.channel_id, m.provider_message_id, m.template_category, m.status_at;

-- name: RecordFailed :many
-- Messages refused for good: failed, with the provider's code and a readable reason.
UPDATE messages m SET status = 'failed', status_at = u.at, send_after = NULL, error_code = u.code, error_reason = u.reason,
       attempts = m.attempts + 1
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id, unnest(@codes::text[]) AS code, unnest(@reasons::text[]) AS reason, unnest(@ats::timestamptz[]) AS at) AS u
WHERE m.account_id = u.account_id AND m.id = u.id AND m.status IS NOT DISTINCT FROM 'queued'
RETURNING m.account_id, m.id, m.conversation_id, m.channel_id, m.status_at, m.error_code, m.error_reason;

-- name: RecordRetry :exec
-- Messages to try again later: still queued, due at @send_after, the last refusal kept.
UPDATE messages m SET send_after = u.send_after, error_code = u.code, error_reason = u.reason,
       engagement_retried = m.engagement_retried OR u.engagement, attempts = m.attempts + 1
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id, unnest(@codes::text[]) AS code, unnest(@reasons::text[]) AS reason, unnest(@send_afters::timestamptz[]) AS send_after, unnest(@engagements::boolean[]) AS engagement) AS u
WHERE m.account_id = u.account_id AND m.id = u.id AND m.status IS NOT DISTINCT FROM 'queued';

-- name: ApplyStatuses :many
-- Status updates from webhooks, one row per message: a status only moves forward (queued,
-- sent, delivered, read; failed only from queued or sent, and final), whatever order the
-- reports come in. A 131049 failure not yet retried becomes a retry 24 hours after it.
UPDATE messages m SET
    status = CASE WHEN u.retry AND NOT m.engagement_retried THEN 'queued' ELSE u.status END,
    send_after = CASE WHEN u.retry AND NOT m.engagement_retried THEN u.at + interval '24 hours' ELSE NULL END,
    engagement_retried = m.engagement_retried OR u.retry,
    status_at = u.at,
    error_code = CASE WHEN u.status = 'failed' THEN u.code ELSE m.error_code END,
    error_reason = CASE WHEN u.status = 'failed' THEN u.reason ELSE m.error_reason END
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@channel_ids::uuid[]) AS channel_id, unnest(@provider_ids::text[]) AS provider_id, unnest(@statuses::text[]) AS status, unnest(@ats::timestamptz[]) AS at, unnest(@codes::text[]) AS code, unnest(@reasons::text[]) AS reason, unnest(@retries::boolean[]) AS retry) AS u
WHERE m.account_id = u.account_id AND m.channel_id = u.channel_id AND m.provider_message_id = u.provider_id
  AND m.status <> 'failed'
  AND CASE WHEN u.status = 'failed' THEN m.status IN ('queued', 'sent')
           ELSE array_position(ARRAY['queued', 'sent', 'delivered', 'read'], u.status)
                > array_position(ARRAY['queued', 'sent', 'delivered', 'read'], m.status) END
RETURNING m.account_id, m.id, m.conversation_id, m.channel_id, m.provider_message_id, m.status, m.status_at,
          m.error_code, m.error_reason, m.send_after;

-- name: StoredStatuses :many
-- Status updates already recorded for messages whose provider ids were just stored: the
-- primary key's range of each id's keys ("<id>:<status>").
SELECT e.account_id, e.channel_id, e.payload
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@channel_ids::uuid[]) AS channel_id, unnest(@provider_ids::text[]) AS provider_id) AS u
JOIN LATERAL (
    SELECT pe.account_id, pe.channel_id, pe.payload FROM provider_events pe
    WHERE pe.account_id = u.account_id AND pe.channel_id = u.channel_id AND pe.kind = 'status'
      AND pe.provider_key >= u.provider_id || ':' AND pe.provider_key < u.provider_id || ';'
) e ON true;

-- name: OpenCategorySessions :exec
-- Template sends open their category's session on the conversation (internal/session decides
-- the new ends; this stores them).
UPDATE conversations c SET category_sessions = u.sessions, updated_at = @now
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id, unnest(@sessions::jsonb[]) AS sessions) AS u
WHERE c.account_id = u.account_id AND c.id = u.id;

-- name: ConversationSessions :many
SELECT c.account_id, c.id, c.category_sessions FROM conversations c
JOIN (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id) AS u
  ON c.account_id = u.account_id AND c.id = u.id
FOR UPDATE OF c;

-- name: StopPaidSends :one
INSERT INTO paid_send_stops (account_id, channel_id, code, reason, stopped_at)
VALUES (@account_id, @channel_id, @code, @reason, @stopped_at)
ON CONFLICT (account_id) DO NOTHING
RETURNING account_id;

-- name: ClearPaidSendStop :execrows
DELETE FROM paid_send_stops WHERE account_id = @account_id;

-- name: GetPaidSendStop :one
SELECT * FROM paid_send_stops WHERE account_id = @account_id;

-- name: DueLines :many
-- The lines with due messages: a loose index scan of messages_due, one probe per line.
WITH RECURSIVE lines AS (
    (SELECT m.channel_id FROM messages m WHERE m.status = 'queued' ORDER BY m.channel_id LIMIT 1)
    UNION ALL
    SELECT (SELECT m.channel_id FROM messages m WHERE m.status = 'queued' AND m.channel_id > l.channel_id
            ORDER BY m.channel_id LIMIT 1)
    FROM lines l WHERE l.channel_id IS NOT NULL
)
SELECT l.channel_id::uuid AS channel_id FROM lines l
WHERE l.channel_id IS NOT NULL
  AND EXISTS (SELECT 1 FROM messages m WHERE m.status = 'queued' AND m.channel_id = l.channel_id AND m.send_after <= @now);

-- name: QueueFreeForms :many
-- The Send Message API's fast path: free-form messages to contacts (by id or customer code)
-- that already have a conversation on the channel, each stored only when internal/send's rules
-- let it go (contact not blocked, channel active, a WhatsApp service session open). One
-- statement for any number of messages, so concurrent requests share its start-up, its
-- statement triggers and its commit. A message is absent from the result when its rules do
-- not hold or it has no conversation yet: its caller then takes the full path, which says why.
-- The zero uuid and '' stand for NULL in the arrays (no contact id: by customer code; no user,
-- no API key). The conversations are locked in id order, so two batches never deadlock.
WITH input AS (
    SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id, unnest(@channel_ids::uuid[]) AS channel_id,
           unnest(@contact_ids::uuid[]) AS contact_id, unnest(@customer_codes::text[]) AS customer_code,
           unnest(@kinds::text[]) AS kind, unnest(@texts::text[]) AS text, unnest(@payloads::jsonb[]) AS payload,
           unnest(@sent_by_user_ids::uuid[]) AS sent_by_user_id, unnest(@api_key_ids::uuid[]) AS api_key_id,
           unnest(@created_ats::timestamptz[]) AS created_at
), ok AS (
    SELECT i.*, cv.id AS conversation_id, cv.address FROM input i
    JOIN contacts c ON c.account_id = i.account_id
     AND c.id = coalesce(nullif(i.contact_id, '00000000-0000-0000-0000-000000000000'),
                         (SELECT x.id FROM contacts x WHERE x.account_id = i.account_id AND x.customer_code = nullif(i.customer_code, '')))
    JOIN channels ch ON ch.account_id = i.account_id AND ch.id = i.channel_id
    JOIN conversations cv ON cv.account_id = i.account_id AND cv.contact_id = c.id AND cv.channel_id = ch.id
    WHERE NOT c.blocked AND ch.active
      AND (ch.type <> 'whatsapp' OR cv.service_expires_at > i.created_at)
), touched AS (
    SELECT ok.account_id, ok.conversation_id, max(ok.created_at) AS at FROM ok GROUP BY 1, 2
), locked AS (
    SELECT c.account_id, c.id, t.at FROM conversations c JOIN touched t ON c.account_id = t.account_id AND c.id = t.conversation_id
    ORDER BY c.account_id, c.id
    FOR UPDATE OF c
), cv AS (
    UPDATE conversations c SET last_message_at = greatest(c.last_message_at, l.at), updated_at = l.at, unanswered_since = NULL
    FROM locked l WHERE c.account_id = l.account_id AND c.id = l.id
    RETURNING c.account_id, c.id
), m AS (
    INSERT INTO messages (account_id, id, conversation_id, channel_id, direction, kind, text, payload, status, status_at,
                          send_after, sent_by_user_id, api_key_id, created_at, to_address)
    SELECT ok.account_id, ok.id, ok.conversation_id, ok.channel_id, 'outbound', ok.kind, ok.text, ok.payload, 'queued', ok.created_at,
           ok.created_at, nullif(ok.sent_by_user_id, '00000000-0000-0000-0000-000000000000'),
           nullif(ok.api_key_id, '00000000-0000-0000-0000-000000000000'), ok.created_at, ok.address
    FROM ok JOIN cv ON cv.account_id = ok.account_id AND cv.id = ok.conversation_id
    RETURNING id, conversation_id
)
SELECT m.id, m.conversation_id FROM m;
