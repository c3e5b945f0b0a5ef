-- +goose Up
-- Custom fields the account defines for its contacts, and departments of users.

CREATE TABLE custom_fields (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    -- The key contact values are stored and filtered under, and the variable name in messages.
    key        text NOT NULL CHECK (key ~ '^[a-z][a-z0-9_]{0,39}$'),
    label      text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    type       text NOT NULL CHECK (type IN ('text', 'number', 'date', 'boolean', 'choice', 'image_url')),
    choices    text[] NOT NULL DEFAULT '{}',
    -- Whether closing an attendance asks for the field: no, optional or required.
    on_close   text NOT NULL DEFAULT 'no' CHECK (on_close IN ('no', 'optional', 'required')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, key),
    CHECK ((type = 'choice') = (cardinality(choices) > 0))
);

-- Contact values by field key, validated against the definitions when written.
ALTER TABLE contacts ADD COLUMN custom jsonb NOT NULL DEFAULT '{}';
CREATE INDEX contacts_custom ON contacts USING gin (custom);

CREATE TABLE departments (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE UNIQUE INDEX departments_name_key ON departments (account_id, lower(name));

CREATE TABLE department_members (
    account_id    uuid NOT NULL,
    department_id uuid NOT NULL,
    user_id       uuid NOT NULL,
    added_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, department_id, user_id),
    FOREIGN KEY (account_id, department_id) REFERENCES departments (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX department_members_user ON department_members (account_id, user_id);

-- +goose Down
DROP TABLE department_members;
DROP TABLE departments;
ALTER TABLE contacts DROP COLUMN custom;
DROP TABLE custom_fields;
