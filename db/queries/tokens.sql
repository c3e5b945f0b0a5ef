-- name: CreateRefreshToken :exec
INSERT INTO refresh_tokens (account_id, id, family_id, user_id, token_hash, expires_at, created_at)
VALUES (@account_id, @id, @family_id, @user_id, @token_hash, @expires_at, @created_at);

-- name: GetRefreshTokenForUpdate :one
SELECT * FROM refresh_tokens WHERE token_hash = @token_hash FOR UPDATE;

-- name: MarkRefreshTokenUsed :exec
UPDATE refresh_tokens SET used_at = @used_at
WHERE account_id = @account_id AND id = @id;

-- name: RevokeRefreshFamily :execrows
UPDATE refresh_tokens SET revoked_at = @revoked_at
WHERE account_id = @account_id AND family_id = @family_id AND revoked_at IS NULL;

-- name: DeleteExpiredRefreshTokens :execrows
DELETE FROM refresh_tokens WHERE expires_at < @before;

-- name: CreateAPIKey :one
INSERT INTO api_keys (account_id, id, name, prefix, key_hash, scopes, rate_limit, created_by, expires_at)
VALUES (@account_id, @id, @name, @prefix, @key_hash, @scopes, @rate_limit, @created_by, @expires_at)
RETURNING *;

-- name: GetAPIKeyByHash :one
SELECT * FROM api_keys WHERE key_hash = @key_hash;

-- name: GetAPIKey :one
SELECT * FROM api_keys WHERE account_id = @account_id AND id = @id;

-- name: ListAPIKeys :many
SELECT * FROM api_keys
WHERE account_id = @account_id
  AND (sqlc.narg('after')::uuid IS NULL OR id > sqlc.narg('after'))
ORDER BY id
LIMIT @max_rows;

-- name: RevokeAPIKey :one
UPDATE api_keys SET revoked_at = coalesce(revoked_at, @revoked_at)
WHERE account_id = @account_id AND id = @id
RETURNING *;
