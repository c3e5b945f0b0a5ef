-- +goose Up
-- Notes on contacts and the account's tag catalogue.

CREATE TABLE contact_notes (
    account_id      uuid NOT NULL,
    id              uuid NOT NULL,
    contact_id      uuid NOT NULL,
    author_id       uuid NOT NULL,
    body            text NOT NULL CHECK (length(body) BETWEEN 1 AND 5000),
    due_at          timestamptz,
    forwarded_to_id uuid,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, author_id) REFERENCES users (account_id, id),
    FOREIGN KEY (account_id, forwarded_to_id) REFERENCES users (account_id, id)
);
CREATE INDEX contact_notes_contact ON contact_notes (account_id, contact_id, id DESC);
CREATE INDEX contact_notes_forwarded ON contact_notes (account_id, forwarded_to_id, id DESC) WHERE forwarded_to_id IS NOT NULL;

-- Contacts keep their tags by name (contacts.tags, GIN-indexed, what segment rules and
-- filters read); this is the catalogue of those names with their colour and whether only
-- automations may apply them. Renaming or deleting a tag rewrites the contacts that carry it.
CREATE TABLE tags (
    account_id      uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id              uuid NOT NULL,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 50),
    color           text NOT NULL CHECK (color ~ '^#[0-9a-f]{6}$'),
    automation_only boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX tags_name_key ON tags (account_id, lower(name));

-- +goose Down
DROP TABLE tags;
DROP TABLE contact_notes;
