package main

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/cli"
)

// openPTY returns the two ends of a new pseudo-terminal. Writing to master
// is typing; reading it shows what the terminal displays.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = master.Close() })
	var unlock int32
	require.NoError(t, ioctl(master, syscall.TIOCSPTLCK, unsafe.Pointer(&unlock)))
	var n uint32
	require.NoError(t, ioctl(master, syscall.TIOCGPTN, unsafe.Pointer(&n)))
	slave, err = os.OpenFile("/dev/pts/"+strconv.Itoa(int(n)), os.O_RDWR|syscall.O_NOCTTY, 0)
	require.NoError(t, err)
	t.Cleanup(func() { _ = slave.Close() })
	return master, slave
}

func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

func echoOn(t *testing.T, f *os.File) bool {
	t.Helper()
	var tio syscall.Termios
	require.NoError(t, ioctl(f, syscall.TCGETS, unsafe.Pointer(&tio)))
	return tio.Lflag&syscall.ECHO != 0
}

// screen collects what the terminal displays until every copy of the slave
// end is closed.
func screen(master *os.File) <-chan string {
	ch := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(master) // ends with EIO once the slave is closed everywhere
		ch <- string(b)
	}()
	return ch
}

func TestStoreFromTerminalDoesNotEcho(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)
	secret := h.secret()
	stdout, stderr, code, shown := runTyping(t, h, "Secret: ", []string{secret},
		"store", "--schema", db.Schema, "--name", "tty/"+uuid.NewString()[:8])
	require.Equal(t, cli.ExitOK, code, "stderr: %s", stderr)
	require.Contains(t, stderr, "Secret: ", "a prompt on stderr")
	requireNoSecret(t, shown, secret, "the terminal displayed the secret")
	requireNoSecret(t, stderr, secret, "stderr")
	require.Contains(t, stderr, "not echoed")

	id := strings.TrimSpace(stdout)
	require.NoError(t, uuid.Validate(id))
	requireSecret(t, secret, h.ok("", "retrieve", "--schema", db.Schema, id))
}

func TestRetrieveToTerminal(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)
	secret := h.secret()
	id := strings.TrimSpace(h.ok(secret, "store", "--schema", db.Schema, "--name", "tty/"+uuid.NewString()[:8]))

	retrieve := func(args ...string) (code int, shown string) {
		master, slave := openPTY(t)
		out := screen(master)
		cmd := h.command(append([]string{"retrieve", "--schema", db.Schema, id}, args...)...)
		cmd.Stdout = slave
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		requireNoSecret(t, stderr.String(), secret, "stderr")
		require.NoError(t, slave.Close())
		return exitCode(t, err), <-out
	}

	code, shown := retrieve()
	require.Equal(t, cli.ExitUsage, code, "refused without --force")
	requireNoSecret(t, shown, secret, "the terminal displayed the secret")

	code, shown = retrieve("--force")
	require.Equal(t, cli.ExitOK, code)
	require.True(t, strings.Contains(shown, secret), "--force prints the secret")

	// The refused call decrypted nothing: only the store and the forced
	// retrieval are in the log.
	records := h.ok("", "audit", "--schema", db.Schema, id, "--json")
	require.Equal(t, 2, strings.Count(records, `"secret_id"`), records)
}
