package tests

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/internal/testutil"
)

// TestAutoExplainKeepsSecretsOut runs a server of its own with auto_explain
// added to the libraries the harness preloads (pg_stat_statements and
// supabase_vault stay), logging the plan of every statement, nested ones
// included, with EXPLAIN VERBOSE, and with log_parameter_max_length = 0
// (from PostgreSQL 16 also auto_explain.log_parameter_max_length = 0), so
// that only the plans could carry values.
//
// A custom plan folds bind parameters into constants: a control call sent
// without the client lands in the log with its value. The client's calls
// force generic plans for their transaction, so neither their own plan nor
// the plans of the statements inside the credential functions and Vault's
// functions hold a value, through a pool and inside a caller's transaction,
// whose plan_cache_mode the call gives back. Migrate warns about
// log_verbose, which still shows the values of other clients' statements.
func TestAutoExplainKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := loggedServer(t, map[string]string{
		"log_parameter_max_length":           "0",
		"auto_explain.log_min_duration":      "0",
		"auto_explain.log_verbose":           "on",
		"auto_explain.log_nested_statements": "on",
	})

	// Preload auto_explain after what the harness preloads, and restart.
	admin, err := pgx.Connect(ctx, srv.Cluster().AdminURL())
	require.NoError(t, err)
	var preload string
	var realVault bool
	require.NoError(t, admin.QueryRow(ctx, "SELECT current_setting('shared_preload_libraries')").Scan(&preload))
	realVault = srv.Cluster().SupabaseVault()
	require.Contains(t, preload, "pg_stat_statements")
	if realVault {
		require.Contains(t, preload, "supabase_vault", "the harness preloads the real extension")
	}
	var libs []string
	for _, lib := range append(strings.Split(preload, ","), "auto_explain") {
		libs = append(libs, testutil.QuoteLiteral(strings.TrimSpace(lib)))
	}
	_, err = admin.Exec(ctx, "ALTER SYSTEM SET shared_preload_libraries = "+strings.Join(libs, ", "))
	require.NoError(t, err)
	require.NoError(t, admin.Close(ctx))
	require.NoError(t, srv.Cluster().Restart(ctx))

	admin, err = pgx.Connect(ctx, srv.Cluster().AdminURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(context.Background()) })
	var loaded string
	var version int
	require.NoError(t, admin.QueryRow(ctx, "SELECT current_setting('shared_preload_libraries'), "+
		"current_setting('server_version_num')::int").Scan(&loaded, &version))
	require.Equal(t, strings.ReplaceAll(preload, " ", "")+",auto_explain", strings.ReplaceAll(loaded, " ", ""))
	if version >= 160000 {
		// Otherwise auto_explain logs every statement's bind parameters
		// whatever the plan, which Migrate and doctor report.
		_, err = admin.Exec(ctx, "ALTER SYSTEM SET auto_explain.log_parameter_max_length = 0")
		require.NoError(t, err)
		_, err = admin.Exec(ctx, "SELECT pg_reload_conf()")
		require.NoError(t, err)
	}

	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	if realVault {
		var n int
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'supabase_vault'").Scan(&n))
		require.Equal(t, 1, n, "the test database runs the real supabase_vault")
	}

	pool := testutil.Connect(t, db.URL)
	if version >= 160000 { // wait until new sessions see the reload
		deadline := time.Now().Add(30 * time.Second)
		for {
			var v string
			require.NoError(t, pool.QueryRow(ctx, "SELECT current_setting('auto_explain.log_parameter_max_length')").Scan(&v))
			if v == "0" {
				break
			}
			require.False(t, time.Now().After(deadline), "the server did not reload its configuration")
			time.Sleep(20 * time.Millisecond)
		}
	}
	lf := newLogFile(t, srv)
	from := lf.size()

	logger, logs := testutil.Logger()
	owner, err := vault.New(pool, vault.WithSchema(db.Schema), vault.WithLogger(logger))
	require.NoError(t, err)
	require.NoError(t, owner.Migrate(ctx))
	warnings := 0
	for _, r := range testutil.Records(t, logs) {
		if msg, _ := r["msg"].(string); r["level"] == "WARN" && strings.Contains(msg, "auto_explain.log_verbose = off") {
			warnings++
		}
	}
	require.Equal(t, 1, warnings, "Migrate warns that auto_explain logs plans with values")

	var secrets []string
	secret := func() string { v := testutil.NewSecret(); secrets = append(secrets, v); return v }

	// Through the pool, as service_role.
	svc, err := vault.New(pool, vault.WithSchema(db.Schema), vault.WithRole(testutil.ServiceRole), vault.WithLogger(logger))
	require.NoError(t, err)
	for range 2 {
		id, err := svc.Store(ctx, "explain/"+uuid.NewString(), secret(), "")
		require.NoError(t, err)
		rotated := secret()
		require.NoError(t, svc.Rotate(ctx, id, rotated))
		got, err := svc.Retrieve(ctx, id)
		require.NoError(t, err)
		require.True(t, got == rotated)
	}

	// Inside the caller's transaction, as the connection's role.
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) }) // before the pool closes
	inTx, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithLogger(logger))
	require.NoError(t, err)
	id, err := inTx.Store(ctx, "explain/"+uuid.NewString(), secret(), "")
	require.NoError(t, err)
	rotated := secret()
	require.NoError(t, inTx.Rotate(ctx, id, rotated))
	got, err := inTx.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == rotated)
	var mode string
	require.NoError(t, tx.QueryRow(ctx, "SELECT current_setting('plan_cache_mode')").Scan(&mode))
	require.Equal(t, "auto", mode, "the call gives the caller's transaction its plan_cache_mode back")
	require.NoError(t, tx.Commit(ctx))

	// The control: the same call without the client, planned as usual.
	control := testutil.NewSecret()
	_, err = pool.Exec(ctx, "SELECT "+testutil.Ident(db.Schema)+".store_credential($1, $2, '')", "explain/control/"+uuid.NewString(), control)
	require.NoError(t, err)

	logged := lf.since(from)

	require.Contains(t, logged, "Query Text: SELECT "+testutil.Ident(db.Schema)+".credential_store($1, $2, $3, $4)",
		"auto_explain logged the calls' plans")
	if realVault {
		require.Contains(t, logged, "Query Text: INSERT INTO vault.secrets", "auto_explain logged the nested statements' plans")
	}
	require.True(t, strings.Contains(logged, control), "expected the control's value in the log of its custom plan")
	testutil.RequireAbsent(t, "the server log under auto_explain.log_verbose", logged, secrets...)
	testutil.RequireAbsent(t, "the Go log", logs.String(), append(secrets, control)...)
}

// TestServerLogKeepsSecretsOut runs a server of its own with every
// statement logged (log_statement = all), failing statements logged
// (log_min_error_statement = error) and failing statements' parameters
// logged (log_parameter_max_length_on_error = -1), and reads its log.
//
// With the default log_parameter_max_length (-1) the bind parameters, so
// the secrets, are in the log, and Client.Migrate warns about it. Once a
// superuser sets log_parameter_max_length = 0, no secret reaches the log,
// failing calls included: the client sets log_parameter_max_length_on_error
// = 0 for each call, and a control statement sent without the client shows
// that the server would otherwise have logged its parameters. The simple
// protocol puts values inside the SQL text, which no parameter setting
// covers, so the client refuses such a pool. pg_stat_statements (tracking
// nested statements too) never holds a value.
func TestServerLogKeepsSecretsOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := loggedServer(t, map[string]string{
		"log_statement":                     "all",
		"log_min_error_statement":           "error",
		"log_parameter_max_length_on_error": "-1",
		"pg_stat_statements.track":          "all",
	})
	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	admin := testutil.Connect(t, db.AdminURL)
	var extensions int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'").Scan(&extensions))
	require.Equal(t, 1, extensions, "pg_stat_statements is installed in the test database")

	lf := newLogFile(t, srv)
	readLog, logSize := lf.since, lf.size
	requirePresent := func(where, s, secret string) {
		t.Helper()
		require.True(t, strings.Contains(s, secret), "expected the secret in %s", where)
	}
	paramWarnings := func(logs *testutil.LogBuffer) int {
		n := 0
		for _, r := range testutil.Records(t, logs) {
			if msg, _ := r["msg"].(string); r["level"] == "WARN" && strings.Contains(msg, "bind parameters") {
				n++
			}
		}
		return n
	}
	var all []string
	secret := func() string { v := testutil.NewSecret(); all = append(all, v); return v }
	clients := func(pool *pgxpool.Pool) (owner, svc, denied *vault.Client, logs *testutil.LogBuffer) {
		logger, logs := testutil.Logger()
		var err error
		owner, err = vault.New(pool, vault.WithSchema(db.Schema), vault.WithLogger(logger))
		require.NoError(t, err)
		svc, err = vault.New(pool, vault.WithSchema(db.Schema), vault.WithRole(testutil.ServiceRole), vault.WithLogger(logger))
		require.NoError(t, err)
		denied, err = vault.New(pool, vault.WithSchema(db.Schema), vault.WithRole("authenticated"), vault.WithLogger(logger))
		require.NoError(t, err)
		return owner, svc, denied, logs
	}

	// 1. Defaults: parameters are logged, and Migrate says so.
	owner, svc, _, logs := clients(db.Pool)
	require.NoError(t, owner.Migrate(ctx))
	require.Equal(t, 1, paramWarnings(logs), "Migrate warns that the server logs bind parameters")
	stored, rotated := secret(), secret()
	id, err := svc.Store(ctx, "log/"+uuid.NewString(), stored, "")
	require.NoError(t, err)
	require.NoError(t, svc.Rotate(ctx, id, rotated))
	serverLog := readLog(0)
	requirePresent("the server log under log_statement = all with the default log_parameter_max_length", serverLog, stored)
	requirePresent("the server log under log_statement = all with the default log_parameter_max_length", serverLog, rotated)

	// reconfigure changes settings as the superuser, reloads, and waits
	// until new sessions see the last one.
	reconfigure := func(settings ...[2]string) {
		t.Helper()
		for _, kv := range settings {
			_, err := admin.Exec(ctx, "ALTER SYSTEM SET "+kv[0]+" = "+testutil.QuoteLiteral(kv[1]))
			require.NoError(t, err)
		}
		_, err := admin.Exec(ctx, "SELECT pg_reload_conf()")
		require.NoError(t, err)
		last := settings[len(settings)-1]
		deadline := time.Now().Add(30 * time.Second)
		for {
			conn, err := pgx.Connect(ctx, db.URL)
			require.NoError(t, err)
			var v string
			err = conn.QueryRow(ctx, "SELECT current_setting($1)", last[0]).Scan(&v)
			_ = conn.Close(ctx)
			require.NoError(t, err)
			if v == last[1] {
				return
			}
			require.False(t, time.Now().After(deadline), "the server did not reload its configuration")
			time.Sleep(20 * time.Millisecond)
		}
	}

	// 2. A superuser sets log_parameter_max_length = 0.
	reconfigure([2]string{"log_parameter_max_length", "0"})
	from := logSize()
	pool := testutil.Connect(t, db.URL)
	owner, svc, denied, logs := clients(pool)
	require.NoError(t, owner.Migrate(ctx))
	require.Zero(t, paramWarnings(logs), "Migrate no longer warns")

	stored2, rotated2 := secret(), secret()
	id2, err := svc.Store(ctx, "log/"+uuid.NewString(), stored2, "")
	require.NoError(t, err)
	require.NoError(t, svc.Rotate(ctx, id2, rotated2))
	got, err := svc.Retrieve(ctx, id2)
	require.NoError(t, err)
	require.True(t, got == rotated2)
	failedRotate, failedStore := secret(), secret()
	require.ErrorIs(t, svc.Rotate(ctx, uuid.New(), failedRotate), vault.ErrNotFound)
	_, err = denied.Store(ctx, "log/denied", failedStore, "")
	require.ErrorIs(t, err, vault.ErrPermissionDenied)
	_, err = svc.Retrieve(ctx, uuid.New())
	require.ErrorIs(t, err, vault.ErrNotFound)

	// The control: the same failing call without the client's setting.
	control := secret()
	_, err = pool.Exec(ctx, "SELECT "+testutil.Ident(db.Schema)+".rotate_credential($1, $2)", uuid.New(), control)
	require.Equal(t, "P0002", testutil.SQLState(err))

	serverLog = readLog(from)
	require.True(t, strings.Contains(serverLog, "rotate_credential"), "the calls were logged")
	testutil.RequireAbsent(t, "the server log with log_parameter_max_length = 0", serverLog,
		stored2, rotated2, failedRotate, failedStore)
	requirePresent("the server log, for a failing statement sent without the client's per-call setting", serverLog, control)
	testutil.RequireAbsent(t, "the Go log", logs.String(), all...)

	// 3. With statement logging off and no parameters logged on error, the
	// simple protocol still puts values into the statement text, which
	// log_min_error_statement (default: error) logs with a failing call.
	reconfigure([2]string{"log_parameter_max_length_on_error", "0"}, [2]string{"log_statement", "none"})
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	simplePool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(simplePool.Close)
	from = logSize()
	// The hazard, shown without the client: a failing call whose value is
	// inlined into the SQL text lands in the log.
	inlined := secret()
	_, err = simplePool.Exec(ctx, "SELECT "+db.Schema+".rotate_credential($1, $2)", uuid.New(), inlined)
	require.Error(t, err)
	requirePresent("the server log, for a failing simple-protocol statement", readLog(from), inlined)
	// So the client refuses such a pool.
	_, err = vault.New(simplePool, vault.WithSchema(db.Schema), vault.WithRole(testutil.ServiceRole), testutil.Quiet())
	require.ErrorIs(t, err, vault.ErrInvalidArgument)

	// pg_stat_statements normalizes literals and records parameters by
	// number, including for nested statements and the simple protocol.
	var stats string
	require.NoError(t, admin.QueryRow(ctx, "SELECT coalesce(string_agg(query, E'\\n'), '') FROM pg_stat_statements").Scan(&stats))
	require.True(t, strings.Contains(stats, "rotate_credential"), "pg_stat_statements tracked the calls")
	testutil.RequireAbsent(t, "pg_stat_statements", stats, all...)
}

// TestRejectedLiteralReachesLogUnlessPanic reproduces, on a server of its
// own, what the README says about literal SQL: the guard rejects an INSERT
// whose text holds a key, and under the default log_min_error_statement =
// error the server logs that text, key included. Once a superuser sets
// log_min_error_statement = panic for the database, the same mistake logs
// the guard's error but not the statement.
func TestRejectedLiteralReachesLogUnlessPanic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := loggedServer(t, nil)
	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Pool.Exec(ctx, "CREATE TABLE public.integrations (provider text, api_key text)")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "SELECT "+testutil.Ident(db.Schema)+".guard_plaintext_credentials('public.integrations')")
	require.NoError(t, err)

	lf := newLogFile(t, srv)
	// insertLiteral sends the mistake on a new session, checks the guard
	// rejects it, and returns what the server logged meanwhile.
	insertLiteral := func(key string) string {
		t.Helper()
		from := lf.size()
		conn, err := pgx.Connect(ctx, db.URL)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "INSERT INTO public.integrations VALUES ('stripe', "+testutil.QuoteLiteral(key)+")")
		require.Equal(t, "VA001", testutil.SQLState(err))
		return lf.since(from)
	}

	first := "sk_" + "live_" + testutil.Alnum(t, 32)
	logged := insertLiteral(first)
	require.True(t, strings.Contains(logged, "STATEMENT:  INSERT INTO public.integrations") && strings.Contains(logged, first),
		"the default logs the rejected statement, key included")

	admin := testutil.Connect(t, db.AdminURL)
	_, err = admin.Exec(ctx, "ALTER DATABASE "+testutil.Ident(db.Name)+" SET log_min_error_statement = panic")
	require.NoError(t, err)
	key := "sk_" + "live_" + testutil.Alnum(t, 32)
	logged = insertLiteral(key)
	require.Contains(t, logged, "ERROR:", "the guard's error is still logged")
	require.NotContains(t, logged, "STATEMENT:")
	testutil.RequireAbsent(t, "the server log with log_min_error_statement = panic", logged, key)
	require.False(t, strings.Contains(logged, "INSERT INTO public.integrations"))
}

// logFile reads the log file of a server of the test's own.
type logFile struct {
	t    *testing.T
	path string
}

func newLogFile(t *testing.T, srv *testserver.Server) logFile {
	return logFile{t: t, path: srv.Cluster().LogPath()}
}

// size returns the log's size in bytes now: the offset to read from.
func (l logFile) size() int64 {
	l.t.Helper()
	fi, err := os.Stat(l.path)
	require.NoError(l.t, err)
	return fi.Size()
}

// since returns what the server logged after the first from bytes.
func (l logFile) since(from int64) string {
	l.t.Helper()
	f, err := os.Open(l.path)
	require.NoError(l.t, err)
	defer f.Close()
	_, err = f.Seek(from, io.SeekStart)
	require.NoError(l.t, err)
	b, err := io.ReadAll(f)
	require.NoError(l.t, err)
	return string(b)
}

// loggedServer starts a server of the test's own with settings, stopped
// when the test ends, and skips the test unless the server runs from local
// binaries, whose log file the test can read.
func loggedServer(t *testing.T, settings map[string]string) *testserver.Server {
	t.Helper()
	srv := testutil.OwnServer(t, settings)
	if srv.Cluster() == nil || srv.Cluster().LogPath() == "" {
		t.Skip("needs a server started from local binaries, whose log file the test can read")
	}
	return srv
}

// TestNoPlaintextOnDisk writes credentials through every call that sets a
// value (Store in the default namespace and in another, Put creating and
// updating, Rotate, Refresh, the original store_credential), makes the
// server write everything to its files (CHECKPOINT, a WAL switch), and
// searches every file of the data directory, WAL and dead row versions
// included, for the values. supabase_vault 0.3's vault.create_secret writes
// the plaintext first and encrypts it in place: on the real extension a
// control value stored with it directly is found, which shows that the
// search would find a value the library let through.
func TestNoPlaintextOnDisk(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := testserver.Start(ctx, testserver.Options{NoExternal: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	if srv.Cluster() == nil || srv.Cluster().Dir() == "" {
		t.Skip("needs a server started from local binaries, whose data directory the test can read")
	}
	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	// Every value starts with a marker random for this run, so that one
	// search finds any of them.
	marker := "disk-" + testutil.Alnum(t, 16) + "-"
	value := func() string { return marker + testutil.Alnum(t, 24) }
	admin := testutil.Connect(t, db.AdminURL)
	flushed := func() string {
		t.Helper()
		_, err := admin.Exec(ctx, "CHECKPOINT")
		require.NoError(t, err)
		_, err = admin.Exec(ctx, "SELECT pg_switch_wal()")
		require.NoError(t, err)
		path, files, err := testutil.FileContaining(srv.Cluster().Dir(), marker)
		require.NoError(t, err)
		require.NotZero(t, files)
		return path
	}

	for _, ns := range []string{"", "org-" + testutil.Alnum(t, 6)} {
		c, _ := setup(t, on(db.Pool, db.Schema), namespace(ns))
		id, err := c.Store(ctx, "acme/quickbooks", value(), "")
		require.NoError(t, err)
		_, err = c.Store(ctx, "acme/quickbooks", value(), "") // a taken name
		require.NoError(t, err)
		require.NoError(t, c.Rotate(ctx, id, value()))
		cred, err := c.Put(ctx, "acme/hubspot", value(), "")
		require.NoError(t, err)
		_, err = c.Put(ctx, "acme/hubspot", value(), "")
		require.NoError(t, err)
		_, err = c.Refresh(ctx, cred.ID, func(context.Context, vault.Secret) (string, error) { return value(), nil })
		require.NoError(t, err)
	}
	svc := testutil.Connect(t, db.URL)
	_, err = svc.Exec(ctx, "SET ROLE service_role")
	require.NoError(t, err)
	_, err = svc.Exec(ctx, "SELECT "+testutil.Ident(db.Schema)+".store_credential('by-sql', $1)", value())
	require.NoError(t, err)
	require.Empty(t, flushed(), "a value in plaintext in a file of the data directory")

	if !srv.Cluster().SupabaseVault() {
		return // the compatibility layer encrypts before it writes
	}
	_, err = admin.Exec(ctx, "SELECT vault.create_secret($1)", value())
	require.NoError(t, err)
	require.NotEmpty(t, flushed(), "vault.create_secret called directly leaves its value on disk")
}
