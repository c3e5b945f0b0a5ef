-- name: CreateTag :one
INSERT INTO tags (account_id, id, name, color, automation_only, created_at, updated_at)
VALUES (@account_id, @id, @name, @color, @automation_only, @now, @now)
RETURNING *;

-- name: GetTag :one
SELECT * FROM tags WHERE account_id = @account_id AND id = @id;

-- name: GetTagForShare :one
SELECT * FROM tags WHERE account_id = @account_id AND id = @id FOR SHARE;

-- name: GetTagForUpdate :one
SELECT * FROM tags WHERE account_id = @account_id AND id = @id FOR UPDATE;

-- name: ListTags :many
SELECT * FROM tags
WHERE account_id = @account_id
  AND (sqlc.narg('after')::uuid IS NULL OR id > sqlc.narg('after')::uuid)
  AND (NOT @manual_only::bool OR NOT automation_only)
  AND (sqlc.narg('prefix')::text IS NULL OR lower(name) LIKE lower(sqlc.narg('prefix')::text) || '%')
ORDER BY id
LIMIT @max_rows;

-- name: UpdateTag :one
UPDATE tags SET name = @name, color = @color, automation_only = @automation_only, updated_at = @now
WHERE account_id = @account_id AND id = @id
RETURNING *;

-- name: DeleteTag :one
DELETE FROM tags WHERE account_id = @account_id AND id = @id RETURNING name;

-- name: EnsureTags :exec
-- Adds the names the catalogue lacks (compared case-insensitively), with their colours.
INSERT INTO tags (account_id, id, name, color, automation_only, created_at, updated_at)
SELECT @account_id, t.id, t.name, t.color, false, @now, @now
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@names::text[]) AS name, unnest(@colors::text[]) AS color) AS t
ON CONFLICT (account_id, lower(name)) DO NOTHING;

-- name: CanonicalTagNames :many
-- The catalogue's spelling of each name, compared case-insensitively. FOR SHARE holds off a
-- rename or delete until the caller's transaction, which writes the names on contacts, ends.
SELECT name FROM tags WHERE account_id = @account_id AND lower(name) = ANY(@lower_names::text[]) FOR SHARE;

-- name: RenameTagOnContacts :execrows
UPDATE contacts SET tags = array_replace(tags, @old_name::text, @new_name::text), version = version + 1, updated_at = @now
WHERE account_id = @account_id AND tags @> ARRAY[@old_name::text];

-- name: RemoveTagEverywhere :execrows
UPDATE contacts SET tags = array_remove(tags, @name::text), version = version + 1, updated_at = @now
WHERE account_id = @account_id AND tags @> ARRAY[@name::text];

-- name: AddTagToContacts :execrows
UPDATE contacts SET tags = array_append(tags, @name::text), version = version + 1, updated_at = @now
WHERE account_id = @account_id AND id = ANY(@ids::uuid[]) AND NOT tags @> ARRAY[@name::text];

-- name: RemoveTagFromContacts :execrows
UPDATE contacts SET tags = array_remove(tags, @name::text), version = version + 1, updated_at = @now
WHERE account_id = @account_id AND id = ANY(@ids::uuid[]) AND tags @> ARRAY[@name::text];
