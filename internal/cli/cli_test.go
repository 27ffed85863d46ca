package cli

import (
	"errors"
	"flag"
	"io"
	"regexp"
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

// TestCLITerms translates the Go API's terms in the library's messages
// into the command's, and leaves none behind in any hint of the kinds
// table.
func TestCLITerms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`install into a schema it may create in, such as "credentials", with WithSchema("credentials")`: `install into a schema it may create in, such as "credentials", with --schema credentials`,
		"upgrade it to compat 2 with Migrate and WithCompatVault, as a superuser":                       "upgrade it to compat 2 with 'credvault migrate --compat-key-file PATH', as a superuser",
		"or on plain PostgreSQL run Migrate with WithCompatVault as a superuser":                        "or on plain PostgreSQL run 'credvault migrate --compat-key-file PATH' as a superuser",
		"the role that ran Migrate; run the calls as service_role (WithRole)":                           "the role that ran 'credvault migrate'; run the calls as service_role (--role)",
		"store the value with Client.Store (or the SQL function store_credential)":                      "store the value with 'credvault store' (or the SQL function store_credential)",
		"look for it with List before storing again":                                                    "look for it with 'credvault list' before storing again",
		"the migration role": "the migration role",
		"choose another name, or Put to update that credential":                              "choose another name, or 'credvault put' to update that credential",
		"the credential changed since the version you expected (IfVersion): read it again":   "the credential changed since the version you expected (--if-version): read it again",
		"Read the value with Client.Read, undo with Client.Rollback; Update the description": "Read the value with 'credvault read', undo with 'credvault rollback'; Update the description",
		"scope the client with WithNamespace":                                                "scope the client with --namespace",
	} {
		require.Equal(t, want, cliTerms(in))
	}
	goTerm := regexp.MustCompile(`\bWith[A-Z]\w+|\bClient\.|\bInstallCompatVault\b|\bMigrate\b`)
	for _, k := range []error{vault.ErrNotFound, vault.ErrPermissionDenied, vault.ErrOwnerPrivilege, vault.ErrInvalidArgument,
		vault.ErrInUse, vault.ErrPlaintextCredential, vault.ErrDecryption, vault.ErrVaultUnavailable, vault.ErrSchemaNotWritable,
		vault.ErrNotMigrated, vault.ErrMigrationChecksum, vault.ErrConnection, vault.ErrTimeout, vault.ErrConflict,
		vault.ErrReadOnly, vault.ErrServer, vault.ErrVersionMismatch, vault.ErrAlreadyExists} {
		h := cliTerms(vault.Hint(&vault.Error{Op: "test", Kind: k}))
		require.NotEmpty(t, h, "%v", k)
		require.NotRegexp(t, goTerm, h, "%v", k)
	}
}

func TestShellWord(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"credentials":  "credentials",
		"Team_2":       "Team_2",
		"team creds":   `"team creds"`,
		`a"b$c` + "`d": `"a\"b\$c` + "\\`d\"",
	} {
		require.Equal(t, want, shellWord(in))
	}
}
