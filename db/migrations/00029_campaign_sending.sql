-- +goose Up
-- Sending campaigns in staged batches (issue 8): the pace's bookkeeping, the delivery window,
-- the automatic pause, retry runs, and what each recipient's send left behind.
ALTER TABLE campaigns
    -- How many recipients the pace has released so far, and when it releases the next stage
    -- (pace_percent of the recipients). Pausing keeps next_release_at, so a resumed campaign
    -- releases at most one stage at once, never the ones it missed while paused.
    ADD COLUMN released           integer NOT NULL DEFAULT 0,
    ADD COLUMN next_release_at    timestamptz,
    -- How many recipients have been claimed for sending, and the last contact claimed in the
    -- current pass over the audience (claims go in contact order, serialised by the campaign's
    -- row lock, so no claim scans what an earlier one took).
    ADD COLUMN dispatched         integer NOT NULL DEFAULT 0,
    ADD COLUMN claim_cursor       uuid,
    -- The delivery window, minutes of the day in time_zone (window_start = window_end: none).
    ADD COLUMN window_start       smallint NOT NULL DEFAULT 0 CHECK (window_start BETWEEN 0 AND 1439),
    ADD COLUMN window_end         smallint NOT NULL DEFAULT 0 CHECK (window_end BETWEEN 0 AND 1439),
    ADD COLUMN time_zone          text NOT NULL DEFAULT 'America/Sao_Paulo',
    -- Automatic pause when the failed share of the sends passes this percent (after at least
    -- a hundred sends); 0 turns it off.
    ADD COLUMN max_failure_percent smallint NOT NULL DEFAULT 20 CHECK (max_failure_percent BETWEEN 0 AND 100),
    -- Outcomes recorded so far (sent; failed), for the automatic pause without counting rows.
    ADD COLUMN sends_ok           integer NOT NULL DEFAULT 0,
    ADD COLUMN sends_failed       integer NOT NULL DEFAULT 0,
    -- A retry run: the campaign whose failed recipients this one sends to again.
    ADD COLUMN retry_of           uuid,
    -- Why a campaign paused by itself (failure rate, a line's quality), cleared on resume.
    ADD COLUMN pause_reason       text;

ALTER TABLE campaign_recipients
    -- The text sent (the rendered template), for the report's Mensagem.
    ADD COLUMN message_text text,
    -- When the last claim took it for sending.
    ADD COLUMN claimed_at   timestamptz,
    -- Retryable refusals that put it back to pending.
    ADD COLUMN attempts     smallint NOT NULL DEFAULT 0;

-- The claims in flight: the recipients one sender took (state sending) until their outcomes are
-- recorded, which deletes the claim. A claim whose lease has passed belongs to a sender that
-- died: its recipients still sending become unknown (the send may have gone out; it is never
-- repeated). Holding the ids here makes that exact without an index on the recipients' state.
CREATE TABLE campaign_claims (
    account_id  uuid NOT NULL,
    campaign_id uuid NOT NULL,
    id          uuid NOT NULL,
    channel_id  uuid NOT NULL,
    contact_ids uuid[] NOT NULL,
    lease_until timestamptz NOT NULL,
    PRIMARY KEY (account_id, campaign_id, id),
    FOREIGN KEY (account_id, campaign_id) REFERENCES campaigns (account_id, id) ON DELETE CASCADE
);

-- Status reports find a campaign send by the provider's message id; filled only when a send is
-- recorded, so the freeze's million inserts pay nothing for it.
CREATE INDEX campaign_recipients_provider_id ON campaign_recipients (account_id, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
-- A contact's reply finds the campaign sends that reached it (attribution window).
CREATE INDEX campaign_recipients_reached ON campaign_recipients (account_id, contact_id, sent_at)
    WHERE sent_at IS NOT NULL;
-- The recipients put back after a refusal, waiting for another try: the claims after the
-- first pass read only these (a put-back is rare, so the index is small and the freeze's rows,
-- never put back, are not in it).
CREATE INDEX campaign_recipients_retry ON campaign_recipients (account_id, campaign_id, contact_id)
    WHERE state = 'pending' AND attempts > 0;
-- Running campaigns, for the leader's sweep that keeps their senders going.
CREATE INDEX campaigns_running ON campaigns (status) WHERE status = 'running';

-- +goose Down
DROP TABLE campaign_claims;
DROP INDEX campaigns_running;
DROP INDEX campaign_recipients_retry;
DROP INDEX campaign_recipients_reached;
DROP INDEX campaign_recipients_provider_id;
ALTER TABLE campaign_recipients DROP COLUMN message_text, DROP COLUMN claimed_at, DROP COLUMN attempts;
ALTER TABLE campaigns DROP COLUMN released, DROP COLUMN next_release_at, DROP COLUMN dispatched, DROP COLUMN claim_cursor,
    DROP COLUMN window_start, DROP COLUMN window_end, DROP COLUMN time_zone, DROP COLUMN max_failure_percent,
    DROP COLUMN retry_of, DROP COLUMN pause_reason, DROP COLUMN sends_ok, DROP COLUMN sends_failed;
