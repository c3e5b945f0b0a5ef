-- +goose Up
-- Foundation: accounts (tenants), users, refresh tokens, API keys, contacts and idempotency keys.
-- Every tenant table is keyed by (account_id, id) and every reference to a tenant table is
-- composite, so the database itself refuses a cross-account reference.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE accounts (
    id             uuid PRIMARY KEY,
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    support_secret bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id            uuid NOT NULL,
    email         text NOT NULL CHECK (email = lower(email)),
    name          text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'supervisor', 'agent', 'compliance')),
    permissions   text[] NOT NULL DEFAULT '{}',
    failed_logins integer NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    disabled_at   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id)
);
-- Login is by e-mail alone, so an address belongs to one user across all accounts.
CREATE UNIQUE INDEX users_email_key ON users (email);

CREATE TABLE refresh_tokens (
    account_id uuid NOT NULL,
    id         uuid NOT NULL,
    family_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    token_hash bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX refresh_tokens_hash_key ON refresh_tokens (token_hash);
CREATE INDEX refresh_tokens_family ON refresh_tokens (account_id, family_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE api_keys (
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL,
    scopes       text[] NOT NULL,
    rate_limit   integer NOT NULL CHECK (rate_limit > 0),
    created_by   uuid,
    expires_at   timestamptz,
    revoked_at   timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, created_by) REFERENCES users (account_id, id) ON DELETE SET NULL (created_by)
);
CREATE UNIQUE INDEX api_keys_hash_key ON api_keys (key_hash);

CREATE TABLE contacts (
    account_id          uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id                  uuid NOT NULL,
    name                text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    -- CPF (11 digits) or CNPJ (14 characters), stripped of punctuation. "C" collation lets the
    -- btree serve prefix searches.
    document            text COLLATE "C",
    document_kind       text CHECK (document_kind IN ('cpf', 'cnpj')),
    customer_code       text COLLATE "C" CHECK (length(customer_code) BETWEEN 1 AND 100),
    email               text,
    birth_date          date,
    rg                  text,
    responsible_user_id uuid,
    default_agent_id    uuid,
    tags                text[] NOT NULL DEFAULT '{}',
    priority            text NOT NULL DEFAULT 'medium' CHECK (priority IN ('high', 'medium', 'low')),
    priority_score      smallint CHECK (priority_score BETWEEN 1 AND 100),
    blocked             boolean NOT NULL DEFAULT false,
    broadcast           boolean NOT NULL DEFAULT true,
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, id),
    CHECK ((document IS NULL) = (document_kind IS NULL)),
    FOREIGN KEY (account_id, responsible_user_id) REFERENCES users (account_id, id) ON DELETE SET NULL (responsible_user_id),
    FOREIGN KEY (account_id, default_agent_id) REFERENCES users (account_id, id) ON DELETE SET NULL (default_agent_id)
);
CREATE UNIQUE INDEX contacts_customer_code_key ON contacts (account_id, customer_code);
CREATE INDEX contacts_document ON contacts (account_id, document) WHERE document IS NOT NULL;
CREATE INDEX contacts_tags ON contacts USING gin (tags);
CREATE INDEX contacts_name_trgm ON contacts USING gin (name gin_trgm_ops);

-- A phone number identifies at most one contact in an account; the canonical E.164 form
-- (Brazilian mobiles always with the ninth digit) makes old 8-digit reports match.
CREATE TABLE contact_phones (
    account_id uuid NOT NULL,
    phone      text COLLATE "C" NOT NULL,
    contact_id uuid NOT NULL,
    position   smallint NOT NULL,
    PRIMARY KEY (account_id, phone),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_phones_contact ON contact_phones (account_id, contact_id);

-- Idempotency keys remember the first response to a creating call so that a retry returns it.
CREATE TABLE idempotency_keys (
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    operation    text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    status       integer NOT NULL,
    response     bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, operation, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
DROP TABLE contact_phones;
DROP TABLE contacts;
DROP TABLE api_keys;
DROP TABLE refresh_tokens;
DROP TABLE users;
DROP TABLE accounts;
