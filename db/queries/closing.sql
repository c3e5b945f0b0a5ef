-- name: LockConversationForClose :one
-- The conversation being closed, locked until the closing transaction ends (a concurrent close,
-- an inbound batch or a pending-close job waits), with what closing needs: its open
-- attendance, the contact's block, the channel's type and state, the session and any pending
-- close.
SELECT v.account_id, v.id, v.contact_id, v.channel_id, v.address, v.status, v.attendance_id, v.agent_id,
       v.department_id, v.service_expires_at, v.close_pending_id, v.close_at, v.close_if_reply,
       a.protocol::text AS protocol, ch.type AS channel_type, ch.active AS channel_active, c.blocked
FROM conversations v
JOIN channels ch ON ch.account_id = v.account_id AND ch.id = v.channel_id
JOIN contacts c ON c.account_id = v.account_id AND c.id = v.contact_id
LEFT JOIN attendances a ON a.account_id = v.account_id AND a.id = v.attendance_id
WHERE v.account_id = @account_id AND v.id = @id
FOR UPDATE OF v;

-- name: CloseConversation :exec
-- Closes the open attendance (keeping on it the agent and department that had the
-- conversation) and the conversation: no agent, no department, no pending close, and no
-- appointment (a callback ends with the attendance: left set, it would hide the conversation
-- from the queue when the contact writes again).
WITH a AS (
    UPDATE attendances a SET closed_at = @now,
        agent_id = coalesce(a.agent_id, sqlc.narg(agent_id)::uuid),
        department_id = coalesce(a.department_id, sqlc.narg(department_id)::uuid)
    WHERE a.account_id = @account_id AND a.id = @attendance_id AND a.closed_at IS NULL
)
UPDATE conversations v SET status = 'closed', agent_id = NULL, department_id = NULL, appointment_at = NULL,
    close_pending_id = NULL, close_at = NULL, close_if_reply = NULL, updated_at = @now
WHERE v.account_id = @account_id AND v.id = @id;

-- name: SchedulePendingClose :exec
-- Records the close scheduled for later; it replaces any earlier one (whose job then finds
-- another id and does nothing).
UPDATE conversations SET close_pending_id = @pending_id, close_at = @close_at, close_if_reply = @if_reply, updated_at = @now
WHERE account_id = @account_id AND id = @id;

-- name: CancelPendingClose :one
-- Cancels the conversation's scheduled close, if it has one; returns the id cancelled.
UPDATE conversations v SET close_pending_id = NULL, close_at = NULL, close_if_reply = NULL, updated_at = @now
FROM conversations old
WHERE v.account_id = @account_id AND v.id = @id AND old.account_id = v.account_id AND old.id = v.id
  AND old.close_pending_id IS NOT NULL
RETURNING old.close_pending_id::uuid AS pending_id;

-- name: InsertConversationNote :one
-- A system note (never sent) in a conversation: why the closing message was not sent.
INSERT INTO messages (account_id, id, conversation_id, channel_id, attendance_id, direction, kind, text, created_at)
VALUES (@account_id, @id, @conversation_id, @channel_id, sqlc.narg(attendance_id), 'internal', 'system', @text, @created_at)
RETURNING id;

-- name: SetClosingCustomValues :exec
-- Writes the custom field values given at closing onto the contact and removes the keys
-- cleared ("clear current value").
UPDATE contacts SET custom = (custom || @set_values::jsonb) - @clear_keys::text[], updated_at = @now
WHERE account_id = @account_id AND id = @id;

-- name: ContactCustomValues :one
-- The contact's custom values, read FOR SHARE so a value checked at closing stays until
-- the close commits.
SELECT custom FROM contacts WHERE account_id = @account_id AND id = @id FOR SHARE;

-- name: GetClosingMessage :one
-- The user's closing message ('' when the user set none).
SELECT coalesce((SELECT p.closing_message FROM user_profiles p WHERE p.account_id = @account_id AND p.user_id = @user_id), '')::text AS closing_message;

-- name: SetClosingMessage :one
INSERT INTO user_profiles (account_id, user_id, closing_message, updated_at)
VALUES (@account_id, @user_id, @closing_message, @now)
ON CONFLICT (account_id, user_id) DO UPDATE SET closing_message = EXCLUDED.closing_message, updated_at = EXCLUDED.updated_at
RETURNING closing_message;
