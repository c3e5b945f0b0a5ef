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

-- name: FoldMergedConversations :execrows
-- Where both contacts of a merge have a conversation on the same channel, the duplicate's is
-- folded into the survivor's: its messages and attendances move over, the session state takes
-- the later of each time, and an attendance the survivor had open stays current (the
-- duplicate's, if both were open, is closed). The emptied conversations are then deleted by
-- DeleteFoldedConversations.
WITH pairs AS (
    SELECT d.id AS dup_id, k.id AS keep_id, d.status AS dup_status, d.attendance_id AS dup_attendance,
           k.status AS keep_status
    FROM conversations d
    JOIN conversations k ON k.account_id = d.account_id AND k.contact_id = @survivor_id AND k.channel_id = d.channel_id
    WHERE d.account_id = @account_id AND d.contact_id = @merged_id
), msgs AS (
    UPDATE messages m SET conversation_id = p.keep_id
    FROM pairs p WHERE m.account_id = @account_id AND m.conversation_id = p.dup_id
), atts AS (
    UPDATE attendances a SET conversation_id = p.keep_id,
        closed_at = CASE WHEN p.keep_status = 'open' AND p.dup_status = 'open' AND a.id = p.dup_attendance
                         THEN coalesce(a.closed_at, @now) ELSE a.closed_at END
    FROM pairs p WHERE a.account_id = @account_id AND a.conversation_id = p.dup_id
)
UPDATE conversations k SET
    status = CASE WHEN k.status = 'open' OR d.status = 'open' THEN 'open' ELSE 'closed' END,
    attendance_id = CASE WHEN k.status = 'open' THEN k.attendance_id WHEN d.status = 'open' THEN d.attendance_id ELSE k.attendance_id END,
    opened_at = CASE WHEN k.status = 'open' THEN k.opened_at WHEN d.status = 'open' THEN d.opened_at ELSE greatest(k.opened_at, d.opened_at) END,
    service_expires_at = greatest(k.service_expires_at, d.service_expires_at),
    category_sessions = d.category_sessions || k.category_sessions,
    last_message_at = greatest(k.last_message_at, d.last_message_at),
    last_inbound_at = greatest(k.last_inbound_at, d.last_inbound_at),
    unanswered_since = least(k.unanswered_since, d.unanswered_since),
    last_campaign_id = coalesce(k.last_campaign_id, d.last_campaign_id),
    updated_at = @now
FROM pairs p JOIN conversations d ON d.account_id = @account_id AND d.id = p.dup_id
WHERE k.account_id = @account_id AND k.id = p.keep_id;

-- name: DeleteFoldedConversations :exec
-- Deletes the duplicate's conversations that FoldMergedConversations emptied.
DELETE FROM conversations d
WHERE d.account_id = @account_id AND d.contact_id = @merged_id
  AND EXISTS (SELECT 1 FROM conversations k
              WHERE k.account_id = d.account_id AND k.contact_id = @survivor_id AND k.channel_id = d.channel_id);

-- name: MoveContactConversations :execrows
-- The duplicate's conversations on channels the survivor had none on become the survivor's.
UPDATE conversations SET contact_id = @survivor_id, updated_at = @now
WHERE account_id = @account_id AND contact_id = @merged_id;

-- name: MoveContactIdentities :execrows
UPDATE contact_identities SET contact_id = @survivor_id
WHERE account_id = @account_id AND contact_id = @merged_id;

-- name: MoveBlockedMessages :execrows
UPDATE blocked_messages SET contact_id = @survivor_id
WHERE account_id = @account_id AND contact_id = @merged_id;
