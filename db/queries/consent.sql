-- name: LockContactChain :one
-- Locks the contact, so appends to one contact's chain queue up while other contacts' go on.
-- The tip is read by ChainTip in a later statement: a statement that waited for the lock
-- re-reads the locked row but not what it joined, so reading both at once returns a stale tip.
SELECT id FROM contacts
WHERE account_id = @account_id AND id = @contact_id
FOR NO KEY UPDATE;

-- name: ChainTip :one
-- The last record of the contact's chain (seq 0 and no hash when it has none).
SELECT coalesce(max(seq), 0)::int AS last_seq,
       (SELECT r.hash FROM consent_records r
        WHERE r.account_id = @account_id AND r.contact_id = @contact_id
        ORDER BY r.seq DESC LIMIT 1) AS last_hash
FROM consent_records
WHERE account_id = @account_id AND contact_id = @contact_id;

-- name: AppendConsent :exec
-- Appends a record and applies it to the projection in one statement. The latest record
-- decides a (purpose, channel) pair, except that a pending double opt-in never downgrades a
-- grant in force, and an implicit grant never weakens an explicit one in force.
WITH r AS (
    INSERT INTO consent_records (
        account_id, id, contact_id, seq, action, purposes, channels, all_channels, explicit, method,
        occurred_at, recorded_at, text_shown, ip, user_agent, source, terms_version, identifier_kind,
        identifier, recorder_kind, recorder_id, confirms, prev_hash, hash
    ) VALUES (
        @account_id, @id, @contact_id, @seq, @action, @purposes, @channels, @all_channels, @explicit, @method,
        @occurred_at, @recorded_at, @text_shown, @ip, @user_agent, @source, @terms_version, @identifier_kind,
        @identifier, @recorder_kind, @recorder_id, @confirms, @prev_hash, @hash
    )
    RETURNING account_id, id, contact_id, action, purposes, explicit, recorded_at
)
INSERT INTO consent_state AS s (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
SELECT r.account_id, r.contact_id, p.purpose, ch.channel,
       CASE r.action WHEN 'grant' THEN 'granted' WHEN 'revoke' THEN 'revoked' ELSE 'pending' END,
       r.explicit, r.id, r.recorded_at
FROM r, unnest(r.purposes) AS p(purpose), unnest(@scope::text[]) AS ch(channel)
ON CONFLICT (account_id, contact_id, purpose, channel) DO UPDATE SET
    status = EXCLUDED.status,
    explicit = EXCLUDED.explicit OR (EXCLUDED.status = 'granted' AND s.status = 'granted' AND s.explicit),
    record_id = EXCLUDED.record_id,
    updated_at = EXCLUDED.updated_at
WHERE NOT (EXCLUDED.status = 'pending' AND s.status = 'granted');

-- name: GetConsentRecord :one
SELECT * FROM consent_records WHERE account_id = @account_id AND id = @id;

-- name: IsConfirmed :one
SELECT EXISTS (
    SELECT 1 FROM consent_records
    WHERE account_id = @account_id AND contact_id = @contact_id AND confirms = @pending_id::uuid
);

-- name: HasConsentOnChannel :one
-- Whether any record ever covered the channel for the contact (a first inbound message only
-- records implicit consent when none did).
SELECT EXISTS (
    SELECT 1 FROM consent_records
    WHERE account_id = @account_id AND contact_id = @contact_id
      AND (all_channels OR @channel::text = ANY(channels))
);

-- name: ListContactConsents :many
SELECT * FROM consent_records
WHERE account_id = @account_id AND contact_id = @contact_id AND seq > @after_seq
ORDER BY seq
LIMIT @max_rows;

-- name: SearchConsents :many
SELECT * FROM consent_records
WHERE account_id = @account_id
  AND (sqlc.narg('after')::uuid IS NULL OR id > sqlc.narg('after')::uuid)
  AND (sqlc.narg('contact_id')::uuid IS NULL OR contact_id = sqlc.narg('contact_id')::uuid)
  AND (sqlc.narg('from')::timestamptz IS NULL OR occurred_at >= sqlc.narg('from')::timestamptz)
  AND (sqlc.narg('until')::timestamptz IS NULL OR occurred_at < sqlc.narg('until')::timestamptz)
  AND (sqlc.narg('purpose')::text IS NULL OR sqlc.narg('purpose')::text = ANY(purposes))
  AND (sqlc.narg('channel')::text IS NULL OR all_channels OR sqlc.narg('channel')::text = ANY(channels))
  AND (sqlc.narg('method')::text IS NULL OR method = sqlc.narg('method')::text)
  AND (sqlc.narg('action')::text IS NULL OR action = sqlc.narg('action')::text)
ORDER BY id
LIMIT @max_rows;

-- name: ChainPage :many
-- One page of an account's records in chain order, for verification in constant memory.
SELECT * FROM consent_records
WHERE account_id = @account_id AND (contact_id, seq) > (@after_contact::uuid, @after_seq::int)
ORDER BY contact_id, seq
LIMIT @max_rows;

-- name: ContactConsentState :many
SELECT * FROM consent_state
WHERE account_id = @account_id AND contact_id = @contact_id
ORDER BY purpose, channel;

-- name: ConsentStatus :one
SELECT status, explicit FROM consent_state
WHERE account_id = @account_id AND contact_id = @contact_id AND purpose = @purpose AND channel = @channel;

-- name: CountGranted :one
SELECT count(*) FROM consent_state
WHERE account_id = @account_id AND purpose = @purpose AND channel = @channel AND status = 'granted'
  AND (explicit OR NOT @explicit_only::bool);

-- name: LogConsentAccess :exec
INSERT INTO consent_access_log (account_id, id, at, principal_kind, principal_id, operation, contact_id, detail)
VALUES (@account_id, @id, @at, @principal_kind, @principal_id, @operation, @contact_id, @detail);

-- name: ListConsentAccess :many
SELECT * FROM consent_access_log
WHERE account_id = @account_id
  AND (sqlc.narg('after')::uuid IS NULL OR id > sqlc.narg('after')::uuid)
  AND (sqlc.narg('contact_id')::uuid IS NULL OR contact_id = sqlc.narg('contact_id')::uuid)
ORDER BY id
LIMIT @max_rows;

-- name: GetConsentSettings :one
SELECT opt_out_keywords, opt_in_keywords, opt_out_reply, opt_in_reply FROM accounts WHERE id = @account_id;

-- name: UpdateConsentSettings :one
UPDATE accounts SET
    opt_out_keywords = @opt_out_keywords, opt_in_keywords = @opt_in_keywords,
    opt_out_reply = @opt_out_reply, opt_in_reply = @opt_in_reply
WHERE id = @account_id
RETURNING opt_out_keywords, opt_in_keywords, opt_out_reply, opt_in_reply;

-- name: LatestPending :one
-- The contact's newest pending double opt-in that nothing confirmed yet.
SELECT r.* FROM consent_records r
WHERE r.account_id = @account_id AND r.contact_id = @contact_id AND r.action = 'pending'
  AND NOT EXISTS (
      SELECT 1 FROM consent_records c
      WHERE c.account_id = r.account_id AND c.contact_id = r.contact_id AND c.confirms = r.id)
ORDER BY r.seq DESC
LIMIT 1;
