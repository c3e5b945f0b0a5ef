-- +goose Up
-- Tags contacts carried before the catalogue existed enter it, and contacts take the
-- catalogue's spelling of each (names are compared ignoring case), so renames and deletes,
-- which match the exact spelling, reach every contact.
INSERT INTO tags (account_id, id, name, color, automation_only, created_at, updated_at)
SELECT DISTINCT ON (c.account_id, lower(t.name)) c.account_id, gen_random_uuid(), t.name, '#7f7f7f', false, now(), now()
FROM contacts c, unnest(c.tags) AS t(name)
ORDER BY c.account_id, lower(t.name), t.name
ON CONFLICT DO NOTHING;

UPDATE contacts c SET tags = ARRAY(
    SELECT DISTINCT ON (lower(x.name)) coalesce(
        (SELECT t.name FROM tags t WHERE t.account_id = c.account_id AND lower(t.name) = lower(x.name)), x.name)
    FROM unnest(c.tags) WITH ORDINALITY AS x(name, ord)
    ORDER BY lower(x.name), x.ord)
WHERE cardinality(c.tags) > 0
  AND EXISTS (SELECT 1 FROM unnest(c.tags) AS y(name)
              WHERE NOT EXISTS (SELECT 1 FROM tags t WHERE t.account_id = c.account_id AND t.name = y.name));

-- +goose Down
SELECT 1;
