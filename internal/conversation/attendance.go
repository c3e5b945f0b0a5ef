package conversation

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/event"
)

// OpenAttendance opens an attendance, with the next protocol number in the account's format,
// on a closed conversation the caller has locked in tx, and emits conversation.opened: what
// the inbound pipeline does for a contact's message, for openings that do not come from one
// (a scheduled template sent with "open attendance"). openedBy is agent or api.
func OpenAttendance(ctx context.Context, tx store.DBTX, accountID, conversationID, contactID, channelID uuid.UUID, openedBy string, now time.Time) (Attendance, error) {
	q := store.New()
	rows, err := q.ProtocolFormats(ctx, tx, []uuid.UUID{accountID})
	if err != nil {
		return Attendance{}, fmt.Errorf("read protocol format: %w", err)
	}
	f := mustFormat("")
	if len(rows) > 0 {
		f = mustFormat(rows[0].Format)
	}
	period := f.Period(now)
	reserved, err := q.ReserveProtocolNumbers(ctx, tx, store.ReserveProtocolNumbersParams{
		AccountIds: []uuid.UUID{accountID}, Periods: []string{period}, Counts: []int64{1}})
	if err != nil || len(reserved) != 1 {
		return Attendance{}, fmt.Errorf("reserve a protocol number: %w", err)
	}
	a := Attendance{ID: uuid.Must(uuid.NewV7()), ConversationID: conversationID, ContactID: contactID, ChannelID: channelID,
		Protocol: f.Render(now, reserved[0].Last), OpenedBy: openedBy, OpenedAt: now}
	if err := q.OpenAttendances(ctx, tx, store.OpenAttendancesParams{Now: now, OpenedBy: openedBy,
		AccountIds: []uuid.UUID{accountID}, Ids: []uuid.UUID{a.ID}, ConversationIds: []uuid.UUID{conversationID},
		Protocols: []string{a.Protocol}, OpenedAts: []time.Time{now}}); err != nil {
		return Attendance{}, fmt.Errorf("open attendance on %s: %w", conversationID, err)
	}
	if err := event.Emit(ctx, tx, accountID, now, event.New{Type: EventConversationOpened, SubjectID: &conversationID, Data: map[string]any{
		"conversation_id": conversationID, "attendance_id": a.ID, "protocol": a.Protocol, "contact_id": contactID, "channel_id": channelID,
		"opened_by": openedBy,
	}}); err != nil {
		return Attendance{}, err
	}
	return a, nil
}
