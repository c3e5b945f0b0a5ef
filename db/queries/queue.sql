-- name: NextInQueue :one
-- Assigns the caller the first waiting conversation it may serve, in one statement: due
-- appointments first (by their time), else the head of the queue (WebChat, effective
-- priority, waiting since). Rows another agent is taking are skipped (SKIP LOCKED), so two
-- agents never get the same one. The agent may serve a conversation of one of its
-- departments; one without a department when none of its contact's segments names who
-- serves it, or one of them names the agent or one of its departments. Assigning an agent
-- removes the department and serves the appointment, and conversation.assigned is emitted.
-- No row: nothing waits for the agent. Returns the conversation as assigned.
WITH me AS (
    SELECT user_departments(@account_id, @user_id) AS deps, user_segments(@account_id, @user_id) AS segs
), due AS (
    SELECT c.account_id, c.id, c.department_id, c.appointment_at FROM conversations c
    WHERE c.account_id = @account_id AND c.status = 'open' AND c.agent_id IS NULL
      AND c.appointment_at IS NOT NULL AND c.appointment_at <= @due_before::timestamptz
      AND (CASE WHEN c.department_id IS NOT NULL THEN c.department_id = ANY((SELECT me.deps FROM me)::uuid[])
                ELSE cardinality(c.queue_segments) = 0 OR c.queue_segments && (SELECT me.segs FROM me) END)
    ORDER BY c.appointment_at, c.id
    LIMIT 1
    FOR UPDATE OF c SKIP LOCKED
), head AS (
    SELECT c.account_id, c.id, c.department_id, c.appointment_at FROM conversations c
    WHERE c.account_id = @account_id AND c.status = 'open' AND c.agent_id IS NULL AND c.appointment_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM due)
      AND (CASE WHEN c.department_id IS NOT NULL THEN c.department_id = ANY((SELECT me.deps FROM me)::uuid[])
                ELSE cardinality(c.queue_segments) = 0 OR c.queue_segments && (SELECT me.segs FROM me) END)
    ORDER BY c.queue_webchat DESC, c.queue_priority DESC, c.unanswered_since, c.id
    LIMIT 1
    FOR UPDATE OF c SKIP LOCKED
), pick AS (
    SELECT * FROM due UNION ALL SELECT * FROM head LIMIT 1
), upd AS (
    UPDATE conversations v SET agent_id = @user_id, department_id = NULL, appointment_at = NULL, updated_at = @now
    FROM pick WHERE v.account_id = pick.account_id AND v.id = pick.id
    RETURNING v.*
), att AS (
    UPDATE attendances a SET agent_id = @user_id, department_id = NULL
    WHERE a.account_id = @account_id AND a.id = (SELECT upd.attendance_id FROM upd)
    RETURNING a.id, a.protocol, a.opened_at, a.first_response_at, a.segment_id, a.sla_due_at, a.sla_breached_at
), ev AS (
    -- The conversation.assigned event (internal/event's outbox, as event.Emit writes it), in the
    -- same statement: Next is one round trip, committed on its own.
    INSERT INTO event_outbox (account_id, event_id, type, subject_id, data, occurred_at)
    SELECT @account_id, @event_id, 'conversation.assigned', upd.id,
           jsonb_build_object('conversation_id', upd.id, 'agent_id', @user_id::uuid, 'department_id', NULL,
                              'from_department_id', pick.department_id, 'by', 'next'), @now
    FROM upd JOIN pick ON pick.id = upd.id
)
-- The conversation as assigned, in GetConversation's shape, so the caller shows it without
-- reading it again.
SELECT upd.*, att.protocol AS protocol, att.opened_at AS attendance_opened_at, ch.type AS channel_type,
       att.first_response_at, att.segment_id AS attendance_segment_id, att.sla_due_at, att.sla_breached_at
FROM upd
JOIN channels ch ON ch.account_id = upd.account_id AND ch.id = upd.channel_id
LEFT JOIN att ON att.id = upd.attendance_id AND upd.status = 'open';

-- name: ListQueue :many
-- The waiting conversations in queue order from position @skip: due appointments, then the
-- queue's head. Each part reads its index up to the page's end.
SELECT q.id, q.contact_id, ct.name AS contact_name, q.channel_id, ch.type AS channel_type, q.department_id,
       q.unanswered_since, q.appointment_at, q.queue_webchat, q.queue_priority
FROM (
    (SELECT c.id, c.contact_id, c.channel_id, c.department_id, c.unanswered_since, c.appointment_at, c.queue_webchat,
            c.queue_priority, 0 AS part
     FROM conversations c
     WHERE c.account_id = @account_id AND c.status = 'open' AND c.agent_id IS NULL
       AND c.appointment_at IS NOT NULL AND c.appointment_at <= @due_before::timestamptz
     ORDER BY c.appointment_at, c.id
     LIMIT @upto::bigint)
    UNION ALL
    (SELECT c.id, c.contact_id, c.channel_id, c.department_id, c.unanswered_since, c.appointment_at, c.queue_webchat,
            c.queue_priority, 1 AS part
     FROM conversations c
     WHERE c.account_id = @account_id AND c.status = 'open' AND c.agent_id IS NULL AND c.appointment_at IS NULL
     ORDER BY c.queue_webchat DESC, c.queue_priority DESC, c.unanswered_since, c.id
     LIMIT @upto::bigint)
) q
JOIN contacts ct ON ct.account_id = @account_id AND ct.id = q.contact_id
JOIN channels ch ON ch.account_id = @account_id AND ch.id = q.channel_id
ORDER BY q.part, q.appointment_at, q.queue_webchat DESC, q.queue_priority DESC, q.unanswered_since, q.id
OFFSET @skip::bigint
LIMIT @lim::bigint;

-- name: QueueCounts :many
-- How many conversations wait (appointments not yet due are hidden), per channel.
SELECT c.channel_id, ch.type AS channel_type, count(*) AS waiting
FROM conversations c
JOIN channels ch ON ch.account_id = c.account_id AND ch.id = c.channel_id
WHERE c.account_id = @account_id AND c.status = 'open' AND c.agent_id IS NULL
  AND (c.appointment_at IS NULL OR c.appointment_at <= @due_before::timestamptz)
GROUP BY c.channel_id, ch.type
ORDER BY c.channel_id;

-- name: QueueUrgent :one
-- Whether a due appointment, a WebChat or a conversation of at least @urgent_priority waits.
SELECT (EXISTS (SELECT 1 FROM conversations c
               WHERE c.account_id = @account_id AND c.status = 'open' AND c.agent_id IS NULL
                 AND c.appointment_at IS NOT NULL AND c.appointment_at <= @due_before::timestamptz)
    OR EXISTS (SELECT 1 FROM conversations c
               WHERE c.account_id = @account_id AND c.status = 'open' AND c.agent_id IS NULL AND c.appointment_at IS NULL
                 AND (c.queue_webchat OR c.queue_priority >= @urgent_priority::smallint)))::boolean AS urgent;

-- name: LockConversationForAssign :one
-- The conversation an assignment changes, locked until the assignment commits.
SELECT c.status, c.contact_id, c.attendance_id, c.agent_id, c.department_id
FROM conversations c WHERE c.account_id = @account_id AND c.id = @id
FOR UPDATE;

-- name: ActiveUserExists :one
SELECT EXISTS (SELECT 1 FROM users u WHERE u.account_id = @account_id AND u.id = @id AND u.disabled_at IS NULL);

-- name: DepartmentExists :one
SELECT EXISTS (SELECT 1 FROM departments d WHERE d.account_id = @account_id AND d.id = @id);

-- name: DefaultAgentIn :one
-- The contact's default agent when it is an active member of the department (else null).
SELECT u.id FROM contacts ct
JOIN department_members dm ON dm.account_id = ct.account_id AND dm.department_id = @department_id AND dm.user_id = ct.default_agent_id
JOIN users u ON u.account_id = ct.account_id AND u.id = ct.default_agent_id AND u.disabled_at IS NULL
WHERE ct.account_id = @account_id AND ct.id = @contact_id;

-- name: SetAssignment :exec
-- Puts the conversation (and its open attendance) with an agent or a department (or
-- neither). Any assignment serves the appointment.
WITH v AS (
    UPDATE conversations c SET agent_id = sqlc.narg(agent_id), department_id = sqlc.narg(department_id),
                               appointment_at = NULL, updated_at = @now
    WHERE c.account_id = @account_id AND c.id = @id
    RETURNING c.attendance_id
)
UPDATE attendances a SET agent_id = sqlc.narg(agent_id), department_id = sqlc.narg(department_id)
WHERE a.account_id = @account_id AND a.id = (SELECT v.attendance_id FROM v);

-- name: CloseForFlow :one
-- Closes the conversation's attendance (forwarded to a flow): the conversation leaves the
-- queue and loses agent and department; the attendance keeps who served it. Returns the
-- closed attendance's protocol.
WITH v AS (
    UPDATE conversations c SET status = 'closed', attendance_id = NULL, agent_id = NULL, department_id = NULL,
                               appointment_at = NULL, updated_at = @now
    WHERE c.account_id = @account_id AND c.id = @id AND c.status = 'open'
    RETURNING c.id
), a AS (
    UPDATE attendances a SET closed_at = @now
    WHERE a.account_id = @account_id AND a.id = sqlc.narg(attendance_id) AND EXISTS (SELECT 1 FROM v)
    RETURNING a.protocol
)
SELECT coalesce((SELECT a.protocol FROM a), '')::text AS protocol;

-- name: TakeOnReply :one
-- An agent's reply to a conversation without an agent makes it the agent's; the department
-- stays (DESIGN §4). A conversation that has an agent keeps it. No row: nothing changed.
WITH v AS (
    UPDATE conversations c SET agent_id = @user_id, appointment_at = NULL, updated_at = @now
    WHERE c.account_id = @account_id AND c.id = @id AND c.status = 'open' AND c.agent_id IS NULL
    RETURNING c.attendance_id, c.department_id
), a AS (
    UPDATE attendances a SET agent_id = @user_id WHERE a.account_id = @account_id AND a.id = (SELECT v.attendance_id FROM v)
)
SELECT v.department_id FROM v;

-- name: SetAppointment :execrows
-- A scheduled callback on the conversation (nil clears it): hidden from the queue until 5
-- minutes before, then first.
UPDATE conversations SET appointment_at = sqlc.narg(appointment_at), updated_at = @now
WHERE account_id = @account_id AND id = @id;
