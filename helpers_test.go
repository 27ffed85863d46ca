package vault_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/pgcluster"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
	_ "github.com/credvault/vault/vaulttest/vaulttestdocker" // Docker fallback when no PostgreSQL is installed
)

// The helpers of the package's tests. What the tests/ package needs too
// lives in internal/testutil; the short names below keep the tests terse.

func TestMain(m *testing.M) { vaulttest.Main(m) }

// bundle holds what setup built besides the service client.
type bundle struct {
	tx    pgx.Tx        // nil when the client runs on a pool (on)
	owner *vault.Client // runs as the connection's role, postgres
	logs  *logBuffer    // both clients' JSON records
}

// setup returns a client that runs as service_role, and a bundle. By
// default both clients work in a transaction on the shared migrated
// database, rolled back when the test ends; on(db, schema) puts them on
// db instead, namespace(ns) scopes the service client and with(opts...)
// passes further options to vault.New.
func setup(t testing.TB, opts ...testutil.Option) (*vault.Client, *bundle) {
	t.Helper()
	c, b := testutil.Setup(t, opts...)
	return c, &bundle{tx: b.Tx, owner: b.Owner, logs: b.Logs}
}

var (
	on        = testutil.On
	with      = testutil.With
	namespace = testutil.Namespace
)

// testSchema is the schema of the shared database's functions:
// "credentials" on a throwaway server, a fresh one with
// VAULT_TEST_DATABASE_URL.
func testSchema(t testing.TB) string {
	t.Helper()
	return vaulttest.Shared(t).Schema
}

// sharedTx returns the shared migrated database and a transaction on it,
// connected as the migration owner (postgres), rolled back when the test
// ends.
func sharedTx(t testing.TB) (*vaulttest.Database, pgx.Tx) {
	t.Helper()
	db := vaulttest.Shared(t)
	return db, vaulttest.Tx(t, db.Pool)
}

// testTx returns a transaction on the shared migrated database, connected
// as the migration owner (postgres), rolled back when the test ends.
func testTx(t *testing.T) pgx.Tx {
	t.Helper()
	return vaulttest.Tx(t, vaulttest.Shared(t).Pool)
}

type logBuffer = testutil.LogBuffer

var (
	newSecret           = testutil.NewSecret
	trCounts            = testutil.TransferCounts
	throwawayDatabase   = testutil.ThrowawayDatabase
	isClosed            = testutil.Closed
	ownServer           = testutil.OwnServer
	storeNew            = testutil.StoreNew
	requireValue        = testutil.RequireValue
	requireRotateDelete = testutil.RequireRotateDelete
	randomBytes         = testutil.RandomBytes
	randomHex           = testutil.RandomHex
	secAlnum            = testutil.Alnum
	sqlstate            = testutil.SQLState
	secIdent            = testutil.Ident
	quoteLiteral        = testutil.QuoteLiteral
	quiet               = testutil.Quiet
	connect             = testutil.Connect
	newTestPool         = testutil.NewPool
	secLogger           = testutil.Logger
	secRecords          = testutil.Records
	secContains         = testutil.Contains
	secRequireAbsent    = testutil.RequireAbsent
	secErrorTexts       = testutil.ErrorTexts
	lcNamespace         = testutil.NewNamespace
	migrationFiles      = testutil.MigrationFiles
	migrationCount      = testutil.MigrationCount
	countRows           = testutil.AppliedMigrations

	lcRequireOneCredential = testutil.RequireOneCredential
	secRetrievals          = testutil.Retrievals
)

// newSecrets returns n fresh test secrets.
func newSecrets(n int) []string {
	values := make([]string, n)
	for i := range values {
		values[i] = newSecret()
	}
	return values
}

// together runs fn(0) to fn(n-1) in n goroutines released at once, and
// waits for them all.
func together(n int, fn func(i int)) {
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

// auditRows counts the access-log rows of op in schema: of the
// credential id only, unless id is nil.
func auditRows(t testing.TB, db vault.DB, schema, op string, id *uuid.UUID) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), "SELECT count(*) FROM "+secIdent(schema)+
		".vault_access_log WHERE op = $1 AND ($2::uuid IS NULL OR secret_id = $2)", op, id).Scan(&n))
	return n
}

// holdSecret creates in tx a table whose foreign key references the Vault
// secret id, as a user's integration table may, and returns the function
// that deletes the reference.
func holdSecret(t testing.TB, tx pgx.Tx, id uuid.UUID) (release func()) {
	t.Helper()
	ctx := context.Background()
	table := pgx.Identifier{"public", "fk_" + randomHex(t, 6)}.Sanitize()
	_, err := tx.Exec(ctx, "CREATE TABLE "+table+" (secret_id uuid REFERENCES vault.secrets (id))")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", id)
	require.NoError(t, err)
	return func() {
		_, err := tx.Exec(ctx, "DELETE FROM "+table)
		require.NoError(t, err)
	}
}

// ownerClient returns a client on db of the functions in schema that runs
// as the connection's role, without WithRole, and discards its log.
func ownerClient(t testing.TB, db vault.DB, schema string) *vault.Client {
	t.Helper()
	c, err := vault.New(db, vault.WithSchema(schema), quiet())
	require.NoError(t, err)
	return c
}

// storeFresh stores a new test secret in c under prefix followed by a
// random UUID, and returns its id.
func storeFresh(t testing.TB, c *vault.Client, prefix string) uuid.UUID {
	t.Helper()
	id, err := c.Store(context.Background(), prefix+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	return id
}

// fileSection returns the text of the file at path after the first start
// and before the next end, or to the end of the file when end is "" or
// not found. It fails the test when the file has no start.
func fileSection(t testing.TB, path, start, end string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(b), start)
	require.True(t, ok, "%s has no %q", path, start)
	if end == "" {
		return after
	}
	section, _, _ := strings.Cut(after, end)
	return section
}

// plainDatabase returns a database on the shared server with the Supabase
// roles but without Vault, and its superuser and postgres URLs.
func plainDatabase(t *testing.T) (adminURL, ownerURL string) {
	t.Helper()
	cluster := testserver.SharedServer(t).Cluster()
	if cluster == nil {
		t.Skip("needs a throwaway server: VAULT_TEST_DATABASE_URL points at an existing database")
	}
	name := "plain_" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "_"))
	require.NoError(t, pgcluster.CreateDatabase(context.Background(), cluster.AdminURL(), name, "postgres"))
	t.Cleanup(func() {
		pool, err := pgxpool.New(context.Background(), cluster.AdminURL())
		if err == nil {
			_, _ = pool.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			pool.Close()
		}
	})
	return cluster.URL("supabase_admin", name), cluster.URL("postgres", name)
}

// secFindRecord returns the records whose attributes include want.
func secFindRecord(records []map[string]any, want map[string]any) []map[string]any {
	var found []map[string]any
next:
	for _, r := range records {
		for k, v := range want {
			if r[k] != v {
				continue next
			}
		}
		found = append(found, r)
	}
	return found
}

// secProbe runs exec as role in a savepoint of tx that is always rolled back,
// so a successful probe changes nothing, and returns the SQLSTATE of the
// failure, or "" on success.
func secProbe(t *testing.T, tx pgx.Tx, role string, exec func(ctx context.Context, tx pgx.Tx) error) string {
	t.Helper()
	ctx := context.Background()
	sp, err := tx.Begin(ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, sp.Rollback(ctx)) }()
	_, err = sp.Exec(ctx, "SELECT pg_catalog.set_config('role', $1, true)", role)
	require.NoError(t, err)
	err = exec(ctx, sp)
	if err == nil {
		return ""
	}
	code := sqlstate(err)
	require.NotEmpty(t, code, "the probe failed without a server error: %v", err)
	return code
}

// secExec returns a probe running each statement in turn, the last one with
// args. Statements are parsed anew each time (no statement cache), so every
// probe meets every permission check as the role it runs as.
func secExec(stmts []string, args ...any) func(context.Context, pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		for i, s := range stmts {
			a := []any{pgx.QueryExecModeExec}
			if i == len(stmts)-1 {
				a = append(a, args...)
			}
			if _, err := tx.Exec(ctx, s, a...); err != nil {
				return err
			}
		}
		return nil
	}
}

// secSQL returns a probe running one statement.
func secSQL(sql string, args ...any) func(context.Context, pgx.Tx) error {
	return secExec([]string{sql}, args...)
}

// The roles of the matrix. secPublic stands for PUBLIC: a fresh role with
// no grants, which holds exactly what PUBLIC holds.
const (
	secPublic  = "PUBLIC"
	secOwner   = testserver.OwnerRole
	secService = "service_role"
)

// lcClient is setup's client as service_role on db, in schema and namespace
// ns, for tests that need several clients at once.
func lcClient(t testing.TB, db vault.DB, schema, ns string) *vault.Client {
	t.Helper()
	c, _ := setup(t, on(db, schema), namespace(ns))
	return c
}
