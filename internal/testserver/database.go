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
// Database.Close also deletes from vault.secrets the secrets created through
// that schema's functions (Store, Put, import: its access log records each
// creation), whichever connection made them, then drops the schema. It
// never deletes a secret the test did not create through the library;
// secrets a test creates with vault.create_secret itself are its own to
// delete.
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

// newExternalSchema migrates a fresh schema in the external database.
// Closing it deletes the Vault secrets created through that schema's
// functions, which its access log records (ops store, put and import),
// then drops the schema: a test leaves nothing behind, and never touches a
// secret it did not create. Secrets a test creates by calling
// vault.create_secret itself are its own to delete.
func (s *Server) newExternalSchema(ctx context.Context) (*Database, error) {
	schema := "credvault_test_" + randomHex(6)
	pool, err := pgxpool.New(ctx, s.external)
	if err != nil {
		return nil, fmt.Errorf("vaulttest: %s: %w", EnvDatabaseURL, err)
	}
	drop := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, s.external)
		if err != nil {
			return fmt.Errorf("vaulttest: %s: %w", EnvDatabaseURL, err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			q := pgx.Identifier{schema}.Sanitize()
			var logged bool
			if err := tx.QueryRow(ctx, "SELECT pg_catalog.to_regclass($1) IS NOT NULL", q+".vault_access_log").Scan(&logged); err != nil {
				return err
			}
			if logged {
				_, err := tx.Exec(ctx, "DELETE FROM vault.secrets AS s WHERE s.id OPERATOR(pg_catalog.=) ANY (ARRAY("+
					"SELECT l.secret_id FROM "+q+".vault_access_log AS l "+
					"WHERE l.op OPERATOR(pg_catalog.=) ANY ('{store,put,import}'::pg_catalog.text[])))")
				if err != nil {
					return fmt.Errorf("vaulttest: delete the secrets stored by the test: %w", err)
				}
			}
			if _, err := tx.Exec(ctx, "DROP SCHEMA IF EXISTS "+q+" CASCADE"); err != nil {
				return fmt.Errorf("vaulttest: drop schema %s: %w", schema, err)
			}
			return nil
		})
	}
	if err := migrate(ctx, pool, schema); err != nil {
		err = errors.Join(fmt.Errorf("vaulttest: migrate %s: %w", EnvDatabaseURL, err), drop(ctx))
		pool.Close()
		return nil, err
	}
	return &Database{Pool: pool, URL: s.external, Name: pool.Config().ConnConfig.Database, Schema: schema,
		drop: drop}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
