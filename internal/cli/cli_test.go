package cli

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
)

func TestParseAge(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"90d":   90 * 24 * time.Hour,
		"2w":    14 * 24 * time.Hour,
		"1.5d":  36 * time.Hour,
		"12h":   12 * time.Hour,
		"1h30m": 90 * time.Minute,
	} {
		got, err := parseAge(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "0d", "0s", "-1h", "-3d", "d", "90 days", "90D", "3y", "99999999999999d"} {
		_, err := parseAge(in)
		require.Error(t, err, in)
	}
}

func TestParseInterspersed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args       []string
		positional []string
		force      bool
	}{
		{[]string{"id"}, []string{"id"}, false},
		{[]string{"id", "--force"}, []string{"id"}, true},
		{[]string{"--force", "id"}, []string{"id"}, true},
		{[]string{"a", "--force", "b"}, []string{"a", "b"}, true},
		{[]string{"--", "--force"}, []string{"--force"}, false},
		{[]string{"a", "--", "--force"}, []string{"a", "--force"}, false},
		{nil, nil, false},
	} {
		fs := flag.NewFlagSet("test", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		force := fs.Bool("force", false, "")
		positional, err := parseInterspersed(fs, tc.args)
		require.NoError(t, err, tc.args)
		require.Equal(t, tc.positional, positional, tc.args)
		require.Equal(t, tc.force, *force, tc.args)
	}
}

func TestCellEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	require.Equal(t, "-", cell(""))
	require.Equal(t, "acme/quickbooks #1a2b", cell("acme/quickbooks #1a2b"))
	require.Equal(t, `a\tb\x1b[31m\n`, cell("a\tb\x1b[31m\n"))
	require.Equal(t, "café", cell("café"))
}

// TestHintEveryKind: every failure of a known kind gets a hint, in the
// command's terms where the library's names a Go option.
func TestHintEveryKind(t *testing.T) {
	t.Parallel()
	s := &session{schema: "credentials"}
	for _, kind := range []error{
		vault.ErrNotFound, vault.ErrPermissionDenied, vault.ErrInvalidArgument, vault.ErrInUse,
		vault.ErrPlaintextCredential, vault.ErrDecryption, vault.ErrVaultUnavailable, vault.ErrSchemaNotWritable,
		vault.ErrNotMigrated, vault.ErrMigrationChecksum, vault.ErrConnection, vault.ErrTimeout, vault.ErrConflict,
		vault.ErrReadOnly, vault.ErrUnsupported, vault.ErrServer,
	} {
		for _, c := range commands {
			err := &vault.Error{Op: c.name, Kind: kind}
			h := hint(c, s, err)
			if h == "" {
				t.Errorf("%s: %v: no hint", c.name, kind)
			}
			for _, option := range []string{"WithSchema", "WithRole", "WithCompatVault", "QueryExecModeExec", "Client.", "List ", "Migrate"} {
				if strings.Contains(h, option) {
					t.Errorf("%s: %v: the command's hint names %s: %s", c.name, kind, option, h)
				}
			}
		}
	}
	require.Empty(t, hint(storeCmd, s, errors.New("something else")))
}
