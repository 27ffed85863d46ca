package testserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/pgcluster"
)

// schema is where the migrations are applied on a throwaway server. It is
// not "vault" because, as on Supabase, the migration role postgres may not
// create objects in schema vault. External databases get a fresh schema per
// test database instead.
const schema = "credentials"

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
	// Schema holds the credential functions: "credentials" on a throwaway
	// server, a fresh credvault_test_<hex> on an external one.
	Schema string

	drop func(context.Context) error
}

// Close closes the pool and drops the database. On an external server it
// drops the schema and deletes the Vault secrets the test stored (see
// [Server.NewDatabase]).
func (d *Database) Close() error {
	d.Pool.Close()
	return d.drop(context.Background())
}

// NewDatabase returns a fresh database with Vault and every migration
// applied. On a throwaway server it is a clone of a template database made
// on first use, dropped by [Database.Close].
//
// On an external server it is a fresh schema in that database, and
// Database.Close also deletes from vault.secrets what the test stored
// there, through any connection. The library keeps no record of which
// secrets a schema's functions created, so the rows are found by time: each
// test database holds a connection (its lease, named in pg_stat_activity)
// from creation to Close, and Close deletes the secrets created from the
// start of its lease up to the start of the oldest other live lease, of any
// process. Secrets created while a younger test database is alive are left
// to it, and an older one deletes all of this one's: no test loses a secret
// it still uses, and the last test database to close deletes the rest.
// Secrets that other clients (not tests) store in that database while any
// test database is alive are deleted too: point VAULT_TEST_DATABASE_URL at
// a database used by tests only, such as the one `supabase start` runs. A
// test binary that is killed leaves its schemas and secrets behind.
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
	return &Database{Pool: pool, URL: url, AdminURL: s.cluster.URL(pgcluster.AdminUser, name), Name: name, Schema: schema,
		drop: func(ctx context.Context) error { return s.dropDatabase(ctx, name) }}, nil
}

// templateDatabase makes, once, the database every test database is
// cloned from: Supabase's per-database setup, Vault (the extension when the
// server preloads it, else the compatibility layer) and the migrations,
// applied as postgres like on Supabase.
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
	if err := installVault(ctx, s.cluster, name); err != nil {
		return "", err
	}
	conn, err := pgx.Connect(ctx, s.cluster.URL(OwnerRole, name))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := migrate(ctx, conn, schema); err != nil {
		return "", err
	}
	s.template = name
	return name, nil
}

// installVault gives the database name the supabase_vault extension and
// Supabase's grants on it when the cluster preloads it, and otherwise the
// compatibility layer with the cluster's key file.
func installVault(ctx context.Context, c *pgcluster.Cluster, name string) error {
	conn, err := pgx.Connect(ctx, c.URL(pgcluster.AdminUser, name))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if !c.SupabaseVault() {
		return vault.InstallCompatVault(ctx, conn, c.KeyFile())
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

func migrate(ctx context.Context, db vault.DB, schema string) error {
	c, err := vault.New(db, vault.WithSchema(schema), vault.WithLogger(slog.New(slog.DiscardHandler)))
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

// leasePrefix starts the application_name of the lease connection of each
// test database on an external server.
const leasePrefix = "vaulttest lease "

// deleteStoredSQL deletes, on a lease connection, the secrets created from
// the start of this lease up to the start of the oldest other live lease.
// The created_at of a secret is the start of the transaction that stored it
// (now()), on the server's clock like backend_start. Its one snapshot hides
// the secrets of test databases whose leases it does not see.
const deleteStoredSQL = `
DELETE FROM vault.secrets AS s
 WHERE s.created_at OPERATOR(pg_catalog.>=) (
           SELECT a.backend_start FROM pg_catalog.pg_stat_activity AS a
            WHERE a.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid())
   AND s.created_at OPERATOR(pg_catalog.<) coalesce((
           SELECT pg_catalog.min(a.backend_start) FROM pg_catalog.pg_stat_activity AS a
            WHERE pg_catalog.starts_with(a.application_name, $1)
              AND a.pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()),
       'infinity')`

// newExternalSchema migrates a fresh schema in the external database, with
// a lease connection that Close uses to delete what the test stored.
func (s *Server) newExternalSchema(ctx context.Context) (*Database, error) {
	schema := "credvault_test_" + randomHex(6)
	cfg, err := pgx.ParseConfig(s.external)
	if err != nil {
		return nil, fmt.Errorf("vaulttest: %s: %w", EnvDatabaseURL, err)
	}
	cfg.RuntimeParams["application_name"] = leasePrefix + schema
	lease, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("vaulttest: %s: %w", EnvDatabaseURL, err)
	}
	release := func(ctx context.Context) error {
		defer lease.Close(context.WithoutCancel(ctx))
		return pgx.BeginFunc(ctx, lease, func(tx pgx.Tx) error {
			// The schema first: it may hold tables that reference the
			// secrets.
			if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE"); err != nil {
				return fmt.Errorf("vaulttest: drop schema %s: %w", schema, err)
			}
			if _, err := tx.Exec(ctx, deleteStoredSQL, leasePrefix); err != nil {
				return fmt.Errorf("vaulttest: delete the secrets stored by the test: %w", err)
			}
			return nil
		})
	}
	pool, err := pgxpool.New(ctx, s.external)
	if err == nil {
		err = migrate(ctx, pool, schema)
		if err != nil {
			pool.Close()
		}
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("vaulttest: migrate %s: %w", EnvDatabaseURL, err), release(ctx))
	}
	return &Database{Pool: pool, URL: s.external, Name: pool.Config().ConnConfig.Database, Schema: schema, drop: release}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
