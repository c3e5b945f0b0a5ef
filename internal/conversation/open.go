package conversation

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
)

// OpenAttendance opens an attendance on a closed conversation in the caller's transaction,
// numbered by the account's protocol format like the inbound pipeline's, and emits
// conversation.opened: what an agent's "new chat" does so the conversation is served before
// the contact answers. A conversation already open keeps its attendance (opened is false).
// openedBy is agent or api. The conversation stays locked until tx ends.
func OpenAttendance(ctx context.Context, tx pgx.Tx, accountID, conversationID, channelID uuid.UUID, openedBy string, now time.Time) (a Attendance, opened bool, err error) {
	q := store.New()
	c, err := q.LockConversationForAssign(ctx, tx, store.LockConversationForAssignParams{AccountID: accountID, ID: conversationID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Attendance{}, false, fault.NotFound("conversation")
	}
	if err != nil {
		return Attendance{}, false, fmt.Errorf("lock conversation %s: %w", conversationID, err)
	}
	a = Attendance{ConversationID: conversationID, ContactID: c.ContactID, ChannelID: channelID}
	if c.Status == "open" && c.AttendanceID != nil {
		a.ID = *c.AttendanceID
		if a.Protocol, err = q.CurrentProtocol(ctx, tx, store.CurrentProtocolParams{AccountID: accountID, ConversationID: conversationID}); err != nil {
			return Attendance{}, false, fmt.Errorf("read protocol: %w", err)
		}
		return a, false, nil
	}
	rows, err := q.ProtocolFormats(ctx, tx, []uuid.UUID{accountID})
	if err != nil {
		return Attendance{}, false, fmt.Errorf("read protocol format: %w", err)
	}
	format := mustFormat("")
	if len(rows) == 1 {
		format = mustFormat(rows[0].Format)
	}
	period := format.Period(now)
	reserved, err := q.ReserveProtocolNumbers(ctx, tx, store.ReserveProtocolNumbersParams{AccountIds: []uuid.UUID{accountID}, Periods: []string{period}, Counts: []int64{1}})
	if err != nil {
		return Attendance{}, false, fmt.Errorf("reserve a protocol number: %w", err)
	}
	if len(reserved) != 1 {
		return Attendance{}, false, fmt.Errorf("reserve a protocol number: %d counters came back", len(reserved))
	}
	a.ID, a.Protocol, a.OpenedBy, a.OpenedAt = uuid.Must(uuid.NewV7()), format.Render(now, reserved[0].Last), openedBy, now
	if err := q.OpenAttendances(ctx, tx, store.OpenAttendancesParams{Now: now, OpenedBy: openedBy, AccountIds: []uuid.UUID{accountID},
		Ids: []uuid.UUID{a.ID}, ConversationIds: []uuid.UUID{conversationID}, Protocols: []string{a.Protocol}, OpenedAts: []time.Time{now}}); err != nil {
		return Attendance{}, false, fmt.Errorf("open attendance: %w", err)
	}
	err = event.Emit(ctx, tx, accountID, now, event.New{Type: EventConversationOpened, SubjectID: &conversationID, Data: map[string]any{
		"conversation_id": conversationID, "attendance_id": a.ID, "protocol": a.Protocol, "contact_id": c.ContactID, "channel_id": channelID, "opened_by": openedBy,
	}})
	return a, true, err
}
