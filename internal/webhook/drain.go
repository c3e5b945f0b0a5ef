package webhook

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/campaign"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/send"
	"github.com/conversa-hq/conversa/internal/template"
)

// BatchSize is how many deliveries one drain transaction claims.
const BatchSize = 500

// Event is a provider event recorded for the first time: what applyEvents hands on. Exactly
// one of Message, Status and Notification is set, after Kind.
type Event struct {
	AccountID  uuid.UUID
	ChannelID  uuid.UUID
	DeliveryID uuid.UUID
	// Provider is the channel's provider ("whatsapp_cloud", "twilio", ...).
	Provider string
	// Kind is "message", "status" or "event"; Key the provider key that makes it unique in
	// its channel.
	Kind         string
	Key          string
	Message      *provider.InboundMessage
	Status       *provider.StatusUpdate
	Notification *provider.Event
	// OccurredAt is when the provider says it happened (the delivery's receipt when it does
	// not say).
	OccurredAt time.Time
}

// Drained counts what draining did.
type Drained struct {
	// Deliveries were claimed and marked processed; Failed of them did not parse and were
	// kept with their error.
	Deliveries int
	Failed     int
	// Events were recorded for the first time (a replay records none).
	Events int
}

func (d *Drained) add(o Drained) {
	d.Deliveries += o.Deliveries
	d.Failed += o.Failed
	d.Events += o.Events
}

// Drain drains batches of up to batch deliveries until one comes back short or budget has
// passed (the job then ends; the next wake or the periodic run goes on).
func (s *Service) Drain(ctx context.Context, batch int, budget time.Duration) (Drained, error) {
	var total Drained
	start := time.Now()
	for {
		d, err := s.DrainBatch(ctx, batch)
		total.add(d)
		if err != nil || d.Deliveries < batch || time.Since(start) > budget {
			return total, err
		}
	}
}

// DrainBatch claims up to limit unprocessed deliveries (skipping those another drainer holds)
// and marks them processed in one statement, parses each with its channel's adapter, records
// their events set-based and applies the new ones (applyEvents), all in one transaction. A delivery that does
// not parse is marked processed with its error and never retried; it does not hold up the rest.
func (s *Service) DrainBatch(ctx context.Context, limit int) (Drained, error) {
	var out Drained
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = Drained{}
		// The batch's commit need not wait for its WAL to reach disk: if the server loses it,
		// the deliveries are still unprocessed and the next drain records them again (events
		// are keyed), and nothing else has seen it. Not waiting keeps the drain's flushes out
		// of the way of the ingest commits, which must wait.
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
			return fmt.Errorf("drain: %w", err)
		}
		now := s.clock.Now()
		rows, err := s.q.ClaimWebhookDeliveries(ctx, tx, store.ClaimWebhookDeliveriesParams{At: &now, Batch: int32(limit)})
		if err != nil {
			return fmt.Errorf("claim webhook deliveries: %w", err)
		}
		if len(rows) == 0 {
			return nil
		}
		slices.SortFunc(rows, func(a, b store.ClaimWebhookDeliveriesRow) int { return bytes.Compare(a.ID[:], b.ID[:]) })
		mark := store.MarkWebhookDeliveriesParams{At: &now}
		var parsed []Event
		for _, d := range rows {
			evs, perr := s.parse(ctx, d)
			if perr != nil {
				mark.AccountIds, mark.Ids, mark.Errors = append(mark.AccountIds, d.AccountID), append(mark.Ids, d.ID), append(mark.Errors, perr.Error())
				out.Failed++
				s.logger().Warn("webhook delivery kept unparsed", "account_id", d.AccountID, "delivery_id", d.ID, "channel_id", d.ChannelID, "error", perr)
				continue
			}
			parsed = append(parsed, evs...)
		}
		recorded, err := s.record(ctx, tx, parsed, now)
		if err != nil {
			return err
		}
		if err := s.applyEvents(ctx, tx, recorded); err != nil {
			return err
		}
		if len(mark.Ids) > 0 {
			if err := s.q.MarkWebhookDeliveries(ctx, tx, mark); err != nil {
				return fmt.Errorf("keep the errors of unparsed deliveries: %w", err)
			}
		}
		out.Deliveries, out.Events = len(rows), len(recorded)
		return nil
	})
	if err != nil {
		return Drained{}, err
	}
	if out.Deliveries > 0 && s.EventsWritten != nil {
		s.EventsWritten()
	}
	return out, nil
}

// parse reads one stored delivery with its channel's adapter, checking its signature again.
func (s *Service) parse(ctx context.Context, d store.ClaimWebhookDeliveriesRow) ([]Event, error) {
	ep, err := s.lookup(ctx, d.ChannelID)
	if err != nil {
		return nil, fmt.Errorf("channel %s: %w", d.ChannelID, err)
	}
	if ep.Provider != d.Provider {
		return nil, fmt.Errorf("channel %s now uses provider %s, the delivery came from %s", d.ChannelID, ep.Provider, d.Provider)
	}
	a, err := adapter(ep, d.RequestUrl)
	if err != nil {
		return nil, err
	}
	auth := authHeaders[d.Provider]
	value := d.Signature
	if auth.token {
		// Checked when it was received; the token itself is never stored.
		value = ep.Credentials[tokenCredential[d.Provider]]
	}
	in, err := a.Parse(request(auth.name, value, d.Body), d.Body)
	if err != nil {
		return nil, err
	}
	return events(in, d, ep), nil
}

// events flattens a parsed delivery into events keyed so a retry maps to the same keys: a
// message by its id, a status by message id and status, a notification by its kind, time and
// content. What the provider did not date is then dated with the delivery's receipt.
func events(in provider.Inbound, d store.ClaimWebhookDeliveriesRow, ep channel.Endpoint) []Event {
	out := make([]Event, 0, len(in.Messages)+len(in.Statuses)+len(in.Events))
	at := func(t *time.Time) time.Time {
		if t.IsZero() {
			*t = d.ReceivedAt
		}
		return *t
	}
	base := Event{AccountID: d.AccountID, ChannelID: d.ChannelID, DeliveryID: d.ID, Provider: ep.Provider}
	for i := range in.Messages {
		m := &in.Messages[i]
		e := base
		e.Kind, e.Key, e.Message, e.OccurredAt = "message", m.ID, m, at(&m.Timestamp)
		out = append(out, e)
	}
	for i := range in.Statuses {
		st := &in.Statuses[i]
		e := base
		e.Kind, e.Key, e.Status, e.OccurredAt = "status", st.MessageID+":"+string(st.Status), st, at(&st.Timestamp)
		out = append(out, e)
	}
	for i := range in.Events {
		n := &in.Events[i]
		b, _ := json.Marshal(n.Data) // map keys are sorted: the same content gives the same key
		e := base
		e.Kind, e.Key, e.Notification = "event", fmt.Sprintf("%s:%d:%x", n.Kind, n.Timestamp.Unix(), b), n
		e.OccurredAt = at(&n.Timestamp)
		out = append(out, e)
	}
	return out
}

// record inserts a batch's events in one statement, in key order (so concurrent drainers
// inserting the same keys wait on each other instead of deadlocking), and returns those that
// were new.
func (s *Service) record(ctx context.Context, tx pgx.Tx, evs []Event, now time.Time) ([]Event, error) {
	if len(evs) == 0 {
		return nil, nil
	}
	slices.SortStableFunc(evs, func(a, b Event) int {
		return cmp.Or(cmp.Compare(a.AccountID.String(), b.AccountID.String()), cmp.Compare(a.ChannelID.String(), b.ChannelID.String()),
			cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Key, b.Key))
	})
	p := store.InsertProviderEventsParams{RecordedAt: now}
	for _, e := range evs {
		var v any
		switch {
		case e.Message != nil:
			v = e.Message
		case e.Status != nil:
			v = e.Status
		default:
			v = e.Notification
		}
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", e.Kind, e.Key, err)
		}
		p.AccountIds, p.ChannelIds, p.Kinds, p.Keys = append(p.AccountIds, e.AccountID), append(p.ChannelIds, e.ChannelID), append(p.Kinds, e.Kind), append(p.Keys, e.Key)
		p.DeliveryIds, p.Payloads, p.OccurredAts = append(p.DeliveryIds, e.DeliveryID), append(p.Payloads, b), append(p.OccurredAts, e.OccurredAt)
	}
	rows, err := s.q.InsertProviderEvents(ctx, tx, p)
	if err != nil {
		return nil, fmt.Errorf("record provider events: %w", err)
	}
	type key struct {
		account, channel uuid.UUID
		kind, key        string
	}
	fresh := make(map[key]bool, len(rows))
	for _, r := range rows {
		fresh[key{r.AccountID, r.ChannelID, r.Kind, r.ProviderKey}] = true
	}
	out := make([]Event, 0, len(rows))
	for _, e := range evs {
		k := key{e.AccountID, e.ChannelID, e.Kind, e.Key}
		if fresh[k] {
			out = append(out, e)
			delete(fresh, k) // the same key twice in one batch is one event
		}
	}
	return out, nil
}

// applyEvents is where a drained batch's newly recorded events take effect, inside the
// batch's transaction (so a failure here leaves the whole batch to the next drain). Each
// event comes here once, in provider-key order. Statuses go to the send path, messages to the
// conversations, notifications to the channels and templates; each domain that reacts to
// provider events adds its call here, taking tx and the events it cares about.
func (s *Service) applyEvents(ctx context.Context, tx pgx.Tx, evs []Event) error {
	if len(evs) == 0 {
		return nil
	}
	// Statuses first, before anything that locks conversations: send.ApplyStatuses waits on a
	// per-line lock that a dispatcher holds while it may lock conversations (template sends
	// open sessions), so taking it later could deadlock.
	if err := applyMessageStatuses(ctx, tx, evs); err != nil {
		return err
	}
	if err := s.applyChannelNotifications(ctx, tx, evs); err != nil {
		return err
	}
	if err := s.applyMessages(ctx, tx, evs); err != nil {
		return err
	}
	return applyTemplateStatuses(ctx, tx, evs, s.clock.Now())
}

// applyMessageStatuses hands the batch's delivery status updates to the send path, which
// moves its messages forward set-based.
func applyMessageStatuses(ctx context.Context, tx pgx.Tx, evs []Event) error {
	var sts []send.Status
	for _, e := range evs {
		if e.Kind == "status" && e.Status != nil {
			sts = append(sts, send.FromUpdate(e.AccountID, e.ChannelID, *e.Status))
		}
	}
	if err := send.ApplyStatuses(ctx, tx, sts); err != nil {
		return fmt.Errorf("apply message statuses: %w", err)
	}
	// Campaign sends are not messages: their reports move the campaign's recipients.
	if err := campaign.ApplyStatuses(ctx, tx, sts); err != nil {
		return fmt.Errorf("apply campaign statuses: %w", err)
	}
	return nil
}

// applyMessages hands the batch's new messages (contacts' messages and echoes) to the
// conversations, all at once: the inbound pipeline is set-based per batch.
func (s *Service) applyMessages(ctx context.Context, tx pgx.Tx, evs []Event) error {
	var in []conversation.Inbound
	for _, e := range evs {
		if e.Kind == "message" && e.Message != nil {
			in = append(in, conversation.Inbound{AccountID: e.AccountID, ChannelID: e.ChannelID, Message: e.Message, At: e.OccurredAt})
		}
	}
	if err := s.Conversations.ApplyInbound(ctx, tx, in); err != nil {
		return fmt.Errorf("apply inbound messages: %w", err)
	}
	return nil
}

// applyTemplateStatuses hands each account's notifications to the templates, which act on
// the template-status ones (a verdict of the provider's review) and ignore the rest.
func applyTemplateStatuses(ctx context.Context, tx pgx.Tx, evs []Event, now time.Time) error {
	byAccount := map[uuid.UUID][]provider.Event{}
	var order []uuid.UUID
	for _, e := range evs {
		if e.Notification == nil {
			continue
		}
		if _, seen := byAccount[e.AccountID]; !seen {
			order = append(order, e.AccountID)
		}
		byAccount[e.AccountID] = append(byAccount[e.AccountID], *e.Notification)
	}
	for _, acct := range order {
		if err := template.ApplyEvents(ctx, tx, acct, byAccount[acct], now); err != nil {
			return fmt.Errorf("apply template statuses for %s: %w", acct, err)
		}
	}
	return nil
}
