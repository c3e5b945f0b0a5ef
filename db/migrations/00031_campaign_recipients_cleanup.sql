-- +goose Up
-- Campaign recipients have no foreign keys (00027: a key would cost an index probe and a row
-- lock per frozen row), so nothing cascades to them. A campaign's deletion takes its recipients
-- with it here instead: one set-based delete per statement, whether the statement deletes a
-- draft or an account's deletion cascades to all its campaigns. A contact deleted later still
-- keeps its rows (the campaign's history).
-- +goose StatementBegin
CREATE FUNCTION campaigns_delete_recipients() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM campaign_recipients r USING deleted_campaigns d
    WHERE r.account_id = d.account_id AND r.campaign_id = d.id;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER campaigns_delete_recipients AFTER DELETE ON campaigns
    REFERENCING OLD TABLE AS deleted_campaigns
    FOR EACH STATEMENT EXECUTE FUNCTION campaigns_delete_recipients();

-- +goose Down
DROP TRIGGER campaigns_delete_recipients ON campaigns;
DROP FUNCTION campaigns_delete_recipients();
