-- name: CreateCustomField :one
INSERT INTO custom_fields (account_id, id, key, label, type, choices, on_close, created_at, updated_at)
VALUES (@account_id, @id, @key, @label, @type, @choices, @on_close, @now, @now)
RETURNING *;

-- name: ListCustomFields :many
SELECT * FROM custom_fields WHERE account_id = @account_id ORDER BY key;

-- name: GetCustomField :one
SELECT * FROM custom_fields WHERE account_id = @account_id AND id = @id;

-- name: UpdateCustomField :one
UPDATE custom_fields SET label = @label, choices = @choices, on_close = @on_close, updated_at = @now
WHERE account_id = @account_id AND id = @id
RETURNING *;

-- name: DeleteCustomField :one
DELETE FROM custom_fields WHERE account_id = @account_id AND id = @id RETURNING key;

-- name: RemoveCustomValues :execrows
-- Removes a deleted field's values from every contact.
UPDATE contacts SET custom = custom - @key::text, version = version + 1, updated_at = @now
WHERE account_id = @account_id AND custom ? @key::text;

-- name: ChoicesInUse :many
-- Which of these choices some contact holds for the field.
SELECT DISTINCT custom ->> @key::text AS choice FROM contacts
WHERE account_id = @account_id AND custom ->> @key::text = ANY(@choices::text[]);
