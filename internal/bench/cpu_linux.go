package bench

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat (USER_HZ),
// 100 per second on Linux.
const clockTick = 10 * time.Millisecond

// CPUClock returns a function that sums the CPU time used so far by this
// process and by the PostgreSQL server whose data directory is dataDir:
// its postmaster and every child (backends, WAL writer, checkpointer...),
// for [Env.CPU]. A backend's time stops counting when it exits, so keep
// the pool's connections open while measuring. The server's processes
// are read from /proc, in clock ticks of 10 ms.
func CPUClock(dataDir string) (func() (time.Duration, error), error) {
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
	return func() (time.Duration, error) {
		mu.Lock()
		defer mu.Unlock()
		before, err := selfCPU()
		if err != nil {
			return 0, err
		}
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return 0, err
		}
		var server time.Duration
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			ppid, ticks, ok := procStat(pid)
			if ok && (pid == postmaster || ppid == postmaster) {
				server += time.Duration(ticks) * clockTick
			}
		}
		// Leave out the scan itself, so that the difference of two
		// readings holds only what ran between them.
		total := before - scanning + server
		after, err := selfCPU()
		if err != nil {
			return 0, err
		}
		scanning += after - before
		return total, nil
	}, nil
}

func selfCPU() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// procStat returns the parent pid and the user plus system CPU ticks of
// process pid.
func procStat(pid int) (ppid int, ticks int64, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, false
	}
	// The command name, in parentheses, may hold spaces: fields start
	// after its closing parenthesis, with the state (field 3).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, 0, false
	}
	ppid, err1 := strconv.Atoi(f[1])               // field 4
	utime, err2 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err3 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, false
	}
	return ppid, utime + stime, true
}
