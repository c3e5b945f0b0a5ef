package consent_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

type bundle struct {
	pool    *pgxpool.Pool
	svc     *consent.Service
	clock   *clock.Manual
	account uuid.UUID
	contact uuid.UUID
}

var by = consent.Recorder{Kind: "user", ID: "tester"}

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	pool := testdb.New(t)
	clk := clock.NewManual(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC))
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	c, err := contact.NewService(pool, clk).Create(ctx, a.ID, contact.Fields{Name: "Maria", Phones: []string{"11 98765-4321"}})
	require.NoError(t, err)
	return &bundle{pool: pool, svc: consent.NewService(pool, clk), clock: clk, account: a.ID, contact: c.ID}
}

func marketingOn(chans ...channel.Type) consent.Entry {
	return consent.Entry{Action: consent.Grant, Purposes: []consent.Purpose{consent.PurposeMarketing}, Channels: chans,
		Method: consent.Checkbox, Text: "Aceito receber ofertas.", IP: "203.0.113.7", Source: "landing page verão", TermsVersion: "v2.1"}
}

func TestDatabaseRefusesUpdateAndDelete(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	rec, err := b.svc.Record(ctx, b.account, b.contact, marketingOn(channel.WhatsApp), by)
	require.NoError(t, err)
	for _, sql := range []string{
		"UPDATE consent_records SET text_shown = 'changed' WHERE id = $1",
		"DELETE FROM consent_records WHERE id = $1",
	} {
		_, err := b.pool.Exec(ctx, sql, rec.ID)
		require.ErrorContains(t, err, "append-only", sql)
	}
	_, err = b.pool.Exec(ctx, "TRUNCATE consent_records")
	require.ErrorContains(t, err, "append-only")
	// A deleted contact keeps its records: they are proof.
	require.NoError(t, contact.NewService(b.pool, b.clock).Delete(ctx, b.account, b.contact))
	hist, err := b.svc.History(ctx, b.account, b.contact, 0, 10)
	require.NoError(t, err)
	require.Len(t, hist, 1)
}

func TestVerifyFindsATamperedRecord(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var recs []consent.Record
	for range 3 {
		r, err := b.svc.Record(ctx, b.account, b.contact, marketingOn(channel.WhatsApp), by)
		require.NoError(t, err)
		recs = append(recs, r)
	}
	v, err := b.svc.Verify(ctx, b.account)
	require.NoError(t, err)
	require.Nil(t, v.Problem)
	require.EqualValues(t, 3, v.Records)

	// Someone with database access turns the guard off and edits the evidence.
	_, err = b.pool.Exec(ctx, `ALTER TABLE consent_records DISABLE TRIGGER consent_records_no_update;
		UPDATE consent_records SET ip = '198.51.100.1' WHERE id = '`+recs[1].ID.String()+`';
		ALTER TABLE consent_records ENABLE TRIGGER consent_records_no_update`)
	require.NoError(t, err)
	v, err = b.svc.Verify(ctx, b.account)
	require.NoError(t, err)
	require.NotNil(t, v.Problem)
	require.Equal(t, recs[1].ID, v.Problem.RecordID)
	require.Contains(t, v.Problem.Reason, "altered")
}

func TestRevocationFlipsTheGateAtOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	allowed := func(explicitOnly bool) bool {
		ok, err := b.svc.Allowed(ctx, b.pool, b.account, b.contact, consent.PurposeMarketing, channel.WhatsApp, explicitOnly)
		require.NoError(t, err)
		return ok
	}
	require.False(t, allowed(false), "no record, no consent")
	_, err := b.svc.Record(ctx, b.account, b.contact, marketingOn(channel.WhatsApp), by)
	require.NoError(t, err)
	require.True(t, allowed(true))
	_, err = b.svc.Record(ctx, b.account, b.contact, consent.Entry{Action: consent.Revoke, Purposes: []consent.Purpose{consent.PurposeMarketing}}, by)
	require.NoError(t, err)
	require.False(t, allowed(false))
	n, err := b.svc.CountGranted(ctx, b.account, consent.PurposeMarketing, channel.WhatsApp, false)
	require.NoError(t, err)
	require.Zero(t, n)
}

func TestDoubleOptIn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	e := marketingOn(channel.WhatsApp, channel.Email)
	e.Action = consent.Pending
	pending, err := b.svc.Record(ctx, b.account, b.contact, e, by)
	require.NoError(t, err)
	ok, err := b.svc.Allowed(ctx, b.pool, b.account, b.contact, consent.PurposeMarketing, channel.Email, false)
	require.NoError(t, err)
	require.False(t, ok, "pending grants nothing")

	confirmed, err := b.svc.Confirm(ctx, b.account, b.contact, pending.ID, consent.Entry{IP: "203.0.113.9", Source: "confirmation link"}, by)
	require.NoError(t, err)
	require.Equal(t, consent.DoubleOptIn, confirmed.Method)
	require.Equal(t, &pending.ID, confirmed.Confirms)
	require.Equal(t, pending.Text, confirmed.Text)
	ok, err = b.svc.Allowed(ctx, b.pool, b.account, b.contact, consent.PurposeMarketing, channel.Email, true)
	require.NoError(t, err)
	require.True(t, ok)
	_, err = b.svc.Confirm(ctx, b.account, b.contact, pending.ID, consent.Entry{}, by)
	require.ErrorContains(t, err, "already confirmed")
	_, err = b.svc.Confirm(ctx, b.account, b.contact, confirmed.ID, consent.Entry{}, by)
	require.ErrorContains(t, err, "only a pending")
}

func TestRepliesAndFirstInbound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	inTx := func(f func(tx pgx.Tx) error) { require.NoError(t, pgx.BeginFunc(ctx, b.pool, f)) }
	marketing := func() bool {
		ok, err := b.svc.Allowed(ctx, b.pool, b.account, b.contact, consent.PurposeMarketing, channel.WhatsApp, false)
		require.NoError(t, err)
		return ok
	}

	inTx(func(tx pgx.Tx) error {
		first, err := b.svc.RecordFirstInbound(ctx, tx, b.account, b.contact, channel.WhatsApp, b.clock.Now(), "wamid.1")
		require.True(t, first)
		return err
	})
	require.True(t, marketing(), "a first message is implicit consent")
	ok, err := b.svc.Allowed(ctx, b.pool, b.account, b.contact, consent.PurposeMarketing, channel.WhatsApp, true)
	require.NoError(t, err)
	require.False(t, ok, "but not explicit")

	for _, text := range []string{"Não quero parar de receber", "sairei depois"} {
		inTx(func(tx pgx.Tx) error {
			res, err := b.svc.HandleReply(ctx, tx, b.account, b.contact, channel.WhatsApp, text, b.clock.Now())
			require.Equal(t, consent.NoAction, res.Action, text)
			return err
		})
	}
	require.True(t, marketing())
	inTx(func(tx pgx.Tx) error {
		res, err := b.svc.HandleReply(ctx, tx, b.account, b.contact, channel.WhatsApp, " Sair! ", b.clock.Now())
		require.Equal(t, consent.OptedOut, res.Action)
		require.Contains(t, res.Reply, "não receberá")
		return err
	})
	require.False(t, marketing())
	inTx(func(tx pgx.Tx) error {
		again, err := b.svc.RecordFirstInbound(ctx, tx, b.account, b.contact, channel.WhatsApp, b.clock.Now(), "wamid.2")
		require.False(t, again, "writing again never opts a contact back in")
		return err
	})
	require.False(t, marketing())

	// A configured keyword works, folded; the defaults it replaced stop working.
	_, err = b.svc.UpdateSettings(ctx, b.account, consent.Settings{
		OptOutKeywords: []string{"Descadastrar"}, OptInKeywords: []string{"sim"}, OptOutReply: "ok", OptInReply: "ok",
	})
	require.NoError(t, err)
	e := marketingOn(channel.WhatsApp)
	e.Action = consent.Pending
	_, err = b.svc.Record(ctx, b.account, b.contact, e, by)
	require.NoError(t, err)
	inTx(func(tx pgx.Tx) error {
		res, err := b.svc.HandleReply(ctx, tx, b.account, b.contact, channel.WhatsApp, "Sim", b.clock.Now())
		require.Equal(t, consent.Confirmed, res.Action)
		return err
	})
	require.True(t, marketing())
	inTx(func(tx pgx.Tx) error {
		res, err := b.svc.HandleReply(ctx, tx, b.account, b.contact, channel.WhatsApp, "SAIR", b.clock.Now())
		require.Equal(t, consent.NoAction, res.Action)
		return err
	})
	inTx(func(tx pgx.Tx) error {
		res, err := b.svc.HandleReply(ctx, tx, b.account, b.contact, channel.WhatsApp, "descadastrar", b.clock.Now())
		require.Equal(t, consent.OptedOut, res.Action)
		return err
	})
	require.False(t, marketing())
	v, err := b.svc.Verify(ctx, b.account)
	require.NoError(t, err)
	require.Nil(t, v.Problem)
}

// TestProjectionEqualsReplay appends random sequences of grants, revocations, pending double
// opt-ins and confirmations, and checks after every append that the projection table equals a
// replay of the whole history.
func TestProjectionEqualsReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := range uint64(6) {
		t.Run(fmt.Sprintf("Seed%d", seed), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			rng := rand.New(rand.NewPCG(seed, 42))
			someOf := func(all []consent.Purpose) []consent.Purpose {
				var out []consent.Purpose
				for _, p := range all {
					if rng.IntN(2) == 0 {
						out = append(out, p)
					}
				}
				if len(out) == 0 {
					out = append(out, all[rng.IntN(len(all))])
				}
				return out
			}
			chans := []channel.Type{channel.WhatsApp, channel.SMS, channel.Email}
			var pendings []uuid.UUID
			for step := range 40 {
				b.clock.Advance(time.Minute)
				e := consent.Entry{Purposes: someOf(consent.Purposes), Text: "texto", Method: consent.Checkbox}
				if rng.IntN(4) == 0 {
					e.AllChannels = true
				} else {
					e.Channels = []channel.Type{chans[rng.IntN(3)], chans[rng.IntN(3)]}
				}
				if rng.IntN(3) == 0 {
					e.Method = consent.Import
				}
				var err error
				switch k := rng.IntN(10); {
				case k < 4:
					e.Action = consent.Grant
					_, err = b.svc.Record(ctx, b.account, b.contact, e, by)
				case k < 7:
					e.Action = consent.Revoke
					_, err = b.svc.Record(ctx, b.account, b.contact, e, by)
				case k < 9 || len(pendings) == 0:
					e.Action, e.Method = consent.Pending, consent.FormMethod
					var r consent.Record
					r, err = b.svc.Record(ctx, b.account, b.contact, e, by)
					pendings = append(pendings, r.ID)
				default:
					i := rng.IntN(len(pendings))
					_, err = b.svc.Confirm(ctx, b.account, b.contact, pendings[i], consent.Entry{}, by)
					pendings = append(pendings[:i], pendings[i+1:]...)
				}
				require.NoError(t, err, "step %d", step)
				requireProjectionMatches(t, b)
			}
		})
	}
}

func requireProjectionMatches(t *testing.T, b *bundle) {
	t.Helper()
	ctx := context.Background()
	hist, err := b.svc.History(ctx, b.account, b.contact, 0, 10_000)
	require.NoError(t, err)
	want := consent.Replay(hist)
	rows, err := store.New().ContactConsentState(ctx, b.pool, store.ContactConsentStateParams{AccountID: b.account, ContactID: b.contact})
	require.NoError(t, err)
	got := map[consent.Key]consent.State{}
	for _, r := range rows {
		got[consent.Key{Purpose: consent.Purpose(r.Purpose), Channel: channel.Type(r.Channel)}] =
			consent.State{Status: consent.Status(r.Status), Explicit: r.Explicit, RecordID: r.RecordID}
	}
	require.Equal(t, want, got)
	require.Nil(t, consent.VerifyChain(hist))
}

// TestConcurrentAppendsToOneContactChainInOrder appends to one contact from many goroutines at
// once: each append waits for the previous one, and the chain comes out whole.
func TestConcurrentAppendsToOneContactChainInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			_, err := b.svc.Record(ctx, b.account, b.contact, marketingOn(channel.WhatsApp), by)
			errs <- err
		}()
	}
	for range 16 {
		require.NoError(t, <-errs)
	}
	v, err := b.svc.Verify(ctx, b.account)
	require.NoError(t, err)
	require.Nil(t, v.Problem)
	require.EqualValues(t, 16, v.Records)
}

func TestRecordImportIsImplicitConsentWithItsRow(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var rec consent.Record
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		var err error
		rec, err = b.svc.RecordImport(ctx, tx, b.account, b.contact, consent.ImportEvidence{
			File: "clientes.csv", Row: 42, Column: "Aceita comunicações", IdentifierKind: "phone", Identifier: "11987654321",
			At: b.clock.Now(), By: consent.Recorder{Kind: "user", ID: "importer"},
		})
		return err
	}))
	require.Equal(t, consent.Import, rec.Method)
	require.False(t, rec.Explicit)
	require.True(t, rec.AllChannels)
	require.Equal(t, "import clientes.csv, row 42", rec.Source)
	require.Equal(t, "+5511987654321", rec.Identifier)
	for _, ch := range []channel.Type{channel.WhatsApp, channel.Email} {
		ok, err := b.svc.Allowed(ctx, b.pool, b.account, b.contact, consent.PurposeMarketing, ch, false)
		require.NoError(t, err)
		require.True(t, ok)
		ok, err = b.svc.Allowed(ctx, b.pool, b.account, b.contact, consent.PurposeMarketing, ch, true)
		require.NoError(t, err)
		require.False(t, ok, "a campaign that requires explicit consent leaves imported contacts out")
	}
}
