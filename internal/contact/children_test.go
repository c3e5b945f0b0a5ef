package contact_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

// Phones and consent state have no foreign key to contacts (migration 00040). These tests
// check what the keys gave on every write path: no child names a contact that is not in its
// account, deleting contacts (one, a merge's duplicate, an account's) deletes their children,
// and a writer holds the contact so that a delete cannot slip under it.

// children counts a contact's phones and consent state rows.
func children(t *testing.T, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, accountID, contactID uuid.UUID) (phones, state int) {
	t.Helper()
	require.NoError(t, db.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM contact_phones WHERE account_id = $1 AND contact_id = $2),
		(SELECT count(*) FROM consent_state WHERE account_id = $1 AND contact_id = $2)`, accountID, contactID).Scan(&phones, &state))
	return phones, state
}

// orphans counts phones and consent state rows whose contact does not exist.
func orphans(t *testing.T, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), `SELECT
		(SELECT count(*) FROM contact_phones p WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = p.account_id AND c.id = p.contact_id))
	  + (SELECT count(*) FROM consent_state s WHERE NOT EXISTS (SELECT 1 FROM contacts c WHERE c.account_id = s.account_id AND c.id = s.contact_id))`).Scan(&n))
	return n
}

func grant(t *testing.T, cs *consent.Service, pool interface {
	Begin(context.Context) (pgx.Tx, error)
}, accountID, contactID uuid.UUID) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	n, err := cs.RecordImportMany(ctx, tx, accountID, []consent.ImportGrant{{ContactID: contactID, Evidence: consent.ImportEvidence{
		File: "f.csv", Row: 2, Column: "Aceita", At: time.Now(), By: consent.Recorder{Kind: "system", ID: "test"}}}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	require.NoError(t, tx.Commit(ctx))
}

func TestDeletingContactsDeletesTheirPhonesAndConsentState(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	svc := contact.NewService(pool, clock.System{})
	cs := consent.NewService(pool, clock.System{})
	var ids []uuid.UUID
	for i, p := range []string{"11 98765-0001", "11 98765-0002", "11 98765-0003", "11 98765-0004"} {
		c, err := svc.Create(ctx, a.ID, contact.Fields{Name: "C", CustomerCode: ptr(string(rune('A' + i))), Phones: []string{p}})
		require.NoError(t, err)
		grant(t, cs, pool, a.ID, c.ID)
		// append_consent (one record at a time) writes the same projection.
		_, err = cs.Record(ctx, a.ID, c.ID, consent.Entry{Action: consent.Grant, Purposes: []consent.Purpose{consent.PurposeMarketing},
			Method: consent.Checkbox, Text: "Quero receber ofertas", AllChannels: true, OccurredAt: time.Now()}, consent.Recorder{Kind: "system", ID: "test"})
		require.NoError(t, err)
		phones, state := children(t, pool, a.ID, c.ID)
		require.Equal(t, 1, phones)
		require.Equal(t, 36, state)
		ids = append(ids, c.ID)
	}

	// One contact.
	require.NoError(t, svc.Delete(ctx, a.ID, ids[0]))
	phones, state := children(t, pool, a.ID, ids[0])
	require.Zero(t, phones+state)

	// A merge's duplicate: its phone moves to the survivor, its state goes with it.
	_, err = svc.Merge(ctx, a.ID, ids[1], ids[2], consent.Recorder{Kind: "system", ID: "test"})
	require.NoError(t, err)
	phones, state = children(t, pool, a.ID, ids[2])
	require.Zero(t, phones+state)
	phones, _ = children(t, pool, a.ID, ids[1])
	require.Equal(t, 2, phones)

	// Many at once, as the cascade from accounts deletes an account's contacts (an account
	// whose consent records, legal proof, do not stop its deletion).
	b, err := account.Create(ctx, pool, "B")
	require.NoError(t, err)
	kept, err := svc.Create(ctx, b.ID, contact.Fields{Name: "Kept", Phones: []string{"11 98765-0009"}})
	require.NoError(t, err)
	grant(t, cs, pool, b.ID, kept.ID)
	_, err = pool.Exec(ctx, `DELETE FROM contacts WHERE account_id = $1`, a.ID)
	require.NoError(t, err)
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM contact_phones WHERE account_id = $1)
		+ (SELECT count(*) FROM consent_state WHERE account_id = $1)`, a.ID).Scan(&left))
	require.Zero(t, left)
	phones, state = children(t, pool, b.ID, kept.ID)
	require.Equal(t, 1, phones)
	require.Equal(t, 36, state)

	gone, err := account.Create(ctx, pool, "Gone")
	require.NoError(t, err)
	for _, p := range []string{"11 98765-0011", "11 98765-0012"} {
		_, err := svc.Create(ctx, gone.ID, contact.Fields{Name: "G", Phones: []string{p}})
		require.NoError(t, err)
	}
	_, err = pool.Exec(ctx, `DELETE FROM accounts WHERE id = $1`, gone.ID)
	require.NoError(t, err)
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM contact_phones WHERE account_id = $1`, gone.ID).Scan(&left))
	require.Zero(t, left)
	require.Zero(t, orphans(t, pool))
}

func TestChildrenMustNameAContactOfTheirAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	b, err := account.Create(ctx, pool, "B")
	require.NoError(t, err)
	svc := contact.NewService(pool, clock.System{})
	bc, err := svc.Create(ctx, b.ID, contact.Fields{Name: "B's", Phones: []string{"11 98765-0001"}})
	require.NoError(t, err)
	ac, err := svc.Create(ctx, a.ID, contact.Fields{Name: "A's", Phones: []string{"11 98765-0002"}})
	require.NoError(t, err)
	for _, stmt := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO contact_phones (account_id, phone, contact_id, position) VALUES ($1, '+5511900000000', $2, 1)`, []any{a.ID, bc.ID}},
		{`INSERT INTO contact_phones (account_id, phone, contact_id, position) VALUES ($1, '+5511900000000', $2, 1)`, []any{a.ID, uuid.Must(uuid.NewV7())}},
		{`UPDATE contact_phones SET contact_id = $2 WHERE account_id = $1`, []any{a.ID, bc.ID}},
		{`INSERT INTO consent_state (account_id, contact_id, purpose, channel, status, explicit, record_id, updated_at)
		  VALUES ($1, $2, 'marketing', 'whatsapp', 'granted', false, $2, now())`, []any{a.ID, bc.ID}},
	} {
		_, err := pool.Exec(ctx, stmt.sql, stmt.args...)
		_, isFK := pgdb.ForeignKeyViolation(err)
		require.True(t, isFK, "%s: want a foreign key violation, got %v", stmt.sql, err)
	}
	phones, _ := children(t, pool, a.ID, ac.ID)
	require.Equal(t, 1, phones)
}

// TestConsentWritersHoldTheContact: a bulk consent append (the import's) holds its contacts,
// so a delete waits for it and then takes the state it wrote; a contact deleted before the
// append gets nothing.
func TestConsentWritersHoldTheContact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	svc := contact.NewService(pool, clock.System{})
	cs := consent.NewService(pool, clock.System{})
	c, err := svc.Create(ctx, a.ID, contact.Fields{Name: "C", Phones: []string{"11 98765-0001"}})
	require.NoError(t, err)
	ev := consent.ImportEvidence{File: "f.csv", Row: 2, Column: "Aceita", At: time.Now(), By: consent.Recorder{Kind: "system", ID: "test"}}

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	n, err := cs.RecordImportMany(ctx, tx, a.ID, []consent.ImportGrant{{ContactID: c.ID, Evidence: ev}})
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	// The delete cannot go ahead while the append is open.
	del, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = del.Rollback(ctx) }()
	_, err = del.Exec(ctx, "SET LOCAL lock_timeout = '200ms'")
	require.NoError(t, err)
	_, err = del.Exec(ctx, "DELETE FROM contacts WHERE account_id = $1 AND id = $2", a.ID, c.ID)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "55P03", pgErr.Code, "the delete must wait for the append: %v", err)
	require.NoError(t, del.Rollback(ctx))

	// Once the append commits, the delete takes what it wrote.
	require.NoError(t, tx.Commit(ctx))
	require.NoError(t, svc.Delete(ctx, a.ID, c.ID))
	phones, state := children(t, pool, a.ID, c.ID)
	require.Zero(t, phones+state)

	// Appending for the deleted contact writes nothing.
	tx2, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx2.Rollback(ctx) }()
	n, err = cs.RecordImportMany(ctx, tx2, a.ID, []consent.ImportGrant{{ContactID: c.ID, Evidence: ev}})
	require.NoError(t, err)
	require.Zero(t, n)
	require.NoError(t, tx2.Commit(ctx))
	_, err = cs.Record(ctx, a.ID, c.ID, consent.Entry{Action: consent.Grant, Purposes: []consent.Purpose{consent.PurposeMarketing},
		Method: consent.Checkbox, Text: "Quero", AllChannels: true, OccurredAt: time.Now()}, consent.Recorder{Kind: "system", ID: "test"})
	require.Error(t, err, "append_consent refuses a contact that does not exist")
	require.Zero(t, orphans(t, pool))
}

// TestContactsNeedTheirAccount: contacts have no foreign key to accounts (migration 00041);
// an insert still needs an existing account and holds it until it commits, a contact never
// changes account, and deleting an account deletes its contacts.
func TestContactsNeedTheirAccount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	b, err := account.Create(ctx, pool, "B")
	require.NoError(t, err)
	svc := contact.NewService(pool, clock.System{})

	_, err = pool.Exec(ctx, `INSERT INTO contacts (account_id, id, name) VALUES ($1, $2, 'x')`, uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()))
	_, isFK := pgdb.ForeignKeyViolation(err)
	require.True(t, isFK, "want a foreign key violation, got %v", err)

	c, err := svc.Create(ctx, a.ID, contact.Fields{Name: "C", Phones: []string{"11 98765-0001"}})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `UPDATE contacts SET account_id = $2 WHERE account_id = $1`, a.ID, b.ID)
	_, isFK = pgdb.ForeignKeyViolation(err)
	require.True(t, isFK, "a contact cannot change account: %v", err)

	// An open insert holds its account: the deletion waits.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, `INSERT INTO contacts (account_id, id, name) VALUES ($1, $2, 'y')`, a.ID, uuid.Must(uuid.NewV7()))
	require.NoError(t, err)
	del, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = del.Rollback(ctx) }()
	_, err = del.Exec(ctx, "SET LOCAL lock_timeout = '200ms'")
	require.NoError(t, err)
	_, err = del.Exec(ctx, "DELETE FROM accounts WHERE id = $1", a.ID)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Equal(t, "55P03", pgErr.Code, "the deletion must wait for the insert: %v", err)
	require.NoError(t, del.Rollback(ctx))
	require.NoError(t, tx.Commit(ctx))

	kept, err := svc.Create(ctx, b.ID, contact.Fields{Name: "Kept", CustomerCode: ptr("K1")})
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "DELETE FROM accounts WHERE id = $1", a.ID)
	require.NoError(t, err)
	var left int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM contacts WHERE account_id = $1)
		+ (SELECT count(*) FROM contact_phones WHERE account_id = $1)`, a.ID).Scan(&left))
	require.Zero(t, left)
	_, err = svc.Get(ctx, a.ID, c.ID)
	require.Error(t, err)
	_, err = svc.Get(ctx, b.ID, kept.ID)
	require.NoError(t, err)
	require.Zero(t, orphans(t, pool))
}
