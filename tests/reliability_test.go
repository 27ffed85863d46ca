package tests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
)

// envLongTests enables the long variants of the reliability tests:
// CREDVAULT_LONG_TESTS=1 go test -run 'Race|Restart' .
const envLongTests = "CREDVAULT_LONG_TESTS"

// longTests reports whether the long variants should run.
func longTests() bool { return os.Getenv(envLongTests) != "" }

// shortOrLong returns long when the long variants run, short otherwise.
func shortOrLong[T any](short, long T) T {
	if longTests() {
		return long
	}
	return short
}

// A regHistory records calls on one credential with logical timestamps taken
// from one counter: a call with start > another's end began after that
// one had returned. Histories are checked against the guarantees of a
// single register that every reader and writer shares: see checkRegister.
type regHistory struct {
	clock  atomic.Int64
	mu     sync.Mutex
	writes []regWrite
	reads  []regRead
	byVal  map[string]int // value -> index in writes
}

type regWrite struct {
	start, end int64
	err        error
}

type regRead struct {
	start, end int64
	value      string
	err        error
}

// newHistory returns a regHistory whose first write is the initial value,
// stored before any other call.
func newHistory(initial string) *regHistory {
	return &regHistory{writes: []regWrite{{}}, byVal: map[string]int{initial: 0}}
}

func (h *regHistory) tick() int64 { return h.clock.Add(1) }

// beginWrite registers value before the call that writes it starts, so a
// reader racing the call can already map what it reads back to it.
func (h *regHistory) beginWrite(value string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes = append(h.writes, regWrite{start: h.tick(), end: -1})
	h.byVal[value] = len(h.writes) - 1
	return len(h.writes) - 1
}

func (h *regHistory) endWrite(i int, err error) {
	end := h.tick()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.writes[i].end, h.writes[i].err = end, err
}

func (h *regHistory) addRead(r regRead) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reads = append(h.reads, r)
}

// checkRegister checks the successful reads of h against its writes, all
// of which must have returned nil, and returns the first violation:
//   - a read returns a value that was written, by a write that started
//     before the read ended;
//   - a read never returns a stale value: one whose write had been
//     overwritten, before the read started, by a write that both started
//     after it and ended before the read began, or by a value that an
//     earlier read had already returned and that was written after it.
//
// A final read taken after every write returned thus holds one of the
// writes that no other write strictly followed: the last write in commit
// order, whichever goroutine made it.
func checkRegister(h *regHistory) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, w := range h.writes {
		if w.err != nil {
			return fmt.Errorf("write %d failed: %w", i, w.err)
		}
	}
	// After event.at, every value whose write ended before event.bound is
	// stale.
	type event struct{ at, bound int64 }
	var events []event
	for _, w := range h.writes[1:] {
		events = append(events, event{w.end, w.start})
	}
	for _, r := range h.reads {
		if wi, ok := h.byVal[r.value]; ok && r.err == nil {
			events = append(events, event{r.end, h.writes[wi].start})
		}
	}
	sort.Slice(events, func(i, j int) bool { return events[i].at < events[j].at })
	maxBound := make([]int64, len(events)) // max bound of events[:i+1]
	for i, e := range events {
		maxBound[i] = e.bound
		if i > 0 {
			maxBound[i] = max(maxBound[i], maxBound[i-1])
		}
	}
	staleBefore := func(at int64) int64 {
		i := sort.Search(len(events), func(i int) bool { return events[i].at >= at })
		if i == 0 {
			return 0
		}
		return maxBound[i-1]
	}
	for n, r := range h.reads {
		if r.err != nil {
			continue
		}
		wi, ok := h.byVal[r.value]
		switch {
		case !ok:
			return fmt.Errorf("read %d returned a value nobody wrote", n)
		case h.writes[wi].start >= r.end:
			return fmt.Errorf("read %d returned write %d, which started after the read ended", n, wi)
		case h.writes[wi].end < staleBefore(r.start):
			return fmt.Errorf("read %d returned write %d, overwritten before the read began", n, wi)
		}
	}
	return nil
}

// TestCheckRegister shows that checkRegister catches what it looks for.
func TestCheckRegister(t *testing.T) {
	// w1 [1,2], w2 [3,4]; reads as given.
	hist := func(reads ...regRead) *regHistory {
		h := newHistory("v0")
		for _, v := range []string{"v1", "v2"} {
			h.endWrite(h.beginWrite(v), nil)
		}
		h.clock.Store(100)
		h.reads = reads
		return h
	}
	require.NoError(t, checkRegister(hist(regRead{start: 0, end: 1, value: "v0"}, regRead{start: 2, end: 3, value: "v1"},
		regRead{start: 5, end: 6, value: "v2"})))
	require.ErrorContains(t, checkRegister(hist(regRead{start: 5, end: 6, value: "v9"})), "nobody wrote")
	require.ErrorContains(t, checkRegister(hist(regRead{start: 1, end: 3, value: "v2"})), "started after")
	require.ErrorContains(t, checkRegister(hist(regRead{start: 5, end: 6, value: "v1"})), "overwritten")
	require.ErrorContains(t, checkRegister(hist(regRead{start: 5, end: 6, value: "v0"})), "overwritten")
	// v2 was seen by a read that ended at 6: v1 is stale after that, even
	// for a read that overlaps w2.
	require.ErrorContains(t, checkRegister(hist(regRead{start: 2, end: 6, value: "v2"}, regRead{start: 7, end: 8, value: "v1"})),
		"overwritten")
	h := hist()
	h.writes[1].err = errors.New("boom")
	require.ErrorContains(t, checkRegister(h), "write 1 failed")
}

// TestRotateRetrieveRace has 16 goroutines rotating one credential through
// fresh values while 16 others read it. No call fails, every read returns a
// value that was written, no read goes back in time (see checkRegister),
// and the final value is that of a rotation no other rotation followed.
// CREDVAULT_LONG_TESTS=1 runs it for 5 s instead of 1 s.
func TestRotateRetrieveRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	const writers, readers = 16, 16
	pool := testutil.NewPool(t, db.URL, writers+readers, "credvault-race", nil)
	c, _ := setup(t, on(pool, db.Schema))

	initial := testutil.NewSecret()
	id, err := c.Store(ctx, "race/rotate", initial, "")
	require.NoError(t, err)
	h := newHistory(initial)

	// A producer makes the values, so that writers spend their time in
	// Rotate.
	duration := shortOrLong(time.Second, 5*time.Second)
	values := make(chan string, 256)
	stop := make(chan struct{})
	go func() {
		defer close(values)
		for {
			select {
			case values <- testutil.NewSecret():
			case <-stop:
				return
			}
		}
	}()
	time.AfterFunc(duration, func() { close(stop) })

	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for v := range values {
				i := h.beginWrite(v)
				h.endWrite(i, c.Rotate(ctx, id, v))
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for !testutil.Closed(stop) {
				start := h.tick()
				v, err := c.Retrieve(ctx, id)
				h.addRead(regRead{start: start, end: h.tick(), value: v, err: err})
			}
		})
	}
	wg.Wait()

	// The final read, after every rotation returned.
	start := h.tick()
	final, err := c.Retrieve(ctx, id)
	h.addRead(regRead{start: start, end: h.tick(), value: final, err: err})

	for i, r := range h.reads {
		require.NoError(t, r.err, "read %d", i)
	}
	require.NoError(t, checkRegister(h))
	t.Logf("%d rotations, %d reads in %v (2 cores)", len(h.writes)-1, len(h.reads), duration)
	require.Greater(t, len(h.writes), writers, "every writer rotated at least once")

	// A rotation made alone is the value from then on.
	last := testutil.NewSecret()
	require.NoError(t, c.Rotate(ctx, id, last))
	testutil.RequireValue(t, c, id, last, "the last rotation is not what is read")
}

// TestDeleteRetrieveRace deletes credentials while 16 goroutines read them,
// 2 rotate them and 4 delete them at once. Reads return a value that was
// written or ErrNotFound, nothing else, and ErrNotFound for good once a
// delete has returned; reads that ended before any delete began succeeded;
// rotations return nil or ErrNotFound and never bring a deleted credential
// back; every delete returns nil. CREDVAULT_LONG_TESTS=1 runs 50 rounds
// instead of 8.
func TestDeleteRetrieveRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	const readers, rotators, deleters = 16, 2, 4
	pool := testutil.NewPool(t, db.URL, readers+rotators+deleters, "credvault-race", nil)
	c, _ := setup(t, on(pool, db.Schema))

	var nReads, nNotFound, nRotations int
	defer func() {
		t.Logf("%d reads (%d not found), %d rotations (2 cores)", nReads, nNotFound, nRotations)
	}()
	for round := range shortOrLong(8, 50) {
		initial := testutil.NewSecret()
		id, err := c.Store(ctx, fmt.Sprintf("race/delete/%d", round), initial, "")
		require.NoError(t, err)
		h := newHistory(initial)

		var (
			wg          sync.WaitGroup
			deleteStart atomic.Int64 // earliest tick at which a delete started
			deleteEnd   atomic.Int64 // earliest tick at which a delete had returned
			gone        = make(chan struct{})
			goneOnce    sync.Once
			errsMu      sync.Mutex
			rotateErrs  []error
			deleteErrs  []error
			readsBefore sync.WaitGroup // each reader's first read
		)
		readsBefore.Add(readers)
		for range readers {
			wg.Go(func() {
				first := true
				for {
					start := h.tick()
					v, err := c.Retrieve(ctx, id)
					h.addRead(regRead{start: start, end: h.tick(), value: v, err: err})
					if first {
						first = false
						readsBefore.Done()
					}
					select {
					case <-gone:
						if err != nil { // ErrNotFound, or a failure reported below
							return
						}
					default:
					}
				}
			})
		}
		for range rotators {
			wg.Go(func() {
				for {
					v := testutil.NewSecret()
					i := h.beginWrite(v)
					err := c.Rotate(ctx, id, v)
					h.endWrite(i, nil) // checkRegister sees a write that may or may not have happened
					errsMu.Lock()
					rotateErrs = append(rotateErrs, err)
					errsMu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
		readsBefore.Wait() // every reader is running
		for range deleters {
			wg.Go(func() {
				storeMin(&deleteStart, h.tick())
				err := c.Delete(ctx, id)
				storeMin(&deleteEnd, h.tick())
				goneOnce.Do(func() { close(gone) })
				errsMu.Lock()
				deleteErrs = append(deleteErrs, err)
				errsMu.Unlock()
			})
		}
		wg.Wait()

		require.Len(t, deleteErrs, deleters)
		for _, err := range deleteErrs {
			require.NoError(t, err, "round %d: delete", round)
		}
		for _, err := range rotateErrs {
			if err != nil {
				require.ErrorIs(t, err, vault.ErrNotFound, "round %d: rotate", round)
			}
		}
		nReads, nRotations = nReads+len(h.reads), nRotations+len(rotateErrs)
		for i, r := range h.reads {
			if r.err != nil {
				nNotFound++
				require.ErrorIs(t, r.err, vault.ErrNotFound, "round %d: read %d", round, i)
				require.Greater(t, r.end, deleteStart.Load(), "round %d: read %d failed before any delete began", round, i)
				continue
			}
			require.Less(t, r.start, deleteEnd.Load(), "round %d: read %d saw a credential already deleted", round, i)
		}
		// Rotations count as writes whether or not they found the row: a
		// failed one only ever precedes reads that fail too.
		require.NoError(t, checkRegister(h), "round %d", round)

		_, err = c.Retrieve(ctx, id)
		require.ErrorIs(t, err, vault.ErrNotFound, "round %d", round)
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM vault.secrets WHERE id = $1", id).Scan(&n))
		require.Zero(t, n, "round %d: a rotation brought the credential back", round)
	}
}

// storeMin sets v to x if v is zero or larger than x.
func storeMin(v *atomic.Int64, x int64) {
	for {
		old := v.Load()
		if old != 0 && old <= x || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// waitUntil polls cond every 10 ms until it returns true, and fails the
// test if that takes more than a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// adminPool returns a pool connected as the superuser to db, for locks no
// other role may take and for reading every session in pg_stat_activity.
func adminPool(t *testing.T, db *vaulttest.Database) *pgxpool.Pool {
	t.Helper()
	if db.AdminURL == "" {
		t.Skip("needs a throwaway server: VAULT_TEST_DATABASE_URL gives no superuser")
	}
	return testutil.NewPool(t, db.AdminURL, 4, "credvault-admin", nil)
}

// poolSessions returns "state/wait_event_type" for each server session of the
// pool whose application_name is app.
func poolSessions(t *testing.T, admin *pgxpool.Pool, app string) []string {
	t.Helper()
	rows, err := admin.Query(context.Background(),
		"SELECT concat_ws('/', state, wait_event_type) FROM pg_stat_activity WHERE application_name = $1 ORDER BY 1", app)
	require.NoError(t, err)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return out
}

// noSessionIn reports whether none of the sessions of app is in a state
// with the given prefix ("idle in transaction", "active/Lock", ...).
func noSessionIn(t *testing.T, admin *pgxpool.Pool, app, prefix string) bool {
	for _, s := range poolSessions(t, admin, app) {
		if strings.HasPrefix(s, prefix) {
			return false
		}
	}
	return true
}

// A blockedCall is one client call that a lock held by another transaction
// makes wait, and a way to tell whether it took effect.
type blockedCall struct {
	name string
	// lock takes, in tx, a lock that makes the call wait.
	lock func(ctx context.Context, tx pgx.Tx, s *callSubject) error
	// call makes the call.
	call func(ctx context.Context, c *vault.Client, s *callSubject) error
	// applied reports whether the call's effect is in the database.
	applied func(t *testing.T, s *callSubject) bool
}

// callSubject is the credential a blockedCall works on.
type callSubject struct {
	db       *vaulttest.Database
	owner    *vault.Client // as postgres, for checks
	id       uuid.UUID     // an existing credential
	name     string        // the name a store uses
	newValue string        // the value a store or rotate writes
}

func newCallSubject(t *testing.T, db *vaulttest.Database) *callSubject {
	t.Helper()
	svc, b := setup(t, on(db.Pool, db.Schema))
	owner := b.Owner
	id, err := svc.Store(context.Background(), "cancel/existing/"+testutil.RandomHex(t, 6), testutil.NewSecret(), "")
	require.NoError(t, err)
	return &callSubject{db: db, owner: owner, id: id, name: "cancel/new/" + testutil.RandomHex(t, 6), newValue: testutil.NewSecret()}
}

func (s *callSubject) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, s.db.Pool.QueryRow(context.Background(), sql, args...).Scan(&n))
	return n
}

var blockedCalls = []blockedCall{
	{
		name: "store",
		lock: func(ctx context.Context, tx pgx.Tx, _ *callSubject) error {
			_, err := tx.Exec(ctx, "LOCK TABLE vault.secrets IN SHARE MODE")
			return err
		},
		call: func(ctx context.Context, c *vault.Client, s *callSubject) error {
			_, err := c.Store(ctx, s.name, s.newValue, "")
			return err
		},
		applied: func(t *testing.T, s *callSubject) bool {
			n := s.count(t, "SELECT count(*) FROM vault.secrets WHERE starts_with(name, $1)", s.name)
			require.LessOrEqual(t, n, 1)
			return n == 1
		},
	},
	{
		name: "retrieve",
		lock: func(ctx context.Context, tx pgx.Tx, s *callSubject) error {
			_, err := tx.Exec(ctx, "LOCK TABLE "+pgx.Identifier{s.db.Schema, "vault_access_log"}.Sanitize()+" IN SHARE MODE")
			return err
		},
		call: func(ctx context.Context, c *vault.Client, s *callSubject) error {
			_, err := c.Retrieve(ctx, s.id)
			return err
		},
		applied: func(t *testing.T, s *callSubject) bool {
			records, err := s.owner.AccessLog(context.Background(), s.id, 10)
			require.NoError(t, err)
			return len(testutil.Retrievals(records)) > 0
		},
	},
	{
		name: "rotate",
		lock: func(ctx context.Context, tx pgx.Tx, s *callSubject) error {
			_, err := tx.Exec(ctx, "SELECT FROM vault.secrets WHERE id = $1 FOR UPDATE", s.id)
			return err
		},
		call: func(ctx context.Context, c *vault.Client, s *callSubject) error {
			return c.Rotate(ctx, s.id, s.newValue)
		},
		applied: func(t *testing.T, s *callSubject) bool {
			v, err := s.owner.Retrieve(context.Background(), s.id)
			require.NoError(t, err)
			return v == s.newValue
		},
	},
	{
		name: "delete",
		lock: func(ctx context.Context, tx pgx.Tx, s *callSubject) error {
			_, err := tx.Exec(ctx, "SELECT FROM vault.secrets WHERE id = $1 FOR UPDATE", s.id)
			return err
		},
		call: func(ctx context.Context, c *vault.Client, s *callSubject) error {
			return c.Delete(ctx, s.id)
		},
		applied: func(t *testing.T, s *callSubject) bool {
			return s.count(t, "SELECT count(*) FROM vault.secrets WHERE id = $1", s.id) == 0
		},
	},
}

// checkPoolClean asserts that the pool holds no connection and that none of
// its sessions is inside a transaction, then that it still works.
func checkPoolClean(t *testing.T, pool *pgxpool.Pool, admin *pgxpool.Pool, app string, c *vault.Client) {
	t.Helper()
	// A connection abandoned mid-call is closed in the background, after pgx
	// has sent the server a cancel request: its slot comes back then.
	waitUntil(t, "the pool to get its connection back", func() bool { return pool.Stat().AcquiredConns() == 0 })
	waitUntil(t, "no session idle in transaction", func() bool { return noSessionIn(t, admin, app, "idle in transaction") })
	_, err := c.Store(context.Background(), "cancel/after/"+testutil.RandomHex(t, 6), testutil.NewSecret(), "")
	require.NoError(t, err, "the pool works")
	st := pool.Stat()
	require.Zero(t, st.AcquiredConns())
	require.Equal(t, st.TotalConns(), st.IdleConns())
	require.True(t, noSessionIn(t, admin, app, "idle in transaction"))
}

// TestCancelledCallLeavesNothingBehind cancels each call before it starts,
// while it waits for a row or table lock held by another transaction (by
// cancel and by deadline), and after it returned. Every time the error
// matches the context's error, the pool gets its connection back, no
// session stays idle in transaction, and a call cancelled before or during
// its run has no effect, not even once the lock is released: pgx sends the
// server a cancel request when it abandons a connection mid-call.
func TestCancelledCallLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	db := vaulttest.NewDatabase(t)
	admin := adminPool(t, db)

	for _, bc := range blockedCalls {
		t.Run(bc.name+"/before", func(t *testing.T) {
			s, app, pool, c := newCancelClient(t, db)
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			err := bc.call(ctx, c, s)
			require.ErrorIs(t, err, context.Canceled)
			require.Zero(t, pool.Stat().TotalConns(), "no connection was even opened")
			require.False(t, bc.applied(t, s))
			checkPoolClean(t, pool, admin, app, c)
		})
		for _, deadline := range []bool{false, true} {
			how := map[bool]string{false: "cancel", true: "deadline"}[deadline]
			t.Run(bc.name+"/during/"+how, func(t *testing.T) {
				s, app, pool, c := newCancelClient(t, db)
				require.NoError(t, pool.Ping(context.Background())) // connect before the lock

				tx, err := admin.Begin(context.Background())
				require.NoError(t, err)
				defer tx.Rollback(context.Background())
				require.NoError(t, bc.lock(context.Background(), tx, s))

				ctx, cancel := context.WithCancel(context.Background())
				if deadline {
					ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
				}
				defer cancel()
				done := make(chan error, 1)
				go func() { done <- bc.call(ctx, c, s) }()
				// With a deadline the call may already have returned when the
				// first poll looks.
				waitUntil(t, "the call to wait for the lock", func() bool {
					return (deadline && len(done) > 0) || !noSessionIn(t, admin, app, "active/Lock")
				})
				if !deadline {
					cancel()
				}
				err = <-done
				require.ErrorIs(t, err, ctx.Err())
				require.Equal(t, deadline, vault.IsRetryable(err), "a deadline is worth retrying, a cancellation is not")
				t.Logf("error: %v [%s]", err, errorChain(err))

				// The server session stops waiting before the lock is released.
				waitUntil(t, "the server to cancel the statement", func() bool { return noSessionIn(t, admin, app, "active") })
				require.NoError(t, tx.Rollback(context.Background()))
				require.False(t, bc.applied(t, s), "a cancelled call took effect")
				checkPoolClean(t, pool, admin, app, c)
			})
		}
		t.Run(bc.name+"/after", func(t *testing.T) {
			s, app, pool, c := newCancelClient(t, db)
			ctx, cancel := context.WithCancel(context.Background())
			require.NoError(t, bc.call(ctx, c, s))
			cancel()
			require.True(t, bc.applied(t, s))
			checkPoolClean(t, pool, admin, app, c)
		})
	}
}

// newCancelClient returns what a subtest of
// TestCancelledCallLeavesNothingBehind works on: a new subject on db, and a
// client on a pool of its own of two connections whose server sessions
// carry the application_name app.
func newCancelClient(t *testing.T, db *vaulttest.Database) (*callSubject, string, *pgxpool.Pool, *vault.Client) {
	t.Helper()
	s := newCallSubject(t, db)
	app := "credvault-cancel-" + testutil.RandomHex(t, 6)
	pool := testutil.NewPool(t, db.URL, 2, app, nil)
	c, _ := setup(t, on(pool, db.Schema))
	return s, app, pool, c
}

// TestExhaustedPoolHonoursDeadline holds every connection of the pool while
// each call runs with a short deadline: the call waits for a connection,
// gives up at its deadline with an error matching
// context.DeadlineExceeded, and changes nothing. Once the connections are
// released, the same call succeeds.
func TestExhaustedPoolHonoursDeadline(t *testing.T) {
	t.Parallel()
	db := vaulttest.NewDatabase(t)
	for _, bc := range blockedCalls {
		t.Run(bc.name, func(t *testing.T) {
			s := newCallSubject(t, db)
			app := "credvault-exhausted-" + testutil.RandomHex(t, 6)
			pool := testutil.NewPool(t, db.URL, 2, app, nil)
			c, _ := setup(t, on(pool, db.Schema))
			var held []*pgxpool.Conn
			for range pool.Config().MaxConns {
				conn, err := pool.Acquire(context.Background())
				require.NoError(t, err)
				held = append(held, conn)
			}

			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			err := bc.call(ctx, c, s)
			require.ErrorIs(t, err, context.DeadlineExceeded)
			require.True(t, vault.IsRetryable(err))
			t.Logf("error: %v [%s]", err, errorChain(err))
			require.False(t, bc.applied(t, s))
			require.Equal(t, pool.Config().MaxConns, pool.Stat().AcquiredConns(), "only the held connections")

			for _, conn := range held {
				conn.Release()
			}
			require.NoError(t, bc.call(context.Background(), c, s))
			require.True(t, bc.applied(t, s))
			require.Zero(t, pool.Stat().AcquiredConns())
		})
	}
}

// TestServerTimeouts blocks each call on a lock while the pool's sessions
// run with statement_timeout or lock_timeout, set through the pool's
// RuntimeParams. The server cancels the call: the error carries SQLSTATE
// 57014 (query_canceled) or 55P03 (lock_not_available), matches no
// sentinel and no context error, and the call had no effect. The
// connection stays open and usable: the server rolled back, nothing was
// left in a transaction.
func TestServerTimeouts(t *testing.T) {
	t.Parallel()
	db := vaulttest.NewDatabase(t)
	admin := adminPool(t, db)
	for _, setting := range []struct{ name, sqlstate string }{
		{"statement_timeout", "57014"},
		{"lock_timeout", "55P03"},
	} {
		for _, bc := range blockedCalls {
			t.Run(setting.name+"/"+bc.name, func(t *testing.T) {
				s := newCallSubject(t, db)
				app := "credvault-timeout-" + testutil.RandomHex(t, 6)
				pool := testutil.NewPool(t, db.URL, 1, app, func(cfg *pgxpool.Config) {
					cfg.ConnConfig.RuntimeParams[setting.name] = "200ms"
				})
				c, _ := setup(t, on(pool, db.Schema))
				require.NoError(t, pool.Ping(context.Background()))

				tx, err := admin.Begin(context.Background())
				require.NoError(t, err)
				defer tx.Rollback(context.Background())
				require.NoError(t, bc.lock(context.Background(), tx, s))

				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				err = bc.call(ctx, c, s)
				require.Error(t, err)
				require.Equal(t, setting.sqlstate, testutil.SQLState(err))
				require.ErrorIs(t, err, vault.ErrTimeout)
				require.NotErrorIs(t, err, context.DeadlineExceeded)
				require.Contains(t, err.Error(), "the server cancelled the call (SQLSTATE "+setting.sqlstate+")")
				require.True(t, vault.IsRetryable(err))
				t.Logf("error: %v [%s]", err, errorChain(err))

				require.NoError(t, tx.Rollback(context.Background()))
				require.False(t, bc.applied(t, s))
				require.Equal(t, int32(1), pool.Stat().TotalConns(), "the connection was kept")
				checkPoolClean(t, pool, admin, app, c)
			})
		}
	}
}

// TestSerializationFailureIsConflict rotates, inside a caller's REPEATABLE
// READ transaction, a credential that another transaction rotated after
// the snapshot was taken: the server aborts with 40001, which is
// ErrConflict and worth retrying (as a whole transaction).
func TestSerializationFailureIsConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	svc, _ := setup(t, on(db.Pool, db.Schema))
	id, err := svc.Store(ctx, "conflict/"+testutil.RandomHex(t, 6), testutil.NewSecret(), "")
	require.NoError(t, err)

	tx, err := db.Pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead})
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	inTx, _ := setup(t, on(tx, db.Schema))
	_, err = inTx.Retrieve(ctx, id) // takes the snapshot
	require.NoError(t, err)

	require.NoError(t, svc.Rotate(ctx, id, testutil.NewSecret()))
	err = inTx.Rotate(ctx, id, testutil.NewSecret())
	require.Equal(t, "40001", testutil.SQLState(err))
	require.ErrorIs(t, err, vault.ErrConflict)
	require.True(t, vault.IsRetryable(err))
}
