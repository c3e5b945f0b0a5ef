-- +goose Up
-- Consent (LGPD): an append-only, hash-chained record of grants and revocations, a projection
-- of the current state kept in the same transaction as each append, and a log of who read the
-- records.

-- Per-account keywords a contact can reply with, and the replies sent back.
ALTER TABLE accounts
    ADD COLUMN opt_out_keywords text[] NOT NULL DEFAULT '{SAIR,PARAR,STOP,CANCELAR}',
    ADD COLUMN opt_in_keywords  text[] NOT NULL DEFAULT '{SIM,CONFIRMO,ACEITO}',
    ADD COLUMN opt_out_reply    text NOT NULL DEFAULT 'Pronto: você não receberá mais mensagens de marketing. Se mudar de ideia, é só nos avisar.',
    ADD COLUMN opt_in_reply     text NOT NULL DEFAULT 'Obrigado! Sua inscrição está confirmada.';

-- A contact erased at its owner's request keeps its row (its consent records point at it)
-- with every personal field cleared.
ALTER TABLE contacts ADD COLUMN erased_at timestamptz;

-- No foreign key to contacts: the records are legal proof and outlive the contact.
CREATE TABLE consent_records (
    account_id      uuid NOT NULL REFERENCES accounts (id),
    id              uuid NOT NULL,
    contact_id      uuid NOT NULL,
    -- Position in the contact's chain, from 1, without gaps.
    seq             integer NOT NULL CHECK (seq > 0),
    action          text NOT NULL CHECK (action IN ('grant', 'revoke', 'pending')),
    purposes        text[] NOT NULL CHECK (cardinality(purposes) > 0 AND purposes <@ '{marketing,service,notifications}'),
    -- Channel types covered; all_channels covers every type.
    channels        text[] NOT NULL,
    all_channels    boolean NOT NULL,
    explicit        boolean NOT NULL,
    method          text NOT NULL,
    -- When the contact gave (or withdrew) consent, as evidenced; recorded_at is when we stored it.
    occurred_at     timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    text_shown      text,
    ip              text,
    user_agent      text,
    source          text,
    terms_version   text,
    identifier_kind text CHECK (identifier_kind IN ('phone', 'email', 'cpf')),
    identifier      text,
    recorder_kind   text NOT NULL CHECK (recorder_kind IN ('user', 'api_key', 'system')),
    recorder_id     text NOT NULL,
    -- The pending (double opt-in) record a confirmation confirms.
    confirms        uuid,
    prev_hash       bytea,
    hash            bytea NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, contact_id, seq),
    CHECK (all_channels OR cardinality(channels) > 0),
    CHECK ((seq = 1) = (prev_hash IS NULL))
);
CREATE INDEX consent_records_occurred ON consent_records (account_id, occurred_at);

-- +goose StatementBegin
CREATE FUNCTION consent_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'consent records are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Record a revocation instead of changing or deleting a record.';
END;
$$;
-- +goose StatementEnd

CREATE TRIGGER consent_records_no_update BEFORE UPDATE OR DELETE ON consent_records
    FOR EACH ROW EXECUTE FUNCTION consent_records_append_only();
CREATE TRIGGER consent_records_no_truncate BEFORE TRUNCATE ON consent_records
    FOR EACH STATEMENT EXECUTE FUNCTION consent_records_append_only();

-- The current state, one row per contact, purpose and channel type, written in the same
-- transaction as each record. Derived: it can be rebuilt from consent_records at any time.
CREATE TABLE consent_state (
    account_id uuid NOT NULL,
    contact_id uuid NOT NULL,
    purpose    text NOT NULL,
    channel    text NOT NULL,
    status     text NOT NULL CHECK (status IN ('granted', 'revoked', 'pending')),
    explicit   boolean NOT NULL,
    record_id  uuid NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, contact_id, purpose, channel),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE
);
-- "Contacts with active marketing consent on WhatsApp" is an index range of this.
CREATE INDEX consent_state_granted ON consent_state (account_id, purpose, channel, contact_id)
    INCLUDE (explicit) WHERE status = 'granted';

-- Every read of consent records: who, when, which contact, what.
CREATE TABLE consent_access_log (
    account_id     uuid NOT NULL REFERENCES accounts (id),
    id             uuid NOT NULL,
    at             timestamptz NOT NULL,
    principal_kind text NOT NULL,
    principal_id   text NOT NULL,
    operation      text NOT NULL,
    contact_id     uuid,
    detail         text NOT NULL DEFAULT '',
    PRIMARY KEY (account_id, id)
);

-- +goose Down
DROP TABLE consent_access_log;
DROP TABLE consent_state;
DROP TRIGGER consent_records_no_truncate ON consent_records;
DROP TRIGGER consent_records_no_update ON consent_records;
DROP TABLE consent_records;
DROP FUNCTION consent_records_append_only();
ALTER TABLE contacts DROP COLUMN erased_at;
ALTER TABLE accounts DROP COLUMN opt_out_keywords, DROP COLUMN opt_in_keywords,
    DROP COLUMN opt_out_reply, DROP COLUMN opt_in_reply;
