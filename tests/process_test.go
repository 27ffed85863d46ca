package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
)

// Environment of the helper processes started by runMigrateProcesses.
const (
	migrateHelperURL    = "CREDVAULT_MIGRATE_HELPER_URL"
	migrateHelperSchema = "CREDVAULT_MIGRATE_HELPER_SCHEMA"
	migrateHelperResult = "CREDVAULT_MIGRATE_HELPER_RESULT"
)

// migrateHelperReport is what a helper process writes to its result file.
type migrateHelperReport struct {
	Applied  []int  // versions this process applied, from its log records
	Err      string // Migrate's error, "" on success
	Checksum bool   // errors.Is(err, vault.ErrMigrationChecksum)
}

// TestMigrateHelperProcess is not a test of its own: it is the body of the
// child processes started by runMigrateProcesses, and returns at once in a
// normal run. A child connects, prints "ready", waits for a line on its
// standard input so that all children start together, runs Migrate and
// writes a migrateHelperReport as JSON to the file named by
// CREDVAULT_MIGRATE_HELPER_RESULT.
func TestMigrateHelperProcess(t *testing.T) {
	url := os.Getenv(migrateHelperURL)
	if url == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if err := conn.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	var logs testutil.LogBuffer
	c, err := vault.New(conn, vault.WithSchema(os.Getenv(migrateHelperSchema)),
		vault.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	err = c.Migrate(ctx)

	var rep migrateHelperReport
	if err != nil {
		rep.Err = err.Error()
		rep.Checksum = errors.Is(err, vault.ErrMigrationChecksum)
	}
	for line := range strings.Lines(logs.String()) {
		var rec struct {
			Msg     string `json:"msg"`
			Version int    `json:"version"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "vault: applied migration" {
			rep.Applied = append(rep.Applied, rec.Version)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(migrateHelperResult), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runMigrateProcesses starts n copies of the test binary in migrate helper
// mode, releases them at once and returns their reports.
func runMigrateProcesses(t *testing.T, n int, url, schema string) []migrateHelperReport {
	t.Helper()
	return runHelperProcesses[migrateHelperReport](t, n, "TestMigrateHelperProcess", migrateHelperResult,
		migrateHelperURL+"="+url, migrateHelperSchema+"="+schema)
}

// runHelperProcesses starts n copies of the test binary running only the
// test helper, with env added to the environment and resultVar naming the
// file each writes its JSON report to. It waits until every one has said
// "ready" (it is connected), releases them at once with "go" and returns
// their reports.
func runHelperProcesses[R any](t *testing.T, n int, helper, resultVar string, env ...string) []R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		stderr strings.Builder
		result string
	}
	children := make([]*child, n)
	for i := range children {
		c := &child{result: filepath.Join(dir, fmt.Sprintf("result-%d.json", i))}
		c.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
		c.cmd.Env = append(append(os.Environ(), env...), resultVar+"="+c.result)
		c.cmd.Stderr = &c.stderr
		stdout, err := c.cmd.StdoutPipe()
		require.NoError(t, err)
		c.stdin, err = c.cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, c.cmd.Start())
		children[i] = c
		// Wait for "ready" (the child is connected), then drain the rest.
		line, err := bufio.NewReader(stdout).ReadString('\n')
		require.NoError(t, err, "helper %d: %s", i, &c.stderr)
		require.Equal(t, "ready\n", line)
		go func() { _, _ = io.Copy(io.Discard, stdout) }()
	}
	for _, c := range children {
		_, err := io.WriteString(c.stdin, "go\n")
		require.NoError(t, err)
	}
	reports := make([]R, n)
	for i, c := range children {
		require.NoError(t, c.cmd.Wait(), "helper %d: %s", i, &c.stderr)
		b, err := os.ReadFile(c.result)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &reports[i]))
	}
	return reports
}

// schemaSnapshot is everything Migrate could change in a schema, as text.
type schemaSnapshot struct {
	Versions  []string // version, name, checksum, applied_at
	Functions []string // signature, ACL, definition
	Relations []string // name, kind, ACL
}

func snapshotSchema(t *testing.T, pool *pgxpool.Pool, schema string) schemaSnapshot {
	t.Helper()
	ctx := context.Background()
	collect := func(sql string, args ...any) []string {
		rows, err := pool.Query(ctx, sql, args...)
		require.NoError(t, err)
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		return out
	}
	return schemaSnapshot{
		Versions: collect("SELECT concat_ws(' ', version, name, checksum, applied_at) FROM " +
			pgx.Identifier{schema, "credvault_migrations"}.Sanitize() + " ORDER BY version"),
		Functions: collect(`SELECT concat_ws(E'\n', p.oid::regprocedure, p.proacl, pg_get_functiondef(p.oid))
  FROM pg_proc AS p WHERE p.pronamespace = $1::regnamespace ORDER BY 1`, schema),
		Relations: collect(`SELECT concat_ws(' ', c.relname, c.relkind, c.relacl)
  FROM pg_class AS c WHERE c.relnamespace = $1::regnamespace ORDER BY 1`, schema),
	}
}

// TestMigrateConcurrently runs Migrate on one empty schema from eight
// goroutines of one process, then from eight processes.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	t.Run("goroutines", migrateConcurrentGoroutines)
	t.Run("processes", migrateConcurrentProcesses)
}

// migrateConcurrentGoroutines runs Migrate on one empty schema from eight
// goroutines sharing a pool.
func migrateConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	const schema = "concurrent_credentials"
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			c, err := vault.New(db.Pool, vault.WithSchema(schema), testutil.Quiet())
			if err == nil {
				err = c.Migrate(ctx)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, testutil.MigrationCount(t), testutil.AppliedMigrations(t, db.Pool, schema))

	c, err := vault.New(db.Pool, vault.WithSchema(schema), vault.WithRole("service_role"), testutil.Quiet())
	require.NoError(t, err)
	id, err := c.Store(ctx, "concurrent", testutil.NewSecret(), "")
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, id))
}

// migrateConcurrentProcesses starts eight processes that run Migrate on
// the same empty schema at the same moment: every one succeeds, each
// migration is applied by exactly one of them, and the version table has
// one row per embedded file with its checksum. Then, with an applied
// migration edited (its stored checksum changed) and the last one made
// pending again, eight processes all fail with ErrMigrationChecksum and the
// schema is left exactly as it was.
func migrateConcurrentProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	schema := "concurrent_" + testutil.RandomHex(t, 6)
	names, sums := testutil.MigrationFiles(t)
	const procs = 8

	reports := runMigrateProcesses(t, procs, db.URL, schema)
	appliedBy := map[int]int{}
	for i, r := range reports {
		require.Empty(t, r.Err, "helper %d", i)
		for _, v := range r.Applied {
			appliedBy[v]++
		}
	}
	for v := 1; v <= len(names); v++ {
		require.Equal(t, 1, appliedBy[v], "migration %d must be applied by exactly one process", v)
	}
	require.Len(t, appliedBy, len(names))
	t.Logf("%d processes, %d migrations; versions applied per process: %v", procs, len(names), appliedPerProcess(reports))

	rows, err := db.Pool.Query(ctx, "SELECT version, name, checksum FROM "+
		pgx.Identifier{schema, "credvault_migrations"}.Sanitize()+" ORDER BY version")
	require.NoError(t, err)
	type version struct {
		Version        int
		Name, Checksum string
	}
	versions, err := pgx.CollectRows(rows, pgx.RowToStructByPos[version])
	require.NoError(t, err)
	require.Len(t, versions, len(names))
	for i, v := range versions {
		require.Equal(t, version{i + 1, names[i], sums[i]}, v)
	}

	// The functions work.
	c, err := vault.New(db.Pool, vault.WithSchema(schema), vault.WithRole("service_role"), testutil.Quiet())
	require.NoError(t, err)
	testutil.StoreNew(t, c, "concurrent/processes")

	// Edit migration 1 and, if there is more than one, make the last one
	// pending, so that a Migrate that did not check first would change
	// something.
	table := pgx.Identifier{schema, "credvault_migrations"}.Sanitize()
	_, err = db.Pool.Exec(ctx, "UPDATE "+table+" SET checksum = repeat('0', 64) WHERE version = 1")
	require.NoError(t, err)
	last := versions[len(versions)-1]
	if len(versions) > 1 {
		_, err = db.Pool.Exec(ctx, "DELETE FROM "+table+" WHERE version = $1", last.Version)
		require.NoError(t, err)
	}
	before := snapshotSchema(t, db.Pool, schema)
	for i, r := range runMigrateProcesses(t, procs, db.URL, schema) {
		require.True(t, r.Checksum, "helper %d: %s", i, r.Err)
		require.Contains(t, r.Err, names[0], "the error names the edited file")
		require.Empty(t, r.Applied, "helper %d applied a migration", i)
	}
	require.Equal(t, before, snapshotSchema(t, db.Pool, schema), "a refused Migrate changes nothing")

	// Undo both changes: Migrate succeeds again, without work to do.
	_, err = db.Pool.Exec(ctx, "UPDATE "+table+" SET checksum = $1 WHERE version = 1", sums[0])
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "INSERT INTO "+table+" (version, name, checksum) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
		last.Version, last.Name, last.Checksum)
	require.NoError(t, err)
	owner, err := vault.New(db.Pool, vault.WithSchema(schema), testutil.Quiet())
	require.NoError(t, err)
	require.NoError(t, owner.Migrate(ctx))
	require.Equal(t, len(names), testutil.AppliedMigrations(t, db.Pool, pgx.Identifier{schema}.Sanitize()))
}

func appliedPerProcess(reports []migrateHelperReport) [][]int {
	out := make([][]int, len(reports))
	for i, r := range reports {
		out[i] = r.Applied
	}
	return out
}

type lifecycleHelperConfig struct {
	Mode       string // "put" or "refresh"
	URL        string
	Schema     string
	Namespace  string
	Name       string    // put
	ID         uuid.UUID // refresh
	Calls      int       // concurrent calls in the process
	FnDuration time.Duration
}

type lifecycleHelperReport struct {
	Versions []int64     // put: the version each Put made
	IDs      []uuid.UUID // put: the credential each Put returned
	Values   []string    // refresh: the value each Refresh returned
	FnCalls  int         // refresh: how often fn ran in this process
	Errs     []string
}

// TestLifecycleHelperProcess is not a test of its own: it is the body of
// the child processes started by runLifecycleProcesses, and returns at once
// in a normal run. A child connects, prints "ready", waits for a line on
// standard input so that all children start together, makes Calls
// concurrent calls and writes a lifecycleHelperReport as JSON to the file
// named by CREDVAULT_LIFECYCLE_HELPER_RESULT.
func TestLifecycleHelperProcess(t *testing.T) {
	raw := os.Getenv(lifecycleHelperEnv)
	if raw == "" {
		return
	}
	var cfg lifecycleHelperConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool, err := pgxpool.New(ctx, cfg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := vault.New(pool, vault.WithSchema(cfg.Schema), vault.WithRole(testutil.ServiceRole), vault.WithNamespace(cfg.Namespace), testutil.Quiet())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		t.Fatal(err)
	}

	var (
		mu  sync.Mutex
		rep lifecycleHelperReport
		wg  sync.WaitGroup
	)
	// record adds a call's outcome to rep: its error, or what ok adds.
	record := func(err error, ok func()) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			rep.Errs = append(rep.Errs, err.Error())
			return
		}
		ok()
	}
	for range cfg.Calls {
		wg.Go(func() {
			switch cfg.Mode {
			case "put":
				cred, err := c.Put(ctx, cfg.Name, testutil.NewSecret(), "")
				record(err, func() {
					rep.Versions = append(rep.Versions, cred.Version)
					rep.IDs = append(rep.IDs, cred.ID)
				})
			case "refresh":
				s, err := c.Refresh(ctx, cfg.ID, func(ctx context.Context, _ vault.Secret) (string, error) {
					mu.Lock()
					rep.FnCalls++
					mu.Unlock()
					time.Sleep(cfg.FnDuration)
					return testutil.NewSecret(), nil
				})
				record(err, func() { rep.Values = append(rep.Values, s.Value) })
			}
		})
	}
	wg.Wait()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(lifecycleHelperResult), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// runLifecycleProcesses starts n copies of the test binary in lifecycle
// helper mode with cfg, releases them at once and returns their reports.
func runLifecycleProcesses(t *testing.T, n int, cfg lifecycleHelperConfig) []lifecycleHelperReport {
	t.Helper()
	raw, err := json.Marshal(cfg)
	require.NoError(t, err)
	return runHelperProcesses[lifecycleHelperReport](t, n, "TestLifecycleHelperProcess", lifecycleHelperResult,
		lifecycleHelperEnv+"="+string(raw))
}

// TestPutConcurrentProcesses puts one name from four processes at once,
// each with four concurrent calls: one credential, one version per Put.
func TestPutConcurrentProcesses(t *testing.T) {
	t.Parallel()
	db := vaulttest.NewDatabase(t)
	ns := testutil.NewNamespace(t, "org")
	const procs, calls = 4, 4
	name := "processes/put"
	reports := runLifecycleProcesses(t, procs, lifecycleHelperConfig{
		Mode: "put", URL: db.URL, Schema: db.Schema, Namespace: ns, Name: name, Calls: calls,
	})
	versions := map[int64]bool{}
	var id uuid.UUID
	for i, r := range reports {
		require.Empty(t, r.Errs, "helper %d", i)
		for j, v := range r.Versions {
			if id == uuid.Nil {
				id = r.IDs[j]
			}
			require.Equal(t, id, r.IDs[j], "one credential per name")
			require.False(t, versions[v], "version %d made twice", v)
			versions[v] = true
		}
	}
	require.Len(t, versions, procs*calls)
	for v := int64(1); v <= procs*calls; v++ {
		require.True(t, versions[v], "version %d missing", v)
	}
	testutil.RequireOneCredential(t, db, ns, name)
}

// TestRefreshAcrossProcesses refreshes one credential from two processes
// at once, 16 calls each: fn runs once in all, and every call returns its
// value.
func TestRefreshAcrossProcesses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	ns := testutil.NewNamespace(t, "org")
	c, _ := setup(t, on(db.Pool, db.Schema), namespace(ns))
	cred, err := c.Put(ctx, "oauth/processes", testutil.NewSecret(), "")
	require.NoError(t, err)
	reports := runLifecycleProcesses(t, 2, lifecycleHelperConfig{
		Mode: "refresh", URL: db.URL, Schema: db.Schema, Namespace: ns, ID: cred.ID, Calls: 16, FnDuration: time.Second,
	})
	got, err := c.Read(ctx, cred.ID)
	require.NoError(t, err)
	require.EqualValues(t, 2, got.Version)
	fnCalls := 0
	for i, r := range reports {
		require.Empty(t, r.Errs, "helper %d", i)
		require.Len(t, r.Values, 16)
		for _, v := range r.Values {
			require.True(t, v == got.Value, "helper %d returned another value than the one stored", i)
		}
		fnCalls += r.FnCalls
	}
	require.Equal(t, 1, fnCalls, "fn calls per process: %d, %d", reports[0].FnCalls, reports[1].FnCalls)
}

// Environment of the helper processes started by runLifecycleProcesses.
const (
	lifecycleHelperEnv    = "CREDVAULT_LIFECYCLE_HELPER_CONFIG"
	lifecycleHelperResult = "CREDVAULT_LIFECYCLE_HELPER_RESULT"
)
