-- +goose Up
-- Campaigns (DESIGN §4 "Campaigns", issue 8): a broadcast of an approved template to a
-- segment's audience, on sender lines, at a pace. This migration holds the campaign and its
-- frozen audience; sending the batches fills in the recipients' states.
CREATE TABLE campaigns (
    account_id            uuid NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id                    uuid NOT NULL,
    name                  text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    channel_type          text NOT NULL CHECK (channel_type IN ('whatsapp')),
    segment_id            uuid NOT NULL,
    -- The audience filters inside the segment, as given (segment rules' shape) and compiled the
    -- way segments compile theirs, so the freeze evaluates both in one statement; match_path is
    -- the SQL/JSON path as text (cast once by the freeze).
    filters               jsonb NOT NULL DEFAULT '{}',
    tags_any              text[] NOT NULL DEFAULT '{}',
    tags_all              text[] NOT NULL DEFAULT '{}',
    origins               text[] NOT NULL DEFAULT '{}',
    channel_ids_filter    uuid[] NOT NULL DEFAULT '{}',
    match_path            text,
    -- Only contacts whose marketing consent was given explicitly (DESIGN §4 Consent).
    explicit_consent      boolean NOT NULL DEFAULT false,
    -- explicit: the lines in sender_ids; automatic: the segment's good prospect lines, picked
    -- at the start (and written to sender_ids then).
    line_mode             text NOT NULL CHECK (line_mode IN ('explicit', 'automatic')),
    sender_ids            uuid[] NOT NULL DEFAULT '{}',
    template_id           uuid NOT NULL,
    -- Variable bindings over the template's own, by variable location.
    bindings              jsonb NOT NULL DEFAULT '{}',
    start_at              timestamptz,
    -- Pacing: pace_percent of the recipients every pace_interval_minutes (100: all at once).
    pace_percent          smallint NOT NULL DEFAULT 100 CHECK (pace_percent BETWEEN 1 AND 100),
    pace_interval_minutes integer CHECK (pace_interval_minutes BETWEEN 1 AND 1440),
    -- Contacts in attendance: include them, or leave out those served in the last N hours.
    attendance            text NOT NULL DEFAULT 'include' CHECK (attendance IN ('include', 'exclude')),
    attendance_hours      integer CHECK (attendance_hours BETWEEN 1 AND 720),
    status                text NOT NULL DEFAULT 'draft'
                          CHECK (status IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled', 'failed')),
    -- Why it failed (a scheduled start whose lines no longer pass the checks).
    reason                text,
    -- What the start found: warnings (receptive lines chosen), the messaging limit the audience
    -- would pass, the recipients frozen and the contacts left out by reason.
    warnings              text[] NOT NULL DEFAULT '{}',
    limit_alert           jsonb,
    recipients            integer,
    exclusions            jsonb,
    -- The River job of a scheduled start.
    job_id                bigint,
    version               integer NOT NULL DEFAULT 1,
    created_at            timestamptz NOT NULL,
    updated_at            timestamptz NOT NULL,
    started_at            timestamptz,
    finished_at           timestamptz,
    PRIMARY KEY (account_id, id),
    FOREIGN KEY (account_id, segment_id) REFERENCES segments (account_id, id),
    FOREIGN KEY (account_id, template_id) REFERENCES templates (account_id, id),
    CHECK ((pace_percent = 100) OR pace_interval_minutes IS NOT NULL),
    CHECK ((attendance = 'exclude') = (attendance_hours IS NOT NULL))
);

-- The frozen audience: one row per recipient, written by one INSERT ... SELECT at the start,
-- then moved through its states by the sending (pending, sending, sent, delivered, read,
-- failed, unknown, replied). Built for a million rows a second's fraction each: the primary
-- key is its only index (it also makes a recipient unique in its campaign), and there are no
-- foreign keys: each would cost an index probe and a row lock on the referenced table per
-- inserted row. The campaign deletes its recipients itself (only a draft is deleted, and it
-- has none); a contact deleted later keeps its row, which is the campaign's history.
CREATE TABLE campaign_recipients (
    account_id          uuid NOT NULL,
    campaign_id         uuid NOT NULL,
    contact_id          uuid NOT NULL,
    -- The address frozen with the audience (the contact's first phone).
    phone               text NOT NULL,
    state               text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'sending', 'sent', 'delivered', 'read', 'failed', 'unknown', 'replied')),
    channel_id          uuid,
    message_id          uuid,
    provider_message_id text,
    code                text,
    reason              text,
    requested_at        timestamptz NOT NULL,
    sent_at             timestamptz,
    delivered_at        timestamptz,
    read_at             timestamptz,
    failed_at           timestamptz,
    replied_at          timestamptz,
    PRIMARY KEY (account_id, campaign_id, contact_id)
);

-- +goose Down
DROP TABLE campaign_recipients;
DROP TABLE campaigns;
