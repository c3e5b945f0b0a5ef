// Package newchat is the agent console's "new chat": a template message to a number that may
// not be a contact yet. The number becomes a contact (or finds the one that has it: never a
// duplicate), the template goes through the send path with every rule it applies (approval,
// marketing consent, the paid-send stop), and, when asked, the conversation is opened for the
// caller, so the contact's answer lands in the agent's open chats instead of the initial flow.
package newchat

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/contact"
	"github.com/conversa-hq/conversa/internal/conversation"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/phone"
	"github.com/conversa-hq/conversa/internal/queue"
	"github.com/conversa-hq/conversa/internal/send"
)

// Request is a new chat.
type Request struct {
	AccountID uuid.UUID
	// Who starts it: a user or an API key.
	UserID   *uuid.UUID
	APIKeyID *uuid.UUID
	// Phone is the number as typed. Foreign reads it as international ("+" and the country
	// code, added when missing) and is required for a number outside Brazil.
	Phone   string
	Foreign bool
	// Name is the new contact's name (an existing contact keeps its own).
	Name       string
	ChannelID  uuid.UUID
	TemplateID uuid.UUID
	Variables  map[string]string
	// Open opens the conversation's attendance, assigned to the calling user (an API key's
	// waits in the queue).
	Open bool
}

// Result is what a new chat did.
type Result struct {
	ContactID      uuid.UUID
	ContactCreated bool
	Message        send.Queued
	// Attendance is the open attendance when Open was asked.
	Attendance *conversation.Attendance
	// AgentID is who serves it (nil: nobody yet).
	AgentID *uuid.UUID
}

// Service starts new chats.
type Service struct {
	q        *store.Queries
	clock    clock.Clock
	contacts *contact.Service
	send     *send.Service
}

// NewService returns a Service.
func NewService(clk clock.Clock, contacts *contact.Service, sender *send.Service) *Service {
	return &Service{q: store.New(), clock: clk, contacts: contacts, send: sender}
}

// Number reads the typed number: with foreign, as international; a number outside Brazil
// without foreign is refused, so a missing area code is never taken for a country code.
func Number(raw string, foreign bool) (string, error) {
	raw = strings.TrimSpace(raw)
	if foreign && !strings.HasPrefix(raw, "+") {
		raw = "+" + strings.TrimPrefix(raw, "00")
	}
	n, err := phone.Normalize(raw)
	if err != nil {
		return "", fault.Invalid("invalid phone number", fault.FieldError{Field: "body.phone", Message: err.Error()})
	}
	if n.Foreign && !foreign {
		return "", fault.Invalid("the number is not Brazilian: set foreign to send to it",
			fault.FieldError{Field: "body.foreign", Message: "must be true for a number outside Brazil"})
	}
	return n.E164, nil
}

// Start runs a new chat in tx (the caller commits, then wakes the line's dispatcher): the
// contact found by the number or created, the template queued by send.Service.Send, and the
// attendance opened when asked. Any refusal leaves nothing behind once tx rolls back.
func (s *Service) Start(ctx context.Context, tx pgx.Tx, req Request) (Result, error) {
	number, err := Number(req.Phone, req.Foreign)
	if err != nil {
		return Result{}, err
	}
	var out Result
	out.ContactID, err = s.q.GetContactIDByPhone(ctx, tx, store.GetContactIDByPhoneParams{AccountID: req.AccountID, Phone: number})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		origin := contact.OriginAPI
		if req.UserID != nil {
			origin = contact.OriginManual
		}
		c, err := s.contacts.CreateTx(ctx, tx, req.AccountID, contact.Fields{Name: req.Name, Phones: []string{number}, Origin: origin})
		if err != nil {
			return Result{}, err
		}
		out.ContactID, out.ContactCreated = c.ID, true
	case err != nil:
		return Result{}, fmt.Errorf("find contact by phone: %w", err)
	}
	tid := req.TemplateID
	out.Message, err = s.send.Send(ctx, tx, send.Request{AccountID: req.AccountID, ContactID: &out.ContactID, ChannelID: req.ChannelID,
		TemplateID: &tid, Variables: req.Variables, UserID: req.UserID, APIKeyID: req.APIKeyID})
	if err != nil {
		return Result{}, err
	}
	if !req.Open {
		return out, nil
	}
	now := s.clock.Now().UTC()
	by := "api"
	if req.UserID != nil {
		by = "agent"
	}
	a, _, err := conversation.OpenAttendance(ctx, tx, req.AccountID, out.Message.ConversationID, out.Message.ChannelID, by, now)
	if err != nil {
		return Result{}, err
	}
	out.Attendance = &a
	if req.UserID != nil {
		if _, err := queue.AssignIfUnassigned(ctx, tx, req.AccountID, a.ConversationID, *req.UserID, "new_chat", now); err != nil {
			return Result{}, err
		}
	}
	agent, err := s.q.LockConversationForAssign(ctx, tx, store.LockConversationForAssignParams{AccountID: req.AccountID, ID: a.ConversationID})
	if err != nil {
		return Result{}, fmt.Errorf("read conversation %s: %w", a.ConversationID, err)
	}
	out.AgentID = agent.AgentID
	return out, nil
}
