package vault

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault/internal/preflight"
	"github.com/credvault/vault/internal/vaultstate"
)

//go:embed schema/*.sql
var schemaFiles embed.FS

// Migrations holds the SQL migrations that [Client.Migrate] applies, as
// files named NNNN_description.sql, for teams that apply migrations with
// their own tool (the Supabase CLI, goose, tern...). Apply them in order,
// each once, after replacing every "@schema@" with the quoted target schema,
// as the role that should own the functions; or use [MigrationSQL], which
// does the replacing.
var Migrations fs.FS = mustSub(schemaFiles, "schema")

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // unreachable: dir is a literal embedded above
	}
	return sub
}

// schemaPlaceholder is replaced by the quoted target schema in migrations.
const schemaPlaceholder = "@schema@"

// migrationTable records applied migrations, in the target schema.
const migrationTable = preflight.MigrationTable

var migrationFileRE = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.sql$`)

type migration struct {
	version  int
	file     string
	sql      string
	checksum string // hex SHA-256 of the file as shipped
}

// loadMigrations reads and validates the migration set: strictly named
// files, versions 1..n without gaps or duplicates, none empty.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var migs []migration
	for _, e := range entries {
		m := migrationFileRE.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			return nil, fmt.Errorf("migration %q: name must match NNNN_lowercase_words.sql", e.Name())
		}
		b, err := fs.ReadFile(fsys, e.Name())
		if err != nil {
			return nil, err
		}
		if strings.TrimSpace(string(b)) == "" {
			return nil, fmt.Errorf("migration %q is empty", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		sum := sha256.Sum256(b)
		migs = append(migs, migration{version: v, file: e.Name(), sql: string(b), checksum: hex.EncodeToString(sum[:])})
	}
	for i, m := range migs { // ReadDir sorts by name, so by version
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %q: expected version %04d (versions start at 1, without gaps or duplicates)", m.file, i+1)
		}
	}
	if len(migs) == 0 {
		return nil, errors.New("no migrations")
	}
	return migs, nil
}

func render(sql, schema string) string {
	return strings.ReplaceAll(sql, schemaPlaceholder, quoteIdent(schema))
}

// MigrationSQL returns every migration rendered for schema, in order, as one
// script for another migration tool (the Supabase CLI, psql -1 -f, goose,
// tern...). The script creates the schema if needed and records each
// migration in the schema's credvault_migrations table, as [Client.Migrate]
// does, with the same checksums: each migration is one DO block that takes
// Migrate's advisory lock, applies the migration only when the table does
// not record it yet, and records it. So the script and Migrate each find
// applied what the other applied, the script may be run again, and a newer
// module's script applies only the newer migrations. Like Migrate, it fails
// (SQLSTATE 55000) and changes nothing when a recorded migration has
// another checksum, when the schema records a version newer than the
// script's, when the schema holds credential functions without the
// migration table (set up by the script of an older release, which did not
// record them), or when the schema or its migration table belongs to
// another role than the one running it (or a superuser). Every statement stands
// alone, so tools that split a file into statements can run it, in one
// transaction or statement by statement.
//
// The script first sets search_path to pg_catalog, pg_temp, so that no
// function, operator or type that a role planted in another schema (such as
// an = for oid and regclass in public) runs with the privileges of the role
// applying it, and at its end sets search_path back to what it was,
// through the placeholder setting credvault.search_path.
func MigrationSQL(schema string) (string, error) {
	if err := checkIdentifier("schema", schema); err != nil {
		return "", err
	}
	if strings.Contains(schema, "$credvault") {
		return "", fmt.Errorf("%w: a schema name for MigrationSQL must not hold $credvault, which the script quotes with", ErrInvalidArgument)
	}
	migs, err := loadMigrations(Migrations)
	if err != nil {
		return "", err
	}
	s := quoteIdent(schema)
	lock := migrationLockKey(schema)
	var sb strings.Builder
	sb.WriteString(scriptPinSearchPath)
	fmt.Fprintf(&sb, "CREATE SCHEMA IF NOT EXISTS %s;\n", s)
	fmt.Fprintf(&sb, scriptHeader, lock, quoteLiteral(schema), s, migrationTable,
		quoteLiteral(migrationTableSQL(s)), len(migs), quoteLiteral(s+"."+migrationTable),
		quoteLiteral(s+"."+preflight.APIFunctions[0]), quoteLiteral(preflight.UntrackedMsg(schema)))
	for _, m := range migs {
		sql := render(m.sql, schema)
		if strings.Contains(sql, scriptTag) || strings.Contains(sql, scriptSQLTag) {
			return "", fmt.Errorf("migration %q holds %s or %s, which the script quotes it with", m.file, scriptTag, scriptSQLTag)
		}
		fmt.Fprintf(&sb, scriptMigration, m.file, m.checksum, lock, s, migrationTable, m.version,
			quoteLiteral(m.checksum), quoteLiteral(m.file), sql, quoteLiteral(m.file))
	}
	sb.WriteString(scriptRestoreSearchPath)
	return sb.String(), nil
}

// The dollar-quote tags of MigrationSQL's DO blocks and of the migrations
// they execute; no migration may hold them.
const (
	scriptTag    = "$credvault$"
	scriptSQLTag = "$credvault_sql$"
)

// scriptHeader is MigrationSQL's first DO block, which checks the target
// and creates the migration table: like Migrate, it refuses a schema or a
// migration table that a role other than the current one (or a superuser)
// owns, a schema an older script set up without the table, and a
// database ahead of the script. Its arguments: the lock key,
// the schema as a literal, the quoted schema, the table name, the table's
// DDL as a literal, the number of migrations, the qualified table name as
// a literal, the first credential function and the message for a schema
// an older script set up without the table (see preflight.Schema.Untracked)
// as literals. The schema is never written into a comment, where a line
// break in its name would end the comment.
const scriptHeader = `
-- Record the migrations in the schema's %[4]s table, as Client.Migrate
-- does: this script and Migrate each find applied what the other applied.
DO $credvault$
DECLARE
    v_owner pg_catalog.text;
    v_latest pg_catalog.int4;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(%[1]d);
    SELECT pg_catalog.pg_get_userbyid(x.owner)::pg_catalog.text INTO v_owner
      FROM pg_catalog.pg_namespace AS n
     CROSS JOIN LATERAL (SELECT ` + preflight.SchemaOwnerSQL + `) AS x(owner)
      JOIN pg_catalog.pg_roles AS o ON o.oid OPERATOR(pg_catalog.=) x.owner
     WHERE n.nspname OPERATOR(pg_catalog.=) %[2]s
       AND o.rolname OPERATOR(pg_catalog.<>) current_user AND NOT o.rolsuper;
    IF v_owner IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = pg_catalog.format(
            'schema %%I is owned by %%I, which could replace the functions this script creates there as the current role: '
            'run it as that owner, or render it for a schema the current role owns', %[2]s, v_owner);
    END IF;
    IF pg_catalog.to_regclass(%[7]s) IS NULL THEN
        IF pg_catalog.to_regprocedure(%[8]s) IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = %[9]s;
        END IF;
        EXECUTE %[5]s;
    END IF;
    SELECT pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text INTO v_owner
      FROM pg_catalog.pg_class AS c
      JOIN pg_catalog.pg_roles AS o ON o.oid OPERATOR(pg_catalog.=) c.relowner
     WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.to_regclass(%[7]s)
       AND o.rolname OPERATOR(pg_catalog.<>) current_user AND NOT o.rolsuper;
    IF v_owner IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = pg_catalog.format(
            '%%I.%[4]s is owned by %%I, whose triggers on it would run as the current role: run the script as that owner, '
            'or have the table dropped', %[2]s, v_owner);
    END IF;
    SELECT pg_catalog.max(m.version) INTO v_latest FROM %[3]s.%[4]s AS m;
    IF v_latest OPERATOR(pg_catalog.>) %[6]d THEN
        RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = pg_catalog.format(
            'schema %%I records migration version %%s, newer than this script''s %[6]d: render the script with a newer credvault',
            %[2]s, v_latest);
    END IF;
END
$credvault$;
`

// scriptMigration is one migration of MigrationSQL's script. Its
// arguments: the file, its checksum, the lock key, the quoted schema, the
// table name, the version, the checksum and the file as literals, the
// rendered migration, the file as a literal.
const scriptMigration = `
-- %[1]s (sha256 %[2]s)
DO $credvault$
DECLARE
    v_checksum pg_catalog.text;
BEGIN
    PERFORM pg_catalog.pg_advisory_xact_lock(%[3]d);
    SELECT m.checksum INTO v_checksum FROM %[4]s.%[5]s AS m WHERE m.version OPERATOR(pg_catalog.=) %[6]d;
    IF FOUND THEN
        IF v_checksum OPERATOR(pg_catalog.<>) %[7]s THEN
            RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = pg_catalog.format(
                '%%s was applied from another file (sha256 %%s), not this script''s (sha256 %%s): '
                'never edit a migration once applied', %[8]s, v_checksum, %[7]s);
        END IF;
        RETURN; -- applied by Migrate or an earlier run of a script
    END IF;
    EXECUTE $credvault_sql$
%[9]s$credvault_sql$;
    INSERT INTO %[4]s.%[5]s (version, name, checksum) VALUES (%[6]d, %[10]s, %[7]s);
END
$credvault$;
`

// The first and last statements of MigrationSQL's script. Session-level
// (is_local false), as the script may run outside a transaction; inside
// one, a rollback undoes them too.
const (
	scriptPinSearchPath = `-- Resolve every name in pg_catalog (and pg_temp, last) while this script runs,
-- so that nothing planted in another schema runs as the role applying it.
SELECT pg_catalog.set_config('credvault.search_path', pg_catalog.current_setting('search_path'), false),
       pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);
`
	scriptRestoreSearchPath = `
-- Give the session its search_path back.
SELECT pg_catalog.set_config('search_path', pg_catalog.current_setting('credvault.search_path'), false);
`
)

// pinnedSearchPath is the search_path of every statement Migrate,
// MigrationStatus and InstallCompatVault send: pg_catalog first, then the
// session's temporary schema, named last explicitly (when left out it is
// searched first for tables and types), and nothing a role other than a
// superuser may create objects in. Operators, functions and types planted
// in public or any other schema are never found.
const pinnedSearchPath = "pg_catalog, pg_temp"

// pinSearchPath sets search_path to pinnedSearchPath for the rest of tx;
// its own statement qualifies every name, so nothing planted runs before
// the pin. When tx is a savepoint in a caller's transaction (nested), the
// setting would outlive the release of the savepoint: call restore before
// committing to give the caller's transaction its search_path back. restore
// does nothing otherwise.
func pinSearchPath(ctx context.Context, tx pgx.Tx, nested bool) (restore func(context.Context) error, err error) {
	var before string
	err = tx.QueryRow(ctx, "SELECT pg_catalog.current_setting('search_path'), "+
		"pg_catalog.set_config('search_path', $1, true)", pinnedSearchPath).Scan(&before, nil)
	if err != nil {
		return nil, err
	}
	if !nested {
		return func(context.Context) error { return nil }, nil
	}
	return func(ctx context.Context) error {
		_, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, true)", before)
		return err
	}, nil
}

// isTx reports whether db is a caller's transaction, in which Begin takes a
// savepoint.
func isTx(db DB) bool {
	_, ok := db.(pgx.Tx)
	return ok
}

// migrationLockKey is the pg_advisory_xact_lock key that serializes Migrate
// runs on one schema: the FNV-1a 64-bit hash of
// "github.com/credvault/vault:" followed by the schema name.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/credvault/vault:" + schema))
	return int64(h.Sum64())
}

// Migrate installs or upgrades the credential functions, the access log and
// the plaintext guard in the client's schema, applying each embedded
// migration once, in order, in its own transaction together with the row
// that records it (version, file name, SHA-256). It is safe to call from
// many processes at once: each transaction first takes a transaction-scoped
// advisory lock derived from the module path and the schema, so one applies and
// the others wait, then find nothing left to do. Run it at startup as the
// role that should own the functions (on Supabase, postgres). A schema set
// up from [MigrationSQL] records its migrations the same way, so Migrate
// finds them applied.
//
// With [WithCompatVault] it first installs the compatibility layer, or
// upgrades one an older version of this module installed, in a transaction
// of its own. When every migration is already applied Migrate only reads,
// so roles without CREATE on the schema may call it. Otherwise it creates
// the schema if missing and needs CREATE on it (or on the database).
// Before anything, it reads the server as `credvault doctor` does and logs
// a warning for each problem that does not stop it: an outdated
// compatibility layer, Vault privileges its role lacks, server settings
// that would write secrets to the log.
//
// Nothing another role planted runs as the migrating role: every
// transaction first pins search_path to pg_catalog, pg_temp (and gives a
// caller's transaction its own back before committing), so look-alike
// operators, functions and types in public or elsewhere are never found.
// Migrate trusts schema vault only as the supabase_vault extension or as
// the compatibility layer owned by superusers, and creates objects only in
// a schema that the migrating role (or a superuser) owns.
//
// Errors: [ErrVaultUnavailable] when Vault is not installed and
// [WithCompatVault] was not given, or when schema vault is neither Vault
// nor the compatibility layer owned by superusers (a look-alike that the
// functions would hand every secret to); [ErrSchemaNotWritable] when the
// role may not create in the schema (its message suggests a schema the
// role may use, with [WithSchema]) or the schema or its migration table
// belongs to another role; [ErrMigrationChecksum] when an applied migration
// was edited, the database is ahead of this module, or the schema holds
// credential functions that no migration table records (set up by the
// script of an older release of MigrationSQL: see the README); with
// [WithCompatVault], the errors of [InstallCompatVault]. A failing
// migration's error names its file in [Error.Name] and unwraps to the
// server's error.
func (c *Client) Migrate(ctx context.Context) error {
	migs, err := loadMigrations(Migrations)
	if err != nil {
		return newError("migrate", uuid.Nil, "", err)
	}
	if c.compat != "" {
		action, err := installCompatTx(ctx, c.db, c.compat)
		if err != nil {
			return newError("migrate", uuid.Nil, "compat/vault.sql", err)
		}
		if action != compatNone {
			c.logger.InfoContext(ctx, "vault: "+string(action)+" the Vault compatibility layer",
				"version", vaultstate.CompatVersion)
		}
	}
	for first := true; ; first = false {
		done, err := c.migrateOne(ctx, migs, first)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the first pending migration in one transaction and
// reports whether none was left: lock, read, verify, apply one. On the
// first run it also logs the problems that do not stop it.
func (c *Client) migrateOne(ctx context.Context, migs []migration, first bool) (done bool, err error) {
	fail := func(file string, err error) (bool, error) {
		e := newError("migrate", uuid.Nil, file, err)
		if e.Kind == ErrNotMigrated { // an undefined function inside a migration is a plain SQL error
			e.Kind = nil
		}
		return false, e
	}
	tx, err := c.db.Begin(ctx)
	if err != nil {
		return fail("", err)
	}
	defer func() {
		// Rollback after Commit is a no-op; it must run even if ctx ended.
		_ = tx.Rollback(context.WithoutCancel(ctx))
	}()

	// First, before any statement that names something unqualified.
	restore, err := pinSearchPath(ctx, tx, isTx(c.db))
	if err != nil {
		return fail("", err)
	}
	commit := func() error {
		if err := restore(ctx); err != nil {
			return err
		}
		return tx.Commit(ctx)
	}

	// Lock.
	if _, err := tx.Exec(ctx, "SELECT pg_catalog.pg_advisory_xact_lock($1)", migrationLockKey(c.schema)); err != nil {
		return fail("", err)
	}

	// Read.
	st, err := preflight.Read(ctx, tx, c.schema)
	if err != nil {
		return fail("", err)
	}
	status := pendingStatus(migs)
	if st.Schema.Table {
		if status, err = c.readStatus(ctx, tx, migs); err != nil {
			return fail("", err)
		}
	}

	// Verify.
	problems := st.Problems()
	for _, p := range problems {
		if p.Code == preflight.VaultForeign {
			return fail("", fmt.Errorf("%w: %s", ErrVaultUnavailable, p.Msg))
		}
	}
	if st.Schema.Untracked() {
		return fail("", fmt.Errorf("%w: %s", ErrMigrationChecksum, preflight.UntrackedMsg(c.schema)))
	}
	next, err := nextMigration(status, migs)
	if err != nil {
		return fail(next.file, err)
	}
	if first {
		for _, p := range problems {
			switch p.Code {
			case preflight.CompatOutdated, preflight.VaultPrivileges, preflight.Logging:
				c.logger.WarnContext(ctx, "vault: "+p.Msg, "schema", c.schema)
			}
		}
	}
	if next.file == "" {
		if err := commit(); err != nil {
			return fail("", err)
		}
		return true, nil
	}
	if err := applyProblem(problems); err != nil {
		return fail(next.file, err)
	}

	// Apply one.
	if err := c.ensureMigrationTable(ctx, tx, st.Schema); err != nil {
		return fail("", err)
	}
	start := time.Now()
	if _, err := tx.Exec(ctx, render(next.sql, c.schema)); err != nil {
		return fail(next.file, err)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO "+quoteIdent(c.schema)+"."+migrationTable+" (version, name, checksum) VALUES ($1, $2, $3)",
		next.version, next.file, next.checksum); err != nil {
		return fail(next.file, err)
	}
	if err := commit(); err != nil {
		return fail(next.file, err)
	}
	c.logger.InfoContext(ctx, "vault: applied migration", "schema", c.schema, "version", next.version,
		"file", next.file, "duration", time.Since(start))
	return false, nil
}

// nextMigration returns the first pending migration, a zero migration when
// none is pending, or an [ErrMigrationChecksum] error for an applied
// migration that was edited (the returned migration names it) or a
// version this module does not know.
func nextMigration(status []MigrationStatus, migs []migration) (migration, error) {
	var next migration
	for _, m := range status {
		switch {
		case m.Checksum == "":
			return migration{}, fmt.Errorf("%w: the database has migration version %d, newer than this module's %d: upgrade the module",
				ErrMigrationChecksum, m.Version, len(migs))
		case m.Drifted():
			return migration{file: m.File}, fmt.Errorf("%w: %s was changed after it was applied (database sha256 %s, module sha256 %s)",
				ErrMigrationChecksum, m.File, m.AppliedChecksum, m.Checksum)
		case !m.Applied && next.file == "":
			next = migs[m.Version-1]
		}
	}
	return next, nil
}

// applyProblem returns the error for the first problem that stops a
// migration from being applied, or nil.
func applyProblem(problems []preflight.Problem) error {
	for _, p := range problems {
		switch p.Code {
		case preflight.ServerTooOld, preflight.RolesMissing:
			return errors.New(p.Msg)
		case preflight.VaultAbsent:
			return fmt.Errorf("%w: %s", ErrVaultUnavailable, p.Msg)
		case preflight.SchemaNotCreatable, preflight.SchemaOwner, preflight.TableOwner:
			return fmt.Errorf("%w: %s", ErrSchemaNotWritable, p.Msg)
		}
	}
	return nil
}

// MigrationStatus is one migration as this module and the database know
// it.
type MigrationStatus struct {
	Version         int
	File            string    // the embedded file; for a version this module lacks, the name the database recorded
	Checksum        string    // hex SHA-256 of the embedded file; "" for a version this module lacks
	Applied         bool      // recorded in the database
	AppliedChecksum string    // hex SHA-256 recorded when it was applied
	AppliedAt       time.Time // when it was applied
}

// Drifted reports whether the migration was applied from a file other than
// the embedded one, or is a version this module does not know: either
// makes [Client.Migrate] fail with [ErrMigrationChecksum].
func (m MigrationStatus) Drifted() bool {
	return m.Applied && m.AppliedChecksum != m.Checksum
}

// MigrationStatus returns every embedded migration, applied or pending,
// and every version the database recorded that this module does not know,
// in version order. It only reads, so any role that may read the
// migration table can run it, for example in a health check. A schema
// without the table reports every migration as pending. It reads in a
// transaction of its own (a savepoint when the client's DB is a
// transaction) with search_path pinned to pg_catalog, pg_temp, and rolls
// it back.
//
// Errors: [ErrPermissionDenied], and errors reading the database.
func (c *Client) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	migs, err := loadMigrations(Migrations)
	if err != nil {
		return nil, newError("migration_status", uuid.Nil, "", err)
	}
	status, err := c.migrationStatus(ctx, migs)
	if err != nil {
		return nil, newError("migration_status", uuid.Nil, "", err)
	}
	return status, nil
}

// migrationStatus reads the status in a transaction of its own (a
// savepoint in a caller's transaction) with the search_path pinned, which
// it rolls back: it changes nothing, not even the caller's search_path.
func (c *Client) migrationStatus(ctx context.Context, migs []migration) ([]MigrationStatus, error) {
	tx, err := c.db.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := pinSearchPath(ctx, tx, false); err != nil { // the rollback restores it
		return nil, err
	}
	var exists bool
	err = tx.QueryRow(ctx, "SELECT pg_catalog.to_regclass($1) IS NOT NULL",
		quoteIdent(c.schema)+"."+migrationTable).Scan(&exists)
	if err != nil || !exists {
		return pendingStatus(migs), err
	}
	return c.readStatus(ctx, tx, migs)
}

func pendingStatus(migs []migration) []MigrationStatus {
	status := make([]MigrationStatus, len(migs))
	for i, m := range migs {
		status[i] = MigrationStatus{Version: m.version, File: m.file, Checksum: m.checksum}
	}
	return status
}

// readStatus merges the migration table with the embedded migrations.
func (c *Client) readStatus(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, migs []migration) ([]MigrationStatus, error) {
	status := pendingStatus(migs)
	rows, err := q.Query(ctx, "SELECT version, name, checksum, applied_at FROM "+quoteIdent(c.schema)+"."+migrationTable+" ORDER BY version")
	if err != nil {
		return nil, err
	}
	var r MigrationStatus
	_, err = pgx.ForEachRow(rows, []any{&r.Version, &r.File, &r.AppliedChecksum, &r.AppliedAt}, func() error {
		if r.Version >= 1 && r.Version <= len(status) {
			m := &status[r.Version-1]
			m.Applied, m.AppliedChecksum, m.AppliedAt = true, r.AppliedChecksum, r.AppliedAt
		} else {
			status = append(status, MigrationStatus{Version: r.Version, File: r.File, Applied: true,
				AppliedChecksum: r.AppliedChecksum, AppliedAt: r.AppliedAt})
		}
		return nil
	})
	return status, err
}

func (c *Client) ensureMigrationTable(ctx context.Context, tx pgx.Tx, sc preflight.Schema) error {
	s := quoteIdent(c.schema)
	var sql string
	if !sc.Exists {
		// A new schema grants nothing to PUBLIC; the first migration grants
		// USAGE to service_role.
		sql = "CREATE SCHEMA " + s + ";"
	}
	if !sc.Table {
		sql += migrationTableSQL(s)
	}
	if sql == "" {
		return nil
	}
	_, err := tx.Exec(ctx, sql)
	return err
}

// migrationTableSQL creates the migration table in the quoted schema s,
// closed to every role but its owner.
func migrationTableSQL(s string) string {
	return "CREATE TABLE " + s + "." + migrationTable + " (version integer PRIMARY KEY, name text NOT NULL, " +
		"checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT pg_catalog.now());\n" +
		"REVOKE ALL ON TABLE " + s + "." + migrationTable + " FROM PUBLIC, anon, authenticated, service_role;\n"
}
