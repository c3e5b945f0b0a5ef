package contact_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

func TestDatabaseRefusesCrossAccountReferences(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	b, err := account.Create(ctx, pool, "B")
	require.NoError(t, err)
	bUser, err := account.CreateUser(ctx, pool, account.NewUser{AccountID: b.ID, Email: "b@example.com", Password: "0123456789", Role: "agent"})
	require.NoError(t, err)
	svc := contact.NewService(pool, clock.System{})
	bContact, err := svc.Create(ctx, b.ID, contact.Fields{Name: "B's", CustomerCode: ptr("B1")})
	require.NoError(t, err)

	// Even SQL that forgets the account cannot link A's rows to B's.
	_, err = pool.Exec(ctx, `INSERT INTO contacts (account_id, id, name, responsible_user_id) VALUES ($1, $2, 'x', $3)`,
		a.ID, uuid.Must(uuid.NewV7()), bUser.ID)
	_, isFK := pgdb.ForeignKeyViolation(err)
	require.True(t, isFK, "want a foreign key violation, got %v", err)
	_, err = pool.Exec(ctx, `INSERT INTO contact_phones (account_id, phone, contact_id, position) VALUES ($1, '+5511900000000', $2, 1)`,
		a.ID, bContact.ID)
	_, isFK = pgdb.ForeignKeyViolation(err)
	require.True(t, isFK, "want a foreign key violation, got %v", err)

	// And the service answers another account's id as not found.
	_, err = svc.Get(ctx, a.ID, bContact.ID)
	require.True(t, fault.Is(err, fault.KindNotFound))
	_, err = svc.Update(ctx, a.ID, bContact.ID, contact.Patch{Name: contact.Opt[string]{Set: true, Value: "x"}}, nil)
	require.True(t, fault.Is(err, fault.KindNotFound))
	require.True(t, fault.Is(svc.Delete(ctx, a.ID, bContact.ID), fault.KindNotFound))
	_, err = svc.Create(ctx, a.ID, contact.Fields{Name: "x", CustomerCode: ptr("A1"), ResponsibleUserID: &bUser.ID})
	require.True(t, fault.Is(err, fault.KindInvalid), "another account's user is no user: %v", err)
}

func TestUpdateSkipsWritesThatChangeNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	clk := clock.NewManual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	svc := contact.NewService(pool, clk)
	c, err := svc.Create(ctx, a.ID, contact.Fields{Name: "A", Phones: []string{"11 98765-4321"}})
	require.NoError(t, err)
	clk.Advance(time.Hour)
	// The 8-digit form is the same number: nothing changes.
	same, err := svc.Update(ctx, a.ID, c.ID, contact.Patch{Phones: contact.Opt[[]string]{Set: true, Value: []string{"+55 11 8765-4321"}}}, nil)
	require.NoError(t, err)
	require.Equal(t, c.Version, same.Version)
	require.Equal(t, c.UpdatedAt, same.UpdatedAt)
	changed, err := svc.Update(ctx, a.ID, c.ID, contact.Patch{Name: contact.Opt[string]{Set: true, Value: "B"}}, &c.Version)
	require.NoError(t, err)
	require.Equal(t, c.Version+1, changed.Version)
	require.Equal(t, clk.Now(), changed.UpdatedAt)
}

func ptr(s string) *string { return &s }

// TestDeleteSeesABlockCommittedWhileItWaited blocks a contact in an open transaction, starts a
// delete that has to wait for it, commits the block, and checks the delete refuses.
func TestDeleteSeesABlockCommittedWhileItWaited(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	svc := contact.NewService(pool, clock.System{})
	c, err := svc.Create(ctx, a.ID, contact.Fields{Name: "A", CustomerCode: ptr("A1")})
	require.NoError(t, err)

	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback(ctx) }()
	_, err = tx.Exec(ctx, "UPDATE contacts SET blocked = true WHERE account_id = $1 AND id = $2", a.ID, c.ID)
	require.NoError(t, err)

	done := make(chan error, 1)
	go func() { done <- svc.Delete(ctx, a.ID, c.ID) }()
	// Wait until the delete is queued behind the block's row lock.
	require.Eventually(t, func() bool {
		var waiting bool
		err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query LIKE '%DeleteContact%')`).Scan(&waiting)
		return err == nil && waiting
	}, 10*time.Second, 5*time.Millisecond)
	require.NoError(t, tx.Commit(ctx))
	err = <-done
	require.True(t, fault.Is(err, fault.KindConflict), "the block must win: %v", err)
	_, err = svc.Get(ctx, a.ID, c.ID)
	require.NoError(t, err)
}
