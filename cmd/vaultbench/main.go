// Command vaultbench measures the credential calls of package vault
// against the same work written by hand on Supabase Vault, and prints a
// markdown table.
//
// It starts a throwaway PostgreSQL cluster with Supabase's role model, as
// the tests do (or uses the database named by VAULT_TEST_DATABASE_URL, such
// as the one `supabase start` runs), creates a migrated database and
// measures, for each operation and number of concurrent callers, the
// library call of a production-configured client (a pgxpool connected as
// postgres, WithRole("service_role"), a discarding logger), its baseline
// and reference cases, one after another on the same server:
//
//   - Store: vault.create_secret; reference: a plain INSERT.
//   - Retrieve: the decrypted_secrets SELECT plus one plain INSERT in one
//     round trip, since Retrieve writes the access log; reference: the
//     bare decrypt.
//   - Rotate: vault.update_secret; reference: a plain INSERT.
//   - Delete: DELETE FROM vault.secrets; reference: a plain INSERT.
//
// Usage:
//
//	go run ./cmd/vaultbench [-duration 3s] [-concurrency 1,8,32] [-rounds 1] [-paired 0] [-ops Store,Retrieve,Rotate,Delete] [-fsync=true]
//
// Progress goes to standard error, the report to standard output.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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
	fsync       bool
	paired      int
}

func parseFlags() (config, error) {
	var (
		c    config
		conc string
		ops  string
	)
	flag.DurationVar(&c.duration, "duration", 3*time.Second, "measured time per case, callers and round")
	flag.StringVar(&conc, "concurrency", "1,8,32", "comma-separated numbers of concurrent callers")
	flag.IntVar(&c.rounds, "rounds", 1, "rounds: each case is measured this many times, interleaved with the others, and the calls of all rounds are summarized together")
	flag.StringVar(&ops, "ops", "Store,Retrieve,Rotate,Delete", "comma-separated operations to measure")
	flag.IntVar(&c.paired, "paired", 0, "if > 0, also measure each operation's cases alternately from one caller, this many calls each, for ratios that hold up on a busy machine")
	flag.BoolVar(&c.fsync, "fsync", true, "run the throwaway server with fsync and full_page_writes on, as in production (the test clusters run with them off)")
	flag.Parse()
	if c.duration <= 0 || c.rounds < 1 || c.paired < 0 {
		return c, errors.New("-duration and -rounds must be positive, -paired not negative")
	}
	for _, f := range strings.Split(conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return c, fmt.Errorf("bad -concurrency %q", conc)
		}
		c.concurrency = append(c.concurrency, n)
	}
	known := map[string]bool{}
	for _, o := range bench.Operations() {
		known[strings.ToLower(o.Name)] = true
	}
	for _, f := range strings.Split(ops, ",") {
		f = strings.ToLower(strings.TrimSpace(f))
		if !known[f] {
			return c, fmt.Errorf("unknown operation %q in -ops", f)
		}
		c.ops = append(c.ops, f)
	}
	return c, nil
}

// cell is one operation at one number of callers.
type cell struct {
	op    bench.Operation
	conc  int
	cases []bench.Case
	stats []bench.Stats // per case, all rounds combined
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
	pcfg.MaxConns = int32(slices.Max(cfg.concurrency))
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	env, err := bench.NewEnv(ctx, pool, db.Schema)
	if err != nil {
		return err
	}
	defer env.Close(context.WithoutCancel(ctx))
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

	var cells []*cell
	for _, op := range bench.Operations() {
		if !slices.Contains(cfg.ops, strings.ToLower(op.Name)) {
			continue
		}
		for _, conc := range cfg.concurrency {
			cs := op.Cases()
			cells = append(cells, &cell{op: op, conc: conc, cases: cs, stats: make([]bench.Stats, len(cs))})
		}
	}
	for round := 1; round <= cfg.rounds; round++ {
		for _, c := range cells {
			for i, bc := range c.cases {
				s, err := bench.Measure(ctx, env, bc, c.conc, cfg.duration)
				if err != nil {
					return fmt.Errorf("%s c=%d %s: %w", c.op.Name, c.conc, bc.Name, err)
				}
				logf("round %d: %-8s c=%-3d %-12s p50 %-9s p99 %-9s %6.0f ops/s %8s CPU/call", round, c.op.Name, c.conc,
					bc.Name, round3(s.P50), round3(s.P99), s.Throughput(), us(s.CPUPerCall()))
				c.stats[i] = bench.Combine(c.stats[i], s)
			}
		}
	}
	var paired []pairedResult
	if cfg.paired > 0 {
		for _, op := range bench.Operations() {
			if !slices.Contains(cfg.ops, strings.ToLower(op.Name)) {
				continue
			}
			cs := op.Cases()
			stats, err := bench.MeasurePaired(ctx, env, cs, cfg.paired)
			if err != nil {
				return fmt.Errorf("%s paired: %w", op.Name, err)
			}
			for i, s := range stats {
				logf("paired: %-8s %-12s p50 %s", op.Name, cs[i].Name, round3(s.P50))
			}
			paired = append(paired, pairedResult{op: op, cases: cs, stats: stats})
		}
	}
	info.loadAfter = loadAverage()
	info.elapsed = time.Since(info.start)
	report(os.Stdout, cfg, info, cells)
	reportPaired(os.Stdout, cfg, paired)
	return nil
}

type pairedResult struct {
	op    bench.Operation
	cases []bench.Case
	stats []bench.Stats
}

func reportPaired(w io.Writer, cfg config, results []pairedResult) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "Paired, one caller, %d calls per case in random order:\n\n", cfg.paired)
	fmt.Fprintln(w, "| Operation | Library p50 | Baseline | Baseline p50 | Ratio (p50) | References (p50; library / reference) |")
	fmt.Fprintln(w, "|---|--:|---|--:|--:|---|")
	for _, r := range results {
		lib, base := r.stats[0], r.stats[1]
		var refs []string
		for i := 2; i < len(r.cases); i++ {
			refs = append(refs, fmt.Sprintf("%s %s; %.2f×", r.cases[i].Name, ms(r.stats[i].P50), ratio(lib.P50, r.stats[i].P50)))
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %.2f× | %s |\n", r.op.Name, ms(lib.P50), r.cases[1].Name, ms(base.P50),
			ratio(lib.P50, base.P50), strings.Join(refs, "; "))
	}
}

type environment struct {
	postgres, vault       string
	external, fsync       bool
	loadBefore, loadAfter string
	start                 time.Time
	elapsed               time.Duration
}

func describe(ctx context.Context, pool *pgxpool.Pool) (environment, error) {
	var e environment
	err := pool.QueryRow(ctx, "SELECT pg_catalog.current_setting('server_version')").Scan(&e.postgres)
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

func report(w io.Writer, cfg config, env environment, cells []*cell) {
	fmt.Fprintf(w, "Date: %s  \n", env.start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "PostgreSQL: %s; Vault: %s  \n", env.postgres, env.vault)
	if env.external {
		fmt.Fprintf(w, "Server: %s (external; its settings apply)  \n", testserver.EnvDatabaseURL)
	} else {
		fmt.Fprintf(w, "Server: throwaway cluster on 127.0.0.1, fsync=%s  \n", onOff(env.fsync))
	}
	fmt.Fprintf(w, "CPU: %d × %s; Go: %s  \n", runtime.NumCPU(), cpuModel(), runtime.Version())
	fmt.Fprintf(w, "Load average before / after: %s / %s  \n", env.loadBefore, env.loadAfter)
	fmt.Fprintf(w, "Per case: %s × %d round(s) after warm-up; total run %s\n\n", cfg.duration, cfg.rounds,
		env.elapsed.Round(time.Second))

	fmt.Fprintln(w, "| Operation | Callers | Library p50 | Library p99 | Baseline | Baseline p50 | Baseline p99 | Ratio (p50) | Library ops/s | Baseline ops/s | CPU/call library / baseline |")
	fmt.Fprintln(w, "|---|--:|--:|--:|---|--:|--:|--:|--:|--:|--:|")
	for _, c := range cells {
		lib, base := c.stats[0], c.stats[1]
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %s | %.2f× | %.0f | %.0f | %s |\n",
			c.op.Name, c.conc, ms(lib.P50), ms(lib.P99), c.cases[1].Name, ms(base.P50), ms(base.P99),
			ratio(lib.P50, base.P50), lib.Throughput(), base.Throughput(), cpuRatio(lib, base))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "References, measured in the same run:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Operation | Callers | Case | p50 | p99 | ops/s | CPU/call | Library p50 / case p50 |")
	fmt.Fprintln(w, "|---|--:|---|--:|--:|--:|--:|--:|")
	for _, c := range cells {
		for i := 2; i < len(c.cases); i++ {
			s := c.stats[i]
			fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %.0f | %s | %.2f× |\n",
				c.op.Name, c.conc, c.cases[i].Name, ms(s.P50), ms(s.P99), s.Throughput(), us(s.CPUPerCall()),
				ratio(c.stats[0].P50, s.P50))
		}
	}
}

// cpuRatio formats the CPU time per call of the library and the baseline
// and their ratio, or "n/a" without CPU accounting.
func cpuRatio(lib, base bench.Stats) string {
	if lib.CPU == 0 || base.CPU == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%s / %s = %.2f×", us(lib.CPUPerCall()), us(base.CPUPerCall()),
		ratio(lib.CPUPerCall(), base.CPUPerCall()))
}

// us formats a CPU time in microseconds, or "n/a" when unknown.
func us(d time.Duration) string {
	if d == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
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
