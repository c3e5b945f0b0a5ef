-- name: CreateChannel :one
INSERT INTO channels (account_id, id, type, name, provider, direction, priority, business_hours, time_zone,
    phone_number, phone_number_id, waba_id, line_kind, quality_rating, throughput_mps, messaging_limit,
    credentials, credentials_set_at, active, created_at, updated_at)
VALUES (@account_id, @id, @type, @name, @provider, @direction, @priority, @business_hours, @time_zone,
    @phone_number, @phone_number_id, @waba_id, @line_kind, @quality_rating, @throughput_mps, @messaging_limit,
    @credentials, @credentials_set_at, @active, @now, @now)
RETURNING id;

-- name: UpdateChannel :execrows
UPDATE channels SET name = @name, direction = @direction, priority = @priority, business_hours = @business_hours,
    time_zone = @time_zone, phone_number = @phone_number, phone_number_id = @phone_number_id, waba_id = @waba_id,
    line_kind = @line_kind, quality_rating = @quality_rating, throughput_mps = @throughput_mps,
    messaging_limit = @messaging_limit, credentials = @credentials, credentials_set_at = @credentials_set_at,
    active = @active, updated_at = @now
WHERE account_id = @account_id AND id = @id;

-- name: GetChannel :one
SELECT c.*,
       array(SELECT s.segment_id FROM channel_segments s WHERE s.account_id = c.account_id AND s.channel_id = c.id ORDER BY 1)::uuid[] AS segment_ids
FROM channels c WHERE c.account_id = @account_id AND c.id = @id;

-- name: GetChannelForUpdate :one
SELECT * FROM channels WHERE account_id = @account_id AND id = @id FOR UPDATE;

-- name: ListChannelIDs :many
SELECT id FROM channels
WHERE account_id = @account_id AND (sqlc.narg('type')::text IS NULL OR type = sqlc.narg('type')::text)
ORDER BY priority DESC, id;

-- name: DeleteChannel :execrows
DELETE FROM channels WHERE account_id = @account_id AND id = @id;

-- name: KeepChannelSegments :exec
DELETE FROM channel_segments
WHERE account_id = @account_id AND channel_id = @channel_id AND NOT segment_id = ANY(@segment_ids::uuid[]);

-- name: AddChannelSegments :exec
INSERT INTO channel_segments (account_id, channel_id, segment_id)
SELECT DISTINCT @account_id::uuid, @channel_id::uuid, unnest(@segment_ids::uuid[])
ON CONFLICT DO NOTHING;

-- name: SetChannelPriorities :execrows
-- The whole priority table in one statement; WebChat stays at 100 (the table's CHECK refuses
-- anything else).
UPDATE channels c SET priority = p.priority, updated_at = @now
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@priorities::smallint[]) AS priority) p
WHERE c.account_id = @account_id AND c.id = p.id;
