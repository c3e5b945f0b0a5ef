-- +goose Up
-- A contact's phones and its consent_state rows no longer carry a foreign key to contacts.
-- The keys checked every child row (a query and a FOR KEY SHARE lock on the contact per row):
-- an import grant writes 36 consent_state rows (3 purposes x 12 channel types) and the key
-- was a third of that statement (544 ms of 1.7 s for 2 500 grants in EXPLAIN ANALYZE); a new
-- contact's phone paid its own check too. What the keys gave is now given this way:
--
--   * A child is only written for a contact its writer holds: one it inserted in the same
--     transaction (create, import, inbound), one it locked FOR UPDATE (the contacts API's
--     update, merge), or one locked here FOR KEY SHARE once per contact in the writing
--     statement (append_consent below, the bulk consent append, the import's phones for
--     existing contacts). A delete of that contact waits for the writer to commit, and a
--     contact deleted first is not written to (no row, as for a contact that never existed).
--   * A child that names no contact of its account is still refused with a foreign key
--     violation, like the keys did (even SQL that forgets the account cannot link one
--     account's rows to another's contact), by a check per statement over the rows it
--     wrote: one anti-join instead of one query and one row lock per row.
--   * Deleting contacts (one, a merge's duplicate, or an account's, which cascade from
--     accounts) deletes their phones and consent state in the same statement, per statement,
--     as the ON DELETE CASCADE of the keys did per row.
ALTER TABLE contact_phones DROP CONSTRAINT contact_phones_account_id_contact_id_fkey;
ALTER TABLE consent_state DROP CONSTRAINT consent_state_account_id_contact_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION contacts_delete_children() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM contact_phones p USING deleted_contacts d WHERE p.account_id = d.account_id AND p.contact_id = d.id;
    DELETE FROM consent_state s USING deleted_contacts d WHERE s.account_id = d.account_id AND s.contact_id = d.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER contacts_delete_children AFTER DELETE ON contacts
    REFERENCING OLD TABLE AS deleted_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_delete_children();

-- +goose StatementBegin
CREATE FUNCTION contact_children_check() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Each contact once: an import grant writes 36 rows for one contact.
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT account_id, contact_id FROM written) w
               WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = w.account_id AND c.id = w.contact_id)) THEN
        RAISE EXCEPTION 'insert or update on table "%" names a contact that does not exist in its account', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME, CONSTRAINT = TG_TABLE_NAME || '_contact_check';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER contact_phones_contact_check_insert AFTER INSERT ON contact_phones
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION contact_children_check();
CREATE TRIGGER consent_state_contact_check_insert AFTER INSERT ON consent_state
    REFERENCING NEW TABLE AS written FOR EACH STATEMENT EXECUTE FUNCTION contact_children_check();

-- Updates almost never move a child to another contact (a merge moves the duplicate's phones;
-- an import's second grant rewrites 36 state rows per contact in place), so they are checked
-- per row and only when they do: a statement trigger would copy every updated row into its
-- transition table.
-- +goose StatementBegin
CREATE FUNCTION contact_child_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = NEW.account_id AND c.id = NEW.contact_id) THEN
        RAISE EXCEPTION 'update on table "%" names a contact that does not exist in its account', TG_TABLE_NAME
            USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME, CONSTRAINT = TG_TABLE_NAME || '_contact_check';
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER contact_phones_contact_check_update AFTER UPDATE ON contact_phones
    FOR EACH ROW WHEN ((OLD.account_id, OLD.contact_id) IS DISTINCT FROM (NEW.account_id, NEW.contact_id))
    EXECUTE FUNCTION contact_child_moved();
CREATE TRIGGER consent_state_contact_check_update AFTER UPDATE ON consent_state
    FOR EACH ROW WHEN ((OLD.account_id, OLD.contact_id) IS DISTINCT FROM (NEW.account_id, NEW.contact_id))
    EXECUTE FUNCTION contact_child_moved();

-- append_consent as in 00003, except that the contact is locked FOR KEY SHARE (what the key
-- on consent_state did, once per append instead of once per state row).
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION append_consent(
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
    PERFORM pg_advisory_xact_lock(hashtextextended(p_contact::text, 7218));
    PERFORM 1 FROM contacts c WHERE c.account_id = p_account AND c.id = p_contact FOR KEY SHARE;
    IF NOT FOUND THEN
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
DROP TRIGGER contact_phones_contact_check_insert ON contact_phones;
DROP TRIGGER contact_phones_contact_check_update ON contact_phones;
DROP TRIGGER consent_state_contact_check_insert ON consent_state;
DROP TRIGGER consent_state_contact_check_update ON consent_state;
DROP FUNCTION contact_children_check();
DROP FUNCTION contact_child_moved();
DROP TRIGGER contacts_delete_children ON contacts;
DROP FUNCTION contacts_delete_children();
DELETE FROM contact_phones p WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = p.account_id AND c.id = p.contact_id);
DELETE FROM consent_state s WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = s.account_id AND c.id = s.contact_id);
ALTER TABLE contact_phones ADD CONSTRAINT contact_phones_account_id_contact_id_fkey
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE;
ALTER TABLE consent_state ADD CONSTRAINT consent_state_account_id_contact_id_fkey
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE;
-- append_consent as 00003 wrote it.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION append_consent(
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
