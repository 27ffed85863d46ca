package tests

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
)

// roundTrips counts network round trips on the connections it dials: one
// each time the client reads a reply after having written since its last
// read. A call that writes its whole request and then reads its whole
// reply counts 1; a call that waits for a reply before sending more
// counts once per wait.
type roundTrips struct {
	mu      sync.Mutex
	wrote   bool
	count   int
	enabled bool
}

func (r *roundTrips) written() {
	r.mu.Lock()
	r.wrote = true
	r.mu.Unlock()
}

func (r *roundTrips) read() {
	r.mu.Lock()
	if r.wrote {
		r.wrote = false
		r.count++
	}
	r.mu.Unlock()
}

// measure returns the round trips that fn makes.
func (r *roundTrips) measure(t *testing.T, fn func() error) int {
	t.Helper()
	r.mu.Lock()
	r.count, r.wrote = 0, false
	r.mu.Unlock()
	require.NoError(t, fn())
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count
}

// measureErr is measure for a call that is expected to fail.
func (r *roundTrips) measureErr(t *testing.T, fn func() error) (int, error) {
	t.Helper()
	r.mu.Lock()
	r.count, r.wrote = 0, false
	r.mu.Unlock()
	err := fn()
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count, err
}

type countingConn struct {
	net.Conn
	rt *roundTrips
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.rt.written()
	}
	return n, err
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.rt.read()
	}
	return n, err
}

// countingPool returns a pool of one connection to db whose round trips rt
// counts, with the given query exec mode. The pool's liveness ping of a
// connection idle for over a second is turned off: it is the pool's round
// trip, not the library's.
func countingPool(t *testing.T, db *vaulttest.Database, mode pgx.QueryExecMode) (*pgxpool.Pool, *roundTrips) {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.MaxConns = 1
	cfg.ConnConfig.DefaultQueryExecMode = mode
	cfg.ShouldPing = func(context.Context, pgxpool.ShouldPingParams) bool { return false }
	rt := &roundTrips{}
	var d net.Dialer
	cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, rt: rt}, nil
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	// Open the connection outside any measurement.
	require.NoError(t, pool.Ping(context.Background()))
	return pool, rt
}

// callRoundTrips makes each of Store, Retrieve, Rotate and Delete once
// and returns the round trips each took, keyed by operation.
func callRoundTrips(t *testing.T, c *vault.Client, rt *roundTrips) map[string]int {
	t.Helper()
	ctx := context.Background()
	var id, victim uuid.UUID
	n := map[string]int{}
	n["store"] = rt.measure(t, func() (err error) {
		id, err = c.Store(ctx, "roundtrip/"+uuid.NewString(), testutil.NewSecret(), "round trip test")
		return err
	})
	n["retrieve"] = rt.measure(t, func() error { _, err := c.Retrieve(ctx, id); return err })
	n["rotate"] = rt.measure(t, func() error { return c.Rotate(ctx, id, testutil.NewSecret()) })
	// Delete a credential of its own, stored without counting.
	victim, err := c.Store(ctx, "roundtrip/"+uuid.NewString(), testutil.NewSecret(), "")
	require.NoError(t, err)
	n["delete"] = rt.measure(t, func() error { return c.Delete(ctx, victim) })
	return n
}

var oneRoundTripEach = map[string]int{"store": 1, "retrieve": 1, "rotate": 1, "delete": 1}

// twoRoundTripsEach is what each call costs inside a caller's transaction.
var twoRoundTripsEach = map[string]int{"store": 2, "retrieve": 2, "rotate": 2, "delete": 2}

// TestRoundTripsPool proves that each call on a pool is one network round
// trip, with and without WithRole: the role switch, the log setting and
// the function call travel in one batch. The first call of each operation
// on a connection may take one more, in which pgx prepares the batch's new
// statements (QueryExecModeCacheStatement, the default); it is made first
// and not asserted exactly.
func TestRoundTripsPool(t *testing.T) {
	forEachRole(t, func(t *testing.T, db *vaulttest.Database, opts []vault.Option) {
		pool, rt := countingPool(t, db, pgx.QueryExecModeCacheStatement)
		c, err := vault.New(pool, opts...)
		require.NoError(t, err)

		first := callRoundTrips(t, c, rt)
		for op, n := range first {
			require.LessOrEqual(t, n, 2, "%s, first use (prepares statements)", op)
			require.GreaterOrEqual(t, n, 1, "%s, first use", op)
		}
		t.Logf("first use on a fresh connection: %v", first)
		require.Equal(t, oneRoundTripEach, callRoundTrips(t, c, rt))

		// A failed call on a pool needs no cleanup: still one round trip.
		n, err := rt.measureErr(t, func() error { _, err := c.Retrieve(context.Background(), uuid.New()); return err })
		require.ErrorIs(t, err, vault.ErrNotFound)
		require.Equal(t, 1, n, "failed Retrieve")
		requireRecovers(t, c, rt)
	})
}

// TestRoundTripsTx counts round trips when the client runs inside the
// caller's transaction: the savepoint goes first, in a round trip of its
// own (a statement that fails while pgx prepares the batch must not abort
// the caller's transaction), then the batch, so a successful call is two
// round trips, and a failed one costs one more to roll back to the
// savepoint, after which the transaction is usable.
func TestRoundTripsTx(t *testing.T) {
	forEachRole(t, func(t *testing.T, db *vaulttest.Database, opts []vault.Option) {
		ctx := context.Background()
		pool, rt := countingPool(t, db, pgx.QueryExecModeCacheStatement)
		tx := vaulttest.Tx(t, pool)
		c, err := vault.New(tx, opts...)
		require.NoError(t, err)

		callRoundTrips(t, c, rt) // warm-up: prepares the statements
		require.Equal(t, twoRoundTripsEach, callRoundTrips(t, c, rt))

		n, err := rt.measureErr(t, func() error { _, err := c.Retrieve(ctx, uuid.New()); return err })
		require.ErrorIs(t, err, vault.ErrNotFound)
		require.Equal(t, 3, n, "failed Retrieve in a transaction: SAVEPOINT, the call, then ROLLBACK TO SAVEPOINT")

		// The transaction survived the failure, as the caller's role.
		var role string
		require.NoError(t, tx.QueryRow(ctx, "SELECT pg_catalog.current_setting('role')").Scan(&role))
		require.Equal(t, "none", role)
		after := callRoundTrips(t, c, rt)
		for op, n := range after {
			require.LessOrEqual(t, n, 4, "%s after a failed call", op)
		}
		require.Equal(t, twoRoundTripsEach, callRoundTrips(t, c, rt))
	})
}

// forEachRole runs test in a subtest per role a client may run as: the
// connection's own ("connection role") and service_role ("WithRole").
// Both subtests share one new test database and get the options of
// vault.New for it: its schema, a discarding logger and the role.
func forEachRole(t *testing.T, test func(t *testing.T, db *vaulttest.Database, opts []vault.Option)) {
	db := vaulttest.NewDatabase(t)
	base := []vault.Option{vault.WithSchema(db.Schema), vault.WithLogger(slog.New(slog.DiscardHandler))}
	t.Run("connection role", func(t *testing.T) { test(t, db, base) })
	t.Run("WithRole", func(t *testing.T) { test(t, db, append(base[:len(base):len(base)], vault.WithRole("service_role"))) })
}

// requireRecovers checks the calls after a failed one. pgx drops every
// statement of a batch that returned an error from its statement cache,
// including the log-setting (and role) statement that all calls share, so
// the next calls on that connection pay up to two more round trips: one to
// DEALLOCATE the dropped statements and one to prepare them again. Once
// re-prepared, every call is back to one round trip.
func requireRecovers(t *testing.T, c *vault.Client, rt *roundTrips) {
	t.Helper()
	after := callRoundTrips(t, c, rt)
	t.Logf("first calls after a failed call: %v", after)
	for op, n := range after {
		require.LessOrEqual(t, n, 3, "%s after a failed call", op)
	}
	require.Equal(t, oneRoundTripEach, callRoundTrips(t, c, rt))
}

// TestLifecycleRoundTrips: on a pool each lifecycle call is one network
// round trip (after pgx prepared its statements), Refresh two around fn.
func TestLifecycleRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	pool, rt := countingPool(t, db, pgx.QueryExecModeCacheStatement)
	c, _ := setup(t, on(pool, db.Schema), namespace(testutil.NewNamespace(t, "org")))
	cred, err := c.Put(ctx, "roundtrip/put", testutil.NewSecret(), "")
	require.NoError(t, err)
	desc := "d"
	noop := func(context.Context, vault.Secret) (string, error) { return testutil.NewSecret(), nil }
	version := cred.Version
	calls := []struct {
		name string
		fn   func() error
		want int
	}{
		{"put", func() error { _, err := c.Put(ctx, "roundtrip/put", testutil.NewSecret(), ""); version++; return err }, 1},
		{"put new", func() error {
			_, err := c.Put(ctx, "roundtrip/"+uuid.NewString(), testutil.NewSecret(), "")
			return err
		}, 1},
		{"lookup", func() error { _, err := c.Lookup(ctx, "roundtrip/put"); return err }, 1},
		{"read", func() error { _, err := c.Read(ctx, cred.ID); return err }, 1},
		{"rotate IfVersion", func() error {
			version++
			return c.Rotate(ctx, cred.ID, testutil.NewSecret(), vault.IfVersion(version-1))
		}, 1},
		{"rollback", func() error { version++; return c.Rollback(ctx, cred.ID) }, 1},
		{"update", func() error {
			_, err := c.Update(ctx, cred.ID, vault.CredentialUpdate{Description: &desc})
			return err
		}, 1},
		{"list", func() error { _, err := c.List(ctx, vault.ListFilter{After: cred.Cursor()}); return err }, 1},
		{"refresh", func() error { _, err := c.Refresh(ctx, cred.ID, noop); version++; return err }, 2},
	}
	for _, call := range calls {
		require.NoError(t, call.fn(), call.name) // pgx prepares the new statements
	}
	for _, call := range calls {
		require.Equal(t, call.want, rt.measure(t, call.fn), call.name)
	}
}
