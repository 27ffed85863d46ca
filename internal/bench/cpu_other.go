//go:build !linux

package bench

import "errors"

// CPUClock needs Linux's /proc; elsewhere it returns an error.
func CPUClock(string) (func() (CPUTimes, error), error) {
	return nil, errors.New("CPU accounting needs Linux /proc")
}
