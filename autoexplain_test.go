package vault_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
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
	srv, err := testserver.Start(ctx, testserver.Options{NoExternal: true, Settings: map[string]string{
		"log_parameter_max_length":           "0",
		"auto_explain.log_min_duration":      "0",
		"auto_explain.log_verbose":           "on",
		"auto_explain.log_nested_statements": "on",
	}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	if srv.Cluster() == nil || srv.Cluster().LogPath() == "" {
		t.Skip("needs a server started from local binaries, whose log file the test can read")
	}

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
		libs = append(libs, secQuoteLiteral(strings.TrimSpace(lib)))
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

	pool := connect(t, db.URL)
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
	logPath := srv.Cluster().LogPath()
	fi, err := os.Stat(logPath)
	require.NoError(t, err)
	from := fi.Size()

	logger, logs := secLogger()
	owner, err := vault.New(pool, vault.WithSchema(db.Schema), vault.WithLogger(logger))
	require.NoError(t, err)
	require.NoError(t, owner.Migrate(ctx))
	warnings := 0
	for _, r := range secRecords(t, logs) {
		if msg, _ := r["msg"].(string); r["level"] == "WARN" && strings.Contains(msg, "auto_explain.log_verbose = off") {
			warnings++
		}
	}
	require.Equal(t, 1, warnings, "Migrate warns that auto_explain logs plans with values")

	var secrets []string
	secret := func() string { v := newSecret(); secrets = append(secrets, v); return v }

	// Through the pool, as service_role.
	svc, err := vault.New(pool, vault.WithSchema(db.Schema), vault.WithRole(secService), vault.WithLogger(logger))
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
	control := newSecret()
	_, err = pool.Exec(ctx, "SELECT "+secIdent(db.Schema)+".store_credential($1, $2, '')", "explain/control/"+uuid.NewString(), control)
	require.NoError(t, err)

	f, err := os.Open(logPath)
	require.NoError(t, err)
	defer f.Close()
	_, err = f.Seek(from, io.SeekStart)
	require.NoError(t, err)
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	serverLog := string(b)

	require.Contains(t, serverLog, "Query Text: SELECT "+secIdent(db.Schema)+".credential_store($1, $2, $3, $4)",
		"auto_explain logged the calls' plans")
	if realVault {
		require.Contains(t, serverLog, "Query Text: INSERT INTO vault.secrets", "auto_explain logged the nested statements' plans")
	}
	require.True(t, strings.Contains(serverLog, control), "expected the control's value in the log of its custom plan")
	secRequireAbsent(t, "the server log under auto_explain.log_verbose", serverLog, secrets...)
	secRequireAbsent(t, "the Go log", logs.String(), append(secrets, control)...)
}
