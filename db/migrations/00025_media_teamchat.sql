-- +goose Up
-- The media library: files an account uploads once and sends by id (stickers among them). The
-- metadata row is what lists and sends read; the content lives in media_chunks, so a listing
-- never touches it, and an upload (spooled to a temporary file first) or a download moves one
-- chunk at a time instead of holding the whole file (up to WhatsApp's 100 MB for documents) in
-- memory.
CREATE TABLE media (
    account_id             uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id                     uuid NOT NULL,
    name                   text NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    kind                   text NOT NULL CHECK (kind IN ('image', 'audio', 'video', 'document', 'sticker')),
    mime                   text NOT NULL,
    size                   bigint NOT NULL CHECK (size > 0),
    -- Hex SHA-256 of the content: the content's ETag.
    sha256                 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    uploaded_by_user_id    uuid,
    uploaded_by_api_key_id uuid,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, uploaded_by_user_id) REFERENCES users (account_id, id) ON DELETE SET NULL (uploaded_by_user_id),
    FOREIGN KEY (account_id, uploaded_by_api_key_id) REFERENCES api_keys (account_id, id) ON DELETE SET NULL (uploaded_by_api_key_id)
);
-- The library's listing: newest first, per kind.
CREATE INDEX media_list ON media (account_id, kind, id DESC);

CREATE TABLE media_chunks (
    account_id uuid NOT NULL,
    media_id   uuid NOT NULL,
    seq        integer NOT NULL CHECK (seq >= 0),
    data       bytea NOT NULL,
    PRIMARY KEY (account_id, media_id, seq),
    FOREIGN KEY (account_id, media_id) REFERENCES media (account_id, id) ON DELETE CASCADE
);
-- The content is already compressed (images, audio, video) or large: do not try again.
ALTER TABLE media_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- The internal team chat: messages among the users of an account, never sent out. A thread is
-- a direct conversation between two users (stored once, as the ordered pair) or the account's
-- one room, which every user of the account is in.
CREATE TABLE team_threads (
    account_id uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         uuid NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('direct', 'room')),
    user_low   uuid,
    user_high  uuid,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, user_low) REFERENCES users (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, user_high) REFERENCES users (account_id, id) ON DELETE CASCADE,
    CHECK ((kind = 'direct' AND user_low < user_high) OR (kind = 'room' AND user_low IS NULL AND user_high IS NULL))
);
CREATE UNIQUE INDEX team_threads_direct ON team_threads (account_id, user_low, user_high) WHERE kind = 'direct';
CREATE INDEX team_threads_high ON team_threads (account_id, user_high) WHERE kind = 'direct';
CREATE UNIQUE INDEX team_threads_room ON team_threads (account_id) WHERE kind = 'room';

CREATE TABLE team_messages (
    account_id     uuid NOT NULL,
    id             uuid NOT NULL,
    -- Orders a thread's messages (keyset pagination, unread counts) whatever the clocks say.
    seq            bigint NOT NULL GENERATED ALWAYS AS IDENTITY,
    thread_id      uuid NOT NULL,
    sender_user_id uuid NOT NULL,
    body           text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, thread_id) REFERENCES team_threads (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, sender_user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);
CREATE INDEX team_messages_thread ON team_messages (account_id, thread_id, seq DESC);

-- How far each user has read each thread (unread = the others' messages after it).
CREATE TABLE team_reads (
    account_id uuid NOT NULL,
    thread_id  uuid NOT NULL,
    user_id    uuid NOT NULL,
    read_seq   bigint NOT NULL,
    PRIMARY KEY (account_id, thread_id, user_id),
    FOREIGN KEY (account_id, thread_id) REFERENCES team_threads (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE team_reads;
DROP TABLE team_messages;
DROP TABLE team_threads;
DROP TABLE media_chunks;
DROP TABLE media;
