-- +goose Up
-- publish_events reads the outbox from p_from on, and says the highest outbox id it took.
-- Publishing deletes the outbox's lowest ids, so after a burst its primary key holds the dead
-- entries of every event published since the last vacuum, all of them left of the live ones;
-- `ORDER BY id LIMIT n` from the start walked them on every publish (after a 200 000-event
-- burst, PublishEvents took 7.8 ms against 2.2 ms, the webhook benchmark of 2026-12-03).
-- The publisher starts its scans a margin below the last id it published, and from the start
-- now and then for an event whose transaction committed long after later ids were published
-- (internal/event, Log.Publish). p_from 0 reads the whole outbox.
DROP FUNCTION publish_events(integer);

-- +goose StatementBegin
CREATE FUNCTION publish_events(p_limit integer, p_from bigint, OUT max_seq bigint, OUT max_id bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended('conversa_events_publisher', 0)) THEN
        RETURN;
    END IF;
    WITH batch AS (
        DELETE FROM event_outbox o
        WHERE o.id = ANY (ARRAY(SELECT id FROM event_outbox WHERE id >= p_from ORDER BY id LIMIT p_limit))
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
    SELECT (SELECT max(seq) FROM numbered), (SELECT max(id) FROM batch) INTO max_seq, max_id;
    IF max_seq IS NOT NULL THEN
        PERFORM pg_notify('conversa_events', max_seq::text);
    END IF;
END;
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION publish_events(integer, bigint);

-- +goose StatementBegin
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
