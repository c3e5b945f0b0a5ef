package main

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/consent"
)

// consentText is what the seeded and the measured grants say the contact was shown.
const consentText = "Aceito receber ofertas da Loja pelo WhatsApp e por SMS."

// seedConsents gives every seeded contact a chained, hashed grant of marketing on WhatsApp,
// and every fifth one a revocation of it after, by COPY into consent_records and
// consent_state (the projection the service would have written). Records are sealed by
// consent.Seal, so the chains verify.
func seedConsents(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, contacts []uuid.UUID) (records int, took time.Duration, err error) {
	start := time.Now()
	by := consent.Recorder{Kind: "system", ID: "loadgen"}
	at := time.Now().UTC().Add(-24 * time.Hour)
	const chunk = 20_000
	for first := 0; first < len(contacts); first += chunk {
		ids := contacts[first:min(first+chunk, len(contacts))]
		var recs []consent.Record
		var state [][]any
		for i, id := range ids {
			g := consent.Record{AccountID: accountID, ID: uuid.Must(uuid.NewV7()), ContactID: id, Action: consent.Grant,
				Purposes: []consent.Purpose{consent.PurposeMarketing}, Channels: []channel.Type{channel.WhatsApp}, Explicit: true,
				Method: consent.Checkbox, OccurredAt: at, RecordedAt: at, Text: consentText, Source: "loadgen seed", Recorder: by}
			consent.Seal(&g, nil)
			recs = append(recs, g)
			last := g
			if (first+i)%5 == 0 {
				r := consent.Record{AccountID: accountID, ID: uuid.Must(uuid.NewV7()), ContactID: id, Action: consent.Revoke,
					Purposes: []consent.Purpose{consent.PurposeMarketing}, Channels: []channel.Type{channel.WhatsApp}, Explicit: true,
					Method: "request", OccurredAt: at, RecordedAt: at, Recorder: by}
				consent.Seal(&r, &g)
				recs = append(recs, r)
				last = r
			}
			status := "granted"
			if last.Action == consent.Revoke {
				status = "revoked"
			}
			state = append(state, []any{accountID, id, "marketing", "whatsapp", status, true, last.ID, at})
		}
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			_, err := tx.CopyFrom(ctx, pgx.Identifier{"consent_records"},
				[]string{"account_id", "id", "contact_id", "seq", "action", "purposes", "channels", "all_channels", "explicit",
					"method", "occurred_at", "recorded_at", "text_shown", "source", "recorder_kind", "recorder_id", "prev_hash", "hash"},
				pgx.CopyFromSlice(len(recs), func(i int) ([]any, error) {
					r := recs[i]
					var text, source *string
					if r.Text != "" {
						text = &r.Text
					}
					if r.Source != "" {
						source = &r.Source
					}
					return []any{r.AccountID, r.ID, r.ContactID, r.Seq, string(r.Action), []string{"marketing"}, []string{"whatsapp"},
						false, r.Explicit, string(r.Method), r.OccurredAt, r.RecordedAt, text, source, r.Recorder.Kind, r.Recorder.ID,
						r.PrevHash, r.Hash}, nil
				}))
			if err != nil {
				return fmt.Errorf("copy consent records: %w", err)
			}
			_, err = tx.CopyFrom(ctx, pgx.Identifier{"consent_state"},
				[]string{"account_id", "contact_id", "purpose", "channel", "status", "explicit", "record_id", "updated_at"},
				pgx.CopyFromRows(state))
			if err != nil {
				return fmt.Errorf("copy consent state: %w", err)
			}
			return nil
		})
		if err != nil {
			return records, time.Since(start), fmt.Errorf("seed consent chunk at %d: %w", first, err)
		}
		records += len(recs)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE consent_records, consent_state"); err != nil {
		return records, time.Since(start), fmt.Errorf("vacuum consent tables: %w", err)
	}
	return records, time.Since(start), nil
}

// recordConsent returns an op that records a grant of marketing by SMS for a random seeded
// contact through the API, as an integrator's landing page does.
func (h *httpTarget) recordConsent(ctx context.Context, rng *rand.Rand) error {
	id := h.ids[rng.IntN(len(h.ids))]
	return h.do(ctx, "POST", "/v1/contacts/"+id.String()+"/consents", consentJSON)
}

var consentJSON = []byte(`{"action":"grant","purposes":["marketing"],"channels":["sms"],"method":"checkbox",` +
	`"text":"` + consentText + `","ip":"203.0.113.7","source":"landing page","terms_version":"v3"}`)

// recordConsent does what recording a consent does in the database: the one statement
// AppendConsent (the append_consent function locks the chain, reads its tip, seals and
// inserts the record, and updates the projection), with a digest made here.
func (r *rawTarget) recordConsent(ctx context.Context, rng *rand.Rand) error {
	id := r.ids[rng.IntN(len(r.ids))]
	now := time.Now().UTC()
	text := consentText
	recID := uuid.Must(uuid.NewV7())
	digest := sha256.Sum256(recID[:])
	_, err := r.q.AppendConsent(ctx, r.pool, store.AppendConsentParams{
		AccountID: r.accountID, ID: recID, ContactID: id, Action: "grant", Purposes: []string{"marketing"},
		Channels: []string{"sms"}, Explicit: true, Method: "checkbox", OccurredAt: now, RecordedAt: now, TextShown: &text,
		RecorderKind: "api_key", RecorderID: "raw", Digest: digest[:], Scope: []string{"sms"},
	})
	if err != nil {
		return fmt.Errorf("append consent for %s: %w", id, err)
	}
	return nil
}

// queryResult is a timed piece of set-based work (not a request rate).
type queryResult struct {
	Name   string
	Result string
	Times  []time.Duration // sorted
	Target time.Duration
}

// Met reports whether the slowest run is under the target.
func (q queryResult) Met() bool { return len(q.Times) > 0 && q.Times[len(q.Times)-1] < q.Target }

// measureConsentQueries times, on the seeded data, the count a campaign makes of contacts with
// marketing consent in force on WhatsApp (10 runs) and the verification of every chain.
// Both call the service's own functions.
func measureConsentQueries(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID) ([]queryResult, error) {
	svc := consent.NewService(pool, clock.System{})
	count := queryResult{Name: "count contacts with marketing consent on WhatsApp", Target: 500 * time.Millisecond}
	var n int64
	for range 10 {
		start := time.Now()
		var err error
		if n, err = svc.CountGranted(ctx, accountID, consent.PurposeMarketing, channel.WhatsApp, false); err != nil {
			return nil, err
		}
		count.Times = append(count.Times, time.Since(start))
	}
	slices.Sort(count.Times)
	count.Result = fmt.Sprintf("%d contacts", n)

	verify := queryResult{Name: "verify every consent chain of the account", Target: 30 * time.Second}
	start := time.Now()
	v, err := svc.Verify(ctx, accountID)
	if err != nil {
		return nil, err
	}
	verify.Times = []time.Duration{time.Since(start)}
	verify.Result = fmt.Sprintf("%d records of %d contacts, %.0f records/s, ok=%v", v.Records, v.Contacts,
		float64(v.Records)/verify.Times[0].Seconds(), v.Problem == nil)
	if v.Problem != nil {
		return nil, fmt.Errorf("seeded chains do not verify: %+v", *v.Problem)
	}
	return []queryResult{count, verify}, nil
}
