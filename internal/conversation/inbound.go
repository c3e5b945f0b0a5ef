package conversation

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/channel"
	"github.com/conversa-hq/conversa/internal/consent"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/phone"
	"github.com/conversa-hq/conversa/internal/provider"
	"github.com/conversa-hq/conversa/internal/session"
)

// Inbound is one message event the webhook drain recorded for the first time.
type Inbound struct {
	AccountID uuid.UUID
	ChannelID uuid.UUID
	Message   *provider.InboundMessage
	// At is when the provider says it happened.
	At time.Time
}

// Reply is a contact's message, handed to the CampaignLinker.
type Reply struct {
	AccountID      uuid.UUID
	ConversationID uuid.UUID
	ContactID      uuid.UUID
	ChannelID      uuid.UUID
	MessageID      uuid.UUID
	At             time.Time
}

// CampaignLinker links contacts' replies to the campaign that reached them (setting
// conversations.last_campaign_id and the message's campaign_id), inside the drain's
// transaction. The campaigns work implements it; it is called once per batch with every
// reply of the batch.
type CampaignLinker interface {
	LinkReplies(ctx context.Context, tx pgx.Tx, replies []Reply) error
}

// noLinker links nothing: no campaign has reached anyone yet.
type noLinker struct{}

func (noLinker) LinkReplies(context.Context, pgx.Tx, []Reply) error { return nil }

// phoneAddressed are the channel types whose sender address is a phone number, so an inbound
// message finds an existing contact by its phone.
var phoneAddressed = map[channel.Type]bool{channel.WhatsApp: true, channel.SMS: true}

// msgKinds maps a provider's inbound kind to the message kind stored.
var msgKinds = map[string]string{
	"text": "text", "image": "media", "audio": "media", "video": "media", "document": "media", "sticker": "media",
	"location": "location", "contacts": "contact", "reaction": "reaction", "button": "interactive", "interactive": "interactive",
}

// ApplyInbound takes a drained batch's new message events (contacts' messages and echoes)
// into conversations, inside the batch's transaction and set-based: a fixed handful of
// statements per batch whatever its size. It finds or creates each sender's contact, drops
// (and records) messages of blocked contacts, upserts the conversations, opens an attendance
// with a protocol number on each closed conversation a contact wrote to, appends the
// messages, renews the service session (contacts' messages only, never backwards), records
// the implicit consent of a contact's first WhatsApp message, acts on opt-out and double
// opt-in keywords, hands replies to the CampaignLinker and emits the events. Each event
// comes here once (the drain records provider events by key before applying them).
func (s *Service) ApplyInbound(ctx context.Context, tx pgx.Tx, in []Inbound) error {
	if len(in) == 0 {
		return nil
	}
	now := s.clock.Now()
	b := &batch{s: s, tx: tx, now: now, in: in}
	steps := []func(context.Context) error{b.resolve, b.conversations, b.attendances, b.messages, b.consents, b.link}
	for _, step := range steps {
		if err := step(ctx); err != nil {
			return err
		}
	}
	return nil
}

type senderKey struct {
	account, channel uuid.UUID
	address          string
}

type convKey struct {
	account, contact, channel uuid.UUID
}

type sender struct {
	contactID uuid.UUID
	blocked   bool
}

// conv is one conversation's share of the batch.
type conv struct {
	key       convKey
	msgs      []int // indexes into batch.in, in time order
	address   string
	row       store.UpsertInboundConversationsRow
	opened    *Attendance
	attending *uuid.UUID
}

// batch carries one ApplyInbound call through its steps.
type batch struct {
	s   *Service
	tx  pgx.Tx
	now time.Time
	in  []Inbound

	types   map[uuid.UUID]channel.Type
	senders map[senderKey]sender
	convs   map[convKey]*conv
	order   []convKey
	// inserted are the messages stored (their ids by index into in).
	inserted map[int]uuid.UUID
}

func (b *batch) sender(i int) senderKey {
	e := b.in[i]
	return senderKey{e.AccountID, e.ChannelID, e.Message.From}
}

// channelTypes returns the type of each channel, from the cache when it has them all: a
// channel's type never changes, and the drain should not ask for it every batch.
func (s *Service) channelTypes(ctx context.Context, db store.DBTX, ids []uuid.UUID) (map[uuid.UUID]channel.Type, error) {
	out := make(map[uuid.UUID]channel.Type, len(ids))
	var missing []uuid.UUID
	for _, id := range ids {
		if t, ok := s.types.Load(id); ok {
			out[id] = t.(channel.Type)
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := s.q.InboundChannelTypes(ctx, db, missing)
	if err != nil {
		return nil, fmt.Errorf("read channel types: %w", err)
	}
	for _, r := range rows {
		out[r.ID] = channel.Type(r.Type)
		s.types.Store(r.ID, channel.Type(r.Type))
	}
	return out, nil
}

// resolve finds or creates the contact of every distinct sender in one statement.
func (b *batch) resolve(ctx context.Context) error {
	var chIDs []uuid.UUID
	seenCh := map[uuid.UUID]bool{}
	for _, e := range b.in {
		if !seenCh[e.ChannelID] {
			seenCh[e.ChannelID] = true
			chIDs = append(chIDs, e.ChannelID)
		}
	}
	types, err := b.s.channelTypes(ctx, b.tx, chIDs)
	if err != nil {
		return err
	}
	b.types = types
	p := store.ResolveInboundSendersParams{Now: b.now}
	seen := map[senderKey]bool{}
	person := map[string]uuid.UUID{}
	lockOf, pos := map[senderKey]int64{}, map[senderKey]int{}
	for i, e := range b.in {
		k := b.sender(i)
		if seen[k] {
			continue
		}
		seen[k] = true
		var e164 string
		if phoneAddressed[b.types[e.ChannelID]] {
			if n, err := phone.Normalize(e.Message.From); err == nil {
				e164 = n.E164
			}
		}
		name := strings.TrimSpace(e.Message.FromName)
		if name == "" || e.Message.Echo { // an echo's profile name is the business's
			name = cmp.Or(e164, e.Message.From)
		}
		if utf8.RuneCountInString(name) > 200 {
			name = string([]rune(name)[:200])
		}
		who := e.AccountID.String() + "|" + e.ChannelID.String() + "|" + e.Message.From
		if e164 != "" {
			who = e.AccountID.String() + "|" + e164
		}
		id, ok := person[who]
		if !ok {
			id = uuid.Must(uuid.NewV7())
			person[who] = id
		}
		h := fnv.New64a()
		h.Write([]byte(who))
		lockOf[k], pos[k] = int64(h.Sum64()), len(p.AccountIds)
		p.AccountIds, p.ChannelIds, p.Addresses = append(p.AccountIds, e.AccountID), append(p.ChannelIds, e.ChannelID), append(p.Addresses, e.Message.From)
		p.Phones, p.Names, p.NewIds = append(p.Phones, e164), append(p.Names, name), append(p.NewIds, id)
	}
	// Known senders (the steady state) take one statement; new ones are created under a
	// lock, and asked for again in case a concurrent drain created them meanwhile.
	res, err := b.s.q.ResolveInboundSenders(ctx, b.tx, p)
	if err != nil {
		return fmt.Errorf("find the senders' contacts: %w", err)
	}
	b.senders = make(map[senderKey]sender, len(res))
	missing := store.ResolveInboundSendersParams{Now: b.now, CreateMissing: true}
	var locks []int64
	for _, r := range res {
		k := senderKey{r.AccountID, r.ChannelID, r.Address}
		if !r.Created {
			b.senders[k] = sender{contactID: r.ContactID, blocked: r.Blocked}
			continue
		}
		i, ok := pos[k]
		if !ok {
			return fmt.Errorf("sender %s came back unasked", r.Address)
		}
		missing.AccountIds, missing.ChannelIds, missing.Addresses = append(missing.AccountIds, r.AccountID), append(missing.ChannelIds, r.ChannelID), append(missing.Addresses, r.Address)
		missing.Phones, missing.Names, missing.NewIds = append(missing.Phones, p.Phones[i]), append(missing.Names, p.Names[i]), append(missing.NewIds, p.NewIds[i])
		locks = append(locks, lockOf[k])
	}
	if len(locks) == 0 {
		return nil
	}
	if err := b.s.q.LockInboundSenders(ctx, b.tx, locks); err != nil {
		return fmt.Errorf("lock the new senders: %w", err)
	}
	if res, err = b.s.q.ResolveInboundSenders(ctx, b.tx, missing); err != nil {
		return fmt.Errorf("create the senders' contacts: %w", err)
	}
	for _, r := range res {
		b.senders[senderKey{r.AccountID, r.ChannelID, r.Address}] = sender{contactID: r.ContactID, blocked: r.Blocked}
	}
	return nil
}

// conversations records blocked contacts' messages aside and upserts one conversation per
// contact and channel with what the batch says about it.
func (b *batch) conversations(ctx context.Context) error {
	idx := make([]int, len(b.in))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(x, y int) int { return b.in[x].At.Compare(b.in[y].At) })
	b.convs = map[convKey]*conv{}
	blocked := store.InsertBlockedMessagesParams{}
	for _, i := range idx {
		e := b.in[i]
		snd, ok := b.senders[b.sender(i)]
		if !ok {
			return fmt.Errorf("sender %s of message %s was not resolved", e.Message.From, e.Message.ID)
		}
		if snd.blocked {
			payload, err := json.Marshal(e.Message)
			if err != nil {
				return fmt.Errorf("encode blocked message %s: %w", e.Message.ID, err)
			}
			blocked.AccountIds, blocked.Ids, blocked.ChannelIds = append(blocked.AccountIds, e.AccountID), append(blocked.Ids, uuid.Must(uuid.NewV7())), append(blocked.ChannelIds, e.ChannelID)
			blocked.ContactIds, blocked.ProviderMessageIds = append(blocked.ContactIds, snd.contactID), append(blocked.ProviderMessageIds, e.Message.ID)
			blocked.Payloads, blocked.ReceivedAts = append(blocked.Payloads, payload), append(blocked.ReceivedAts, e.At)
			continue
		}
		k := convKey{e.AccountID, snd.contactID, e.ChannelID}
		c, ok := b.convs[k]
		if !ok {
			c = &conv{key: k}
			b.convs[k] = c
			b.order = append(b.order, k)
		}
		c.msgs = append(c.msgs, i)
		c.address = e.Message.From
	}
	if len(blocked.Ids) > 0 {
		if err := b.s.q.InsertBlockedMessages(ctx, b.tx, blocked); err != nil {
			return fmt.Errorf("record blocked contacts' messages: %w", err)
		}
	}
	if len(b.order) == 0 {
		return nil
	}
	// Key order, so concurrent drains touching the same conversations queue, not deadlock.
	slices.SortFunc(b.order, func(x, y convKey) int {
		return cmp.Or(slices.Compare(x.account[:], y.account[:]), slices.Compare(x.contact[:], y.contact[:]), slices.Compare(x.channel[:], y.channel[:]))
	})
	p := store.UpsertInboundConversationsParams{Now: b.now, ExpiringFrom: b.now.Add(session.ExpiringBefore)}
	for _, k := range b.order {
		c := b.convs[k]
		var last, lastIn time.Time
		var st session.State
		mode, unanswered := "keep", time.Time{}
		for _, i := range c.msgs {
			e := b.in[i]
			last = latest(last, e.At)
			switch {
			case e.Message.Echo:
				// The business answered from the provider's app.
				mode, unanswered = "clear", time.Time{}
			case e.Message.Kind == "reaction":
				// A reaction neither asks nor answers.
			default:
				switch mode {
				case "keep":
					mode, unanswered = "coalesce", e.At
				case "clear":
					mode, unanswered = "set", e.At
				}
			}
			if !e.Message.Echo {
				lastIn = latest(lastIn, e.At)
				st = st.Inbound(e.At)
			}
		}
		p.AccountIds, p.NewIds, p.ContactIds, p.ChannelIds = append(p.AccountIds, k.account), append(p.NewIds, uuid.Must(uuid.NewV7())), append(p.ContactIds, k.contact), append(p.ChannelIds, k.channel)
		p.Addresses, p.LastMessageAts, p.LastInboundAts = append(p.Addresses, c.address), append(p.LastMessageAts, last), append(p.LastInboundAts, lastIn)
		p.ServiceExpiresAts, p.UnansweredModes, p.UnansweredAts = append(p.ServiceExpiresAts, st.ServiceExpiresAt), append(p.UnansweredModes, mode), append(p.UnansweredAts, unanswered)
	}
	rows, err := b.s.q.UpsertInboundConversations(ctx, b.tx, p)
	if err != nil {
		return fmt.Errorf("upsert conversations: %w", err)
	}
	for _, r := range rows {
		c := b.convs[convKey{r.AccountID, r.ContactID, r.ChannelID}]
		if c == nil {
			return fmt.Errorf("conversation %s came back unasked", r.ID)
		}
		c.row = r
		c.attending = r.AttendanceID
		if r.Status != "open" {
			c.attending = nil
		}
	}
	untagged := map[uuid.UUID][]event.New{}
	for _, k := range b.order {
		c := b.convs[k]
		if c.row.ID == uuid.Nil {
			// Deleted while this batch waited for its row (a merge folded it away): fail
			// the batch, whose retry finds the contact the identity now names. Messages
			// are never written to a conversation that is gone.
			return fmt.Errorf("conversation of contact %s on channel %s went away meanwhile; retry the batch", k.contact, k.channel)
		}
		if c.row.Untagged {
			convID := c.row.ID
			untagged[k.account] = append(untagged[k.account], event.New{Type: EventConversationUntagged, SubjectID: &convID, Data: map[string]any{
				"conversation_id": convID, "contact_id": k.contact, "channel_id": k.channel, "tags": []string{session.TagExpiring, session.TagExpired},
			}})
		}
	}
	return b.emit(ctx, untagged)
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// attendances opens an attendance, numbered by the account's protocol format, on each closed
// conversation that a contact's message (not an echo, not a reaction) reached.
func (b *batch) attendances(ctx context.Context) error {
	var opening []*conv
	accounts := map[uuid.UUID]bool{}
	for _, k := range b.order {
		c := b.convs[k]
		if c.row.Status == "open" {
			continue
		}
		for _, i := range c.msgs {
			if m := b.in[i].Message; !m.Echo && m.Kind != "reaction" {
				opening = append(opening, c)
				accounts[k.account] = true
				break
			}
		}
	}
	if len(opening) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(accounts))
	for a := range accounts {
		ids = append(ids, a)
	}
	rows, err := b.s.q.ProtocolFormats(ctx, b.tx, ids)
	if err != nil {
		return fmt.Errorf("read protocol formats: %w", err)
	}
	formats := map[uuid.UUID]Format{}
	for _, r := range rows {
		formats[r.AccountID] = mustFormat(r.Format)
	}
	format := func(a uuid.UUID) Format {
		if f, ok := formats[a]; ok {
			return f
		}
		return mustFormat("")
	}
	type counter struct {
		account uuid.UUID
		period  string
	}
	counts := map[counter]int64{}
	var keys []counter
	for _, c := range opening {
		k := counter{c.key.account, format(c.key.account).Period(b.now)}
		if counts[k] == 0 {
			keys = append(keys, k)
		}
		counts[k]++
	}
	rp := store.ReserveProtocolNumbersParams{}
	for _, k := range keys {
		rp.AccountIds, rp.Periods, rp.Counts = append(rp.AccountIds, k.account), append(rp.Periods, k.period), append(rp.Counts, counts[k])
	}
	reserved, err := b.s.q.ReserveProtocolNumbers(ctx, b.tx, rp)
	if err != nil {
		return fmt.Errorf("reserve protocol numbers: %w", err)
	}
	next := map[counter]int64{}
	for _, r := range reserved {
		k := counter{r.AccountID, r.Period}
		next[k] = r.Last - counts[k] + 1
	}
	op := store.OpenAttendancesParams{Now: b.now, OpenedBy: "inbound"}
	for _, c := range opening {
		k := counter{c.key.account, format(c.key.account).Period(b.now)}
		seq := next[k]
		next[k]++
		a := &Attendance{ID: uuid.Must(uuid.NewV7()), ConversationID: c.row.ID, ContactID: c.key.contact, ChannelID: c.key.channel,
			Protocol: format(c.key.account).Render(b.now, seq), OpenedBy: "inbound", OpenedAt: b.now}
		c.opened, c.attending = a, &a.ID
		op.AccountIds, op.Ids, op.ConversationIds = append(op.AccountIds, c.key.account), append(op.Ids, a.ID), append(op.ConversationIds, a.ConversationID)
		op.Protocols, op.OpenedAts = append(op.Protocols, a.Protocol), append(op.OpenedAts, a.OpenedAt)
	}
	if err := b.s.q.OpenAttendances(ctx, b.tx, op); err != nil {
		return fmt.Errorf("open attendances: %w", err)
	}
	return b.emitOpened(ctx, opening)
}

// messages appends the batch's messages to their conversations and emits message.received
// for each one stored, in one statement.
func (b *batch) messages(ctx context.Context) error {
	p := store.InsertInboundMessagesParams{Now: b.now}
	ids := map[uuid.UUID]int{}
	for _, k := range b.order {
		c := b.convs[k]
		att := uuid.Nil
		if c.attending != nil {
			att = *c.attending
		}
		for _, i := range c.msgs {
			e := b.in[i]
			m := e.Message
			id := idAt(e.At)
			ids[id] = i
			direction := "inbound"
			if m.Echo {
				direction = "echo"
			}
			kind, ok := msgKinds[m.Kind]
			if !ok {
				kind = "unsupported"
			}
			var media string
			if m.Media != nil {
				j, err := json.Marshal(m.Media)
				if err != nil {
					return fmt.Errorf("encode media of message %s: %w", m.ID, err)
				}
				media = string(j)
			}
			p.AccountIds, p.Ids, p.EventIds, p.ContactIds = append(p.AccountIds, k.account), append(p.Ids, id), append(p.EventIds, uuid.Must(uuid.NewV7())), append(p.ContactIds, k.contact)
			p.ConversationIds, p.ChannelIds, p.AttendanceIds = append(p.ConversationIds, c.row.ID), append(p.ChannelIds, k.channel), append(p.AttendanceIds, att)
			p.Directions, p.Kinds, p.ProviderKinds, p.Texts = append(p.Directions, direction), append(p.Kinds, kind), append(p.ProviderKinds, m.Kind), append(p.Texts, m.Text)
			p.Medias, p.ProviderMessageIds, p.ReplyTos, p.CreatedAts = append(p.Medias, media), append(p.ProviderMessageIds, m.ID), append(p.ReplyTos, m.ReplyTo), append(p.CreatedAts, e.At)
		}
	}
	if len(p.Ids) == 0 {
		return nil
	}
	stored, err := b.s.q.InsertInboundMessages(ctx, b.tx, p)
	if err != nil {
		return fmt.Errorf("append messages: %w", err)
	}
	b.inserted = make(map[int]uuid.UUID, len(stored))
	for _, id := range stored {
		b.inserted[ids[id]] = id
	}
	return nil
}

// idAt is a UUIDv7 stamped with t rather than with now: message ids sort by when messages
// happened, so a conversation pages newest first by id, stably, even when a webhook arrives
// late.
func idAt(t time.Time) uuid.UUID {
	id := uuid.Must(uuid.NewV7())
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	copy(id[:6], ms[2:])
	return id
}

// consents records the implicit consent of contacts whose first message on WhatsApp this
// batch carries, then acts on opt-out and double opt-in keywords.
func (b *batch) consents(ctx context.Context) error {
	firsts := map[uuid.UUID][]consent.FirstInbound{}
	seen := map[uuid.UUID]bool{}
	for _, k := range b.order {
		c := b.convs[k]
		if !c.row.FirstInbound || b.types[k.channel] != channel.WhatsApp || seen[k.contact] {
			continue
		}
		for _, i := range c.msgs {
			if e := b.in[i]; !e.Message.Echo {
				seen[k.contact] = true
				firsts[k.account] = append(firsts[k.account], consent.FirstInbound{ContactID: k.contact, At: b.notAfterNow(e.At), MessageRef: e.Message.ID})
				break
			}
		}
	}
	for _, acct := range sortedKeys(firsts) {
		if _, err := b.s.consent.RecordFirstInboundMany(ctx, b.tx, acct, channel.WhatsApp, firsts[acct]); err != nil {
			return err
		}
	}
	settings := map[uuid.UUID]*consent.Settings{}
	for _, k := range b.order {
		for _, i := range b.convs[k].msgs {
			e := b.in[i]
			if e.Message.Echo || e.Message.Kind != "text" || !oneWord(e.Message.Text) {
				continue
			}
			set, ok := settings[k.account]
			if !ok {
				got, err := b.s.consent.GetSettings(ctx, b.tx, k.account)
				if err != nil {
					return fmt.Errorf("read consent keywords: %w", err)
				}
				set = &got
				settings[k.account] = set
			}
			if set.Keyword(e.Message.Text) == consent.NoAction {
				continue
			}
			res, err := b.s.consent.HandleReply(ctx, b.tx, k.account, k.contact, b.types[k.channel], e.Message.Text, b.notAfterNow(e.At))
			if err != nil {
				return fmt.Errorf("act on keyword of message %s: %w", e.Message.ID, err)
			}
			if err := b.confirm(ctx, k, e.Message.From, res.Reply); err != nil {
				return fmt.Errorf("confirm keyword of message %s: %w", e.Message.ID, err)
			}
		}
	}
	return nil
}

// confirm queues the account's confirmation of an opt-out or opt-in keyword (the consent
// settings' reply; nothing when it is empty) as an ordinary outbound text in the contact's
// conversation: the line's dispatcher sends it like any other message, inside the service
// session the keyword itself just opened.
func (b *batch) confirm(ctx context.Context, k convKey, address, reply string) error {
	if strings.TrimSpace(reply) == "" {
		return nil
	}
	queued := "queued"
	_, err := b.s.q.QueueMessage(ctx, b.tx, store.QueueMessageParams{
		AccountID: k.account, ID: uuid.Must(uuid.NewV7()), ChannelID: k.channel, Direction: "outbound", Kind: "text",
		Text: reply, Payload: []byte("{}"), Status: &queued, StatusAt: &b.now, SendAfter: &b.now, CreatedAt: b.now,
		NewConversationID: uuid.Must(uuid.NewV7()), ContactID: k.contact, Address: address,
	})
	return err
}

// notAfterNow clamps a provider's timestamp to now for consent evidence, which may not be
// dated in the future: a provider's clock may run ahead of ours.
func (b *batch) notAfterNow(t time.Time) time.Time {
	if t.After(b.now) {
		return b.now
	}
	return t
}

// oneWord is a cheap first test for a keyword: short and without inner spaces.
func oneWord(s string) bool {
	s = strings.TrimSpace(s)
	return s != "" && len(s) <= 120 && !strings.ContainsAny(s, " \t\n")
}

func sortedKeys[V any](m map[uuid.UUID]V) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) })
	return out
}

// link hands the batch's stored replies to the CampaignLinker.
func (b *batch) link(ctx context.Context) error {
	var replies []Reply
	for _, k := range b.order {
		c := b.convs[k]
		for _, i := range c.msgs {
			id, ok := b.inserted[i]
			if !ok || b.in[i].Message.Echo {
				continue
			}
			replies = append(replies, Reply{AccountID: k.account, ConversationID: c.row.ID, ContactID: k.contact, ChannelID: k.channel, MessageID: id, At: b.in[i].At})
		}
	}
	if len(replies) == 0 || b.s.Linker == nil {
		return nil
	}
	if err := b.s.Linker.LinkReplies(ctx, b.tx, replies); err != nil {
		return fmt.Errorf("link replies to campaigns: %w", err)
	}
	return nil
}

// emitOpened writes conversation.opened for each attendance opened, one statement per
// account, before the messages' events.
func (b *batch) emitOpened(ctx context.Context, opening []*conv) error {
	evs := map[uuid.UUID][]event.New{}
	for _, c := range opening {
		a, convID := c.opened, c.row.ID
		evs[c.key.account] = append(evs[c.key.account], event.New{Type: EventConversationOpened, SubjectID: &convID, Data: map[string]any{
			"conversation_id": convID, "attendance_id": a.ID, "protocol": a.Protocol, "contact_id": c.key.contact, "channel_id": c.key.channel,
		}})
	}
	return b.emit(ctx, evs)
}

// emit writes each account's events, one statement per account, accounts in key order.
func (b *batch) emit(ctx context.Context, evs map[uuid.UUID][]event.New) error {
	for _, acct := range sortedKeys(evs) {
		if err := event.Emit(ctx, b.tx, acct, b.now, evs[acct]...); err != nil {
			return err
		}
	}
	return nil
}
