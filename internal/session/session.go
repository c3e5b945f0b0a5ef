// Package session decides what may be sent to a WhatsApp contact: free-form messages only inside
// the 24-hour service session that the contact's own messages open and renew, and templates at
// any time, each opening a 24-hour session of its category unless one is already open. It is a
// pure function of the conversation's history, so the send path, the conversation view and the
// expiry sweep all answer the same.
package session

import (
	"errors"
	"maps"
	"time"
)

// Length is how long a session lasts after the message that opens it.
const Length = 24 * time.Hour

// ExpiringBefore is how long before the service session ends the conversation is tagged as
// expiring.
const ExpiringBefore = 30 * time.Minute

// Category is a template category, which opens sessions of its own.
type Category string

// The template categories.
const (
	Marketing      Category = "marketing"
	Utility        Category = "utility"
	Authentication Category = "authentication"
)

// Categories lists every Category.
var Categories = []Category{Marketing, Utility, Authentication}

// State is what a conversation's history says about sessions. The zero State is a
// conversation in which nothing has happened.
type State struct {
	// ServiceExpiresAt is when the service session opened by the contact's latest message
	// ends; zero when the contact never wrote.
	ServiceExpiresAt time.Time
	// Opened holds, per category, when the session opened by a template of that category
	// ends (it may be in the past).
	Opened map[Category]time.Time
}

// Inbound is the state after the contact wrote at t: the service session runs for Length from
// t. An older message (a webhook that arrived late) never shortens it.
func (s State) Inbound(t time.Time) State {
	if end := t.Add(Length); end.After(s.ServiceExpiresAt) {
		s.ServiceExpiresAt = end
	}
	return s
}

// Template is the state after a template of category c was sent at t, and whether it opened a
// session: it does when no session of its category is open at t. Free-form stays as it was:
// only the contact's messages open the service session.
func (s State) Template(c Category, t time.Time) (State, bool) {
	if end, ok := s.Opened[c]; ok && t.Before(end) {
		return s, false
	}
	opened := make(map[Category]time.Time, len(s.Opened)+1)
	maps.Copy(opened, s.Opened)
	opened[c] = t.Add(Length)
	s.Opened = opened
	return s, true
}

// FreeFormAllowed reports whether a free-form message (text, media, reaction, contact card)
// may be sent at t: only inside the service session.
func (s State) FreeFormAllowed(t time.Time) bool {
	return t.Before(s.ServiceExpiresAt)
}

// OpenAt lists the category sessions open at t, with when each ends.
func (s State) OpenAt(t time.Time) map[Category]time.Time {
	out := map[Category]time.Time{}
	for c, end := range s.Opened {
		if t.Before(end) {
			out[c] = end
		}
	}
	return out
}

// ErrOutsideSession refuses a free-form message outside the service session.
var ErrOutsideSession = errors.New("the contact has not written in the last 24 hours: free-form messages are refused outside the service session; send an approved template instead")

// CheckFreeForm is nil when a free-form message may be sent at t, else ErrOutsideSession.
func (s State) CheckFreeForm(t time.Time) error {
	if s.FreeFormAllowed(t) {
		return nil
	}
	return ErrOutsideSession
}

// Tag is the session-expiry tag a conversation carries at t: "Expirando" from ExpiringBefore
// before the service session ends, "Expirado" once it has ended, and none before, or when the
// contact never wrote.
func (s State) Tag(t time.Time) string {
	switch {
	case s.ServiceExpiresAt.IsZero():
		return ""
	case !t.Before(s.ServiceExpiresAt):
		return TagExpired
	case !t.Before(s.ServiceExpiresAt.Add(-ExpiringBefore)):
		return TagExpiring
	}
	return ""
}

// The system tags of session expiry.
const (
	TagExpiring = "Expirando"
	TagExpired  = "Expirado"
)
