-- +goose Up
-- Segments (carteiras): portfolios of contacts, by static membership and by rules evaluated
-- in SQL, with the priority, SLA and distribution of their service and who serves them.

CREATE TABLE segments (
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    priority     smallint NOT NULL DEFAULT 50 CHECK (priority BETWEEN 1 AND 100),
    sla_minutes  integer CHECK (sla_minutes > 0),
    distribution text NOT NULL DEFAULT 'manual' CHECK (distribution IN ('manual', 'automatic')),
    -- Tags every member gets.
    auto_tags    text[] NOT NULL DEFAULT '{}',
    -- The rules as given (for reading back) and compiled: a contact matches when the segment
    -- has rules and the contact carries any of tags_any, all of tags_all, and its custom
    -- values satisfy match_path.
    rules        jsonb NOT NULL DEFAULT '{}',
    has_rules    boolean NOT NULL DEFAULT false,
    tags_any     text[] NOT NULL DEFAULT '{}',
    tags_all     text[] NOT NULL DEFAULT '{}',
    match_path   jsonpath,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX segments_name_key ON segments (account_id, lower(name));

CREATE TABLE segment_members (
    account_id uuid NOT NULL,
    segment_id uuid NOT NULL,
    contact_id uuid NOT NULL,
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, segment_id, contact_id),
    FOREIGN KEY (account_id, segment_id) REFERENCES segments (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE
);
CREATE INDEX segment_members_contact ON segment_members (account_id, contact_id);

CREATE TABLE segment_departments (
    account_id    uuid NOT NULL,
    segment_id    uuid NOT NULL,
    department_id uuid NOT NULL,
    PRIMARY KEY (account_id, segment_id, department_id),
    FOREIGN KEY (account_id, segment_id) REFERENCES segments (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, department_id) REFERENCES departments (account_id, id) ON DELETE CASCADE
);

CREATE TABLE segment_users (
    account_id uuid NOT NULL,
    segment_id uuid NOT NULL,
    user_id    uuid NOT NULL,
    PRIMARY KEY (account_id, segment_id, user_id),
    FOREIGN KEY (account_id, segment_id) REFERENCES segments (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE segment_users;
DROP TABLE segment_departments;
DROP TABLE segment_members;
DROP TABLE segments;
