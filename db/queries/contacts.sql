-- name: CreateContactWithPhones :one
-- One statement, so one round trip and atomic even outside a transaction: a phone another
-- contact owns fails the whole insert with a unique violation on contact_phones_pkey.
WITH c AS (
    INSERT INTO contacts (
        account_id, id, name, document, document_kind, customer_code, email, birth_date, rg,
        responsible_user_id, default_agent_id, tags, priority, priority_score, blocked, broadcast,
        custom, company_id, origin, origin_channel_id, created_at, updated_at
    ) VALUES (
        @account_id, @id, @name, @document, @document_kind, @customer_code, @email, @birth_date, @rg,
        @responsible_user_id, @default_agent_id, @tags, @priority, @priority_score, false, @broadcast,
        @custom, @company_id, @origin, sqlc.narg('origin_channel_id'), @now, @now
    )
    RETURNING *
), p AS (
    INSERT INTO contact_phones (account_id, phone, contact_id, position)
    SELECT c.account_id, t.phone, c.id, t.ord::smallint
    FROM c, unnest(@phones::text[]) WITH ORDINALITY AS t(phone, ord)
)
SELECT * FROM c;

-- name: UpdateContact :one
-- Writes every field; the caller has merged the change into the current row, read FOR UPDATE.
UPDATE contacts SET
    name = @name,
    document = @document,
    document_kind = @document_kind,
    customer_code = @customer_code,
    email = @email,
    birth_date = @birth_date,
    rg = @rg,
    responsible_user_id = @responsible_user_id,
    default_agent_id = @default_agent_id,
    tags = @tags,
    priority = @priority,
    priority_score = @priority_score,
    broadcast = @broadcast,
    custom = @custom,
    company_id = @company_id,
    version = version + 1,
    updated_at = @now
WHERE account_id = @account_id AND id = @id
RETURNING *;

-- name: SetContactBlocked :one
UPDATE contacts SET
    blocked = @blocked,
    version = version + CASE WHEN blocked = @blocked THEN 0 ELSE 1 END,
    updated_at = CASE WHEN blocked = @blocked THEN updated_at ELSE @now END
WHERE account_id = @account_id AND id = @id
RETURNING *;

-- name: GetContact :one
SELECT sqlc.embed(c),
       array(SELECT p.phone FROM contact_phones p
             WHERE p.account_id = c.account_id AND p.contact_id = c.id ORDER BY p.position)::text[] AS phones
FROM contacts c
WHERE c.account_id = @account_id AND c.id = @id;

-- name: GetContactForUpdate :one
SELECT * FROM contacts WHERE account_id = @account_id AND id = @id FOR UPDATE;

-- name: GetContactByCodeForUpdate :one
SELECT * FROM contacts WHERE account_id = @account_id AND customer_code = @customer_code FOR UPDATE;

-- name: GetContactIDByPhone :one
SELECT contact_id FROM contact_phones WHERE account_id = @account_id AND phone = @phone;

-- name: ListContactPhones :many
SELECT phone FROM contact_phones
WHERE account_id = @account_id AND contact_id = @contact_id
ORDER BY position;

-- name: FindPhoneOwners :many
-- Which contacts already own any of these numbers.
SELECT phone, contact_id FROM contact_phones
WHERE account_id = @account_id AND phone = ANY(@phones::text[]);

-- name: DeleteContactPhones :exec
DELETE FROM contact_phones WHERE account_id = @account_id AND contact_id = @contact_id;

-- name: InsertContactPhones :many
-- Returns the numbers it stored; one missing from the result belongs to another contact.
INSERT INTO contact_phones (account_id, phone, contact_id, position)
SELECT @account_id, t.phone, @contact_id, t.ord::smallint
FROM unnest(@phones::text[]) WITH ORDINALITY AS t(phone, ord)
ON CONFLICT DO NOTHING
RETURNING phone;

-- name: DeleteContact :one
-- Deletes an unblocked contact; a blocked one stays (unblock first). Returns whether it was blocked.
-- The lock makes a block committed meanwhile visible here.
WITH target AS (
    SELECT c.account_id, c.id, c.blocked FROM contacts c
    WHERE c.account_id = @account_id AND c.id = @id
    FOR UPDATE
), deleted AS (
    DELETE FROM contacts d USING target t
    WHERE d.account_id = t.account_id AND d.id = t.id AND NOT t.blocked
    RETURNING d.id
)
SELECT t.blocked, EXISTS (SELECT 1 FROM deleted) AS deleted FROM target t;

-- name: ListContacts :many
-- Keyset pagination on the primary key: UUIDv7 ids are time-ordered, so this lists oldest first
-- and a deep page costs the same as the first.
SELECT sqlc.embed(c),
       array(SELECT p.phone FROM contact_phones p
             WHERE p.account_id = c.account_id AND p.contact_id = c.id ORDER BY p.position)::text[] AS phones
FROM contacts c
WHERE c.account_id = @account_id
  AND (sqlc.narg('after')::uuid IS NULL OR c.id > sqlc.narg('after')::uuid)
  AND (sqlc.narg('blocked')::bool IS NULL OR c.blocked = sqlc.narg('blocked')::bool)
  AND (sqlc.narg('priority')::text IS NULL OR c.priority = sqlc.narg('priority')::text)
  AND (sqlc.narg('tag')::text IS NULL OR c.tags @> ARRAY[sqlc.narg('tag')::text])
  AND (sqlc.narg('q')::text IS NULL
       OR c.name ILIKE '%' || sqlc.narg('q_like')::text || '%'
       OR c.customer_code = sqlc.narg('q')::text
       OR (sqlc.narg('q_digits')::text IS NOT NULL AND c.document LIKE sqlc.narg('q_digits')::text || '%')
       OR (sqlc.narg('q_phone')::text IS NOT NULL AND EXISTS (
            SELECT 1 FROM contact_phones p
            WHERE p.account_id = c.account_id AND p.contact_id = c.id
              AND p.phone LIKE sqlc.narg('q_phone')::text || '%')))
ORDER BY c.id
LIMIT @max_rows;

-- name: DeleteContactNotes :exec
DELETE FROM contact_notes WHERE account_id = @account_id AND contact_id = @contact_id;

-- name: DeleteContactSegmentMemberships :exec
DELETE FROM segment_members WHERE account_id = @account_id AND contact_id = @contact_id;

-- name: EraseContact :one
-- Clears every personal field of a contact (LGPD erasure) and keeps the row, which its
-- consent records point at.
UPDATE contacts SET
    name = 'Erased contact', document = NULL, document_kind = NULL, customer_code = NULL,
    email = NULL, birth_date = NULL, rg = NULL, responsible_user_id = NULL, default_agent_id = NULL,
    tags = '{}', priority = 'medium', priority_score = NULL, broadcast = false, custom = '{}', company_id = NULL,
    erased_at = coalesce(erased_at, @now), version = version + 1, updated_at = @now
WHERE account_id = @account_id AND id = @id
RETURNING *;
