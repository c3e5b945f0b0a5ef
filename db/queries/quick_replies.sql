-- name: CreateQuickReply :one
INSERT INTO quick_replies (account_id, id, shortcut, title, text, created_at, updated_at)
VALUES (@account_id, @id, @shortcut, @title, @text, @now, @now)
RETURNING *;

-- name: GetQuickReply :one
SELECT * FROM quick_replies WHERE account_id = @account_id AND id = @id;

-- name: ListQuickReplies :many
-- By shortcut, optionally those starting with a prefix (what the agent has typed so far).
SELECT * FROM quick_replies
WHERE account_id = @account_id
  AND (sqlc.narg('prefix')::text IS NULL OR starts_with(shortcut, sqlc.narg('prefix')::text))
  AND (sqlc.narg('after')::text IS NULL OR shortcut > sqlc.narg('after')::text)
ORDER BY shortcut
LIMIT @lim;

-- name: UpdateQuickReply :one
UPDATE quick_replies SET shortcut = @shortcut, title = @title, text = @text, updated_at = @now
WHERE account_id = @account_id AND id = @id
RETURNING *;

-- name: DeleteQuickReply :execrows
DELETE FROM quick_replies WHERE account_id = @account_id AND id = @id;
