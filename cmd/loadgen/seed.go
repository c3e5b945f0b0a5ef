package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/conversa-hq/conversa/internal/account"
	"github.com/conversa-hq/conversa/internal/auth"
	"github.com/conversa-hq/conversa/internal/clock"
	"github.com/conversa-hq/conversa/internal/pgdb"
	"github.com/conversa-hq/conversa/internal/phone"
)

// benchDB is the throwaway database every run drops and recreates. It is a constant, not a
// flag, so that a typo can never point the drop at a real database.
const benchDB = "conversa_bench"

const (
	// seedChunk is the number of contacts per COPY transaction: big enough that COPY's
	// per-statement cost vanishes, small enough that a failure says where it happened.
	seedChunk = 25_000
	// maxSeedContacts keeps the seeded numbers, and the POSTs after them, inside the 10^8
	// subscriber numbers of the phone scheme.
	maxSeedContacts = 50_000_000
	// maxAPIKeyRate is the highest rate limit an API key may have; the benchmark must measure
	// the service, not its rate limiter.
	maxAPIKeyRate = 10_000
)

// databaseURL points serverURL, a URL or keyword/value connection string, at database name.
func databaseURL(serverURL, name string) (string, error) {
	if strings.HasPrefix(serverURL, "postgres://") || strings.HasPrefix(serverURL, "postgresql://") {
		u, err := url.Parse(serverURL)
		if err != nil {
			return "", fmt.Errorf("parse database url: %w", err)
		}
		u.Path, u.RawPath = "/"+name, ""
		return u.String(), nil
	}
	// In keyword/value form the last setting of a keyword wins.
	return serverURL + " dbname=" + name, nil
}

// recreateDatabase drops name, closing any session left on it, and creates it empty, so every
// run starts from the same state.
func recreateDatabase(ctx context.Context, serverURL, name string) error {
	if err := dropDatabase(ctx, serverURL, name); err != nil {
		return err
	}
	if err := pgdb.EnsureDatabase(ctx, serverURL, name); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// dropDatabase removes name if it exists, forcing its sessions closed (PostgreSQL 13+).
func dropDatabase(ctx context.Context, serverURL, name string) error {
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return fmt.Errorf("connect to drop %s: %w", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// tenant is the account the benchmark works in and the integrator key it calls the API with.
type tenant struct {
	AccountID uuid.UUID
	APIKey    string
}

// setupTenant creates the account, an admin user and an API key through the same code the
// `conversa account/user/apikey create` commands use, so the key is one the server accepts.
func setupTenant(ctx context.Context, pool *pgxpool.Pool) (tenant, error) {
	acct, err := account.Create(ctx, pool, "Loadgen")
	if err != nil {
		return tenant{}, fmt.Errorf("create account: %w", err)
	}
	user, err := account.CreateUser(ctx, pool, account.NewUser{
		AccountID: acct.ID, Email: "loadgen-admin@example.com", Name: "Loadgen admin",
		Password: "loadgen-admin-password", Role: "admin",
	})
	if err != nil {
		return tenant{}, fmt.Errorf("create admin user: %w", err)
	}
	// Creating a key signs nothing; any key set will do.
	keys, err := auth.ParseKeys(auth.GenerateSeed())
	if err != nil {
		return tenant{}, fmt.Errorf("signing keys: %w", err)
	}
	svc := auth.NewService(pool, keys, clock.System{}, auth.Config{})
	_, secret, err := svc.CreateAPIKey(ctx, acct.ID, auth.NewAPIKey{
		Name: "loadgen", Scopes: []string{string(auth.ContactsRead), string(auth.ContactsWrite), string(auth.ConsentsWrite), string(auth.EventsRead)},
		RateLimit: maxAPIKeyRate, CreatedBy: &user.ID,
	})
	if err != nil {
		return tenant{}, fmt.Errorf("create API key: %w", err)
	}
	return tenant{AccountID: acct.ID, APIKey: secret}, nil
}

// seedStats is how the seeding went.
type seedStats struct {
	Contacts int
	// Copy is the time the COPY transactions took (contacts and their phones); Vacuum the
	// VACUUM ANALYZE after them.
	Copy, Vacuum time.Duration
	// ConsentRecords were seeded by COPY in ConsentCopy (with their projection rows).
	ConsentRecords int
	ConsentCopy    time.Duration
}

// RowsPerSecond is the contacts stored per second of COPY, each with its phone row.
func (s seedStats) RowsPerSecond() float64 { return float64(s.Contacts) / s.Copy.Seconds() }

// seedContacts stores n contacts with one phone each in the account and returns their ids in
// creation order. Ids are UUIDv7 made in increasing order, as the service makes them, so the
// i-th id is the i-th contact of a listing. Chunks are copied by workers in parallel, each
// chunk in one transaction (contacts first: the phones reference them).
//
// VACUUM ANALYZE follows: ANALYZE gives the planner statistics for a million rows, and VACUUM
// sets hint bits and the visibility map now, instead of the first reads paying for them or an
// autovacuum of the freshly inserted rows starting in the middle of a measurement.
func seedContacts(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, n, workers int) ([]uuid.UUID, seedStats, error) {
	ids := make([]uuid.UUID, n)
	for i := range ids {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, seedStats{}, fmt.Errorf("make id %d: %w", i, err)
		}
		ids[i] = id
		if i > 0 && bytes.Compare(ids[i-1][:], id[:]) >= 0 {
			return nil, seedStats{}, fmt.Errorf("UUIDv7 ids not increasing at %d (clock went back?)", i)
		}
	}

	start := time.Now()
	chunks := (n + seedChunk - 1) / seedChunk
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1)) - 1
				if c >= chunks || ctx.Err() != nil {
					return
				}
				lo, hi := c*seedChunk, min((c+1)*seedChunk, n)
				if err := copyChunk(ctx, pool, accountID, ids[lo:hi], lo); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("seed chunk %d: %w", c, err); cancel() })
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, seedStats{}, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, seedStats{}, err
	}
	st := seedStats{Contacts: n, Copy: time.Since(start)}

	start = time.Now()
	if err := vacuumCounted(ctx, pool, int64(n), "contacts", "contact_phones"); err != nil {
		return nil, seedStats{}, err
	}
	st.Vacuum = time.Since(start)
	return ids, st, nil
}

// vacuumCounted runs VACUUM (ANALYZE) on tables once PostgreSQL's statistics count, for each,
// at least the given number of rows inserted since it was created. A connection reports what its
// transactions did up to seconds after they commit (at most once a second, later when it sits
// idle in the pool); a VACUUM that comes first resets the table's counters before the inserts
// reach them, and autovacuum then sees them all as new and vacuums and analyzes the table
// again at its next visit, a minute after the database was made: in the middle of a
// measurement. Seen on 2026-12-04 at 16:43: the contacts seeded by COPY vacuumed and analyzed
// by autovacuum during the paced send phase (docs/benchmarks.md, issue 6).
func vacuumCounted(ctx context.Context, pool *pgxpool.Pool, rows int64, tables ...string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var short int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM unnest($1::text[]) t(name)
			LEFT JOIN pg_stat_user_tables s ON s.schemaname = 'public' AND s.relname = t.name
			WHERE coalesce(s.n_tup_ins, 0) < $2`, tables, rows).Scan(&short); err != nil {
			return fmt.Errorf("read insert counts: %w", err)
		}
		if short == 0 {
			break
		}
		if time.Now().After(deadline) {
			logf("the statistics of %d of %v do not count their %d rows after 30 s; vacuuming anyway", short, tables, rows)
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) "+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("vacuum analyze %v: %w", tables, err)
	}
	return nil
}

// copyChunk stores the contacts with ids (numbered from first) and their phones in one
// transaction.
func copyChunk(ctx context.Context, pool *pgxpool.Pool, accountID uuid.UUID, ids []uuid.UUID, first int) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		rows, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"},
			[]string{"account_id", "id", "name", "customer_code", "tags", "custom"},
			pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) {
				n := first + i
				return []any{accountID, ids[i], contactName(n), seedCode(n), seedTags(n), seedCustom(n)}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy contacts: %w", err)
		}
		if rows != int64(len(ids)) {
			return fmt.Errorf("copy contacts: stored %d of %d", rows, len(ids))
		}
		rows, err = tx.CopyFrom(ctx, pgx.Identifier{"contact_phones"},
			[]string{"account_id", "phone", "contact_id", "position"},
			pgx.CopyFromSlice(len(ids), func(i int) ([]any, error) {
				return []any{accountID, canonicalMobile(int64(first + i)), ids[i], int16(1)}, nil
			}))
		if err != nil {
			return fmt.Errorf("copy phones: %w", err)
		}
		if rows != int64(len(ids)) {
			return fmt.Errorf("copy phones: stored %d of %d", rows, len(ids))
		}
		return nil
	})
}

var (
	firstNames = []string{"Maria", "José", "Ana", "João", "Antônio", "Francisca", "Carlos", "Adriana",
		"Paulo", "Juliana", "Lucas", "Márcia", "Pedro", "Fernanda", "Rafael", "Patrícia"}
	lastNames = []string{"Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira",
		"Lima", "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Lopes", "Soares"}
)

// contactName makes a realistic, varied name for contact n (names feed a trigram index, so
// their length and spread matter to the seeding cost).
func contactName(n int) string {
	return firstNames[n%len(firstNames)] + " " + lastNames[(n/len(firstNames))%len(lastNames)] + " " +
		lastNames[(n/7)%len(lastNames)]
}

// seedTags gives every third contact the tag "vip", for the segment count.
func seedTags(n int) []string {
	if n%3 == 0 {
		return []string{"vip"}
	}
	return []string{}
}

// seedCustom gives each contact a "limite" custom value from 0 to 9 999, for the segment count.
func seedCustom(n int) string { return fmt.Sprintf(`{"limite": %d}`, (n*7919)%10000) }

// seedCode is the customer code of seeded contact n; POSTed contacts use postCode, a
// different prefix, so the two never clash.
func seedCode(n int) string { return fmt.Sprintf("SEED-%09d", n) }

// postCode is the customer code of the contact created with phone number n.
func postCode(n int64) string { return fmt.Sprintf("POST-%09d", n) }

// Phone numbers are São Paulo mobiles, +55 11 9XXXX-XXXX: the subscriber number of a
// Brazilian mobile starts with 9, and the eight digits after it count the contacts, so every
// number is unique. Seeded contacts take 0..N-1; POSTs (HTTP and raw alike) take the numbers
// after them from one counter.

// canonicalMobile is number n in the E.164 form the service stores.
func canonicalMobile(n int64) string { return fmt.Sprintf("+55119%08d", n) }

// writtenMobile is number n as a person would type it; the service must normalise it to
// canonicalMobile(n).
func writtenMobile(n int64) string {
	d := fmt.Sprintf("%08d", n)
	return "+55 11 9" + d[:4] + "-" + d[4:]
}

// checkPhoneScheme makes sure, before any work, that the numbers the benchmark will use are
// valid mobiles that the service normalises to the form the seed stores.
func checkPhoneScheme(seeded int64) error {
	for _, n := range []int64{0, 1, seeded - 1, seeded, seeded + 12_345, maxPhoneNumber - 1} {
		got, err := phone.Normalize(writtenMobile(n))
		if err != nil {
			return fmt.Errorf("phone scheme: %s: %w", writtenMobile(n), err)
		}
		if got.E164 != canonicalMobile(n) || got.Foreign {
			return fmt.Errorf("phone scheme: %s normalises to %s, want %s", writtenMobile(n), got.E164, canonicalMobile(n))
		}
	}
	return nil
}

// maxPhoneNumber bounds the counter: eight digits after the 9.
const maxPhoneNumber = 100_000_000

// counter hands out unique phone numbers (and with them customer codes) to concurrent
// creators.
type counter struct{ next atomic.Int64 }

// newCounter starts a counter at first.
func newCounter(first int64) *counter {
	c := &counter{}
	c.next.Store(first)
	return c
}

// Next returns an unused number, or an error once the scheme's numbers run out.
func (c *counter) Next() (int64, error) {
	n := c.next.Add(1) - 1
	if n >= maxPhoneNumber {
		return 0, fmt.Errorf("phone numbers exhausted (%d)", n)
	}
	return n, nil
}

// scenarioDatabase recreates the database name on cfg's server for one scenario (each runs in
// its own, so another engineer's run of a different scenario does not collide with it), opens
// a pool of cfg.DBMaxConns on it exactly as the server does, and migrates it. done closes the
// pool and, unless -keep-db, drops the database, even after Ctrl-C.
func scenarioDatabase(ctx context.Context, cfg config, name string) (pool *pgxpool.Pool, url string, done func(), err error) {
	url, err = databaseURL(cfg.DatabaseURL, name)
	if err != nil {
		return nil, "", nil, err
	}
	logf("creating database %s", name)
	if err := recreateDatabase(ctx, cfg.DatabaseURL, name); err != nil {
		return nil, "", nil, err
	}
	drop := func() {
		if cfg.KeepDB {
			return
		}
		dropCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if derr := dropDatabase(dropCtx, cfg.DatabaseURL, name); derr != nil {
			logf("%v", derr)
		}
	}
	pool, err = pgdb.Open(ctx, url, int32(cfg.DBMaxConns))
	if err != nil {
		drop()
		return nil, "", nil, fmt.Errorf("open %s: %w", name, err)
	}
	if err := pgdb.Migrate(ctx, pool, nil); err != nil {
		pool.Close()
		drop()
		return nil, "", nil, fmt.Errorf("migrate %s: %w", name, err)
	}
	return pool, url, func() { pool.Close(); drop() }, nil
}

// settle leaves freshly seeded tables as a measured server usually has them: vacuumed and
// analyzed (hint bits set, the visibility map current, the planner's statistics true), and
// the seeding's dirty pages written out by a CHECKPOINT taken now. Without it a phase measured
// right after seeding pays for the checkpoint that the seeding's WAL sets off (max_wal_size)
// and for the first reads' hint-bit writes.
func settle(ctx context.Context, pool *pgxpool.Pool, tables string) error {
	for _, q := range []string{"VACUUM ANALYZE " + tables, "CHECKPOINT"} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return fmt.Errorf("settle the seeded data (%s): %w", q, err)
		}
	}
	return nil
}
