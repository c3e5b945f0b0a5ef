-- name: LockContactChain :one
-- Takes the contact's chain lock (the one append_consent takes) for a check that must not race
-- with an append, and says whether the contact exists in the account.
SELECT consent_lock(@account_id::uuid, @contact_id::uuid)::boolean AS found;

-- name: AppendConsent :one
-- Appends a record in one round trip (see the append_consent function): no row when the
-- contact does not exist in the account.
SELECT a.seq::int AS seq, a.prev_hash::bytea AS prev_hash, a.hash::bytea AS hash
FROM append_consent(
    @account_id::uuid, @id::uuid, @contact_id::uuid, @action::text, @purposes::text[], @channels::text[],
    @all_channels::boolean, @explicit::boolean, @method::text, @occurred_at::timestamptz,
    @recorded_at::timestamptz, sqlc.narg('text_shown')::text, sqlc.narg('ip')::text, sqlc.narg('user_agent')::text,
    sqlc.narg('source')::text, sqlc.narg('terms_version')::text, sqlc.narg('identifier_kind')::text,
    sqlc.narg('identifier')::text, @recorder_kind::text, @recorder_id::text, sqlc.narg('confirms')::uuid,
    @digest::bytea, @scope::text[]
) AS a;

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
