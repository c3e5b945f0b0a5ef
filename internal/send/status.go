package send

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/message"
	"github.com/conversa-hq/conversa/internal/provider"
)

// EventMessageStatus is emitted each time an outbound message's status changes.
const EventMessageStatus = "message.status"

// Status is a provider's status report on a message it accepted, as the webhook drain hands
// it on.
type Status struct {
	AccountID         uuid.UUID
	ChannelID         uuid.UUID
	ProviderMessageID string
	Status            provider.Status
	At                time.Time
	// Code and Reason explain a failure.
	Code   string
	Reason string
}

// FromUpdate is the Status of a provider's update on a channel.
func FromUpdate(accountID, channelID uuid.UUID, u provider.StatusUpdate) Status {
	s := Status{AccountID: accountID, ChannelID: channelID, ProviderMessageID: u.MessageID, Status: u.Status, At: u.Timestamp}
	if u.Error != nil {
		s.Code, s.Reason = u.Error.Code, u.Error.Reason
	}
	return s
}

// rank orders the reports of one message in one batch so the best wins whatever order they
// came in: a report that the contact got the message beats a failure (which Advance would
// ignore after it anyway), and read beats delivered beats sent.
var rank = map[provider.Status]int{provider.StatusSent: 1, provider.StatusFailed: 2, provider.StatusDelivered: 3, provider.StatusRead: 4}

// ApplyStatuses applies a batch of status reports in the caller's transaction, set-based: each
// message's status only moves forward (message.Advance), failures keep the provider's code and
// reason, a 131049 failure schedules the message's one retry EngagementWait later, and each
// change is emitted as a message.status event. Reports for messages whose provider id is not
// stored yet change nothing here: the dispatcher applies them when it stores the id (they are
// in provider_events).
func ApplyStatuses(ctx context.Context, tx pgx.Tx, evs []Status) error {
	if len(evs) == 0 {
		return nil
	}
	q := store.New()
	lines := map[string]bool{}
	for _, e := range evs {
		lines[e.ChannelID.String()] = true
	}
	keys := make([]string, 0, len(lines))
	for k := range lines {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if err := q.LockLinesShared(ctx, tx, keys); err != nil {
		return fmt.Errorf("lock lines for statuses: %w", err)
	}
	return apply(ctx, tx, q, evs)
}

type msgKey struct {
	account, channel uuid.UUID
	id               string
}

// Furthest keeps one report per sent message, the furthest along (rank), in the order the
// messages first appear: reports in one batch may come in any order, and a set-based update
// takes one row per message. Reports of other statuses or without a provider id are dropped.
func Furthest(evs []Status) []Status {
	best := map[msgKey]Status{}
	var order []msgKey
	for _, e := range evs {
		if _, ok := rank[e.Status]; !ok || e.ProviderMessageID == "" {
			continue
		}
		k := msgKey{e.AccountID, e.ChannelID, e.ProviderMessageID}
		cur, seen := best[k]
		if !seen {
			order = append(order, k)
		}
		if !seen || rank[e.Status] > rank[cur.Status] {
			best[k] = e
		}
	}
	out := make([]Status, len(order))
	for i, k := range order {
		out[i] = best[k]
	}
	return out
}

func apply(ctx context.Context, tx pgx.Tx, q *store.Queries, evs []Status) error {
	evs = Furthest(evs)
	if len(evs) == 0 {
		return nil
	}
	p := store.ApplyStatusesParams{}
	for _, e := range evs {
		p.AccountIds, p.ChannelIds, p.ProviderIds = append(p.AccountIds, e.AccountID), append(p.ChannelIds, e.ChannelID), append(p.ProviderIds, e.ProviderMessageID)
		p.Statuses, p.Ats = append(p.Statuses, string(e.Status)), append(p.Ats, e.At.UTC())
		p.Codes, p.Reasons = append(p.Codes, e.Code), append(p.Reasons, e.Reason)
		p.Retries = append(p.Retries, e.Status == provider.StatusFailed && e.Code == CodeEngagement)
	}
	rows, err := q.ApplyStatuses(ctx, tx, p)
	if err != nil {
		return fmt.Errorf("apply statuses: %w", err)
	}
	out := make([]statusEvent, 0, len(rows))
	for _, r := range rows {
		se := statusEvent{accountID: r.AccountID, id: r.ID, conversationID: r.ConversationID, channelID: r.ChannelID,
			status: deref(r.Status), code: deref(r.ErrorCode), reason: deref(r.ErrorReason), retryAt: r.SendAfter}
		if r.StatusAt != nil {
			se.at = *r.StatusAt
		}
		if se.status == string(message.Queued) {
			// Failed with 131049: reported as failed, with the retry it was given.
			se.status = string(message.Failed)
		}
		out = append(out, se)
	}
	return emitStatuses(ctx, tx, out)
}

// reapply applies the status reports already recorded for messages whose provider ids were
// just stored (they arrived before the dispatcher stored the id).
func reapply(ctx context.Context, tx pgx.Tx, q *store.Queries, p store.StoredStatusesParams, now time.Time) error {
	evs, err := StoredFor(ctx, tx, p, now)
	if err != nil || len(evs) == 0 {
		return err
	}
	return apply(ctx, tx, q, evs)
}

// StoredFor reads back the status reports already recorded for sends whose provider ids were
// just stored: reports that came before the sender stored the id (a drain holding the line's
// status lock applies them otherwise). Reports without a time take now.
func StoredFor(ctx context.Context, tx pgx.Tx, p store.StoredStatusesParams, now time.Time) ([]Status, error) {
	rows, err := store.New().StoredStatuses(ctx, tx, p)
	if err != nil {
		return nil, fmt.Errorf("read stored statuses: %w", err)
	}
	evs := make([]Status, 0, len(rows))
	for _, r := range rows {
		var u provider.StatusUpdate
		if err := json.Unmarshal(r.Payload, &u); err != nil {
			return nil, fmt.Errorf("decode stored status: %w", err)
		}
		if u.Timestamp.IsZero() {
			u.Timestamp = now
		}
		evs = append(evs, FromUpdate(r.AccountID, r.ChannelID, u))
	}
	return evs, nil
}

// statusEvent is a message.status event.
type statusEvent struct {
	accountID, id, conversationID, channelID uuid.UUID
	status                                   string
	at                                       time.Time
	code, reason                             string
	retryAt                                  *time.Time
}

// StatusData is a message.status event's data.
type StatusData struct {
	MessageID      uuid.UUID  `json:"message_id"`
	ConversationID uuid.UUID  `json:"conversation_id"`
	ChannelID      uuid.UUID  `json:"channel_id"`
	Status         string     `json:"status"`
	ErrorCode      string     `json:"error_code,omitempty"`
	ErrorReason    string     `json:"error_reason,omitempty"`
	RetryAt        *time.Time `json:"retry_at,omitempty"`
}

// emitStatuses writes the message.status events of a batch in one statement, in the
// caller's transaction.
func emitStatuses(ctx context.Context, tx pgx.Tx, evs []statusEvent) error {
	all := make([]event.Stamped, len(evs))
	for i, e := range evs {
		all[i] = event.Stamped{AccountID: e.accountID, At: e.at, New: event.New{Type: EventMessageStatus, SubjectID: &e.conversationID,
			Data: StatusData{MessageID: e.id, ConversationID: e.conversationID, ChannelID: e.channelID, Status: e.status,
				ErrorCode: e.code, ErrorReason: e.reason, RetryAt: e.retryAt}}}
	}
	if err := event.EmitAll(ctx, tx, all); err != nil {
		return fmt.Errorf("emit message.status events: %w", err)
	}
	return nil
}
