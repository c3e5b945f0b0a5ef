-- name: CreateCustomField :one
INSERT INTO custom_fields (account_id, id, key, label, type, choices, on_close, created_at, updated_at)
VALUES (@account_id, @id, @key, @label, @type, @choices, @on_close, @now, @now)
RETURNING *;

-- name: ListCustomFields :many
-- FOR SHARE: a contact write that checked its values against these definitions holds off a
-- change to them until it commits.
SELECT * FROM custom_fields WHERE account_id = @account_id ORDER BY key FOR SHARE;

-- name: GetCustomField :one
SELECT * FROM custom_fields WHERE account_id = @account_id AND id = @id;

-- name: GetCustomFieldForUpdate :one
SELECT * FROM custom_fields WHERE account_id = @account_id AND id = @id FOR UPDATE;

-- name: CountCustomFieldsForUpdate :one
-- Locks the account row so two creations cannot both pass the limit.
SELECT count(*) FROM custom_fields f, (SELECT acc.id AS locked FROM accounts acc WHERE acc.id = @account_id FOR UPDATE) a
WHERE f.account_id = a.locked;

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
