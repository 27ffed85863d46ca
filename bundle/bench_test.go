package bundle_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault/bundle"
	"github.com/credvault/vault/internal/testserver"
)

// EnvBenchTransfer names the sizes BenchmarkTransfer measures, comma
// separated (default 1000, a quick check):
//
//	CREDVAULT_BENCH_TRANSFER=10000,100000 go test -run '^$' -bench Transfer -benchtime 1x ./bundle
const envBenchTransfer = "CREDVAULT_BENCH_TRANSFER"

// BenchmarkTransfer exports n credentials from one database into a bundle
// file and imports the file into another database, and reports the time
// of each (export-s, import-s) and its memory: the peak of the Go heap
// (sampled every 5 ms) and the peak resident set size of the process
// (VmHWM, reset before each phase), in MiB. Memory that does not grow with
// n is the point: both directions stream.
func BenchmarkTransfer(b *testing.B) {
	sizes := []int{1000}
	if v := os.Getenv(envBenchTransfer); v != "" {
		sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				b.Fatalf("%s=%q: want sizes such as 10000,100000", envBenchTransfer, v)
			}
			sizes = append(sizes, n)
		}
	}
	ctx := context.Background()
	srv, err := testserver.OpenSharedServer()
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			src, err := srv.NewDatabase(ctx)
			if err != nil {
				b.Fatal(err)
			}
			defer src.Close()
			seed(b, src, n)
			id, err := age.GenerateX25519Identity()
			if err != nil {
				b.Fatal(err)
			}
			file := filepath.Join(b.TempDir(), "bench.age")
			b.ResetTimer()
			var exportS, importS, exportHeap, importHeap, exportRSS, importRSS float64
			for range b.N {
				dst, err := srv.NewDatabase(ctx)
				if err != nil {
					b.Fatal(err)
				}
				_ = os.Remove(file)
				f, err := os.Create(file)
				if err != nil {
					b.Fatal(err)
				}
				m := startMemory()
				start := time.Now()
				sum, err := bundle.Export(ctx, owner(b, src.Pool, src.Schema), f, []age.Recipient{id.Recipient()}, bundle.ExportOptions{})
				if err == nil {
					err = f.Close()
				}
				if err != nil || sum.Credentials != int64(n) {
					b.Fatalf("export: %v (%d credentials)", err, sum.Credentials)
				}
				exportS += time.Since(start).Seconds()
				h, r := m.stop()
				exportHeap, exportRSS = max(exportHeap, h), max(exportRSS, r)

				in, err := os.Open(file)
				if err != nil {
					b.Fatal(err)
				}
				m = startMemory()
				start = time.Now()
				isum, err := bundle.Import(ctx, owner(b, dst.Pool, dst.Schema), bufio.NewReaderSize(in, 1<<16), []age.Identity{id}, bundle.ImportOptions{})
				if err != nil || isum.Created != int64(n) {
					b.Fatalf("import: %v (%d created)", err, isum.Created)
				}
				importS += time.Since(start).Seconds()
				h, r = m.stop()
				importHeap, importRSS = max(importHeap, h), max(importRSS, r)
				_ = in.Close()
				_ = dst.Close()
			}
			b.ReportMetric(exportS/float64(b.N), "export-s")
			b.ReportMetric(importS/float64(b.N), "import-s")
			b.ReportMetric(exportHeap, "export-peak-heap-MiB")
			b.ReportMetric(importHeap, "import-peak-heap-MiB")
			b.ReportMetric(exportRSS, "export-peak-rss-MiB")
			b.ReportMetric(importRSS, "import-peak-rss-MiB")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// seed makes n credentials in 8 namespaces, with values of 40 to 80 bytes,
// in the database itself (one statement per 5,000).
func seed(b *testing.B, db *testserver.Database, n int) {
	b.Helper()
	ctx := context.Background()
	q := fmt.Sprintf(`SELECT count(p.id) FROM generate_series($1::int, $2::int) AS i,
		LATERAL %s.credential_put('bench-' || (i %% 8), 'integration/' || i,
			'bench-' || md5(random()::text) || repeat('x', (random() * 40)::int), 'seeded for the benchmark') AS p`,
		pgx.Identifier{db.Schema}.Sanitize())
	for from := 1; from <= n; from += 5000 {
		if _, err := db.Pool.Exec(ctx, q, from, min(from+4999, n)); err != nil {
			b.Fatal(err)
		}
	}
}

// memory samples the Go heap while a phase runs, and reads the process's
// peak resident set size, reset when the phase starts.
type memory struct {
	stopc chan struct{}
	done  sync.WaitGroup
	peak  uint64
}

func startMemory() *memory {
	runtime.GC()
	debug.FreeOSMemory()
	// Writing 5 to clear_refs resets VmHWM to the current RSS (Linux).
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	m := &memory{stopc: make(chan struct{})}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(sample)
			m.peak = max(m.peak, sample[0].Value.Uint64())
			select {
			case <-m.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return m
}

// stop returns the peak heap and peak RSS in MiB.
func (m *memory) stop() (heap, rss float64) {
	close(m.stopc)
	m.done.Wait()
	return float64(m.peak) / (1 << 20), float64(vmHWM()) / (1 << 20)
}

// vmHWM returns the process's peak resident set size in bytes, or 0 where
// /proc does not say.
func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
