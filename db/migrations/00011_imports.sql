-- +goose Up
-- CSV imports of contacts: the uploaded file kept in PostgreSQL (so any worker process can
-- read it and a restarted one resumes), the import's options and progress (what a frontend
-- polls), and the rows that failed.

CREATE TABLE imports (
    account_id     uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id             uuid NOT NULL,
    status         text NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    file_name      text NOT NULL DEFAULT '',
    mode           text NOT NULL CHECK (mode IN ('create_only', 'update_only', 'upsert_by_customer_code', 'upsert_by_phone')),
    dry_run        boolean NOT NULL,
    -- The options as accepted (mapping, tags, segment, default DDD), read by the job.
    options        jsonb NOT NULL,
    segment_id     uuid,
    -- What the upload found: the delimiter and the encoding ('utf-8' or 'windows-1252').
    delimiter      text NOT NULL,
    encoding       text NOT NULL CHECK (encoding IN ('utf-8', 'windows-1252')),
    bytes_total    bigint NOT NULL,
    -- Progress, moved in the same transaction as each batch's changes: a restarted job skips
    -- the records already read and goes on from there.
    bytes_read     bigint NOT NULL DEFAULT 0,
    rows_read      bigint NOT NULL DEFAULT 0,
    rows_created   bigint NOT NULL DEFAULT 0,
    rows_updated   bigint NOT NULL DEFAULT 0,
    rows_failed    bigint NOT NULL DEFAULT 0,
    rows_skipped   bigint NOT NULL DEFAULT 0,
    error          text,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, segment_id) REFERENCES segments (account_id, id) ON DELETE SET NULL (segment_id)
);
CREATE INDEX imports_account ON imports (account_id, id DESC);

-- The uploaded bytes in pieces of about 1 MiB, in order; deleted when the import ends.
CREATE TABLE import_chunks (
    account_id uuid NOT NULL,
    import_id  uuid NOT NULL,
    seq        integer NOT NULL,
    data       bytea NOT NULL,
    PRIMARY KEY (account_id, import_id, seq),
    FOREIGN KEY (account_id, import_id) REFERENCES imports (account_id, id) ON DELETE CASCADE
);
ALTER TABLE import_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- One line per problem of a row that was not imported (failed) or was left out (skipped).
CREATE TABLE import_errors (
    account_id  uuid NOT NULL,
    import_id   uuid NOT NULL,
    line        bigint NOT NULL,
    column_name text NOT NULL,
    reason      text NOT NULL,
    skipped     boolean NOT NULL DEFAULT false,
    FOREIGN KEY (account_id, import_id) REFERENCES imports (account_id, id) ON DELETE CASCADE
);
CREATE INDEX import_errors_import ON import_errors (account_id, import_id, line);

-- +goose Down
DROP TABLE import_errors;
DROP TABLE import_chunks;
DROP TABLE imports;
