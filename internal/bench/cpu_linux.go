package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ),
// 100 per second on Linux.
const clockTick = 10 * time.Millisecond

// CPUClock returns a function that reads the CPU time used so far by this
// process (Client) and by the PostgreSQL server whose data directory is
// dataDir (Server): its postmaster and every child (backends, WAL writer,
// checkpointer...), for [Env.CPU]. A backend's time stops counting when it
// exits, so keep the pool's connections open while measuring. Each
// process's time comes from /proc/PID/schedstat, in nanoseconds (from
// /proc/PID/stat, in ticks of 10 ms, on kernels without it), so that a
// measurement of a few thousand calls resolves a microsecond per call.
func CPUClock(dataDir string) (func() (CPUTimes, error), error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	postmaster, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("postmaster.pid: %w", err)
	}
	var (
		mu       sync.Mutex
		scanning time.Duration // this process's CPU spent in earlier scans
	)
	return func() (CPUTimes, error) {
		mu.Lock()
		defer mu.Unlock()
		before, err := processCPU("self")
		if err != nil {
			return CPUTimes{}, err
		}
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return CPUTimes{}, err
		}
		var server time.Duration
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if pid != postmaster && parentPID(pid) != postmaster {
				continue
			}
			if d, err := processCPU(e.Name()); err == nil {
				server += d
			}
		}
		// Leave out the scan itself, so that the difference of two
		// readings holds only what ran between them.
		client := before - scanning
		after, err := processCPU("self")
		if err != nil {
			return CPUTimes{}, err
		}
		scanning += after - before
		return CPUTimes{Client: client, Server: server}, nil
	}, nil
}

// processCPU returns the CPU time of every thread of process pid ("self"
// for this one) so far.
func processCPU(pid string) (time.Duration, error) {
	tasks, err := os.ReadDir("/proc/" + pid + "/task")
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + pid + "/task/" + t.Name() + "/schedstat")
		if err != nil {
			return ticksCPU(pid)
		}
		f := strings.Fields(string(b))
		if len(f) < 1 {
			return ticksCPU(pid)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return ticksCPU(pid)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// ticksCPU returns the user plus system time of process pid from
// /proc/PID/stat, whose resolution is a clock tick.
func ticksCPU(pid string) (time.Duration, error) {
	f, err := statFields(pid)
	if err != nil || len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: unreadable", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err2 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%s/stat: unreadable", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// parentPID returns the parent of process pid, or -1.
func parentPID(pid int) int {
	f, err := statFields(strconv.Itoa(pid))
	if err != nil || len(f) < 2 {
		return -1
	}
	ppid, err := strconv.Atoi(f[1]) // field 4
	if err != nil {
		return -1
	}
	return ppid
}

// statFields returns the fields of /proc/PID/stat after the command name,
// starting with the state (field 3).
func statFields(pid string) ([]string, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return nil, err
	}
	// The command name, in parentheses, may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%s/stat: no command name", pid)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// BackendCPUClock returns a function for [Env.CallCPU]: the CPU time so far
// of this process (getrusage) and of the server backend of pool's
// connection, which must be the pool's only one (MaxConns 1), read from
// /proc/PID/schedstat of the backend, which must run on this machine. It
// looks the backend's pid up again when the connection changes.
func BackendCPUClock(pool interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) func(ctx context.Context) (CPUTimes, error) {
	var (
		pid  int
		path string
	)
	return func(ctx context.Context) (CPUTimes, error) {
		// The backend is idle between calls, so when its time is read
		// does not matter; this process's is read last, so the difference
		// of two readings holds one reading's own cost (a few
		// microseconds), the same for every case.
		var ru syscall.Rusage
		for range 2 {
			if pid == 0 {
				if err := pool.QueryRow(ctx, "SELECT pg_catalog.pg_backend_pid()").Scan(&pid); err != nil {
					return CPUTimes{}, err
				}
				path = "/proc/" + strconv.Itoa(pid) + "/schedstat"
			}
			b, err := os.ReadFile(path)
			if err != nil {
				pid = 0 // a new connection
				continue
			}
			f := strings.Fields(string(b))
			if len(f) == 0 {
				return CPUTimes{}, fmt.Errorf("%s: empty", path)
			}
			ns, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return CPUTimes{}, fmt.Errorf("%s: %w", path, err)
			}
			if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
				return CPUTimes{}, err
			}
			return CPUTimes{Client: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), Server: time.Duration(ns)}, nil
		}
		return CPUTimes{}, fmt.Errorf("bench: no backend process for pid %d", pid)
	}
}
