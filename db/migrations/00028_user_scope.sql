-- +goose Up
-- Who a user serves, in one place: the queue's Next (which conversations an agent may take)
-- and the agent's scope of conversations (internal/conversation) read the same two sets.
-- +goose StatementBegin
CREATE FUNCTION user_departments(acc uuid, usr uuid) RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(dm.department_id), '{}') FROM department_members dm
    WHERE dm.account_id = acc AND dm.user_id = usr
$$;
-- +goose StatementEnd

-- The segments that name the user, directly or through one of its departments.
-- +goose StatementBegin
CREATE FUNCTION user_segments(acc uuid, usr uuid) RETURNS uuid[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(s.segment_id), '{}') FROM (
        SELECT su.segment_id FROM segment_users su WHERE su.account_id = acc AND su.user_id = usr
        UNION
        SELECT sd.segment_id FROM segment_departments sd
        JOIN department_members dm ON dm.account_id = sd.account_id AND dm.department_id = sd.department_id
        WHERE sd.account_id = acc AND dm.user_id = usr) s
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION user_segments;
DROP FUNCTION user_departments;
