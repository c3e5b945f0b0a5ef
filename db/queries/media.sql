-- name: CreateMedia :one
INSERT INTO media (account_id, id, name, kind, mime, size, sha256, uploaded_by_user_id, uploaded_by_api_key_id, created_at, updated_at)
VALUES (@account_id, @id, @name, @kind, @mime, @size, @sha256, sqlc.narg(uploaded_by_user_id), sqlc.narg(uploaded_by_api_key_id), @now, @now)
RETURNING *;

-- name: InsertMediaChunk :exec
INSERT INTO media_chunks (account_id, media_id, seq, data) VALUES (@account_id, @media_id, @seq, @data);

-- name: GetMedia :one
SELECT * FROM media WHERE account_id = @account_id AND id = @id;

-- name: GetMediaChunk :one
SELECT data FROM media_chunks WHERE account_id = @account_id AND media_id = @media_id AND seq = @seq;

-- name: ListMedia :many
-- Newest first (ids are UUIDv7), optionally of one kind and with a name containing @q
-- (case and accents as typed: ILIKE); never reads content.
SELECT * FROM media
WHERE account_id = @account_id
  AND (sqlc.narg('kind')::text IS NULL OR kind = sqlc.narg('kind')::text)
  AND (sqlc.narg('q')::text IS NULL OR name ILIKE '%' || sqlc.narg('q')::text || '%' ESCAPE '\')
  AND (sqlc.narg('before')::uuid IS NULL OR id < sqlc.narg('before')::uuid)
ORDER BY id DESC
LIMIT @lim;

-- name: RenameMedia :one
UPDATE media SET name = @name, updated_at = @now
WHERE account_id = @account_id AND id = @id
RETURNING *;

-- name: DeleteMedia :execrows
DELETE FROM media WHERE account_id = @account_id AND id = @id;
