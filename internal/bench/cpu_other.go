//go:build !linux

package bench

import (
	"errors"
	"time"
)

// CPUClock needs Linux's /proc; elsewhere it returns an error.
func CPUClock(string) (func() (time.Duration, error), error) {
	return nil, errors.New("CPU accounting needs Linux /proc")
}
