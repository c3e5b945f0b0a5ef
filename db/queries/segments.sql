-- name: CreateSegment :one
INSERT INTO segments (account_id, id, name, priority, sla_minutes, distribution, auto_tags, rules, has_rules,
                      tags_any, tags_all, origins, channel_ids, match_path, created_at, updated_at)
VALUES (@account_id, @id, @name, @priority, @sla_minutes, @distribution, @auto_tags, @rules, @has_rules,
        @tags_any, @tags_all, @origins, @channel_ids, sqlc.narg('match_path')::text::jsonpath, @now, @now)
RETURNING id;

-- name: UpdateSegment :execrows
UPDATE segments SET name = @name, priority = @priority, sla_minutes = @sla_minutes, distribution = @distribution,
    auto_tags = @auto_tags, rules = @rules, has_rules = @has_rules, tags_any = @tags_any, tags_all = @tags_all,
    origins = @origins, channel_ids = @channel_ids, match_path = sqlc.narg('match_path')::text::jsonpath, updated_at = @now
WHERE account_id = @account_id AND id = @id;

-- name: GetSegment :one
SELECT id, name, priority, sla_minutes, distribution, auto_tags, rules, has_rules, tags_any, tags_all,
       origins, channel_ids, coalesce(match_path::text, '')::text AS match_path, created_at, updated_at,
       array(SELECT d.department_id FROM segment_departments d WHERE d.account_id = s.account_id AND d.segment_id = s.id ORDER BY 1)::uuid[] AS department_ids,
       array(SELECT u.user_id FROM segment_users u WHERE u.account_id = s.account_id AND u.segment_id = s.id ORDER BY 1)::uuid[] AS user_ids
FROM segments s
WHERE s.account_id = @account_id AND s.id = @id;

-- name: ListSegments :many
-- The columns of GetSegment, one page in one query.
SELECT id, name, priority, sla_minutes, distribution, auto_tags, rules, has_rules, tags_any, tags_all,
       origins, channel_ids, coalesce(match_path::text, '')::text AS match_path, created_at, updated_at,
       array(SELECT d.department_id FROM segment_departments d WHERE d.account_id = s.account_id AND d.segment_id = s.id ORDER BY 1)::uuid[] AS department_ids,
       array(SELECT u.user_id FROM segment_users u WHERE u.account_id = s.account_id AND u.segment_id = s.id ORDER BY 1)::uuid[] AS user_ids
FROM segments s
WHERE s.account_id = @account_id AND (sqlc.narg('after')::uuid IS NULL OR s.id > sqlc.narg('after')::uuid)
ORDER BY s.id
LIMIT @max_rows;

-- name: DeleteSegment :execrows
DELETE FROM segments WHERE account_id = @account_id AND id = @id;

-- name: KeepSegmentDepartments :exec
-- Removes the departments not in the list (SetSegmentDepartments adds the rest): a DELETE in
-- a WITH runs after the statement's INSERT, so the two cannot share one statement.
DELETE FROM segment_departments
WHERE account_id = @account_id AND segment_id = @segment_id AND NOT department_id = ANY(@department_ids::uuid[]);

-- name: AddSegmentDepartments :exec
INSERT INTO segment_departments (account_id, segment_id, department_id)
SELECT DISTINCT @account_id::uuid, @segment_id::uuid, unnest(@department_ids::uuid[])
ON CONFLICT DO NOTHING;

-- name: KeepSegmentUsers :exec
DELETE FROM segment_users
WHERE account_id = @account_id AND segment_id = @segment_id AND NOT user_id = ANY(@user_ids::uuid[]);

-- name: AddSegmentUsers :exec
INSERT INTO segment_users (account_id, segment_id, user_id)
SELECT DISTINCT @account_id::uuid, @segment_id::uuid, unnest(@user_ids::uuid[])
ON CONFLICT DO NOTHING;

-- name: AddSegmentMembers :execrows
-- Static members; ids of no contact of the account are skipped.
INSERT INTO segment_members (account_id, segment_id, contact_id, added_at)
SELECT @account_id, @segment_id, c.id, @now FROM contacts c
WHERE c.account_id = @account_id AND c.id = ANY(@contact_ids::uuid[])
ON CONFLICT DO NOTHING;

-- name: RemoveSegmentMembers :execrows
DELETE FROM segment_members
WHERE account_id = @account_id AND segment_id = @segment_id AND contact_id = ANY(@contact_ids::uuid[]);

-- name: CountSegment :one
-- Members: the contacts that satisfy the rules, plus the static members that do not. Counted
-- as two sums rather than one scan with "is a static member OR satisfies the rules": the OR
-- with a subquery kept the scan from using the GIN index on tags and from running in
-- parallel, and read every contact of the account (0.40-0.56 s at 1 000 000 contacts, where
-- this takes 0.22-0.26 s). The rules come in as parameters so each count is planned for them
-- (GIN indexes on tags and custom values).
SELECT ((SELECT count(*) FROM contacts c
         WHERE c.account_id = @account_id AND @has_rules::bool
           AND (cardinality(@tags_any::text[]) = 0 OR c.tags && @tags_any::text[])
           AND (cardinality(@tags_all::text[]) = 0 OR c.tags @> @tags_all::text[])
           AND (cardinality(@origins::text[]) = 0 OR c.origin = ANY(@origins::text[]))
           AND (cardinality(@channel_ids::uuid[]) = 0 OR c.origin_channel_id = ANY(@channel_ids::uuid[]))
           AND (sqlc.narg('match_path')::text IS NULL OR c.custom @@ sqlc.narg('match_path')::text::jsonpath))
      + (SELECT count(*) FROM segment_members m JOIN contacts c ON c.account_id = m.account_id AND c.id = m.contact_id
         WHERE m.account_id = @account_id AND m.segment_id = @segment_id
           AND NOT coalesce(@has_rules::bool
               AND (cardinality(@tags_any::text[]) = 0 OR c.tags && @tags_any::text[])
               AND (cardinality(@tags_all::text[]) = 0 OR c.tags @> @tags_all::text[])
               AND (cardinality(@origins::text[]) = 0 OR c.origin = ANY(@origins::text[]))
               AND (cardinality(@channel_ids::uuid[]) = 0 OR c.origin_channel_id = ANY(@channel_ids::uuid[]))
               AND (sqlc.narg('match_path')::text IS NULL OR c.custom @@ sqlc.narg('match_path')::text::jsonpath), false)))::bigint AS members;

-- name: ListSegmentMembers :many
SELECT c.id, c.name, c.customer_code FROM contacts c
WHERE c.account_id = @account_id
  AND (sqlc.narg('after')::uuid IS NULL OR c.id > sqlc.narg('after')::uuid)
  AND (
    EXISTS (SELECT 1 FROM segment_members m WHERE m.account_id = c.account_id AND m.segment_id = @segment_id AND m.contact_id = c.id)
    OR (@has_rules::bool
        AND (cardinality(@tags_any::text[]) = 0 OR c.tags && @tags_any::text[])
        AND (cardinality(@tags_all::text[]) = 0 OR c.tags @> @tags_all::text[])
        AND (cardinality(@origins::text[]) = 0 OR c.origin = ANY(@origins::text[]))
        AND (cardinality(@channel_ids::uuid[]) = 0 OR c.origin_channel_id = ANY(@channel_ids::uuid[]))
        AND (sqlc.narg('match_path')::text IS NULL OR c.custom @@ sqlc.narg('match_path')::text::jsonpath)))
ORDER BY c.id
LIMIT @max_rows;

-- name: ContactSegments :many
-- The segments a contact is in, by priority.
SELECT s.id, s.name, s.priority FROM segments s
JOIN contacts c ON c.account_id = s.account_id AND c.id = @contact_id
WHERE s.account_id = @account_id AND (
    EXISTS (SELECT 1 FROM segment_members m WHERE m.account_id = s.account_id AND m.segment_id = s.id AND m.contact_id = c.id)
    OR (s.has_rules
        AND (cardinality(s.tags_any) = 0 OR c.tags && s.tags_any)
        AND (cardinality(s.tags_all) = 0 OR c.tags @> s.tags_all)
        AND (cardinality(s.origins) = 0 OR c.origin = ANY(s.origins))
        AND (cardinality(s.channel_ids) = 0 OR c.origin_channel_id = ANY(s.channel_ids))
        AND (s.match_path IS NULL OR c.custom @@ s.match_path)))
ORDER BY s.priority DESC, s.id;

-- name: ApplySegmentTags :execrows
-- Gives every member the segment's automatic tags it lacks.
UPDATE contacts c SET tags = c.tags || ARRAY(SELECT t FROM unnest(@auto_tags::text[]) t WHERE NOT t = ANY(c.tags)),
    version = version + 1, updated_at = @now
WHERE c.account_id = @account_id AND NOT c.tags @> @auto_tags::text[] AND (
    EXISTS (SELECT 1 FROM segment_members m WHERE m.account_id = c.account_id AND m.segment_id = @segment_id AND m.contact_id = c.id)
    OR (@has_rules::bool
        AND (cardinality(@tags_any::text[]) = 0 OR c.tags && @tags_any::text[])
        AND (cardinality(@tags_all::text[]) = 0 OR c.tags @> @tags_all::text[])
        AND (cardinality(@origins::text[]) = 0 OR c.origin = ANY(@origins::text[]))
        AND (cardinality(@channel_ids::uuid[]) = 0 OR c.origin_channel_id = ANY(@channel_ids::uuid[]))
        AND (sqlc.narg('match_path')::text IS NULL OR c.custom @@ sqlc.narg('match_path')::text::jsonpath)));

-- name: ApplySegmentTagsTo :execrows
-- ApplySegmentTags for some contacts only (new static members).
UPDATE contacts c SET tags = c.tags || ARRAY(SELECT t FROM unnest(@auto_tags::text[]) t WHERE NOT t = ANY(c.tags)),
    version = version + 1, updated_at = @now
WHERE c.account_id = @account_id AND c.id = ANY(@contact_ids::uuid[]) AND NOT c.tags @> @auto_tags::text[];

-- name: SegmentsUsingTag :many
SELECT name FROM segments
WHERE account_id = @account_id
  AND (@tag::text = ANY(tags_any) OR @tag::text = ANY(tags_all) OR @tag::text = ANY(auto_tags));

-- name: SegmentsUsingField :many
SELECT name FROM segments
WHERE account_id = @account_id AND rules -> 'custom' @> jsonb_build_array(jsonb_build_object('key', @key::text));

-- name: SegmentsWithAutoTags :many
SELECT id FROM segments WHERE account_id = @account_id AND cardinality(auto_tags) > 0;

-- name: AccountsWithAutoTagSegments :many
SELECT DISTINCT account_id FROM segments WHERE cardinality(auto_tags) > 0;

-- name: ExistingChannelIDs :many
SELECT id FROM channels WHERE account_id = @account_id AND id = ANY(@ids::uuid[]);
