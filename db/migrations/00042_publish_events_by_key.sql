-- +goose Up
-- publish_events takes its batch from the outbox by primary key whatever the statistics say.
-- The batch was `o.id IN (SELECT … LIMIT n)`, a semi-join whose plan the planner picks afresh on
-- every call (the pool forces custom plans) from the outbox's statistics; after a webhook drain
-- filled the outbox faster than autovacuum re-analysed it, one call of 2 000 events ran for over
-- 29 s (pg_stat_activity in the webhook benchmark at 15:20 on 2026-12-03), the publisher fell
-- 80 s behind 200 000 events, and every event stream waited behind them. `= ANY (ARRAY(…))`
-- is an index scan of the primary key for the listed ids, the only plan there is.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION publish_events(p_limit integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_max bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended('conversa_events_publisher', 0)) THEN
        RETURN NULL;
    END IF;
    WITH batch AS (
        DELETE FROM event_outbox o
        WHERE o.id = ANY (ARRAY(SELECT id FROM event_outbox ORDER BY id LIMIT p_limit))
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
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION publish_events(p_limit integer) RETURNS bigint
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
