package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Stats summarizes one measurement.
type Stats struct {
	N       int           // calls measured
	Elapsed time.Duration // wall time of the measurement
	P50     time.Duration // median latency of one call
	P99     time.Duration // 99th percentile latency of one call

	// CPU is the CPU time that the client and the server spent during the
	// measurement, when the Env has a CPU clock; otherwise zero. Unlike
	// latency it depends little on what else the machine is running.
	CPU CPUTimes

	// Latencies holds every call's latency, sorted.
	Latencies []time.Duration

	// CallCPU is the median CPU time of one call, client and server,
	// measured call by call by [MeasurePaired] when the Env has a
	// CallCPU clock; otherwise zero.
	CallCPU CPUTimes
}

// CPUTimes is CPU time spent by the benchmark process (Client: the
// library or the hand-written code, pgx, the Go runtime) and by every
// process of the PostgreSQL server (Server).
type CPUTimes struct {
	Client, Server time.Duration
}

// Total returns Client + Server.
func (c CPUTimes) Total() time.Duration { return c.Client + c.Server }

// Sub returns c - d.
func (c CPUTimes) Sub(d CPUTimes) CPUTimes {
	return CPUTimes{Client: c.Client - d.Client, Server: c.Server - d.Server}
}

// Add returns c + d.
func (c CPUTimes) Add(d CPUTimes) CPUTimes {
	return CPUTimes{Client: c.Client + d.Client, Server: c.Server + d.Server}
}

// Per returns c divided by n calls, or zero when n is 0.
func (c CPUTimes) Per(n int) CPUTimes {
	if n == 0 {
		return CPUTimes{}
	}
	return CPUTimes{Client: c.Client / time.Duration(n), Server: c.Server / time.Duration(n)}
}

// CPUPerCall returns the CPU time of one call, client and server, or zero
// when unknown.
func (s Stats) CPUPerCall() CPUTimes { return s.CPU.Per(s.N) }

// Combine summarizes several measurements of the same thing as one: the
// percentiles of all their calls, and their calls over their summed wall
// time.
func Combine(stats ...Stats) Stats {
	var (
		all     []time.Duration
		elapsed time.Duration
		cpu     CPUTimes
	)
	for _, s := range stats {
		all = append(all, s.Latencies...)
		elapsed += s.Elapsed
		cpu = cpu.Add(s.CPU)
	}
	c := summarize(all, elapsed)
	c.CPU = cpu
	return c
}

func summarize(d []time.Duration, elapsed time.Duration) Stats {
	slices.Sort(d)
	return Stats{N: len(d), Elapsed: elapsed, P50: Percentile(d, 50), P99: Percentile(d, 99), Latencies: d}
}

// Throughput returns calls per second over the measurement's wall time.
func (s Stats) Throughput() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.N) / s.Elapsed.Seconds()
}

// Recorder collects per-call latencies from concurrent goroutines. Each
// goroutine keeps its own slice and adds it once, so recording costs no
// lock per call. The zero value is ready to use.
type Recorder struct {
	mu sync.Mutex
	d  []time.Duration
}

// Add appends one goroutine's latencies.
func (r *Recorder) Add(d []time.Duration) {
	r.mu.Lock()
	r.d = append(r.d, d...)
	r.mu.Unlock()
}

// Stats summarizes the recorded latencies over a measurement that took
// elapsed.
func (r *Recorder) Stats(elapsed time.Duration) Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return summarize(slices.Clone(r.d), elapsed)
}

// Percentile returns the p-th percentile (nearest rank) of sorted
// latencies, or 0 when there are none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Run calls op from conc goroutines with i = 0, 1, 2, ... until n calls
// were made or, when d > 0, until d has passed, whichever comes first. It
// stops at the first error.
func Run(ctx context.Context, op Op, conc, n int, d time.Duration) (Stats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		next     atomic.Int64
		rec      Recorder
		wg       sync.WaitGroup
		deadline time.Time
	)
	start := time.Now()
	if d > 0 {
		deadline = start.Add(d)
	}
	for range conc {
		wg.Go(func() {
			local := make([]time.Duration, 0, 1024)
			defer func() { rec.Add(local) }()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(ctx, i); err != nil {
					cancel(err)
					return
				}
				t1 := time.Now()
				local = append(local, t1.Sub(t0))
				if d > 0 && t1.After(deadline) {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, err
	}
	return rec.Stats(elapsed), nil
}

// WarmupCalls is how many calls precede a measurement at concurrency
// conc: enough for the pool to open conc connections and for each of them
// to prepare its statements, so that preparation, which costs pgx an extra
// round trip per new statement and connection, stays out of the numbers.
func WarmupCalls(conc int) int { return max(20, 4*conc) }

// Measure measures case c at concurrency conc for about d. It resets the
// Env, warms up with [WarmupCalls] calls, estimates from them how many
// calls d takes, prepares twice that many and runs for d (or until they
// run out). Nothing but the calls themselves is timed.
func Measure(ctx context.Context, e *Env, c Case, conc int, d time.Duration) (Stats, error) {
	if err := e.Reset(ctx); err != nil {
		return Stats{}, err
	}
	w := WarmupCalls(conc)
	op, err := c.Prepare(ctx, e, w)
	if err != nil {
		return Stats{}, err
	}
	warm, err := Run(ctx, op, conc, w, 0)
	if err != nil {
		return Stats{}, err
	}
	n := int(warm.Throughput()*d.Seconds()*2) + 4*conc
	op, err = c.Prepare(ctx, e, n)
	if err != nil {
		return Stats{}, err
	}
	if e.CPU == nil {
		return Run(ctx, op, conc, n, d)
	}
	cpu0, err := e.CPU()
	if err != nil {
		return Stats{}, err
	}
	s, err := Run(ctx, op, conc, n, d)
	if err != nil {
		return s, err
	}
	cpu1, err := e.CPU()
	s.CPU = cpu1.Sub(cpu0)
	return s, err
}

// Spread is the median and range of repeated measurements of one figure.
type Spread struct {
	Median, Min, Max float64
	N                int
}

// SpreadOf summarizes values; the zero Spread when there are none.
func SpreadOf(values []float64) Spread {
	if len(values) == 0 {
		return Spread{}
	}
	v := slices.Clone(values)
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Spread{Median: m, Min: v[0], Max: v[len(v)-1], N: len(v)}
}

// MeasurePaired calls each case n times from one goroutine, the cases in
// a new random order in every round, after [WarmupCalls](1) rounds that
// are not counted. All cases thus share every moment of the run, and the
// ratios of their latencies hardly depend on what else the machine is
// doing, unlike separate runs. It resets the Env first and returns one
// Stats per case, whose Elapsed is the sum of that case's latencies.
func MeasurePaired(ctx context.Context, e *Env, cases []Case, n int) ([]Stats, error) {
	if err := e.Reset(ctx); err != nil {
		return nil, err
	}
	w := WarmupCalls(1)
	ops := make([]Op, len(cases))
	for i, c := range cases {
		op, err := c.Prepare(ctx, e, w+n)
		if err != nil {
			return nil, err
		}
		ops[i] = op
	}
	lat := make([][]time.Duration, len(cases))
	client := make([][]time.Duration, len(cases))
	server := make([][]time.Duration, len(cases))
	for i := range lat {
		lat[i] = make([]time.Duration, 0, n)
	}
	var cpu0, cpu1 CPUTimes
	for i := range w + n {
		for _, k := range rand.Perm(len(cases)) {
			if e.CallCPU != nil {
				var err error
				if cpu0, err = e.CallCPU(ctx); err != nil {
					return nil, err
				}
			}
			t0 := time.Now()
			if err := ops[k](ctx, i); err != nil {
				return nil, err
			}
			d := time.Since(t0)
			if e.CallCPU != nil {
				var err error
				if cpu1, err = e.CallCPU(ctx); err != nil {
					return nil, err
				}
			}
			if i >= w {
				lat[k] = append(lat[k], d)
				if e.CallCPU != nil {
					c := cpu1.Sub(cpu0)
					client[k] = append(client[k], c.Client)
					server[k] = append(server[k], c.Server)
				}
			}
		}
	}
	stats := make([]Stats, len(cases))
	for k, l := range lat {
		var sum time.Duration
		for _, d := range l {
			sum += d
		}
		stats[k] = summarize(l, sum)
		if e.CallCPU != nil {
			slices.Sort(client[k])
			slices.Sort(server[k])
			stats[k].CallCPU = CPUTimes{Client: Percentile(client[k], 50), Server: Percentile(server[k], 50)}
		}
	}
	return stats, nil
}
