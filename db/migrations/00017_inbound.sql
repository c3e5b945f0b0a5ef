-- +goose Up
-- The inbound pipeline appends up to 500 messages a batch, and the foreign key from messages
-- to conversations cost about half of that statement (one trigger query per row) to check
-- what the writers guarantee by construction: every message is written in the transaction
-- that just upserted (and row-locked) its conversation. The cascade the key gave (an account
-- or a merged conversation deleted takes its messages) is kept by a statement-level trigger
-- on the rare delete instead of a check on every insert.
ALTER TABLE messages DROP CONSTRAINT messages_account_id_conversation_id_fkey;

-- +goose StatementBegin
CREATE FUNCTION delete_conversation_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM messages m USING gone g WHERE m.account_id = g.account_id AND m.conversation_id = g.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER conversations_delete_messages AFTER DELETE ON conversations
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT EXECUTE FUNCTION delete_conversation_messages();

-- +goose Down
DROP TRIGGER conversations_delete_messages ON conversations;
DROP FUNCTION delete_conversation_messages;
ALTER TABLE messages ADD FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id) ON DELETE CASCADE;
