package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/serverlog"
	"github.com/credvault/vault/internal/vaultstate"
)

var doctorCmd = &command{
	name:     "doctor",
	synopsis: "[--schema S] [--role R]",
	summary:  "check the server, Vault, roles, migrations, privileges and logging",
	conn:     connRole,
	help: `
Checks the database the way this library needs it and prints one line per
check, then exits 3 if anything needs fixing:

  server      PostgreSQL 14 or later
  vault       the supabase_vault extension (and its version) or the
              current compatibility layer, owned by superusers; any other
              schema vault is an impostor the functions must not use
  roles       anon, authenticated and service_role exist
  connection  the connected role may SET ROLE to --role
  migrations  every migration of this build is applied to --schema, unchanged
  privileges  no function of --schema is executable by PUBLIC, anon or
              authenticated, --role may execute the credential functions,
              and only the owner may read the access log
  logging     the server does not write bind parameters (secrets) to its log,
              auto_explain logs no plan with values, and a statement the
              plaintext guard rejects is not logged with its text
  guard       public.organization_integrations, if it exists, has the
              plaintext guard trigger

Run it as the role that ran migrate (postgres on Supabase).`,
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0); err != nil {
				return err
			}
			conn, err := s.connect(ctx)
			if err != nil {
				return err
			}
			opts := []vault.Option{vault.WithSchema(s.schema)}
			if s.role != "" {
				opts = append(opts, vault.WithRole(s.role))
			}
			if _, err := vault.New(conn, opts...); err != nil {
				return usagef("%v", err) // an invalid --schema or --role
			}
			d := &doctor{schema: s.schema, role: s.role, w: s.io.Stdout}
			return d.run(ctx, conn)
		}
	},
}

// doctor runs the checks and counts the findings.
type doctor struct {
	conn     pgx.Tx // the check's savepoint in doctor's transaction
	schema   string
	role     string
	w        io.Writer
	current  string // the check running
	findings int
}

type check struct {
	name string
	run  func(context.Context, *doctor) error
}

var checks = []check{
	{"server", checkServer},
	{"vault", checkVault},
	{"roles", checkRoles},
	{"connection", checkConnection},
	{"migrations", checkMigrations},
	{"privileges", checkPrivileges},
	{"logging", checkLogging},
	{"guard", checkGuard},
	{"triggers", checkGuardTriggers},
}

// run runs every check in one transaction on conn whose search_path is
// pinned to pg_catalog, pg_temp before anything else is sent, so that no
// function, operator or type planted in public or another schema runs as
// the role running doctor, even behind a transaction pooler. Each check
// runs in a savepoint that is rolled back: doctor changes nothing, and a
// failing check does not stop the others.
func (d *doctor) run(ctx context.Context, conn *pgx.Conn) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, "SET LOCAL search_path = pg_catalog, pg_temp"); err != nil {
		return err
	}
	var db, user string
	if err := tx.QueryRow(ctx, "SELECT pg_catalog.current_database(), session_user").Scan(&db, &user); err != nil {
		return err
	}
	fmt.Fprintf(d.w, "credvault doctor: database %q as %s, schema %q\n", db, user, d.schema)
	for _, c := range checks {
		d.current = c.name
		if err := d.runCheck(ctx, tx, c); err != nil {
			if ctx.Err() != nil {
				return err
			}
			d.finding("cannot check: %v", err)
		}
	}
	if d.findings == 0 {
		fmt.Fprintln(d.w, "no findings")
		return nil
	}
	fmt.Fprintf(d.w, "%d finding(s)\n", d.findings)
	return errFindings
}

// runCheck runs c in a savepoint of tx and rolls it back.
func (d *doctor) runCheck(ctx context.Context, tx pgx.Tx, c check) error {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = sp.Rollback(context.WithoutCancel(ctx)) }()
	d.conn = sp
	return c.run(ctx, d)
}

func (d *doctor) ok(format string, args ...any) {
	fmt.Fprintf(d.w, "  ok       %-11s %s\n", d.current, fmt.Sprintf(format, args...))
}

func (d *doctor) finding(format string, args ...any) {
	d.findings++
	fmt.Fprintf(d.w, "  FINDING  %-11s %s\n", d.current, fmt.Sprintf(format, args...))
}

func (d *doctor) qualified(name string) string {
	return pgx.Identifier{d.schema, name}.Sanitize()
}

// minServerVersion is the oldest PostgreSQL the migrations run on
// (CREATE OR REPLACE TRIGGER).
const minServerVersion = 140000

func checkServer(ctx context.Context, d *doctor) error {
	var version string
	var num int
	err := d.conn.QueryRow(ctx, "SELECT current_setting('server_version'), current_setting('server_version_num')::int").
		Scan(&version, &num)
	if err != nil {
		return err
	}
	if num < minServerVersion {
		d.finding("PostgreSQL %s is too old: the migrations need PostgreSQL 14 or later", version)
		return nil
	}
	d.ok("PostgreSQL %s", version)
	return nil
}

func checkVault(ctx context.Context, d *doctor) error {
	vs, err := vaultstate.Read(ctx, d.conn)
	if err != nil {
		return err
	}
	switch {
	case vs.Kind == vaultstate.Extension && strings.HasPrefix(vs.ExtVersion, "0.2."):
		d.ok("supabase_vault %s (the pgsodium-based line; 0.3 is current)", vs.ExtVersion)
	case vs.Kind == vaultstate.Extension:
		d.ok("supabase_vault %s", vs.ExtVersion)
	case vs.Kind == vaultstate.Compat && vs.CompatVersion < vaultstate.CompatVersion:
		d.finding("compatibility layer compat %d is outdated: a role that controls the schema of pgcrypto, or a caller's "+
			"temporary types, can make it run code as its superuser owner with the root key; upgrade it to compat %d with "+
			"'credvault migrate --compat-key-file PATH' as a superuser", vs.CompatVersion, vaultstate.CompatVersion)
	case vs.Kind == vaultstate.Compat:
		d.ok("compatibility layer compat %d (plain PostgreSQL: keep its root key file backed up)", vs.CompatVersion)
	case vs.Kind == vaultstate.Foreign:
		d.finding("%s: it is not Vault, and the credential functions would hand every secret to it; "+
			"have a superuser inspect and drop schema vault, then install the supabase_vault extension, "+
			"or on plain PostgreSQL run migrate with --compat-key-file as a superuser", vs.Problem)
	default:
		d.finding("Vault is not installed: CREATE EXTENSION supabase_vault, or on plain PostgreSQL run migrate with --compat-key-file as a superuser")
	}
	return nil
}

// supabaseRoles are the roles the migrations grant to and revoke from.
var supabaseRoles = []string{"anon", "authenticated", "service_role"}

func checkRoles(ctx context.Context, d *doctor) error {
	rows, err := d.conn.Query(ctx, `SELECT r FROM pg_catalog.unnest($1::text[]) AS r
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r)`, supabaseRoles)
	if err != nil {
		return err
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		d.finding("missing role(s) %s: Supabase projects have them; on plain PostgreSQL the compatibility layer creates them",
			strings.Join(missing, ", "))
		return nil
	}
	d.ok("%s exist", strings.Join(supabaseRoles, ", "))
	return nil
}

func checkConnection(ctx context.Context, d *doctor) error {
	var user string
	var super bool
	err := d.conn.QueryRow(ctx, "SELECT session_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = session_user").
		Scan(&user, &super)
	if err != nil {
		return err
	}
	note := ""
	if super {
		note = " (a superuser: privilege checks do not apply to it)"
	}
	if d.role == "" {
		d.ok("connected as %s%s", user, note)
		return nil
	}
	err = pgx.BeginFunc(ctx, d.conn, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('role', $1, true)", d.role)
		return err
	})
	if err != nil {
		d.finding("connected as %s, which cannot SET ROLE %s (%v): grant it with GRANT %s TO %s, or connect as postgres",
			user, d.role, err, pgx.Identifier{d.role}.Sanitize(), pgx.Identifier{user}.Sanitize())
		return nil
	}
	d.ok("connected as %s%s, can SET ROLE %s", user, note, d.role)
	return nil
}

func checkMigrations(ctx context.Context, d *doctor) error {
	var schemaExists, tableExists, canRead bool
	table := d.qualified("credvault_migrations")
	err := d.conn.QueryRow(ctx, `
SELECT pg_catalog.to_regnamespace($1) IS NOT NULL,
       pg_catalog.to_regclass($2) IS NOT NULL,
       coalesce(pg_catalog.has_table_privilege(pg_catalog.to_regclass($2), 'SELECT'), false)`,
		pgx.Identifier{d.schema}.Sanitize(), table).Scan(&schemaExists, &tableExists, &canRead)
	if err != nil {
		return err
	}
	switch {
	case !schemaExists:
		d.finding("schema %q does not exist: run 'credvault migrate --schema %s'", d.schema, d.schema)
		return nil
	case !tableExists:
		return d.checkUntrackedSchema(ctx)
	case !canRead:
		d.finding("cannot read %s: run doctor as the role that ran migrate", table)
		return nil
	}
	c, err := vault.New(d.conn, vault.WithSchema(d.schema), vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return err
	}
	status, err := c.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	var pending []string
	known, problems := 0, 0
	for _, m := range status {
		if m.Checksum != "" {
			known++
		}
		switch {
		case m.Checksum == "":
			problems++
			d.finding("the database has migration version %d, which this build does not know: upgrade credvault", m.Version)
		case !m.Applied:
			pending = append(pending, m.File)
		case m.Drifted():
			problems++
			d.finding("%s was changed after it was applied (database sha256 %.12s, this build %.12s)", m.File, m.AppliedChecksum, m.Checksum)
		}
	}
	if len(pending) > 0 {
		d.finding("%d of %d migrations applied; pending: %s: run 'credvault migrate --schema %s'",
			known-len(pending), known, strings.Join(pending, ", "), d.schema)
		return nil
	}
	if problems == 0 {
		d.ok("%d of %d migrations applied", known, known)
	}
	return nil
}

// checkUntrackedSchema checks a schema without credvault_migrations, such
// as one set up from 'credvault sql' by another migration tool: versions
// cannot be compared, but the credential functions must all be there.
func (d *doctor) checkUntrackedSchema(ctx context.Context) error {
	missing, err := d.missingFunctions(ctx)
	if err != nil {
		return err
	}
	switch len(missing) {
	case 0:
		d.ok("schema %q has every credential function but no credvault_migrations table "+
			"(applied from 'credvault sql'?): compare with the output of 'credvault sql' after upgrades", d.schema)
	case len(apiFunctions):
		d.finding("schema %q holds no credential functions: run 'credvault migrate --schema %s'", d.schema, d.schema)
	default:
		d.finding("schema %q lacks %s: apply the newer migrations from 'credvault sql --schema %s'",
			d.schema, strings.Join(missing, ", "), d.schema)
	}
	return nil
}

func (d *doctor) missingFunctions(ctx context.Context) ([]string, error) {
	rows, err := d.conn.Query(ctx, `SELECT f FROM pg_catalog.unnest($1::text[]) AS f
 WHERE pg_catalog.to_regprocedure($2 || '.' || f) IS NULL`, apiFunctions, pgx.Identifier{d.schema}.Sanitize())
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// apiFunctions are the functions services call, which the role must be
// able to execute.
var apiFunctions = []string{
	"store_credential(text,text,text)",
	"retrieve_credential(uuid)",
	"rotate_credential(uuid,text)",
	"delete_credential(uuid)",
	"list_credentials(text,timestamptz,integer)",
}

func checkPrivileges(ctx context.Context, d *doctor) error {
	var exists bool
	if err := d.conn.QueryRow(ctx, "SELECT pg_catalog.to_regnamespace($1) IS NOT NULL",
		pgx.Identifier{d.schema}.Sanitize()).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		d.ok("nothing to check: schema %q does not exist", d.schema)
		return nil
	}
	before := d.findings

	// Functions that end users could call.
	rows, err := d.conn.Query(ctx, `
SELECT p.oid::pg_catalog.regprocedure::text, g.grantee
  FROM pg_catalog.pg_proc AS p
 CROSS JOIN LATERAL (
       SELECT 'PUBLIC' AS grantee
        WHERE EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(p.proacl, pg_catalog.acldefault('f', p.proowner))) AS a
                       WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE')
       UNION ALL
       SELECT r FROM pg_catalog.unnest(ARRAY['anon', 'authenticated']) AS r
        WHERE coalesce(pg_catalog.has_function_privilege(pg_catalog.to_regrole(r), p.oid, 'EXECUTE'), false)) AS g
 WHERE p.pronamespace = pg_catalog.to_regnamespace($1)
 ORDER BY 1, 2`, pgx.Identifier{d.schema}.Sanitize())
	if err != nil {
		return err
	}
	type grant struct{ Object, Grantee string }
	open, err := pgx.CollectRows(rows, pgx.RowToStructByPos[grant])
	if err != nil {
		return err
	}
	for _, g := range open {
		d.finding("function %s is executable by %s: REVOKE EXECUTE ON FUNCTION %s FROM %s",
			g.Object, g.Grantee, g.Object, g.Grantee)
	}

	// Functions the services' role must be able to call.
	role := d.role
	if role == "" {
		role = "service_role"
	}
	sigs := make([]string, len(apiFunctions))
	for i, f := range apiFunctions {
		sigs[i] = pgx.Identifier{d.schema}.Sanitize() + "." + f
	}
	rows, err = d.conn.Query(ctx, `
SELECT f FROM pg_catalog.unnest($1::text[]) AS f
 WHERE pg_catalog.to_regprocedure(f) IS NOT NULL AND pg_catalog.to_regrole($2) IS NOT NULL
   AND NOT pg_catalog.has_function_privilege(pg_catalog.to_regrole($2), pg_catalog.to_regprocedure(f), 'EXECUTE')`,
		sigs, role)
	if err != nil {
		return err
	}
	denied, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, f := range denied {
		d.finding("%s cannot execute %s: GRANT EXECUTE ON FUNCTION %s TO %s", role, f, f, pgx.Identifier{role}.Sanitize())
	}

	// The access log belongs to its owner alone.
	rows, err = d.conn.Query(ctx, `
SELECT g.grantee
  FROM pg_catalog.pg_class AS c
 CROSS JOIN LATERAL (
       SELECT 'PUBLIC' AS grantee
        WHERE EXISTS (SELECT FROM pg_catalog.aclexplode(coalesce(c.relacl, pg_catalog.acldefault('r', c.relowner))) AS a
                       WHERE a.grantee = 0)
       UNION ALL
       SELECT r FROM pg_catalog.unnest(ARRAY['anon', 'authenticated', 'service_role']) AS r
        WHERE coalesce(pg_catalog.has_table_privilege(pg_catalog.to_regrole(r), c.oid,
                       'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'), false)) AS g
 WHERE c.oid = pg_catalog.to_regclass($1)`, d.qualified("vault_access_log"))
	if err != nil {
		return err
	}
	logGrantees, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, g := range logGrantees {
		d.finding("the access log %s is readable or writable by %s: REVOKE ALL ON %s FROM %s",
			d.qualified("vault_access_log"), g, d.qualified("vault_access_log"), g)
	}
	if d.findings == before {
		d.ok("no function of %q is executable by PUBLIC, anon or authenticated; %s may call the credential functions; the access log is private",
			d.schema, role)
	}
	return nil
}

func checkLogging(ctx context.Context, d *doctor) error {
	rows, err := d.conn.Query(ctx, `SELECT name, setting FROM pg_catalog.pg_settings WHERE name = ANY($1)`, []string{
		"log_statement", "log_min_duration_statement", "log_min_duration_sample", "log_statement_sample_rate",
		"log_transaction_sample_rate", "log_parameter_max_length", "log_parameter_max_length_on_error",
		"pgaudit.log", "pgaudit.log_parameter",
	})
	if err != nil {
		return err
	}
	set := map[string]string{}
	var name, value string
	if _, err := pgx.ForEachRow(rows, []any{&name, &value}, func() error { set[name] = value; return nil }); err != nil {
		return err
	}
	num := func(name string) float64 {
		v, err := strconv.ParseFloat(set[name], 64)
		if err != nil {
			return -1 // absent on this server version
		}
		return v
	}
	const fixParams = "ask a superuser (on Supabase, support) to set log_parameter_max_length = 0"
	before := d.findings
	if set["log_parameter_max_length"] != "0" {
		var why []string
		if s := set["log_statement"]; s == "all" || s == "mod" {
			why = append(why, "log_statement = "+s)
		}
		if v := num("log_min_duration_statement"); v >= 0 {
			why = append(why, fmt.Sprintf("log_min_duration_statement = %gms", v))
		}
		if num("log_min_duration_sample") >= 0 && num("log_statement_sample_rate") > 0 {
			why = append(why, "log_min_duration_sample = "+set["log_min_duration_sample"]+"ms")
		}
		if num("log_transaction_sample_rate") > 0 {
			why = append(why, "log_transaction_sample_rate = "+set["log_transaction_sample_rate"])
		}
		if len(why) > 0 {
			d.finding("the server logs statements with their bind parameters, which include secrets (%s, log_parameter_max_length = %s): %s",
				strings.Join(why, ", "), set["log_parameter_max_length"], fixParams)
		}
	}
	if v := set["log_parameter_max_length_on_error"]; v != "" && v != "0" {
		d.finding("log_parameter_max_length_on_error = %s: failing statements of other clients (PostgREST rpc, psql) log their parameters; set it to 0", v)
	}
	if set["pgaudit.log_parameter"] == "on" && set["pgaudit.log"] != "" && set["pgaudit.log"] != "none" {
		d.finding("pgaudit logs statement parameters (pgaudit.log = %s, pgaudit.log_parameter = on): set pgaudit.log_parameter = off", set["pgaudit.log"])
	}
	if err := d.checkPlanLogging(ctx); err != nil {
		return err
	}
	if err := d.checkRejectedStatements(ctx); err != nil {
		return err
	}
	if d.findings == before {
		d.ok("bind parameters are not written to the server log")
	}
	return nil
}

// checkPlanLogging reports auto_explain settings that write values to the
// server log.
func (d *doctor) checkPlanLogging(ctx context.Context) error {
	ae, err := serverlog.ReadAutoExplain(ctx, d.conn)
	if err != nil {
		return err
	}
	for _, p := range ae.Problems() {
		d.finding("%s", p)
	}
	return nil
}

// checkRejectedStatements reports that a statement the plaintext guard
// rejects would be logged with its text, credential included, when the
// database has a guarded table.
func (d *doctor) checkRejectedStatements(ctx context.Context) error {
	var level, db string
	var guarded bool
	err := d.conn.QueryRow(ctx, `
SELECT pg_catalog.current_setting('log_min_error_statement'), pg_catalog.current_database(),
       EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
                WHERE t.tgname OPERATOR(pg_catalog.=) 'credvault_reject_plaintext'
                  AND t.tgenabled OPERATOR(pg_catalog.<>) 'D')`).Scan(&level, &db, &guarded)
	if err != nil {
		return err
	}
	if !guarded || !serverlog.LogsErrorStatements(level) {
		return nil
	}
	d.finding("log_min_error_statement = %s: when the plaintext guard rejects a statement the server logs its text, "+
		"so a credential sent as literal SQL (psql, seed files, the Supabase SQL editor) lands in the log; "+
		"set log_min_error_statement = panic: a superuser may run ALTER DATABASE %s SET log_min_error_statement = panic "+
		"(or ALTER ROLE ... SET for the roles that send such SQL); on hosted Supabase postgres may not set it "+
		"(it is not among the settings supautils lets postgres change): ask Supabase support",
		level, pgx.Identifier{db}.Sanitize())
	return nil
}

// guardedTable is the integration table the plaintext guard protects by
// default.
const guardedTable = "public.organization_integrations"

func checkGuard(ctx context.Context, d *doctor) error {
	var exists, guarded bool
	err := d.conn.QueryRow(ctx, `
SELECT pg_catalog.to_regclass($1) IS NOT NULL,
       EXISTS (SELECT FROM pg_catalog.pg_trigger
                WHERE tgrelid = pg_catalog.to_regclass($1) AND tgname = 'credvault_reject_plaintext' AND tgenabled <> 'D')`,
		guardedTable).Scan(&exists, &guarded)
	if err != nil {
		return err
	}
	fix := fmt.Sprintf("SELECT %s('%s')", d.qualified("guard_plaintext_credentials"), guardedTable)
	switch {
	case !exists:
		d.ok("no %s table (guard your integration tables with %s)", guardedTable,
			fmt.Sprintf("SELECT %s('<table>')", d.qualified("guard_plaintext_credentials")))
	case !guarded:
		d.finding("%s has no enabled plaintext guard trigger: run %s", guardedTable, fix)
	default:
		d.ok("%s is guarded against plaintext credentials", guardedTable)
	}
	return nil
}
