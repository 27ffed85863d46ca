package vault_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/bench"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

// This file proves the audit trail: what one access-log row holds, that
// only successful retrievals add one, that failures reach the Go logger
// instead, and that nobody but the owner may read or change the log.

// TestAuditRecordsEachRetrieval retrieves through pools that identify
// themselves with an application_name and reach the server over TCP on
// 127.0.0.1, logged in as the migration owner and, as PostgREST does, as
// authenticator, both running the calls as service_role. Each Retrieve
// adds exactly one row holding the secret id, the time of the call, the
// login role, the role the caller ran as, the application name and the
// client address.
func TestAuditRecordsEachRetrieval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	owner := ownerClient(t, db.Pool, db.Schema)

	logins := []string{testserver.OwnerRole}
	if db.AdminURL != "" { // a throwaway cluster, where authenticator logs in without a password
		logins = append(logins, "authenticator")
	}
	for _, login := range logins {
		t.Run(login, func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(db.URL)
			require.NoError(t, err)
			cfg.ConnConfig.User = login
			if login == "authenticator" {
				// See TestWithRoleFromNoInheritLogin for the default mode.
				cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
			}
			app := "credvault-audit-" + randomHex(t, 4)
			cfg.ConnConfig.RuntimeParams["application_name"] = app
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			c, err := vault.New(pool, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
			require.NoError(t, err)
			id := storeFresh(t, c, "audit/")
			require.Zero(t, auditRows(t, db.Pool, db.Schema, "retrieve", &id), "storing is not an access")

			for n := 1; n <= 2; n++ {
				var before, after time.Time
				require.NoError(t, pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&before))
				_, err := c.Retrieve(ctx, id)
				require.NoError(t, err)
				require.NoError(t, pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&after))

				records, err := owner.AccessLog(ctx, id, 10)
				require.NoError(t, err)
				records = secRetrievals(records)
				require.Len(t, records, n, "one row per successful Retrieve")
				r := records[0]
				require.Equal(t, id, r.SecretID)
				require.False(t, r.AccessedAt.Before(before), "accessed_at %v is before the call started (%v)", r.AccessedAt, before)
				require.False(t, r.AccessedAt.After(after), "accessed_at %v is after the call returned (%v)", r.AccessedAt, after)
				require.Equal(t, login, r.SessionUser)
				require.Equal(t, secService, r.CurrentUser)
				require.Equal(t, app, r.ApplicationName)
				require.Empty(t, r.JWTRole)
				require.Empty(t, r.JWTSubject)
				if cfg.ConnConfig.Host == "127.0.0.1" {
					require.Equal(t, netip.MustParseAddr("127.0.0.1"), r.ClientAddr)
				} else {
					require.True(t, r.ClientAddr.IsValid(), "a TCP session records its client address")
				}
				if n == 2 {
					require.Greater(t, r.ID, records[1].ID, "row ids increase")
				}
			}
		})
	}
}

// TestAuditJWTClaims retrieves the way PostgREST runs a request (SET
// LOCAL ROLE and request.jwt.claims) and checks that the row carries the
// JWT's role and sub; older PostgREST versions' request.jwt.claim.*
// settings are used when the claims are absent or unreadable; malformed or
// non-object claims never break the retrieval.
func TestAuditJWTClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tx := sharedTx(t)
	owner := ownerClient(t, tx, db.Schema)
	secret := newSecret()
	id, err := owner.Store(ctx, "audit/jwt/"+uuid.NewString(), secret, "")
	require.NoError(t, err)

	// retrieveWith retrieves as service_role with the raw claims setting
	// (nil: unset) and the older per-claim settings, and returns the row.
	retrieveWith := func(t *testing.T, claims *string, legacy map[string]string) vault.AccessRecord {
		t.Helper()
		err := vaulttest.AsRole(ctx, tx, secService, nil, func(tx pgx.Tx) error {
			if claims != nil {
				if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('request.jwt.claims', $1, true)", *claims); err != nil {
					return err
				}
			}
			for k, v := range legacy {
				if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config($1, $2, true)", "request.jwt.claim."+k, v); err != nil {
					return err
				}
			}
			c, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
			if err != nil {
				return err
			}
			got, err := c.Retrieve(ctx, id)
			if err != nil {
				return err
			}
			require.True(t, got == secret, "retrieve returned another value")
			for k := range legacy {
				if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config($1, '', true)", "request.jwt.claim."+k); err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(t, err, "retrieval must not depend on the claims being readable")
		records, err := owner.AccessLog(ctx, id, 1)
		require.NoError(t, err)
		require.Len(t, records, 1)
		require.Equal(t, secService, records[0].CurrentUser)
		return records[0]
	}
	str := func(s string) *string { return &s }

	t.Run("PostgREST claims", func(t *testing.T) {
		sub := uuid.NewString()
		err := vaulttest.AsRole(ctx, tx, secService, map[string]any{"role": secService, "sub": sub, "aud": "authenticated"},
			func(tx pgx.Tx) error {
				c, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
				if err != nil {
					return err
				}
				_, err = c.Retrieve(ctx, id)
				return err
			})
		require.NoError(t, err)
		records, err := owner.AccessLog(ctx, id, 1)
		require.NoError(t, err)
		require.Equal(t, secService, records[0].JWTRole)
		require.Equal(t, sub, records[0].JWTSubject)
	})
	for name, raw := range map[string]string{
		"malformed JSON": `{"role": "service_role", "sub": `,
		"not JSON":       "Bearer " + randomHex(t, 8),
		"JSON array":     `["service_role"]`,
		"JSON string":    `"service_role"`,
		"JSON null":      `null`,
		"empty":          ``,
	} {
		t.Run(name, func(t *testing.T) {
			r := retrieveWith(t, str(raw), nil)
			require.Empty(t, r.JWTRole)
			require.Empty(t, r.JWTSubject)
		})
	}
	t.Run("older PostgREST settings", func(t *testing.T) {
		sub := uuid.NewString()
		r := retrieveWith(t, nil, map[string]string{"role": "authenticated", "sub": sub})
		require.Equal(t, "authenticated", r.JWTRole)
		require.Equal(t, sub, r.JWTSubject)
	})
	t.Run("malformed claims fall back to older settings", func(t *testing.T) {
		sub := uuid.NewString()
		r := retrieveWith(t, str(`{"sub":`), map[string]string{"sub": sub})
		require.Empty(t, r.JWTRole)
		require.Equal(t, sub, r.JWTSubject)
	})
}

// TestAuditFailedCallsAddNoRow shows that a retrieval that fails, because
// the id is unknown or the role may not call the function, writes nothing to
// the access log and is reported by the Go logger instead, with the
// credential id, outcome and SQLSTATE.
func TestAuditFailedCallsAddNoRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tx := sharedTx(t)
	logger, logs := secLogger()
	client := func(role string) *vault.Client {
		c, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(role), vault.WithLogger(logger))
		require.NoError(t, err)
		return c
	}
	svc := client(secService)
	id := storeFresh(t, svc, "audit/failed/")

	unknown := uuid.New()
	_, err := svc.Retrieve(ctx, unknown)
	require.ErrorIs(t, err, vault.ErrNotFound)
	require.Zero(t, auditRows(t, tx, db.Schema, "retrieve", &unknown))

	for _, role := range []string{"authenticated", "anon"} {
		_, err = client(role).Retrieve(ctx, id)
		require.ErrorIs(t, err, vault.ErrPermissionDenied)
	}
	require.Zero(t, auditRows(t, tx, db.Schema, "retrieve", &id), "denied retrievals leave no row")

	_, err = svc.Retrieve(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 1, auditRows(t, tx, db.Schema, "retrieve", &id), "only the successful retrieval left a row")

	records := secRecords(t, logs)
	require.Len(t, secFindRecord(records, map[string]any{
		"level": "INFO", "op": "retrieve", "secret_id": unknown.String(), "outcome": "not_found", "sqlstate": "P0002", "role": secService,
	}), 1, "the failed retrieval is logged")
	for _, role := range []string{"authenticated", "anon"} {
		require.Len(t, secFindRecord(records, map[string]any{
			"level": "WARN", "op": "retrieve", "secret_id": id.String(), "outcome": "permission_denied", "sqlstate": "42501", "role": role,
		}), 1, "the denied retrieval as %s is logged", role)
	}
	require.Len(t, secFindRecord(records, map[string]any{
		"level": "DEBUG", "op": "retrieve", "secret_id": id.String(), "outcome": "ok", "role": secService,
	}), 1)
}

// TestAuditLogIsAppendOnly checks that, with rows in the log, service_role
// and authenticated may neither update, delete nor truncate them, that
// none of the API roles may read them, even with the schema exposed to
// PUBLIC, while the owner reads them with Client.AccessLog.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tx := sharedTx(t)
	owner := ownerClient(t, tx, db.Schema)
	svc, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)
	id := storeFresh(t, svc, "audit/append-only/")
	for range 2 {
		_, err = svc.Retrieve(ctx, id)
		require.NoError(t, err)
	}
	want, err := owner.AccessLog(ctx, id, 10)
	require.NoError(t, err)
	require.Len(t, secRetrievals(want), 2)

	log := secIdent(db.Schema) + ".vault_access_log"
	tamper := map[string]string{
		"UPDATE":   "UPDATE " + log + " SET current_user_name = 'someone_else', jwt_sub = 'forged'",
		"DELETE":   "DELETE FROM " + log,
		"TRUNCATE": "TRUNCATE " + log,
		"INSERT":   "INSERT INTO " + log + " (secret_id, session_user_name, current_user_name) VALUES (gen_random_uuid(), 'forged', 'forged')",
		"SELECT":   "SELECT count(*) FROM " + log,
	}
	check := func(t *testing.T) {
		for _, role := range []string{secService, "authenticated", "anon"} {
			for op, sql := range tamper {
				require.Equal(t, "42501", secProbe(t, tx, role, secSQL(sql)), "%s as %s", op, role)
			}
		}
		got, err := owner.AccessLog(ctx, id, 10)
		require.NoError(t, err)
		require.Equal(t, want, got, "the rows are unchanged")
		_, err = svc.AccessLog(ctx, id, 10)
		require.ErrorIs(t, err, vault.ErrPermissionDenied)
	}
	t.Run("as installed", check)
	_, err = tx.Exec(ctx, "GRANT USAGE ON SCHEMA "+secIdent(db.Schema)+" TO PUBLIC")
	require.NoError(t, err)
	t.Run("schema exposed", check)

	// The owner may prune.
	require.Empty(t, secProbe(t, tx, secOwner, secSQL("DELETE FROM "+log+" WHERE secret_id = $1", id)))
}

// TestAuditRecordsCallerBehindDefinerWrapper shows which role a row
// names when an end user reaches retrieve_credential through a SECURITY
// DEFINER wrapper of the owner's, exposed through the API (a pattern to
// avoid): the end user's role and JWT subject, not the wrapper's owner.
func TestAuditRecordsCallerBehindDefinerWrapper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tx := sharedTx(t)
	owner := ownerClient(t, tx, db.Schema)
	id := storeFresh(t, owner, "audit/wrapper/")
	wrapper := "public.credvault_wrapper_" + randomHex(t, 4)
	_, err := tx.Exec(ctx, "CREATE FUNCTION "+wrapper+"(uuid) RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp "+
		"AS $$ SELECT "+secIdent(db.Schema)+".retrieve_credential($1) $$; GRANT EXECUTE ON FUNCTION "+wrapper+"(uuid) TO authenticated")
	require.NoError(t, err)

	sub := uuid.NewString()
	err = vaulttest.AsRole(ctx, tx, "authenticated", map[string]any{"role": "authenticated", "sub": sub}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT "+wrapper+"($1)", id)
		return err
	})
	require.NoError(t, err)
	records, err := owner.AccessLog(ctx, id, 10)
	require.NoError(t, err)
	records = secRetrievals(records)
	require.Len(t, records, 1)
	require.Equal(t, "authenticated", records[0].CurrentUser)
	require.Equal(t, "authenticated", records[0].JWTRole)
	require.Equal(t, sub, records[0].JWTSubject)
	require.Equal(t, testserver.OwnerRole, records[0].SessionUser)
}

// TestAuditRowIsPartOfCallerTransaction documents a limit of an in-database
// log: the row is written in the caller's transaction, so a caller that
// rolls back removes it although it read the value. The Go logger's record
// remains.
func TestAuditRowIsPartOfCallerTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tx := sharedTx(t)
	logger, logs := secLogger()
	svc, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)
	id := storeFresh(t, svc, "audit/rollback/")

	inner, err := tx.Begin(ctx)
	require.NoError(t, err)
	c, err := vault.New(inner, vault.WithSchema(db.Schema), vault.WithRole(secService), vault.WithLogger(logger))
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 1, auditRows(t, inner, db.Schema, "retrieve", &id))
	require.NoError(t, inner.Rollback(ctx))

	require.Zero(t, auditRows(t, tx, db.Schema, "retrieve", &id), "the row went with the rolled-back transaction")
	require.Len(t, secFindRecord(secRecords(t, logs), map[string]any{
		"op": "retrieve", "secret_id": id.String(), "outcome": "ok",
	}), 1, "the Go logger's record is the durable trace")
}

// envPruneRows asks BenchmarkPruneAccessLog for a log of that many rows.
const envPruneRows = "CREDVAULT_BENCH_PRUNE_ROWS"

// pruneReaders is the number of goroutines retrieving during a prune.
const pruneReaders = 8

// BenchmarkPruneAccessLog measures how much pruning a large access log
// holds up retrievals: it fills the log with CREDVAULT_BENCH_PRUNE_ROWS
// rows older than the cutoff (skipped when the variable is unset, so that
// no normal run pays for it), then has 8 goroutines retrieve one
// credential in a loop, first for 60 s alone (the baseline), then while
// PruneAccessLog deletes every one of those rows. It runs on a throwaway
// server of its own with fsync on, as in production, and with
// log_lock_waits on and deadlock_timeout = 10ms, so that every lock wait
// longer than 10 ms is in the server log. It reports the prune's duration
// and rate, the retrievals' p50, p99 and maximum latency and the calls
// over 100 ms in both phases, and the lock waits and checkpoints the log
// recorded during the prune:
//
//	CREDVAULT_BENCH_PRUNE_ROWS=10000000 go test -run '^$' -bench PruneAccessLog -benchtime 1x -timeout 2h .
func BenchmarkPruneAccessLog(b *testing.B) {
	rows, _ := strconv.Atoi(os.Getenv(envPruneRows))
	if rows <= 0 {
		b.Skip("set " + envPruneRows + " (such as 10000000) to run it")
	}
	ctx := context.Background()
	srv, err := testserver.Start(ctx, testserver.Options{
		Settings: map[string]string{"fsync": "on", "full_page_writes": "on", "log_lock_waits": "on",
			"deadlock_timeout": "10ms", "log_checkpoints": "on", "log_autovacuum_min_duration": "0"},
		NoExternal: true,
	})
	require.NoError(b, err)
	b.Cleanup(func() { _ = srv.Close() })
	db, err := srv.NewDatabase(ctx)
	require.NoError(b, err)
	b.Cleanup(func() { _ = db.Close() })
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		b.Logf("filling the access log with %d rows", rows)
		logPath := srv.Cluster().LogPath()
		marks := map[string]int64{}
		r, err := measurePrune(ctx, b, db.URL, db.Schema, rows, time.Minute, func(phase string) {
			marks[phase] = logSize(b, logPath)
		})
		require.NoError(b, err)
		b.Logf("filled in %v; baseline %s; during the prune %s; prune %v (%.0f rows/s)",
			r.fill.Round(time.Second), r.baseline, r.during, r.prune.Round(time.Millisecond), float64(rows)/r.prune.Seconds())
		for _, phase := range []string{"baseline", "prune"} {
			next := map[string]string{"baseline": "prune", "prune": "end"}[phase]
			l := scanServerLog(b, logPath, marks[phase], marks[next])
			for i, w := range l.lockWaits { // name the relations
				if m := relationRE.FindStringSubmatch(w); m != nil {
					var name string
					if db.Pool.QueryRow(ctx, "SELECT $1::oid::regclass::text", m[1]).Scan(&name) == nil {
						l.lockWaits[i] = strings.Replace(w, m[0], "relation "+name, 1)
					}
				}
			}
			b.Logf("server log, %s: %d lock waits over 10 ms %q (longest %v), %d checkpoints, %d autovacuum runs",
				phase, len(l.lockWaits), l.lockWaits, l.longestWait, l.checkpoints, l.vacuums)
			b.ReportMetric(ms(l.longestWait), phase+"-longest-lock-wait-ms")
			b.ReportMetric(float64(len(l.lockWaits)), phase+"-lock-waits")
		}
		b.ReportMetric(float64(r.baseline.over100), "baseline-over-100ms")
		b.ReportMetric(float64(r.during.over100), "during-over-100ms")
		b.ReportMetric(r.prune.Seconds(), "prune-s")
		b.ReportMetric(float64(rows)/r.prune.Seconds(), "rows/s")
		b.ReportMetric(ms(r.baseline.max), "baseline-max-ms")
		b.ReportMetric(ms(r.during.P50), "during-p50-ms")
		b.ReportMetric(ms(r.during.P99), "during-p99-ms")
		b.ReportMetric(ms(r.during.max), "during-max-ms")
	}
}

// TestPruneMeasurementRunsOnce runs the benchmark's measurement on a small
// log, so that the normal test run proves it still works.
func TestPruneMeasurementRunsOnce(t *testing.T) {
	t.Parallel()
	db := vaulttest.NewDatabase(t)
	r, err := measurePrune(context.Background(), t, db.URL, db.Schema, 20_000, 200*time.Millisecond, func(string) {})
	require.NoError(t, err)
	require.Positive(t, r.baseline.N)
	require.Positive(t, r.during.N)
	require.Positive(t, r.prune)
}

type latencies struct {
	bench.Stats
	max     time.Duration
	over100 int // calls that took more than 100 ms
}

func (l latencies) String() string {
	return "n=" + strconv.Itoa(l.N) + " p50=" + l.P50.Round(time.Microsecond).String() +
		" p99=" + l.P99.Round(time.Microsecond).String() + " max=" + l.max.Round(time.Microsecond).String() +
		" over100ms=" + strconv.Itoa(l.over100)
}

var relationRE = regexp.MustCompile(`relation (\d+)`)

// logSize returns the size of the server log at path, where a later scan
// starts.
func logSize(t testing.TB, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Size()
}

type logSummary struct {
	lockWaits            []string      // what was waited for, as log_lock_waits says
	longestWait          time.Duration // of the waits reported as acquired
	checkpoints, vacuums int
}

// scanServerLog summarizes the server log at path between the offsets
// from and to: the lock waits log_lock_waits reported (the lock, not the
// statement), the checkpoints and the autovacuum runs.
func scanServerLog(t testing.TB, path string, from, to int64) logSummary {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	to = min(to, int64(len(b)))
	var l logSummary
	for _, line := range strings.Split(string(b[min(from, to):to]), "\n") {
		switch {
		case strings.Contains(line, "still waiting for"):
			_, what, _ := strings.Cut(line, "still waiting for ")
			l.lockWaits = append(l.lockWaits, what)
		case strings.Contains(line, " acquired ") && strings.HasSuffix(line, " ms"):
			i := strings.LastIndex(line, " after ")
			if ms, err := strconv.ParseFloat(strings.TrimSuffix(line[i+len(" after "):], " ms"), 64); i > 0 && err == nil {
				l.longestWait = max(l.longestWait, time.Duration(ms*float64(time.Millisecond)))
			}
		case strings.Contains(line, "checkpoint starting"):
			l.checkpoints++
		case strings.Contains(line, "automatic vacuum of table"):
			l.vacuums++
		}
	}
	return l
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type pruneResult struct {
	fill, prune      time.Duration
	baseline, during latencies
}

// measurePrune fills the access log of the database at url with rows rows
// older than a cutoff, in time order (ids follow time, as in a real log),
// measures retrievals alone for baseline, then during a PruneAccessLog of
// those rows, and checks that the prune deleted them all. It calls mark
// with "baseline", "prune" and "end" as each phase begins or ends.
func measurePrune(ctx context.Context, t testing.TB, url, schema string, rows int, baseline time.Duration,
	mark func(phase string)) (pruneResult, error) {
	var r pruneResult
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return r, err
	}
	cfg.MaxConns = pruneReaders + 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return r, err
	}
	defer pool.Close()
	log := secIdent(schema) + ".vault_access_log"
	cutoff := time.Now().Add(-400 * 24 * time.Hour)

	// About two years of old rows over a thousand credentials, a million
	// per transaction.
	start := time.Now()
	const chunk = 1_000_000
	span := 2 * 365 * 24 * time.Hour
	step := span / time.Duration(rows)
	for from := 0; from < rows; from += chunk {
		n := min(chunk, rows-from)
		_, err := pool.Exec(ctx, "INSERT INTO "+log+" (secret_id, accessed_at, session_user_name, current_user_name, "+
			"jwt_role, application_name, client_addr, op) "+
			"SELECT ('00000000-0000-4000-8000-' || lpad(((g % 1000))::text, 12, '0'))::uuid, "+
			"$1::timestamptz - $2::interval + $3::interval * g, 'postgres', 'service_role', NULL, 'worker', '10.0.0.7', 'retrieve' "+
			"FROM generate_series($4::bigint, $5::bigint) AS g",
			cutoff, span, step, from, from+n-1)
		if err != nil {
			return r, err
		}
	}
	if _, err := pool.Exec(ctx, "VACUUM (ANALYZE) "+log); err != nil {
		return r, err
	}
	r.fill = time.Since(start)

	c, err := vault.New(pool, vault.WithSchema(schema), vault.WithRole(secService), quiet())
	if err != nil {
		return r, err
	}
	owner, err := vault.New(pool, vault.WithSchema(schema), quiet())
	if err != nil {
		return r, err
	}
	value := newSecret()
	id, err := c.Store(ctx, "prune-bench/"+uuid.NewString(), value, "")
	if err != nil {
		return r, err
	}

	// retrieve runs the readers until stop is closed and returns their
	// latencies.
	retrieve := func(stop <-chan struct{}) (latencies, error) {
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			all  []time.Duration
			errs []error
			n    atomic.Int64
		)
		begin := time.Now()
		for range pruneReaders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				defer func() { mu.Lock(); all = append(all, mine...); mu.Unlock() }()
				for !isClosed(stop) {
					t0 := time.Now()
					got, err := c.Retrieve(ctx, id)
					mine = append(mine, time.Since(t0))
					if err == nil && got != value {
						err = errors.New("retrieve returned another value")
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					n.Add(1)
				}
			}()
		}
		<-stop
		wg.Wait()
		slices.Sort(all)
		var rec bench.Recorder
		rec.Add(all)
		l := latencies{Stats: rec.Stats(time.Since(begin))}
		if len(all) > 0 {
			l.max = all[len(all)-1]
		}
		for _, d := range all {
			if d > 100*time.Millisecond {
				l.over100++
			}
		}
		return l, errors.Join(errs...)
	}

	// Warm up: open the pool's connections and prepare the statements.
	stop := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(stop) })
	if _, err := retrieve(stop); err != nil {
		return r, err
	}
	stop = make(chan struct{})
	mark("baseline")
	time.AfterFunc(baseline, func() { close(stop) })
	if r.baseline, err = retrieve(stop); err != nil {
		return r, err
	}

	stop = make(chan struct{})
	done := make(chan latencies, 1)
	var readErr error
	go func() {
		l, err := retrieve(stop)
		readErr = err
		done <- l
	}()
	time.Sleep(100 * time.Millisecond) // the readers are running
	mark("prune")
	start = time.Now()
	deleted, err := owner.PruneAccessLog(ctx, cutoff)
	r.prune = time.Since(start)
	close(stop)
	r.during = <-done
	mark("end")
	if err != nil {
		return r, err
	}
	if readErr != nil {
		return r, readErr
	}
	if deleted != int64(rows) {
		return r, errors.New("the prune did not delete every old row")
	}
	t.Logf("prune of %d rows: %v; retrievals alone %s; during the prune %s", rows, r.prune, r.baseline, r.during)
	return r, nil
}
