-- name: CreateUser :one
INSERT INTO users (account_id, id, email, name, password_hash, role, permissions)
VALUES (@account_id, @id, @email, @name, @password_hash, @role, @permissions)
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE account_id = @account_id AND id = @id;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = @email;

-- name: ClaimLoginAttempt :one
-- Counts a login attempt against the user before the password is checked, in one atomic
-- step, so parallel guesses cannot all slip past the lock: the max_failures-th attempt in a
-- row locks the user until lock_until (and starts the count again). No row: no such user, or
-- the user is locked.
UPDATE users SET
    failed_logins = CASE WHEN failed_logins + 1 >= @max_failures::int THEN 0 ELSE failed_logins + 1 END,
    locked_until = CASE WHEN failed_logins + 1 >= @max_failures::int THEN @lock_until::timestamptz ELSE NULL END
WHERE email = @email AND (locked_until IS NULL OR locked_until <= @now::timestamptz)
RETURNING *;

-- name: ResetLoginFailures :exec
UPDATE users SET failed_logins = 0, locked_until = NULL
WHERE account_id = @account_id AND id = @id AND (failed_logins <> 0 OR locked_until IS NOT NULL);
