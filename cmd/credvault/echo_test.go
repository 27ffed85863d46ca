package main

import (
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/cli"
	"github.com/credvault/vault/vaulttest"
)

// secretLike returns a fresh value shaped like a provider key, built at run
// time so no key-like literal is committed.
func secretLike(t *testing.T) string {
	t.Helper()
	return "sk_" + "live_" + rand.Text() + rand.Text()[:8]
}

// TestCLINeverEchoesArguments types a secret-like value where a flag, a
// flag's value or a command belongs, runs the command as a subprocess and
// checks that the value appears in neither its standard output nor its
// standard error, whole or in part, while the command still fails with a
// usage message.
func TestCLINeverEchoesArguments(t *testing.T) {
	t.Parallel()
	db := vaulttest.Shared(t) // store --file reads the file after connecting
	h := newHarness(t, db.URL)
	schema := "--schema=" + db.Schema
	missing := filepath.Join(t.TempDir(), "no-such-dir")

	for _, tc := range []struct {
		name string
		args func(v string) []string
		code int
	}{
		{"value typed as a flag", func(v string) []string { return []string{"store", schema, "--name", "x", "--" + v} }, cli.ExitUsage},
		{"value typed as a single-dash flag", func(v string) []string { return []string{"store", "--name", "x", "-" + v} }, cli.ExitUsage},
		{"value typed as a flag with a value", func(v string) []string { return []string{"list", "--" + v + "=" + v} }, cli.ExitUsage},
		{"value typed as a malformed flag", func(v string) []string { return []string{"list", "---" + v} }, cli.ExitUsage},
		{"value typed as a flag after the id", func(v string) []string {
			return []string{"retrieve", "0b6f1c4e-7d2a-4f0e-9a51-3c2d8e9f1a20", "--" + v}
		}, cli.ExitUsage},
		{"value as the command", func(v string) []string { return []string{v} }, cli.ExitUsage},
		{"value as the command, with flags", func(v string) []string { return []string{v, "--name", "x"} }, cli.ExitUsage},
		{"value as help's command", func(v string) []string { return []string{"help", v} }, cli.ExitUsage},
		{"value as --older-than", func(v string) []string { return []string{"list", "--older-than", v} }, cli.ExitUsage},
		{"value as --older-than in days", func(v string) []string { return []string{"list", "--older-than=9" + v + "d"} }, cli.ExitUsage},
		{"value as --limit", func(v string) []string { return []string{"list", "--limit", v} }, cli.ExitUsage},
		{"value as --limit=", func(v string) []string { return []string{"audit", "--limit=" + v} }, cli.ExitUsage},
		{"value as a boolean flag's value", func(v string) []string { return []string{"list", "--json=" + v} }, cli.ExitUsage},
		{"value as --file", func(v string) []string { return []string{"store", schema, "--name", "x", "--file", v} }, cli.ExitFailed},
		{"value as --file inside a path", func(v string) []string {
			return []string{"store", schema, "--name", "x", "--file", filepath.Join(missing, v)}
		}, cli.ExitFailed},
		{"value as --database-url", func(v string) []string { return []string{"list", "--database-url", v} }, cli.ExitUsage},
		{"long value as --schema", func(v string) []string { return []string{"sql", "--schema", v + v + v} }, cli.ExitUsage},
		{"long value as --role", func(v string) []string { return []string{"list", "--role", v + v + v} }, cli.ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := secretLike(t)
			r := h.run("", tc.args(v)...)
			require.Equal(t, tc.code, r.code, "exit status")
			require.NotEmpty(t, r.stderr, "the mistake is reported")
			for where, out := range map[string]string{"stdout": r.stdout, "stderr": r.stderr} {
				for i := 0; i+12 <= len(v); i++ {
					if strings.Contains(out, v[i:i+12]) {
						t.Fatalf("%s repeats part of the argument", where)
					}
				}
			}
		})
	}
}
