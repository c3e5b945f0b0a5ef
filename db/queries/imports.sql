-- name: CreateImport :exec
INSERT INTO imports (account_id, id, status, file_name, mode, dry_run, options, segment_id, delimiter, encoding,
                     bytes_total, created_by, created_at, updated_at)
VALUES (@account_id, @id, 'queued', @file_name, @mode, @dry_run, @options, @segment_id, @delimiter, @encoding,
        @bytes_total, @created_by, @now, @now);

-- name: SetImportUpload :exec
-- What the upload found once the whole body was stored.
UPDATE imports SET encoding = @encoding, bytes_total = @bytes_total
WHERE account_id = @account_id AND id = @id;

-- name: AddImportChunk :exec
INSERT INTO import_chunks (account_id, import_id, seq, data) VALUES (@account_id, @import_id, @seq, @data);

-- name: GetImportChunk :one
SELECT data FROM import_chunks WHERE account_id = @account_id AND import_id = @import_id AND seq = @seq;

-- name: DeleteImportChunks :exec
DELETE FROM import_chunks WHERE account_id = @account_id AND import_id = @import_id;

-- name: GetImport :one
SELECT * FROM imports WHERE account_id = @account_id AND id = @id;

-- name: LockImport :one
SELECT * FROM imports WHERE account_id = @account_id AND id = @id FOR UPDATE;

-- name: ListImports :many
SELECT * FROM imports
WHERE account_id = @account_id AND (sqlc.narg('after')::uuid IS NULL OR id < sqlc.narg('after')::uuid)
ORDER BY id DESC
LIMIT @max_rows;

-- name: StartImport :exec
-- A cancel that came first wins.
UPDATE imports SET status = 'running', started_at = coalesce(started_at, @now), updated_at = @now
WHERE account_id = @account_id AND id = @id AND status IN ('queued', 'running');

-- name: ImportProgress :exec
-- Moved in the transaction of the batch whose rows it counts.
UPDATE imports SET
    rows_read = @rows_read, bytes_read = @bytes_read,
    rows_created = rows_created + @created, rows_updated = rows_updated + @updated,
    rows_failed = rows_failed + @failed, rows_skipped = rows_skipped + @skipped, updated_at = @now
WHERE account_id = @account_id AND id = @id;

-- name: FinishImport :exec
-- A done import has read its whole upload.
UPDATE imports SET status = @status, error = sqlc.narg('error'), finished_at = @now::timestamptz, updated_at = @now,
    bytes_read = CASE WHEN @status = 'done' THEN bytes_total ELSE bytes_read END
WHERE account_id = @account_id AND id = @id;

-- name: CancelImport :one
-- Only an import still queued or running can be cancelled; the job stops at its next batch.
UPDATE imports SET status = 'cancelled', finished_at = @now::timestamptz, updated_at = @now
WHERE account_id = @account_id AND id = @id AND status IN ('queued', 'running')
RETURNING status;

-- name: SegmentExists :one
SELECT auto_tags FROM segments WHERE account_id = @account_id AND id = @id;
