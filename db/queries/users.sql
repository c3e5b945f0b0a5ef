-- name: CreateUser :one
INSERT INTO users (account_id, id, email, name, password_hash, role, permissions)
VALUES (@account_id, @id, @email, @name, @password_hash, @role, @permissions)
RETURNING *;

-- name: GetUser :one
SELECT * FROM users WHERE account_id = @account_id AND id = @id;

-- name: GetUserByEmail :one
SELECT * FROM users WHERE email = @email;

-- name: RecordLoginFailure :one
-- Counts a failed password and locks the user once max_failures is reached.
UPDATE users
SET failed_logins = failed_logins + 1,
    locked_until = CASE WHEN failed_logins + 1 >= @max_failures::int THEN @lock_until::timestamptz ELSE locked_until END
WHERE account_id = @account_id AND id = @id
RETURNING failed_logins, locked_until;

-- name: ResetLoginFailures :exec
UPDATE users SET failed_logins = 0, locked_until = NULL
WHERE account_id = @account_id AND id = @id AND (failed_logins <> 0 OR locked_until IS NOT NULL);
