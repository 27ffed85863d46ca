// Package vaulttest gives tests a real PostgreSQL with Supabase's role
// model, Vault and this module's migrations applied, so code that uses
// package vault can be tested against the same permission errors it meets
// in production.
//
// A typical test package:
//
//	func TestMain(m *testing.M) { vaulttest.Main(m) }
//
//	func TestSomething(t *testing.T) {
//		db := vaulttest.NewDatabase(t) // fresh database, migrated, dropped at cleanup
//		creds, err := vault.New(db.Pool, vault.WithSchema(db.Schema), vault.WithRole("service_role"))
//		...
//	}
//
// # Servers
//
// The server is chosen in this order:
//
//  1. VAULT_TEST_DATABASE_URL, if set: an existing database with Supabase
//     Vault, such as the one `supabase start` runs
//     (postgres://postgres:postgres@127.0.0.1:54322/postgres). Each test
//     database is then a fresh schema in it, dropped afterwards together
//     with the Vault secrets the test stored (see [NewDatabase]).
//  2. A throwaway cluster started from the local PostgreSQL binaries
//     (PG_BIN, pg_config --bindir or /usr/lib/postgresql/*/bin), with the
//     Supabase roles, a random root key and Vault: the supabase_vault
//     extension when it is installed next to the binaries, else this
//     module's compatibility layer. CREDVAULT_TEST_VAULT=compat forces the
//     compatibility layer, CREDVAULT_TEST_VAULT=supabase_vault requires the
//     extension. When running as root the server runs as the OS user
//     postgres.
//  3. Only in test binaries that import package
//     github.com/credvault/vault/vaulttest/vaulttestdocker (for its side
//     effect): a Supabase Postgres container through Docker, when a daemon
//     answers. The Docker client is kept out of this package so that it
//     does not reach the go.mod of every module that imports it.
//
// Otherwise tests fail with a message saying what to install; they are
// never skipped.
package vaulttest

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credvault/vault/internal/testserver"
)

// Database is a migrated database (or, with VAULT_TEST_DATABASE_URL, a
// migrated schema in that database).
type Database struct {
	// Pool is connected as postgres, the role that owns the credential
	// functions and runs migrations on Supabase (not a superuser).
	Pool *pgxpool.Pool
	// URL connects as postgres.
	URL string
	// AdminURL connects as the superuser supabase_admin; empty with
	// VAULT_TEST_DATABASE_URL.
	AdminURL string
	// Name is the database's name.
	Name string
	// Schema holds the credential functions: "credentials" on a throwaway
	// server, a fresh "credvault_test_<hex>" with VAULT_TEST_DATABASE_URL.
	// Pass it to vault.WithSchema.
	Schema string
}

func newDatabase(d *testserver.Database) *Database {
	return &Database{Pool: d.Pool, URL: d.URL, AdminURL: d.AdminURL, Name: d.Name, Schema: d.Schema}
}

// New returns a pool connected as postgres to a fresh database with Vault
// and the migrations applied, dropped when the test ends. Use
// [NewDatabase] to learn the schema of the functions.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return NewDatabase(t).Pool
}

// NewDatabase returns a fresh database with Vault and every migration
// applied in [Database].Schema, on the test binary's shared server (started
// on first use). When the test ends its pool is closed and the database is
// dropped.
//
// With VAULT_TEST_DATABASE_URL the database is a fresh schema instead.
// When the test ends, the Vault secrets created through that schema's
// functions (Store, Put, import, which its access log records) are
// deleted, whichever connection created them, and the schema is dropped.
// Other secrets of that database, including those other clients create
// meanwhile, are never touched; secrets a test creates by calling
// vault.create_secret itself are its own to delete.
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	srv := testserver.SharedServer(t)
	db, err := srv.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("vaulttest: drop test database: %v", err)
		}
	})
	// Which Vault the test runs against, in the test's log (go test -v).
	var version *string
	vaultName := "the compatibility layer"
	if err := db.Pool.QueryRow(context.Background(),
		"SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'supabase_vault'").Scan(&version); err == nil && version != nil {
		vaultName = "supabase_vault " + *version
	}
	t.Logf("vaulttest: database %s, schema %s, Vault: %s", db.Name, db.Schema, vaultName)
	return newDatabase(db)
}

// sharedDatabase is the binary's shared database, made on first use.
var sharedDatabase = sync.OnceValues(func() (*Database, error) {
	db, err := testserver.SharedDatabase()
	if err != nil {
		return nil, err
	}
	return newDatabase(db), nil
})

// Shared returns one migrated database shared by every test of the binary,
// for tests that commit nothing: run them in a transaction from [Tx]. [Main]
// drops it.
func Shared(t testing.TB) *Database {
	t.Helper()
	db, err := sharedDatabase()
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// Main runs the tests, then drops the shared database and stops the shared
// server. Call it from TestMain; without it the server dies with the test
// process but leaves its temporary directory behind.
func Main(m *testing.M) {
	code := m.Run()
	if err := testserver.CloseShared(); err != nil {
		fmt.Fprintln(os.Stderr, "vaulttest:", err)
	}
	os.Exit(code)
}
