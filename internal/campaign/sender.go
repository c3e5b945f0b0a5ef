package campaign

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/customfield"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/template"
)

// Sending settings (issue 8 §3, §8).
const (
	// SliceSize is the most recipients one claim takes: River's per-job cost caps a
	// job-per-message design, so one job sends slices of this many.
	SliceSize = 1000
	// ClaimLease is how long a claim's recipients stay sending before a sender that did not
	// record them is taken for dead and they become unknown. Longer than SliceTimeout plus
	// the record.
	ClaimLease = 2 * time.Minute
	// SliceTimeout bounds a slice's sends: a call not answered by then may or may not have
	// reached the provider, so its recipient is unknown.
	SliceTimeout = time.Minute
	// RecordTimeout bounds the record of a slice's outcomes.
	RecordTimeout = 30 * time.Second
	// SendConcurrency is how many sends of a slice are in flight at once.
	SendConcurrency = 64
	// FailurePauseMinSends is how many outcomes the automatic pause waits for before it
	// judges the failure rate.
	FailurePauseMinSends = 100
	// AttributionWindow is how long after a campaign send a contact's reply counts as a reply
	// to the campaign.
	AttributionWindow = 72 * time.Hour
)

// Events of sending.
const (
	EventProgress   = "campaign.progress"
	EventCompleted  = "campaign.completed"
	EventAutoPaused = "campaign.auto_paused"
	// EventReplied says a recipient replied to the campaign.
	EventReplied = "campaign.replied"
)

// Sender sends running campaigns' recipients, a line at a time, in slices. Each recipient
// moves pending → sending (the claim, committed before any send) → sent, failed or unknown,
// or back to pending on a refusal the provider did not act on; so a sender killed mid-slice,
// a restarted process or several processes sharing a campaign never send a recipient twice.
type Sender struct {
	pool      *pgxpool.Pool
	q         *store.Queries
	clock     clock.Clock
	senders   send.Senders
	templates *template.Service
	// CrashAfterSend is for tests: Slice returns right after the sends, before recording
	// anything, as a process killed mid-slice would.
	CrashAfterSend bool
}

// NewSender returns a Sender sending through senders (send.NewSenders: the lines' adapters).
func NewSender(pool *pgxpool.Pool, clk clock.Clock, templates *template.Service, senders send.Senders) *Sender {
	return &Sender{pool: pool, q: store.New(), clock: clk, senders: senders, templates: templates}
}

func (s *Sender) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// Step is what one Slice did.
type Step struct {
	// Claimed recipients were sent (or settled without a send).
	Claimed int
	// Wait, when > 0, is how long until the line may go on (no slots, the next stage, the
	// delivery window, the messaging limit).
	Wait time.Duration
	// Done says the line has nothing to do for the campaign now: it is not running, the line
	// is not one of its senders, or every released recipient is claimed.
	Done bool
}

// RunLine sends slices of the campaign on the line until it is done or budget has passed,
// waiting in between when the pace, the window or the line's slots say so. A wait longer than
// what is left of the budget ends the run with later > 0: come back then (the next stage, the
// window opening), rather than hold a worker.
func (s *Sender) RunLine(ctx context.Context, accountID, campaignID, lineID uuid.UUID, budget time.Duration) (total int, later time.Duration, err error) {
	start := time.Now()
	for time.Since(start) < budget {
		st, err := s.Slice(ctx, accountID, campaignID, lineID)
		total += st.Claimed
		if err != nil || st.Done {
			return total, 0, err
		}
		if st.Wait > 0 {
			if st.Wait > budget-time.Since(start) {
				return total, st.Wait, nil
			}
			t := time.NewTimer(st.Wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return total, 0, ctx.Err()
			case <-t.C:
			}
		}
	}
	return total, 0, nil
}

// recipient is a claimed recipient and what became of its send.
type recipient struct {
	store.ClaimCampaignRecipientsRow
	text  string
	state string
	pid   string
	code  string
	why   string
	at    time.Time
}

// ExpireLapsedClaims settles the claims of senders that died mid-slice in every campaign: their
// recipients still sending become unknown, never sent again. A running campaign's senders do
// it themselves before each claim; a cancelled or paused campaign has no sender, and without
// this its recipients would stay sending for good. The leader's sweep calls it.
func (s *Sender) ExpireLapsedClaims(ctx context.Context) error {
	if _, err := s.q.ExpireCampaignClaims(ctx, s.pool, store.ExpireCampaignClaimsParams{Now: s.now()}); err != nil {
		return fmt.Errorf("expire lapsed campaign claims: %w", err)
	}
	return nil
}

// Slice claims the line's next slice of the campaign (one short transaction: the campaign's
// row lock serialises claims across processes, the line's bucket bounds them), sends it,
// and records every outcome set-based.
func (s *Sender) Slice(ctx context.Context, accountID, campaignID, lineID uuid.UUID) (Step, error) {
	now := s.now()
	var st Step
	var c Campaign
	var rows []store.ClaimCampaignRecipientsRow
	claimID := uuid.Must(uuid.NewV7())
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		c, err = lockCampaign(ctx, tx, s.q, accountID, campaignID)
		if errors.Is(err, errNotFound) {
			st.Done = true
			return nil
		}
		if err != nil {
			return err
		}
		if c.Status != StatusRunning || !slices.Contains(c.SenderIds, lineID) {
			st.Done = true
			return nil
		}
		if _, err := s.q.ExpireCampaignClaims(ctx, tx, store.ExpireCampaignClaimsParams{AccountID: &accountID, CampaignID: &campaignID, Now: now}); err != nil {
			return fmt.Errorf("expire crashed claims of campaign %s: %w", campaignID, err)
		}
		if wait := c.windowWait(now); wait > 0 {
			st.Wait = wait
			return nil
		}
		recipients := int(deref32(c.Recipients))
		released, next := c.release(now)
		if released != int(c.Released) || !sameTime(next, c.NextReleaseAt) {
			if err := s.q.SetCampaignRelease(ctx, tx, store.SetCampaignReleaseParams{AccountID: accountID, ID: campaignID,
				Released: int32(released), NextReleaseAt: next}); err != nil {
				return fmt.Errorf("release a stage of campaign %s: %w", campaignID, err)
			}
		}
		allowance := released - int(c.Dispatched)
		if lim, wait := c.limitAllowance(now); lim < allowance {
			allowance = lim
			if allowance <= 0 {
				st.Wait = wait
				return nil
			}
		}
		if allowance <= 0 {
			if released >= recipients {
				st.Done = true
				return s.complete(ctx, tx, c, now)
			}
			st.Wait = next.Sub(now)
			return nil
		}
		slots, err := send.TakeSlots(ctx, tx, lineID, min(allowance, SliceSize), now)
		if err != nil {
			return err
		}
		if deref(slots.Line.QualityRating) == "red" {
			st.Done = true
			return s.autoPause(ctx, tx, c, "the quality of a sender line turned red: sending more on it risks its messaging limit and a block; "+
				"take it out of the campaign's lines or wait for its quality to recover, then resume", now)
		}
		if !slots.Line.Active {
			// This line was deactivated or deleted: the campaign's other lines take its share,
			// and with none left it pauses, saying why, instead of running without sending.
			st.Done = true
			n, err := s.q.CountActiveLines(ctx, tx, store.CountActiveLinesParams{AccountID: accountID, Ids: c.SenderIds})
			if err != nil || n > 0 {
				return err
			}
			return s.autoPause(ctx, tx, c, "no sender line of the campaign is active (each was deactivated or deleted): activate one, then resume", now)
		}
		if slots.N == 0 {
			st.Wait, st.Done = slots.Wait, slots.Wait == 0
			return nil
		}
		if slots.Line.PaidStopped {
			st.Done = true
			return s.autoPause(ctx, tx, c, "the provider stopped the account's paid (template) sends: fix the payment method, then resume", now)
		}
		// The first pass walks the audience in contact order from the cursor; once it reaches
		// the end (the cursor is passDone), claims take the recipients put back, by their index.
		cursor := c.ClaimCursor
		if cursor == nil || *cursor != passDone {
			after := uuid.Nil
			if cursor != nil {
				after = *cursor
			}
			rows, err = s.q.ClaimCampaignRecipients(ctx, tx, store.ClaimCampaignRecipientsParams{AccountID: accountID, CampaignID: campaignID,
				After: after, Lim: int32(slots.N), ChannelID: &lineID, Now: &now})
			if err != nil {
				return fmt.Errorf("claim recipients of campaign %s: %w", campaignID, err)
			}
			cursor = &passDone
			if len(rows) == slots.N {
				cursor = &rows[len(rows)-1].ContactID
			}
		}
		if len(rows) == 0 {
			retries, err := s.q.ClaimCampaignRetries(ctx, tx, store.ClaimCampaignRetriesParams{AccountID: accountID, CampaignID: campaignID,
				Lim: int32(slots.N), ChannelID: &lineID, Now: &now})
			if err != nil {
				return fmt.Errorf("claim the put-back recipients of campaign %s: %w", campaignID, err)
			}
			for _, r := range retries {
				rows = append(rows, store.ClaimCampaignRecipientsRow(r))
			}
		}
		if len(rows) == 0 {
			// Released but nothing to take now: the rest is in flight with other senders, or
			// put back and waiting. The pass's end is kept, so no claim walks it again.
			st.Wait = time.Second
			if sameUUID(cursor, c.ClaimCursor) {
				return nil
			}
			return s.q.AdvanceCampaignClaims(ctx, tx, store.AdvanceCampaignClaimsParams{AccountID: accountID, ID: campaignID, Cursor: cursor})
		}
		if err := slots.Spend(ctx, tx, len(rows), now); err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(rows))
		for i, r := range rows {
			ids[i] = r.ContactID
		}
		if err := s.q.InsertCampaignClaim(ctx, tx, store.InsertCampaignClaimParams{AccountID: accountID, CampaignID: campaignID, ID: claimID,
			ChannelID: lineID, ContactIds: ids, LeaseUntil: now.Add(ClaimLease)}); err != nil {
			return fmt.Errorf("store the claim of campaign %s: %w", campaignID, err)
		}
		if err := s.q.AdvanceCampaignClaims(ctx, tx, store.AdvanceCampaignClaimsParams{AccountID: accountID, ID: campaignID,
			Taken: int32(len(rows)), Cursor: cursor}); err != nil {
			return fmt.Errorf("advance campaign %s: %w", campaignID, err)
		}
		st.Claimed = len(rows)
		return nil
	})
	if err != nil || len(rows) == 0 {
		return st, err
	}
	recs := make([]recipient, len(rows))
	for i, r := range rows {
		recs[i].ClaimCampaignRecipientsRow = r
	}
	sendErr := s.sendAll(ctx, c, lineID, recs)
	if sendErr != nil {
		// Nothing was sent (the reads before the first send failed): the slice goes back.
		for i := range recs {
			recs[i].state, recs[i].code, recs[i].why = "pending", "internal", sendErr.Error()
		}
	}
	if s.CrashAfterSend {
		return st, nil
	}
	// The outcomes are recorded even when the job is being stopped: what went out must not be
	// written off as unknown.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RecordTimeout)
	defer cancel()
	if err := s.record(rctx, c, lineID, claimID, recs); err != nil {
		return st, err
	}
	return st, sendErr
}

// sendAll renders the template for each recipient (the campaign's bindings over the
// template's, with the contact's current fields) and sends the slice with bounded
// concurrency. A recipient whose variables have no value, or whose contact was deleted, fails
// without a send.
func (s *Sender) sendAll(ctx context.Context, c Campaign, lineID uuid.UUID, recs []recipient) error {
	fail := func(code, why string) {
		for i := range recs {
			recs[i].state, recs[i].code, recs[i].why = "failed", code, why
		}
	}
	t, err := s.templates.Get(ctx, c.AccountID, c.TemplateID)
	if fault.Is(err, fault.KindNotFound) {
		fail(send.CodeTemplateGone, "the template was deleted after the campaign started; nothing was sent")
		return nil
	}
	if err != nil {
		return err
	}
	if _, ok := t.Sendable(lineID); !ok {
		fail(send.CodeTemplateNotFound, "the template is no longer approved in this line's library; nothing was sent")
		return nil
	}
	defs, err := customfield.Load(ctx, s.pool, c.AccountID)
	if err != nil {
		return err
	}
	t.Bindings, _ = template.Bind(t, c.Binds, defs, "")
	ids := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		ids[i] = r.ContactID
	}
	rows, err := s.q.CampaignSliceContacts(ctx, s.pool, store.CampaignSliceContactsParams{AccountID: c.AccountID, Ids: ids})
	if err != nil {
		return fmt.Errorf("read the contacts of a slice of campaign %s: %w", c.ID, err)
	}
	contacts := make(map[uuid.UUID]store.Contact, len(rows))
	for _, r := range rows {
		contacts[r.ID] = r
	}
	sender, senderErr := s.senders(ctx, c.AccountID, lineID)
	sctx, cancel := context.WithTimeout(ctx, SliceTimeout)
	defer cancel()
	sem := make(chan struct{}, SendConcurrency)
	var wg sync.WaitGroup
	for i := range recs {
		r := &recs[i]
		row, ok := contacts[r.ContactID]
		if !ok {
			r.state, r.code, r.why = "failed", "contact_deleted", "the contact was deleted after the audience was frozen; nothing was sent"
			continue
		}
		rendered := template.Render(t, contact.FromRow(row, []string{r.Phone}), defs)
		if len(rendered.Unresolved) > 0 {
			r.state, r.code, r.why = "failed", "unresolved_variables", fmt.Sprintf("no value for %v for this contact; nothing was sent", rendered.Unresolved)
			continue
		}
		if senderErr != nil {
			var pe *provider.Error
			if errors.As(senderErr, &pe) {
				r.state, r.code, r.why = "failed", pe.Code, pe.Reason
			} else {
				// The line's adapter could not be built (a passing fault): try again later.
				r.state, r.code, r.why = "pending", "internal", senderErr.Error()
			}
			continue
		}
		if sctx.Err() != nil {
			// The slice ran out of time before this one was tried: it goes back, untried.
			r.state, r.code, r.why = "pending", "timeout", "the slice ran out of time before this send was tried"
			continue
		}
		r.text = rendered.Body
		msg := provider.Message{To: r.Phone, Kind: provider.KindTemplate, Template: &rendered.Send,
			Ref: "campaign:" + c.ID.String() + ":" + r.ContactID.String()}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			sent, err := sender.Send(sctx, msg)
			r.at = s.now()
			r.decide(sent, err, sctx.Err() != nil)
		}()
	}
	wg.Wait()
	return nil
}

// decide sets what the send's answer makes of the recipient: sent; pending again when the
// provider refused without acting and a retry is safe (throughput, pair rate limit,
// transient errors it marks retryable); unknown when the call ended without an answer (a
// timeout: it may have gone out); failed otherwise.
func (r *recipient) decide(sent provider.Sent, err error, timedOut bool) {
	if err == nil {
		r.state, r.pid = "sent", sent.ID
		return
	}
	var pe *provider.Error
	if !errors.As(err, &pe) {
		// No provider answer: the request may have reached it.
		r.state, r.code, r.why = "unknown", "transport", err.Error()
		if timedOut {
			r.why = "the provider did not answer in time: " + err.Error()
		}
		return
	}
	r.code, r.why = pe.Code, pe.Reason
	switch {
	case pe.Code == send.CodeEngagement || pe.Code == send.CodePayment:
		// 131049 is never retried at once; a payment stop fails the send and pauses.
		r.state = "failed"
	case pe.Retryable && r.Attempts+1 < send.MaxAttempts:
		r.state = "pending"
	default:
		r.state = "failed"
	}
}

// record stores a slice's outcomes in one transaction (after which the claim is gone), applies
// status reports that arrived before the provider ids were stored, emits campaign.progress,
// pauses the campaign when its failure rate passes the threshold or the provider stopped paid
// sends, backs the line off when the provider said it is over its throughput, and completes
// the campaign when nothing is left.
func (s *Sender) record(ctx context.Context, c Campaign, lineID, claimID uuid.UUID, recs []recipient) error {
	now := s.now()
	p := store.RecordCampaignSendsParams{AccountID: c.AccountID, CampaignID: c.ID}
	counts := map[string]int{}
	var throttled, paymentStop bool
	stored := store.StoredStatusesParams{}
	for _, r := range recs {
		at := r.at
		if at.IsZero() {
			at = now
		}
		p.ContactIds, p.States, p.ProviderIds = append(p.ContactIds, r.ContactID), append(p.States, r.state), append(p.ProviderIds, r.pid)
		p.Texts, p.Ats, p.Codes, p.Reasons = append(p.Texts, r.text), append(p.Ats, at), append(p.Codes, r.code), append(p.Reasons, r.why)
		counts[r.state]++
		throttled = throttled || r.code == send.CodeThroughput
		paymentStop = paymentStop || r.code == send.CodePayment
		if r.pid != "" {
			stored.AccountIds, stored.ChannelIds = append(stored.AccountIds, c.AccountID), append(stored.ChannelIds, lineID)
			stored.ProviderIds = append(stored.ProviderIds, r.pid)
		}
	}
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// First: a drain applying this line's statuses finishes before, or starts after, so a
		// report that came before the id was stored is read back below.
		if err := s.q.LockLineStatuses(ctx, tx, lineID.String()); err != nil {
			return fmt.Errorf("lock line statuses: %w", err)
		}
		// The claim first: a claim expiring it at the same time (it holds the campaign's row)
		// either finishes before this, or skips the claim this holds; taking the recipients
		// first would lock them in the other order.
		held, err := s.q.DeleteCampaignClaim(ctx, tx, store.DeleteCampaignClaimParams{AccountID: c.AccountID, CampaignID: c.ID, ID: claimID})
		if err != nil {
			return fmt.Errorf("delete the claim of campaign %s: %w", c.ID, err)
		}
		if held == 0 {
			// The lease ran out and the campaign moved on (its recipients are unknown, maybe
			// completed): what went out is recorded, but nothing is put back into it.
			for i, st := range p.States {
				if st == "pending" {
					p.States[i] = "failed"
					counts["failed"]++
				}
			}
			counts["pending"] = 0
		}
		if _, err := s.q.RecordCampaignSends(ctx, tx, p); err != nil {
			return fmt.Errorf("record a slice of campaign %s: %w", c.ID, err)
		}
		if len(stored.ProviderIds) > 0 {
			early, err := send.StoredFor(ctx, tx, stored, now)
			if err != nil {
				return err
			}
			if err := ApplyStatuses(ctx, tx, early); err != nil {
				return err
			}
		}
		tally, err := s.q.CountCampaignOutcomes(ctx, tx, store.CountCampaignOutcomesParams{AccountID: c.AccountID, ID: c.ID,
			Ok: int32(counts["sent"]), Failed: int32(counts["failed"]), PutBack: int32(counts["pending"])})
		if err != nil {
			return fmt.Errorf("count the outcomes of campaign %s: %w", c.ID, err)
		}
		if throttled {
			if err := send.BackOff(ctx, tx, lineID, now); err != nil {
				return err
			}
		}
		if err := emit(ctx, tx, EventProgress, c, now, map[string]any{"channel_id": lineID, "sent": counts["sent"], "failed": counts["failed"],
			"unknown": counts["unknown"], "retrying": counts["pending"], "sent_total": tally.SendsOk, "failed_total": tally.SendsFailed}); err != nil {
			return err
		}
		if tally.Status != StatusRunning {
			return nil
		}
		c.Status = tally.Status
		// The failure rate counts the sends since the campaign last resumed (all of them before a
		// first pause): a resume after fixing the cause starts judging afresh.
		switch settled := tally.RecentOk + tally.RecentFailed; {
		case paymentStop:
			return s.autoPause(ctx, tx, c, "the provider stopped the account's paid (template) sends: fix the payment method, then resume", now)
		case tally.MaxFailurePercent > 0 && settled >= FailurePauseMinSends && tally.RecentFailed*100 > int32(tally.MaxFailurePercent)*settled:
			return s.autoPause(ctx, tx, c, fmt.Sprintf("%d of %d sends failed, more than the campaign's limit of %d%%: check the failures, then resume",
				tally.RecentFailed, settled, tally.MaxFailurePercent), now)
		}
		return s.complete(ctx, tx, c, now)
	})
}

// complete ends a running campaign whose recipients are all claimed and recorded.
func (s *Sender) complete(ctx context.Context, tx pgx.Tx, c Campaign, now time.Time) error {
	n, err := s.q.CompleteCampaign(ctx, tx, store.CompleteCampaignParams{AccountID: c.AccountID, ID: c.ID, Now: &now})
	if err != nil {
		return fmt.Errorf("complete campaign %s: %w", c.ID, err)
	}
	if n == 0 {
		return nil
	}
	c.Status = StatusCompleted
	return emit(ctx, tx, EventCompleted, c, now, nil)
}

// autoPause pauses a running campaign by itself, saying why (campaign.auto_paused).
func (s *Sender) autoPause(ctx context.Context, tx pgx.Tx, c Campaign, reason string, now time.Time) error {
	if err := s.q.AutoPauseCampaign(ctx, tx, store.AutoPauseCampaignParams{AccountID: c.AccountID, ID: c.ID, Reason: &reason, Now: now}); err != nil {
		return fmt.Errorf("pause campaign %s: %w", c.ID, err)
	}
	c.Status = StatusPaused
	return emit(ctx, tx, EventAutoPaused, c, now, map[string]any{"reason": reason})
}

// release is the pace (pace_percent of the recipients every pace_interval_minutes): how many
// recipients are released at now, and when the next stage comes (nil: all released). A stage
// is released when its time has come; a campaign resumed after a pause releases at most one
// stage at once, never the ones it missed.
func (c Campaign) release(now time.Time) (int, *time.Time) {
	total := int(deref32(c.Recipients))
	released := int(c.Released)
	next := c.NextReleaseAt
	if released >= total {
		return total, nil
	}
	if released > 0 && next != nil && now.Before(*next) {
		return released, next
	}
	stage := int(math.Ceil(float64(total) * float64(c.PacePercent) / 100))
	released = min(total, released+max(stage, 1))
	if released >= total || c.PaceIntervalMinutes == nil {
		return total, nil
	}
	at := now.Add(time.Duration(*c.PaceIntervalMinutes) * time.Minute)
	return released, &at
}

// windowWait is how long until the campaign's delivery window opens (0: open now, or no
// window). The window is minutes of the day in the campaign's time zone and may cross
// midnight (22:00–06:00).
func (c Campaign) windowWait(now time.Time) time.Duration {
	if c.WindowStart == c.WindowEnd {
		return 0
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	local := now.In(loc)
	minute := local.Hour()*60 + local.Minute()
	start, end := int(c.WindowStart), int(c.WindowEnd)
	open := (start < end && minute >= start && minute < end) || (start > end && (minute >= start || minute < end))
	if open {
		return 0
	}
	y, m, d := local.Date()
	opens := time.Date(y, m, d, start/60, start%60, 0, 0, loc)
	if !opens.After(local) {
		opens = opens.AddDate(0, 0, 1)
	}
	return opens.Sub(local)
}

// limitAllowance paces a campaign whose audience passes its lines' messaging limit (unique
// users a day): at most the limit in each day since the start. It returns how many more may
// be claimed now and, when none, how long until the next day opens. Without an alert it
// allows everything.
func (c Campaign) limitAllowance(now time.Time) (int, time.Duration) {
	if c.Alert == nil || c.Alert.Limit <= 0 || c.StartedAt == nil {
		return math.MaxInt, 0
	}
	days := int(now.Sub(*c.StartedAt) / (24 * time.Hour))
	allowed := int(c.Alert.Limit) * (days + 1)
	nextDay := c.StartedAt.Add(time.Duration(days+1) * 24 * time.Hour)
	return allowed - int(c.Dispatched), nextDay.Sub(now)
}

// passDone is the claim cursor once the first pass over the audience has reached its end.
var passDone = uuid.Max

func sameUUID(a, b *uuid.UUID) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func sameTime(a, b *time.Time) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(*b))
}

// ApplyStatuses applies the provider's status reports to the campaign sends they are about
// (by provider message id), in the drain's transaction, after the messages' own; reports about
// other messages change nothing here.
func ApplyStatuses(ctx context.Context, tx pgx.Tx, evs []send.Status) error {
	if len(evs) == 0 {
		return nil
	}
	p := store.ApplyCampaignStatusesParams{}
	for _, e := range send.Furthest(evs) {
		p.AccountIds, p.ProviderIds = append(p.AccountIds, e.AccountID), append(p.ProviderIds, e.ProviderMessageID)
		p.Statuses, p.Ats = append(p.Statuses, string(e.Status)), append(p.Ats, e.At.UTC())
		p.Codes, p.Reasons = append(p.Codes, e.Code), append(p.Reasons, e.Reason)
	}
	if len(p.ProviderIds) == 0 {
		return nil
	}
	q := store.New()
	rows, err := q.ApplyCampaignStatuses(ctx, tx, p)
	if err != nil {
		return fmt.Errorf("apply statuses to campaign sends: %w", err)
	}
	// A failure is only applied to a send recorded as sent: move it between the tallies.
	type campaignKey struct{ account, id uuid.UUID }
	failed := map[campaignKey]int32{}
	var keys []campaignKey
	for _, r := range rows {
		if r.State != "failed" {
			continue
		}
		k := campaignKey{r.AccountID, r.CampaignID}
		if failed[k] == 0 {
			keys = append(keys, k)
		}
		failed[k]++
	}
	if len(keys) == 0 {
		return nil
	}
	shift := store.ShiftCampaignTalliesParams{}
	for _, k := range keys {
		shift.AccountIds, shift.CampaignIds, shift.Ns = append(shift.AccountIds, k.account), append(shift.CampaignIds, k.id), append(shift.Ns, failed[k])
	}
	if err := q.ShiftCampaignTallies(ctx, tx, shift); err != nil {
		return fmt.Errorf("move failed sends between the tallies: %w", err)
	}
	return nil
}

// ReplyLinker links contacts' replies to the campaign send that reached them on the same line
// within AttributionWindow (conversation.CampaignLinker): the recipient becomes replied, and
// the reply and its conversation carry the campaign.
type ReplyLinker struct{}

// LinkReplies links a drained batch's replies, in its transaction, in one statement.
func (ReplyLinker) LinkReplies(ctx context.Context, tx pgx.Tx, replies []conversation.Reply) error {
	if len(replies) == 0 {
		return nil
	}
	p := store.LinkCampaignRepliesParams{WindowSeconds: AttributionWindow.Seconds()}
	for _, r := range replies {
		p.AccountIds, p.ContactIds, p.ChannelIds = append(p.AccountIds, r.AccountID), append(p.ContactIds, r.ContactID), append(p.ChannelIds, r.ChannelID)
		p.ConversationIds, p.MessageIds, p.Ats = append(p.ConversationIds, r.ConversationID), append(p.MessageIds, r.MessageID), append(p.Ats, r.At.UTC())
	}
	rows, err := store.New().LinkCampaignReplies(ctx, tx, p)
	if err != nil {
		return fmt.Errorf("link replies to campaigns: %w", err)
	}
	evs := make([]event.Stamped, 0, len(rows))
	for _, r := range rows {
		id := r.CampaignID
		evs = append(evs, event.Stamped{AccountID: r.AccountID, At: *r.RepliedAt, New: event.New{Type: EventReplied, SubjectID: &id,
			Data: map[string]any{"campaign_id": r.CampaignID, "contact_id": r.ContactID}}})
	}
	return event.EmitAll(ctx, tx, evs)
}
