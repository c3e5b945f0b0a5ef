-- name: ClaimIdempotencyKey :execrows
-- Inserts a placeholder inside the caller's transaction. A concurrent call with the same key
-- waits on the row lock until the first one commits (then sees 0 rows) or rolls back.
INSERT INTO idempotency_keys (account_id, operation, key, request_hash, status, response)
VALUES (@account_id, @operation, @key, @request_hash, 0, '')
ON CONFLICT DO NOTHING;

-- name: GetIdempotencyKey :one
SELECT * FROM idempotency_keys
WHERE account_id = @account_id AND operation = @operation AND key = @key;

-- name: CompleteIdempotencyKey :exec
UPDATE idempotency_keys SET status = @status, response = @response
WHERE account_id = @account_id AND operation = @operation AND key = @key;

-- name: DeleteOldIdempotencyKeys :execrows
DELETE FROM idempotency_keys WHERE created_at < @before;
