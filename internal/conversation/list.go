package conversation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/phone"
	"github.com/conversa-hq/conversa/internal/session"
)

// View is which conversations an agent console list shows (DESIGN.md §4).
type View string

// The views.
const (
	// ViewAll is every conversation of the account.
	ViewAll View = "all"
	// ViewOpen is what waits for somebody: open, no agent, and no department or one of the
	// caller's (an API key sees every department).
	ViewOpen View = "open"
	// ViewMine is what is assigned to the caller, who must be a user.
	ViewMine View = "mine"
	// ViewInAttendance is what has an agent.
	ViewInAttendance View = "in_attendance"
)

// Order is how a list is sorted; each has an index in its order (00021_conversation_lists).
type Order string

// The orders.
const (
	OrderLatestMessage Order = "latest_message"
	OrderOldestMessage Order = "oldest_message"
	OrderNewestOpening Order = "newest_opening"
	OrderOldestOpening Order = "oldest_opening"
)

// ListQuery is a page of an agent console list: a view, filters, a search, an order and the
// position after the previous page.
type ListQuery struct {
	AccountID uuid.UUID
	// UserID is the caller when a user asks: the "mine" view, the open view's departments
	// and the read state are the caller's. Nil for an API key.
	UserID *uuid.UUID
	View   View
	Order  Order
	// The filters; nil does not filter.
	ContactID    *uuid.UUID
	ChannelID    *uuid.UUID
	DepartmentID *uuid.UUID
	AgentID      *uuid.UUID
	CampaignID   *uuid.UUID
	// TagID keeps conversations carrying the tag: a conversation tag, or the session tags
	// Expirando and Expirado, which are computed at the list's time.
	TagID  *uuid.UUID
	Status *string
	// Unread keeps conversations unread (true) or read (false) by the caller.
	Unread *bool
	// Scoped narrows every view to the conversations the calling user sees as an agent (its
	// own, its departments', its segments'); supervisors, admins and API keys see all.
	Scoped bool
	// Search finds by the contact's name (any part), phone, or an active protocol.
	Search string
	After  *Cursor
	Limit  int
}

// Cursor is where a page ended: the last item's sort time and id.
type Cursor struct {
	At time.Time
	ID uuid.UUID
}

// Item is a conversation as a list shows it.
type Item struct {
	Conversation
	ContactName string
	// Tags are the conversation's tag names, sorted: its conversation tags, its department's
	// name while routed to one, and the session tag (Expirando, Expirado) at the list's time.
	Tags []string
	// Unread is the caller's read state; nil for an API key, which has none.
	Unread *bool
	// Cursor is this item's place in the list's order.
	Cursor Cursor
}

// UnansweredColour is the colour of the time a contact has waited for an answer (DESIGN.md
// §4): under 15 minutes green, to 30 blue, to 60 orange, beyond red; "" when nothing waits.
func UnansweredColour(since *time.Time, now time.Time) string {
	if since == nil {
		return ""
	}
	switch waited := now.Sub(*since); {
	case waited < 15*time.Minute:
		return "green"
	case waited < 30*time.Minute:
		return "blue"
	case waited < 60*time.Minute:
		return "orange"
	default:
		return "red"
	}
}

// listColumns are what a list item reads: the conversation (the columns GetConversation
// reads, in its order), its attendance, channel type and contact name, then the sort key and
// the caller's read state.
const listColumns = `v.account_id, v.id, v.contact_id, v.channel_id, v.address, v.status, v.attendance_id, v.department_id, v.agent_id,
	v.service_expires_at, v.category_sessions, v.last_message_at, v.last_inbound_at, v.unanswered_since, v.last_campaign_id,
	v.created_at, v.updated_at, v.opened_at, a.protocol, a.opened_at, ch.type,
	a.first_response_at, a.segment_id, a.sla_due_at, a.sla_breached_at, c.name`

// unreadExpr is the caller's read state: the contact wrote after the caller's read mark, or
// the caller marked the conversation unread.
const unreadExpr = `(coalesce(r.marked_unread, false) OR (v.last_inbound_at IS NOT NULL AND (r.read_at IS NULL OR v.last_inbound_at > r.read_at)))`

// tagsExpr is a conversation's tag names, sorted.
const tagsExpr = `ARRAY(SELECT t.name FROM conversation_tags ct JOIN tags t ON t.account_id = ct.account_id AND t.id = ct.tag_id
	WHERE ct.account_id = v.account_id AND ct.conversation_id = v.id ORDER BY t.name)`

// List returns a page of the query's view, filtered, searched and ordered. The statement is
// put together here rather than kept in db/queries: four orders times four views times the
// filters would each need their own static statement to keep the index in the order's use
// (a statement with optional filters gets one generic plan that walks the wrong index).
func (s *Service) List(ctx context.Context, q ListQuery) ([]Item, error) {
	b := listBuilder{}
	sortExpr, desc, err := orderOf(q.Order)
	if err != nil {
		return nil, err
	}
	acct := b.arg(q.AccountID)
	b.where("v.account_id = " + acct)
	user := "NULL::uuid"
	if q.UserID != nil {
		user = b.arg(*q.UserID)
	}
	if q.Scoped {
		if q.UserID == nil {
			return nil, fault.Invalid("an agent's scope needs the agent")
		}
		b.where(scopeExpr(acct, user))
	}
	switch q.View {
	case ViewAll, "":
	case ViewOpen:
		b.where("v.status = 'open'", "v.agent_id IS NULL")
		if q.UserID != nil {
			b.where(fmt.Sprintf(`(v.department_id IS NULL OR v.department_id IN (
				SELECT dm.department_id FROM department_members dm WHERE dm.account_id = %s AND dm.user_id = %s))`, acct, user))
		}
	case ViewMine:
		if q.UserID == nil {
			return nil, fault.Invalid("the mine view is a user's: an API key has no conversations of its own", fault.FieldError{Field: "query.view", Message: "needs a user"})
		}
		b.where("v.agent_id = " + user)
	case ViewInAttendance:
		b.where("v.agent_id IS NOT NULL")
	default:
		return nil, fault.Invalid("unknown view", fault.FieldError{Field: "query.view", Message: "must be all, open, mine or in_attendance"})
	}
	for _, f := range []struct {
		col string
		id  *uuid.UUID
	}{{"v.contact_id", q.ContactID}, {"v.channel_id", q.ChannelID}, {"v.department_id", q.DepartmentID},
		{"v.agent_id", q.AgentID}, {"v.last_campaign_id", q.CampaignID}} {
		if f.id != nil {
			b.where(f.col + " = " + b.arg(*f.id))
		}
	}
	if q.Status != nil {
		b.where("v.status = " + b.arg(*q.Status))
	}
	now := s.clock.Now().UTC()
	if q.TagID != nil {
		cond, err := s.tagFilter(ctx, &b, q.AccountID, *q.TagID, now)
		if err != nil {
			return nil, err
		}
		b.where(cond)
	}
	if q.Unread != nil {
		if q.UserID == nil {
			return nil, fault.Invalid("read state is a user's: an API key has none", fault.FieldError{Field: "query.unread", Message: "needs a user"})
		}
		if *q.Unread {
			b.where(unreadExpr)
		} else {
			b.where("NOT " + unreadExpr)
		}
	}
	if search := strings.TrimSpace(q.Search); search != "" {
		b.where(b.search(acct, search))
	}
	if q.After != nil {
		op := ">"
		if desc {
			op = "<"
		}
		b.where(fmt.Sprintf("(%s, v.id) %s (%s, %s)", sortExpr, op, b.arg(q.After.At), b.arg(q.After.ID)))
	}
	dir := "ASC"
	if desc {
		dir = "DESC"
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 50
	}
	sql := fmt.Sprintf(`SELECT %s, %s AS sort_at, %s AS unread, %s AS tags,
	(SELECT d.name FROM departments d WHERE d.account_id = v.account_id AND d.id = v.department_id) AS department_tag
FROM conversations v
JOIN channels ch ON ch.account_id = v.account_id AND ch.id = v.channel_id
JOIN contacts c ON c.account_id = v.account_id AND c.id = v.contact_id
LEFT JOIN attendances a ON a.account_id = v.account_id AND a.id = v.attendance_id AND v.status = 'open'
LEFT JOIN conversation_reads r ON r.account_id = v.account_id AND r.user_id = %s AND r.conversation_id = v.id
WHERE %s
ORDER BY %s %s, v.id %s
LIMIT %d`, listColumns, sortExpr, unreadExpr, tagsExpr, user, strings.Join(b.conds, "\n  AND "), sortExpr, dir, dir, limit)
	var db store.DBTX = pgdb.GenericPlans{Pool: s.pool}
	if strings.TrimSpace(q.Search) != "" {
		// A generic plan cannot see the search text, which decides between the name's trigram
		// index and a scan: plan it for the text at hand (the pool's custom plans).
		db = s.pool
	}
	rows, err := db.Query(ctx, sql, b.args...)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Item, error) {
		var r store.GetConversationRow
		var it Item
		var unread bool
		var departmentTag *string
		if err := row.Scan(&r.AccountID, &r.ID, &r.ContactID, &r.ChannelID, &r.Address, &r.Status, &r.AttendanceID, &r.DepartmentID,
			&r.AgentID, &r.ServiceExpiresAt, &r.CategorySessions, &r.LastMessageAt, &r.LastInboundAt, &r.UnansweredSince,
			&r.LastCampaignID, &r.CreatedAt, &r.UpdatedAt, &r.OpenedAt, &r.Protocol, &r.AttendanceOpenedAt, &r.ChannelType,
			&r.FirstResponseAt, &r.AttendanceSegmentID, &r.SlaDueAt, &r.SlaBreachedAt, &it.ContactName, &it.Cursor.At, &unread, &it.Tags, &departmentTag); err != nil {
			return Item{}, err
		}
		c, err := FromRow(r)
		if err != nil {
			return Item{}, err
		}
		it.Conversation, it.Cursor.ID = c, c.ID
		// The system tags follow the conversation's state: its department's (routed to a
		// department until an agent takes it, it is closed or forwarded elsewhere) and the
		// session's (DESIGN §4).
		if departmentTag != nil {
			it.Tags = append(it.Tags, *departmentTag)
		}
		if tag := c.SessionTag(now); tag != "" {
			it.Tags = append(it.Tags, tag)
		}
		slices.Sort(it.Tags)
		if q.UserID != nil {
			it.Unread = &unread
		}
		return it, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	return out, nil
}

// tagFilter is the condition keeping conversations that carry the tag at now: the session
// tags (the account's tags named Expirando and Expirado) by the service session's end, which
// conversations_service_expiry serves, the others by their conversation_tags rows. A tag of
// another account keeps nothing.
func (s *Service) tagFilter(ctx context.Context, b *listBuilder, accountID, tagID uuid.UUID, now time.Time) (string, error) {
	t, err := s.q.GetTag(ctx, s.pool, store.GetTagParams{AccountID: accountID, ID: tagID})
	if errors.Is(err, pgx.ErrNoRows) {
		return "false", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the tag to filter by: %w", err)
	}
	switch {
	case strings.EqualFold(t.Name, session.TagExpiring):
		return fmt.Sprintf("(ch.type = 'whatsapp' AND v.service_expires_at > %s AND v.service_expires_at <= %s)",
			b.arg(now), b.arg(now.Add(session.ExpiringBefore))), nil
	case strings.EqualFold(t.Name, session.TagExpired):
		return fmt.Sprintf("(ch.type = 'whatsapp' AND v.service_expires_at <= %s)", b.arg(now)), nil
	}
	return fmt.Sprintf("EXISTS (SELECT 1 FROM conversation_tags ct WHERE ct.account_id = v.account_id AND ct.conversation_id = v.id AND ct.tag_id = %s)",
		b.arg(tagID)), nil
}

// orderOf is an order's sort expression (the one its indexes hold) and direction.
func orderOf(o Order) (expr string, desc bool, err error) {
	const message, opening = "coalesce(v.last_message_at, v.created_at)", "coalesce(v.opened_at, v.created_at)"
	switch o {
	case OrderLatestMessage, "":
		return message, true, nil
	case OrderOldestMessage:
		return message, false, nil
	case OrderNewestOpening:
		return opening, true, nil
	case OrderOldestOpening:
		return opening, false, nil
	}
	return "", false, fault.Invalid("unknown order", fault.FieldError{Field: "query.order", Message: "must be latest_message, oldest_message, newest_opening or oldest_opening"})
}

// listBuilder collects a list statement's conditions and their arguments.
type listBuilder struct {
	conds []string
	args  []any
}

// arg adds a bind argument and returns its placeholder.
func (b *listBuilder) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

func (b *listBuilder) where(conds ...string) { b.conds = append(b.conds, conds...) }

// search is the condition that finds conversations by the contact's name (any part, through
// the name's trigram index), by phone (when the text reads as one), or by the protocol of
// an open attendance (DESIGN.md §4: closed protocols are not searched).
func (b *listBuilder) search(acct, text string) string {
	like := b.arg("%" + pgdb.EscapeLike(text) + "%")
	alts := []string{
		fmt.Sprintf("v.contact_id IN (SELECT x.id FROM contacts x WHERE x.account_id = %s AND x.name ILIKE %s)", acct, like),
		fmt.Sprintf("v.attendance_id IN (SELECT at.id FROM attendances at WHERE at.account_id = %s AND at.protocol = %s AND at.closed_at IS NULL)", acct, b.arg(text)),
	}
	if n, err := phone.Normalize(text); err == nil {
		e164 := b.arg(n.E164)
		alts = append(alts, fmt.Sprintf("v.contact_id IN (SELECT p.contact_id FROM contact_phones p WHERE p.account_id = %s AND p.phone = %s)", acct, e164),
			"v.address = "+e164)
	}
	return "(" + strings.Join(alts, " OR ") + ")"
}

// MarkRead records that the user has read the conversation up to now, undoing a "mark
// unread"; it is unread again when the contact next writes.
func (s *Service) MarkRead(ctx context.Context, accountID, userID, id uuid.UUID) error {
	now := s.clock.Now()
	n, err := s.q.MarkConversationRead(ctx, s.pool, store.MarkConversationReadParams{AccountID: accountID, UserID: userID, ID: id, ReadAt: &now})
	if err != nil {
		return fmt.Errorf("mark conversation %s read: %w", id, err)
	}
	if n == 0 {
		return fault.NotFound("conversation")
	}
	return nil
}

// MarkUnread shows the conversation unread to the user until they read it again.
func (s *Service) MarkUnread(ctx context.Context, accountID, userID, id uuid.UUID) error {
	n, err := s.q.MarkConversationUnread(ctx, s.pool, store.MarkConversationUnreadParams{AccountID: accountID, UserID: userID, ID: id, Now: s.clock.Now()})
	if err != nil {
		return fmt.Errorf("mark conversation %s unread: %w", id, err)
	}
	if n == 0 {
		return fault.NotFound("conversation")
	}
	return nil
}
