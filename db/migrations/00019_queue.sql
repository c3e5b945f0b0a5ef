-- +goose Up
-- The live queue (DESIGN §4 "Live queue order"): waiting conversations (open, no agent) in
-- the order an agent's "Next" takes them. The order is served from partial indexes holding
-- only waiting rows, in the ORDER BY's order, so Next reads one index entry whatever the
-- queue's depth. For that, what the order depends on is stored on the conversation when it
-- starts waiting and kept right by triggers when a contact's, segment's or channel's priority
-- (or a contact's segments) change: computing it per row from contacts, segments and channels
-- at query time would sort every waiting row on each Next.

-- appointment_at: a scheduled callback (the schedules feature sets it). A waiting
-- conversation with one is hidden until 5 minutes before it, then goes before all others;
-- serving it (any assignment) clears it.
-- queue_webchat: the channel is WebChat (absolute priority, cannot be turned off).
-- queue_priority: the effective priority, most specific first: the contact's own (its score,
-- or high = 100, low = 10; medium is no override), else the highest of its segments, else
-- the channel's.
-- queue_segments: the contact's segments that name who serves them (users or departments);
-- empty means any agent may take the conversation when it has no department.
ALTER TABLE conversations
    ADD COLUMN appointment_at timestamptz,
    ADD COLUMN queue_webchat  boolean NOT NULL DEFAULT false,
    ADD COLUMN queue_priority smallint NOT NULL DEFAULT 50,
    ADD COLUMN queue_segments uuid[] NOT NULL DEFAULT '{}';

-- queue_placement computes the stored queue columns of a contact's conversation on a channel.
-- PL/pgSQL so that its plans are cached (a SQL function's body is planned at every call).
-- +goose StatementBegin
CREATE FUNCTION queue_placement(acc uuid, contact uuid, chan uuid,
                                OUT webchat boolean, OUT priority smallint, OUT segments uuid[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    c   contacts%ROWTYPE;
    own smallint;
    seg smallint;
    chp smallint;
BEGIN
    SELECT ch.type = 'webchat', ch.priority INTO webchat, chp FROM channels ch WHERE ch.account_id = acc AND ch.id = chan;
    SELECT * INTO c FROM contacts ct WHERE ct.account_id = acc AND ct.id = contact;
    own := CASE WHEN c.priority_score IS NOT NULL THEN c.priority_score
                WHEN c.priority = 'high' THEN 100
                WHEN c.priority = 'low' THEN 10 END;
    SELECT max(s.priority), array_agg(s.id ORDER BY s.id) FILTER (WHERE s.served)
    INTO seg, segments
    FROM (SELECT s.id, s.priority,
                 EXISTS (SELECT 1 FROM segment_users su WHERE su.account_id = acc AND su.segment_id = s.id)
                 OR EXISTS (SELECT 1 FROM segment_departments sd WHERE sd.account_id = acc AND sd.segment_id = s.id) AS served
          FROM segments s
          WHERE s.account_id = acc AND (
              EXISTS (SELECT 1 FROM segment_members m WHERE m.account_id = acc AND m.segment_id = s.id AND m.contact_id = contact)
              OR (s.has_rules
                  AND (cardinality(s.tags_any) = 0 OR c.tags && s.tags_any)
                  AND (cardinality(s.tags_all) = 0 OR c.tags @> s.tags_all)
                  AND (cardinality(s.origins) = 0 OR c.origin = ANY(s.origins))
                  AND (cardinality(s.channel_ids) = 0 OR c.origin_channel_id = ANY(s.channel_ids))
                  AND (s.match_path IS NULL OR c.custom @@ s.match_path)))) s;
    webchat := coalesce(webchat, false);
    priority := coalesce(own, seg, chp, 50);
    segments := coalesce(segments, '{}');
END
$$;
-- +goose StatementEnd

-- A conversation that starts waiting (opened without an agent, or its agent removed) is
-- placed; one that is not waiting keeps whatever it had (nothing reads it).
-- +goose StatementBegin
CREATE FUNCTION conversations_queue_place() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status = 'open' AND NEW.agent_id IS NULL AND (TG_OP = 'INSERT' OR OLD.status <> 'open'
            OR OLD.agent_id IS NOT NULL OR OLD.contact_id <> NEW.contact_id) THEN
        SELECT p.webchat, p.priority, p.segments INTO NEW.queue_webchat, NEW.queue_priority, NEW.queue_segments
        FROM queue_placement(NEW.account_id, NEW.contact_id, NEW.channel_id) p;
    END IF;
    RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER conversations_queue_place BEFORE INSERT OR UPDATE OF status, agent_id, contact_id ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_queue_place();

-- queue_refresh places again the waiting conversations of an account, narrowed to a contact
-- or a channel when given: what the triggers below call when what placement reads changes.
-- PL/pgSQL so that its plans are cached.
-- +goose StatementBegin
CREATE FUNCTION queue_refresh(acc uuid, contact uuid, chan uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations v SET queue_webchat = p.webchat, queue_priority = p.priority, queue_segments = p.segments
    FROM conversations w, LATERAL queue_placement(w.account_id, w.contact_id, w.channel_id) p
    WHERE w.account_id = acc AND w.status = 'open' AND w.agent_id IS NULL
      AND (contact IS NULL OR w.contact_id = contact) AND (chan IS NULL OR w.channel_id = chan)
      AND v.account_id = w.account_id AND v.id = w.id
      AND (v.queue_webchat, v.queue_priority, v.queue_segments) IS DISTINCT FROM (p.webchat, p.priority, p.segments);
END
$$;
-- +goose StatementEnd

-- A contact's own priority, or what its rule-based segments read (tags, custom values,
-- origin): once per statement, set-based, so that a bulk update of contacts (an import) pays
-- one join with the waiting conversations rather than a call per row.
-- +goose StatementBegin
CREATE FUNCTION contacts_queue_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations v SET (queue_webchat, queue_priority, queue_segments) =
        (SELECT p.webchat, p.priority, p.segments FROM queue_placement(v.account_id, v.contact_id, v.channel_id) p)
    FROM new_contacts n JOIN old_contacts o ON o.account_id = n.account_id AND o.id = n.id
    WHERE v.account_id = n.account_id AND v.contact_id = n.id AND v.status = 'open' AND v.agent_id IS NULL
      AND (o.priority, o.priority_score, o.tags, o.custom, o.origin, o.origin_channel_id)
          IS DISTINCT FROM (n.priority, n.priority_score, n.tags, n.custom, n.origin, n.origin_channel_id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER contacts_queue_refresh AFTER UPDATE ON contacts
    REFERENCING OLD TABLE AS old_contacts NEW TABLE AS new_contacts
    FOR EACH STATEMENT EXECUTE FUNCTION contacts_queue_refresh();

-- A channel's priority.
-- +goose StatementBegin
CREATE FUNCTION channels_queue_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM queue_refresh(NEW.account_id, NULL, NEW.id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER channels_queue_refresh AFTER UPDATE ON channels FOR EACH ROW
    WHEN (OLD.priority IS DISTINCT FROM NEW.priority)
    EXECUTE FUNCTION channels_queue_refresh();

-- Segments, their members and who serves them: once per statement, for each account touched
-- (static members: their contacts' waiting conversations, set-based).
-- +goose StatementBegin
CREATE FUNCTION segments_queue_refresh() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_TABLE_NAME = 'segment_members' THEN
        UPDATE conversations v SET (queue_webchat, queue_priority, queue_segments) =
            (SELECT p.webchat, p.priority, p.segments FROM queue_placement(v.account_id, v.contact_id, v.channel_id) p)
        FROM (SELECT DISTINCT account_id, contact_id FROM changed) m
        WHERE v.account_id = m.account_id AND v.contact_id = m.contact_id AND v.status = 'open' AND v.agent_id IS NULL;
    ELSE
        FOR r IN SELECT DISTINCT account_id FROM changed LOOP
            PERFORM queue_refresh(r.account_id, NULL, NULL);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER segments_queue_refresh_ins AFTER INSERT ON segments REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();
CREATE TRIGGER segments_queue_refresh_upd AFTER UPDATE ON segments REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();
CREATE TRIGGER segments_queue_refresh_del AFTER DELETE ON segments REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();
CREATE TRIGGER segment_members_queue_refresh_ins AFTER INSERT ON segment_members REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();
CREATE TRIGGER segment_members_queue_refresh_del AFTER DELETE ON segment_members REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();
CREATE TRIGGER segment_users_queue_refresh_ins AFTER INSERT ON segment_users REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();
CREATE TRIGGER segment_users_queue_refresh_del AFTER DELETE ON segment_users REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();
CREATE TRIGGER segment_departments_queue_refresh_ins AFTER INSERT ON segment_departments REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();
CREATE TRIGGER segment_departments_queue_refresh_del AFTER DELETE ON segment_departments REFERENCING OLD TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION segments_queue_refresh();

-- The waiting conversations in queue order (WebChat, effective priority, waiting since), and
-- apart the ones with an appointment, by its time: each Next reads the head of one of them.
CREATE INDEX conversations_queue ON conversations (account_id, queue_webchat DESC, queue_priority DESC, unanswered_since, id)
    WHERE status = 'open' AND agent_id IS NULL AND appointment_at IS NULL;
CREATE INDEX conversations_queue_appointments ON conversations (account_id, appointment_at, id)
    WHERE status = 'open' AND agent_id IS NULL AND appointment_at IS NOT NULL;

-- Conversations already waiting.
UPDATE conversations v SET (queue_webchat, queue_priority, queue_segments) =
    (SELECT p.webchat, p.priority, p.segments FROM queue_placement(v.account_id, v.contact_id, v.channel_id) p)
WHERE v.status = 'open' AND v.agent_id IS NULL;

-- +goose Down
DROP INDEX conversations_queue_appointments;
DROP INDEX conversations_queue;
DROP TRIGGER segment_departments_queue_refresh_del ON segment_departments;
DROP TRIGGER segment_departments_queue_refresh_ins ON segment_departments;
DROP TRIGGER segment_users_queue_refresh_del ON segment_users;
DROP TRIGGER segment_users_queue_refresh_ins ON segment_users;
DROP TRIGGER segment_members_queue_refresh_del ON segment_members;
DROP TRIGGER segment_members_queue_refresh_ins ON segment_members;
DROP TRIGGER segments_queue_refresh_del ON segments;
DROP TRIGGER segments_queue_refresh_upd ON segments;
DROP TRIGGER segments_queue_refresh_ins ON segments;
DROP FUNCTION segments_queue_refresh;
DROP TRIGGER channels_queue_refresh ON channels;
DROP FUNCTION channels_queue_refresh;
DROP TRIGGER contacts_queue_refresh ON contacts;
DROP FUNCTION contacts_queue_refresh;
DROP FUNCTION queue_refresh;
DROP TRIGGER conversations_queue_place ON conversations;
DROP FUNCTION conversations_queue_place;
DROP FUNCTION queue_placement;
ALTER TABLE conversations DROP COLUMN queue_segments, DROP COLUMN queue_priority, DROP COLUMN queue_webchat,
    DROP COLUMN appointment_at;
