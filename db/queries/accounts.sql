-- name: CreateAccount :one
INSERT INTO accounts (id, name, support_secret)
VALUES (@id, @name, @support_secret)
RETURNING *;

-- name: GetAccount :one
SELECT * FROM accounts WHERE id = @id;

-- name: ListAccountIDs :many
SELECT id FROM accounts ORDER BY id;
