package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
)

// TestRetryable shows that vault.IsRetryable refuses what would fail again,
// including connection failures that are not transient.
func TestRetryable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := setup(t)
	_, err := c.Retrieve(ctx, uuid.New())
	require.ErrorIs(t, err, vault.ErrNotFound)
	require.False(t, vault.IsRetryable(err))
	_, err = c.Store(ctx, "", "", "")
	require.False(t, vault.IsRetryable(err))

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Store(canceled, "n", "", "")
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, vault.IsRetryable(err))

	// A database that does not exist: a connect error wrapping FATAL 3D000.
	missing := testutil.NewPool(t, vaulttest.Shared(t).URL, 1, "credvault-retryable", func(cfg *pgxpool.Config) {
		cfg.ConnConfig.Database = "no_such_database_" + testutil.RandomHex(t, 6)
	})
	bad, _ := setup(t, on(missing, vaulttest.Shared(t).Schema))
	_, err = bad.Retrieve(ctx, uuid.New())
	require.Equal(t, "3D000", testutil.SQLState(err))
	var connectErr *pgconn.ConnectError
	require.ErrorAs(t, err, &connectErr)
	require.False(t, vault.IsRetryable(err))
}

// failureKind names what a caller can recognise in an error returned by a
// call that failed because the server went away, hung or came back:
// vault.IsRetryable returns true for each of them. "" means the
// error is none of these.
func failureKind(err error) string {
	var pgErr *pgconn.PgError
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline exceeded"
	case errors.As(err, &pgErr):
		switch {
		case pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03", strings.HasPrefix(pgErr.Code, "08"):
			return "SQLSTATE " + pgErr.Code
		}
		return ""
	case errors.As(err, &connectErr):
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return "connect error (refused)"
		case errors.Is(err, syscall.ECONNRESET):
			return "connect error (reset)"
		}
		return "connect error"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.Is(err, pgconn.ErrConnClosed):
		return "connection lost (EOF)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection lost (reset)"
	case errors.As(err, &netErr):
		return "network error"
	}
	return ""
}

// restartLoad is the state of the calls made by the workers of
// TestNoLostWritesAcrossRestart.
type restartLoad struct {
	mu       sync.Mutex
	stores   []storeAttempt
	secrets  map[uuid.UUID]*rotations // stored successfully
	failures map[string]int           // failureKind -> count
	odd      []error                  // failures of no known kind
	samples  map[string]string        // failureKind -> one error text
	overrun  time.Duration            // longest time a call ran past its deadline
	ok       atomic.Int64             // successful calls
}

type storeAttempt struct {
	name, value string
	err         error
}

// rotations is the value history of one credential. Only the worker that
// stored it rotates it, one call at a time, so its final value is the last
// successful write or one of the failed ones made after it, which may have
// committed without the caller learning it. A rotation abandoned at its
// deadline while the server was frozen is still in the server's socket
// buffer, and runs when the server resumes unless pgx's cancel request
// overtakes it: it may even land after a later, successful rotation.
type rotations struct {
	lastOK      string
	failedAfter []string
	abandoned   []string // values of rotations that failed at their deadline
}

func (l *restartLoad) record(err error, elapsed, deadline time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.overrun = max(l.overrun, elapsed-deadline)
	if err == nil {
		l.ok.Add(1)
		return
	}
	kind := failureKind(err)
	if kind == "" || !vault.IsRetryable(err) {
		l.odd = append(l.odd, err)
		return
	}
	l.failures[kind]++
	if _, ok := l.samples[kind]; !ok {
		l.samples[kind] = fmt.Sprintf("%v [%s]", err, errorChain(err))
	}
}

// errorChain lists the types an error wraps, for the test log.
func errorChain(err error) string {
	var types []string
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		types = append(types, fmt.Sprintf("%T", err))
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return strings.Join(types, " > ") + fmt.Sprintf(" SafeToRetry=%v Timeout=%v", pgconn.SafeToRetry(err), pgconn.Timeout(err))
}

// worker stores new credentials and rotates the ones it stored until stop
// is closed, each call under its own deadline.
func (l *restartLoad) worker(c *vault.Client, w int, deadline time.Duration, stop <-chan struct{}) {
	var mine []uuid.UUID
	for seq := 0; !testutil.Closed(stop); seq++ {
		value := testutil.NewSecret()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		start := time.Now()
		var err error
		if len(mine) == 0 || rand.IntN(3) == 0 {
			name := fmt.Sprintf("restart/%d/%d", w, seq)
			var id uuid.UUID
			id, err = c.Store(ctx, name, value, "")
			l.mu.Lock()
			l.stores = append(l.stores, storeAttempt{name: name, value: value, err: err})
			if err == nil {
				l.secrets[id] = &rotations{lastOK: value}
				mine = append(mine, id)
			}
			l.mu.Unlock()
		} else {
			id := mine[rand.IntN(len(mine))]
			err = c.Rotate(ctx, id, value)
			l.mu.Lock()
			switch r := l.secrets[id]; {
			case err == nil:
				r.lastOK, r.failedAfter = value, nil
			case errors.Is(err, context.DeadlineExceeded):
				r.abandoned = append(r.abandoned, value)
				fallthrough
			default:
				r.failedAfter = append(r.failedAfter, value)
			}
			l.mu.Unlock()
		}
		elapsed := time.Since(start)
		cancel()
		l.record(err, elapsed, deadline)
		if err != nil {
			time.Sleep(10 * time.Millisecond) // the server is away: do not spin
		}
	}
}

// TestNoLostWritesAcrossRestart runs stores and rotations from several
// goroutines against a server of its own, each call with a 1 s deadline,
// while the server is stopped in immediate mode (as a crash would) and
// started again, restarted with a fast shutdown (as for maintenance), and
// frozen (SIGSTOP) and thawed, as a hung server or a network partition
// would look. The same pool recovers each time without being recreated. Afterwards every store that returned an id can be
// retrieved with its value, every rotated credential holds its last
// successful value or one whose rotation failed after it (or was
// abandoned at its deadline: see rotations), a failed store
// left at most one credential, with exactly its value, every failure
// returned an error of a kind a caller can recognise (see failureKind), and
// no call ran more than 2 s past its deadline (a structural bound, not a
// performance target: a call that ignored its deadline would wait for the
// server to come back). CREDVAULT_LONG_TESTS=1 keeps the server down and
// frozen longer.
func TestNoLostWritesAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testutil.OwnServer(t, nil)
	cluster := srv.Cluster()
	if cluster.Dir() == "" {
		t.Skip("needs a server started from local binaries: Docker clusters cannot be stopped in immediate mode")
	}
	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })

	const workers = 6
	const deadline = time.Second
	const slack = 2 * time.Second
	pool := testutil.NewPool(t, db.URL, workers, "credvault-restart", nil)
	c, _ := setup(t, on(pool, db.Schema))
	load := &restartLoad{secrets: map[uuid.UUID]*rotations{}, failures: map[string]int{}, samples: map[string]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { load.worker(c, w, deadline, stop) })
	}
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	progress := func(what string, n int64) {
		t.Helper()
		target := load.ok.Load() + n
		waitUntil(t, what, func() bool { return load.ok.Load() >= target })
	}

	progress("calls before the crash", 50)
	require.NoError(t, cluster.StopImmediate())
	time.Sleep(shortOrLong(300*time.Millisecond, 3*time.Second))
	require.NoError(t, cluster.Restart(ctx))
	progress("calls after the restart", 50)

	// A fast shutdown, as for maintenance, terminates every session with
	// FATAL 57P01.
	require.NoError(t, cluster.Restart(ctx))
	progress("calls after the fast restart", 50)

	thaw := freezeServer(t, cluster.Dir())
	time.Sleep(shortOrLong(deadline+500*time.Millisecond, 5*time.Second))
	thaw()
	progress("calls after the thaw", 50)

	close(stop)
	wg.Wait()

	load.mu.Lock()
	defer load.mu.Unlock()
	kinds := make([]string, 0, len(load.failures))
	for k, n := range load.failures {
		kinds = append(kinds, fmt.Sprintf("%s: %d (e.g. %s)", k, n, load.samples[k]))
	}
	sort.Strings(kinds)
	t.Logf("%d successful calls, %d stores; failures:\n%s\nlongest overrun past a deadline: %v (2 cores)",
		load.ok.Load(), len(load.stores), strings.Join(kinds, "\n"), load.overrun)
	for _, err := range load.odd {
		t.Errorf("unrecognised failure: %v [%s]", err, errorChain(err))
	}
	require.NotEmpty(t, load.failures, "the crash and the freeze made calls fail")
	require.LessOrEqual(t, load.overrun, slack, "a call ran past its deadline")

	check, _ := setup(t, on(db.Pool, db.Schema))
	rotatedAnyway, landedLate := 0, 0
	for id, r := range load.secrets {
		got, err := check.Retrieve(ctx, id)
		require.NoError(t, err, "a stored credential was lost")
		switch {
		case got == r.lastOK:
		case slices.Contains(r.failedAfter, got):
			rotatedAnyway++
		case slices.Contains(r.abandoned, got):
			landedLate++
		default:
			t.Errorf("credential %s holds a value nobody wrote last", id)
		}
	}
	t.Logf("credentials holding the value of a rotation that failed but committed: %d, "+
		"of which after a later successful rotation: %d", rotatedAnyway+landedLate, landedLate)
	ambiguous := map[string]int{}
	for _, s := range load.stores {
		if s.err == nil {
			continue
		}
		// A store whose result was lost may still have committed.
		rows, err := db.Pool.Query(ctx, "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = $1 OR starts_with(name, $1 || ' #')", s.name)
		require.NoError(t, err)
		var values []string
		for rows.Next() {
			var v string
			require.NoError(t, rows.Scan(&v))
			values = append(values, v)
		}
		require.NoError(t, rows.Err())
		require.LessOrEqual(t, len(values), 1, "store %q", s.name)
		if len(values) == 1 {
			ambiguous[failureKind(s.err)]++
			require.True(t, s.value == values[0], "store %q left a torn value", s.name)
		}
	}
	t.Logf("failed stores that committed anyway (their id never reached the caller), by error: %v", ambiguous)
}

// freezeServer stops (SIGSTOP) the postmaster of the cluster in dir and
// every server process it started, and returns a function that resumes
// them (SIGCONT), which also runs at cleanup.
func freezeServer(t *testing.T, dir string) (thaw func()) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(b), "\n")
	postmaster, err := strconv.Atoi(first)
	require.NoError(t, err)
	// While the postmaster is stopped it cannot start new processes.
	require.NoError(t, syscall.Kill(postmaster, syscall.SIGSTOP))
	pids := []int{postmaster}
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", postmaster, postmaster))
	require.NoError(t, err)
	for f := range strings.FieldsSeq(string(children)) {
		pid, err := strconv.Atoi(f)
		require.NoError(t, err)
		if syscall.Kill(pid, syscall.SIGSTOP) == nil {
			pids = append(pids, pid)
		}
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw)
	return thaw
}

// TestCallReturnsAtItsDeadlineWhileTheServerHangs freezes the server (as a
// hung server or a network partition would look) and makes a call with a
// short deadline: it must return, with context.DeadlineExceeded, while the
// server is still frozen. The 30 s bound is structural: a call that
// ignored its deadline would wait for the thaw.
func TestCallReturnsAtItsDeadlineWhileTheServerHangs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := testutil.OwnServer(t, nil)
	if srv.Cluster().Dir() == "" {
		t.Skip("needs a server started from local binaries: Docker clusters cannot be frozen")
	}
	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	pool := testutil.NewPool(t, db.URL, 2, "credvault-hang", nil)
	c, _ := setup(t, on(pool, db.Schema))
	id, err := c.Store(ctx, "hang/"+testutil.RandomHex(t, 6), testutil.NewSecret(), "")
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, id) // prepares the statements
	require.NoError(t, err)

	thaw := freezeServer(t, srv.Cluster().Dir())
	done := make(chan error, 1)
	go func() {
		callCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		_, err := c.Retrieve(callCtx, id)
		done <- err
	}()
	select {
	case err := <-done:
		thaw()
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.True(t, vault.IsRetryable(err))
	case <-time.After(30 * time.Second):
		thaw()
		t.Fatal("the call did not return while the server was frozen")
	}
	waitUntil(t, "the pool serves calls again after the thaw", func() bool {
		_, err := c.Retrieve(ctx, id)
		return err == nil
	})
}
