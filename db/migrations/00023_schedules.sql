-- +goose Up
-- Schedules per contact (DESIGN §4 "Conversations and attendance"): a template message, a
-- flow trigger or an appointment (a callback) at a time. Each is a River job at its time, but
-- this row is the truth: the job locks it and acts only while it is pending, and records the
-- outcome here (done, failed or skipped, with the reason), so a cancelled schedule or a retried
-- job never acts twice.
--
-- References use ON DELETE SET NULL on the referencing column only (PostgreSQL 15): a contact
-- deleted or merged away, a conversation folded into another by a merge or a department
-- removed leave the schedule and its history, and the job skips it saying why.
CREATE TABLE schedules (
    account_id             uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id                     uuid NOT NULL,
    kind                   text NOT NULL CHECK (kind IN ('template', 'flow', 'appointment')),
    contact_id             uuid,
    run_at                 timestamptz NOT NULL,
    status                 text NOT NULL DEFAULT 'pending'
                           CHECK (status IN ('pending', 'done', 'failed', 'skipped', 'cancelled')),
    -- Why it failed or was skipped; what it did when done.
    reason                 text,
    -- template: the line and the template with its variables; open_attendance and where the
    -- opened attendance goes (an agent, a department, or neither).
    channel_id             uuid,
    template_id            uuid,
    variables              jsonb NOT NULL DEFAULT '{}',
    open_attendance        boolean NOT NULL DEFAULT false,
    agent_id               uuid,
    department_id          uuid,
    -- flow: the external automation to trigger (channel_id optional).
    flow                   text CHECK (length(flow) BETWEEN 1 AND 100),
    -- appointment: the conversation called back (also, once sent, a template's conversation).
    conversation_id        uuid,
    -- What running it produced: the queued message.
    message_id             uuid,
    -- Who scheduled it (a user or an API key), and who cancelled it.
    created_by_user_id     uuid,
    created_by_api_key_id  uuid,
    cancelled_by_user_id   uuid,
    created_at             timestamptz NOT NULL,
    finished_at            timestamptz,
    -- The River job that runs it (cancelled with the schedule where it still waits).
    job_id                 bigint,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, contact_id) REFERENCES contacts (account_id, id) ON DELETE SET NULL (contact_id),
    FOREIGN KEY (account_id, channel_id) REFERENCES channels (account_id, id),
    FOREIGN KEY (account_id, template_id) REFERENCES templates (account_id, id) ON DELETE SET NULL (template_id),
    FOREIGN KEY (account_id, agent_id) REFERENCES users (account_id, id) ON DELETE SET NULL (agent_id),
    FOREIGN KEY (account_id, department_id) REFERENCES departments (account_id, id) ON DELETE SET NULL (department_id),
    FOREIGN KEY (account_id, conversation_id) REFERENCES conversations (account_id, id) ON DELETE SET NULL (conversation_id),
    FOREIGN KEY (account_id, created_by_user_id) REFERENCES users (account_id, id) ON DELETE SET NULL (created_by_user_id),
    FOREIGN KEY (account_id, created_by_api_key_id) REFERENCES api_keys (account_id, id) ON DELETE SET NULL (created_by_api_key_id),
    FOREIGN KEY (account_id, cancelled_by_user_id) REFERENCES users (account_id, id) ON DELETE SET NULL (cancelled_by_user_id),
    CHECK (kind <> 'flow' OR flow IS NOT NULL),
    CHECK (agent_id IS NULL OR department_id IS NULL),
    CHECK ((status = 'pending') = (finished_at IS NULL))
);

-- A contact's schedules, pending first, newest first.
CREATE INDEX schedules_contact ON schedules (account_id, contact_id, (status <> 'pending'), id DESC);
-- One pending appointment per conversation: the conversation has one appointment_at.
CREATE UNIQUE INDEX schedules_one_appointment ON schedules (account_id, conversation_id)
    WHERE kind = 'appointment' AND status = 'pending';

-- +goose Down
DROP TABLE schedules;
