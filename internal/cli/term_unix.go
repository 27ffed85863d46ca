//go:build linux || darwin

package cli

import (
	"os"
	"os/signal"
	"syscall"
	"unsafe"
)

func getTermios(f *os.File) (*syscall.Termios, error) {
	var t syscall.Termios
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), ioctlGetTermios, uintptr(unsafe.Pointer(&t))); errno != 0 {
		return nil, errno
	}
	return &t, nil
}

func setTermios(f *os.File, t *syscall.Termios) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), ioctlSetTermios, uintptr(unsafe.Pointer(t))); errno != 0 {
		return errno
	}
	return nil
}

// isTerminal reports whether f is a terminal (not merely a character
// device such as /dev/null).
func isTerminal(f *os.File) bool {
	_, err := getTermios(f)
	return err == nil
}

// echoes reports whether the terminal f echoes what is typed.
func echoes(f *os.File) bool {
	t, err := getTermios(f)
	return err == nil && t.Lflag&syscall.ECHO != 0
}

// disableEcho turns echo off on the terminal f until the returned function
// is called. If the process is interrupted meanwhile, echo is restored
// before it dies.
func disableEcho(f *os.File) (restore func(), err error) {
	old, err := getTermios(f)
	if err != nil {
		return nil, err
	}
	quiet := *old
	quiet.Lflag &^= syscall.ECHO
	quiet.Lflag |= syscall.ICANON | syscall.ISIG | syscall.ECHONL // line input, ^C works, Enter still moves the cursor
	quiet.Iflag |= syscall.ICRNL
	if err := setTermios(f, &quiet); err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			_ = setTermios(f, old)
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal)) // die of it, as without the handler
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		_ = setTermios(f, old)
	}, nil
}
