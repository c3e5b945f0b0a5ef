// Package distribution gives waiting conversations to agents by itself, for the segments set
// to automatic distribution (DESIGN §4 Segments: distribution manual or automatic).
//
// A waiting conversation (open, no agent, no department) whose attendance's deciding segment
// (the contact's highest-priority segment when the attendance opened, see internal/sla) is
// automatic goes, in queue order, to one of the agents who serve that segment (its users and
// the members of its departments, as internal/segment stores them) who is available and holds
// fewer open conversations than its capacity: the one with the fewest, ties going to the one
// given work least recently (round robin). Each agent has an availability (available or away,
// PATCH /v1/me; away until set, so nobody absent gets work) and a capacity (the account's
// default, overridable per user).
//
// A run assigns one conversation per transaction, through internal/queue's assignment (the
// same update and conversation.assigned event, by "distribution"). The conversation's row is
// taken FOR UPDATE SKIP LOCKED, as the agents' Next takes it, so a run and a Next, or two runs,
// never give one conversation twice; runs of one account take turns on an advisory lock, so
// the open conversations each counts against capacities are the ones committed before it.
//
// When it runs: a periodic River job the elected leader inserts every Every visits each
// account with an automatic segment, which picks up conversations that started waiting
// within Every without adding a job insert to the inbound drain (the hot path that opens
// attendances). An agent becoming available, a capacity changed and a close of an agent's
// conversation (internal/closing) enqueue a run for the account in their own transaction
// (Kick), so freed or new capacity is used at once.
package distribution

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/conversa-hq/conversa/db/store"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/fault"
	"github.com/conversa-hq/conversa/internal/queue"
)

// The availabilities of an agent.
const (
	// Available agents are given conversations.
	Available = "available"
	// Away agents are not (the state of every user until it says otherwise).
	Away = "away"
)

// Capacities.
const (
	// DefaultCapacity is an account's default capacity until it sets one: how many open
	// conversations an agent holds before the distributor gives it no more.
	DefaultCapacity = 5
	// MaxCapacity bounds a capacity.
	MaxCapacity = 1000
)

// By is how conversation.assigned says the distributor assigned.
const By = "distribution"

// Every is how often the leader runs the distributor over every account that distributes.
const Every = 5 * time.Second

// lockClass is the first key of the distributor's advisory locks (the second is the account's).
const lockClass = 24

// Service distributes conversations and keeps the agents' distribution settings.
type Service struct {
	pool  *pgxpool.Pool
	q     *store.Queries
	clock clock.Clock
	// jobs inserts distributor runs in the caller's transaction: an insert-only River client.
	jobs *river.Client[pgx.Tx]
}

// NewService returns a Service on pool, on clk's time.
func NewService(pool *pgxpool.Pool, clk clock.Clock) *Service {
	jobs, err := river.NewClient(riverpgxv5.New(nil), &river.Config{})
	if err != nil {
		panic(fmt.Sprintf("insert-only river client: %v", err)) // only a bad config fails, and this one is fixed
	}
	return &Service{pool: pool, q: store.New(), clock: clk, jobs: jobs}
}

func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }

// Given is one conversation a run gave.
type Given struct {
	ConversationID uuid.UUID
	AgentID        uuid.UUID
	SegmentID      uuid.UUID
}

// Distribute gives the account's waiting conversations of automatic segments to agents until
// none is left that an agent can take, one transaction each, and returns what it gave.
func (s *Service) Distribute(ctx context.Context, accountID uuid.UUID) ([]Given, error) {
	var out []Given
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		g, ok, err := s.giveOne(ctx, accountID)
		if err != nil {
			return out, err
		}
		if !ok {
			return out, nil
		}
		out = append(out, g)
	}
}

func (s *Service) giveOne(ctx context.Context, accountID uuid.UUID) (Given, bool, error) {
	var g Given
	var ok bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.q.LockDistribution(ctx, tx, store.LockDistributionParams{Class: lockClass, AccountKey: accountID.String()}); err != nil {
			return fmt.Errorf("wait for the account's distributor: %w", err)
		}
		now := s.now()
		r, err := s.q.PickDistribution(ctx, tx, store.PickDistributionParams{AccountID: accountID,
			DefaultCapacity: DefaultCapacity, DueBefore: now.Add(queue.AppointmentLead)})
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pick a conversation to distribute: %w", err)
		}
		if err := queue.Give(ctx, tx, accountID, r.ID, r.UserID, r.DepartmentID, now, By); err != nil {
			return err
		}
		if err := s.q.TouchAgentAssigned(ctx, tx, store.TouchAgentAssignedParams{AccountID: accountID, UserID: r.UserID, Now: &now}); err != nil {
			return fmt.Errorf("record the assignment to agent %s: %w", r.UserID, err)
		}
		g, ok = Given{ConversationID: r.ID, AgentID: r.UserID, SegmentID: r.SegmentID}, true
		return nil
	})
	return g, ok, err
}

// DistributeAll runs Distribute for every account with a segment set to automatic.
func (s *Service) DistributeAll(ctx context.Context) error {
	accounts, err := s.q.DistributingAccounts(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("list the accounts that distribute: %w", err)
	}
	// One account's failure does not hold up the others; the job retries with every error.
	var errs []error
	for _, a := range accounts {
		if _, err := s.Distribute(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("distribute in account %s: %w", a, err))
		}
	}
	return errors.Join(errs...)
}

// Agent is a user's distribution settings.
type Agent struct {
	UserID       uuid.UUID
	Availability string
	// OwnCapacity is the user's own capacity; nil: the account's default applies.
	OwnCapacity *int
	// Capacity is the capacity that applies.
	Capacity int
}

// GetAgent returns a user's distribution settings.
func (s *Service) GetAgent(ctx context.Context, accountID, userID uuid.UUID) (Agent, error) {
	return s.agent(ctx, s.pool, accountID, userID)
}

func (s *Service) agent(ctx context.Context, db store.DBTX, accountID, userID uuid.UUID) (Agent, error) {
	r, err := s.q.GetAgentSettings(ctx, db, store.GetAgentSettingsParams{AccountID: accountID, UserID: userID, DefaultCapacity: DefaultCapacity})
	if errors.Is(err, pgx.ErrNoRows) {
		return Agent{}, fault.NotFound("user")
	}
	if err != nil {
		return Agent{}, fmt.Errorf("read distribution settings of user %s: %w", userID, err)
	}
	a := Agent{UserID: r.ID, Availability: r.Availability, Capacity: int(r.EffectiveCapacity)}
	if r.Capacity != nil {
		c := int(*r.Capacity)
		a.OwnCapacity = &c
	}
	return a, nil
}

// SetAvailability sets whether the user takes work now. Becoming available runs the
// distributor for the account (a job enqueued in the same transaction).
func (s *Service) SetAvailability(ctx context.Context, accountID, userID uuid.UUID, availability string) (Agent, error) {
	if availability != Available && availability != Away {
		return Agent{}, fault.Invalid("unknown availability", fault.FieldError{Field: "body.availability", Message: "must be available or away", Value: availability})
	}
	return s.change(ctx, accountID, userID, availability == Available, func(tx pgx.Tx) error {
		if err := s.q.SetAvailability(ctx, tx, store.SetAvailabilityParams{AccountID: accountID, UserID: userID, Availability: availability, Now: s.now()}); err != nil {
			return fmt.Errorf("store availability of user %s: %w", userID, err)
		}
		return nil
	})
}

// SetCapacity sets the user's own capacity (nil: the account's default applies) and runs the
// distributor for the account, since the agent may now take more.
func (s *Service) SetCapacity(ctx context.Context, accountID, userID uuid.UUID, capacity *int) (Agent, error) {
	var c *int16
	if capacity != nil {
		if *capacity < 0 || *capacity > MaxCapacity {
			return Agent{}, fault.Invalid("invalid capacity", fault.FieldError{Field: "body.capacity", Message: fmt.Sprintf("must be 0 to %d, or null for the account's default", MaxCapacity), Value: *capacity})
		}
		v := int16(*capacity)
		c = &v
	}
	return s.change(ctx, accountID, userID, true, func(tx pgx.Tx) error {
		n, err := s.q.SetCapacity(ctx, tx, store.SetCapacityParams{AccountID: accountID, UserID: userID, Capacity: c, Now: s.now()})
		if err != nil {
			return fmt.Errorf("store capacity of user %s: %w", userID, err)
		}
		if n == 0 {
			return fault.NotFound("user")
		}
		return nil
	})
}

// change applies set in a transaction, enqueues a distributor run for the account when kick
// says the change may let an agent take work and the account distributes, and returns the
// user's settings as committed.
func (s *Service) change(ctx context.Context, accountID, userID uuid.UUID, kick bool, set func(pgx.Tx) error) (Agent, error) {
	var out Agent
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := set(tx); err != nil {
			return err
		}
		if kick {
			if err := s.enqueue(ctx, tx, accountID); err != nil {
				return err
			}
		}
		var err error
		out, err = s.agent(ctx, tx, accountID, userID)
		return err
	})
	return out, err
}

func (s *Service) enqueue(ctx context.Context, tx pgx.Tx, accountID uuid.UUID) error {
	return Kick(ctx, tx, s.jobs, accountID)
}

// Inserter inserts River jobs in the caller's transaction (a River client).
type Inserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Kick enqueues a distributor run for the account in tx, when the account has a segment set
// to automatic: what a change that may let an agent take work calls (an agent available, a
// capacity changed, an agent's conversation closed), so the work goes out at once rather than
// at the next periodic run.
func Kick(ctx context.Context, tx pgx.Tx, jobs Inserter, accountID uuid.UUID) error {
	ok, err := store.New().AccountDistributes(ctx, tx, accountID)
	if err != nil {
		return fmt.Errorf("read whether account %s distributes: %w", accountID, err)
	}
	if !ok {
		return nil
	}
	if _, err := jobs.InsertTx(ctx, tx, Args{AccountID: accountID}, nil); err != nil {
		return fmt.Errorf("enqueue a distributor run for %s: %w", accountID, err)
	}
	return nil
}

// DefaultCapacityOf returns the account's default capacity (DefaultCapacity until it sets one).
func (s *Service) DefaultCapacityOf(ctx context.Context, accountID uuid.UUID) (int, error) {
	n, err := s.q.GetDefaultCapacity(ctx, s.pool, store.GetDefaultCapacityParams{AccountID: accountID, DefaultCapacity: DefaultCapacity})
	if err != nil {
		return 0, fmt.Errorf("read the default capacity: %w", err)
	}
	return int(n), nil
}

// SetDefaultCapacity sets the account's default capacity (1 to MaxCapacity) and runs the
// distributor for the account.
func (s *Service) SetDefaultCapacity(ctx context.Context, accountID uuid.UUID, capacity int) (int, error) {
	if capacity < 1 || capacity > MaxCapacity {
		return 0, fault.Invalid("invalid default capacity", fault.FieldError{Field: "body.default_capacity", Message: fmt.Sprintf("must be 1 to %d", MaxCapacity), Value: capacity})
	}
	var out int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n, err := s.q.SetDefaultCapacity(ctx, tx, store.SetDefaultCapacityParams{AccountID: accountID, DefaultCapacity: int16(capacity), Now: s.now()})
		if err != nil {
			return fmt.Errorf("store the default capacity: %w", err)
		}
		out = int(n)
		return s.enqueue(ctx, tx, accountID)
	})
	return out, err
}

// Args asks for a distributor run of one account: what an agent becoming available or a
// capacity raised enqueues. Not unique: a kick while a run is under way may have new work for
// it to see, and runs of one account take turns anyway.
type Args struct {
	AccountID uuid.UUID `json:"account_id"`
}

// Kind names the job in river_job.
func (Args) Kind() string { return "distribute" }

// Worker runs Args jobs.
type Worker struct {
	river.WorkerDefaults[Args]
	Service *Service
}

// Work runs the distributor for the account.
func (w *Worker) Work(ctx context.Context, job *river.Job[Args]) error {
	_, err := w.Service.Distribute(ctx, job.Args.AccountID)
	return err
}

// AllArgs asks for a distributor run over every account that distributes: what the leader
// inserts every Every.
type AllArgs struct{}

// Kind names the job in river_job.
func (AllArgs) Kind() string { return "distribute_all" }

// InsertOpts keeps one run over all accounts pending or running at a time.
func (AllArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{UniqueOpts: river.UniqueOpts{ByState: []rivertype.JobState{
		rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled,
	}}}
}

// AllWorker runs AllArgs jobs.
type AllWorker struct {
	river.WorkerDefaults[AllArgs]
	Service *Service
}

// Work runs the distributor for every account that distributes.
func (w *AllWorker) Work(ctx context.Context, _ *river.Job[AllArgs]) error {
	return w.Service.DistributeAll(ctx)
}

// PeriodicJob is the distributor's schedule over every account, for the River client's
// PeriodicJobs (run by the elected leader only), starting with one at start-up.
func PeriodicJob() *river.PeriodicJob {
	return river.NewPeriodicJob(river.PeriodicInterval(Every), func() (river.JobArgs, *river.InsertOpts) {
		return AllArgs{}, nil
	}, &river.PeriodicJobOpts{ID: "distribute_all", RunOnStart: true})
}
