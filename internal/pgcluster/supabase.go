package pgcluster

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// supabaseRolesSQL creates or updates the cluster-wide roles of a Supabase
// project. It runs in one transaction under an advisory lock, so concurrent
// callers do not race on CREATE ROLE.
const supabaseRolesSQL = `
SELECT pg_advisory_xact_lock(7366265302914120321);

DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['postgres', 'anon', 'authenticated', 'service_role', 'authenticator'] LOOP
		IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I', r);
		END IF;
	END LOOP;
END
$$;

ALTER ROLE postgres LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS;
ALTER ROLE anon NOLOGIN NOINHERIT;
ALTER ROLE authenticated NOLOGIN NOINHERIT;
ALTER ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
ALTER ROLE authenticator LOGIN NOINHERIT;

DO $$
DECLARE
	member text;
	target text;
BEGIN
	FOREACH member IN ARRAY ARRAY['authenticator', 'postgres'] LOOP
		FOREACH target IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
			IF NOT pg_catalog.pg_has_role(member, target, 'MEMBER') THEN
				EXECUTE format('GRANT %I TO %I', target, member);
			END IF;
		END LOOP;
	END LOOP;
END
$$;
`

// supabaseDatabaseSQL is the per-database part of the Supabase bootstrap.
const supabaseDatabaseSQL = `
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE SCHEMA IF NOT EXISTS extensions;
GRANT USAGE ON SCHEMA extensions TO postgres, anon, authenticated, service_role;
CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA extensions;

ALTER SCHEMA public OWNER TO postgres;
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES FOR ROLE postgres IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;

DO $$
BEGIN
	EXECUTE format('GRANT CREATE ON DATABASE %I TO postgres', current_database());
END
$$;
`

// ApplySupabaseRoles creates the cluster-wide roles of a Supabase project, or
// brings existing ones to the expected attributes and memberships. It
// connects with adminURL, which must be a superuser's (supabase_admin). It is
// idempotent and safe to call concurrently.
//
// The roles are:
//   - postgres: LOGIN NOSUPERUSER CREATEDB CREATEROLE REPLICATION BYPASSRLS,
//     member of anon, authenticated and service_role (so it can SET ROLE to
//     each of them);
//   - anon and authenticated: NOLOGIN NOINHERIT;
//   - service_role: NOLOGIN NOINHERIT BYPASSRLS;
//   - authenticator: LOGIN NOINHERIT, member of anon, authenticated and
//     service_role.
func ApplySupabaseRoles(ctx context.Context, adminURL string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pgcluster: connect as admin: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// Without arguments, Exec sends the statements in one simple-protocol
	// query, which runs as a single implicit transaction.
	if _, err := conn.Exec(ctx, supabaseRolesSQL); err != nil {
		return fmt.Errorf("pgcluster: apply Supabase roles: %w", err)
	}
	return nil
}

// CreateDatabase creates the database name owned by owner, then gives it the
// per-database part of the Supabase bootstrap, connected to it as the user of
// adminURL (a superuser's, such as [Cluster.AdminURL]):
//   - the extension pg_stat_statements;
//   - the schema extensions, usable by postgres, anon, authenticated and
//     service_role, holding the extension pgcrypto;
//   - the schema public owned by postgres and usable by anon, authenticated
//     and service_role, which by default receive all privileges on the
//     tables, sequences and functions that postgres creates in it;
//   - the CREATE privilege on the database for postgres.
//
// The roles must exist (see [ApplySupabaseRoles]). Names are quoted, so they
// may hold any character.
func CreateDatabase(ctx context.Context, adminURL, name, owner string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("pgcluster: connect as admin: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " OWNER " + pgx.Identifier{owner}.Sanitize()
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("pgcluster: create database %q: %w", name, err)
	}
	return bootstrapDatabase(ctx, adminURL, name)
}

// bootstrapDatabase runs the per-database Supabase bootstrap in the database
// name, connected with the credentials of adminURL.
func bootstrapDatabase(ctx context.Context, adminURL, name string) error {
	cfg, err := pgx.ParseConfig(adminURL)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	cfg.Database = name
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("pgcluster: connect to database %q: %w", name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, supabaseDatabaseSQL); err != nil {
		return fmt.Errorf("pgcluster: bootstrap database %q: %w", name, err)
	}
	return nil
}
