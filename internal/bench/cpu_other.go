//go:build !linux

package bench

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// CPUClock needs Linux's /proc; elsewhere it returns an error.
func CPUClock(string) (func() (CPUTimes, error), error) {
	return nil, errors.New("CPU accounting needs Linux /proc")
}

// BackendCPUClock needs Linux's /proc; elsewhere its clock fails.
func BackendCPUClock(interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}) func(ctx context.Context) (CPUTimes, error) {
	return func(context.Context) (CPUTimes, error) {
		return CPUTimes{}, errors.New("CPU accounting needs Linux /proc")
	}
}
