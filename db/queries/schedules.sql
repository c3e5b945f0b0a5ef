-- name: InsertSchedule :one
INSERT INTO schedules (account_id, id, kind, contact_id, run_at, channel_id, template_id, variables, open_attendance,
                       agent_id, department_id, flow, conversation_id, created_by_user_id, created_by_api_key_id, created_at)
VALUES (@account_id, @id, @kind, @contact_id, @run_at, sqlc.narg(channel_id), sqlc.narg(template_id), @variables, @open_attendance,
        sqlc.narg(agent_id), sqlc.narg(department_id), sqlc.narg(flow), sqlc.narg(conversation_id),
        sqlc.narg(created_by_user_id), sqlc.narg(created_by_api_key_id), @created_at)
RETURNING *;

-- name: SetScheduleJob :exec
-- The River job that runs the schedule, recorded once inserted (same transaction).
UPDATE schedules SET job_id = @job_id WHERE account_id = @account_id AND id = @id;

-- name: GetSchedule :one
SELECT * FROM schedules WHERE account_id = @account_id AND id = @id;

-- name: LockSchedule :one
-- The schedule a run or a cancel acts on, locked until it commits: whichever comes second
-- finds it no longer pending.
SELECT * FROM schedules WHERE account_id = @account_id AND id = @id FOR UPDATE;

-- name: FinishSchedule :one
-- Records how a pending schedule ended (done, failed, skipped, cancelled).
UPDATE schedules SET status = @status, reason = sqlc.narg(reason), finished_at = @now,
                     message_id = coalesce(sqlc.narg(message_id), message_id),
                     conversation_id = coalesce(sqlc.narg(conversation_id), conversation_id),
                     cancelled_by_user_id = sqlc.narg(cancelled_by_user_id)
WHERE account_id = @account_id AND id = @id AND status = 'pending'
RETURNING *;

-- name: ScheduleContact :one
-- The contact a schedule is for: whether it is blocked.
SELECT c.blocked FROM contacts c WHERE c.account_id = @account_id AND c.id = @id;

-- name: ScheduleRefs :one
-- Whether what a new schedule names exists in the account: the channel, the template, an
-- active agent, the department (a null reference counts as found).
SELECT (sqlc.narg(channel_id)::uuid IS NULL OR EXISTS (
            SELECT 1 FROM channels ch WHERE ch.account_id = @account_id AND ch.id = sqlc.narg(channel_id)))::boolean AS channel_ok,
       (sqlc.narg(template_id)::uuid IS NULL OR EXISTS (
            SELECT 1 FROM templates t WHERE t.account_id = @account_id AND t.id = sqlc.narg(template_id) AND t.deleted_at IS NULL))::boolean AS template_ok,
       (sqlc.narg(agent_id)::uuid IS NULL OR EXISTS (
            SELECT 1 FROM users u WHERE u.account_id = @account_id AND u.id = sqlc.narg(agent_id) AND u.disabled_at IS NULL))::boolean AS agent_ok,
       (sqlc.narg(department_id)::uuid IS NULL OR EXISTS (
            SELECT 1 FROM departments d WHERE d.account_id = @account_id AND d.id = sqlc.narg(department_id)))::boolean AS department_ok;

-- name: LockScheduleConversation :one
-- The conversation an appointment calls back, locked while the appointment is set or cleared.
SELECT c.contact_id, c.status, c.agent_id, c.appointment_at
FROM conversations c WHERE c.account_id = @account_id AND c.id = @id
FOR UPDATE;

-- name: ListContactSchedules :many
-- A contact's schedules: pending first, then the rest, newest first in each part; after the
-- cursor's schedule when given.
WITH cur AS (
    SELECT (s.status <> 'pending') AS ended, s.id FROM schedules s
    WHERE s.account_id = @account_id AND s.id = sqlc.narg(after)
)
SELECT s.* FROM schedules s
WHERE s.account_id = @account_id AND s.contact_id = @contact_id
  AND (sqlc.narg(after)::uuid IS NULL OR ((s.status <> 'pending') > (SELECT cur.ended FROM cur))
       OR ((s.status <> 'pending') = (SELECT cur.ended FROM cur) AND s.id < (SELECT cur.id FROM cur)))
ORDER BY (s.status <> 'pending'), s.id DESC
LIMIT @lim;

-- name: ListSchedules :many
-- The account's schedules, newest first, narrowed by kind, status, the agent the attendance
-- opens to, who scheduled it and a period of run times.
SELECT s.* FROM schedules s
WHERE s.account_id = @account_id
  AND (sqlc.narg(after)::uuid IS NULL OR s.id < sqlc.narg(after))
  AND (sqlc.narg(kind)::text IS NULL OR s.kind = sqlc.narg(kind))
  AND (sqlc.narg(status)::text IS NULL OR s.status = sqlc.narg(status))
  AND (sqlc.narg(agent_id)::uuid IS NULL OR s.agent_id = sqlc.narg(agent_id))
  AND (sqlc.narg(created_by_user_id)::uuid IS NULL OR s.created_by_user_id = sqlc.narg(created_by_user_id))
  AND (sqlc.narg(run_from)::timestamptz IS NULL OR s.run_at >= sqlc.narg(run_from))
  AND (sqlc.narg(run_to)::timestamptz IS NULL OR s.run_at < sqlc.narg(run_to))
ORDER BY s.id DESC
LIMIT @lim;
