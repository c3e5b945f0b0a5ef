-- +goose Up
-- Merging duplicate contacts, and where a contact came from (for segment rules).

-- How a contact entered the account, and the channel it first wrote on when it came by a
-- message. Set once at creation; segments can select on both. Contacts that existed before
-- this migration were created through the API.
ALTER TABLE contacts
    ADD COLUMN origin text NOT NULL DEFAULT 'api' CHECK (origin IN ('manual', 'api', 'import', 'inbound')),
    ADD COLUMN origin_channel_id uuid,
    ADD FOREIGN KEY (account_id, origin_channel_id) REFERENCES channels (account_id, id) ON DELETE SET NULL (origin_channel_id);

ALTER TABLE segments
    ADD COLUMN origins     text[] NOT NULL DEFAULT '{}',
    ADD COLUMN channel_ids uuid[] NOT NULL DEFAULT '{}';

-- One row per contact merged away: who it went into, who merged it, and the whole contact as
-- it was (fields, phones), so that nothing the duplicate held is lost even where the
-- survivor's own value won. A merged contact's consent records stay on its own chain (they
-- are proof); the survivor's chain repeats the decisions it carried over, naming them.
CREATE TABLE contact_merges (
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    merged_id    uuid NOT NULL,
    survivor_id  uuid NOT NULL,
    merged_at    timestamptz NOT NULL,
    merged_by    text NOT NULL,
    snapshot     jsonb NOT NULL,
    PRIMARY KEY (account_id, merged_id)
);
CREATE INDEX contact_merges_survivor ON contact_merges (account_id, survivor_id);

-- +goose Down
DROP TABLE contact_merges;
ALTER TABLE segments DROP COLUMN origins, DROP COLUMN channel_ids;
ALTER TABLE contacts DROP COLUMN origin, DROP COLUMN origin_channel_id;
