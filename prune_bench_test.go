package vault_test

import (
	"context"
	"errors"
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
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/bench"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

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
				for {
					select {
					case <-stop:
						return
					default:
					}
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
