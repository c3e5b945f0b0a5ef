// Package teamchat is the internal team chat: messages among the users of one account, never
// sent to contacts. A user writes to another user (a direct thread, made on the first
// message) or to the account's room, which every user is in; each user's read position per
// thread gives the unread counts a console shows. Nobody outside a thread reads it: another
// account's user or thread, or a direct thread of two other users, is not found.
package teamchat

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/fault"
)

// EventMessage is emitted for each message: for a direct thread once to each of its two users
// (the event is visible to that user, and to supervisors and API keys, who see every event),
// for the room once to everyone. It never carries the body: read it from the thread.
const EventMessage = "team_chat.message"

// MaxBody bounds a message's text.
const MaxBody = 4096

// The thread kinds.
const (
	KindDirect = "direct"
	KindRoom   = "room"
)

// Message is one message of a thread.
type Message struct {
	ID           uuid.UUID
	ThreadID     uuid.UUID
	Seq          int64
	SenderUserID uuid.UUID
	Body         string
	CreatedAt    time.Time
}

// Thread is a thread as one of its users sees it.
type Thread struct {
	ID   uuid.UUID
	Kind string
	// With is the other user of a direct thread (nil for the room).
	With      *uuid.UUID
	CreatedAt time.Time
	// Last is the newest message (nil before the first).
	Last *Message
	// Unread counts the others' messages after what this user has read.
	Unread int64
}

// Service reads and writes the team chat.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
}

// NewService returns a Service.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	return &Service{pool: pool, q: store.New(), clock: clk}
}

// To is where a message goes: exactly one of a user and the room.
type To struct {
	UserID *uuid.UUID
	Room   bool
}

var errThreadNotFound = fault.NotFound("thread")

// Send stores a message from sender and emits its events, in one transaction; the sender has
// read its own message. Writing to oneself, or to both a user and the room, is refused; a
// user who is not an active user of the account is not found.
func (s *Service) Send(ctx context.Context, accountID, sender uuid.UUID, to To, body string) (Message, error) {
	body = strings.TrimSpace(body)
	if n := utf8.RuneCountInString(body); n < 1 || n > MaxBody || strings.ContainsRune(body, 0) {
		return Message{}, fault.Invalid("invalid message", fault.FieldError{Field: "body.body", Message: fmt.Sprintf("must have 1 to %d characters", MaxBody)})
	}
	if (to.UserID != nil) == to.Room {
		return Message{}, fault.Invalid("give exactly one of to_user_id and room")
	}
	if to.UserID != nil && *to.UserID == sender {
		return Message{}, fault.Invalid("a message to oneself is not a chat", fault.FieldError{Field: "body.to_user_id", Message: "is the caller", Value: to.UserID.String()})
	}
	now := s.clock.Now().UTC().Truncate(time.Microsecond)
	m := Message{ID: uuid.Must(uuid.NewV7()), SenderUserID: sender, Body: body, CreatedAt: now}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if to.UserID != nil {
			ok, err := s.q.ActiveUserExists(ctx, tx, store.ActiveUserExistsParams{AccountID: accountID, ID: *to.UserID})
			if err != nil {
				return fmt.Errorf("find user %s: %w", to.UserID, err)
			}
			if !ok {
				return &fault.Error{Kind: fault.KindNotFound, Message: "user not found",
					Fields: []fault.FieldError{{Field: "body.to_user_id", Message: "not an active user of the account"}}}
			}
			low, high := sender, *to.UserID
			if strings.Compare(low.String(), high.String()) > 0 {
				low, high = high, low
			}
			m.ThreadID, err = s.q.EnsureDirectThread(ctx, tx, store.EnsureDirectThreadParams{AccountID: accountID, ID: uuid.Must(uuid.NewV7()), UserLow: &low, UserHigh: &high, Now: now})
			if err != nil {
				return fmt.Errorf("open direct thread: %w", err)
			}
		} else if m.ThreadID, err = s.q.EnsureRoom(ctx, tx, store.EnsureRoomParams{AccountID: accountID, ID: uuid.Must(uuid.NewV7()), Now: now}); err != nil {
			return fmt.Errorf("open the room: %w", err)
		}
		if m.Seq, err = s.q.InsertTeamMessage(ctx, tx, store.InsertTeamMessageParams{AccountID: accountID, ID: m.ID, ThreadID: m.ThreadID,
			SenderUserID: sender, Body: body, Now: now}); err != nil {
			return fmt.Errorf("store team message: %w", err)
		}
		if err := s.q.MarkTeamThreadRead(ctx, tx, store.MarkTeamThreadReadParams{AccountID: accountID, ThreadID: m.ThreadID, UserID: sender, ReadSeq: m.Seq}); err != nil {
			return fmt.Errorf("mark own message read: %w", err)
		}
		data := map[string]any{"thread_id": m.ThreadID, "message_id": m.ID, "sender_user_id": sender}
		if to.Room {
			data["kind"] = KindRoom
			return event.Emit(ctx, tx, accountID, now, event.New{Type: EventMessage, SubjectID: &m.ThreadID, Data: data})
		}
		data["kind"] = KindDirect
		return event.Emit(ctx, tx, accountID, now,
			event.New{Type: EventMessage, SubjectID: &m.ThreadID, UserID: to.UserID, Data: data},
			event.New{Type: EventMessage, SubjectID: &m.ThreadID, UserID: &sender, Data: data})
	})
	if err != nil {
		return Message{}, err
	}
	return m, nil
}

// Threads lists the user's threads, latest activity first, with the last message and the
// unread count of each.
func (s *Service) Threads(ctx context.Context, accountID, userID uuid.UUID) ([]Thread, error) {
	rows, err := s.q.ListTeamThreads(ctx, s.pool, store.ListTeamThreadsParams{AccountID: accountID, UserID: userID})
	if err != nil {
		return nil, fmt.Errorf("list team threads: %w", err)
	}
	out := make([]Thread, len(rows))
	for i, r := range rows {
		t := Thread{ID: r.ID, Kind: r.Kind, CreatedAt: r.CreatedAt.UTC(), Unread: r.Unread}
		if r.Kind == KindDirect && r.UserLow != nil && r.UserHigh != nil {
			with := *r.UserLow
			if with == userID {
				with = *r.UserHigh
			}
			t.With = &with
		}
		if r.LastSeq > 0 {
			t.Last = &Message{ID: r.LastID, ThreadID: r.ID, Seq: r.LastSeq, SenderUserID: r.LastSenderUserID, Body: r.LastBody, CreatedAt: r.LastCreatedAt.UTC()}
		}
		out[i] = t
	}
	return out, nil
}

// thread checks that the user is in the thread.
func (s *Service) thread(ctx context.Context, accountID, userID, threadID uuid.UUID) error {
	_, err := s.q.GetTeamThreadFor(ctx, s.pool, store.GetTeamThreadForParams{AccountID: accountID, ID: threadID, UserID: userID})
	if errors.Is(err, pgx.ErrNoRows) {
		return errThreadNotFound
	}
	if err != nil {
		return fmt.Errorf("read team thread %s: %w", threadID, err)
	}
	return nil
}

// Messages returns up to limit messages of a thread the user is in, newest first, before the
// message numbered before (nil: from the newest).
func (s *Service) Messages(ctx context.Context, accountID, userID, threadID uuid.UUID, before *int64, limit int) ([]Message, error) {
	if err := s.thread(ctx, accountID, userID, threadID); err != nil {
		return nil, err
	}
	rows, err := s.q.ListTeamMessages(ctx, s.pool, store.ListTeamMessagesParams{AccountID: accountID, ThreadID: threadID, Before: before, Lim: int32(limit)})
	if err != nil {
		return nil, fmt.Errorf("list team messages: %w", err)
	}
	out := make([]Message, len(rows))
	for i, r := range rows {
		out[i] = Message{ID: r.ID, ThreadID: threadID, Seq: r.Seq, SenderUserID: r.SenderUserID, Body: r.Body, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}

// MarkRead marks everything in the thread read for the user.
func (s *Service) MarkRead(ctx context.Context, accountID, userID, threadID uuid.UUID) error {
	if err := s.thread(ctx, accountID, userID, threadID); err != nil {
		return err
	}
	seq, err := s.q.LastTeamSeq(ctx, s.pool, store.LastTeamSeqParams{AccountID: accountID, ThreadID: threadID})
	if err != nil {
		return fmt.Errorf("read last team message: %w", err)
	}
	if err := s.q.MarkTeamThreadRead(ctx, s.pool, store.MarkTeamThreadReadParams{AccountID: accountID, ThreadID: threadID, UserID: userID, ReadSeq: seq}); err != nil {
		return fmt.Errorf("mark team thread read: %w", err)
	}
	return nil
}
