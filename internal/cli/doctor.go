package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/preflight"
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
              schema vault is an impostor the functions must not use; and
              the functions' owner holds the Vault privileges they use
  roles       anon, authenticated and service_role exist
  connection  the connected role may SET ROLE to --role
  migrations  every migration of this build is applied to --schema, unchanged,
              and every credential function is there; when not, the migrate
              command that works on this server
  privileges  no function of --schema is executable by PUBLIC, anon or
              authenticated, --role may execute the credential functions,
              and only the owner may read the access log
  secrets     every credential decrypts under the server's root key (checked
              on the server, one query per 500 credentials: no value is
              printed and no access-log row written)
  logging     the server does not write bind parameters (secrets) to its log,
              auto_explain logs no plan with values, and a statement the
              plaintext guard rejects is not logged with its text
  guard       public.organization_integrations, if it exists, has the
              plaintext guard trigger

A check that does not apply (nothing installed in --schema, no usable
Vault) is printed as skipped. Migrate reads the server with the same rules
and warns about what it does not refuse.

Run it as the role that ran migrate (postgres on Supabase).`,
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, s *session, args []string) error {
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

	st       preflight.State     // the server, as Migrate reads it
	problems []preflight.Problem // and as Migrate judges it
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
	{"secrets", checkSecrets},
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
	if err := d.readState(ctx, tx); err != nil {
		return err
	}
	for _, c := range checks {
		d.current = c.name
		if err := d.runCheck(ctx, tx, c); err != nil {
			if ctx.Err() != nil {
				return err
			}
			d.finding("cannot check: %s", cliTerms(err.Error()))
		}
	}
	if !d.st.Schema.Installed() {
		fmt.Fprintf(d.w, "nothing is installed in schema %q: ", d.schema)
	}
	if d.findings == 0 {
		fmt.Fprintln(d.w, "no findings")
		return nil
	}
	fmt.Fprintf(d.w, "%d finding(s)\n", d.findings)
	return errFindings
}

// readState reads the server as Migrate does, in a savepoint of tx.
func (d *doctor) readState(ctx context.Context, tx pgx.Tx) error {
	return pgx.BeginFunc(ctx, tx, func(sp pgx.Tx) error {
		var err error
		if d.st, err = preflight.Read(ctx, sp, d.schema); err != nil {
			return err
		}
		d.problems = d.st.Problems()
		return nil
	})
}

// reportProblems prints, as findings, the problems of check, in the
// command's terms, and reports whether there was any.
func (d *doctor) reportProblems(check string) bool {
	found := false
	for _, p := range d.problems {
		if p.Check == check {
			d.finding("%s", cliTerms(p.Msg))
			found = true
		}
	}
	return found
}

// problem returns the first problem with one of the codes, if any.
func (d *doctor) problem(codes ...preflight.Code) (preflight.Problem, bool) {
	for _, p := range d.problems {
		if slices.Contains(codes, p.Code) {
			return p, true
		}
	}
	return preflight.Problem{}, false
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

func (d *doctor) skipped(format string, args ...any) {
	fmt.Fprintf(d.w, "  skipped  %-11s %s\n", d.current, fmt.Sprintf(format, args...))
}

func (d *doctor) finding(format string, args ...any) {
	d.findings++
	fmt.Fprintf(d.w, "  FINDING  %-11s %s\n", d.current, fmt.Sprintf(format, args...))
}

func (d *doctor) qualified(name string) string {
	return pgx.Identifier{d.schema, name}.Sanitize()
}

// queryStrings runs a query of one text column in the check's savepoint and
// returns its rows.
func (d *doctor) queryStrings(ctx context.Context, sql string, args ...any) ([]string, error) {
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func checkServer(ctx context.Context, d *doctor) error {
	if !d.reportProblems("server") {
		d.ok("PostgreSQL %s", d.st.ServerVersion)
	}
	return nil
}

func checkVault(ctx context.Context, d *doctor) error {
	found := d.reportProblems("vault")
	vs := d.st.Vault
	switch {
	case found:
	case vs.Kind == vaultstate.Extension && strings.HasPrefix(vs.ExtVersion, "0.2."):
		d.ok("supabase_vault %s (the pgsodium-based line; 0.3 is current); %s holds the Vault privileges the functions use",
			vs.ExtVersion, d.st.FunctionsOwner)
	case vs.Kind == vaultstate.Extension:
		d.ok("supabase_vault %s; %s holds the Vault privileges the functions use", vs.ExtVersion, d.st.FunctionsOwner)
	case vs.Kind == vaultstate.Compat:
		d.ok("compatibility layer compat %d (plain PostgreSQL: keep its root key file backed up); "+
			"%s holds the Vault privileges the functions use", vs.CompatVersion, d.st.FunctionsOwner)
	}
	return nil
}

func checkRoles(ctx context.Context, d *doctor) error {
	if !d.reportProblems("roles") {
		d.ok("%s exist", strings.Join(preflight.SupabaseRoles, ", "))
	}
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
	sc := d.st.Schema
	switch {
	case !sc.Exists:
		d.finding("schema %q does not exist: %s", d.schema, d.migrateAdvice())
		return nil
	case !sc.Table && !sc.Installed():
		d.finding("schema %q holds no credential functions: %s", d.schema, d.migrateAdvice())
		return nil
	case !sc.Table:
		return d.checkUntrackedSchema()
	}
	var canRead bool
	table := d.qualified(preflight.MigrationTable)
	if err := d.conn.QueryRow(ctx, "SELECT pg_catalog.has_table_privilege(pg_catalog.to_regclass($1), 'SELECT')",
		table).Scan(&canRead); err != nil {
		return err
	}
	if !canRead {
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
	switch {
	case len(pending) > 0:
		d.finding("%d of %d migrations applied; pending: %s: %s",
			known-len(pending), known, strings.Join(pending, ", "), d.migrateAdvice())
	case len(sc.MissingFunctions) > 0:
		d.finding("schema %q lacks %s, though %s records every migration: it was dropped after migrating; "+
			"recreate it from its CREATE FUNCTION in the output of 'credvault sql --schema %s', or from a backup", d.schema,
			strings.Join(sc.MissingFunctions, ", "), preflight.MigrationTable, d.schema)
	case problems == 0:
		d.ok("%d of %d migrations applied", known, known)
	}
	return nil
}

// migrateAdvice is the migrate command that works on this server: into
// --schema when the connected role may install there, else into a schema
// it may use.
func (d *doctor) migrateAdvice() string {
	p, found := d.problem(preflight.SchemaNotCreatable, preflight.SchemaOwner, preflight.TableOwner)
	switch {
	case !found:
		return fmt.Sprintf("run 'credvault migrate --schema %s'", shellWord(d.schema))
	case p.Code == preflight.SchemaOwner:
		return fmt.Sprintf("run 'credvault migrate --schema %s' connected as %s, its owner, or %s", shellWord(d.schema),
			pgx.Identifier{d.st.Schema.Owner}.Sanitize(), d.elsewhere())
	case p.Code == preflight.SchemaNotCreatable && d.st.SuggestedSchema != "":
		return fmt.Sprintf("%s may not create objects in it%s; %s", d.st.CurrentUser, preflight.SupabaseNote(d.schema), d.elsewhere())
	}
	return cliTerms(p.Msg)
}

// elsewhere suggests installing into the schema preflight found.
func (d *doctor) elsewhere() string {
	s := d.st.SuggestedSchema
	if s == "" || s == d.schema {
		return "install into a schema the connected role may create in"
	}
	w := shellWord(s)
	return fmt.Sprintf("install into a schema it may create in: 'credvault migrate --schema %s', then pass --schema %s "+
		"(or set %s=%s) to every command", w, w, EnvSchema, w)
}

// shellWord writes s as one word of a shell command: as it is when it is
// made of letters, digits and _ only, else in double quotes (a schema name
// cannot hold a NUL; $, `, \ and " are escaped).
func shellWord(s string) string {
	plain := s != ""
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			plain = false
		}
	}
	if plain {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(s) + `"`
}

// checkUntrackedSchema checks a schema without credvault_migrations, such
// as one set up by another migration tool from the script of an older
// 'credvault sql': versions cannot be compared, but the credential
// functions must all be there.
func (d *doctor) checkUntrackedSchema() error {
	missing := d.st.Schema.MissingFunctions
	d.finding("%s", cliTerms(preflight.UntrackedMsg(d.schema)))
	if len(missing) > 0 {
		d.finding("schema %q lacks %s", d.schema, strings.Join(missing, ", "))
	}
	return nil
}

func checkPrivileges(ctx context.Context, d *doctor) error {
	if !d.st.Schema.Installed() {
		d.skipped("nothing is installed in schema %q", d.schema)
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
	sigs := make([]string, len(preflight.APIFunctions))
	for i, f := range preflight.APIFunctions {
		sigs[i] = pgx.Identifier{d.schema}.Sanitize() + "." + f
	}
	denied, err := d.queryStrings(ctx, `
SELECT f FROM pg_catalog.unnest($1::text[]) AS f
 WHERE pg_catalog.to_regprocedure(f) IS NOT NULL AND pg_catalog.to_regrole($2) IS NOT NULL
   AND NOT pg_catalog.has_function_privilege(pg_catalog.to_regrole($2), pg_catalog.to_regprocedure(f), 'EXECUTE')`,
		sigs, role)
	if err != nil {
		return err
	}
	for _, f := range denied {
		d.finding("%s cannot execute %s: GRANT EXECUTE ON FUNCTION %s TO %s", role, f, f, pgx.Identifier{role}.Sanitize())
	}

	// The access log belongs to its owner alone.
	logGrantees, err := d.queryStrings(ctx, `
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

// checkSecrets decrypts every credential on the server, as the connected
// role, and reports those that do not decrypt.
func checkSecrets(ctx context.Context, d *doctor) error {
	if !d.st.Vault.Usable() {
		d.skipped("Vault is not usable (see vault)")
		return nil
	}
	if len(d.st.MissingVaultPrivileges) > 0 && d.st.CurrentUser == d.st.FunctionsOwner {
		d.skipped("%s lacks Vault privileges (see vault)", d.st.CurrentUser)
		return nil
	}
	broken, checked, err := preflight.Undecryptable(ctx, d.conn)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == pgerrcode.InsufficientPrivilege {
		d.finding("%s may not decrypt Vault's secrets (SQLSTATE 42501): run doctor as the role that ran migrate, "+
			"which must hold the Vault privileges the vault check lists", d.st.CurrentUser)
		return nil
	}
	if err != nil {
		return err
	}
	for _, id := range broken {
		d.finding("credential %s does not decrypt under the server's root key: 'credvault retrieve' fails for it "+
			"(the server runs with another root key than the one that encrypted it, after a restore or a key change, "+
			"or its ciphertext was altered): restore that key, or delete the credential and store it again", id)
	}
	if len(broken) == 0 {
		d.ok("%d credential(s) decrypt under the server's root key", checked)
	}
	return nil
}

func checkLogging(ctx context.Context, d *doctor) error {
	if !d.reportProblems("logging") {
		d.ok("bind parameters are not written to the server log")
	}
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
	case !exists && !d.st.Schema.Installed():
		d.ok("no %s table", guardedTable)
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
