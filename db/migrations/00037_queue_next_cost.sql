-- +goose Up
-- What the queue's Next (and the agent's scope of conversations) paid on every call for
-- nothing, found with perf on the -queue benchmark (issue 7):
--
-- user_departments and user_segments were SQL functions with an aggregate, so never inlined:
-- PostgreSQL parses and plans the body of such a function afresh on every statement that calls
-- it. Next calls them from an InitPlan, and under concurrency its row lock often finds the head
-- row just taken by another agent: the recheck (EvalPlanQual) evaluates every InitPlan again,
-- so both functions were parsed and planned again on most calls (6 % of the server's CPU at 16
-- connections). In PL/pgSQL the statements' plans are cached per session. Same sets, same
-- results.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION user_departments(acc uuid, usr uuid) RETURNS uuid[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(dm.department_id), '{}') FROM department_members dm
            WHERE dm.account_id = acc AND dm.user_id = usr);
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION user_segments(acc uuid, usr uuid) RETURNS uuid[]
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(s.segment_id), '{}') FROM (
                SELECT su.segment_id FROM segment_users su WHERE su.account_id = acc AND su.user_id = usr
                UNION
                SELECT sd.segment_id FROM segment_departments sd
                JOIN department_members dm ON dm.account_id = sd.account_id AND dm.department_id = sd.department_id
                WHERE sd.account_id = acc AND dm.user_id = usr) s);
END
$$;
-- +goose StatementEnd

-- The placement trigger only does something for a row that waits after the change (open, no
-- agent); an assignment (Next, SetAssignment, a reply) or a closing called the PL/pgSQL
-- function for nothing. The WHEN clause skips the call.
DROP TRIGGER conversations_queue_place ON conversations;
CREATE TRIGGER conversations_queue_place BEFORE INSERT OR UPDATE OF status, agent_id, contact_id ON conversations
    FOR EACH ROW WHEN (NEW.status = 'open' AND NEW.agent_id IS NULL)
    EXECUTE FUNCTION conversations_queue_place();

-- +goose Down
DROP TRIGGER conversations_queue_place ON conversations;
CREATE TRIGGER conversations_queue_place BEFORE INSERT OR UPDATE OF status, agent_id, contact_id ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_queue_place();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION user_segments(acc uuid, usr uuid) RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(s.segment_id), '{}') FROM (
        SELECT su.segment_id FROM segment_users su WHERE su.account_id = acc AND su.user_id = usr
        UNION
        SELECT sd.segment_id FROM segment_departments sd
        JOIN department_members dm ON dm.account_id = sd.account_id AND dm.department_id = sd.department_id
        WHERE sd.account_id = acc AND dm.user_id = usr) s
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION user_departments(acc uuid, usr uuid) RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(dm.department_id), '{}') FROM department_members dm
    WHERE dm.account_id = acc AND dm.user_id = usr
$$;
-- +goose StatementEnd
