-- +goose Up
-- Service times per attendance with the segment's SLA, and automatic distribution of waiting
-- conversations to available agents (DESIGN §4 Segments: SLA, manual or automatic
-- distribution). internal/sla and internal/distribution hold the rules.

-- What an attendance is measured by, stored so that it is indexable:
-- first_response_at: the first message that answers the contact after the attendance opened,
--   by the unanswered-time rule (an outbound or echo message; internal notes, system notes
--   and reactions are not answers). Set once, by the trigger on messages below.
-- segment_id: the attendance's deciding segment, fixed when it opens: the contact's segment of
--   highest priority (ties: the lower id, the older segment), the order GET
--   /v1/contacts/{id}/segments lists. Automatic distribution follows it. No foreign key: it
--   records what decided, and a deleted segment's id stays (its attendances are then not
--   distributed); a key would make every segment delete scan the attendances.
-- sla_due_at: opened_at plus the SLA of the contact's highest-priority segment that has one
--   (ties: the shorter SLA, then the lower id), fixed when it opens; null when none has one.
-- sla_breached_at: when the breach sweep found the due time passed with neither a first
--   response nor a close by then, and emitted attendance.sla_breached; set once. An
--   attendance closed in time without an answer (resolved another way) is not breached.
ALTER TABLE attendances
    ADD COLUMN first_response_at timestamptz,
    ADD COLUMN segment_id        uuid,
    ADD COLUMN sla_due_at        timestamptz,
    ADD COLUMN sla_breached_at   timestamptz;

-- The breach sweep's work list: attendances with an SLA not yet reported and not answered or
-- closed in time. One answered or closed in time leaves it then, a breached one when the
-- sweep reports it, so it holds about one SLA period of attendances whatever the table's
-- size (closed attendances do not pile up in it).
CREATE INDEX attendances_sla_due ON attendances (sla_due_at)
    WHERE sla_breached_at IS NULL AND sla_due_at IS NOT NULL
      AND (first_response_at IS NULL OR first_response_at > sla_due_at)
      AND (closed_at IS NULL OR closed_at > sla_due_at);

-- attendance_segments places a new attendance: its deciding segment and its SLA due time, from
-- the contact's segments (static members and rules, as queue_placement evaluates them).
-- +goose StatementBegin
CREATE FUNCTION attendance_segments() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    c contacts%ROWTYPE;
BEGIN
    SELECT ct.* INTO c FROM conversations v JOIN contacts ct ON ct.account_id = v.account_id AND ct.id = v.contact_id
    WHERE v.account_id = NEW.account_id AND v.id = NEW.conversation_id;
    IF NOT FOUND THEN
        RETURN NEW;
    END IF;
    WITH mine AS (
        SELECT s.id, s.priority, s.sla_minutes FROM segments s
        WHERE s.account_id = NEW.account_id AND (
            EXISTS (SELECT 1 FROM segment_members m WHERE m.account_id = s.account_id AND m.segment_id = s.id AND m.contact_id = c.id)
            OR (s.has_rules
                AND (cardinality(s.tags_any) = 0 OR c.tags && s.tags_any)
                AND (cardinality(s.tags_all) = 0 OR c.tags @> s.tags_all)
                AND (cardinality(s.origins) = 0 OR c.origin = ANY(s.origins))
                AND (cardinality(s.channel_ids) = 0 OR c.origin_channel_id = ANY(s.channel_ids))
                AND (s.match_path IS NULL OR c.custom @@ s.match_path)))
    )
    SELECT (SELECT m.id FROM mine m ORDER BY m.priority DESC, m.id LIMIT 1),
           NEW.opened_at + make_interval(mins => (SELECT m.sla_minutes FROM mine m WHERE m.sla_minutes IS NOT NULL
                                                  ORDER BY m.priority DESC, m.sla_minutes, m.id LIMIT 1))
    INTO NEW.segment_id, NEW.sla_due_at;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER attendances_segments BEFORE INSERT ON attendances
    FOR EACH ROW EXECUTE FUNCTION attendance_segments();

-- messages_first_response records each open attendance's first response: the earliest answer
-- among a statement's messages, once per statement and set-based (the inbound drain and the
-- send path insert many at a time). The answers are the messages that stop the unanswered
-- time (internal/conversation's drain for echoes, internal/send's QueueMessage and
-- QueueFreeForm for outbound): direction outbound or echo; internal notes and system notes
-- are direction internal, and reactions are not answers.
-- +goose StatementBegin
CREATE FUNCTION messages_first_response() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE attendances a SET first_response_at = r.at
    FROM (SELECT n.account_id, n.conversation_id, min(n.created_at) AS at FROM new_messages n
          WHERE n.direction IN ('outbound', 'echo') AND n.kind <> 'reaction'
          GROUP BY n.account_id, n.conversation_id) r
    JOIN conversations v ON v.account_id = r.account_id AND v.id = r.conversation_id AND v.status = 'open'
    WHERE a.account_id = v.account_id AND a.id = v.attendance_id
      AND a.first_response_at IS NULL AND r.at >= a.opened_at;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER messages_first_response AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_messages FOR EACH STATEMENT EXECUTE FUNCTION messages_first_response();

-- Automatic distribution. Per agent: whether the agent takes work now (available or away;
-- away until the agent says otherwise, so nobody is given conversations while not at the
-- console), a capacity overriding the account's default (null: the default), and when the
-- distributor last gave the agent a conversation (the round robin's tie-break).
ALTER TABLE user_profiles
    ADD COLUMN availability     text NOT NULL DEFAULT 'away' CHECK (availability IN ('available', 'away')),
    ADD COLUMN capacity         smallint CHECK (capacity BETWEEN 0 AND 1000),
    ADD COLUMN last_assigned_at timestamptz;
CREATE INDEX user_profiles_available ON user_profiles (account_id, user_id) WHERE availability = 'available';

-- The account's default capacity: how many open conversations an agent holds at most before
-- the distributor gives it no more (an agent's own capacity overrides it).
CREATE TABLE distribution_settings (
    account_id       uuid PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    default_capacity smallint NOT NULL CHECK (default_capacity BETWEEN 1 AND 1000),
    updated_at       timestamptz NOT NULL
);

-- +goose Down
DROP TABLE distribution_settings;
DROP INDEX user_profiles_available;
ALTER TABLE user_profiles DROP COLUMN last_assigned_at, DROP COLUMN capacity, DROP COLUMN availability;
DROP TRIGGER messages_first_response ON messages;
DROP FUNCTION messages_first_response;
DROP TRIGGER attendances_segments ON attendances;
DROP FUNCTION attendance_segments;
DROP INDEX attendances_sla_due;
ALTER TABLE attendances DROP COLUMN sla_breached_at, DROP COLUMN sla_due_at, DROP COLUMN segment_id, DROP COLUMN first_response_at;
