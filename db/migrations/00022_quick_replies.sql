-- +goose Up
-- Quick replies: an account's canned answers, found by shortcut as the agent types ("/boleto")
-- and filled for the conversation at hand (the contact's fields, {{protocolo}}, {agente}).
CREATE TABLE quick_replies (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    shortcut   text NOT NULL CHECK (shortcut ~ '^/[a-z0-9_-]{1,40}$'),
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    text       text NOT NULL CHECK (length(text) BETWEEN 1 AND 4096),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, shortcut)
);

-- +goose Down
DROP TABLE quick_replies;
