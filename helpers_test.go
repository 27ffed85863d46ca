package vault_test

import (
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault"
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

// testTx returns a transaction on the shared migrated database, connected
// as the migration owner (postgres), rolled back when the test ends.
func testTx(t *testing.T) pgx.Tx {
	t.Helper()
	return vaulttest.Tx(t, vaulttest.Shared(t).Pool)
}

type logBuffer = testutil.LogBuffer

var (
	newSecret        = testutil.NewSecret
	randomBytes      = testutil.RandomBytes
	randomHex        = testutil.RandomHex
	secAlnum         = testutil.Alnum
	sqlstate         = testutil.SQLState
	secIdent         = testutil.Ident
	quoteLiteral     = testutil.QuoteLiteral
	quiet            = testutil.Quiet
	connect          = testutil.Connect
	newTestPool      = testutil.NewPool
	secLogger        = testutil.Logger
	secRecords       = testutil.Records
	secContains      = testutil.Contains
	secRequireAbsent = testutil.RequireAbsent
	secErrorTexts    = testutil.ErrorTexts
	lcNamespace      = testutil.NewNamespace
	migrationFiles   = testutil.MigrationFiles
	migrationCount   = testutil.MigrationCount
	countRows        = testutil.AppliedMigrations

	lcRequireOneCredential = testutil.RequireOneCredential
	secRetrievals          = testutil.Retrievals
)
