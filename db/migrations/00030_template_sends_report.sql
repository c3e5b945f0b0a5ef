-- +goose Up
-- The template sends report (issue 8 §6) reads an account's direct template messages of a
-- period; without this index it would read every message of the account. Partial, so only
-- outbound template messages outside campaigns pay for it.
CREATE INDEX messages_template_sends ON messages (account_id, created_at)
    WHERE kind = 'template' AND direction = 'outbound' AND campaign_id IS NULL;

-- +goose Down
DROP INDEX messages_template_sends;
