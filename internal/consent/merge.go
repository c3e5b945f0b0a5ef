package consent

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
)

// CarryOverTx gives the survivor of a contact merge the consent the merged contact had.
// Records are proof and never move to another chain: instead, for every purpose and channel
// on which the merged contact's chain decided later than the survivor's (or where the
// survivor's never decided), a record is appended to the survivor's chain repeating the
// deciding record (same action, method, time and evidence) with its source naming the
// original. The survivor's chain alone then gives its state and verifies, and points at the
// proof, which stays on the merged contact's chain. On a tie in time a revocation wins: a
// person who said no on one duplicate is not opted in by the other. Both chains stay locked
// until the transaction ends; it returns the records appended.
func (s *Service) CarryOverTx(ctx context.Context, tx pgx.Tx, accountID, from, to uuid.UUID, by Recorder) ([]Record, error) {
	first, second := from, to
	if bytes.Compare(second[:], first[:]) < 0 {
		first, second = second, first
	}
	for _, id := range []uuid.UUID{first, second} {
		if err := s.lock(ctx, tx, accountID, id); err != nil {
			return nil, err
		}
	}
	theirs, err := s.chain(ctx, tx, accountID, from)
	if err != nil {
		return nil, err
	}
	ours, err := s.chain(ctx, tx, accountID, to)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []Record
	for _, c := range carryOver(theirs, ours) {
		src := c.source
		e := Entry{
			Action: src.Action, Purposes: []Purpose{c.purpose}, Channels: c.channels,
			AllChannels: len(c.channels) == len(channel.Types), Method: src.Method, OccurredAt: src.OccurredAt,
			Text: src.Text, IP: src.IP, UserAgent: src.UserAgent, TermsVersion: src.TermsVersion,
			IdentifierKind: src.IdentifierKind, Identifier: src.Identifier,
			Source: fmt.Sprintf("merge of contact %s: carries record %s (seq %d)", from, src.ID, src.Seq),
		}
		if e.AllChannels {
			e.Channels = nil
		}
		rec, err := s.append(ctx, tx, accountID, to, e, c.explicit, by, now)
		if err != nil {
			return nil, fmt.Errorf("carry consent record %s to %s: %w", src.ID, to, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// chain reads a contact's whole chain in order.
func (s *Service) chain(ctx context.Context, tx pgx.Tx, accountID, contactID uuid.UUID) ([]Record, error) {
	rows, err := s.q.ListContactConsents(ctx, tx, store.ListContactConsentsParams{
		AccountID: accountID, ContactID: contactID, AfterSeq: 0, MaxRows: 1 << 30,
	})
	if err != nil {
		return nil, fmt.Errorf("read consent chain of %s: %w", contactID, err)
	}
	out := make([]Record, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// carried is one record to append to the survivor: one purpose, the channels it takes over
// from one source record, and the explicitness in force there.
type carried struct {
	source   Record
	purpose  Purpose
	channels []channel.Type
	explicit bool
}

// carryOver decides what the survivor (ours) takes from the merged contact (theirs), in the
// order the source records occurred, so that appending them leaves the survivor's Replay
// equal to: for each pair, the later of the two decisions.
func carryOver(theirs, ours []Record) []carried {
	byID := func(h []Record) map[uuid.UUID]Record {
		m := make(map[uuid.UUID]Record, len(h))
		for _, r := range h {
			m[r.ID] = r
		}
		return m
	}
	theirRecs, ourRecs := byID(theirs), byID(ours)
	ourState := Replay(ours)
	type group struct {
		record   uuid.UUID
		purpose  Purpose
		explicit bool
	}
	groups := map[group][]channel.Type{}
	for k, st := range Replay(theirs) {
		src := theirRecs[st.RecordID]
		if cur, ok := ourState[k]; ok {
			mine := ourRecs[cur.RecordID]
			switch {
			case st.Status == StatusPending && cur.Status == Granted:
				continue // a pending request never downgrades a grant in force
			case src.OccurredAt.Before(mine.OccurredAt):
				continue
			case src.OccurredAt.Equal(mine.OccurredAt) && !(st.Status == Revoked && cur.Status != Revoked):
				continue
			}
		}
		g := group{st.RecordID, k.Purpose, st.Explicit}
		groups[g] = append(groups[g], k.Channel)
	}
	out := make([]carried, 0, len(groups))
	for g, chans := range groups {
		slices.Sort(chans)
		out = append(out, carried{source: theirRecs[g.record], purpose: g.purpose, channels: chans, explicit: g.explicit})
	}
	slices.SortFunc(out, func(a, b carried) int {
		if c := a.source.OccurredAt.Compare(b.source.OccurredAt); c != 0 {
			return c
		}
		if c := a.source.Seq - b.source.Seq; c != 0 {
			return c
		}
		return cmp.Compare(a.purpose, b.purpose)
	})
	return out
}
