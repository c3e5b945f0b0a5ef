-- +goose Up
-- Closing attendances (now or later) and the WhatsApp session-expiry tags.

-- Tags on conversations (the account's catalogue of 00004, by id): the system tags Expirando
-- and Expirado the expiry sweep applies, and what list filters read. The tag index answers
-- "conversations with tag X" for the filters.
--
-- No foreign keys: the sweep writes thousands of rows a batch, and the two per-row key checks
-- cost about as much as the rest of it, to check what the writers guarantee by construction
-- (the conversation is locked in the writing transaction, the tag found or created in the
-- same statement). The cascades the keys would give (a conversation merged away, an account
-- or a tag deleted) are statement-level triggers on the rare delete instead, as 00017 does
-- for messages.
CREATE TABLE conversation_tags (
    account_id      uuid NOT NULL,
    conversation_id uuid NOT NULL,
    tag_id          uuid NOT NULL,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, conversation_id, tag_id)
);
CREATE INDEX conversation_tags_tag ON conversation_tags (account_id, tag_id, conversation_id);

-- +goose StatementBegin
CREATE FUNCTION delete_conversation_tags() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'tags' THEN
        DELETE FROM conversation_tags ct USING gone g WHERE ct.account_id = g.account_id AND ct.tag_id = g.id;
    ELSE
        DELETE FROM conversation_tags ct USING gone g WHERE ct.account_id = g.account_id AND ct.conversation_id = g.id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER conversations_delete_tags AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION delete_conversation_tags();
CREATE TRIGGER tags_delete_conversation_tags AFTER DELETE ON tags
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION delete_conversation_tags();

ALTER TABLE conversations
    -- Where the session-expiry sweep (internal/expiry) is with this conversation's service
    -- session: 0 nothing applied yet, 1 tagged Expirando, 2 tagged Expirado, 3 nothing to tag
    -- (not a WhatsApp conversation), 4 the session was renewed while tagged: the sweep removes
    -- the tags and moves it to 0. The inbound path sets 0 or 4 whenever a contact's message
    -- renews the session; this column is the only thing the two share.
    ADD COLUMN session_tag smallint NOT NULL DEFAULT 0 CHECK (session_tag BETWEEN 0 AND 4),
    -- A close scheduled for later (internal/closing): the River job that runs it carries the
    -- same id and does nothing unless it is still this one, so replacing or cancelling the
    -- close is clearing or changing this column. close_if_reply says what a contact's message
    -- before close_at does: keep (close anyway) or cancel (the inbound path clears the id).
    ADD COLUMN close_pending_id uuid,
    ADD COLUMN close_at timestamptz,
    ADD COLUMN close_if_reply text CHECK (close_if_reply IN ('keep', 'cancel'));

-- The sweep's work list: conversations whose session still has a tag step ahead. State 4
-- rows are due at once, state 1 rows at service_expires_at and state 0 rows 30 minutes
-- before it, each a range scan of its own session_tag value; rows done (2, 3) leave the
-- index, so it holds about one day of sessions whatever the table's size.
CREATE INDEX conversations_session_tag_due ON conversations (session_tag, service_expires_at)
    WHERE session_tag IN (0, 1, 4) AND service_expires_at IS NOT NULL;

-- A user's own settings: the closing message sent when the user closes an attendance without
-- giving one ('' sends none).
CREATE TABLE user_profiles (
    account_id      uuid NOT NULL,
    user_id         uuid NOT NULL,
    closing_message text NOT NULL DEFAULT '' CHECK (length(closing_message) <= 4096),
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, user_id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE
);

-- +goose Down
DROP TABLE user_profiles;
DROP INDEX conversations_session_tag_due;
ALTER TABLE conversations DROP COLUMN close_if_reply, DROP COLUMN close_at, DROP COLUMN close_pending_id, DROP COLUMN session_tag;
DROP TRIGGER tags_delete_conversation_tags ON tags;
DROP TRIGGER conversations_delete_tags ON conversations;
DROP FUNCTION delete_conversation_tags;
DROP TABLE conversation_tags;
