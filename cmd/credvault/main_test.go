package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/cli"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
	_ "github.com/credvault/vault/vaulttest/vaulttestdocker" // Docker fallback when no PostgreSQL is installed
)

// runMainEnv makes the test binary behave as the credvault command, so the
// tests run it as a subprocess without building it separately.
const runMainEnv = "CREDVAULT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	vaulttest.Main(m)
}

// newSecret returns a fresh random value; test secrets are never literals.
func newSecret(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "cli-secret-" + hex.EncodeToString(b)
}

// harness runs the command against one database and checks that no
// secret it knows of ever shows up where it must not.
type harness struct {
	t       *testing.T
	env     []string
	secrets []string // values that must never appear in argv, stderr or (except retrieve and read) stdout
}

type result struct {
	stdout, stderr string
	code           int
}

func newHarness(t *testing.T, databaseURL string) *harness {
	env := []string{runMainEnv + "=1"}
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case cli.EnvDatabaseURL, cli.EnvSchema, cli.EnvRole, runMainEnv:
		default:
			env = append(env, kv)
		}
	}
	if databaseURL != "" {
		env = append(env, cli.EnvDatabaseURL+"="+databaseURL)
	}
	return &harness{t: t, env: env}
}

// withEnv returns a copy of h whose runs also get the environment
// variables kv ("NAME=value").
func (h *harness) withEnv(kv ...string) *harness {
	c := *h
	c.env = append(append([]string{}, h.env...), kv...)
	return &c
}

func (h *harness) secret() string {
	s := newSecret(h.t)
	h.secrets = append(h.secrets, s)
	return s
}

// run runs credvault with args and stdin.
func (h *harness) run(stdin string, args ...string) result {
	h.t.Helper()
	for _, s := range h.secrets {
		for _, a := range args {
			requireNoSecret(h.t, a, s, "a secret must never be passed in argv")
		}
	}
	cmd := h.command(args...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	r := result{code: exitCode(h.t, cmd.Run())}
	r.stdout, r.stderr = stdout.String(), stderr.String()
	for _, s := range h.secrets {
		requireNoSecret(h.t, r.stderr, s, "stderr of %v", args)
		if len(args) == 0 || (args[0] != "retrieve" && args[0] != "read") {
			requireNoSecret(h.t, r.stdout, s, "stdout of %v", args)
		}
	}
	return r
}

// offlineHarness returns a harness whose database URL points at a port
// where no server listens, for runs that must fail before they connect.
func offlineHarness(t *testing.T) *harness {
	return newHarness(t, "postgres://127.0.0.1:1/unused")
}

// requireUsage runs credvault with h and requires a usage error: exit
// status 2 with a message on standard error.
func requireUsage(t *testing.T, h *harness, stdin string, args ...string) result {
	t.Helper()
	r := h.run(stdin, args...)
	require.Equal(t, cli.ExitUsage, r.code, "credvault %v: stderr: %s", args, r.stderr)
	require.NotEmpty(t, r.stderr)
	return r
}

// newDatabaseHarness returns a new test database and a harness whose
// runs connect to it.
func newDatabaseHarness(t *testing.T) (*vaulttest.Database, *harness) {
	t.Helper()
	db := vaulttest.NewDatabase(t)
	return db, newHarness(t, db.URL)
}

// throwawayDatabase returns a new test database on a throwaway server
// (see testutil.ThrowawayDatabase).
var throwawayDatabase = testutil.ThrowawayDatabase

// command returns the command that runs credvault with args in h's
// environment.
func (h *harness) command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = h.env
	return cmd
}

// exitCode returns the exit status of a command that ended with err, which
// must be nil or an *exec.ExitError.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	return exitErr.ExitCode()
}

// ok runs credvault and requires exit status 0.
func (h *harness) ok(stdin string, args ...string) string {
	h.t.Helper()
	r := h.run(stdin, args...)
	require.Equal(h.t, cli.ExitOK, r.code, "credvault %v: stderr: %s", args, r.stderr)
	return r.stdout
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)
	s := "--schema=" + db.Schema

	// migrate is idempotent on a migrated schema.
	for range 2 {
		r := h.run("", "migrate", s)
		require.Equal(t, cli.ExitOK, r.code, r.stderr)
		require.Regexp(t, `^schema "`+db.Schema+`" is up to date: \d+ migrations applied\n$`, r.stdout)
		require.NotContains(t, r.stderr, "applied migration")
	}
	// On a new schema it reports each migration it applies (in a database
	// of its own: not in a shared VAULT_TEST_DATABASE_URL).
	var r result
	if db.AdminURL != "" {
		r = h.run("", "migrate", "--schema", "fresh")
		require.Equal(t, cli.ExitOK, r.code, r.stderr)
		require.Contains(t, r.stderr, "applied migration")
		require.Contains(t, r.stderr, "0001_credential_functions.sql")
	}

	// store reads stdin, strips one newline and prints the id only.
	prefix := "cli-" + uuid.NewString()[:8] + "/"
	first := h.secret()
	out := h.ok(first+"\n", "store", s, "--name", prefix+"quickbooks", "--description", "QuickBooks client secret")
	id, err := uuid.Parse(strings.TrimSpace(out))
	require.NoError(t, err, "store prints the id: %q", out)
	require.Equal(t, id.String()+"\n", out)

	// retrieve to a pipe writes the exact value.
	requireSecret(t, first, h.ok("", "retrieve", s, id.String()))

	// rotate from stdin, then from a file; flags may follow the id.
	second := h.secret()
	h.ok(second, "rotate", s, id.String())
	requireSecret(t, second, h.ok("", "retrieve", id.String(), s))
	third := h.secret()
	file := filepath.Join(t.TempDir(), "secret")
	require.NoError(t, os.WriteFile(file, []byte(third+"\r\n"), 0o600))
	h.ok("", "rotate", s, id.String(), "--file", file)
	requireSecret(t, third, h.ok("", "retrieve", s, id.String()))

	// audit: the store, two rotations and three retrievals (every
	// operation is logged), as a table and as JSON, as the owner.
	table := h.ok("", "audit", s, id.String())
	lines := strings.Split(strings.TrimSpace(table), "\n")
	require.Len(t, lines, 7, table)
	require.Regexp(t, `^ACCESSED_AT\s+OP\s+SESSION_USER\s+CURRENT_USER\s+JWT_ROLE\s+JWT_SUB\s+APPLICATION\s+CLIENT_ADDR$`, lines[0])
	for _, l := range lines[1:] {
		require.Regexp(t, `\s+(store|rotate|retrieve)\s+postgres\s+service_role\s+-\s+-\s+credvault\s+`, l)
	}
	var records []map[string]any
	require.NoError(t, json.Unmarshal([]byte(h.ok("", "audit", s, id.String(), "--json", "--limit", "2")), &records))
	require.Len(t, records, 2)
	require.Equal(t, id.String(), records[0]["secret_id"])
	require.Equal(t, "service_role", records[0]["current_user"])
	require.Equal(t, "credvault", records[0]["application_name"])

	// audit runs as the log's owner and takes no --role.
	r = h.run("", "audit", s, id.String(), "--role", "service_role")
	require.Equal(t, cli.ExitUsage, r.code)

	// list: metadata only, filtered by age and prefix.
	require.Contains(t, h.ok("", "list", s), id.String())
	require.Contains(t, h.ok("", "list", s, "--prefix", prefix), id.String())
	require.NotContains(t, h.ok("", "list", s, "--prefix", "other/"), id.String())
	require.NotContains(t, h.ok("", "list", s, "--older-than", "90d"), id.String(), "just rotated")
	if db.AdminURL != "" {
		// Age the credential: only a superuser may write vault.secrets directly.
		exec1(t, db.AdminURL, "UPDATE vault.secrets SET updated_at = now() - interval '100 days' WHERE id = $1", id)
		exec1(t, db.URL, "UPDATE "+pgx.Identifier{db.Schema, "vault_credentials"}.Sanitize()+
			" SET updated_at = now() - interval '100 days' WHERE id = $1", id)
		require.Contains(t, h.ok("", "list", s, "--older-than", "90d"), id.String())
		require.Contains(t, h.ok("", "list", s, "--older-than", "2w"), id.String())
		require.NotContains(t, h.ok("", "list", s, "--older-than", "101d"), id.String())
	}
	var listed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(h.ok("", "list", s, "--prefix", prefix, "--json")), &listed))
	require.Len(t, listed, 1)
	require.Equal(t, id.String(), listed[0]["id"])
	require.Equal(t, "QuickBooks client secret", listed[0]["description"])
	require.NotNil(t, listed[0]["last_retrieved_at"])

	// An empty secret is almost always a missing redirection.
	r = h.run("", "rotate", s, id.String())
	require.Equal(t, cli.ExitUsage, r.code, r.stderr)
	require.Contains(t, r.stderr, "the secret is empty")
	requireSecret(t, third, h.ok("", "retrieve", s, id.String()))

	// delete is idempotent; afterwards retrieve and rotate exit 4.
	h.ok("", "delete", s, id.String())
	h.ok("", "delete", s, id.String())
	r = h.run("", "retrieve", s, id.String())
	require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.Contains(t, r.stderr, "not found")
	r = h.run(h.secret(), "rotate", s, id.String())
	require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
}

// exec1 runs one statement on url.
func exec1(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	require.NoError(t, err)
}

func TestFailuresExitNonZeroWithHints(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)

	// The default schema "vault" holds no credential functions.
	r := h.run(h.secret(), "store", "--name", "x")
	require.Equal(t, cli.ExitFailed, r.code)
	require.Contains(t, r.stderr, "not installed")
	require.Contains(t, r.stderr, "hint: ")

	// The functions are not executable by authenticated.
	r = h.run(h.secret(), "store", "--schema", db.Schema, "--name", "x", "--role", "authenticated")
	require.Equal(t, cli.ExitFailed, r.code)
	require.Contains(t, r.stderr, "permission denied")

	// Nor can postgres create in schema vault.
	r = h.run("", "migrate", "--schema", "vault")
	require.Equal(t, cli.ExitFailed, r.code)
	require.Contains(t, r.stderr, "--schema credentials")

	// An unreachable server.
	h2 := newHarness(t, "postgres://nobody@127.0.0.1:1/none?connect_timeout=5")
	r = h2.run("", "list")
	require.Equal(t, cli.ExitFailed, r.code)
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	h := offlineHarness(t)
	secret := h.secret()
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"no command", "", nil},
		{"unknown command", "", []string{"frobnicate"}},
		{"unknown flag", "", []string{"list", "--frobnicate"}},
		{"store without name", secret, []string{"store"}},
		{"store with an argument", secret, []string{"store", "--name", "x", "extra"}},
		{"retrieve without id", "", []string{"retrieve"}},
		{"retrieve with a bad id", "", []string{"retrieve", "not-a-uuid"}},
		{"retrieve with two ids", "", []string{"retrieve", uuid.NewString(), uuid.NewString()}},
		{"rotate with the nil id", secret, []string{"rotate", uuid.Nil.String()}},
		{"list with a bad age", "", []string{"list", "--older-than", "ninety days"}},
		{"list with a negative age", "", []string{"list", "--older-than", "-3d"}},
		{"list with a bad limit", "", []string{"list", "--limit", "0"}},
		{"audit with a bad limit", "", []string{"audit", uuid.NewString(), "--limit", "0"}},
		{"sql with a bad schema", "", []string{"sql", "--schema", ""}},
		{"help for an unknown command", "", []string{"help", "frobnicate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireUsage(t, h, tc.stdin, tc.args...)
		})
	}

	// No database configured at all.
	r := newHarness(t, "").run("", "list")
	require.Equal(t, cli.ExitUsage, r.code)
	require.Contains(t, r.stderr, "DATABASE_URL")
}

func TestHelp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	out := h.ok("", "--help")
	for _, name := range []string{"migrate", "store", "retrieve", "rotate", "delete", "list", "audit", "sql", "doctor"} {
		require.Contains(t, out, "\n  "+name+" ")
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			out := h.ok("", args...)
			require.True(t, strings.HasPrefix(out, "Usage:\n  credvault "+name), out)
			require.Contains(t, out, "Exit status:")
		}
	}
	require.Contains(t, h.ok("", "doctor", "--help"), "3  doctor found problems")
	require.Contains(t, h.ok("", "retrieve", "--help"), "4  no credential with that id")
}

func TestSQL(t *testing.T) {
	t.Parallel()
	h := newHarness(t, "")
	out := h.ok("", "sql", "--schema", "team_creds")
	require.True(t, strings.HasPrefix(out, "-- Resolve every name in pg_catalog"), out[:80])
	require.Contains(t, out, "\nSELECT pg_catalog.set_config('credvault.search_path', pg_catalog.current_setting('search_path'), false),\n"+
		"       pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);\nCREATE SCHEMA IF NOT EXISTS \"team_creds\";\n")
	require.Contains(t, out, `"team_creds".store_credential(`)
	require.NotContains(t, out, "@schema@")
	require.Contains(t, h.ok("", "sql"), `CREATE SCHEMA IF NOT EXISTS "vault";`)
}

func TestDoctor(t *testing.T) {
	t.Parallel()
	db := throwawayDatabase(t, "changes the public schema and settings")
	h := newHarness(t, db.URL)
	s := "--schema=" + db.Schema
	ctx := context.Background()

	doctor := func(wantCode int, args ...string) string {
		t.Helper()
		r := h.run("", append([]string{"doctor", s}, args...)...)
		require.Equal(t, wantCode, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		return r.stdout
	}
	findings := func(out string) []string {
		var f []string
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "  FINDING") {
				f = append(f, l)
			}
		}
		return f
	}

	// A fresh test database is healthy: the test server logs nothing.
	out := doctor(cli.ExitOK)
	for _, check := range []string{"server", "vault", "roles", "connection", "migrations", "privileges", "logging", "guard", "triggers"} {
		require.Regexp(t, `(?m)^  ok +`+check+` `, out)
	}
	require.Contains(t, out, "can SET ROLE service_role")
	require.Contains(t, out, "no findings")

	// An integration table without the plaintext guard.
	_, err := db.Pool.Exec(ctx, "CREATE TABLE public.organization_integrations (id bigint PRIMARY KEY, secret_id uuid)")
	require.NoError(t, err)
	out = doctor(cli.ExitFindings)
	require.Len(t, findings(out), 1, out)
	require.Regexp(t, `FINDING +guard +public.organization_integrations has no enabled plaintext guard`, out)
	_, err = db.Pool.Exec(ctx, "SELECT "+pgx.Identifier{db.Schema, "guard_plaintext_credentials"}.Sanitize()+"('public.organization_integrations')")
	require.NoError(t, err)
	// Supabase's default privileges let end users create triggers on it,
	// and the default log_min_error_statement logs the text of a statement
	// the guard rejects, literal credential included.
	out = doctor(cli.ExitFindings)
	require.Len(t, findings(out), 2, out)
	require.Regexp(t, `FINDING +triggers +anon, authenticated, service_role .*may create triggers on public.organization_integrations.*`+
		`REVOKE TRIGGER ON public.organization_integrations FROM anon, authenticated, service_role`, out)
	_, err = db.Pool.Exec(ctx, "REVOKE TRIGGER ON public.organization_integrations FROM anon, authenticated, service_role")
	require.NoError(t, err)

	alterDB := "ALTER DATABASE " + pgx.Identifier{db.Name}.Sanitize() + " "
	out = doctor(cli.ExitFindings)
	require.Len(t, findings(out), 1, out)
	require.Regexp(t, `FINDING +logging +log_min_error_statement = error: .*lands in the log; set log_min_error_statement = panic`, out)
	exec1(t, db.AdminURL, alterDB+"SET log_min_error_statement = panic")
	out = doctor(cli.ExitOK)
	require.Regexp(t, `ok +triggers +only the owner of public.organization_integrations may create triggers on it`, out)

	// auto_explain loaded for the database's sessions, logging verbose plans.
	var version int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version))
	autoExplain := []string{"session_preload_libraries", "auto_explain.log_min_duration", "auto_explain.log_verbose",
		"auto_explain.log_nested_statements"}
	for _, set := range []string{"session_preload_libraries = 'auto_explain'", "auto_explain.log_min_duration = 0",
		"auto_explain.log_verbose = on", "auto_explain.log_nested_statements = on"} {
		exec1(t, db.AdminURL, alterDB+"SET "+set)
	}
	if version >= 160000 {
		exec1(t, db.AdminURL, alterDB+"SET auto_explain.log_parameter_max_length = 0")
		autoExplain = append(autoExplain, "auto_explain.log_parameter_max_length")
	}
	out = doctor(cli.ExitFindings)
	require.Len(t, findings(out), 1, out)
	require.Regexp(t, `FINDING +logging +auto_explain logs plans with their values .*log_nested_statements.*: set auto_explain.log_verbose = off`, out)
	if version >= 160000 { // its default logs every logged statement's parameters
		exec1(t, db.AdminURL, alterDB+"RESET auto_explain.log_parameter_max_length")
		out = doctor(cli.ExitFindings)
		require.Regexp(t, `FINDING +logging +auto_explain logs the bind parameters.*: set auto_explain.log_parameter_max_length = 0`, out)
	}
	for _, name := range autoExplain {
		exec1(t, db.AdminURL, alterDB+"RESET "+name)
	}
	doctor(cli.ExitOK)

	// A function opened to end users.
	retrieve := pgx.Identifier{db.Schema}.Sanitize() + ".retrieve_credential(uuid)"
	_, err = db.Pool.Exec(ctx, "GRANT EXECUTE ON FUNCTION "+retrieve+" TO anon")
	require.NoError(t, err)
	out = doctor(cli.ExitFindings)
	require.Len(t, findings(out), 1, out)
	require.Regexp(t, `FINDING +privileges +function .*retrieve_credential\(uuid\) is executable by anon`, out)
	_, err = db.Pool.Exec(ctx, "REVOKE EXECUTE ON FUNCTION "+retrieve+" FROM anon")
	require.NoError(t, err)

	// A role the connection cannot switch to.
	out = doctor(cli.ExitFindings, "--role", "authenticator")
	require.Regexp(t, `FINDING +connection +connected as postgres, which cannot SET ROLE authenticator`, out)

	// A pending migration.
	exec1(t, db.URL, "DELETE FROM "+pgx.Identifier{db.Schema, "credvault_migrations"}.Sanitize()+
		" WHERE version = (SELECT max(version) FROM "+pgx.Identifier{db.Schema, "credvault_migrations"}.Sanitize()+")")
	out = doctor(cli.ExitFindings)
	require.Regexp(t, `FINDING +migrations +\d+ of \d+ migrations applied; pending: \d{4}_`, out)

	// Statement logging with parameters, set for this database by a superuser.
	exec1(t, db.AdminURL, "ALTER DATABASE "+pgx.Identifier{db.Name}.Sanitize()+" SET log_statement = 'all'")
	out = doctor(cli.ExitFindings)
	require.Regexp(t, `FINDING +logging +the server logs statements with their bind parameters.*log_statement = all`, out)

	// A schema that was never migrated.
	out = doctor(cli.ExitFindings, "--schema", "nothing_here")
	require.Regexp(t, `FINDING +migrations +schema "nothing_here" does not exist`, out)
}

// requireNoSecret fails if s contains secret, without printing either.
func requireNoSecret(t *testing.T, s, secret, format string, args ...any) {
	t.Helper()
	if strings.Contains(s, secret) {
		t.Fatalf("a secret leaked: "+format, args...)
	}
}

// requireSecret fails if got is not want, without printing either.
func requireSecret(t *testing.T, want, got string) {
	t.Helper()
	if got != want {
		t.Fatalf("got a different value (%d bytes) than the secret (%d bytes)", len(got), len(want))
	}
}

// TestSQLAppliedByAnotherTool applies the output of 'credvault sql' the way
// psql -1 -f would, then uses the schema, migrates it with 'credvault
// migrate' (which finds every migration applied) and checks it.
func TestSQLAppliedByAnotherTool(t *testing.T) {
	t.Parallel()
	db := throwawayDatabase(t, "changes the public schema and settings")
	h := newHarness(t, db.URL)
	ctx := context.Background()
	const schema = "team_creds"

	_, err := db.Pool.Exec(ctx, h.ok("", "sql", "--schema", schema))
	require.NoError(t, err)

	secret := h.secret()
	id := strings.TrimSpace(h.ok(secret, "store", "--schema", schema, "--name", "tool/"+uuid.NewString()[:8]))
	requireSecret(t, secret, h.ok("", "retrieve", "--schema", schema, id))

	r := h.run("", "migrate", "--schema", schema)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.NotContains(t, r.stderr, "applied migration")
	require.Regexp(t, `^schema "team_creds" is up to date: \d+ migrations applied\n$`, r.stdout)

	out := h.run("", "doctor", "--schema", schema)
	require.Equal(t, cli.ExitOK, out.code, out.stdout)
	require.Regexp(t, `ok +migrations +(\d+) of (\d+) migrations applied`, out.stdout)

	_, err = db.Pool.Exec(ctx, "DROP FUNCTION team_creds.list_credentials")
	require.NoError(t, err)
	out = h.run("", "doctor", "--schema", schema)
	require.Equal(t, cli.ExitFindings, out.code, out.stdout)
	require.Regexp(t, `FINDING +migrations +schema "team_creds" lacks list_credentials\(text,timestamptz,integer\)`, out.stdout)
}

// goTermRE finds the Go API's terms, which the command must translate.
var goTermRE = regexp.MustCompile(`\bWith[A-Z][A-Za-z]+\b|\bClient\.|\bInstallCompatVault\b|\bMigrate\b|\bMigrationSQL\b`)

// requireCLITerms fails when out names the Go API instead of the
// command's flags and commands.
func requireCLITerms(t *testing.T, out string) {
	t.Helper()
	if m := goTermRE.FindString(out); m != "" {
		t.Fatalf("the command speaks Go (%q) in:\n%s", m, out)
	}
}

// TestCLIDetails: help shows flags as the command reads them (--schema),
// each command lists only its own exit statuses, a misplaced or unknown
// flag is reported with the command's name and flags, errors name the
// command once, and delete says whether there was anything to delete.
func TestCLIDetails(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)
	s := "--schema=" + db.Schema

	for _, name := range []string{"migrate", "store", "retrieve", "rotate", "delete", "list", "audit", "sql", "doctor"} {
		out := h.ok("", name, "--help")
		require.Contains(t, out, "\n  --schema schema\n", name)
		require.NotRegexp(t, `(?m)^  -[a-z]`, out, "%s: a flag shown with one dash", name)
		require.Contains(t, out, "Exit status:\n  0  success\n", name)
		require.Equal(t, name == "doctor", strings.Contains(out, "3  doctor found problems"), name)
		require.Equal(t, name == "retrieve" || name == "rotate", strings.Contains(out, "4  no credential with that id"), name)
	}
	main := h.ok("", "--help")
	require.Contains(t, main, "3  doctor found problems")
	require.Contains(t, main, "4  no credential with that id")

	// A flag before the command, and a flag the command does not take.
	r := h.run("", "--schema", db.Schema, "list")
	require.Equal(t, cli.ExitUsage, r.code)
	require.Contains(t, r.stderr, "a flag before the command name: write 'credvault <command> [flags]'")
	require.Contains(t, r.stderr, "migrate, store, put, lookup, retrieve")
	r = h.run("", "list", "--frobnicate")
	require.Equal(t, cli.ExitUsage, r.code)
	require.Regexp(t, `^credvault list: unknown flag .*; it takes --after, --database-url, --deleted, --expires-before, --json, --limit, --namespace, --older-than, --prefix, --role, --schema, --verbose\n$`, r.stderr)
	require.NotContains(t, r.stderr, "frobnicate")

	// Errors name the command and the id once.
	unknown := uuid.NewString()
	r = h.run("", "retrieve", s, unknown)
	require.Equal(t, cli.ExitNotFound, r.code)
	require.True(t, strings.HasPrefix(r.stderr, "credvault retrieve "+unknown+": credential not found (SQLSTATE P0002)\n"), r.stderr)
	require.NotContains(t, r.stderr, "vault: retrieve")

	// delete says whether anything existed; both exit 0.
	id := strings.TrimSpace(h.ok(h.secret(), "store", s, "--name", "cli/"+uuid.NewString()[:8]))
	r = h.run("", "delete", s, id)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Equal(t, "credvault: deleted "+id+"\n", r.stderr)
	r = h.run("", "delete", s, id)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Equal(t, "credvault: nothing to delete: no credential has id "+id+"\n", r.stderr)
	r = h.run("", "retrieve", s, id)
	require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
}

// TestSupabaseByDefault: on a Supabase-like server, where postgres may not
// create in schema vault, plain doctor and migrate suggest a schema that
// works there, in flags, and CREDVAULT_SCHEMA and CREDVAULT_ROLE give
// every command its schema and role.
func TestSupabaseByDefault(t *testing.T) {
	t.Parallel()
	db := throwawayDatabase(t, "migrates into the schema doctor suggests")
	h := newHarness(t, db.URL)

	r := h.run("", "doctor")
	require.Equal(t, cli.ExitFindings, r.code, r.stdout+r.stderr)
	requireCLITerms(t, r.stdout+r.stderr)
	advice := regexp.MustCompile(`FINDING +migrations +schema "vault" holds no credential functions: postgres may not create objects in it.*'credvault migrate --schema (\S+)', then pass --schema (\S+) \(or set CREDVAULT_SCHEMA=(\S+)\) to every command`).
		FindStringSubmatch(r.stdout)
	require.NotNil(t, advice, r.stdout)
	schema := advice[1]
	require.NotEqual(t, "vault", schema)
	require.Equal(t, []string{schema, schema}, advice[2:])

	r = h.run("", "migrate")
	require.Equal(t, cli.ExitFailed, r.code, r.stderr)
	requireCLITerms(t, r.stderr)
	require.Contains(t, r.stderr, "may not create objects in schema \"vault\"")
	require.Contains(t, r.stderr, "with --schema "+schema+"\n")
	require.NotContains(t, r.stderr, "vault: migrate")

	// The suggestion works, and the environment carries the schema.
	h.ok("", "migrate", "--schema", schema)
	h = h.withEnv(cli.EnvSchema + "=" + schema)
	out := h.run("", "doctor")
	require.Equal(t, cli.ExitOK, out.code, out.stdout)
	require.Contains(t, out.stdout, fmt.Sprintf("schema %q\n", schema))
	secret := h.secret()
	id := strings.TrimSpace(h.ok(secret, "store", "--name", "env/"+uuid.NewString()[:8]))
	requireSecret(t, secret, h.ok("", "retrieve", id))

	// CREDVAULT_ROLE: the calls run as that role.
	r = h.withEnv(cli.EnvRole+"=authenticated").run("", "retrieve", id)
	require.Equal(t, cli.ExitFailed, r.code, r.stderr)
	require.Contains(t, r.stderr, "permission denied")
	requireCLITerms(t, r.stderr)

	// A bad value from the environment is named by its variable, not
	// repeated.
	long := strings.Repeat("s", 64)
	r = h.withEnv(cli.EnvSchema+"="+long).run("", "list")
	require.Equal(t, cli.ExitUsage, r.code)
	require.Contains(t, r.stderr, "$"+cli.EnvSchema)
	require.NotContains(t, r.stderr, long)
}
