-- +goose Up
-- Appending a consent record in one round trip. The function takes a transaction-level
-- advisory lock on the contact (appends to one chain queue up, other contacts' go on, and no
-- row is written to lock), reads the chain's tip with a snapshot taken after the lock, seals
-- the record (its hash covers the digest of its fields computed by the caller, its position and
-- the previous record's hash), inserts it and applies it to consent_state. It returns no row
-- when the contact does not exist in the account.

-- +goose StatementBegin
-- consent_lock takes the contact's chain lock for the rest of the transaction and says whether
-- the contact exists in the account.
CREATE FUNCTION consent_lock(p_account uuid, p_contact uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended(p_contact::text, 7218));
    RETURN EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = p_account AND c.id = p_contact);
END;
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION append_consent(
    p_account uuid, p_id uuid, p_contact uuid, p_action text, p_purposes text[], p_channels text[],
    p_all_channels boolean, p_explicit boolean, p_method text, p_occurred_at timestamptz,
    p_recorded_at timestamptz, p_text text, p_ip text, p_user_agent text, p_source text,
    p_terms_version text, p_identifier_kind text, p_identifier text, p_recorder_kind text,
    p_recorder_id text, p_confirms uuid, p_digest bytea, p_scope text[]
) RETURNS TABLE (seq integer, prev_hash bytea, hash bytea)
LANGUAGE plpgsql AS $$
DECLARE
    v_seq  integer;
    v_prev bytea;
    v_hash bytea;
BEGIN
    IF NOT consent_lock(p_account, p_contact) THEN
        RETURN;
    END IF;
    SELECT r.seq, r.hash INTO v_seq, v_prev FROM consent_records r
    WHERE r.account_id = p_account AND r.contact_id = p_contact
    ORDER BY r.seq DESC LIMIT 1;
    v_seq := coalesce(v_seq, 0) + 1;
    v_hash := sha256(convert_to(E'conversa-consent-v2\n', 'UTF8') || p_digest || int8send(v_seq::bigint) || coalesce(v_prev, ''::bytea));

    INSERT INTO consent_records (
        account_id, id, contact_id, seq, action, purposes, channels, all_channels, explicit, method,
        occurred_at, recorded_at, text_shown, ip, user_agent, source, terms_version, identifier_kind,
        identifier, recorder_kind, recorder_id, confirms, prev_hash, hash
    ) VALUES (
        p_account, p_id, p_contact, v_seq, p_action, p_purposes, p_channels, p_all_channels, p_explicit, p_method,
        p_occurred_at, p_recorded_at, p_text, p_ip, p_user_agent, p_source, p_terms_version, p_identifier_kind,
        p_identifier, p_recorder_kind, p_recorder_id, p_confirms, v_prev, v_hash
    );

    -- The latest record decides a (purpose, channel) pair, except that a pending double
    -- opt-in never downgrades a grant in force and an implicit grant never weakens an explicit
    -- one in force (consent.Replay is the reference).
    INSERT INTO consent_state AS s (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
    SELECT p_account, p_contact, pu.purpose, ch.channel,
           CASE p_action WHEN 'grant' THEN 'granted' WHEN 'revoke' THEN 'revoked' ELSE 'pending' END,
           p_explicit, p_id, p_recorded_at
    FROM unnest(p_purposes) AS pu(purpose), unnest(p_scope) AS ch(channel)
    ON CONFLICT (account_id, contact_id, purpose, channel) DO UPDATE SET
        status = EXCLUDED.status,
        explicit = EXCLUDED.explicit OR (EXCLUDED.status = 'granted' AND s.status = 'granted' AND s.explicit),
        record_id = EXCLUDED.record_id,
        updated_at = EXCLUDED.updated_at
    WHERE NOT (EXCLUDED.status = 'pending' AND s.status = 'granted');

    RETURN QUERY SELECT v_seq, v_prev, v_hash;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION append_consent;
DROP FUNCTION consent_lock;
