-- name: EnsureDirectThread :one
-- The direct thread of two users (ordered pair), created on the first message; both must be
-- users of the account (the foreign keys refuse another account's user).
INSERT INTO team_threads (account_id, id, kind, user_low, user_high, created_at)
VALUES (@account_id, @id, 'direct', @user_low, @user_high, @now)
ON CONFLICT (account_id, user_low, user_high) WHERE kind = 'direct' DO UPDATE SET kind = team_threads.kind
RETURNING id;

-- name: EnsureRoom :one
-- The account's one room, created on its first message.
INSERT INTO team_threads (account_id, id, kind, created_at)
VALUES (@account_id, @id, 'room', @now)
ON CONFLICT (account_id) WHERE kind = 'room' DO UPDATE SET kind = team_threads.kind
RETURNING id;

-- name: GetTeamThreadFor :one
-- A thread the user is in: a direct thread of theirs, or the room. No row: not theirs (or not
-- the account's).
SELECT * FROM team_threads
WHERE account_id = @account_id AND id = @id
  AND (kind = 'room' OR user_low = @user_id::uuid OR user_high = @user_id::uuid);

-- name: InsertTeamMessage :one
INSERT INTO team_messages (account_id, id, thread_id, sender_user_id, body, created_at)
VALUES (@account_id, @id, @thread_id, @sender_user_id, @body, @now)
RETURNING seq;

-- name: MarkTeamThreadRead :exec
-- Reads the thread up to @read_seq (never back).
INSERT INTO team_reads (account_id, thread_id, user_id, read_seq)
VALUES (@account_id, @thread_id, @user_id, @read_seq)
ON CONFLICT (account_id, thread_id, user_id) DO UPDATE SET read_seq = greatest(team_reads.read_seq, excluded.read_seq);

-- name: LastTeamSeq :one
SELECT coalesce(max(seq), 0)::bigint FROM team_messages WHERE account_id = @account_id AND thread_id = @thread_id;

-- name: ListTeamThreads :many
-- The user's threads (their direct threads and the room, once it exists) with the last message
-- (last_seq 0: none yet) and how many of the others' messages came after what the user read;
-- latest activity first.
SELECT t.id, t.kind, t.user_low, t.user_high, t.created_at,
       coalesce(lm.id, t.id)::uuid AS last_id, coalesce(lm.seq, 0)::bigint AS last_seq, coalesce(lm.sender_user_id, t.id)::uuid AS last_sender_user_id,
       coalesce(lm.body, '')::text AS last_body, coalesce(lm.created_at, t.created_at)::timestamptz AS last_created_at,
       (SELECT count(*) FROM team_messages m
        WHERE m.account_id = t.account_id AND m.thread_id = t.id AND m.sender_user_id <> @user_id::uuid
          AND m.seq > coalesce((SELECT r.read_seq FROM team_reads r
                                WHERE r.account_id = t.account_id AND r.thread_id = t.id AND r.user_id = @user_id::uuid), 0))::bigint AS unread
FROM team_threads t
LEFT JOIN LATERAL (
    SELECT m.id, m.seq, m.sender_user_id, m.body, m.created_at FROM team_messages m
    WHERE m.account_id = t.account_id AND m.thread_id = t.id
    ORDER BY m.seq DESC LIMIT 1
) lm ON true
WHERE t.account_id = @account_id
  AND (t.kind = 'room' OR t.user_low = @user_id::uuid OR t.user_high = @user_id::uuid)
ORDER BY lm.seq DESC NULLS LAST, t.id
LIMIT 500;

-- name: ListTeamMessages :many
-- A thread's messages, newest first, before the cursor's seq.
SELECT id, seq, sender_user_id, body, created_at FROM team_messages
WHERE account_id = @account_id AND thread_id = @thread_id
  AND (sqlc.narg('before')::bigint IS NULL OR seq < sqlc.narg('before')::bigint)
ORDER BY seq DESC
LIMIT @lim;
