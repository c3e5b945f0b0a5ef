-- name: CreateNote :one
INSERT INTO contact_notes (account_id, id, contact_id, author_id, body, due_at, forwarded_to_id, created_at)
VALUES (@account_id, @id, @contact_id, @author_id, @body, @due_at, @forwarded_to_id, @created_at)
RETURNING *;

-- name: ListNotes :many
-- Newest first.
SELECT * FROM contact_notes
WHERE account_id = @account_id AND contact_id = @contact_id
  AND (sqlc.narg('before')::uuid IS NULL OR id < sqlc.narg('before')::uuid)
ORDER BY id DESC
LIMIT @max_rows;

-- name: DeleteNote :execrows
DELETE FROM contact_notes
WHERE account_id = @account_id AND contact_id = @contact_id AND id = @id
  AND (author_id = @author_id OR @any_author::bool);
