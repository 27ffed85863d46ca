package vault_test

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

func TestEmbeddedMigrationsAreValid(t *testing.T) {
	n, err := vault.LoadMigrations(vault.Migrations)
	require.NoError(t, err)
	require.Equal(t, migrationCount(t), n)

	sql, err := vault.MigrationSQL("team_credentials")
	require.NoError(t, err)
	require.NotContains(t, sql, "@schema@")
	require.Contains(t, sql, `"team_credentials".store_credential`)
}

func TestMigrationLoaderRejectsBadSets(t *testing.T) {
	ok := &fstest.MapFile{Data: []byte("SELECT 1;")}
	for name, fsys := range map[string]fstest.MapFS{
		"gap":        {"0001_a.sql": ok, "0003_c.sql": ok},
		"duplicate":  {"0001_a.sql": ok, "0001_b.sql": ok},
		"not first":  {"0002_a.sql": ok},
		"bad name":   {"0001_a.sql": ok, "0002-B.sql": ok},
		"empty file": {"0001_a.sql": {Data: []byte(" \n")}},
		"none":       {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := vault.LoadMigrations(fsys)
			require.Error(t, err)
		})
	}
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	c, err := vault.New(db.Pool, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)
	require.NoError(t, c.Migrate(ctx))
	require.NoError(t, c.Migrate(ctx))
	require.Equal(t, migrationCount(t), countRows(t, db.Pool, db.Schema))

	status, err := c.MigrationStatus(ctx)
	require.NoError(t, err)
	require.Len(t, status, migrationCount(t))
	for i, m := range status {
		require.Equal(t, i+1, m.Version)
		require.True(t, m.Applied, m.File)
		require.False(t, m.Drifted(), m.File)
		require.False(t, m.AppliedAt.IsZero())
	}

	fresh, err := vault.New(db.Pool, vault.WithSchema("not_yet_migrated"), quiet())
	require.NoError(t, err)
	status, err = fresh.MigrationStatus(ctx)
	require.NoError(t, err)
	require.Len(t, status, migrationCount(t))
	require.False(t, status[0].Applied, "a schema without the table has everything pending")
}

func TestMigrateIntoSchemaVaultAsPostgresExplainsWithSchema(t *testing.T) {
	t.Parallel()
	db := vaulttest.Shared(t)
	c, err := vault.New(db.Pool, quiet()) // default schema "vault"
	require.NoError(t, err)
	err = c.Migrate(context.Background())
	require.ErrorIs(t, err, vault.ErrSchemaNotWritable)
	require.Contains(t, err.Error(), "WithSchema")
}

func TestMigrateRejectsEditedMigration(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	_, err := db.Pool.Exec(ctx, "UPDATE "+db.Schema+".credvault_migrations SET checksum = 'edited' WHERE version = 1")
	require.NoError(t, err)
	c, err := vault.New(db.Pool, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)
	err = c.Migrate(ctx)
	require.ErrorIs(t, err, vault.ErrMigrationChecksum)
	require.Contains(t, err.Error(), "0001_")
	require.Equal(t, migrationCount(t), countRows(t, db.Pool, db.Schema), "nothing changed")
	status, err := c.MigrationStatus(ctx)
	require.NoError(t, err)
	require.True(t, status[0].Drifted())
	require.False(t, status[1].Drifted())

	_, err = db.Pool.Exec(ctx, "INSERT INTO "+db.Schema+".credvault_migrations (version, name, checksum) VALUES (9999, '9999_future.sql', 'x')")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "DELETE FROM "+db.Schema+".credvault_migrations WHERE checksum = 'edited'")
	require.NoError(t, err)
	require.ErrorIs(t, c.Migrate(ctx), vault.ErrMigrationChecksum, "a database ahead of the module is refused")
}

func TestMigrateWithoutVault(t *testing.T) {
	t.Parallel()
	_, ownerURL := plainDatabase(t)
	c, err := vault.New(connect(t, ownerURL), vault.WithSchema("credentials"), quiet())
	require.NoError(t, err)
	err = c.Migrate(context.Background())
	require.ErrorIs(t, err, vault.ErrVaultUnavailable)
	require.Contains(t, err.Error(), "WithCompatVault")

	// Opting in is not enough without a superuser.
	c, err = vault.New(connect(t, ownerURL), vault.WithSchema("credentials"),
		vault.WithCompatVault(testserver.SharedServer(t).Cluster().KeyFile()), quiet())
	require.NoError(t, err)
	require.ErrorIs(t, c.Migrate(context.Background()), vault.ErrPermissionDenied)
}

func TestCompatOnPlainPostgresWithDefaults(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	adminURL, _ := plainDatabase(t)
	pool := connect(t, adminURL)
	keyFile := testserver.SharedServer(t).Cluster().KeyFile()

	// A superuser-owned install in the default schema, as on plain PostgreSQL.
	owner, err := vault.New(pool, vault.WithCompatVault(keyFile), quiet())
	require.NoError(t, err)
	require.NoError(t, owner.Migrate(ctx))
	require.NoError(t, owner.Migrate(ctx))
	require.Equal(t, migrationCount(t), countRows(t, pool, "vault"))

	c, err := vault.New(pool, vault.WithRole("service_role"), quiet())
	require.NoError(t, err)
	secret := newSecret()
	id, err := c.Store(ctx, "plain/postgres", secret, "")
	require.NoError(t, err)
	got, err := c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == secret, "Retrieve returned another value")
}

// TestMigrateRefusesTargetOwnedByAnotherRole runs Migrate where another
// role owns the target schema or a look-alike migration table: a schema's
// owner may drop and replace the functions Migrate creates there, and a
// table's owner attaches triggers that would run as the migrating role.
// Migrate refuses with ErrSchemaNotWritable before changing anything, and
// the planted trigger never runs.
func TestMigrateRefusesTargetOwnedByAnotherRole(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	if db.AdminURL == "" {
		t.Skip("creates roles: needs a throwaway server, not VAULT_TEST_DATABASE_URL")
	}
	admin := connect(t, db.AdminURL)
	other := "credvault_other_" + randomHex(t, 4)
	_, err := admin.Exec(ctx, fmt.Sprintf(`CREATE ROLE %[1]s NOLOGIN;
GRANT %[1]s TO postgres;
GRANT CREATE ON SCHEMA public TO %[1]s;
CREATE SCHEMA others_schema AUTHORIZATION %[1]s;
GRANT CREATE, USAGE ON SCHEMA others_schema TO postgres;
CREATE SCHEMA planted AUTHORIZATION postgres;
GRANT CREATE, USAGE ON SCHEMA planted TO %[1]s;
SET ROLE %[1]s;
CREATE TABLE public.trigger_ran (ran_as name);
GRANT INSERT ON public.trigger_ran TO PUBLIC;
CREATE FUNCTION public.record_ran() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.trigger_ran VALUES (current_user);
    RETURN NEW;
END $$;
CREATE TABLE planted.credvault_migrations (version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now());
CREATE TRIGGER record_ran BEFORE INSERT ON planted.credvault_migrations FOR EACH ROW EXECUTE FUNCTION public.record_ran();
RESET ROLE;`, secIdent(other)))
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP OWNED BY "+secIdent(other)+" CASCADE; DROP ROLE "+secIdent(other))
	})

	for _, tc := range []struct{ schema, owner, url string }{
		{"others_schema", other, db.URL},      // postgres migrating into a schema of another role
		{"planted", other, db.URL},            // postgres migrating next to another role's table
		{db.Schema + "_copy", "postgres", ""}, // a superuser migrating into postgres's schema
	} {
		t.Run(tc.schema, func(t *testing.T) {
			pool := db.Pool
			if tc.url == "" {
				_, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+secIdent(tc.schema))
				require.NoError(t, err)
				pool = admin
			}
			c, err := vault.New(pool, vault.WithSchema(tc.schema), quiet())
			require.NoError(t, err)
			err = c.Migrate(ctx)
			require.ErrorIs(t, err, vault.ErrSchemaNotWritable)
			require.Contains(t, err.Error(), "owned by "+secIdent(tc.owner))
			var functions, ran int
			require.NoError(t, admin.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_proc WHERE pronamespace = $1::regnamespace),
       (SELECT count(*) FROM public.trigger_ran)`, secIdent(tc.schema)).Scan(&functions, &ran))
			require.Zero(t, functions, "nothing was created in %s", tc.schema)
			require.Zero(t, ran, "the planted trigger ran")
		})
	}
}

// TestMigrateKeepsCallerSearchPath runs Migrate and MigrationStatus inside
// a caller's transaction whose search_path is its own: they pin theirs
// while they run and leave the caller's as it was.
func TestMigrateKeepsCallerSearchPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := vaulttest.Tx(t, vaulttest.NewDatabase(t).Pool)
	const own = "public, pg_catalog"
	_, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, true)", own)
	require.NoError(t, err)
	c, err := vault.New(tx, vault.WithSchema("in_caller_tx"), quiet())
	require.NoError(t, err)
	require.NoError(t, c.Migrate(ctx))
	_, err = c.MigrationStatus(ctx)
	require.NoError(t, err)
	var got string
	require.NoError(t, tx.QueryRow(ctx, "SELECT pg_catalog.current_setting('search_path')").Scan(&got))
	require.Equal(t, own, got)
}
