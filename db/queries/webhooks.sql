-- name: GetChannelForWebhook :one
-- A webhook names its channel by id alone (the URL is per channel); the signature, checked
-- with the channel's own secret, is what authenticates the delivery.
SELECT account_id, id, type, provider, credentials FROM channels WHERE id = @id AND active;

-- name: InsertWebhookDelivery :exec
INSERT INTO webhook_deliveries (account_id, id, channel_id, provider, signature, body, received_at)
VALUES (@account_id, @id, @channel_id, @provider, @signature, @body, @received_at);

-- name: GetWebhookDelivery :one
SELECT * FROM webhook_deliveries WHERE account_id = @account_id AND id = @id;

-- name: MarkWebhookProcessed :exec
UPDATE webhook_deliveries SET processed_at = @at, error = sqlc.narg('error')
WHERE account_id = @account_id AND id = @id;

-- name: InsertProviderEvents :execrows
-- Records each event once: a retried delivery carries the same provider keys.
INSERT INTO provider_events (account_id, channel_id, kind, provider_key, delivery_id, payload, occurred_at, recorded_at)
SELECT @account_id, @channel_id, e.kind, e.key, @delivery_id, e.payload, e.occurred_at, @recorded_at
FROM (SELECT unnest(@kinds::text[]) AS kind, unnest(@keys::text[]) AS key, unnest(@payloads::jsonb[]) AS payload,
             unnest(@occurred_ats::timestamptz[]) AS occurred_at) AS e
ON CONFLICT DO NOTHING;

-- name: CountProviderEvents :one
SELECT count(*) FROM provider_events WHERE account_id = @account_id AND channel_id = @channel_id;
