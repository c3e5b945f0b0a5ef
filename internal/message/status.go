// Package message holds what is true of a message whatever channel carries it.
package message

// Status is where an outbound message is in its delivery.
type Status string

// The statuses, in the order a message goes through them; failed ends an attempt.
const (
	Queued    Status = "queued"
	Sent      Status = "sent"
	Delivered Status = "delivered"
	Read      Status = "read"
	Failed    Status = "failed"
)

var rank = map[Status]int{Queued: 0, Sent: 1, Delivered: 2, Read: 3}

// Advance is the status after a status report arrives: providers deliver reports duplicated
// and out of order, so a status only ever moves forward (delivered may be skipped: read
// implies it), a report that would move it back is ignored, failure is final for the attempt,
// and a message the contact received cannot fail afterwards. It returns whether the status
// changed.
func Advance(cur, report Status) (Status, bool) {
	if cur == Failed {
		return cur, false
	}
	if report == Failed {
		if cur == Queued || cur == Sent {
			return Failed, true
		}
		return cur, false
	}
	r, ok := rank[report]
	if !ok || r <= rank[cur] {
		return cur, false
	}
	return report, true
}
