// Command vaultbench measures the credential calls of package vault
// against the same work written by hand on Supabase Vault, and prints
// markdown tables.
//
// It starts a throwaway PostgreSQL cluster with Supabase's role model, as
// the tests do (or uses the database named by VAULT_TEST_DATABASE_URL, such
// as the one `supabase start` runs), creates a migrated database and
// measures, for each operation and number of concurrent callers:
//
//   - library: the call of a production-configured client (a pgxpool
//     connected as postgres, WithRole("service_role"), a discarding
//     logger);
//   - hand: the baseline, the same work written by hand with pgx in one
//     round trip: the Vault call plus one plain INSERT or UPDATE of a
//     bookkeeping row (Refresh: two round trips in one transaction, as
//     the library's);
//   - sql: the credential function alone, one prepared statement, as the
//     connection role (the SQL-level comparison with hand);
//   - sql+setup: the statements the library sends (its settings statement
//     and the function), sent without the library;
//   - vault: the bare Vault call.
//
// The throwaway server has the supabase_vault extension when it is
// installed next to the PostgreSQL binaries; CREDVAULT_TEST_VAULT=compat
// measures the module's compatibility layer instead.
//
// Each round measures every case of every cell once, for -duration each,
// in a new random order, so that slow drifts of a busy machine reach all
// cases alike; the report gives, per cell, the median of the rounds'
// ratios and their range. CPU per call is the CPU time of this process
// (client) and of every process of the server, from /proc, divided by the
// calls. With -paired N, each operation's cases are also called
// alternately from one goroutine, N calls each per round.
//
// With -scale, it instead builds growing numbers of credentials (and ten
// access-log rows per credential) in bulk and prints how the latency of
// each call grows; see scale.go.
//
// Usage:
//
//	go run ./cmd/vaultbench [-duration 500ms] [-rounds 5] [-concurrency 1,8] [-paired 0] [-ops Store,Retrieve,...] [-fsync=true]
//	go run ./cmd/vaultbench -scale 1000,100000,1000000 [-scale-calls 600] [-set shared_buffers=2GB]
//
// Progress goes to standard error, the report to standard output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credvault/vault/internal/bench"
	"github.com/credvault/vault/internal/testserver"
	_ "github.com/credvault/vault/vaulttest/vaulttestdocker" // Docker fallback when no PostgreSQL is installed
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vaultbench:", err)
		os.Exit(1)
	}
}

type config struct {
	duration    time.Duration
	concurrency []int
	rounds      int
	ops         []string
	cases       []string
	fsync       bool
	paired      int
	scale       []int
	scaleCalls  int
	auditPer    int
	settings    map[string]string
}

func parseFlags() (config, error) {
	var (
		c                       config
		conc, ops, cases, scale string
	)
	var names []string
	for _, o := range bench.Operations() {
		names = append(names, o.Name)
	}
	flag.DurationVar(&c.duration, "duration", 500*time.Millisecond, "measured time per case, cell and round")
	flag.StringVar(&conc, "concurrency", "1,8", "comma-separated numbers of concurrent callers")
	flag.IntVar(&c.rounds, "rounds", 5, "rounds: each case is measured this many times, interleaved with the others")
	flag.StringVar(&ops, "ops", strings.Join(names, ","), "comma-separated operations to measure")
	flag.StringVar(&cases, "cases", "", "comma-separated cases to measure besides library and hand (default: all)")
	flag.IntVar(&c.paired, "paired", 0, "if > 0, also call each operation's cases alternately from one caller, this many calls each per round")
	flag.BoolVar(&c.fsync, "fsync", true, "run the throwaway server with fsync and full_page_writes on, as in production (the test clusters run with them off)")
	flag.StringVar(&scale, "scale", "", "scale mode: comma-separated numbers of credentials to grow to, such as 1000,100000,1000000")
	flag.IntVar(&c.scaleCalls, "scale-calls", 600, "scale mode: calls per operation, size and round")
	flag.IntVar(&c.auditPer, "scale-audit", 10, "scale mode: access-log rows per credential")
	c.settings = map[string]string{}
	flag.Func("set", "a server setting of the throwaway cluster, name=value, such as shared_buffers=2GB (repeatable)", func(v string) error {
		name, value, ok := strings.Cut(v, "=")
		if !ok || name == "" {
			return fmt.Errorf("want name=value, got %q", v)
		}
		c.settings[name] = value
		return nil
	})
	flag.Parse()
	if c.duration <= 0 || c.rounds < 1 || c.paired < 0 || c.scaleCalls < 1 || c.auditPer < 0 {
		return c, errors.New("-duration, -rounds and -scale-calls must be positive, -paired and -scale-audit not negative")
	}
	for _, f := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return c, fmt.Errorf("bad -concurrency %q", conc)
		}
		c.concurrency = append(c.concurrency, n)
	}
	for _, f := range strings.Split(ops, ",") {
		f = strings.TrimSpace(f)
		i := slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, f) })
		if i < 0 {
			return c, fmt.Errorf("unknown operation %q in -ops (known: %s)", f, strings.Join(names, ", "))
		}
		c.ops = append(c.ops, names[i])
	}
	if cases != "" {
		c.cases = strings.Split(cases, ",")
	}
	if scale != "" {
		for _, f := range strings.Split(scale, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 || (len(c.scale) > 0 && n <= c.scale[len(c.scale)-1]) {
				return c, fmt.Errorf("bad -scale %q: want increasing positive numbers", scale)
			}
			c.scale = append(c.scale, n)
		}
	}
	return c, nil
}

func run() error {
	cfg, err := parseFlags()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	logf := func(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

	settings := map[string]string{"fsync": "off", "full_page_writes": "off"}
	if cfg.fsync {
		settings = map[string]string{"fsync": "on", "full_page_writes": "on"}
	}
	if cfg.scale != nil {
		// Bulk loads of millions of rows: fewer checkpoints.
		settings["max_wal_size"] = "8GB"
	}
	for k, v := range cfg.settings {
		settings[k] = v
	}
	logf("starting server")
	srv, err := testserver.Start(ctx, testserver.Options{Settings: settings})
	if err != nil {
		return err
	}
	defer srv.Close()
	db, err := srv.NewDatabase(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	pcfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return err
	}
	env, closeEnv, err := openEnv(ctx, pcfg, int32(max(slices.Max(cfg.concurrency), 2)), db.Schema)
	if err != nil {
		return err
	}
	defer closeEnv()
	pool := env.Pool
	if c := srv.Cluster(); c != nil && c.Dir() != "" {
		if env.CPU, err = bench.CPUClock(filepath.Join(c.Dir(), "data")); err != nil {
			logf("no CPU accounting: %v", err)
		}
	}

	info, err := describe(ctx, pool)
	if err != nil {
		return err
	}
	info.external = srv.Cluster() == nil
	info.fsync = cfg.fsync
	info.loadBefore = loadAverage()
	info.start = time.Now()
	info.args = strings.Join(os.Args[1:], " ")

	if cfg.scale != nil {
		res, err := runScale(ctx, cfg, env, db.AdminURL, logf)
		if err != nil {
			return err
		}
		info.loadAfter = loadAverage()
		info.elapsed = time.Since(info.start)
		header(os.Stdout, info)
		reportScale(os.Stdout, cfg, res)
		return nil
	}

	cells, err := measureCells(ctx, cfg, env, logf)
	if err != nil {
		return err
	}
	var paired []*pairedResult
	if cfg.paired > 0 {
		// One connection, so that the CPU time of each call's backend can
		// be read around the call.
		penv, closePenv, err := openEnv(ctx, pcfg, 1, db.Schema)
		if err != nil {
			return err
		}
		defer closePenv()
		if c := srv.Cluster(); c != nil && c.Dir() != "" {
			penv.CallCPU = bench.BackendCPUClock(penv.Pool)
		}
		if paired, err = measurePaired(ctx, cfg, penv, logf); err != nil {
			return err
		}
	}
	info.loadAfter = loadAverage()
	info.elapsed = time.Since(info.start)
	header(os.Stdout, info)
	report(os.Stdout, cfg, cells)
	reportPaired(os.Stdout, cfg, paired)
	return nil
}

// selectedCases returns the cases of op that cfg measures.
func selectedCases(cfg config, op bench.Operation) []bench.Case {
	var cs []bench.Case
	for i, c := range op.Cases() {
		if i < 2 || cfg.cases == nil || slices.Contains(cfg.cases, c.Name) {
			cs = append(cs, c)
		}
	}
	return cs
}

func selectedOps(cfg config) []bench.Operation {
	var ops []bench.Operation
	for _, op := range bench.Operations() {
		if slices.Contains(cfg.ops, op.Name) {
			ops = append(ops, op)
		}
	}
	return ops
}

// cell is one operation at one number of callers.
type cell struct {
	op     bench.Operation
	conc   int
	cases  []bench.Case
	rounds [][]bench.Stats // [round][case]
}

// pooled returns case k's calls of every round as one measurement.
func (c *cell) pooled(k int) bench.Stats {
	var all []bench.Stats
	for _, r := range c.rounds {
		all = append(all, r[k])
	}
	return bench.Combine(all...)
}

// ratio returns the spread over the rounds of case a's p50 over case b's.
func (c *cell) ratio(a, b int) bench.Spread {
	var v []float64
	for _, r := range c.rounds {
		v = append(v, ratio(r[a].P50, r[b].P50))
	}
	return bench.SpreadOf(v)
}

// cpuOver returns the spread over the rounds of case a's CPU per call
// minus case b's, in microseconds.
func (c *cell) cpuOver(a, b int) bench.Spread {
	var v []float64
	for _, r := range c.rounds {
		if r[a].CPU.Total() == 0 || r[b].CPU.Total() == 0 {
			return bench.Spread{}
		}
		v = append(v, micros(r[a].CPUPerCall().Total()-r[b].CPUPerCall().Total()))
	}
	return bench.SpreadOf(v)
}

func (c *cell) index(name string) int {
	return slices.IndexFunc(c.cases, func(bc bench.Case) bool { return bc.Name == name })
}

func measureCells(ctx context.Context, cfg config, env *bench.Env, logf func(string, ...any)) ([]*cell, error) {
	var cells []*cell
	for _, op := range selectedOps(cfg) {
		for _, conc := range cfg.concurrency {
			cells = append(cells, &cell{op: op, conc: conc, cases: selectedCases(cfg, op)})
		}
	}
	for round := 1; round <= cfg.rounds; round++ {
		for _, c := range cells {
			stats := make([]bench.Stats, len(c.cases))
			for _, k := range rand.Perm(len(c.cases)) {
				bc := c.cases[k]
				s, err := bench.Measure(ctx, env, bc, c.conc, cfg.duration)
				if err != nil {
					return nil, fmt.Errorf("%s c=%d %s: %w", c.op.Name, c.conc, bc.Name, err)
				}
				cpu := s.CPUPerCall()
				logf("round %d: %-10s c=%-2d %-18s p50 %-9s p99 %-9s %6.0f ops/s CPU/call %s + %s", round, c.op.Name, c.conc,
					bc.Name, round3(s.P50), round3(s.P99), s.Throughput(), us(cpu.Client), us(cpu.Server))
				s.Latencies = s.Latencies[:len(s.Latencies):len(s.Latencies)]
				stats[k] = s
			}
			c.rounds = append(c.rounds, stats)
		}
	}
	return cells, nil
}

type pairedResult struct {
	op     bench.Operation
	cases  []bench.Case
	rounds [][]bench.Stats // [round][case]
}

func measurePaired(ctx context.Context, cfg config, env *bench.Env, logf func(string, ...any)) ([]*pairedResult, error) {
	var results []*pairedResult
	for _, op := range selectedOps(cfg) {
		results = append(results, &pairedResult{op: op, cases: selectedCases(cfg, op)})
	}
	for round := 1; round <= cfg.rounds; round++ {
		for _, r := range results {
			stats, err := bench.MeasurePaired(ctx, env, r.cases, cfg.paired)
			if err != nil {
				return nil, fmt.Errorf("%s paired: %w", r.op.Name, err)
			}
			for i, s := range stats {
				logf("paired round %d: %-10s %-18s p50 %s", round, r.op.Name, r.cases[i].Name, round3(s.P50))
			}
			r.rounds = append(r.rounds, stats)
		}
	}
	return results, nil
}

type environment struct {
	postgres, vault       string
	external, fsync       bool
	loadBefore, loadAfter string
	start                 time.Time
	elapsed               time.Duration
	args                  string
	sharedBuffers         string
}

func describe(ctx context.Context, pool *pgxpool.Pool) (environment, error) {
	var e environment
	err := pool.QueryRow(ctx, "SELECT pg_catalog.current_setting('server_version'), pg_catalog.current_setting('shared_buffers')").
		Scan(&e.postgres, &e.sharedBuffers)
	if err != nil {
		return e, err
	}
	var ext *string
	err = pool.QueryRow(ctx, "SELECT (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'supabase_vault')").Scan(&ext)
	if err != nil {
		return e, err
	}
	e.vault = "compatibility layer (pgcrypto), supabase_vault not installed"
	if ext != nil {
		e.vault = "supabase_vault " + *ext
	}
	return e, nil
}

func header(w io.Writer, env environment) {
	fmt.Fprintf(w, "Date: %s  \n", env.start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "Command: go run ./cmd/vaultbench %s  \n", env.args)
	fmt.Fprintf(w, "PostgreSQL: %s, shared_buffers %s; Vault: %s  \n", env.postgres, env.sharedBuffers, env.vault)
	if env.external {
		fmt.Fprintf(w, "Server: %s (external; its settings apply)  \n", testserver.EnvDatabaseURL)
	} else {
		fmt.Fprintf(w, "Server: throwaway cluster on 127.0.0.1, fsync=%s  \n", onOff(env.fsync))
	}
	fmt.Fprintf(w, "CPU: %d × %s; memory %s; Go: %s  \n", runtime.NumCPU(), cpuModel(), memTotal(), runtime.Version())
	fmt.Fprintf(w, "Load average before / after: %s / %s; total run %s\n\n", env.loadBefore, env.loadAfter,
		env.elapsed.Round(time.Second))
}

func report(w io.Writer, cfg config, cells []*cell) {
	fmt.Fprintf(w, "Each cell: %d rounds of %s per case, cases in random order in each round. Ratios and CPU differences: "+
		"median of the rounds [lowest–highest]. CPU/call: client + server.\n\n", cfg.rounds, cfg.duration)
	fmt.Fprintln(w, "| Operation | Callers | library p50 | hand p50 | library / hand | sql / hand | CPU/call library | CPU/call hand | library − hand CPU | sql − hand CPU | ops/s library / hand |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, c := range cells {
		lib, hand := c.pooled(0), c.pooled(1)
		sqlRatio, sqlCPU := "", ""
		if k := c.index(bench.SQL); k >= 0 {
			sqlRatio, sqlCPU = spreadX(c.ratio(k, 1)), spreadUS(c.cpuOver(k, 1))
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.0f / %.0f |\n",
			c.op.Name, c.conc, ms(lib.P50), ms(hand.P50), spreadX(c.ratio(0, 1)), sqlRatio,
			cpuSplit(lib), cpuSplit(hand), spreadUS(c.cpuOver(0, 1)), sqlCPU, lib.Throughput(), hand.Throughput())
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "All cases (calls of all rounds pooled):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Operation | Callers | Case | p50 | p99 | ops/s | CPU/call (client + server) | p50 / hand p50 (median of rounds) |")
	fmt.Fprintln(w, "|---|--:|---|--:|--:|--:|--:|--:|")
	for _, c := range cells {
		for k, bc := range c.cases {
			s := c.pooled(k)
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %.0f | %s | %s |\n", c.op.Name, c.conc, bc.Name, ms(s.P50), ms(s.P99),
				s.Throughput(), cpuSplit(s), spreadX(c.ratio(k, 1)))
		}
	}
}

func reportPaired(w io.Writer, cfg config, results []*pairedResult) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Paired, one caller on one connection, %d calls per case and round in random order, %d rounds; ratio and "+
		"CPU difference: median of the rounds [lowest–highest]. CPU/call: median of the calls, this process (getrusage) + "+
		"the connection's backend (/proc/PID/schedstat); the WAL writer and other server processes are not counted.\n\n",
		cfg.paired, cfg.rounds)
	fmt.Fprintln(w, "| Operation | Case | p50 | p50 / hand p50 | CPU/call (client + server) | CPU − hand |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|")
	for _, r := range results {
		for k, bc := range r.cases {
			var (
				all           []bench.Stats
				ratios, diffs []float64
				client, serv  []float64
			)
			for _, round := range r.rounds {
				all = append(all, round[k])
				ratios = append(ratios, ratio(round[k].P50, round[1].P50))
				c, h := round[k].CallCPU, round[1].CallCPU
				if c.Total() > 0 {
					diffs = append(diffs, micros(c.Total()-h.Total()))
					client = append(client, micros(c.Client))
					serv = append(serv, micros(c.Server))
				}
			}
			s := bench.Combine(all...)
			cpu := "n/a"
			if len(client) > 0 {
				cl, sv := bench.SpreadOf(client).Median, bench.SpreadOf(serv).Median
				cpu = fmt.Sprintf("%.0f µs (%.0f + %.0f)", cl+sv, cl, sv)
			}
			fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", r.op.Name, bc.Name, ms(s.P50), spreadX(bench.SpreadOf(ratios)),
				cpu, spreadUS(bench.SpreadOf(diffs)))
		}
	}
}

// openEnv opens a pool of at most maxConns connections configured as
// pcfg (which it does not change) and the measurement environment of
// schema on it, and returns the function that closes both.
func openEnv(ctx context.Context, pcfg *pgxpool.Config, maxConns int32, schema string) (*bench.Env, func(), error) {
	c := pcfg.Copy()
	c.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	env, err := bench.NewEnv(ctx, pool, schema)
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	return env, func() {
		env.Close(context.WithoutCancel(ctx))
		pool.Close()
	}, nil
}

// spreadX formats a ratio's spread as "1.05× [1.01–1.09]".
func spreadX(s bench.Spread) string { return formatSpread(s, "%.2f×", "%.2f× [%.2f–%.2f]") }

// spreadUS formats a spread of microseconds as "+12 µs [+8…+15]".
func spreadUS(s bench.Spread) string {
	return formatSpread(s, "%+.0f µs", "%+.0f µs [%+.0f…%+.0f]")
}

// formatSpread formats s: "n/a" when it is empty, its one value with the
// format one, else its median, minimum and maximum with the format many.
func formatSpread(s bench.Spread, one, many string) string {
	switch s.N {
	case 0:
		return "n/a"
	case 1:
		return fmt.Sprintf(one, s.Median)
	}
	return fmt.Sprintf(many, s.Median, s.Min, s.Max)
}

// cpuSplit formats a measurement's CPU per call as "total (client + server)".
func cpuSplit(s bench.Stats) string {
	if s.CPU.Total() == 0 {
		return "n/a"
	}
	c := s.CPUPerCall()
	return fmt.Sprintf("%.0f µs (%.0f + %.0f)", micros(c.Total()), micros(c.Client), micros(c.Server))
}

func micros(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// us formats a CPU time in microseconds, or "n/a" when unknown.
func us(d time.Duration) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f µs", micros(d))
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// ms formats a latency in milliseconds with three significant digits.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	default:
		return fmt.Sprintf("%.3f ms", v)
	}
}

func round3(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(time.Microsecond)
	default:
		return d.Round(100 * time.Nanosecond)
	}
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k == "MemTotal" {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err == nil {
				return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
			}
		}
	}
	return "unknown"
}
