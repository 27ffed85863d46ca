package tests

import (
	"context"
	"path/filepath"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/bench"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

// The benchmarks measure each credential call of a production-configured
// client (a *pgxpool.Pool connected as postgres, WithRole("service_role"),
// a discarding logger) beside its cases on the same server in the same
// run (see package internal/bench): "hand", the same work written by hand
// with pgx in one round trip (the Vault call plus one plain INSERT or
// UPDATE of a bookkeeping row), "sql", the credential function alone,
// "sql+setup", the library's statements without the library, and "vault",
// the bare Vault call. Each runs at 1, 8 and 32 concurrent callers and
// reports p50 and p99 latency besides ns/op (wall time per call, the
// inverse of throughput), and cpu-ns/op, the CPU time of the benchmark
// process and the server per call (with a throwaway server on Linux).
//
//	go test -run '^$' -bench . -benchtime 3s .
//
// cmd/vaultbench runs the same measurements in interleaved rounds and
// prints tables; use it for ratios on a busy machine.

// benchConcurrency is the number of concurrent callers of each benchmark.
var benchConcurrency = []int{1, 8, 32}

func BenchmarkStore(b *testing.B)      { benchOperation(b, "Store") }
func BenchmarkRetrieve(b *testing.B)   { benchOperation(b, "Retrieve") }
func BenchmarkRotate(b *testing.B)     { benchOperation(b, "Rotate") }
func BenchmarkDelete(b *testing.B)     { benchOperation(b, "Delete") }
func BenchmarkPut(b *testing.B)        { benchOperation(b, "Put") }
func BenchmarkRead(b *testing.B)       { benchOperation(b, "Read") }
func BenchmarkRefresh(b *testing.B)    { benchOperation(b, "Refresh") }
func BenchmarkLookup(b *testing.B)     { benchOperation(b, "Lookup") }
func BenchmarkStoreTaken(b *testing.B) { benchOperation(b, "StoreTaken") }

func BenchmarkRetrieveMany(b *testing.B) { benchOperation(b, "RetrieveMany") }

// benchOperation runs BenchmarkOp/c=N/case for the named operation.
func benchOperation(b *testing.B, name string) {
	var op bench.Operation
	for _, o := range bench.Operations() {
		if o.Name == name {
			op = o
		}
	}
	require.NotEmpty(b, op.Name, "unknown operation %s", name)
	e := newBenchEnv(b)
	for _, conc := range benchConcurrency {
		b.Run("c="+strconv.Itoa(conc), func(b *testing.B) {
			for _, c := range op.Cases() {
				b.Run(c.Name, func(b *testing.B) { benchCase(b, e, c, conc) })
			}
		})
	}
}

// TestBenchmarkCasesRunOnce runs every case of every benchmark once, so
// that the normal test run proves the benchmarks still work without
// spending time on measurements.
func TestBenchmarkCasesRunOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newBenchEnv(t)
	for _, op := range bench.Operations() {
		require.NoError(t, e.Reset(ctx))
		for _, c := range op.Cases() {
			t.Run(op.Name+"/"+c.Name, func(t *testing.T) {
				run, err := c.Prepare(ctx, e, 1)
				require.NoError(t, err)
				s, err := bench.Run(ctx, run, 1, 1, 0)
				require.NoError(t, err)
				require.Positive(t, s.P50)
			})
		}
	}
}

// newBenchEnv returns an Env on a fresh committed database, with a pool
// large enough for every concurrency level.
func newBenchEnv(b testing.TB) *bench.Env {
	b.Helper()
	db := vaulttest.NewDatabase(b)
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(b, err)
	cfg.MaxConns = int32(benchConcurrency[len(benchConcurrency)-1])
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	e, err := bench.NewEnv(context.Background(), pool, db.Schema)
	require.NoError(b, err)
	if c := testserver.SharedServer(b).Cluster(); c != nil && c.Dir() != "" {
		// Without it (an external server), no cpu-ns/op is reported.
		e.CPU, _ = bench.CPUClock(filepath.Join(c.Dir(), "data"))
	}
	return e
}

// benchCase measures one case with exactly conc goroutines. RunParallel
// starts GOMAXPROCS × parallelism goroutines, so GOMAXPROCS is lowered for
// the run to the largest divisor of conc that does not exceed it.
func benchCase(b *testing.B, e *bench.Env, c bench.Case, conc int) {
	ctx := context.Background()
	require.NoError(b, e.Reset(ctx))
	w := bench.WarmupCalls(conc)
	op, err := c.Prepare(ctx, e, w+b.N)
	require.NoError(b, err)
	// Warm up on the first w targets: opens the pool's connections and
	// prepares the statements on each.
	_, err = bench.Run(ctx, op, conc, w, 0)
	require.NoError(b, err)

	procs := runtime.GOMAXPROCS(0)
	g := procs
	for conc%g != 0 {
		g--
	}
	runtime.GOMAXPROCS(g)
	defer runtime.GOMAXPROCS(procs)
	b.SetParallelism(conc / g)

	var (
		next    atomic.Int64
		started atomic.Int64
		rec     bench.Recorder
	)
	next.Store(int64(w))
	var cpu0 bench.CPUTimes
	if e.CPU != nil {
		cpu0, err = e.CPU()
		require.NoError(b, err)
	}
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		started.Add(1)
		local := make([]time.Duration, 0, min(b.N, 4096))
		defer func() { rec.Add(local) }()
		for pb.Next() {
			i := int(next.Add(1) - 1)
			t0 := time.Now()
			if err := op(ctx, i); err != nil {
				b.Error(err)
				return
			}
			local = append(local, time.Since(t0))
		}
	})
	b.StopTimer()
	if e.CPU != nil {
		cpu1, err := e.CPU()
		require.NoError(b, err)
		cpu := cpu1.Sub(cpu0)
		b.ReportMetric(float64(cpu.Total().Nanoseconds())/float64(b.N), "cpu-ns/op")
		b.ReportMetric(float64(cpu.Client.Nanoseconds())/float64(b.N), "client-cpu-ns/op")
	}
	if got := started.Load(); got != int64(conc) {
		b.Fatalf("ran %d goroutines, want %d", got, conc)
	}
	s := rec.Stats(time.Since(start))
	b.ReportMetric(float64(s.P50.Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(s.P99.Nanoseconds()), "p99-ns")
}
