package send

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/provider/fake"
	"github.com/conversa-hq/conversa/internal/provider/whatsapp"
	"github.com/conversa-hq/conversa/internal/session"
)

// Dispatch settings.
const (
	// DefaultThroughput is a line's rate when its channel sets none: WhatsApp's default 80
	// messages per second per number.
	DefaultThroughput = 80
	// MaxBatch is the most messages one claim takes.
	MaxBatch = 500
	// BurstFraction is how much of a second's worth of sends a line's bucket holds: a fifth,
	// so a line never claims more than 1.2 times its rate in any second (a full second's
	// bucket would allow twice the rate across a second's boundary). A claim waits until at
	// least half the bucket is there, so a busy line sends in batches, not one by one.
	BurstFraction = 0.2
	// Lease is how long a claimed message is held: a dispatcher that dies mid-batch leaves
	// its messages to be claimed again after it. Longer than SendTimeout.
	Lease = time.Minute
	// SendTimeout bounds one provider call.
	SendTimeout = 30 * time.Second
	// Concurrency is how many sends of a batch are in flight at once.
	Concurrency = 64
	// MaxAttempts is how many times a message is tried on retryable failures before it fails.
	MaxAttempts = 8
	// EngagementWait is how long a message refused with 131049 waits before its one retry.
	EngagementWait = 24 * time.Hour
)

// Provider codes the dispatcher acts on (WhatsApp Cloud API, reference §7).
const (
	CodeEngagement       = "131049"
	CodePairRateLimit    = "131056"
	CodeThroughput       = "130429"
	CodePayment          = "131042"
	CodeExperiment       = "130472"
	CodeTemplateNotFound = "132001"
	// CodeTemplateGone is Conversa's own: the template was deleted after the message queued.
	CodeTemplateGone = "template_deleted"
)

// Senders finds the adapter that sends on a channel.
type Senders func(ctx context.Context, accountID, channelID uuid.UUID) (provider.Sender, error)

// Dispatcher sends queued messages, a line at a time.
type Dispatcher struct {
	pool    *pgxpool.Pool
	q       *store.Queries
	clock   clock.Clock
	senders Senders
	// crashAfterSend (tests) makes DispatchBatch return right after the sends, before
	// recording anything: a worker killed mid-batch.
	crashAfterSend bool
}

// NewDispatcher returns a Dispatcher; senders nil builds adapters from the channels'
// credentials (NewSenders).
func NewDispatcher(pool *pgxpool.Pool, clk clock.Clock, senders Senders) *Dispatcher {
	return &Dispatcher{pool: pool, q: store.New(), clock: clk, senders: senders}
}

// NewSenders builds adapters from channel credentials, one per channel kept for the process
// (the fake keeps its count and its dedupe per channel).
func NewSenders(channels *channel.Service, whatsAppBaseURL string) Senders {
	var mu sync.Mutex
	cache := map[uuid.UUID]provider.Sender{}
	return func(ctx context.Context, _ uuid.UUID, channelID uuid.UUID) (provider.Sender, error) {
		mu.Lock()
		s, ok := cache[channelID]
		mu.Unlock()
		if ok {
			return s, nil
		}
		ep, err := channels.ForWebhook(ctx, channelID)
		if err != nil {
			return nil, err
		}
		switch ep.Provider {
		case "fake":
			s = fake.New(fake.Config{})
		case "whatsapp_cloud":
			s = whatsapp.New(whatsapp.Config{BaseURL: whatsAppBaseURL, PhoneNumberID: ep.Credentials["phone_number_id"], AccessToken: ep.Credentials["access_token"]})
		default:
			return nil, &provider.Error{Code: "unsupported", Reason: fmt.Sprintf("sending through %s is not supported yet", ep.Provider)}
		}
		mu.Lock()
		cache[channelID] = s
		mu.Unlock()
		return s, nil
	}
}

// Batch is what one DispatchBatch did.
type Batch struct {
	// Claimed messages were handed to the provider (or settled without it).
	Claimed int
	// Wait, when > 0, is how long until the line may send again (no slots, or backing off);
	// zero with Claimed below the batch means nothing more is due.
	Wait time.Duration
	// Full says the claim was cut by the batch size, not by what was due.
	Full bool
}

// RunLine dispatches batches of the line until nothing is due or budget has passed, waiting
// for slots in between.
func (d *Dispatcher) RunLine(ctx context.Context, channelID uuid.UUID, budget time.Duration) (int, error) {
	start := time.Now()
	total := 0
	for time.Since(start) < budget {
		b, err := d.DispatchBatch(ctx, channelID)
		total += b.Claimed
		if err != nil {
			return total, err
		}
		if b.Wait > 0 {
			if b.Wait > budget-time.Since(start) {
				return total, nil
			}
			t := time.NewTimer(b.Wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return total, ctx.Err()
			case <-t.C:
			}
			continue
		}
		if !b.Full {
			return total, nil
		}
	}
	return total, nil
}

// claimed is a message taken for sending.
type claimed struct {
	store.ClaimDueMessagesRow
	out outcome
}

// DispatchBatch takes the line's send slots and claims as many due messages (in one short
// transaction), sends them concurrently, then records every outcome set-based.
func (d *Dispatcher) DispatchBatch(ctx context.Context, channelID uuid.UUID) (Batch, error) {
	now := d.clock.Now().UTC().Truncate(time.Microsecond)
	var rows []store.ClaimDueMessagesRow
	var b Batch
	c := claim{channelID: channelID, id: uuid.Must(uuid.NewV7())}
	err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		slots, err := TakeSlots(ctx, tx, channelID, MaxBatch, now)
		if err != nil || slots.N == 0 {
			b.Wait = slots.Wait
			return err
		}
		c.accountID = slots.Line.AccountID
		// Under the bucket's lock, so no other claim of the line is being taken meanwhile.
		if err := d.q.ReleaseExpiredClaims(ctx, tx, store.ReleaseExpiredClaimsParams{AccountID: c.accountID, ChannelID: channelID, Now: now}); err != nil {
			return fmt.Errorf("release expired claims: %w", err)
		}
		lease := now.Add(Lease)
		rows, err = d.q.ClaimDueMessages(ctx, tx, store.ClaimDueMessagesParams{
			AccountID: c.accountID, ChannelID: channelID, Now: now, SkipTemplates: slots.Line.PaidStopped, Batch: int32(slots.N),
			ClaimID: c.id, LeaseUntil: lease,
		})
		if err != nil {
			return fmt.Errorf("claim due messages: %w", err)
		}
		// A full claim may leave more due: the next one goes on (or waits for slots).
		b.Claimed, b.Full = len(rows), len(rows) == slots.N
		return slots.Spend(ctx, tx, len(rows), now)
	})
	if err != nil || len(rows) == 0 {
		return b, err
	}
	msgs := make([]claimed, len(rows))
	for i, r := range rows {
		msgs[i].ClaimDueMessagesRow = r
	}
	d.sendAll(ctx, channelID, msgs)
	if d.crashAfterSend {
		return b, nil
	}
	return b, d.record(ctx, c, msgs)
}

// claim names a batch's message_claims row, which the record deletes.
type claim struct {
	accountID, channelID, id uuid.UUID
}

// Slots is what a line's bucket allows a claim (DESIGN §7: per-line throughput is enforced in
// PostgreSQL, so it holds across processes and across everything that sends on the line:
// messages and campaigns take from the same bucket).
type Slots struct {
	// Line is the line's bucket and settings, locked until the claim's transaction ends.
	Line store.LockSendSlotsRow
	// N is how many sends the claim may make now; with 0, Wait says when to come back (0
	// too: the line is gone or inactive).
	N     int
	Wait  time.Duration
	avail float64
	id    uuid.UUID
}

// TakeSlots locks the line's bucket in tx (a new line's starts full) and says how many sends,
// at most most, it allows now: none while the line backs off, and none until half a burst is
// there, so a busy line sends in batches rather than one by one. The caller claims up to N
// and calls Spend with what it took, in the same transaction.
func TakeSlots(ctx context.Context, tx pgx.Tx, channelID uuid.UUID, most int, now time.Time) (Slots, error) {
	q := store.New()
	line, err := q.LockSendSlots(ctx, tx, channelID)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := q.EnsureSendSlots(ctx, tx, store.EnsureSendSlotsParams{ChannelID: channelID, Now: now, Tokens: math.MaxFloat32}); err != nil {
			return Slots{}, fmt.Errorf("create send slots: %w", err)
		}
		line, err = q.LockSendSlots(ctx, tx, channelID)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return Slots{}, nil // the channel is gone
	}
	if err != nil {
		return Slots{}, fmt.Errorf("lock send slots: %w", err)
	}
	s := Slots{Line: line, id: channelID}
	if !line.Active {
		return s, nil
	}
	if line.BackoffUntil != nil && line.BackoffUntil.After(now) {
		s.Wait = line.BackoffUntil.Sub(now)
		return s, nil
	}
	rate := float64(DefaultThroughput)
	if line.ThroughputMps != nil {
		rate = float64(*line.ThroughputMps)
	}
	burst := math.Max(1, math.Floor(rate*BurstFraction))
	s.avail = math.Min(burst, line.Tokens+now.Sub(line.RefilledAt).Seconds()*rate)
	n := int(math.Min(math.Floor(s.avail), float64(most)))
	if least := math.Max(1, math.Floor(burst/2)); float64(n) < least && n < most {
		s.Wait = time.Duration((least - s.avail) / rate * float64(time.Second))
		return s, nil
	}
	s.N = n
	return s, nil
}

// Spend takes used sends out of the bucket TakeSlots locked.
func (s Slots) Spend(ctx context.Context, tx pgx.Tx, used int, now time.Time) error {
	if err := store.New().SetSendSlots(ctx, tx, store.SetSendSlotsParams{ChannelID: s.id, Tokens: s.avail - float64(used), RefilledAt: now}); err != nil {
		return fmt.Errorf("spend send slots: %w", err)
	}
	return nil
}

// outcome is what became of one send.
type outcome struct {
	providerID string
	err        *provider.Error
	at         time.Time
}

// sendAll sends the batch with bounded concurrency. A template deleted since it was queued is
// not sent.
func (d *Dispatcher) sendAll(ctx context.Context, channelID uuid.UUID, msgs []claimed) {
	var sender provider.Sender
	var senderErr error
	if len(msgs) > 0 {
		sender, senderErr = d.senders(ctx, msgs[0].AccountID, channelID)
	}
	sem := make(chan struct{}, Concurrency)
	var wg sync.WaitGroup
	for i := range msgs {
		m := &msgs[i]
		switch {
		case m.TemplateGone:
			m.out = outcome{err: &provider.Error{Code: CodeTemplateGone, Reason: "the template was deleted after the message was queued; nothing was sent"}}
			continue
		case senderErr != nil:
			m.out = outcome{err: asProviderError(senderErr)}
			continue
		}
		pm, err := toProvider(m.ClaimDueMessagesRow)
		if err != nil {
			m.out = outcome{err: &provider.Error{Code: "invalid_message", Reason: err.Error()}}
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			sctx, cancel := context.WithTimeout(ctx, SendTimeout)
			defer cancel()
			sent, err := sender.Send(sctx, pm)
			m.out = outcome{providerID: sent.ID, at: d.clock.Now().UTC().Truncate(time.Microsecond)}
			if err != nil {
				m.out.err = asProviderError(err)
			}
		}()
	}
	wg.Wait()
}

// transportCode marks a failure without a provider answer (retryable).
const transportCode = "transport"

func asProviderError(err error) *provider.Error {
	var pe *provider.Error
	if errors.As(err, &pe) {
		return pe
	}
	return &provider.Error{Code: transportCode, Reason: err.Error(), Retryable: true}
}

// ref is the idempotency reference of a message's current send: its id, and a new one for
// the deliberate retry after 131049 (a provider that dedupes must not take it for the first).
func ref(m store.ClaimDueMessagesRow) string {
	if m.EngagementRetried {
		return m.ID.String() + "/retry"
	}
	return m.ID.String()
}

func toProvider(m store.ClaimDueMessagesRow) (provider.Message, error) {
	var pl payload
	if len(m.Payload) > 0 {
		if err := json.Unmarshal(m.Payload, &pl); err != nil {
			return provider.Message{}, fmt.Errorf("decode payload of %s: %w", m.ID, err)
		}
	}
	out := provider.Message{Kind: provider.KindText, Text: m.Text, Ref: ref(m)}
	if m.ToAddress != nil {
		out.To = *m.ToAddress
	}
	switch m.Kind {
	case "media":
		out.Kind, out.Media, out.Text = provider.KindMedia, pl.Media, ""
	case "template":
		out.Kind, out.Template, out.Text = provider.KindTemplate, pl.Template, ""
	}
	return out, nil
}

// Decision is what the dispatcher does with an outcome.
type Decision int

// The decisions.
const (
	DecideSent Decision = iota
	DecideFail
	DecideRetry
	// DecideHold keeps a template message queued; it is not claimed while paid sends are stopped.
	DecideHold
)

// Decide classifies an outcome: retry (when) or fail, by the provider's code (DESIGN §4,
// reference §7). 131049 is retried once, EngagementWait later, never sooner; the pair rate
// limit backs off 4^n seconds; the line's throughput limit backs the whole line off;
// 131042 holds template messages while paid sends are stopped; everything else retryable is
// retried with exponential back-off up to MaxAttempts.
func Decide(e *provider.Error, kind string, attempts int, engagementRetried bool, now time.Time) (Decision, time.Time) {
	if e == nil {
		return DecideSent, time.Time{}
	}
	switch e.Code {
	case CodeEngagement:
		if engagementRetried {
			return DecideFail, time.Time{}
		}
		wait := max(EngagementWait, e.RetryAfter)
		return DecideRetry, now.Add(wait)
	case CodePairRateLimit:
		if attempts >= MaxAttempts {
			return DecideFail, time.Time{}
		}
		return DecideRetry, now.Add(time.Duration(math.Pow(4, float64(attempts-1))) * time.Second)
	case CodePayment:
		if kind == "template" {
			return DecideHold, now
		}
		return DecideFail, time.Time{}
	case CodeExperiment, CodeTemplateNotFound, CodeTemplateGone:
		return DecideFail, time.Time{}
	}
	if !e.Retryable || attempts >= MaxAttempts {
		return DecideFail, time.Time{}
	}
	wait := time.Duration(math.Pow(2, float64(attempts))) * time.Second
	return DecideRetry, now.Add(max(wait, e.RetryAfter))
}

// record stores a batch's outcomes in one transaction, which also ends the batch's claim: sent
// ones with their provider ids (then the status updates that arrived before those ids were
// stored), failures with code and reason, retries with when, each counting the attempt;
// template sends open their category's session.
func (d *Dispatcher) record(ctx context.Context, c claim, msgs []claimed) error {
	channelID := c.channelID
	now := d.clock.Now().UTC().Truncate(time.Microsecond)
	var sent store.RecordSentParams
	var failed store.RecordFailedParams
	var retry store.RecordRetryParams
	var notes store.InsertSystemNotesParams
	var stop *claimed
	throttled := false
	for i := range msgs {
		m := &msgs[i]
		at := m.out.at
		if at.IsZero() {
			at = now
		}
		dec, when := Decide(m.out.err, m.Kind, int(m.Attempts), m.EngagementRetried, at)
		switch dec {
		case DecideSent:
			sent.AccountIds, sent.Ids = append(sent.AccountIds, m.AccountID), append(sent.Ids, m.ID)
			sent.ProviderIds, sent.Ats = append(sent.ProviderIds, m.out.providerID), append(sent.Ats, at)
		case DecideFail:
			failed.AccountIds, failed.Ids = append(failed.AccountIds, m.AccountID), append(failed.Ids, m.ID)
			failed.Codes, failed.Reasons, failed.Ats = append(failed.Codes, m.out.err.Code), append(failed.Reasons, m.out.err.Reason), append(failed.Ats, at)
			if m.out.err.Code == CodeTemplateGone || m.out.err.Code == CodeTemplateNotFound {
				notes.AccountIds, notes.MessageIds = append(notes.AccountIds, m.AccountID), append(notes.MessageIds, m.ID)
				notes.NoteIds = append(notes.NoteIds, uuid.Must(uuid.NewV7()))
				notes.Texts = append(notes.Texts, "Template message not sent: the template no longer exists ("+m.out.err.Reason+").")
			}
		case DecideRetry, DecideHold:
			if m.out.err.Code == CodeThroughput {
				throttled = true
			}
			if dec == DecideHold && stop == nil {
				stop = m
			}
			retry.AccountIds, retry.Ids = append(retry.AccountIds, m.AccountID), append(retry.Ids, m.ID)
			retry.Codes, retry.Reasons = append(retry.Codes, m.out.err.Code), append(retry.Reasons, m.out.err.Reason)
			retry.SendAfters = append(retry.SendAfters, when)
			retry.Engagements = append(retry.Engagements, m.out.err.Code == CodeEngagement)
		}
	}
	return pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		// First: a drain applying this line's statuses finishes before, or starts after.
		if err := d.q.LockLineStatuses(ctx, tx, channelID.String()); err != nil {
			return fmt.Errorf("lock line statuses: %w", err)
		}
		if err := d.q.DeleteMessageClaim(ctx, tx, store.DeleteMessageClaimParams{AccountID: c.accountID, ChannelID: channelID, ID: c.id}); err != nil {
			return fmt.Errorf("end the batch's claim: %w", err)
		}
		var evs []statusEvent
		if len(sent.Ids) > 0 {
			rows, err := d.q.RecordSent(ctx, tx, sent)
			if err != nil {
				return fmt.Errorf("record sent messages: %w", err)
			}
			var opened []sessionOpen
			stored := store.StoredStatusesParams{}
			for _, r := range rows {
				evs = append(evs, statusEvent{accountID: r.AccountID, id: r.ID, conversationID: r.ConversationID, channelID: r.ChannelID,
					status: "sent", at: *r.StatusAt})
				if r.TemplateCategory != nil {
					opened = append(opened, sessionOpen{r.AccountID, r.ConversationID, session.Category(*r.TemplateCategory), *r.StatusAt})
				}
				stored.AccountIds, stored.ChannelIds = append(stored.AccountIds, r.AccountID), append(stored.ChannelIds, r.ChannelID)
				stored.ProviderIds = append(stored.ProviderIds, *r.ProviderMessageID)
			}
			if err := d.openSessions(ctx, tx, opened, now); err != nil {
				return err
			}
			if err := d.q.ClearLineBackOff(ctx, tx, channelID); err != nil {
				return fmt.Errorf("clear line back-off: %w", err)
			}
			if err := emitStatuses(ctx, tx, evs); err != nil {
				return err
			}
			if err := reapply(ctx, tx, d.q, stored, now); err != nil {
				return err
			}
		}
		if len(failed.Ids) > 0 {
			rows, err := d.q.RecordFailed(ctx, tx, failed)
			if err != nil {
				return fmt.Errorf("record failed messages: %w", err)
			}
			fevs := make([]statusEvent, 0, len(rows))
			for _, r := range rows {
				fevs = append(fevs, statusEvent{accountID: r.AccountID, id: r.ID, conversationID: r.ConversationID, channelID: r.ChannelID,
					status: "failed", at: *r.StatusAt, code: deref(r.ErrorCode), reason: deref(r.ErrorReason)})
			}
			if err := emitStatuses(ctx, tx, fevs); err != nil {
				return err
			}
		}
		if len(notes.NoteIds) > 0 {
			notes.CreatedAt = now
			if err := d.q.InsertSystemNotes(ctx, tx, notes); err != nil {
				return fmt.Errorf("leave system notes: %w", err)
			}
		}
		if len(retry.Ids) > 0 {
			if err := d.q.RecordRetry(ctx, tx, retry); err != nil {
				return fmt.Errorf("record retries: %w", err)
			}
		}
		if throttled {
			if err := BackOff(ctx, tx, channelID, now); err != nil {
				return err
			}
		}
		if stop != nil {
			if err := stopPaidSends(ctx, tx, d.q, stop.AccountID, channelID, stop.out.err, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// BackOff stops a line that the provider said is over its throughput (130429), for longer each
// time it happens again before a send succeeds (2^n seconds, at most 5 minutes): every sender
// of the line, messages and campaigns, waits it out.
func BackOff(ctx context.Context, tx pgx.Tx, channelID uuid.UUID, now time.Time) error {
	q := store.New()
	line, err := q.LockSendSlots(ctx, tx, channelID)
	if err != nil {
		return fmt.Errorf("lock send slots: %w", err)
	}
	wait := time.Duration(math.Min(math.Pow(2, float64(line.Backoffs)), 300)) * time.Second
	until := now.Add(wait)
	if err := q.BackOffLine(ctx, tx, store.BackOffLineParams{ChannelID: channelID, BackoffUntil: &until, Now: now}); err != nil {
		return fmt.Errorf("back off line: %w", err)
	}
	return nil
}

// stopPaidSends stops the account's template sends and raises the alert, once.
func stopPaidSends(ctx context.Context, tx pgx.Tx, q *store.Queries, accountID, channelID uuid.UUID, e *provider.Error, now time.Time) error {
	_, err := q.StopPaidSends(ctx, tx, store.StopPaidSendsParams{AccountID: accountID, ChannelID: channelID, Code: e.Code, Reason: e.Reason, StoppedAt: now})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // already stopped
	}
	if err != nil {
		return fmt.Errorf("stop paid sends: %w", err)
	}
	return event.Emit(ctx, tx, accountID, now, event.New{Type: EventPaidSendsStopped, SubjectID: &channelID,
		Data: map[string]string{"channel_id": channelID.String(), "code": e.Code, "reason": e.Reason}})
}

// EventPaidSendsStopped is the alert raised when the provider stops the account's paid sends.
const EventPaidSendsStopped = "account.paid_sends_stopped"

type sessionOpen struct {
	accountID, conversationID uuid.UUID
	category                  session.Category
	at                        time.Time
}

// openSessions applies internal/session's template rule to each conversation a template was
// sent in, and stores the sessions it opened.
func (d *Dispatcher) openSessions(ctx context.Context, tx pgx.Tx, opened []sessionOpen, now time.Time) error {
	if len(opened) == 0 {
		return nil
	}
	p := store.ConversationSessionsParams{}
	for _, o := range opened {
		p.AccountIds, p.Ids = append(p.AccountIds, o.accountID), append(p.Ids, o.conversationID)
	}
	rows, err := d.q.ConversationSessions(ctx, tx, p)
	if err != nil {
		return fmt.Errorf("read conversation sessions: %w", err)
	}
	states := map[uuid.UUID]session.State{}
	for _, r := range rows {
		states[r.ID] = state(nil, r.CategorySessions)
	}
	changed := map[uuid.UUID]uuid.UUID{}
	for _, o := range opened {
		st, ok := states[o.conversationID].Template(o.category, o.at)
		if ok {
			states[o.conversationID] = st
			changed[o.conversationID] = o.accountID
		}
	}
	up := store.OpenCategorySessionsParams{Now: now}
	for id, acct := range changed {
		b, err := json.Marshal(states[id].Opened)
		if err != nil {
			return fmt.Errorf("encode sessions: %w", err)
		}
		up.AccountIds, up.Ids, up.Sessions = append(up.AccountIds, acct), append(up.Ids, id), append(up.Sessions, b)
	}
	if len(up.Ids) == 0 {
		return nil
	}
	if err := d.q.OpenCategorySessions(ctx, tx, up); err != nil {
		return fmt.Errorf("store category sessions: %w", err)
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
