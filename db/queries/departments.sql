-- name: CreateDepartment :one
INSERT INTO departments (account_id, id, name, created_at, updated_at)
VALUES (@account_id, @id, @name, @now, @now)
RETURNING *;

-- name: GetDepartment :one
SELECT * FROM departments WHERE account_id = @account_id AND id = @id;

-- name: ListDepartments :many
SELECT * FROM departments
WHERE account_id = @account_id AND (sqlc.narg('after')::uuid IS NULL OR id > sqlc.narg('after')::uuid)
ORDER BY id
LIMIT @max_rows;

-- name: RenameDepartment :one
UPDATE departments SET name = @name, updated_at = @now
WHERE account_id = @account_id AND id = @id
RETURNING *;

-- name: DeleteDepartment :execrows
DELETE FROM departments WHERE account_id = @account_id AND id = @id;

-- name: AddDepartmentMembers :execrows
INSERT INTO department_members (account_id, department_id, user_id, added_at)
SELECT @account_id, @department_id, u, @now FROM unnest(@user_ids::uuid[]) AS u
ON CONFLICT DO NOTHING;

-- name: RemoveDepartmentMember :execrows
DELETE FROM department_members WHERE account_id = @account_id AND department_id = @department_id AND user_id = @user_id;

-- name: ListDepartmentMembers :many
SELECT u.id, u.email, u.name, u.role, m.added_at
FROM department_members m
JOIN users u ON u.account_id = m.account_id AND u.id = m.user_id
WHERE m.account_id = @account_id AND m.department_id = @department_id
ORDER BY u.email;

-- name: UserDepartmentIDs :many
SELECT department_id FROM department_members WHERE account_id = @account_id AND user_id = @user_id ORDER BY department_id;
