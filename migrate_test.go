package vault_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
	c := ownerClient(t, db.Pool, db.Schema)
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
	c := ownerClient(t, db.Pool, db.Schema)
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
	storeNew(t, c, "plain/postgres")
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
	db := throwawayDatabase(t, "creates roles")
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
			c := ownerClient(t, pool, tc.schema)
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

// TestMigrateWarnsAsDoctorReports has a superuser change what the server
// logs, and take a Vault privilege from the functions' owner: Migrate
// reads the server with the same rules as credvault doctor and warns
// about each, sampled statement logging included.
func TestMigrateWarnsAsDoctorReports(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := throwawayDatabase(t, "changes database settings and Vault grants")
	admin := connect(t, db.AdminURL)
	alterDB := "ALTER DATABASE " + secIdent(db.Name) + " "
	for _, tc := range []struct {
		name  string
		setup []string
		want  string // in one WARN record
	}{
		{"sampled statements", []string{"SET log_min_duration_sample = 0", "SET log_statement_sample_rate = 0.5"},
			"bind parameters, which include secrets (log_min_duration_sample = 0ms with log_statement_sample_rate = 0.5"},
		{"sampled transactions", []string{"SET log_transaction_sample_rate = 0.25"},
			"bind parameters, which include secrets (log_transaction_sample_rate = 0.25"},
		{"parameters of failing statements", []string{"SET log_parameter_max_length_on_error = -1"},
			"log_parameter_max_length_on_error = -1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range tc.setup {
				_, err := admin.Exec(ctx, alterDB+s)
				require.NoError(t, err)
			}
			t.Cleanup(func() { _, _ = admin.Exec(ctx, alterDB+"RESET ALL") })
			logger, logs := secLogger()
			c, err := vault.New(connect(t, db.URL), vault.WithSchema(db.Schema), vault.WithLogger(logger))
			require.NoError(t, err)
			require.NoError(t, c.Migrate(ctx))
			requireWarning(t, logs, tc.want)
		})
	}

	// Retrievals run with the owner's Vault privileges.
	_, err := admin.Exec(ctx, "REVOKE EXECUTE ON FUNCTION vault._crypto_aead_det_decrypt FROM postgres, service_role CASCADE")
	require.NoError(t, err)
	logger, logs := secLogger()
	c, err := vault.New(connect(t, db.URL), vault.WithSchema(db.Schema), vault.WithLogger(logger))
	require.NoError(t, err)
	require.NoError(t, c.Migrate(ctx))
	requireWarning(t, logs, `"postgres", which owns the credential functions, lacks EXECUTE on function vault._crypto_aead_det_decrypt(`)
}

// requireWarning requires one WARN record whose message contains want.
func requireWarning(t *testing.T, logs *logBuffer, want string) {
	t.Helper()
	var msgs []string
	for _, r := range secRecords(t, logs) {
		if msg, _ := r["msg"].(string); r["level"] == "WARN" {
			if strings.Contains(msg, want) {
				return
			}
			msgs = append(msgs, msg)
		}
	}
	t.Fatalf("no warning says %q; warnings: %q", want, msgs)
}

// TestMigrationSQLAndMigrateRecognizeEachOther installs a schema from
// MigrationSQL's script, the way psql -1 -f runs it (one simple-protocol
// string, one transaction) and the way the Supabase CLI runs a migration
// file (split into statements, sent in one extended-protocol batch), and
// another with Migrate, then runs the other route on each: nothing is
// applied twice, nothing fails, and MigrationStatus sees every migration
// applied. The script refuses, like Migrate, an edited migration and a
// database ahead of it.
func TestMigrationSQLAndMigrateRecognizeEachOther(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := throwawayDatabase(t, "creates schemas")
	conn, err := pgx.Connect(ctx, db.URL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	psql := func(schema string) error { // psql -1 -f
		sql, err := vault.MigrationSQL(schema)
		require.NoError(t, err)
		_, err = conn.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol)
		return err
	}
	supabaseCLI := func(schema string) error {
		sql, err := vault.MigrationSQL(schema)
		require.NoError(t, err)
		stmts := splitStatements(sql)
		// search_path, the schema, the migration table, one per migration, search_path
		require.Len(t, stmts, 4+migrationCount(t))
		batch := &pgconn.Batch{}
		for _, stmt := range stmts {
			batch.ExecParams(stmt, nil, nil, nil, nil)
		}
		_, err = conn.PgConn().ExecBatch(ctx, batch).ReadAll()
		return err
	}
	recorded := func(schema string) []MigrationRow {
		var rows []MigrationRow
		r, err := conn.Query(ctx, "SELECT version, name, checksum, applied_at FROM "+secIdent(schema)+".credvault_migrations ORDER BY version")
		require.NoError(t, err)
		rows, err = pgx.CollectRows(r, pgx.RowToStructByPos[MigrationRow])
		require.NoError(t, err)
		return rows
	}
	migrate := func(schema string) *logBuffer {
		logger, logs := secLogger()
		c, err := vault.New(conn, vault.WithSchema(schema), vault.WithLogger(logger))
		require.NoError(t, err)
		require.NoError(t, c.Migrate(ctx))
		status, err := c.MigrationStatus(ctx)
		require.NoError(t, err)
		require.Len(t, status, migrationCount(t))
		for _, m := range status {
			require.True(t, m.Applied && !m.Drifted(), "%s: %+v", schema, m)
		}
		return logs
	}
	works := func(schema string) {
		c, err := vault.New(conn, vault.WithSchema(schema), vault.WithRole("service_role"), quiet())
		require.NoError(t, err)
		secret := newSecret()
		id, err := c.Store(ctx, "routes/"+schema, secret, "")
		require.NoError(t, err)
		got, err := c.Retrieve(ctx, id)
		require.NoError(t, err)
		require.True(t, got == secret, "Retrieve returned another value")
		require.NoError(t, c.Delete(ctx, id))
	}

	for name, run := range map[string]func(string) error{"psql": psql, "supabase_cli": supabaseCLI} {
		// The script first, then Migrate, which finds nothing to do.
		schema := "script_first_" + name
		require.NoError(t, run(schema))
		before := recorded(schema)
		require.Len(t, before, migrationCount(t))
		logs := migrate(schema)
		require.NotContains(t, logs.String(), "applied migration")
		require.NoError(t, run(schema), "the script again")
		require.Equal(t, before, recorded(schema), "nothing applied twice")
		works(schema)

		// Migrate first, then the script, which finds nothing to do.
		schema = "migrate_first_" + name
		logs = migrate(schema)
		require.Equal(t, migrationCount(t), strings.Count(logs.String(), "applied migration"))
		before = recorded(schema)
		require.NoError(t, run(schema))
		require.Equal(t, before, recorded(schema), "nothing applied twice")
		works(schema)
	}

	// A schema set up by the script of the previous release, which lacks
	// the last migration, gets only that one from either route.
	for name, run := range map[string]func(string) error{"psql": psql, "migrate": func(s string) error { migrate(s); return nil }} {
		schema := "behind_" + name
		script, err := vault.MigrationSQL(schema)
		require.NoError(t, err)
		last := migrationCount(t)
		lastPart := strings.LastIndex(script, fmt.Sprintf("\n-- %04d_", last))
		restore := strings.LastIndex(script, "\n-- Give the session its search_path back.")
		require.True(t, lastPart > 0 && restore > lastPart)
		_, err = conn.Exec(ctx, script[:lastPart]+script[restore:], pgx.QueryExecModeSimpleProtocol)
		require.NoError(t, err)
		require.Len(t, recorded(schema), last-1)
		require.NoError(t, run(schema), name)
		require.Len(t, recorded(schema), last)
		works(schema)
	}

	// A schema set up by the script of an earlier release, which recorded
	// nothing: both routes refuse it with the same explanation instead of
	// failing on the first CREATE, until its migrations are recorded.
	legacy := "legacy_script"
	require.NoError(t, psql(legacy))
	rows := recorded(legacy)
	_, err = conn.Exec(ctx, "DROP TABLE "+secIdent(legacy)+".credvault_migrations")
	require.NoError(t, err)
	c := ownerClient(t, conn, legacy)
	err = c.Migrate(ctx)
	require.ErrorIs(t, err, vault.ErrMigrationChecksum)
	require.Contains(t, err.Error(), `schema "legacy_script" holds credential functions but no credvault_migrations table`)
	for _, run := range []func(string) error{psql, supabaseCLI} {
		err = run(legacy)
		require.Equal(t, "55000", sqlstate(err))
		require.Contains(t, err.Error(), "holds credential functions but no credvault_migrations table")
	}
	var exists bool
	require.NoError(t, conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", legacy+".credvault_migrations").Scan(&exists))
	require.False(t, exists, "a refused run leaves nothing")
	// Recording them as the README says, from the old script's headers.
	_, err = conn.Exec(ctx, "CREATE TABLE "+secIdent(legacy)+".credvault_migrations (version integer PRIMARY KEY, "+
		"name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
	require.NoError(t, err)
	for _, r := range rows {
		_, err = conn.Exec(ctx, "INSERT INTO "+secIdent(legacy)+".credvault_migrations (version, name, checksum) VALUES ($1, $2, $3)",
			r.Version, r.Name, r.Checksum)
		require.NoError(t, err)
	}
	migrate(legacy)
	require.NoError(t, psql(legacy))
	works(legacy)

	// Like Migrate, the script refuses an edited migration and a database
	// ahead of it, and changes nothing.
	schema := "script_refuses"
	require.NoError(t, psql(schema))
	_, err = conn.Exec(ctx, "UPDATE "+secIdent(schema)+".credvault_migrations SET checksum = 'edited' WHERE version = 2")
	require.NoError(t, err)
	before := recorded(schema)
	err = psql(schema)
	require.Equal(t, "55000", sqlstate(err))
	require.Contains(t, err.Error(), "0002_plaintext_guard.sql was applied from another file (sha256 edited)")
	require.Equal(t, before, recorded(schema))
	_, err = conn.Exec(ctx, "DROP SCHEMA "+secIdent(schema)+" CASCADE")
	require.NoError(t, err)
	require.NoError(t, psql(schema))
	_, err = conn.Exec(ctx, "INSERT INTO "+secIdent(schema)+".credvault_migrations (version, name, checksum) VALUES (9999, '9999_future.sql', 'x')")
	require.NoError(t, err)
	err = psql(schema)
	require.Equal(t, "55000", sqlstate(err))
	require.Contains(t, err.Error(), "newer than this script")
}

// MigrationRow is one row of credvault_migrations.
type MigrationRow struct {
	Version   int
	Name      string
	Checksum  string
	AppliedAt time.Time
}

// splitStatements splits a script into statements the way migration tools
// such as the Supabase CLI do: at semicolons outside quotes, quoted
// identifiers, dollar-quoted strings and comments.
func splitStatements(sql string) []string {
	var stmts []string
	start := 0
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '\'' || c == '"':
			for i++; i < len(sql); i++ {
				if sql[i] == c {
					if i+1 < len(sql) && sql[i+1] == c {
						i++
						continue
					}
					break
				}
			}
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			end := strings.Index(sql[i+2:], "*/")
			i += 2 + end + 1
		case c == '$':
			m := dollarTagRE.FindString(sql[i:])
			if m == "" {
				continue
			}
			end := strings.Index(sql[i+len(m):], m)
			i += len(m) + end + len(m) - 1
		case c == ';':
			if s := strings.TrimSpace(sql[start : i+1]); s != ";" {
				stmts = append(stmts, s)
			}
			start = i + 1
		}
	}
	if s := strings.TrimSpace(sql[start:]); s != "" && !strings.HasPrefix(s, "--") {
		stmts = append(stmts, s)
	}
	return stmts
}

var dollarTagRE = regexp.MustCompile(`^\$([A-Za-z_][A-Za-z0-9_]*)?\$`)

// TestAccessLogIndexMigrationResumes applies migration 11 again after the
// two ways an operator may have prepared its index by hand: a CREATE INDEX
// CONCURRENTLY that was interrupted (an invalid index of the new name) and
// one that finished, followed by dropping the old index. Both end with the
// new index valid and the old one gone, and a list of the namespace still
// reports last retrievals.
func TestAccessLogIndexMigrationResumes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	if db.AdminURL == "" {
		t.Skip("needs the superuser to mark an index invalid")
	}
	admin := connect(t, db.AdminURL)
	s := pgx.Identifier{db.Schema}.Sanitize()
	c, err := vault.New(db.Pool, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)
	indexes := func() map[string]bool {
		t.Helper()
		rows, err := admin.Query(ctx, `SELECT x.relname, i.indisvalid FROM pg_index i JOIN pg_class x ON x.oid = i.indexrelid
			WHERE i.indrelid = $1::regclass AND x.relname LIKE 'vault_access_log_secret_id%'`, db.Schema+".vault_access_log")
		require.NoError(t, err)
		got := map[string]bool{}
		for rows.Next() {
			var name string
			var valid bool
			require.NoError(t, rows.Scan(&name, &valid))
			got[name] = valid
		}
		require.NoError(t, rows.Err())
		return got
	}
	want := map[string]bool{"vault_access_log_secret_id_accessed_at_op_idx": true}
	require.Equal(t, want, indexes())

	again := func(prepare string) {
		t.Helper()
		_, err := admin.Exec(ctx, "DELETE FROM "+s+".credvault_migrations WHERE version = 11")
		require.NoError(t, err)
		_, err = admin.Exec(ctx, prepare)
		require.NoError(t, err)
		require.NoError(t, c.Migrate(ctx))
		require.Equal(t, want, indexes())
	}
	// Interrupted: the old index back, the new one invalid.
	again("CREATE INDEX vault_access_log_secret_id_accessed_at_idx ON " + s + ".vault_access_log (secret_id, accessed_at DESC); " +
		"UPDATE pg_index SET indisvalid = false WHERE indexrelid = '" + db.Schema + ".vault_access_log_secret_id_accessed_at_op_idx'::regclass")
	// Finished by hand, old index already dropped.
	again("SELECT 1")
}
