-- name: EmitEvent :exec
-- Writes an event to the outbox in the caller's transaction; the publisher numbers it.
INSERT INTO event_outbox (account_id, event_id, type, subject_id, department_id, user_id, data, occurred_at)
VALUES (@account_id, @event_id, @type, @subject_id, @department_id, @user_id, @data, @occurred_at);

-- name: EmitEvents :exec
-- Writes many events, of any accounts and times, to the outbox in one round trip (a drained or
-- dispatched batch emits one per message). Optional ids come as text, '' for none, so one array
-- holds them.
INSERT INTO event_outbox (account_id, event_id, type, subject_id, department_id, user_id, data, occurred_at)
SELECT e.account_id, e.event_id, e.type, nullif(e.subject_id, '')::uuid, nullif(e.department_id, '')::uuid,
       nullif(e.user_id, '')::uuid, e.data, e.occurred_at
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@event_ids::uuid[]) AS event_id, unnest(@types::text[]) AS type,
             unnest(@subject_ids::text[]) AS subject_id, unnest(@department_ids::text[]) AS department_id,
             unnest(@user_ids::text[]) AS user_id, unnest(@datas::jsonb[]) AS data,
             unnest(@occurred_ats::timestamptz[]) AS occurred_at) AS e;

-- name: PublishEvents :one
SELECT coalesce(p.max_seq, 0)::bigint AS max_seq, coalesce(p.max_id, 0)::bigint AS max_id
FROM publish_events(@max_rows::integer, @from_id::bigint) p;

-- name: ListEvents :many
SELECT * FROM events
WHERE account_id = @account_id AND seq > @after_seq
  AND (cardinality(@types::text[]) = 0 OR type = ANY(@types::text[]))
ORDER BY seq
LIMIT @max_rows;

-- name: EventsSince :many
-- Every account's events after a seq, for the live fan-out of one server process.
SELECT * FROM events WHERE seq > @after_seq ORDER BY seq LIMIT @max_rows;

-- name: LastEventSeq :one
SELECT coalesce(max(seq), 0)::bigint FROM events;

-- name: CreateWebhookSubscription :one
INSERT INTO webhook_subscriptions (account_id, id, url, description, event_types, secret, active, created_at, updated_at)
VALUES (@account_id, @id, @url, @description, @event_types, @secret, true, @now, @now)
RETURNING *;

-- name: GetWebhookSubscription :one
SELECT * FROM webhook_subscriptions WHERE account_id = @account_id AND id = @id;

-- name: ListWebhookSubscriptions :many
SELECT * FROM webhook_subscriptions
WHERE account_id = @account_id AND (sqlc.narg('after')::uuid IS NULL OR id > sqlc.narg('after')::uuid)
ORDER BY id
LIMIT @max_rows;

-- name: UpdateWebhookSubscription :one
UPDATE webhook_subscriptions SET url = @url, description = @description, event_types = @event_types,
    active = @active, updated_at = @now
WHERE account_id = @account_id AND id = @id
RETURNING *;

-- name: DeleteWebhookSubscription :execrows
DELETE FROM webhook_subscriptions WHERE account_id = @account_id AND id = @id;

-- name: ClaimWebhookSends :many
-- Claims due sends for one sender: each is held until hold_until (a sender that dies lets it
-- go) and counts an attempt. Returns what the request needs.
WITH due AS (
    SELECT w.account_id, w.id FROM webhook_sends w
    WHERE w.status = 'pending' AND w.next_attempt_at <= sqlc.arg('now')::timestamptz
      AND (w.locked_until IS NULL OR w.locked_until <= sqlc.arg('now')::timestamptz)
    ORDER BY w.next_attempt_at
    LIMIT @max_rows
    FOR UPDATE SKIP LOCKED
), claimed AS (
    UPDATE webhook_sends w SET locked_until = sqlc.arg('hold_until')::timestamptz, attempts = w.attempts + 1
    FROM due WHERE w.account_id = due.account_id AND w.id = due.id
    RETURNING w.account_id, w.id, w.subscription_id, w.event_seq, w.attempts, w.created_at
)
SELECT c.account_id, c.id, c.subscription_id, c.event_seq, c.attempts, c.created_at,
       s.url, s.secret, e.id AS event_id, e.type AS event_type, e.subject_id, e.data, e.occurred_at
FROM claimed c
JOIN webhook_subscriptions s ON s.account_id = c.account_id AND s.id = c.subscription_id
JOIN events e ON e.account_id = c.account_id AND e.seq = c.event_seq;

-- name: FinishWebhookSend :exec
UPDATE webhook_sends SET status = @status, last_status = @last_status, last_error = @last_error,
    last_attempt_at = sqlc.arg('now')::timestamptz, next_attempt_at = @next_attempt_at, locked_until = NULL
WHERE account_id = @account_id AND id = @id;

-- name: ListWebhookSends :many
SELECT w.*, e.type AS event_type FROM webhook_sends w
JOIN events e ON e.account_id = w.account_id AND e.seq = w.event_seq
WHERE w.account_id = @account_id AND w.subscription_id = @subscription_id
  AND (sqlc.narg('before')::bigint IS NULL OR w.event_seq < sqlc.narg('before')::bigint)
ORDER BY w.event_seq DESC
LIMIT @max_rows;

-- name: RedeliverWebhookSend :one
-- Sends it again as soon as a sender is free, whatever became of it.
UPDATE webhook_sends SET status = 'pending', next_attempt_at = @now, locked_until = NULL
WHERE account_id = @account_id AND subscription_id = @subscription_id AND id = @id
RETURNING *;

-- name: PruneEvents :execrows
-- Events older than the retention go, with their finished sends; a send still pending keeps
-- its event until it succeeds or gives up.
DELETE FROM events e
WHERE e.published_at < @before
  AND NOT EXISTS (SELECT 1 FROM webhook_sends w WHERE w.account_id = e.account_id AND w.event_seq = e.seq AND w.status = 'pending');
