package main

// Scale mode: how the cost of each call grows with the number of
// credentials and access-log rows.
//
// For each size of -scale, in increasing order, the credentials are added
// in bulk in SQL as the owner, the way the library would have made them:
// vault.create_secret with a Vault name in the default namespace, a
// bookkeeping row, and -scale-audit access-log rows each, spread over the
// past year. Names are random (an md5), so that every index is entered at
// random places, as with real names. Then, in -rounds rounds, each
// operation runs -scale-calls times from one caller on targets drawn at
// random from the whole population (without repeats in a round), so that
// a larger database also means colder caches. Delete removes its targets;
// they are replaced before the next size.

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/bench"
)

// scaleOps are the operations of the growth table, in its order.
var scaleOps = []string{"Store", "Retrieve", "Rotate", "Delete", "Lookup", "Put", "Read", "List page", "List first page"}

type scaleResult struct {
	size    int
	build   time.Duration // time to grow to size
	rounds  map[string][]bench.Stats
	sizes   string // table sizes after the build
	audited int64  // access-log rows at the size
}

type scaleTarget struct {
	id      uuid.UUID
	name    string
	version int64
}

const scalePrefix = "scale/"

func runScale(ctx context.Context, cfg config, env *bench.Env, adminURL string, logf func(string, ...any)) ([]scaleResult, error) {
	s := pgx.Identifier{env.Schema}.Sanitize()
	if cfg.scaleCalls > cfg.scale[0] {
		return nil, fmt.Errorf("-scale-calls %d exceeds the smallest size %d", cfg.scaleCalls, cfg.scale[0])
	}
	var results []scaleResult
	have := 0
	for _, size := range cfg.scale {
		start := time.Now()
		if err := growTo(ctx, env, s, size, cfg.auditPer, &have, logf); err != nil {
			return nil, err
		}
		if err := settle(ctx, env, adminURL, logf); err != nil {
			return nil, err
		}
		build := time.Since(start)
		res := scaleResult{size: size, build: build, rounds: map[string][]bench.Stats{}}
		if err := env.Pool.QueryRow(ctx, "SELECT pg_catalog.count(*) FROM "+s+".vault_access_log").Scan(&res.audited); err != nil {
			return nil, err
		}
		res.sizes = tableSizes(ctx, env, s)
		logf("scale %d: built in %s (%s)", size, build.Round(time.Second), res.sizes)
		for round := 1; round <= cfg.rounds; round++ {
			ops := slices.Clone(scaleOps)
			rand.Shuffle(len(ops), func(i, j int) { ops[i], ops[j] = ops[j], ops[i] })
			for _, op := range ops {
				st, err := scaleMeasure(ctx, env, s, op, cfg.scaleCalls)
				if err != nil {
					return nil, fmt.Errorf("scale %d %s: %w", size, op, err)
				}
				logf("scale %d round %d: %-15s p50 %-9s p99 %s", size, round, op, round3(st.P50), round3(st.P99))
				res.rounds[op] = append(res.rounds[op], st)
				if op == "Delete" {
					// Put the population back.
					if err := growTo(ctx, env, s, size, cfg.auditPer, &have, logf); err != nil {
						return nil, err
					}
				}
			}
		}
		results = append(results, res)
	}
	return results, nil
}

// growTo adds credentials named scale/<md5> until the default namespace
// holds size of them; *have counts them.
func growTo(ctx context.Context, env *bench.Env, s string, size, auditPer int, have *int, logf func(string, ...any)) error {
	if err := env.Pool.QueryRow(ctx, "SELECT pg_catalog.count(*) FROM "+s+".vault_credentials WHERE namespace = '' AND name LIKE 'scale/%'").
		Scan(have); err != nil {
		return err
	}
	const chunk = 50000
	for *have < size {
		n := min(chunk, size-*have)
		seed := randomSeed()
		// Asynchronous commits: the load is not what is measured.
		err := pgx.BeginFunc(ctx, env.Pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `
WITH made AS (
    INSERT INTO `+s+`.vault_credentials (id, namespace, name, description, created_at, updated_at)
    SELECT vault.create_secret('v-' || pg_catalog.md5(g::text || $1), 'scale/' || pg_catalog.md5(g::text || $2), ''),
           '', 'scale/' || pg_catalog.md5(g::text || $2), '', pg_catalog.now(), pg_catalog.now()
      FROM pg_catalog.generate_series(1, $3::integer) AS g
    RETURNING id
)
INSERT INTO `+s+`.vault_access_log (secret_id, op, accessed_at, session_user_name, current_user_name)
SELECT m.id, (ARRAY['retrieve', 'read', 'rotate', 'refresh', 'put'])[1 + k % 5],
       pg_catalog.now() - pg_catalog.random() * interval '365 days', 'postgres', 'service_role'
  FROM made AS m, pg_catalog.generate_series(1, $4::integer) AS k`, seed, seed+"n", n, auditPer)
			return err
		})
		if err != nil {
			return fmt.Errorf("grow to %d: %w", size, err)
		}
		*have += n
		logf("scale: %d credentials", *have)
	}
	// Fresh statistics and visibility maps, as autovacuum would keep them.
	for _, table := range []string{s + ".vault_credentials", s + ".vault_access_log"} {
		if _, err := env.Pool.Exec(ctx, "VACUUM ANALYZE "+table); err != nil {
			return err
		}
	}
	// vault.secrets belongs to supabase_admin: postgres may not vacuum it;
	// autovacuum does.
	return nil
}

func randomSeed() string { return uuid.NewString() }

// settle vacuums and analyzes what the load wrote, vault.secrets as the
// superuser when adminURL is known, and waits for autovacuum to finish, so
// that neither runs during the measurements.
func settle(ctx context.Context, env *bench.Env, adminURL string, logf func(string, ...any)) error {
	// The bookkeeping and the access log as autovacuum keeps them in
	// production: statistics current and pages marked all-visible, so that
	// index-only scans read no heap page.
	s := pgx.Identifier{env.Schema}.Sanitize()
	if _, err := env.Pool.Exec(ctx, "VACUUM (ANALYZE) "+s+".vault_credentials, "+s+".vault_access_log"); err != nil {
		return err
	}
	if adminURL != "" {
		admin, err := pgx.Connect(ctx, adminURL)
		if err != nil {
			return err
		}
		_, err = admin.Exec(ctx, "VACUUM ANALYZE vault.secrets")
		admin.Close(context.WithoutCancel(ctx))
		if err != nil {
			return err
		}
	}
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		var n int
		err := env.Pool.QueryRow(ctx, "SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity "+
			"WHERE backend_type = 'autovacuum worker' AND datname = pg_catalog.current_database()").Scan(&n)
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		logf("scale: waiting for %d autovacuum workers", n)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
	return nil
}

func tableSizes(ctx context.Context, env *bench.Env, s string) string {
	var out []string
	for _, t := range []string{"vault.secrets", s + ".vault_credentials", s + ".vault_access_log"} {
		var size string
		if err := env.Pool.QueryRow(ctx, "SELECT pg_catalog.pg_size_pretty(pg_catalog.pg_total_relation_size($1::regclass))", t).
			Scan(&size); err != nil {
			return "sizes unknown: " + err.Error()
		}
		out = append(out, t+" "+size)
	}
	return strings.Join(out, ", ")
}

// scaleTargets draws n random credentials of the population.
func scaleTargets(ctx context.Context, env *bench.Env, s string, n int) ([]scaleTarget, error) {
	rows, err := env.Pool.Query(ctx, "SELECT id, name, version FROM "+s+".vault_credentials "+
		"WHERE namespace = '' AND name LIKE 'scale/%' ORDER BY pg_catalog.random() LIMIT $1", n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (scaleTarget, error) {
		var t scaleTarget
		err := r.Scan(&t.id, &t.name, &t.version)
		return t, err
	})
}

// scaleMeasure makes n calls of op from one caller and returns their
// latencies.
func scaleMeasure(ctx context.Context, env *bench.Env, s, op string, n int) (bench.Stats, error) {
	ts, err := scaleTargets(ctx, env, s, n)
	if err != nil {
		return bench.Stats{}, err
	}
	if len(ts) < n {
		return bench.Stats{}, fmt.Errorf("%d credentials to draw %d targets from", len(ts), n)
	}
	c := env.Client
	value := func(i int) string { return "v-" + uuid.NewString() + fmt.Sprint(i) }
	newName := "scale-new/" + uuid.NewString() + "/" // outside the population
	calls := map[string]bench.Op{
		"Store": func(ctx context.Context, i int) error {
			_, err := c.Store(ctx, newName+fmt.Sprint(i), value(i), "")
			return err
		},
		"Retrieve": func(ctx context.Context, i int) error {
			_, err := c.Retrieve(ctx, ts[i].id)
			return err
		},
		"Read": func(ctx context.Context, i int) error {
			_, err := c.Read(ctx, ts[i].id)
			return err
		},
		"Rotate": func(ctx context.Context, i int) error {
			return c.Rotate(ctx, ts[i].id, value(i), vault.IfVersion(ts[i].version))
		},
		"Delete": func(ctx context.Context, i int) error {
			return c.Delete(ctx, ts[i].id)
		},
		"Lookup": func(ctx context.Context, i int) error {
			_, err := c.Lookup(ctx, ts[i].name)
			return err
		},
		"Put": func(ctx context.Context, i int) error {
			_, err := c.Put(ctx, ts[i].name, value(i), "")
			return err
		},
		"List page": func(ctx context.Context, i int) error {
			// A page from a random place; the last 100 names give shorter ones.
			_, err := c.List(ctx, vault.ListFilter{After: vault.Credential{ID: ts[i].id, Name: ts[i].name}.Cursor(), Limit: 100})
			return err
		},
		"List first page": func(ctx context.Context, _ int) error {
			page, err := c.List(ctx, vault.ListFilter{NamePrefix: scalePrefix, Limit: 100})
			if err == nil && len(page) != 100 {
				err = fmt.Errorf("first page has %d rows", len(page))
			}
			return err
		},
	}
	call := calls[op]
	// A few calls outside the measurement: connections and statements.
	for i := range min(5, len(ts)) {
		if op == "Delete" || op == "Rotate" {
			break
		}
		if err := call(ctx, i); err != nil {
			return bench.Stats{}, err
		}
	}
	if env.CPU == nil {
		return bench.Run(ctx, call, 1, len(ts), 0)
	}
	cpu0, err := env.CPU()
	if err != nil {
		return bench.Stats{}, err
	}
	st, err := bench.Run(ctx, call, 1, len(ts), 0)
	if err != nil {
		return st, err
	}
	cpu1, err := env.CPU()
	st.CPU = cpu1.Sub(cpu0)
	return st, err
}

func reportScale(w io.Writer, cfg config, results []scaleResult) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintf(w, "Scale: %d calls per operation, size and round, one caller, %d rounds in random order, targets drawn at random "+
		"from the whole population; p50, p99 and CPU per call (client + server) of all rounds' calls, then the ratios to "+
		"those at %d (median of the rounds' ratios [lowest–highest]).\n\n", cfg.scaleCalls, cfg.rounds, results[0].size)
	fmt.Fprint(w, "| Operation |")
	for _, r := range results {
		fmt.Fprintf(w, " %s credentials |", thousands(r.size))
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, "|---|")
	for range results {
		fmt.Fprint(w, "--:|")
	}
	fmt.Fprintln(w)
	base := results[0]
	for _, op := range scaleOps {
		fmt.Fprintf(w, "| %s |", op)
		for k, r := range results {
			s := bench.Combine(r.rounds[op]...)
			cpu := ""
			if s.CPU.Total() > 0 {
				cpu = fmt.Sprintf(", CPU %.0f µs", micros(s.CPUPerCall().Total()))
			}
			if k == 0 {
				fmt.Fprintf(w, " %s (p99 %s%s) |", ms(s.P50), ms(s.P99), cpu)
				continue
			}
			var v, vc []float64
			for i, st := range r.rounds[op] {
				b := base.rounds[op][i]
				v = append(v, ratio(st.P50, b.P50))
				if st.CPU.Total() > 0 && b.CPU.Total() > 0 {
					vc = append(vc, ratio(st.CPUPerCall().Total(), b.CPUPerCall().Total()))
				}
			}
			cpuRatio := ""
			if len(vc) > 0 {
				cpuRatio = "; CPU " + spreadX(bench.SpreadOf(vc))
			}
			fmt.Fprintf(w, " %s (p99 %s%s); p50 %s%s |", ms(s.P50), ms(s.P99), cpu, spreadX(bench.SpreadOf(v)), cpuRatio)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w)
	for _, r := range results {
		fmt.Fprintf(w, "- %s credentials, %s access-log rows: built in %s; %s\n", thousands(r.size), thousands(int(r.audited)),
			r.build.Round(time.Second), r.sizes)
	}
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
