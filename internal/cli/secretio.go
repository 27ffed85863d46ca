package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/credvault/vault"
)

// readSecret reads a secret from the file at path or, when path is empty
// or "-", from standard input, and strips one trailing newline ("\n" or
// "\r\n"). Secrets never come from arguments or the environment, which
// other users of the machine can read.
//
// When standard input is a terminal, it turns echo off while one line is
// read, and warns on standard error if it cannot. An empty secret is
// refused: it is almost always a missing redirection.
func readSecret(stdio IO, path string) (string, error) {
	var (
		b   []byte
		err error
	)
	switch {
	case path != "" && path != "-":
		var f *os.File
		if f, err = os.Open(path); err != nil {
			return "", fileError(err)
		}
		defer f.Close()
		if b, err = readLimited(f); err != nil {
			return "", fileError(err)
		}
	default:
		if f, ok := stdio.Stdin.(*os.File); ok && isTerminal(f) {
			b, err = readFromTerminal(f, stdio.Stderr)
		} else if stdio.Stdin != nil {
			b, err = readLimited(stdio.Stdin)
		}
	}
	if err != nil {
		return "", err
	}
	s := string(b)
	if strings.HasSuffix(s, "\n") {
		s = strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r")
	}
	if s == "" {
		return "", usagef("the secret is empty: pipe it to standard input or pass --file")
	}
	if len(s) > vault.MaxSecretSize {
		return "", fmt.Errorf("the secret is larger than %d bytes", vault.MaxSecretSize)
	}
	return s, nil
}

// readLimited reads r to its end, but no more than a secret of
// MaxSecretSize bytes and its newline plus one byte, so that an oversized
// input is detected without reading all of it.
func readLimited(r io.Reader) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, vault.MaxSecretSize+3))
}

// readFromTerminal reads one line from the terminal f with echo off.
func readFromTerminal(f *os.File, stderr io.Writer) ([]byte, error) {
	if stderr == nil {
		stderr = io.Discard
	}
	if echoes(f) {
		restore, err := disableEcho(f)
		if err != nil {
			fmt.Fprintf(stderr, "credvault: warning: standard input is a terminal that echoes what you type (%v); "+
				"the secret will be visible: interrupt now and pipe it or use --file\n", err)
		} else {
			defer restore()
			fmt.Fprintln(stderr, "credvault: warning: reading the secret from the terminal; it is not echoed. "+
				"For multi-line values pipe them or use --file.")
		}
	}
	fmt.Fprint(stderr, "Secret: ")
	line, err := bufio.NewReader(io.LimitReader(f, vault.MaxSecretSize+3)).ReadString('\n')
	if errors.Is(err, io.EOF) { // ^D after the value
		err = nil
	}
	return []byte(line), err
}

// secretOutput checks that standard output may receive a secret: not a
// terminal, unless force is set. It reports whether it is a terminal.
func secretOutput(stdio IO, force bool) (tty bool, err error) {
	f, isFile := stdio.Stdout.(*os.File)
	tty = isFile && isTerminal(f)
	if tty && !force {
		return tty, usagef("refusing to print a secret to a terminal: redirect standard output to a pipe or a file, or pass --force")
	}
	return tty, nil
}

// writeSecret writes the secret to standard output exactly, without an
// added newline, except on a terminal (see [secretOutput]).
func writeSecret(stdio IO, secret string, tty bool) error {
	if tty {
		secret += "\n"
	}
	_, err := io.WriteString(stdio.Stdout, secret)
	return err
}

// fileError describes a failure to open or read the file given with
// --file without its path, which may be anything typed in the wrong
// place: "no such file or directory", "permission denied", "is a
// directory". errors.Is still matches fs.ErrNotExist and the like.
func fileError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("cannot read the file given with --file: %w", err)
}
