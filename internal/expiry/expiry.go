// Package expiry tags conversations whose WhatsApp service session is running out: Expirando
// 30 minutes before the session ends, Expirado once it has ended (replacing Expirando), and
// neither again once the contact writes and renews it (DESIGN §4, WhatsApp sessions).
//
// It is a sweep by index, not a job per message: a periodic River job (inserted by the
// elected leader only) walks the partial index conversations_session_tag_due in short
// transactions of at most BatchSize rows locked FOR UPDATE SKIP LOCKED, so no lock is held
// long and the inbound path never waits behind a whole sweep. Each conversation carries its
// step in conversations.session_tag (0 nothing applied, 1 Expirando, 2 Expirado, 3 not
// WhatsApp, 4 renewed while tagged); the inbound pipeline only writes that column (0 or 4
// when a contact's message renews the session), and this package does the rest. A step
// moves a row forward once, so running the sweep twice changes nothing.
package expiry

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/session"
)

// The tag names (system tags of DESIGN §4, named by internal/session so the conversation
// view and the sweep agree), created in an account the first time one of its conversations
// needs them, automation-only.
const (
	TagExpiring = session.TagExpiring
	TagExpired  = session.TagExpired
)

// The events a sweep emits, one per conversation whose tags changed.
const (
	// EventTagged: a session tag was put on (data: tag, tag_id, and replaced when Expirado
	// took Expirando's place).
	EventTagged = "conversation.tagged"
	// EventUntagged: the contact renewed the session and the session tags came off.
	EventUntagged = "conversation.untagged"
)

// The session_tag states (see the package comment).
const (
	stateNone     = 0
	stateExpiring = 1
	stateExpired  = 2
	stateNotWA    = 3
	stateRenewed  = 4
)

// Defaults.
const (
	// Warning is how long before the session ends Expirando goes on.
	Warning = session.ExpiringBefore
	// BatchSize is the most conversations one transaction locks and tags: at about 10 µs a
	// row it holds its locks well under 50 ms.
	BatchSize = 5000
	// Every is how often the leader runs the sweep: a session is tagged at most this long
	// (plus the sweep's own run) after its threshold.
	Every = time.Minute
)

// Sweeper runs the sweep.
type Sweeper struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	// BatchSize overrides the default BatchSize when positive.
	BatchSize int
}

// NewSweeper returns a Sweeper on pool, on clk's time.
func NewSweeper(pool *pgxpool.Pool, clk clock.Clock) *Sweeper {
	return &Sweeper{pool: pool, q: store.New(), clock: clk}
}

// Stats is what one sweep did.
type Stats struct {
	// Rows is how many conversations moved a step (tags changed, or marked not WhatsApp).
	Rows int
	// Tagged and Untagged count the events emitted.
	Tagged, Untagged int
	Batches          int
	// LongestBatch is the longest transaction: the longest any lock was held.
	LongestBatch time.Duration
}

// Sweep applies every step due at the clock's time, a batch per transaction, until none is
// left or ctx ends.
func (s *Sweeper) Sweep(ctx context.Context) (Stats, error) {
	size := s.BatchSize
	if size <= 0 {
		size = BatchSize
	}
	now := s.clock.Now()
	var st Stats
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		began := time.Now()
		n, tagged, untagged, err := s.batch(ctx, now, size)
		if err != nil {
			return st, err
		}
		if n == 0 {
			return st, nil
		}
		st.LongestBatch = max(st.LongestBatch, time.Since(began))
		st.Rows, st.Tagged, st.Untagged, st.Batches = st.Rows+n, st.Tagged+tagged, st.Untagged+untagged, st.Batches+1
		if n < size {
			return st, nil
		}
	}
}

// batch moves up to size conversations a step in one transaction: claim and advance their
// state, create the accounts' session tags if missing, put on and take off the tags, emit the
// events.
func (s *Sweeper) batch(ctx context.Context, now time.Time, size int) (n, tagged, untagged int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		soon := now.Add(Warning)
		rows, err := s.q.ClaimSessionTagSteps(ctx, tx, store.ClaimSessionTagStepsParams{Now: &now, Soon: &soon, Batch: int32(size)})
		if err != nil {
			return fmt.Errorf("claim session tag steps: %w", err)
		}
		n = len(rows)
		var accounts []uuid.UUID
		for _, r := range rows {
			if r.NewTag != stateNotWA && !slices.Contains(accounts, r.AccountID) {
				accounts = append(accounts, r.AccountID)
			}
		}
		if len(accounts) == 0 {
			return nil
		}
		ids, err := s.tagIDs(ctx, tx, accounts, now)
		if err != nil {
			return err
		}
		var p store.ApplySessionTagsParams
		add := func(r store.ClaimSessionTagStepsRow, on, off uuid.UUID) {
			p.AccountIds, p.ConversationIds = append(p.AccountIds, r.AccountID), append(p.ConversationIds, r.ID)
			p.AddTagIds, p.RemoveTagIds = append(p.AddTagIds, on), append(p.RemoveTagIds, off)
		}
		events := make([]event.Stamped, 0, len(rows))
		for _, r := range rows {
			t := ids[r.AccountID]
			id := r.ID
			data := map[string]any{"conversation_id": r.ID, "contact_id": r.ContactID, "channel_id": r.ChannelID, "service_expires_at": r.ServiceExpiresAt}
			switch r.NewTag {
			case stateExpiring:
				add(r, t.expiring, t.expired)
				data["tag"], data["tag_id"] = TagExpiring, t.expiring
				events = append(events, event.Stamped{AccountID: r.AccountID, At: now, New: event.New{Type: EventTagged, SubjectID: &id, Data: data}})
				tagged++
			case stateExpired:
				add(r, t.expired, t.expiring)
				data["tag"], data["tag_id"] = TagExpired, t.expired
				if r.OldTag == stateExpiring {
					data["replaced"] = TagExpiring
				}
				events = append(events, event.Stamped{AccountID: r.AccountID, At: now, New: event.New{Type: EventTagged, SubjectID: &id, Data: data}})
				tagged++
			case stateNone: // renewed while tagged
				add(r, uuid.Nil, t.expiring)
				add(r, uuid.Nil, t.expired)
				data["tags"] = []string{TagExpiring, TagExpired}
				events = append(events, event.Stamped{AccountID: r.AccountID, At: now, New: event.New{Type: EventUntagged, SubjectID: &id, Data: data}})
				untagged++
			}
		}
		if len(p.ConversationIds) > 0 {
			p.Now = now
			if err := s.q.ApplySessionTags(ctx, tx, p); err != nil {
				return fmt.Errorf("apply session tags: %w", err)
			}
		}
		return event.EmitAll(ctx, tx, events)
	})
	return n, tagged, untagged, err
}

// sessionTags are one account's Expirando and Expirado tag ids.
type sessionTags struct{ expiring, expired uuid.UUID }

// tagIDs returns each account's session tags, creating those missing (automation-only).
func (s *Sweeper) tagIDs(ctx context.Context, tx pgx.Tx, accounts []uuid.UUID, now time.Time) (map[uuid.UUID]sessionTags, error) {
	slices.SortFunc(accounts, func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) })
	if err := s.q.EnsureSessionTags(ctx, tx, store.EnsureSessionTagsParams{AccountIds: accounts, Now: now}); err != nil {
		return nil, fmt.Errorf("create session tags: %w", err)
	}
	rows, err := s.q.SessionTagIDs(ctx, tx, accounts)
	if err != nil {
		return nil, fmt.Errorf("read session tags: %w", err)
	}
	out := make(map[uuid.UUID]sessionTags, len(accounts))
	for _, r := range rows {
		t := out[r.AccountID]
		if r.Name == "expirando" {
			t.expiring = r.ID
		} else {
			t.expired = r.ID
		}
		out[r.AccountID] = t
	}
	for _, a := range accounts {
		if t := out[a]; t.expiring == uuid.Nil || t.expired == uuid.Nil {
			return nil, fmt.Errorf("session tags of account %s missing after creating them", a)
		}
	}
	return out, nil
}

// Args asks for one sweep. The leader inserts it every Every (a periodic job); the unique
// states keep one waiting or running at a time however many processes run.
type Args struct{}

// Kind names the job in river_job.
func (Args) Kind() string { return "session_expiry_sweep" }

// InsertOpts keeps one sweep pending or running at a time.
func (Args) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// Worker runs Args jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	Sweeper *Sweeper
}

// Work runs one sweep.
func (w *Worker) Work(ctx context.Context, _ *river.Job[Args]) error {
	_, err := w.Sweeper.Sweep(ctx)
	return err
}

// PeriodicJob is the sweep's schedule, for the River client's PeriodicJobs (run by the
// elected leader only), starting with one at start-up.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(Every), func() (river.JobArgs, *river.InsertOpts) {
		return Args{}, nil
	}, &river.PeriodicJobOpts{ID: "session_expiry_sweep", RunOnStart: true})
}
