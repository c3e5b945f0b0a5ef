-- name: GetChannelForWebhook :one
-- A webhook names its channel by id alone (the URL is per channel); the signature, checked
-- with the channel's own secret, is what authenticates the delivery.
SELECT account_id, id, type, provider, credentials FROM channels WHERE id = @id AND active;

-- name: InsertWebhookDelivery :exec
-- The whole request path of a delivery: one autocommit INSERT.
INSERT INTO webhook_deliveries (account_id, id, channel_id, provider, signature, request_url, body, received_at)
VALUES (@account_id, @id, @channel_id, @provider, @signature, @request_url, @body, @received_at);

-- name: ClaimWebhookDeliveries :many
-- Takes the next unprocessed deliveries and marks them processed in the same statement (the
-- caller's transaction: if it fails, nothing was taken); rows another drainer holds are
-- skipped, so several drainers share a backlog without taking a delivery twice.
UPDATE webhook_deliveries d SET processed_at = @at
FROM (SELECT w.account_id, w.id FROM webhook_deliveries w
      WHERE w.processed_at IS NULL
      ORDER BY w.id
      LIMIT @batch
      FOR UPDATE SKIP LOCKED) AS c
WHERE d.account_id = c.account_id AND d.id = c.id
RETURNING d.account_id, d.id, d.channel_id, d.provider, d.signature, d.request_url, d.body, d.received_at;

-- name: MarkWebhookDeliveries :exec
-- Records why deliveries of a batch could not be parsed ('' stands for NULL).
UPDATE webhook_deliveries d SET processed_at = @at, error = NULLIF(m.error, '')
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id,
             unnest(@errors::text[]) AS error) AS m
WHERE d.account_id = m.account_id AND d.id = m.id;

-- name: InsertProviderEvents :many
-- Records each event once, set-based for a whole batch: a retried delivery carries the same
-- provider keys. Returns the rows that were new.
INSERT INTO provider_events (account_id, channel_id, kind, provider_key, delivery_id, payload, occurred_at, recorded_at)
SELECT e.account_id, e.channel_id, e.kind, e.key, e.delivery_id, e.payload, e.occurred_at, @recorded_at
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@channel_ids::uuid[]) AS channel_id,
             unnest(@kinds::text[]) AS kind, unnest(@keys::text[]) AS key, unnest(@delivery_ids::uuid[]) AS delivery_id,
             unnest(@payloads::jsonb[]) AS payload, unnest(@occurred_ats::timestamptz[]) AS occurred_at) AS e
ON CONFLICT DO NOTHING
RETURNING account_id, channel_id, kind, provider_key;

-- name: CountProviderEvents :one
SELECT count(*) FROM provider_events WHERE account_id = @account_id AND channel_id = @channel_id;

-- name: ListFailedWebhookDeliveries :many
-- Deliveries that could not be parsed, newest first, with why.
SELECT id, provider, received_at, processed_at, error FROM webhook_deliveries
WHERE account_id = @account_id AND channel_id = @channel_id AND error IS NOT NULL
  AND (sqlc.narg('before')::uuid IS NULL OR id < sqlc.narg('before')::uuid)
ORDER BY id DESC
LIMIT @lim;

-- name: ApplyChannelQuality :execrows
-- A quality rating reported at @at, applied to the account's WhatsApp channels it names
-- unless a newer report was applied already.
UPDATE channels SET quality_rating = @quality_rating, quality_updated_at = @at, updated_at = @now
WHERE account_id = @account_id AND type = 'whatsapp' AND id = ANY(@ids::uuid[])
  AND (quality_updated_at IS NULL OR quality_updated_at < @at);

-- name: ApplyChannelMessagingLimit :execrows
-- The portfolio's messaging limit reported at @at, same rule.
UPDATE channels SET messaging_limit = @messaging_limit, messaging_limit_updated_at = @at, updated_at = @now
WHERE account_id = @account_id AND type = 'whatsapp' AND id = ANY(@ids::uuid[])
  AND (messaging_limit_updated_at IS NULL OR messaging_limit_updated_at < @at);

-- name: ApplyChannelThroughputUpgrade :execrows
-- Meta raised the numbers' throughput to its ceiling (a THROUGHPUT_UPGRADE notification); it
-- never lowers it by notification, so the order of notifications does not matter.
UPDATE channels SET throughput_mps = 1000, updated_at = @now
WHERE account_id = @account_id AND type = 'whatsapp' AND id = ANY(@ids::uuid[]) AND throughput_mps < 1000;

-- name: WhatsAppChannelsFor :many
-- The account's WhatsApp channels a notification names: by phone number when it carries one,
-- else by the business account (WABA) id, always including the channel it arrived on when
-- nothing else is named.
SELECT id FROM channels
WHERE account_id = @account_id AND type = 'whatsapp'
  AND CASE WHEN @phone::text <> '' THEN phone_number = @phone::text
           WHEN @waba_id::text <> '' THEN waba_id = @waba_id::text OR id = @channel_id
           ELSE id = @channel_id END
ORDER BY id;

-- name: InsertWebhookDeliveries :exec
-- Deliveries that arrived together, stored by one autocommit INSERT (one commit for all).
INSERT INTO webhook_deliveries (account_id, id, channel_id, provider, signature, request_url, body, received_at)
SELECT unnest(@account_ids::uuid[]), unnest(@ids::uuid[]), unnest(@channel_ids::uuid[]), unnest(@providers::text[]),
       unnest(@signatures::text[]), unnest(@request_urls::text[]), unnest(@bodies::bytea[]), unnest(@received_ats::timestamptz[]);

-- name: PruneWebhookDeliveries :one
-- The oldest @batch processed deliveries received from @after to before @before, deleted in
-- one statement (a transaction each, so a long prune holds no lock for long and a cut-off one
-- loses nothing); last is where the next batch starts. A delivery not yet processed stays,
-- however old.
WITH old AS (
    SELECT w.account_id, w.id, w.received_at FROM webhook_deliveries w
    WHERE w.processed_at IS NOT NULL AND w.received_at >= @after AND w.received_at < @before
    ORDER BY w.received_at
    LIMIT @batch
), gone AS (
    DELETE FROM webhook_deliveries d USING old
    WHERE d.account_id = old.account_id AND d.id = old.id
    RETURNING d.received_at
)
SELECT count(*) AS deleted, coalesce(max(received_at), @after)::timestamptz AS last FROM gone;

-- name: PruneProviderEvents :one
-- The same for provider events recorded before @before.
WITH old AS (
    SELECT e.account_id, e.channel_id, e.kind, e.provider_key, e.recorded_at FROM provider_events e
    WHERE e.recorded_at >= @after AND e.recorded_at < @before
    ORDER BY e.recorded_at
    LIMIT @batch
), gone AS (
    DELETE FROM provider_events p USING old
    WHERE p.account_id = old.account_id AND p.channel_id = old.channel_id AND p.kind = old.kind
      AND p.provider_key = old.provider_key
    RETURNING p.recorded_at
)
SELECT count(*) AS deleted, coalesce(max(recorded_at), @after)::timestamptz AS last FROM gone;
