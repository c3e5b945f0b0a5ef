-- +goose Up
-- Message templates (HSM, DESIGN §4 Templates): the content the account writes once, and the
-- WhatsApp numbers whose library holds it, each with the provider's own id and verdict.
CREATE TABLE templates (
    account_id       uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id               uuid NOT NULL,
    -- Cloud API rules: lower-case letters, digits and underscores, at most 512.
    name             text NOT NULL CHECK (name ~ '^[a-z0-9_]+$' AND length(name) <= 512),
    language         text NOT NULL CHECK (length(language) BETWEEN 2 AND 15),
    category         text NOT NULL CHECK (category IN ('marketing', 'utility', 'authentication')),
    parameter_format text NOT NULL CHECK (parameter_format IN ('positional', 'named')),
    -- {"header":..., "body":..., "footer":..., "buttons":[...]}, checked by internal/template.
    components       jsonb NOT NULL,
    -- Example values by variable location ("body.1"), which the provider requires.
    examples         jsonb NOT NULL DEFAULT '{}',
    -- How each variable gets its value from a contact, by variable location.
    bindings         jsonb NOT NULL DEFAULT '{}',
    -- The summary of the library channels' verdicts (draft while none was submitted).
    status           text NOT NULL DEFAULT 'draft'
                     CHECK (status IN ('draft', 'pending', 'approved', 'rejected', 'paused', 'disabled')),
    reason           text,
    submitted_at     timestamptz,
    -- Set instead of deleting a template that was ever submitted: sent messages refer to it.
    deleted_at       timestamptz,
    version          integer NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);
-- A provider knows a template by (name, language) in a business account.
CREATE UNIQUE INDEX templates_name_language_key ON templates (account_id, name, language) WHERE deleted_at IS NULL;
CREATE INDEX templates_name_trgm ON templates USING gin (name gin_trgm_ops);

-- The channels (WhatsApp numbers) whose library holds a template, with each one's verdict.
CREATE TABLE template_channels (
    account_id           uuid NOT NULL,
    template_id          uuid NOT NULL,
    channel_id           uuid NOT NULL,
    status               text NOT NULL DEFAULT 'draft'
                         CHECK (status IN ('draft', 'pending', 'approved', 'rejected', 'paused', 'disabled')),
    reason               text,
    -- The provider's id for the template; status notifications name it.
    provider_template_id text,
    -- Why the last submission failed (the provider's code and reason), when it did.
    error                text,
    submitted_at         timestamptz,
    -- When the provider's latest applied verdict happened: older notifications are ignored.
    status_at            timestamptz,
    PRIMARY KEY (account_id, template_id, channel_id),
    FOREIGN KEY (account_id, template_id) REFERENCES templates (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);
CREATE INDEX template_channels_provider_id ON template_channels (account_id, provider_template_id)
    WHERE provider_template_id IS NOT NULL;
CREATE INDEX template_channels_channel ON template_channels (account_id, channel_id);

-- A template's status is its library's worst verdict (rejected, disabled, paused, pending,
-- approved), with that verdict's reason; draft while no channel was submitted. Kept by the
-- code after each change, and by the trigger below when a channel (deleted) leaves a library.
-- +goose StatementBegin
CREATE FUNCTION refresh_template_status(acct uuid, tpl uuid, at timestamptz) RETURNS void LANGUAGE sql AS $$
    UPDATE templates t SET
        status = coalesce(w.status, 'draft'),
        reason = w.reason,
        submitted_at = coalesce(t.submitted_at, (SELECT min(tc.submitted_at) FROM template_channels tc
                                                 WHERE tc.account_id = acct AND tc.template_id = tpl)),
        version = t.version + 1,
        updated_at = at
    FROM (SELECT 1) one
    LEFT JOIN LATERAL (
        SELECT tc.status, tc.reason FROM template_channels tc
        WHERE tc.account_id = acct AND tc.template_id = tpl AND tc.status <> 'draft'
        ORDER BY array_position(ARRAY['rejected', 'disabled', 'paused', 'pending', 'approved'], tc.status), tc.channel_id
        LIMIT 1) w ON true
    WHERE t.account_id = acct AND t.id = tpl;
$$;

CREATE FUNCTION template_channel_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM refresh_template_status(OLD.account_id, OLD.template_id, now());
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER template_channel_removed AFTER DELETE ON template_channels
    FOR EACH ROW EXECUTE FUNCTION template_channel_removed();

-- +goose Down
DROP TRIGGER template_channel_removed ON template_channels;
DROP FUNCTION template_channel_removed();
DROP FUNCTION refresh_template_status(uuid, uuid, timestamptz);
DROP TABLE template_channels;
DROP TABLE templates;
