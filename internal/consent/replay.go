package consent

import (
	"github.com/google/uuid"

	"github.com/conversa-hq/conversa/internal/channel"
)

// Key is one purpose on one channel type.
type Key struct {
	Purpose Purpose
	Channel channel.Type
}

// State is the current consent of one purpose on one channel, and the record that set it.
type State struct {
	Status   Status
	Explicit bool
	RecordID uuid.UUID
}

// Replay derives the current state from a contact's history, in chain order. It is the
// definition the projection table must always equal: the latest record decides each
// (purpose, channel) pair, except that a pending double opt-in never downgrades a grant in
// force and an implicit grant never weakens an explicit one in force.
func Replay(history []Record) map[Key]State {
	out := map[Key]State{}
	for _, r := range history {
		status := statusOf(r.Action)
		for _, p := range r.Purposes {
			for _, ch := range r.scope() {
				k := Key{p, ch}
				cur, seen := out[k]
				if seen && status == StatusPending && cur.Status == Granted {
					continue
				}
				explicit := r.Explicit || (seen && status == Granted && cur.Status == Granted && cur.Explicit)
				out[k] = State{Status: status, Explicit: explicit, RecordID: r.ID}
			}
		}
	}
	return out
}

func statusOf(a Action) Status {
	switch a {
	case Grant:
		return Granted
	case Revoke:
		return Revoked
	default:
		return StatusPending
	}
}
