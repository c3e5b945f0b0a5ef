-- name: CreateCompany :one
INSERT INTO companies (account_id, id, cnpj, name, created_at, updated_at)
VALUES (@account_id, @id, @cnpj, @name, @now, @now)
RETURNING *;

-- name: GetCompany :one
SELECT * FROM companies WHERE account_id = @account_id AND id = @id;

-- name: GetCompanyByCNPJ :one
SELECT * FROM companies WHERE account_id = @account_id AND cnpj = @cnpj;

-- name: ListCompanies :many
SELECT * FROM companies
WHERE account_id = @account_id AND (sqlc.narg('after')::uuid IS NULL OR id > sqlc.narg('after')::uuid)
ORDER BY id
LIMIT @max_rows;

-- name: RenameCompany :one
UPDATE companies SET name = @name, updated_at = @now WHERE account_id = @account_id AND id = @id RETURNING *;

-- name: DeleteCompany :execrows
DELETE FROM companies WHERE account_id = @account_id AND id = @id;
