// Package attendtest builds the rows the attendance rules read (accounts, agents, channels,
// contacts, segments, departments, waiting conversations, messages) in a test database, so
// that the tests of internal/sla and internal/distribution state their cases rather than
// their SQL. Rows go in as the product's own statements would leave them; the triggers of
// the migrations (queue placement, SLA, first response) run on them as in production.
package attendtest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/account"
)

// DB writes fixtures through Pool, failing T on any error.
type DB struct {
	T    testing.TB
	Pool *pgxpool.Pool
}

// Exec runs a statement.
func (d DB) Exec(sql string, args ...any) {
	d.T.Helper()
	_, err := d.Pool.Exec(context.Background(), sql, args...)
	require.NoError(d.T, err)
}

// Account creates an account.
func (d DB) Account(name string) uuid.UUID {
	d.T.Helper()
	a, err := account.Create(context.Background(), d.Pool, name)
	require.NoError(d.T, err)
	return a.ID
}

// Agent creates an active user with the agent role.
func (d DB) Agent(acct uuid.UUID) uuid.UUID {
	d.T.Helper()
	id := uuid.Must(uuid.NewV7())
	d.Exec(`INSERT INTO users (account_id, id, email, password_hash, role) VALUES ($1, $2, $3, 'x', 'agent')`, acct, id, id.String()+"@example.com")
	return id
}

// Channel creates a WhatsApp channel of priority 80.
func (d DB) Channel(acct uuid.UUID) uuid.UUID {
	d.T.Helper()
	id := uuid.Must(uuid.NewV7())
	d.Exec(`INSERT INTO channels (account_id, id, type, name, provider, priority, created_at, updated_at)
	        VALUES ($1, $2, 'whatsapp', 'WhatsApp', 'fake', 80, now(), now())`, acct, id)
	return id
}

// Contact creates a contact.
func (d DB) Contact(acct uuid.UUID, name string) uuid.UUID {
	d.T.Helper()
	id := uuid.Must(uuid.NewV7())
	d.Exec(`INSERT INTO contacts (account_id, id, name) VALUES ($1, $2, $3)`, acct, id, name)
	return id
}

// Segment is a segment to create.
type Segment struct {
	Name     string
	Priority int
	// SLAMinutes is the SLA; 0 for none.
	SLAMinutes int
	Automatic  bool
	// Members are static members; Users and Departments serve it.
	Members, Users, Departments []uuid.UUID
}

// Segment creates a segment.
func (d DB) Segment(acct uuid.UUID, s Segment) uuid.UUID {
	d.T.Helper()
	id := uuid.Must(uuid.NewV7())
	var sla *int
	if s.SLAMinutes > 0 {
		sla = &s.SLAMinutes
	}
	dist := "manual"
	if s.Automatic {
		dist = "automatic"
	}
	d.Exec(`INSERT INTO segments (account_id, id, name, priority, sla_minutes, distribution, created_at, updated_at)
	        VALUES ($1, $2, $3, $4, $5, $6, now(), now())`, acct, id, s.Name, s.Priority, sla, dist)
	for _, m := range s.Members {
		d.Exec(`INSERT INTO segment_members (account_id, segment_id, contact_id, added_at) VALUES ($1, $2, $3, now())`, acct, id, m)
	}
	for _, u := range s.Users {
		d.Exec(`INSERT INTO segment_users (account_id, segment_id, user_id) VALUES ($1, $2, $3)`, acct, id, u)
	}
	for _, dep := range s.Departments {
		d.Exec(`INSERT INTO segment_departments (account_id, segment_id, department_id) VALUES ($1, $2, $3)`, acct, id, dep)
	}
	return id
}

// Department creates a department with members.
func (d DB) Department(acct uuid.UUID, name string, members ...uuid.UUID) uuid.UUID {
	d.T.Helper()
	id := uuid.Must(uuid.NewV7())
	d.Exec(`INSERT INTO departments (account_id, id, name, created_at, updated_at) VALUES ($1, $2, $3, now(), now())`, acct, id, name)
	for _, m := range members {
		d.Exec(`INSERT INTO department_members (account_id, department_id, user_id, added_at) VALUES ($1, $2, $3, now())`, acct, id, m)
	}
	return id
}

// Waiting opens an attendance at `at` on a new conversation of the contact on the channel,
// unanswered since then and without an agent, and returns the conversation and attendance.
func (d DB) Waiting(acct, contactID, channelID uuid.UUID, at time.Time) (conv, att uuid.UUID) {
	d.T.Helper()
	conv, att = uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	d.Exec(`INSERT INTO conversations (account_id, id, contact_id, channel_id, address, status, attendance_id, unanswered_since, created_at, updated_at)
	        VALUES ($1, $2, $3, $4, 'addr', 'open', $5, $6, $6, $6)`, acct, conv, contactID, channelID, att, at)
	d.Exec(`INSERT INTO attendances (account_id, id, conversation_id, protocol, opened_by, opened_at) VALUES ($1, $2, $3, $4, 'inbound', $5)`,
		acct, att, conv, att.String(), at)
	return conv, att
}

// Message stores a message of the given direction and kind in the contact's conversation on
// the channel at `at`, through the send path's statement (store.QueueMessage).
func (d DB) Message(acct, contactID, channelID uuid.UUID, direction, kind string, at time.Time) {
	d.T.Helper()
	_, err := store.New().QueueMessage(context.Background(), d.Pool, store.QueueMessageParams{
		AccountID: acct, ID: uuid.Must(uuid.NewV7()), ChannelID: channelID, Direction: direction, Kind: kind, Text: "Olá",
		Payload: []byte("{}"), CreatedAt: at, NewConversationID: uuid.Must(uuid.NewV7()), ContactID: contactID, Address: "addr",
	})
	require.NoError(d.T, err)
}
