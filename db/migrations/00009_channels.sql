-- +goose Up
-- Channels: the account's WhatsApp numbers, SMS gateway, mailbox, Telegram bot, WebChat...
CREATE TABLE channels (
    account_id         uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id                 uuid NOT NULL,
    type               text NOT NULL CHECK (type IN ('whatsapp', 'email', 'sms', 'webchat', 'facebook', 'instagram',
                                                     'telegram', 'rcs', 'viber', 'voice', 'video', 'form')),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    provider           text NOT NULL,
    direction          text NOT NULL DEFAULT 'both' CHECK (direction IN ('inbound', 'outbound', 'both')),
    priority           smallint NOT NULL CHECK (priority BETWEEN 1 AND 100),
    -- [{"day":1,"open":"08:00","close":"18:00"}, ...] in time_zone; empty: always open.
    business_hours     jsonb NOT NULL DEFAULT '[]',
    time_zone          text NOT NULL DEFAULT 'America/Sao_Paulo',
    -- WhatsApp numbers.
    phone_number       text,
    phone_number_id    text,
    waba_id            text,
    line_kind          text CHECK (line_kind IN ('receptive', 'prospect')),
    quality_rating     text CHECK (quality_rating IN ('green', 'yellow', 'red', 'unknown')),
    throughput_mps     integer CHECK (throughput_mps BETWEEN 1 AND 1000),
    messaging_limit    text CHECK (messaging_limit IN ('250', '2000', '10000', '100000', 'unlimited')),
    -- Provider credentials, sealed with AES-256-GCM under the configured key; never returned.
    credentials        bytea,
    credentials_set_at timestamptz,
    active             boolean NOT NULL DEFAULT true,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    CHECK (type <> 'webchat' OR priority = 100)
);
CREATE UNIQUE INDEX channels_phone_key ON channels (account_id, phone_number) WHERE phone_number IS NOT NULL;

CREATE TABLE channel_segments (
    account_id uuid NOT NULL,
    channel_id uuid NOT NULL,
    segment_id uuid NOT NULL,
    PRIMARY KEY (account_id, channel_id, segment_id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, segment_id) REFERENCES segments (account_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE channel_segments;
DROP TABLE channels;
