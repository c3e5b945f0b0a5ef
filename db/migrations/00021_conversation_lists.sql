-- +goose Up
-- The agent console's conversation lists (DESIGN.md §4 Conversations and attendance): views,
-- filters and four orders, each served by an index in its order so a page costs the same at
-- a thousand conversations as at a million.

-- When the current (or last) attendance opened: the "newest opening" and "oldest opening"
-- orders. Set with the attendance; conversations never opened sort by their creation.
ALTER TABLE conversations ADD COLUMN opened_at timestamptz;
UPDATE conversations v SET opened_at = a.opened_at
FROM attendances a WHERE a.account_id = v.account_id AND a.id = v.attendance_id;

-- The orders use coalesce(x, created_at) so a conversation without messages or openings still
-- has a place and the keyset cursor never meets a NULL. Latest message first reads these
-- forward, oldest first backward. The open view (open, no agent) filtered by line, the usual
-- console list, has a partial index of waiting conversations by line; the unfiltered open view
-- walks the full index past closed and attended ones. Every index here is written by each
-- message's conversation update (last_message_at is indexed, so it is never HOT), which is
-- why there are no more of them.
DROP INDEX conversations_last_message;
CREATE INDEX conversations_latest ON conversations (account_id, (coalesce(last_message_at, created_at)) DESC, id DESC);
CREATE INDEX conversations_opening ON conversations (account_id, (coalesce(opened_at, created_at)) DESC, id DESC);
CREATE INDEX conversations_waiting_line_latest ON conversations (account_id, channel_id, (coalesce(last_message_at, created_at)) DESC, id DESC)
    WHERE status = 'open' AND agent_id IS NULL;
-- The "mine" and "in attendance" views and the agent filter.
CREATE INDEX conversations_agent ON conversations (account_id, agent_id, (coalesce(last_message_at, created_at)) DESC, id DESC)
    WHERE agent_id IS NOT NULL;
-- The department filter, and the open view's "in one of my departments".
CREATE INDEX conversations_department ON conversations (account_id, department_id, (coalesce(last_message_at, created_at)) DESC, id DESC)
    WHERE department_id IS NOT NULL;
-- The campaign filter.
CREATE INDEX conversations_campaign ON conversations (account_id, last_campaign_id) WHERE last_campaign_id IS NOT NULL;

-- Read state per user: a conversation is unread for a user while the contact wrote after the
-- user's read mark, or the user marked it unread.
CREATE TABLE conversation_reads (
    account_id      uuid NOT NULL,
    user_id         uuid NOT NULL,
    conversation_id uuid NOT NULL,
    read_at         timestamptz,
    marked_unread   boolean NOT NULL DEFAULT false,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, user_id, conversation_id),
    FOREIGN KEY (account_id, user_id) REFERENCES users (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id) ON DELETE CASCADE
);
CREATE INDEX conversation_reads_conversation ON conversation_reads (account_id, conversation_id);

-- +goose Down
DROP TABLE conversation_reads;
DROP INDEX conversations_campaign;
DROP INDEX conversations_department;
DROP INDEX conversations_agent;
DROP INDEX conversations_waiting_line_latest;
DROP INDEX conversations_opening;
DROP INDEX conversations_latest;
CREATE INDEX conversations_last_message ON conversations (account_id, last_message_at DESC, id);
ALTER TABLE conversations DROP COLUMN opened_at;
