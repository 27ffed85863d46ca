// Package vaulttest gives tests a real PostgreSQL with Supabase's role
// model, Vault and this module's migrations applied, so code that uses
// package vault can be tested against the same permission errors it meets
// in production.
//
// The server is chosen in this order:
//
//  1. VAULT_TEST_DATABASE_URL, if set: an existing database with Supabase
//     Vault, such as the one `supabase start` runs
//     (postgres://postgres:postgres@127.0.0.1:54322/postgres). Each test
//     database is then a fresh schema in it, dropped afterwards.
//  2. A throwaway cluster started from the local PostgreSQL binaries
//     (PG_BIN, pg_config --bindir or /usr/lib/postgresql/*/bin), with the
//     Supabase roles, the Vault compatibility layer and a random root key.
//     When running as root the server runs as the OS user postgres.
//  3. A Supabase Postgres container through Docker, when a daemon answers.
//
// Otherwise tests fail with a message saying what to install; they are
// never skipped.
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
package vaulttest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/pgcluster"
)

// Schema is the schema the migrations are applied in on a throwaway
// server (with VAULT_TEST_DATABASE_URL each database is a fresh schema: use
// [Database.Schema]). It is not "vault" because, as on Supabase, the
// migration role postgres may not create objects in schema vault.
const Schema = "credentials"

// OwnerRole is the role that runs the migrations and owns the functions,
// as on Supabase. Pools returned by this package connect as it.
const OwnerRole = "postgres"

// EnvDatabaseURL names the environment variable that points the tests at
// an existing database with Supabase Vault instead of a throwaway one.
const EnvDatabaseURL = "VAULT_TEST_DATABASE_URL"

// ServerOptions configure a throwaway server.
type ServerOptions struct {
	// Settings are extra postgresql.conf settings, such as
	// {"log_statement": "all"}. Ignored with VAULT_TEST_DATABASE_URL.
	Settings map[string]string
	// Logf receives progress messages; nil means silence.
	Logf func(format string, args ...any)
	// NoExternal ignores VAULT_TEST_DATABASE_URL, for tests that need their
	// own server (restarts, server logs).
	NoExternal bool
}

// Server is a PostgreSQL server ready to hand out migrated databases.
type Server struct {
	cluster  *pgcluster.Cluster // nil with an external URL
	external string             // VAULT_TEST_DATABASE_URL

	mu       sync.Mutex
	template string // name of the migrated template database, once made
}

// StartServer starts (or, with VAULT_TEST_DATABASE_URL, connects to) a
// server. Close it when done.
func StartServer(ctx context.Context, opts ServerOptions) (*Server, error) {
	if url := os.Getenv(EnvDatabaseURL); url != "" && !opts.NoExternal {
		return &Server{external: url}, nil
	}
	popts := pgcluster.Options{Settings: opts.Settings, Logf: opts.Logf}
	c, err := pgcluster.Start(ctx, popts)
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		var derr error
		c, derr = pgcluster.StartDocker(ctx, popts)
		if derr != nil {
			return nil, fmt.Errorf("vaulttest: no PostgreSQL to test against: %v; %v; "+
				"install PostgreSQL server binaries (apt-get install postgresql), "+
				"or set %s to a database with Supabase Vault (supabase start)", err, derr, EnvDatabaseURL)
		}
	} else if err != nil {
		return nil, fmt.Errorf("vaulttest: %w", err)
	}
	if err := pgcluster.ApplySupabaseRoles(ctx, c.AdminURL()); err != nil {
		_ = c.Stop()
		return nil, fmt.Errorf("vaulttest: %w", err)
	}
	return &Server{cluster: c}, nil
}

// Cluster returns the throwaway cluster, or nil when the server is an
// external database.
func (s *Server) Cluster() *pgcluster.Cluster { return s.cluster }

// Close stops a throwaway server and removes its files.
func (s *Server) Close() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Stop()
}

// Database is a migrated database (or, with an external server, schema).
type Database struct {
	// Pool is connected as [OwnerRole].
	Pool *pgxpool.Pool
	// URL connects as [OwnerRole].
	URL string
	// AdminURL connects as the bootstrap superuser; empty with an external
	// server.
	AdminURL string
	// Name is the database's name.
	Name string
	// Schema holds the credential functions.
	Schema string

	drop func(context.Context) error
}

// Close closes the pool and drops the database (or schema).
func (d *Database) Close() error {
	d.Pool.Close()
	return d.drop(context.Background())
}

// NewDatabase returns a fresh database with Vault and every migration
// applied in [Schema].
func (s *Server) NewDatabase(ctx context.Context) (*Database, error) {
	if s.cluster == nil {
		return s.newExternalSchema(ctx)
	}
	tmpl, err := s.templateDatabase(ctx)
	if err != nil {
		return nil, err
	}
	name := "credvault_test_" + randomHex(6)
	admin, err := pgx.Connect(ctx, s.cluster.AdminURL())
	if err != nil {
		return nil, err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	_, err = admin.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s OWNER %s",
		pgx.Identifier{name}.Sanitize(), pgx.Identifier{tmpl}.Sanitize(), pgx.Identifier{OwnerRole}.Sanitize()))
	if err != nil {
		return nil, fmt.Errorf("vaulttest: create database: %w", err)
	}
	url := s.cluster.URL(OwnerRole, name)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	adminURL := s.cluster.URL("supabase_admin", name)
	return &Database{Pool: pool, URL: url, AdminURL: adminURL, Name: name, Schema: Schema,
		drop: func(ctx context.Context) error { return s.dropDatabase(ctx, name) }}, nil
}

// templateDatabase makes, once, the database every test database is
// cloned from: Supabase's per-database setup, Vault (the extension when the
// server has it, else the compatibility layer) and the migrations, applied
// as postgres like on Supabase.
func (s *Server) templateDatabase(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.template != "" {
		return s.template, nil
	}
	const name = "credvault_template"
	if err := pgcluster.CreateDatabase(ctx, s.cluster.AdminURL(), name, OwnerRole); err != nil {
		return "", fmt.Errorf("vaulttest: %w", err)
	}
	if err := installVault(ctx, s.cluster.URL("supabase_admin", name), s.cluster.KeyFile()); err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, s.cluster.URL(OwnerRole, name))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := migrate(ctx, conn); err != nil {
		return "", err
	}
	s.template = name
	return name, nil
}

// installVault creates the supabase_vault extension when the server has it
// and grants what Supabase grants; otherwise it installs the compatibility
// layer with the cluster's key file.
func installVault(ctx context.Context, adminURL, keyFile string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var native bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'supabase_vault')").Scan(&native); err != nil {
		return err
	}
	if !native {
		if keyFile == "" {
			return errors.New("vaulttest: the server has neither supabase_vault nor a key file for the compatibility layer")
		}
		return vault.InstallCompatVault(ctx, conn, keyFile)
	}
	// Supabase's grants on Vault (see the module's facts on roles), by
	// function name so that the extension's exact signatures do not matter.
	_, err = conn.Exec(ctx, `
CREATE EXTENSION IF NOT EXISTS supabase_vault CASCADE;
GRANT USAGE ON SCHEMA vault TO postgres WITH GRANT OPTION;
GRANT SELECT, DELETE, TRUNCATE, REFERENCES ON vault.secrets, vault.decrypted_secrets TO postgres WITH GRANT OPTION;
GRANT USAGE ON SCHEMA vault TO service_role;
GRANT SELECT, DELETE ON vault.secrets, vault.decrypted_secrets TO service_role;
DO $grants$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_catalog.pg_proc AS p
              WHERE p.pronamespace = 'vault'::regnamespace
                AND p.proname IN ('create_secret', 'update_secret', '_crypto_aead_det_decrypt')
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO postgres WITH GRANT OPTION', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO service_role', f);
    END LOOP;
END;
$grants$;`)
	return err
}

func migrate(ctx context.Context, db vault.DB) error {
	c, err := vault.New(db, vault.WithSchema(Schema), vault.WithLogger(discardLogger()))
	if err != nil {
		return err
	}
	return c.Migrate(ctx)
}

func (s *Server) dropDatabase(ctx context.Context, name string) error {
	admin, err := pgx.Connect(ctx, s.cluster.AdminURL())
	if err != nil {
		return err
	}
	defer admin.Close(context.WithoutCancel(ctx))
	_, err = admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// newExternalSchema migrates a fresh schema in the external database.
func (s *Server) newExternalSchema(ctx context.Context) (*Database, error) {
	schema := "credvault_test_" + randomHex(6)
	pool, err := pgxpool.New(ctx, s.external)
	if err != nil {
		return nil, err
	}
	c, err := vault.New(pool, vault.WithSchema(schema), vault.WithLogger(discardLogger()))
	if err == nil {
		err = c.Migrate(ctx)
	}
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("vaulttest: migrate %s: %w", EnvDatabaseURL, err)
	}
	return &Database{Pool: pool, URL: s.external, Name: pool.Config().ConnConfig.Database, Schema: schema,
		drop: func(ctx context.Context) error {
			p, err := pgxpool.New(ctx, s.external)
			if err != nil {
				return err
			}
			defer p.Close()
			_, err = p.Exec(ctx, "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			return err
		}}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// The shared server of a test binary, started on first use.
var shared struct {
	once   sync.Once
	server *Server
	err    error

	dbOnce sync.Once
	db     *Database
	dbErr  error
}

// SharedServer returns the test binary's shared server, starting it on
// first use. [Main] stops it; without Main the server dies with the test
// process but leaves its temporary directory behind.
func SharedServer(t testing.TB) *Server {
	t.Helper()
	srv, err := OpenSharedServer()
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// OpenSharedServer is [SharedServer] for code that has no testing.TB, such
// as Example functions.
func OpenSharedServer() (*Server, error) {
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.server, shared.err = StartServer(ctx, ServerOptions{})
	})
	return shared.server, shared.err
}

// New returns a pool connected as [OwnerRole] to a fresh database with
// Vault and the migrations applied in [Schema]. The database is dropped
// when the test ends. With VAULT_TEST_DATABASE_URL the schema is a fresh
// one instead: use [NewDatabase] to learn it.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return NewDatabase(t).Pool
}

// NewDatabase is [New] returning the whole [Database].
func NewDatabase(t testing.TB) *Database {
	t.Helper()
	srv := SharedServer(t)
	db, err := srv.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("vaulttest: drop test database: %v", err)
		}
	})
	return db
}

// Shared returns one migrated database shared by every test of the binary,
// for tests that commit nothing (see [Tx]).
func Shared(t testing.TB) *Database {
	t.Helper()
	srv := SharedServer(t)
	shared.dbOnce.Do(func() {
		shared.db, shared.dbErr = srv.NewDatabase(context.Background())
	})
	if shared.dbErr != nil {
		t.Fatal(shared.dbErr)
	}
	return shared.db
}

// Main runs the tests and then stops the shared server. Call it from
// TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared.db != nil {
		_ = shared.db.Close()
	}
	if shared.server != nil {
		if err := shared.server.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "vaulttest:", err)
		}
	}
	os.Exit(code)
}
