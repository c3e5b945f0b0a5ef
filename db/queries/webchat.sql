-- name: InsertWebChatMessage :exec
INSERT INTO webchat_messages (account_id, channel_id, id, visitor_id, kind, text, payload, created_at)
VALUES (@account_id, @channel_id, @id, @visitor_id, @kind, @text, @payload, @created_at);

-- name: ListWebChatMessages :many
-- Messages sent to one visitor after a cursor (a message id), oldest first.
SELECT id, kind, text, payload, created_at FROM webchat_messages
WHERE account_id = @account_id AND channel_id = @channel_id AND visitor_id = @visitor_id
  AND id > @after
ORDER BY id
LIMIT @lim;
