-- name: LockDistribution :exec
-- Serialises the account's distributor runs until commit: each assignment counts the agents'
-- open conversations against their capacity, which two runs at once would both read before
-- either wrote. The two-key form (@class, a hash of the account id as text) keeps these locks apart from
-- the single-key advisory locks used elsewhere.
SELECT pg_advisory_xact_lock(@class::integer, hashtext(@account_key::text));

-- name: PickDistribution :one
-- The next conversation the distributor gives and to whom, its row locked until commit (rows
-- an agent's Next or another run holds are skipped, so no conversation is given twice):
-- waiting (open, no agent, no department; an appointment only once due), its attendance's
-- deciding segment set to automatic, in queue order; the agent, among the available, active
-- users who serve that segment (its users and the members of its departments) with fewer open
-- conversations than their capacity, the one with the fewest, then the one given work least
-- recently (never first). Conversations whose segment has no such agent are passed over; when
-- no available agent has room at all, no conversation is looked at. No row: nothing to give.
WITH free AS (
    SELECT p.user_id, p.last_assigned_at,
           (SELECT count(*) FROM conversations c
            WHERE c.account_id = p.account_id AND c.agent_id = p.user_id AND c.status = 'open') AS load,
           coalesce(p.capacity, (SELECT d.default_capacity FROM distribution_settings d WHERE d.account_id = p.account_id),
                    @default_capacity::smallint) AS capacity
    FROM user_profiles p
    JOIN users u ON u.account_id = p.account_id AND u.id = p.user_id AND u.disabled_at IS NULL
    WHERE p.account_id = @account_id AND p.availability = 'available'
)
SELECT c.id, c.department_id, ag.user_id, s.id AS segment_id
FROM conversations c
JOIN attendances a ON a.account_id = c.account_id AND a.id = c.attendance_id
JOIN segments s ON s.account_id = a.account_id AND s.id = a.segment_id AND s.distribution = 'automatic'
CROSS JOIN LATERAL (
    SELECT f.user_id FROM free f
    WHERE f.load < f.capacity
      AND (EXISTS (SELECT 1 FROM segment_users su WHERE su.account_id = s.account_id AND su.segment_id = s.id AND su.user_id = f.user_id)
           OR EXISTS (SELECT 1 FROM segment_departments sd
                      JOIN department_members dm ON dm.account_id = sd.account_id AND dm.department_id = sd.department_id
                      WHERE sd.account_id = s.account_id AND sd.segment_id = s.id AND dm.user_id = f.user_id))
    ORDER BY f.load, f.last_assigned_at NULLS FIRST, f.user_id
    LIMIT 1
) ag
WHERE c.account_id = @account_id AND c.status = 'open' AND c.agent_id IS NULL AND c.department_id IS NULL
  AND (c.appointment_at IS NULL OR c.appointment_at <= @due_before::timestamptz)
  AND EXISTS (SELECT 1 FROM free f WHERE f.load < f.capacity)
ORDER BY c.appointment_at NULLS LAST, c.queue_webchat DESC, c.queue_priority DESC, c.unanswered_since, c.id
LIMIT 1
FOR UPDATE OF c SKIP LOCKED;

-- name: TouchAgentAssigned :exec
-- The distributor gave the agent a conversation at @now: the round robin's tie-break.
UPDATE user_profiles SET last_assigned_at = @now WHERE account_id = @account_id AND user_id = @user_id;

-- name: DistributingAccounts :many
-- The accounts with a segment set to automatic distribution: what the periodic run visits.
SELECT DISTINCT account_id FROM segments WHERE distribution = 'automatic' ORDER BY account_id;

-- name: AccountDistributes :one
SELECT EXISTS (SELECT 1 FROM segments WHERE account_id = @account_id AND distribution = 'automatic');

-- name: GetAgentSettings :one
-- A user's distribution settings: its availability, its own capacity (null: the account's
-- default), and the capacity that applies. No row: no active user of the account.
SELECT u.id, coalesce(p.availability, 'away')::text AS availability, p.capacity,
       coalesce(p.capacity, (SELECT d.default_capacity FROM distribution_settings d WHERE d.account_id = u.account_id),
                @default_capacity::smallint)::smallint AS effective_capacity
FROM users u
LEFT JOIN user_profiles p ON p.account_id = u.account_id AND p.user_id = u.id
WHERE u.account_id = @account_id AND u.id = @user_id;

-- name: SetAvailability :exec
INSERT INTO user_profiles (account_id, user_id, availability, updated_at)
VALUES (@account_id, @user_id, @availability, @now)
ON CONFLICT (account_id, user_id) DO UPDATE SET availability = EXCLUDED.availability, updated_at = EXCLUDED.updated_at;

-- name: SetCapacity :execrows
-- The user's own capacity (null: the account's default). No row: no user of the account.
INSERT INTO user_profiles (account_id, user_id, capacity, updated_at)
SELECT u.account_id, u.id, sqlc.narg(capacity), @now FROM users u WHERE u.account_id = @account_id AND u.id = @user_id
ON CONFLICT (account_id, user_id) DO UPDATE SET capacity = EXCLUDED.capacity, updated_at = EXCLUDED.updated_at;

-- name: GetDefaultCapacity :one
SELECT coalesce((SELECT d.default_capacity FROM distribution_settings d WHERE d.account_id = @account_id),
                @default_capacity::smallint)::smallint AS default_capacity;

-- name: SetDefaultCapacity :one
INSERT INTO distribution_settings (account_id, default_capacity, updated_at) VALUES (@account_id, @default_capacity, @now)
ON CONFLICT (account_id) DO UPDATE SET default_capacity = EXCLUDED.default_capacity, updated_at = EXCLUDED.updated_at
RETURNING default_capacity;
