-- +goose Up
-- The automatic pause on the failure rate judges the sends since the campaign last resumed:
-- with the running totals alone, a campaign paused for its failures would pause again on the
-- first slice after every resume, whatever the marketer fixed. A resume moves these to the
-- totals of that moment.
ALTER TABLE campaigns
    ADD COLUMN failure_base_ok     integer NOT NULL DEFAULT 0,
    ADD COLUMN failure_base_failed integer NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE campaigns DROP COLUMN failure_base_ok, DROP COLUMN failure_base_failed;
