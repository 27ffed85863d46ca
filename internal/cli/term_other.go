//go:build !linux && !darwin

package cli

import (
	"errors"
	"os"
)

// isTerminal reports whether f looks like a terminal. Without termios it
// cannot tell a terminal from another character device, so it errs on the
// side of caution.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func echoes(f *os.File) bool { return isTerminal(f) }

func disableEcho(*os.File) (func(), error) {
	return nil, errors.New("turning terminal echo off is not supported on this system")
}
