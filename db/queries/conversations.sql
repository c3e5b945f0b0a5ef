-- name: LockInboundSenders :exec
-- Serialises drains over the same senders (a hash of account and phone, or of account,
-- channel and address) until commit, in key order so that they queue instead of deadlocking:
-- two drains creating the same new contact would otherwise both insert it.
SELECT count(pg_advisory_xact_lock(s.k))
FROM (SELECT DISTINCT k FROM unnest(@keys::bigint[]) AS k ORDER BY k) AS s;

-- name: ResolveInboundSenders :many
-- Finds or creates the contact of each distinct sender of a drained batch, set-based: by the
-- channel identity first, then by phone (phone is '' on channels not addressed by phone).
-- Senders sharing new_id are one person (one phone written to on two channels) and make one
-- contact. Every sender's identity is recorded so the next message finds it directly.
-- Without create, nothing is created and a missing sender comes back with created set and
-- its new_id: the caller then takes LockInboundSenders for those only (which keeps
-- concurrent drains from creating one contact twice) and asks again with create.
WITH s AS (
    SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@channel_ids::uuid[]) AS channel_id,
           unnest(@addresses::text[]) AS address, unnest(@phones::text[]) AS phone,
           unnest(@names::text[]) AS name, unnest(@new_ids::uuid[]) AS new_id
), looked AS (
    -- Scalar subqueries: one primary-key probe per sender whatever the planner thinks of
    -- the tables' sizes (a hash join would read the whole table for each batch).
    SELECT s.account_id, s.channel_id, s.address, s.phone, s.name, s.new_id,
           (SELECT ci.contact_id FROM contact_identities ci
            WHERE ci.account_id = s.account_id AND ci.channel_id = s.channel_id AND ci.address = s.address) AS identity_contact,
           (SELECT cp.contact_id FROM contact_phones cp
            WHERE s.phone <> '' AND cp.account_id = s.account_id AND cp.phone = s.phone) AS phone_contact
    FROM s
), found AS (
    SELECT l.account_id, l.channel_id, l.address, l.phone, l.name, l.new_id,
           coalesce(l.identity_contact, l.phone_contact) AS contact_id, l.identity_contact IS NOT NULL AS has_identity
    FROM looked l
), fresh AS (
    SELECT DISTINCT ON (f.account_id, f.new_id) f.account_id, f.new_id, f.channel_id, f.phone, f.name
    FROM found f WHERE f.contact_id IS NULL AND @create_missing::boolean
    ORDER BY f.account_id, f.new_id, f.channel_id, f.address
), new_contacts AS (
    INSERT INTO contacts (account_id, id, name, origin, origin_channel_id, created_at, updated_at)
    SELECT fresh.account_id, fresh.new_id, fresh.name, 'inbound', fresh.channel_id, @now, @now FROM fresh
), new_phones AS (
    -- The contacts above exist by the time the foreign keys are checked (end of statement).
    INSERT INTO contact_phones (account_id, phone, contact_id, position)
    SELECT fresh.account_id, fresh.phone, fresh.new_id, 1 FROM fresh WHERE fresh.phone <> ''
), new_identities AS (
    INSERT INTO contact_identities (account_id, channel_id, address, contact_id, created_at)
    SELECT f.account_id, f.channel_id, f.address, f.new_id, @now
    FROM found f WHERE f.contact_id IS NULL AND @create_missing::boolean
), known_identities AS (
    INSERT INTO contact_identities (account_id, channel_id, address, contact_id, created_at)
    SELECT f.account_id, f.channel_id, f.address, f.contact_id, @now
    FROM found f WHERE f.contact_id IS NOT NULL AND NOT f.has_identity
    ON CONFLICT DO NOTHING
)
SELECT f.account_id::uuid AS account_id, f.channel_id::uuid AS channel_id, f.address::text AS address,
       coalesce(f.contact_id, f.new_id)::uuid AS contact_id, (f.contact_id IS NULL)::boolean AS created,
       coalesce((SELECT c.blocked FROM contacts c WHERE c.account_id = f.account_id AND c.id = f.contact_id), false)::boolean AS blocked
FROM found f;

-- name: UpsertInboundConversations :many
-- Applies a batch's messages to their conversations (one row per contact and channel,
-- aggregated by the caller): creates the missing ones closed, renews the service session
-- (never moving it back), advances the last message times and sets or clears
-- unanswered_since as the batch's mode says (keep, clear, set, or coalesce: set unless already
-- set). Times not known (a batch of echoes has no inbound time) come as the zero time. Returns each conversation with its state before the batch where it matters. untagged: a WhatsApp session renewed after its Expirando mark.
WITH r AS (
    SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@new_ids::uuid[]) AS new_id,
           unnest(@contact_ids::uuid[]) AS contact_id, unnest(@channel_ids::uuid[]) AS channel_id,
           unnest(@addresses::text[]) AS address, unnest(@last_message_ats::timestamptz[]) AS last_message_at,
           unnest(@last_inbound_ats::timestamptz[]) AS last_inbound_at,
           unnest(@service_expires_ats::timestamptz[]) AS service_expires_at,
           unnest(@unanswered_modes::text[]) AS unanswered_mode, unnest(@unanswered_ats::timestamptz[]) AS unanswered_at
), c AS (
    SELECT r.account_id, r.new_id, r.contact_id, r.channel_id, r.address, r.last_message_at,
           nullif(r.last_inbound_at, '0001-01-01 00:00:00Z') AS last_inbound_at,
           nullif(r.service_expires_at, '0001-01-01 00:00:00Z') AS service_expires_at,
           r.unanswered_mode, r.unanswered_at
    FROM r
), upd AS (
    UPDATE conversations v SET
        address = c.address,
        service_expires_at = greatest(v.service_expires_at, c.service_expires_at),
        last_message_at = greatest(v.last_message_at, c.last_message_at),
        last_inbound_at = greatest(v.last_inbound_at, c.last_inbound_at),
        unanswered_since = CASE c.unanswered_mode
            WHEN 'clear' THEN NULL WHEN 'set' THEN c.unanswered_at
            WHEN 'coalesce' THEN coalesce(v.unanswered_since, c.unanswered_at) ELSE v.unanswered_since END,
        -- A contact's message (not a reaction) cancels a close scheduled "cancel if the contact replies".
        close_pending_id = CASE WHEN v.close_if_reply = 'cancel' AND c.unanswered_mode IN ('set', 'coalesce')
            THEN NULL ELSE v.close_pending_id END,
        updated_at = @now
    FROM c JOIN conversations old ON old.account_id = c.account_id AND old.contact_id = c.contact_id AND old.channel_id = c.channel_id
    WHERE v.account_id = old.account_id AND v.id = old.id
    RETURNING v.account_id, v.id, v.contact_id, v.channel_id, v.status, v.attendance_id,
              (old.last_inbound_at IS NULL AND c.last_inbound_at IS NOT NULL) AS first_inbound, false AS created,
              -- A WhatsApp session renewed after Expirando went on (from @expiring_from, its
              -- end minus the warning) takes the session tags off (internal/expiry).
              coalesce(c.service_expires_at > old.service_expires_at AND old.service_expires_at <= @expiring_from::timestamptz
                       AND EXISTS (SELECT 1 FROM channels ch WHERE ch.account_id = v.account_id AND ch.id = v.channel_id AND ch.type = 'whatsapp'),
                       false) AS untagged
), ins AS (
    INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, service_expires_at,
                               last_message_at, last_inbound_at, unanswered_since, created_at, updated_at)
    SELECT c.account_id, c.new_id, c.contact_id, c.channel_id, c.address, 'closed', c.service_expires_at,
           c.last_message_at, c.last_inbound_at, CASE WHEN c.unanswered_mode IN ('set', 'coalesce') THEN c.unanswered_at END,
           @now, @now
    FROM c
    WHERE (SELECT 1 FROM conversations v
           WHERE v.account_id = c.account_id AND v.contact_id = c.contact_id AND v.channel_id = c.channel_id LIMIT 1) IS NULL
    RETURNING account_id, id, contact_id, channel_id, status, attendance_id,
              (last_inbound_at IS NOT NULL) AS first_inbound, true AS created, false AS untagged
)
SELECT upd.account_id, upd.id, upd.contact_id, upd.channel_id, upd.status, upd.attendance_id,
       upd.first_inbound::boolean AS first_inbound, upd.created::boolean AS created, upd.untagged::boolean AS untagged FROM upd
UNION ALL
SELECT ins.account_id, ins.id, ins.contact_id, ins.channel_id, ins.status, ins.attendance_id,
       ins.first_inbound::boolean, ins.created::boolean, ins.untagged::boolean FROM ins;

-- name: ProtocolFormats :many
-- The protocol format of each account that has set one (the others use the default).
SELECT account_id, format FROM protocol_settings WHERE account_id = ANY(@account_ids::uuid[]);

-- name: ReserveProtocolNumbers :many
-- Reserves count numbers of each (account, period) counter, in key order so concurrent
-- drains queue instead of deadlocking; the reserved numbers are last-count+1 .. last.
INSERT INTO protocol_counters AS p (account_id, period, last)
SELECT r.account_id, r.period, r.count
FROM (SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@periods::text[]) AS period,
             unnest(@counts::bigint[]) AS count) AS r
ORDER BY r.account_id, r.period
ON CONFLICT (account_id, period) DO UPDATE SET last = p.last + EXCLUDED.last
RETURNING account_id, period, last;

-- name: OpenAttendances :exec
-- Opens an attendance on each conversation given and marks the conversation open with it.
WITH a AS (
    SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id,
           unnest(@conversation_ids::uuid[]) AS conversation_id, unnest(@protocols::text[]) AS protocol,
           unnest(@opened_ats::timestamptz[]) AS opened_at
), ins AS (
    INSERT INTO attendances (account_id, id, conversation_id, protocol, opened_by, opened_at)
    SELECT a.account_id, a.id, a.conversation_id, a.protocol, @opened_by, a.opened_at FROM a
)
UPDATE conversations v SET status = 'open', attendance_id = a.id, opened_at = a.opened_at, updated_at = @now
FROM a WHERE v.account_id = a.account_id AND v.id = a.conversation_id;

-- name: InsertInboundMessages :many
-- Appends a batch's messages and emits message.received for each, in one statement: the
-- outbox rows are the ones event.Emit writes, their data built here rather than encoded per
-- message in Go (the drain's rate depends on it). A provider id already stored (say an echo
-- of a message the send path stored) is skipped. The drain records each provider message
-- once, so two drains never insert the same id at once: a plain probe of the unique index
-- does, cheaper than ON CONFLICT's speculative insertion. Probes are scalar subqueries with
-- LIMIT, which the planner keeps as index probes (a NOT EXISTS may become a hash anti-join
-- that reads every message of every conversation, per batch). The payload is built by kind: the
-- provider's own kind, the media (as given, '' when none), a reaction's emoji and target.
-- Returns the ids stored.
WITH m AS (
    SELECT unnest(@account_ids::uuid[]) AS account_id, unnest(@ids::uuid[]) AS id,
           unnest(@event_ids::uuid[]) AS event_id, unnest(@contact_ids::uuid[]) AS contact_id,
           unnest(@conversation_ids::uuid[]) AS conversation_id, unnest(@channel_ids::uuid[]) AS channel_id,
           unnest(@attendance_ids::uuid[]) AS attendance_id, unnest(@directions::text[]) AS direction,
           unnest(@kinds::text[]) AS kind, unnest(@provider_kinds::text[]) AS provider_kind,
           unnest(@texts::text[]) AS text, unnest(@medias::text[]) AS media,
           unnest(@provider_message_ids::text[]) AS provider_message_id, unnest(@reply_tos::text[]) AS reply_to,
           unnest(@created_ats::timestamptz[]) AS created_at
), ins AS (
    INSERT INTO messages (account_id, id, conversation_id, channel_id, attendance_id, direction, kind, text, payload,
                          provider_message_id, reply_to_provider_id, created_at)
    SELECT m.account_id, m.id, m.conversation_id, m.channel_id, nullif(m.attendance_id, '00000000-0000-0000-0000-000000000000'::uuid),
           m.direction, m.kind, m.text,
           jsonb_build_object('provider_kind', m.provider_kind)
               || CASE WHEN m.media = '' THEN '{}'::jsonb ELSE jsonb_build_object('media', m.media::jsonb) END
               || CASE WHEN m.kind = 'reaction' THEN jsonb_build_object('emoji', m.text, 'message_id', m.reply_to) ELSE '{}'::jsonb END,
           m.provider_message_id, nullif(m.reply_to, ''), m.created_at
    FROM m
    WHERE (SELECT 1 FROM messages x
           WHERE x.account_id = m.account_id AND x.channel_id = m.channel_id AND x.provider_message_id = m.provider_message_id
           LIMIT 1) IS NULL
    RETURNING id
), ev AS (
    INSERT INTO event_outbox (account_id, event_id, type, subject_id, data, occurred_at)
    SELECT m.account_id, m.event_id, 'message.received', m.conversation_id,
           jsonb_build_object('message_id', m.id, 'conversation_id', m.conversation_id, 'contact_id', m.contact_id,
                              'channel_id', m.channel_id, 'provider_message_id', m.provider_message_id, 'direction', m.direction,
                              'kind', m.kind, 'text', m.text, 'created_at', m.created_at),
           @now
    FROM m
    -- The same filter as ins, on the same snapshot: the rows ins inserts, without joining
    -- two CTEs (which the planner would nest-loop, 500 x 500 rows).
    WHERE (SELECT 1 FROM messages x
           WHERE x.account_id = m.account_id AND x.channel_id = m.channel_id AND x.provider_message_id = m.provider_message_id
           LIMIT 1) IS NULL
    ORDER BY m.created_at, m.id
)
SELECT ins.id FROM ins;

-- name: InsertBlockedMessages :exec
-- Records messages from blocked contacts, which change no conversation.
INSERT INTO blocked_messages (account_id, id, channel_id, contact_id, provider_message_id, payload, received_at)
SELECT unnest(@account_ids::uuid[]), unnest(@ids::uuid[]), unnest(@channel_ids::uuid[]), unnest(@contact_ids::uuid[]),
       unnest(@provider_message_ids::text[]), unnest(@payloads::jsonb[]), unnest(@received_ats::timestamptz[]);

-- name: InboundChannelTypes :many
-- The type of each channel of a batch: it decides whether the sender's address is a phone.
SELECT account_id, id, type FROM channels WHERE id = ANY(@ids::uuid[]);

-- name: GetConversation :one
-- A conversation with its current attendance, if one is open.
SELECT v.*, a.protocol AS protocol, a.opened_at AS attendance_opened_at, ch.type AS channel_type,
       a.first_response_at, a.segment_id AS attendance_segment_id, a.sla_due_at, a.sla_breached_at
FROM conversations v
JOIN channels ch ON ch.account_id = v.account_id AND ch.id = v.channel_id
LEFT JOIN attendances a ON a.account_id = v.account_id AND a.id = v.attendance_id AND v.status = 'open'
WHERE v.account_id = @account_id AND v.id = @id;

-- name: MarkConversationRead :execrows
-- The user has read the conversation up to read_at; a "mark unread" is undone.
INSERT INTO conversation_reads (account_id, user_id, conversation_id, read_at, marked_unread, updated_at)
SELECT v.account_id, @user_id, v.id, @read_at, false, @read_at FROM conversations v
WHERE v.account_id = @account_id AND v.id = @id
ON CONFLICT (account_id, user_id, conversation_id) DO UPDATE
SET read_at = greatest(conversation_reads.read_at, EXCLUDED.read_at), marked_unread = false, updated_at = EXCLUDED.updated_at;

-- name: MarkConversationUnread :execrows
-- The user wants the conversation shown unread until they read it again.
INSERT INTO conversation_reads (account_id, user_id, conversation_id, marked_unread, updated_at)
SELECT v.account_id, @user_id, v.id, true, @now FROM conversations v
WHERE v.account_id = @account_id AND v.id = @id
ON CONFLICT (account_id, user_id, conversation_id) DO UPDATE SET marked_unread = true, updated_at = EXCLUDED.updated_at;

-- name: ListConversationMessages :many
-- A conversation's messages newest first (ids are time-ordered UUIDv7 stamped with when the
-- message happened), optionally only those whose text matches q: Portuguese full text with
-- accents folded on both sides. No index: the conversation bounds the scan.
SELECT * FROM messages
WHERE account_id = @account_id AND conversation_id = @conversation_id
  AND (sqlc.narg('before')::uuid IS NULL OR id < sqlc.narg('before')::uuid)
  AND (sqlc.narg('q')::text IS NULL
       OR to_tsvector('portuguese', search_fold(text)) @@ websearch_to_tsquery('portuguese', search_fold(sqlc.narg('q')::text)))
ORDER BY id DESC
LIMIT @lim;

-- name: FindActiveAttendances :many
-- Open attendances whose protocol is the one given (search by protocol finds only active
-- attendances).
SELECT a.*, v.contact_id, v.channel_id
FROM attendances a JOIN conversations v ON v.account_id = a.account_id AND v.id = a.conversation_id
WHERE a.account_id = @account_id AND a.protocol = @protocol AND a.closed_at IS NULL;

-- name: CurrentProtocol :one
-- The protocol of the conversation's open attendance ('' when none is open): {{protocolo}}.
SELECT coalesce(a.protocol, '')::text AS protocol
FROM conversations v
LEFT JOIN attendances a ON a.account_id = v.account_id AND a.id = v.attendance_id AND v.status = 'open'
WHERE v.account_id = @account_id AND v.id = @conversation_id;

-- name: GetProtocolFormat :one
SELECT coalesce((SELECT format FROM protocol_settings WHERE protocol_settings.account_id = @account_id), '')::text AS format;

-- name: SetProtocolFormat :one
INSERT INTO protocol_settings (account_id, format, updated_at) VALUES (@account_id, @format, @now)
ON CONFLICT (account_id) DO UPDATE SET format = EXCLUDED.format, updated_at = EXCLUDED.updated_at
RETURNING format, updated_at;
