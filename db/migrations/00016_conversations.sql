-- +goose Up
-- Conversations and messages: one conversation per contact and channel, openings of it for
-- service (attendances, each with a protocol number), and every message in and out.
--
-- Written for the two paths that must stay fast: the webhook drain appends inbound messages
-- and status updates set-based, a batch at a time; the send path inserts a queued message and
-- dispatchers claim due messages by the partial index. Nothing here is indexed for full-text
-- search: search runs inside one conversation (bounded by its size), so every inbound message
-- does not pay for a GIN entry.

-- search_fold lowers text and strips Portuguese accents, so "ação" and "acao" match. Immutable
-- (unlike unaccent), so it may appear in index expressions and generated columns.
-- +goose StatementBegin
CREATE FUNCTION search_fold(t text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
    SELECT translate(lower(t), 'áàâãäéèêëíìîïóòôõöúùûüçñ', 'aaaaaeeeeiiiiooooouuuucn')
$$;
-- +goose StatementEnd

-- How a contact is addressed on a channel when the address is not (only) its phone: a WhatsApp
-- business-scoped user id, a Telegram chat id, a WebChat visitor id, an e-mail address. Inbound
-- messages find their contact here first, then by phone.
CREATE TABLE contact_identities (
    account_id uuid NOT NULL,
    channel_id uuid NOT NULL,
    address    text NOT NULL,
    contact_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, channel_id, address),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE
);
CREATE INDEX contact_identities_contact ON contact_identities (account_id, contact_id);

CREATE TABLE conversations (
    account_id            uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id                    uuid NOT NULL,
    contact_id            uuid NOT NULL,
    channel_id            uuid NOT NULL,
    -- Where replies go on the channel: an E.164 phone, a business-scoped id, a chat id.
    address               text NOT NULL,
    -- open while an attendance is open.
    status                text NOT NULL DEFAULT 'closed' CHECK (status IN ('open', 'closed')),
    attendance_id         uuid,
    department_id         uuid,
    agent_id              uuid,
    -- WhatsApp session state (internal/session): the service session the contact's messages
    -- open and renew, and per template category when the session it opened ends.
    service_expires_at    timestamptz,
    category_sessions     jsonb NOT NULL DEFAULT '{}',
    last_message_at       timestamptz,
    last_inbound_at       timestamptz,
    -- The first inbound message not yet followed by an outbound one (unanswered time).
    unanswered_since      timestamptz,
    -- The campaign that last reached the contact on this channel, so a reply can be linked.
    last_campaign_id      uuid,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, contact_id, channel_id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, department_id) REFERENCES departments (account_id, id) ON DELETE SET NULL (department_id),
    FOREIGN KEY (account_id, agent_id) REFERENCES users (account_id, id) ON DELETE SET NULL (agent_id)
);
CREATE INDEX conversations_last_message ON conversations (account_id, last_message_at DESC, id);

-- One opening of a conversation for service, numbered by the account's protocol format.
CREATE TABLE attendances (
    account_id      uuid NOT NULL,
    id              uuid NOT NULL,
    conversation_id uuid NOT NULL,
    protocol        text NOT NULL,
    -- What opened it: a contact's message, an agent, the API, a campaign.
    opened_by       text NOT NULL CHECK (opened_by IN ('inbound', 'agent', 'api', 'campaign')),
    opened_at       timestamptz NOT NULL,
    closed_at       timestamptz,
    department_id   uuid,
    agent_id        uuid,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, protocol),
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX attendances_conversation ON attendances (account_id, conversation_id, opened_at DESC);

-- The account's protocol format and the counters that number it: {yyyy}{mm}{dd} and {seq:N}
-- (the sequence, zero-padded to N digits, restarting with each period the format names).
CREATE TABLE protocol_settings (
    account_id uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    format     text NOT NULL DEFAULT '{yyyy}{mm}{dd}{seq:6}',
    updated_at timestamptz NOT NULL
);
CREATE TABLE protocol_counters (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    period     text NOT NULL,
    last       bigint NOT NULL,
    PRIMARY KEY (account_id, period)
);

CREATE TABLE messages (
    account_id           uuid NOT NULL,
    id                   uuid NOT NULL,
    conversation_id      uuid NOT NULL,
    channel_id           uuid NOT NULL,
    attendance_id        uuid,
    -- echo: sent by the business from the provider's own app; internal: never sent (notes,
    -- system notes).
    direction            text NOT NULL CHECK (direction IN ('inbound', 'outbound', 'echo', 'internal')),
    kind                 text NOT NULL CHECK (kind IN ('text', 'media', 'template', 'reaction', 'contact', 'location',
                                                       'interactive', 'unsupported', 'note', 'system')),
    text                 text NOT NULL DEFAULT '',
    -- Media, template name/language/parameters, reaction target, contact card: by kind.
    payload              jsonb NOT NULL DEFAULT '{}',
    template_id          uuid,
    template_category    text CHECK (template_category IN ('marketing', 'utility', 'authentication')),
    provider_message_id  text,
    -- The provider id of the message this one answers or reacts to.
    reply_to_provider_id text,
    -- Outbound only: where delivery is (internal/message.Advance moves it, forward only).
    status               text CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    status_at            timestamptz,
    error_code           text,
    error_reason         text,
    attempts             integer NOT NULL DEFAULT 0,
    -- Queued only: the earliest time the next attempt may go out.
    send_after           timestamptz,
    sent_by_user_id      uuid,
    api_key_id           uuid,
    campaign_id          uuid,
    -- When it happened: the provider's timestamp for inbound messages.
    created_at           timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX messages_conversation ON messages (account_id, conversation_id, id);
CREATE UNIQUE INDEX messages_provider_id ON messages (account_id, channel_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
-- The dispatchers' queue: queued messages by when they may go.
CREATE INDEX messages_due ON messages (channel_id, send_after) WHERE status = 'queued';

-- Messages from blocked contacts: dropped (no conversation, no attendance), recorded here.
CREATE TABLE blocked_messages (
    account_id          uuid NOT NULL,
    id                  uuid NOT NULL,
    channel_id          uuid NOT NULL,
    contact_id          uuid NOT NULL,
    provider_message_id text NOT NULL,
    payload             jsonb NOT NULL,
    received_at         timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE CASCADE
);
CREATE INDEX blocked_messages_contact ON blocked_messages (account_id, contact_id, received_at DESC);

-- +goose Down
DROP TABLE blocked_messages;
DROP TABLE messages;
DROP TABLE protocol_counters;
DROP TABLE protocol_settings;
DROP TABLE attendances;
DROP TABLE conversations;
DROP TABLE contact_identities;
DROP FUNCTION search_fold;
