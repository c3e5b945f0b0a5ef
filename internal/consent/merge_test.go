package consent_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/contact"
)

// TestCarryOverKeepsTheLaterDecision gives two contacts random histories whose records
// happened at interleaved times, carries one's consent over to the other, and checks the
// survivor's state pair by pair against the rule: the later decision of the two (by when the
// contact acted), a revocation winning a tie, a pending request never downgrading a grant.
// The survivor's projection must still equal its replay, and its chain must verify.
func TestCarryOverKeepsTheLaterDecision(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := range uint64(8) {
		t.Run(fmt.Sprintf("Seed%d", seed), func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			dup, err := contact.NewService(b.pool, b.clock).Create(ctx, b.account, contact.Fields{Name: "Maria S.", CustomerCode: ptr("dup")})
			require.NoError(t, err)
			rng := rand.New(rand.NewPCG(seed, 7))
			chans := []channel.Type{channel.WhatsApp, channel.SMS, channel.Email}
			base := b.clock.Now()
			record := func(contactID [16]byte) {
				e := consent.Entry{Purposes: []consent.Purpose{consent.Purposes[rng.IntN(3)]}, Text: "texto", Method: consent.Checkbox,
					// Minutes from a small range, so that the two contacts' records tie now and then.
					OccurredAt: base.Add(-time.Duration(rng.IntN(5)) * time.Minute)}
				if rng.IntN(4) == 0 {
					e.AllChannels = true
				} else {
					e.Channels = []channel.Type{chans[rng.IntN(3)]}
				}
				switch k := rng.IntN(10); {
				case k < 4:
					e.Action = consent.Grant
					if rng.IntN(3) == 0 {
						e.Method = consent.Import
					}
				case k < 8:
					e.Action = consent.Revoke
				default:
					e.Action, e.Method = consent.Pending, consent.FormMethod
				}
				_, err := b.svc.Record(ctx, b.account, contactID, e, by)
				require.NoError(t, err)
			}
			for range 1 + rng.IntN(8) {
				record(b.contact)
			}
			for range 1 + rng.IntN(8) {
				record(dup.ID)
			}

			ours, err := b.svc.History(ctx, b.account, b.contact, 0, 1000)
			require.NoError(t, err)
			theirs, err := b.svc.History(ctx, b.account, dup.ID, 0, 1000)
			require.NoError(t, err)
			want := expectedAfterMerge(ours, theirs)

			err = pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
				_, err := b.svc.CarryOverTx(ctx, tx, b.account, dup.ID, b.contact, by)
				return err
			})
			require.NoError(t, err)
			after, err := b.svc.History(ctx, b.account, b.contact, 0, 1000)
			require.NoError(t, err)
			got := map[consent.Key]consent.Status{}
			for k, st := range consent.Replay(after) {
				got[k] = st.Status
			}
			require.Equal(t, want, got)
			requireProjectionMatches(t, b)
			// The duplicate's own chain is untouched.
			again, err := b.svc.History(ctx, b.account, dup.ID, 0, 1000)
			require.NoError(t, err)
			require.Equal(t, theirs, again)
		})
	}
}

// expectedAfterMerge is the rule, written pair by pair from the two replays.
func expectedAfterMerge(ours, theirs []consent.Record) map[consent.Key]consent.Status {
	when := map[[16]byte]time.Time{}
	for _, r := range append(append([]consent.Record{}, ours...), theirs...) {
		when[r.ID] = r.OccurredAt
	}
	o, th := consent.Replay(ours), consent.Replay(theirs)
	out := map[consent.Key]consent.Status{}
	for k, st := range o {
		out[k] = st.Status
	}
	for k, t := range th {
		mine, ok := o[k]
		switch {
		case !ok:
			out[k] = t.Status
		case t.Status == consent.StatusPending && mine.Status == consent.Granted:
		case when[t.RecordID].After(when[mine.RecordID]):
			out[k] = t.Status
		case when[t.RecordID].Equal(when[mine.RecordID]) && t.Status == consent.Revoked:
			out[k] = consent.Revoked
		}
	}
	return out
}

func ptr(s string) *string { return &s }
