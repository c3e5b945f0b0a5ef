-- +goose Up
-- The event log: what happened in an account, numbered, for clients that resync after a
-- disconnect (GET /v1/events?after=N), the live stream (SSE) and outbound webhooks.
--
-- A transaction that changes something writes its events to event_outbox, a plain insert with
-- no ordering work in its path. One publisher at a time (publish_events takes a transaction
-- advisory lock) moves them into events, numbering them from a sequence as it goes, and commits
-- before the next batch is numbered. So the order of seq is the order in which events become
-- visible: a reader that has seen seq N never later finds a smaller one, which numbering at
-- insert time cannot promise (transactions commit out of the order they took numbers in).

CREATE TABLE event_outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id    uuid NOT NULL,
    event_id      uuid NOT NULL,
    type          text NOT NULL,
    subject_id    uuid,
    -- Who may see it besides supervisors: the members of a department, one user. Both null:
    -- everyone in the account.
    department_id uuid,
    user_id       uuid,
    data          jsonb NOT NULL,
    occurred_at   timestamptz NOT NULL
);

CREATE SEQUENCE event_seq;

CREATE TABLE events (
    account_id    uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    seq           bigint NOT NULL,
    id            uuid NOT NULL,
    type          text NOT NULL,
    subject_id    uuid,
    department_id uuid,
    user_id       uuid,
    data          jsonb NOT NULL,
    occurred_at   timestamptz NOT NULL,
    published_at  timestamptz NOT NULL,
    PRIMARY KEY (account_id, seq)
);
-- The live fan-out reads every account's new events by seq.
CREATE INDEX events_seq ON events (seq);

-- Outbound webhooks: an account's subscriptions, and one delivery per event and subscription.
CREATE TABLE webhook_subscriptions (
    account_id   uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id           uuid NOT NULL,
    url          text NOT NULL,
    description  text NOT NULL DEFAULT '',
    -- Empty: every type.
    event_types  text[] NOT NULL DEFAULT '{}',
    -- The signing secret, sealed with CONVERSA_SECRET_KEY.
    secret       bytea NOT NULL,
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (account_id, id)
);

CREATE TABLE webhook_sends (
    account_id      uuid NOT NULL,
    id              uuid NOT NULL,
    subscription_id uuid NOT NULL,
    event_seq       bigint NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    -- A sender that claimed it holds it until then; a sender that died lets it go.
    locked_until    timestamptz,
    last_status     integer,
    last_error      text,
    last_attempt_at timestamptz,
    created_at      timestamptz NOT NULL,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, subscription_id, event_seq),
    FOREIGN KEY (account_id, subscription_id) REFERENCES webhook_subscriptions (account_id, id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, event_seq) REFERENCES events (account_id, seq) ON DELETE CASCADE
);
CREATE INDEX webhook_sends_due ON webhook_sends (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_sends_subscription ON webhook_sends (account_id, subscription_id, created_at DESC);

-- +goose StatementBegin
-- publish_events numbers up to p_limit waiting events, queues a webhook send for each
-- subscription that wants one, and returns the highest seq given, or
-- null when there was nothing to publish or another publisher holds the turn. Listeners on
-- the conversa_events channel are told the highest seq.
CREATE FUNCTION publish_events(p_limit integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_max bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended('conversa_events_publisher', 0)) THEN
        RETURN NULL;
    END IF;
    WITH batch AS (
        DELETE FROM event_outbox o
        WHERE o.id IN (SELECT id FROM event_outbox ORDER BY id LIMIT p_limit)
        RETURNING o.*
    ), numbered AS (
        INSERT INTO events (account_id, seq, id, type, subject_id, department_id, user_id, data, occurred_at, published_at)
        SELECT b.account_id, nextval('event_seq'), b.event_id, b.type, b.subject_id, b.department_id, b.user_id,
               b.data, b.occurred_at, clock_timestamp()
        FROM (SELECT * FROM batch ORDER BY id) b
        RETURNING account_id, seq, type, occurred_at
    ), sends AS (
        -- Due at once; the retry schedule counts from when the event happened.
        INSERT INTO webhook_sends (account_id, id, subscription_id, event_seq, next_attempt_at, created_at)
        SELECT n.account_id, gen_random_uuid(), s.id, n.seq, n.occurred_at, n.occurred_at
        FROM numbered n
        JOIN webhook_subscriptions s ON s.account_id = n.account_id AND s.active
             AND (cardinality(s.event_types) = 0 OR n.type = ANY(s.event_types))
    )
    SELECT max(seq) INTO v_max FROM numbered;
    IF v_max IS NOT NULL THEN
        PERFORM pg_notify('conversa_events', v_max::text);
    END IF;
    RETURN v_max;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE webhook_sends;
DROP TABLE webhook_subscriptions;
DROP FUNCTION publish_events;
DROP TABLE events;
DROP SEQUENCE event_seq;
DROP TABLE event_outbox;
