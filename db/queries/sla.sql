-- name: MarkSLABreaches :one
-- One batch of the SLA breach sweep (internal/sla), in one statement: lock up to @batch
-- attendances whose SLA is due by @now, neither answered nor closed in time, not yet reported,
-- by the partial index attendances_sla_due (most overdue first, skipping rows another sweep
-- holds); mark them breached at @now; emit attendance.sla_breached for each, the event ids
-- given by the caller (UUIDv7, at least @batch of them) and the data built here as
-- event.Emit writes it. Returns how many were marked. A row is marked once, so a second
-- sweep over the same time emits nothing.
WITH due AS (
    SELECT a.account_id, a.id FROM attendances a
    WHERE a.sla_breached_at IS NULL AND a.sla_due_at IS NOT NULL
      AND (a.first_response_at IS NULL OR a.first_response_at > a.sla_due_at)
      AND (a.closed_at IS NULL OR a.closed_at > a.sla_due_at)
      AND a.sla_due_at < @now::timestamptz
    ORDER BY a.sla_due_at
    LIMIT @batch::integer
    FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE attendances a SET sla_breached_at = @now::timestamptz
    FROM due WHERE a.account_id = due.account_id AND a.id = due.id
    RETURNING a.account_id, a.id, a.conversation_id, a.protocol, a.opened_at, a.closed_at, a.segment_id, a.sla_due_at,
              a.first_response_at, a.agent_id, a.department_id
), numbered AS (
    SELECT m.*, row_number() OVER (ORDER BY m.sla_due_at, m.id) AS n FROM marked m
), ev AS (
    INSERT INTO event_outbox (account_id, event_id, type, subject_id, data, occurred_at)
    SELECT b.account_id, (@event_ids::uuid[])[b.n], 'attendance.sla_breached', b.conversation_id,
           jsonb_build_object('attendance_id', b.id, 'conversation_id', b.conversation_id, 'protocol', b.protocol,
                              'opened_at', b.opened_at, 'closed_at', b.closed_at, 'segment_id', b.segment_id,
                              'sla_due_at', b.sla_due_at, 'first_response_at', b.first_response_at,
                              'agent_id', b.agent_id, 'department_id', b.department_id),
           @now::timestamptz
    FROM numbered b
)
SELECT count(*) FROM numbered;
