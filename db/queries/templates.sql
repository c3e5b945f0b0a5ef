-- name: CreateTemplate :exec
INSERT INTO templates (account_id, id, name, language, category, parameter_format, components, examples, bindings,
                       created_at, updated_at)
VALUES (@account_id, @id, @name, @language, @category, @parameter_format, @components, @examples, @bindings, @now, @now);

-- name: UpdateTemplate :execrows
UPDATE templates SET name = @name, language = @language, category = @category, parameter_format = @parameter_format,
    components = @components, examples = @examples, bindings = @bindings, version = version + 1, updated_at = @now
WHERE account_id = @account_id AND id = @id AND deleted_at IS NULL;

-- name: GetTemplate :one
SELECT * FROM templates WHERE account_id = @account_id AND id = @id AND deleted_at IS NULL;

-- name: GetTemplateForUpdate :one
SELECT * FROM templates WHERE account_id = @account_id AND id = @id AND deleted_at IS NULL FOR UPDATE;

-- name: ListTemplates :many
-- Keyset pagination on the time-ordered id; the name filters use the trigram index.
SELECT * FROM templates t
WHERE t.account_id = @account_id AND t.deleted_at IS NULL
  AND (sqlc.narg('after')::uuid IS NULL OR t.id > sqlc.narg('after')::uuid)
  AND (sqlc.narg('name_like')::text IS NULL OR t.name LIKE sqlc.narg('name_like')::text)
  AND (sqlc.narg('category')::text IS NULL OR t.category = sqlc.narg('category')::text)
  AND (sqlc.narg('status')::text IS NULL OR t.status = sqlc.narg('status')::text)
  AND (sqlc.narg('channel_id')::uuid IS NULL OR EXISTS (
        SELECT 1 FROM template_channels tc
        WHERE tc.account_id = t.account_id AND tc.template_id = t.id AND tc.channel_id = sqlc.narg('channel_id')::uuid))
ORDER BY t.id
LIMIT @max_rows;

-- name: ListTemplateChannels :many
SELECT tc.*, c.type AS channel_type, c.provider AS channel_provider, coalesce(c.waba_id, '')::text AS waba_id
FROM template_channels tc
JOIN channels c ON c.account_id = tc.account_id AND c.id = tc.channel_id
WHERE tc.account_id = @account_id AND tc.template_id = ANY(@template_ids::uuid[])
ORDER BY tc.template_id, tc.channel_id;

-- name: ChannelTypes :many
SELECT id, type FROM channels WHERE account_id = @account_id AND id = ANY(@ids::uuid[]);

-- name: KeepTemplateChannels :exec
DELETE FROM template_channels
WHERE account_id = @account_id AND template_id = @template_id AND NOT channel_id = ANY(@channel_ids::uuid[]);

-- name: AddTemplateChannels :exec
INSERT INTO template_channels (account_id, template_id, channel_id)
SELECT DISTINCT @account_id::uuid, @template_id::uuid, unnest(@channel_ids::uuid[])
ON CONFLICT DO NOTHING;

-- name: SetTemplateChannelSubmitted :exec
UPDATE template_channels SET status = @status, provider_template_id = @provider_template_id, error = NULL,
    reason = NULL, submitted_at = @now::timestamptz, status_at = NULL
WHERE account_id = @account_id AND template_id = @template_id AND channel_id = @channel_id;

-- name: SetTemplateChannelError :exec
UPDATE template_channels SET error = @error
WHERE account_id = @account_id AND template_id = @template_id AND channel_id = @channel_id;

-- name: ApplyTemplateStatus :many
-- A provider's verdict on its template id, for the account's rows that carry it; a verdict
-- older than the one applied is ignored, so retried and out-of-order notifications are harmless.
UPDATE template_channels SET status = @status, reason = sqlc.narg('reason'), status_at = @at::timestamptz
WHERE account_id = @account_id AND provider_template_id = @provider_template_id::text
  AND (status_at IS NULL OR status_at <= @at::timestamptz)
RETURNING template_id;

-- name: RefreshTemplateStatus :exec
-- The templates' summary status (see refresh_template_status in the migration).
SELECT refresh_template_status(@account_id::uuid, id, @now::timestamptz) FROM unnest(@ids::uuid[]) AS id;

-- name: SoftDeleteTemplate :execrows
UPDATE templates SET deleted_at = @now::timestamptz, updated_at = @now::timestamptz
WHERE account_id = @account_id AND id = @id AND deleted_at IS NULL;

-- name: DeleteTemplate :execrows
DELETE FROM templates WHERE account_id = @account_id AND id = @id;

-- name: GetTemplateChannel :one
SELECT tc.*, t.deleted_at FROM template_channels tc
JOIN templates t ON t.account_id = tc.account_id AND t.id = tc.template_id
WHERE tc.account_id = @account_id AND tc.template_id = @template_id AND tc.channel_id = @channel_id;

-- name: ContactIDByCode :one
SELECT id FROM contacts WHERE account_id = @account_id AND customer_code = @customer_code;
