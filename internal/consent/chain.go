package consent

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"time"
)

// chainVersion prefixes what is hashed, so a future change of the format is evident. The
// append_consent function in the database seals records with the same prefix.
const chainVersion = "conversa-consent-v2\n"

// chained is what a record's digest covers: every field but its position, in a fixed order.
// The record's hash then covers the digest, the position (seq) and the previous record's hash,
// so changing any stored field, or removing or reordering records, breaks the chain.
type chained struct {
	AccountID      string   `json:"account_id"`
	ID             string   `json:"id"`
	ContactID      string   `json:"contact_id"`
	Action         string   `json:"action"`
	Purposes       []string `json:"purposes"`
	Channels       []string `json:"channels"`
	AllChannels    bool     `json:"all_channels"`
	Explicit       bool     `json:"explicit"`
	Method         string   `json:"method"`
	OccurredAt     string   `json:"occurred_at"`
	RecordedAt     string   `json:"recorded_at"`
	Text           string   `json:"text"`
	IP             string   `json:"ip"`
	UserAgent      string   `json:"user_agent"`
	Source         string   `json:"source"`
	TermsVersion   string   `json:"terms_version"`
	IdentifierKind string   `json:"identifier_kind"`
	Identifier     string   `json:"identifier"`
	RecorderKind   string   `json:"recorder_kind"`
	RecorderID     string   `json:"recorder_id"`
	Confirms       string   `json:"confirms"`
}

// computeHash returns the hash that chains r after its predecessor (r.PrevHash).
func computeHash(r Record) []byte {
	return sealHash(contentDigest(r), r.Seq, r.PrevHash)
}

// sealHash is SHA-256 over the version prefix, the digest of a record's fields, its position
// (8 bytes, big-endian) and the previous record's hash, exactly as append_consent computes it.
func sealHash(digest []byte, seq int, prev []byte) []byte {
	h := sha256.New()
	h.Write([]byte(chainVersion))
	h.Write(digest)
	var pos [8]byte
	binary.BigEndian.PutUint64(pos[:], uint64(seq))
	h.Write(pos[:])
	h.Write(prev)
	return h.Sum(nil)
}

// contentDigest is SHA-256 over the canonical JSON of a record's fields but its position.
func contentDigest(r Record) []byte {
	c := chained{
		AccountID: r.AccountID.String(), ID: r.ID.String(), ContactID: r.ContactID.String(),
		Action: string(r.Action), Purposes: make([]string, len(r.Purposes)), Channels: make([]string, len(r.Channels)),
		AllChannels: r.AllChannels, Explicit: r.Explicit, Method: string(r.Method),
		OccurredAt: stamp(r.OccurredAt), RecordedAt: stamp(r.RecordedAt),
		Text: r.Text, IP: r.IP, UserAgent: r.UserAgent, Source: r.Source, TermsVersion: r.TermsVersion,
		IdentifierKind: r.IdentifierKind, Identifier: r.Identifier,
		RecorderKind: r.Recorder.Kind, RecorderID: r.Recorder.ID,
	}
	for i, p := range r.Purposes {
		c.Purposes[i] = string(p)
	}
	for i, ch := range r.Channels {
		c.Channels[i] = string(ch)
	}
	if r.Confirms != nil {
		c.Confirms = r.Confirms.String()
	}
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return sum[:]
}

// stamp writes a time as PostgreSQL stores it (UTC, microseconds), so a hash computed before
// the insert matches one computed from the stored row.
func stamp(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z")
}

// Seal places r after prev in its contact's chain (prev nil for the first record): it sets
// Seq, PrevHash and Hash from r's other fields. It is for bulk loads of history, such as
// records migrated from another system, which are then inserted as they are; Record and
// RecordTx seal what they append themselves.
func Seal(r *Record, prev *Record) {
	r.Seq, r.PrevHash = 1, nil
	if prev != nil {
		r.Seq, r.PrevHash = prev.Seq+1, prev.Hash
	}
	r.OccurredAt = r.OccurredAt.UTC().Truncate(time.Microsecond)
	r.RecordedAt = r.RecordedAt.UTC().Truncate(time.Microsecond)
	r.Hash = computeHash(*r)
}
