package event_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/event"
	"github.com/conversa-hq/conversa/internal/pgdb/testdb"
)

func TestMain(m *testing.M) { testdb.Main(m) }

// running gives a test a database with one account, the log on it, and a context that ends
// with the test (stopping the publishers and hubs it starts).
func running(t *testing.T) (context.Context, *pgxpool.Pool, account.Account, *event.Log) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	return ctx, pool, a, event.NewLog(pool)
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestNumbersFollowVisibility: a transaction that emitted first but commits last gets the
// later number, so a reader that resumed after the first event still finds the second.
func TestNumbersFollowVisibility(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	log := event.NewLog(pool)
	now := time.Now()

	slow, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, event.Emit(ctx, slow, a.ID, now, event.New{Type: "slow"}))
	require.NoError(t, event.Emit(ctx, pool, a.ID, now, event.New{Type: "fast"}))
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	seen, err := log.List(ctx, a.ID, 0, nil, 100)
	require.NoError(t, err)
	require.Len(t, seen, 1)
	require.Equal(t, "fast", seen[0].Type)

	require.NoError(t, slow.Commit(ctx))
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	rest, err := log.List(ctx, a.ID, seen[0].Seq, nil, 100)
	require.NoError(t, err)
	require.Len(t, rest, 1, "the reader resuming after the first event finds the second")
	require.Equal(t, "slow", rest[0].Type)

	rolledBack, err := pool.Begin(ctx)
	require.NoError(t, err)
	require.NoError(t, event.Emit(ctx, rolledBack, a.ID, now, event.New{Type: "never"}))
	require.NoError(t, rolledBack.Rollback(ctx))
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	rest, err = log.List(ctx, a.ID, rest[0].Seq, nil, 100)
	require.NoError(t, err)
	require.Empty(t, rest, "an event exists only if its transaction committed")
}

// TestLateCommitIsPublishedByTheFullScan: a publish reads the outbox from Backscan ids below
// the last it published, so an event whose transaction took its id before that many later
// events were published, and committed after, is published by the scan from the start that
// follows within FullScanEvery, after them, and is not lost.
func TestLateCommitIsPublishedByTheFullScan(t *testing.T) {
	t.Parallel()
	ctx, pool, a, log := running(t)
	clk := clock.NewManual(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	log.Clock = clk

	slow, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = slow.Rollback(context.Background()) })
	require.NoError(t, event.Emit(ctx, slow, a.ID, clk.Now(), event.New{Type: "slow"}))
	fast := make([]event.New, event.Backscan+1)
	for i := range fast {
		fast[i] = event.New{Type: "fast"}
	}
	require.NoError(t, event.Emit(ctx, pool, a.ID, clk.Now(), fast...))
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	require.NoError(t, slow.Commit(ctx))

	// Within FullScanEvery a publish reads only from near the last id it published.
	lastFast, err := log.Publish(ctx)
	require.NoError(t, err)
	require.Zero(t, lastFast, "the late event lies below where this publish reads")

	clk.Advance(event.FullScanEvery)
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	var all []event.Event
	for after := int64(0); ; {
		page, err := log.List(ctx, a.ID, after, nil, event.MaxPage)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		all, after = append(all, page...), page[len(page)-1].Seq
	}
	require.Equal(t, event.Backscan+2, len(all), "every event published once")
	require.Equal(t, "slow", all[len(all)-1].Type, "the late event numbered after the ones published before it committed")
}

// TestReadersMissNothing emits from many writers while several publishers take turns and a
// reader follows the log by its last seq: it must see every event exactly once, in
// increasing order.
func TestReadersMissNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	log := event.NewLog(pool)
	const writers, each = 8, 300

	done := make(chan struct{})
	var pubs sync.WaitGroup
	for range 3 {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				_, err := log.Publish(ctx)
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	var ws sync.WaitGroup
	for w := range writers {
		ws.Add(1)
		go func() {
			defer ws.Done()
			for i := range each {
				err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
					return event.Emit(ctx, tx, a.ID, time.Now(), event.New{Type: "e", Data: map[string]string{"k": fmt.Sprintf("%d-%d", w, i)}})
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { ws.Wait(); close(writersDone) }()

	seen := map[string]bool{}
	var last int64
	for finished := false; ; {
		select {
		case <-writersDone:
			finished = true
		default:
		}
		page, err := log.List(ctx, a.ID, last, nil, 500)
		require.NoError(t, err)
		for _, e := range page {
			require.Greater(t, e.Seq, last)
			last = e.Seq
			require.False(t, seen[string(e.Data)], "seen twice: %s", e.Data)
			seen[string(e.Data)] = true
		}
		if finished && len(page) == 0 {
			if _, err := log.Publish(ctx); err != nil {
				t.Fatal(err)
			}
			if page, _ := log.List(ctx, a.ID, last, nil, 1); len(page) == 0 && len(seen) == writers*each {
				break
			}
		}
	}
	close(done)
	pubs.Wait()
	require.Len(t, seen, writers*each)
}

func TestHubFansOutByAccount(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	b, err := account.Create(ctx, pool, "B")
	require.NoError(t, err)
	log := event.NewLog(pool)
	// Something published before the hub starts is history, not live.
	require.NoError(t, event.Emit(ctx, pool, a.ID, time.Now(), event.New{Type: "old"}))
	_, err = log.Publish(ctx)
	require.NoError(t, err)

	hub := event.NewHub(pool, quiet)
	hub.PollEvery = time.Hour // only notifications wake it
	go func() { _ = hub.Run(ctx) }()
	subA, since, err := hub.Subscribe(ctx, a.ID)
	require.NoError(t, err)
	defer subA.Close()
	require.Positive(t, since)
	subB, _, err := hub.Subscribe(ctx, b.ID)
	require.NoError(t, err)
	defer subB.Close()

	for i := range 3 {
		require.NoError(t, event.Emit(ctx, pool, a.ID, time.Now(), event.New{Type: fmt.Sprintf("a%d", i)}))
	}
	require.NoError(t, event.Emit(ctx, pool, b.ID, time.Now(), event.New{Type: "b0"}))
	_, err = log.Publish(ctx)
	require.NoError(t, err)

	var got []string
	for len(got) < 3 {
		select {
		case e := <-subA.Events():
			require.Equal(t, a.ID, e.AccountID)
			require.Greater(t, e.Seq, since)
			got = append(got, e.Type)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %v arrived", got)
		}
	}
	require.Equal(t, []string{"a0", "a1", "a2"}, got)
	select {
	case e := <-subB.Events():
		require.Equal(t, "b0", e.Type)
	case <-time.After(10 * time.Second):
		t.Fatal("b's event did not arrive")
	}
	select {
	case e := <-subA.Events():
		t.Fatalf("another account's event leaked: %v", e.Type)
	default:
	}
}

func TestSlowSubscriberIsCutOff(t *testing.T) {
	t.Parallel()
	ctx, pool, a, log := running(t)
	hub := event.NewHub(pool, quiet)
	hub.Buffer = 2
	go func() { _ = hub.Run(ctx) }()
	sub, _, err := hub.Subscribe(ctx, a.ID)
	require.NoError(t, err)
	for range 5 {
		require.NoError(t, event.Emit(ctx, pool, a.ID, time.Now(), event.New{Type: "x"}))
	}
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	select {
	case <-sub.Dropped():
	case <-time.After(10 * time.Second):
		t.Fatal("a subscriber that fell behind was not cut off")
	}
}

func TestVisible(t *testing.T) {
	t.Parallel()
	me, other, sales, support := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	agent := event.Viewer{UserID: me, Departments: []uuid.UUID{sales}}
	for _, tc := range []struct {
		name string
		e    event.Event
		v    event.Viewer
		want bool
	}{
		{"EveryoneEvent", event.Event{}, agent, true},
		{"MyEvent", event.Event{UserID: &me}, agent, true},
		{"SomeoneElses", event.Event{UserID: &other}, agent, false},
		{"MyDepartment", event.Event{DepartmentID: &sales}, agent, true},
		{"AnotherDepartment", event.Event{DepartmentID: &support}, agent, false},
		{"AnotherDepartmentButMine", event.Event{DepartmentID: &support, UserID: &me}, agent, true},
		{"SupervisorSeesAll", event.Event{DepartmentID: &support, UserID: &other}, event.Viewer{All: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) { require.Equal(t, tc.want, tc.v.Visible(tc.e)) })
	}
}

func TestPruneKeepsWhatIsRecentOrStillOwed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	a, err := account.Create(ctx, pool, "A")
	require.NoError(t, err)
	log := event.NewLog(pool)
	require.NoError(t, event.Emit(ctx, pool, a.ID, time.Now(), event.New{Type: "old"}))
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	n, err := event.Prune(ctx, pool, time.Now())
	require.NoError(t, err)
	require.Zero(t, n, "a recent event stays")
	n, err = event.Prune(ctx, pool, time.Now().Add(event.Retention+time.Hour))
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	left, err := log.List(ctx, a.ID, 0, nil, 10)
	require.NoError(t, err)
	require.Empty(t, left)
}

// TestAccountDeletionTakesItsEvents: events have no foreign key to accounts (00035: the
// publisher checked it per event); deleting an account still takes its published and waiting
// events, and leaves another account's.
func TestAccountDeletionTakesItsEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	gone, err := account.Create(ctx, pool, "Gone")
	require.NoError(t, err)
	kept, err := account.Create(ctx, pool, "Kept")
	require.NoError(t, err)
	log := event.NewLog(pool)
	now := time.Now()
	for _, id := range []uuid.UUID{gone.ID, kept.ID} {
		require.NoError(t, event.Emit(ctx, pool, id, now, event.New{Type: "published"}))
	}
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	for _, id := range []uuid.UUID{gone.ID, kept.ID} {
		require.NoError(t, event.Emit(ctx, pool, id, now, event.New{Type: "waiting"}))
	}
	count := func(table string, id uuid.UUID) int {
		var n int
		require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE account_id = $1", id).Scan(&n))
		return n
	}
	require.Equal(t, 1, count("events", gone.ID))
	require.Equal(t, 1, count("event_outbox", gone.ID))

	_, err = pool.Exec(ctx, "DELETE FROM accounts WHERE id = $1", gone.ID)
	require.NoError(t, err)
	require.Zero(t, count("events", gone.ID))
	require.Zero(t, count("event_outbox", gone.ID))
	require.Equal(t, 1, count("events", kept.ID))
	require.Equal(t, 1, count("event_outbox", kept.ID))
}

// TestIdleHubKeepsItsPlace: a hub without subscriptions reads only the highest seq, not the
// events; a stream that subscribes afterwards starts after what was published meanwhile and
// gets what comes next, nothing older.
func TestIdleHubKeepsItsPlace(t *testing.T) {
	t.Parallel()
	ctx, pool, a, log := running(t)
	hub := event.NewHub(pool, quiet)
	hub.PollEvery = 20 * time.Millisecond
	go func() { _ = hub.Run(ctx) }()

	require.NoError(t, event.Emit(ctx, pool, a.ID, time.Now(), event.New{Type: "while idle"}))
	idle, err := log.Publish(ctx)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		sub, since, err := hub.Subscribe(ctx, a.ID)
		require.NoError(t, err)
		sub.Close()
		return since >= idle
	}, 10*time.Second, 50*time.Millisecond, "the idle hub moved past what was published")

	sub, since, err := hub.Subscribe(ctx, a.ID)
	require.NoError(t, err)
	defer sub.Close()
	require.Equal(t, idle, since)
	require.NoError(t, event.Emit(ctx, pool, a.ID, time.Now(), event.New{Type: "live"}))
	_, err = log.Publish(ctx)
	require.NoError(t, err)
	select {
	case e := <-sub.Events():
		require.Equal(t, "live", e.Type, "nothing from before the subscription")
	case <-time.After(10 * time.Second):
		t.Fatal("the live event did not arrive")
	}
}

// TestWakePublishesAtOnce: a publisher whose interval is an hour publishes an event as soon as
// it is woken, as it does after the webhook drain commits.
func TestWakePublishesAtOnce(t *testing.T) {
	t.Parallel()
	ctx, pool, a, log := running(t)
	go log.RunPublisher(ctx, time.Hour, quiet)

	require.NoError(t, event.Emit(ctx, pool, a.ID, time.Now(), event.New{Type: "woken"}))
	log.Wake()
	require.Eventually(t, func() bool {
		evs, err := log.List(ctx, a.ID, 0, nil, 10)
		return err == nil && len(evs) == 1 && evs[0].Type == "woken"
	}, 10*time.Second, 5*time.Millisecond, "published without waiting for the hour's tick")
}
