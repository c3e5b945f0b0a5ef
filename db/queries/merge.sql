-- name: LockContactsForMerge :many
-- Both contacts of a merge, locked in id order so that two merges of the same pair queue up
-- instead of deadlocking.
SELECT * FROM contacts
WHERE account_id = @account_id AND id = ANY(@ids::uuid[])
ORDER BY id
FOR UPDATE;

-- name: GetContactMerge :one
SELECT survivor_id FROM contact_merges WHERE account_id = @account_id AND merged_id = @merged_id;

-- name: RecordContactMerge :exec
-- Keeps the duplicate whole (fields and phones in order) before it is deleted.
INSERT INTO contact_merges (account_id, merged_id, survivor_id, merged_at, merged_by, snapshot)
SELECT c.account_id, c.id, @survivor_id, @now, @merged_by,
       to_jsonb(c) || jsonb_build_object('phones', array(
           SELECT p.phone FROM contact_phones p
           WHERE p.account_id = c.account_id AND p.contact_id = c.id ORDER BY p.position))
FROM contacts c
WHERE c.account_id = @account_id AND c.id = @merged_id;

-- name: MoveContactNotes :execrows
UPDATE contact_notes SET contact_id = @survivor_id
WHERE account_id = @account_id AND contact_id = @merged_id;

-- name: CopySegmentMemberships :execrows
INSERT INTO segment_members (account_id, segment_id, contact_id, added_at)
SELECT m.account_id, m.segment_id, @survivor_id, m.added_at FROM segment_members m
WHERE m.account_id = @account_id AND m.contact_id = @merged_id
ON CONFLICT DO NOTHING;

-- name: MoveContactPhones :execrows
-- The duplicate's numbers follow the survivor's, in their order.
UPDATE contact_phones AS p SET contact_id = @survivor_id,
    position = p.position + (SELECT coalesce(max(s.position), 0) FROM contact_phones s
                             WHERE s.account_id = @account_id AND s.contact_id = @survivor_id)
WHERE p.account_id = @account_id AND p.contact_id = @merged_id;

-- name: DeleteMergedContact :exec
DELETE FROM contacts WHERE account_id = @account_id AND id = @merged_id;

-- name: MergeContactFields :one
-- The survivor keeps every value it has; the duplicate's fill the gaps. Tags and custom
-- values are united (the survivor's value wins a key both have), a block on either blocks
-- the survivor and broadcasts stay on only if both accepted them. Priority is taken from the
-- duplicate only when the survivor has no override of its own.
UPDATE contacts SET
    document = coalesce(document, @document),
    document_kind = CASE WHEN document IS NULL THEN @document_kind ELSE document_kind END,
    customer_code = coalesce(customer_code, @customer_code),
    email = coalesce(email, @email),
    birth_date = coalesce(birth_date, @birth_date),
    rg = coalesce(rg, @rg),
    responsible_user_id = coalesce(responsible_user_id, @responsible_user_id),
    default_agent_id = coalesce(default_agent_id, @default_agent_id),
    company_id = coalesce(company_id, @company_id),
    origin_channel_id = coalesce(origin_channel_id, @origin_channel_id),
    tags = tags || array(SELECT t FROM unnest(@tags::text[]) t WHERE NOT t = ANY(tags)),
    priority = CASE WHEN priority = 'medium' AND priority_score IS NULL THEN @priority ELSE priority END,
    priority_score = CASE WHEN priority = 'medium' AND priority_score IS NULL THEN @priority_score ELSE priority_score END,
    custom = @custom::jsonb || custom,
    blocked = blocked OR @blocked,
    broadcast = broadcast AND @broadcast,
    version = version + 1,
    updated_at = @now
WHERE account_id = @account_id AND id = @survivor_id
RETURNING *;
