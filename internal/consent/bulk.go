package consent

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/internal/channel"
)

// ImportGrant is one contact's "accepts communications = yes" in a bulk import. The
// identifier, when given, must already be canonical (an E.164 phone, a lower-case e-mail, a
// CPF of digits): the importer has normalised it with the contact.
type ImportGrant struct {
	ContactID uuid.UUID
	Evidence  ImportEvidence
}

// appendGrants appends one grant record per contact after the tip of its chain and applies
// it to consent_state, in one statement: the same record, hash and projection append_consent
// writes, computed for the whole set (consent.Replay is the reference for the projection's
// rules). Every record of a call shares purposes, channels, method and recorder. When $19 names
// a channel, contacts that any record ever covered on it are skipped (a first inbound message
// never opts back in a contact who opted out). When $20 is set, contacts whose state already
// grants every purpose on every channel of the record, as explicitly as it would, are skipped:
// the grant would change nothing. That test reads the contact's state by primary key: written
// `status = 'granted'` it matched the predicate of consent_state_granted, which is ordered by
// purpose and channel before contact, and with statistics taken before the import grew the
// table the planner scanned every granted row of the account for each contact (a batch's
// consent step went from 1 s to 38 s over four batches of a new import).
//
// Each contact is locked FOR KEY SHARE (consent_state has no foreign key: migration 00040),
// so its deletion waits for this transaction; a contact already deleted is skipped. The
// projection rows of a contact that has none yet (every contact of a new import) are plain
// inserts; ON CONFLICT's speculative insertion, an extra WAL record per row, is kept for
// contacts that have state. A concurrent append to one of these contacts cannot slip between
// the two: it conflicts first on the chain's unique (contact, seq) key, whose row is written
// before the contact's state rows. Both write in key order, a contact's rows together (the
// planner would otherwise loop over the channels outermost and visit every contact's index
// and heap pages twelve times).
const appendGrants = `
WITH g AS (
    SELECT g.* FROM unnest($2::uuid[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bytea[])
        AS g(id, contact_id, occurred_at, text_shown, source, identifier_kind, identifier, digest)
    JOIN contacts c ON c.account_id = $1 AND c.id = g.contact_id
    WHERE ($19::text = '' OR (
        SELECT 1 FROM consent_records r
        WHERE r.account_id = $1 AND r.contact_id = g.contact_id AND (r.all_channels OR $19::text = ANY(r.channels))
        LIMIT 1) IS NULL)
      AND NOT ($20::boolean AND (
        SELECT count(*) FROM consent_state s
        WHERE s.account_id = $1 AND s.contact_id = g.contact_id AND s.purpose = ANY($10::text[])
          AND s.channel = ANY($15::text[]) AND s.status IS NOT DISTINCT FROM 'granted' AND (s.explicit OR NOT $14)
        ) = cardinality($10::text[]) * cardinality($15::text[]))
    FOR KEY SHARE OF c
), tip AS (
    SELECT g.*, coalesce(t.seq, 0) + 1 AS seq, t.hash AS prev_hash,
           EXISTS (SELECT 1 FROM consent_state s WHERE s.account_id = $1 AND s.contact_id = g.contact_id) AS has_state
    FROM g LEFT JOIN LATERAL (
        SELECT r.seq, r.hash FROM consent_records r
        WHERE r.account_id = $1 AND r.contact_id = g.contact_id
        ORDER BY r.seq DESC LIMIT 1
    ) t ON true
), ins AS (
    INSERT INTO consent_records (
        account_id, id, contact_id, seq, action, purposes, channels, all_channels, explicit, method,
        occurred_at, recorded_at, text_shown, source, identifier_kind, identifier, recorder_kind, recorder_id,
        prev_hash, hash
    )
    SELECT $1, tip.id, tip.contact_id, tip.seq, 'grant', $10::text[], $16::text[], $17::boolean, $14, $18::text,
           tip.occurred_at, $11, tip.text_shown, tip.source, tip.identifier_kind, tip.identifier, $12, $13,
           tip.prev_hash,
           sha256(convert_to(E'conversa-consent-v2\n', 'UTF8') || tip.digest || int8send(tip.seq::bigint) || coalesce(tip.prev_hash, ''::bytea))
    FROM tip
    RETURNING id, contact_id
), first AS (
    INSERT INTO consent_state (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
    SELECT $1, ins.contact_id, pu.purpose, ch.channel, 'granted', $14, ins.id, $11
    FROM ins JOIN tip ON tip.id = ins.id AND NOT tip.has_state, unnest($10::text[]) AS pu(purpose), unnest($15::text[]) AS ch(channel)
    ORDER BY ins.contact_id, pu.purpose, ch.channel
)
, later AS (
    INSERT INTO consent_state AS s (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
    SELECT $1, ins.contact_id, pu.purpose, ch.channel, 'granted', $14, ins.id, $11
    FROM ins JOIN tip ON tip.id = ins.id AND tip.has_state, unnest($10::text[]) AS pu(purpose), unnest($15::text[]) AS ch(channel)
    ORDER BY ins.contact_id, pu.purpose, ch.channel
    ON CONFLICT (account_id, contact_id, purpose, channel) DO UPDATE SET
        status = EXCLUDED.status,
        explicit = EXCLUDED.explicit OR (EXCLUDED.status = 'granted' AND s.status = 'granted' AND s.explicit),
        record_id = EXCLUDED.record_id,
        updated_at = EXCLUDED.updated_at
    WHERE NOT (EXCLUDED.status = 'pending' AND s.status = 'granted')
)
SELECT count(*) FROM ins`

// RecordImportMany is RecordImport for many contacts at once, inside the caller's
// transaction: one set-based statement appends each contact's record after the tip of its
// chain, sealed exactly as append_consent seals it, and updates consent_state, so Verify and
// Replay hold as if each had been recorded alone. Contacts must be distinct; one deleted
// meanwhile is skipped. It returns how many records it appended.
//
// A contact whose consent is already in force for every purpose on every channel gets no
// record: the record that granted it stays the evidence, and a CRM that re-imports its whole
// base every night does not append a record (and rewrite 36 state rows) per consenting
// contact each time. A contact who revoked anything, or whose consent is pending or limited to
// some channels, gets the import's grant as before.
//
// It does not take append_consent's per-contact advisory lock (an import of 50 000 contacts
// would exhaust the lock table); an append racing on the same contact makes one of the two
// transactions fail on the unique (contact, seq) key, never a forked chain, and the import
// retries its batch.
func (s *Service) RecordImportMany(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, grants []ImportGrant) (int64, error) {
	entries := make([]manyEntry, len(grants))
	var by Recorder
	for i, g := range grants {
		ev := g.Evidence
		by = ev.By
		entries[i] = manyEntry{contactID: g.ContactID, identifierKind: ev.IdentifierKind, identifier: ev.Identifier, entry: Entry{
			Action: Grant, Purposes: Purposes, AllChannels: true, Method: Import, OccurredAt: ev.At,
			Text:   fmt.Sprintf("Imported: column %q = yes", ev.Column),
			Source: fmt.Sprintf("import %s, row %d", ev.File, ev.Row),
		}}
	}
	n, err := s.appendMany(ctx, tx, accountID, entries, by, "", true)
	if err != nil {
		return 0, fmt.Errorf("append import consents: %w", err)
	}
	return n, nil
}

// FirstInbound is one contact's first message on a channel, for RecordFirstInboundMany.
type FirstInbound struct {
	ContactID uuid.UUID
	At        time.Time
	// MessageRef names the message (the provider's id), as evidence.
	MessageRef string
}

// RecordFirstInboundMany is RecordFirstInbound for a batch of contacts writing on channel
// type ch (the inbound pipeline drains up to 500 messages at a time and cannot afford a round
// trip each): one statement records the implicit consent of every contact that no record
// ever covered on ch, and skips the others, so a contact who opted out is never opted back
// in by writing again. Contacts must be distinct and exist. Like RecordImportMany it takes no
// advisory lock: a racing append fails the transaction on the unique (contact, seq) key and
// the drain retries the batch.
func (s *Service) RecordFirstInboundMany(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, ch channel.Type, firsts []FirstInbound) (int64, error) {
	entries := make([]manyEntry, len(firsts))
	for i, f := range firsts {
		entries[i] = manyEntry{contactID: f.ContactID, entry: Entry{
			Action: Grant, Purposes: Purposes, Channels: []channel.Type{ch}, Method: FirstInboundMessage, OccurredAt: f.At,
			Text:   fmt.Sprintf("The contact started a conversation on %s.", ch),
			Source: fmt.Sprintf("inbound %s message %s", ch, f.MessageRef),
		}}
	}
	n, err := s.appendMany(ctx, tx, accountID, entries, system, string(ch), false)
	if err != nil {
		return 0, fmt.Errorf("record implicit consents on %s: %w", ch, err)
	}
	return n, nil
}

// manyEntry is one contact's grant for appendMany.
type manyEntry struct {
	contactID                  uuid.UUID
	entry                      Entry
	identifierKind, identifier string
}

// appendMany runs appendGrants for entries that share action, purposes, channels and method
// (only the evidence differs), skipping contacts seen on skipSeenOn when it is set, and those
// whose state the grant would not change when skipInForce is.
func (s *Service) appendMany(ctx context.Context, tx pgx.Tx, accountID uuid.UUID, entries []manyEntry, by Recorder, skipSeenOn string, skipInForce bool) (int64, error) {
	if len(entries) == 0 {
		return 0, nil
	}
	now := s.now()
	n := len(entries)
	var (
		ids, contacts   = make([]uuid.UUID, n), make([]uuid.UUID, n)
		occurred        = make([]time.Time, n)
		texts, sources  = make([]string, n), make([]string, n)
		idKinds, idVals = make([]*string, n), make([]*string, n)
		digests         = make([][]byte, n)
		explicit        bool
		first           Entry
	)
	for i, m := range entries {
		e, expl, err := normalize(m.entry, now)
		if err != nil {
			return 0, fmt.Errorf("consent of %s: %w", m.contactID, err)
		}
		e.IdentifierKind, e.Identifier = m.identifierKind, m.identifier
		explicit, first = expl, e
		rec := Record{
			AccountID: accountID, ID: uuid.Must(uuid.NewV7()), ContactID: m.contactID,
			Action: e.Action, Purposes: e.Purposes, Channels: e.Channels, AllChannels: e.AllChannels, Explicit: expl,
			Method: e.Method, OccurredAt: e.OccurredAt, RecordedAt: now, Text: e.Text, Source: e.Source,
			IdentifierKind: e.IdentifierKind, Identifier: e.Identifier, Recorder: by,
		}
		ids[i], contacts[i], occurred[i], texts[i], sources[i] = rec.ID, rec.ContactID, rec.OccurredAt, rec.Text, rec.Source
		idKinds[i], idVals[i] = opt(rec.IdentifierKind), opt(rec.Identifier)
		digests[i] = contentDigest(rec)
	}
	rec := Record{Channels: first.Channels, AllChannels: first.AllChannels}
	var appended int64
	err := tx.QueryRow(ctx, appendGrants, accountID, ids, contacts, occurred, texts, sources, idKinds, idVals, digests,
		slices.Sorted(slices.Values(strs(first.Purposes))), now, by.Kind, by.ID, explicit, strs(rec.scope()),
		strs(first.Channels), first.AllChannels, string(first.Method), skipSeenOn, skipInForce).Scan(&appended)
	if err != nil {
		return 0, err
	}
	return appended, nil
}
