package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/cli"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
)

// onDst puts the connection flags d after the command name, args[0].
func onDst(d []string, args ...string) []string {
	return append(append([]string{args[0]}, d...), args[1:]...)
}

// transferCounts is the size of everything an import may write.
func transferCounts(t *testing.T, db *vaulttest.Database) string {
	t.Helper()
	return testutil.TransferCounts(t, db.Pool, db.Schema)
}

func exportRows(t *testing.T, db *vaulttest.Database) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), "SELECT count(*) FROM "+pgx.Identifier{db.Schema}.Sanitize()+
		".vault_access_log WHERE op = 'export'").Scan(&n))
	return n
}

// identityFile writes a fresh age identity file and returns its path and
// public key.
func identityFile(t *testing.T) (path, recipient string) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	path = filepath.Join(t.TempDir(), "target.key")
	require.NoError(t, os.WriteFile(path, []byte("# created by the test\n"+id.String()+"\n"), 0o600))
	return path, id.Recipient().String()
}

func TestExportImport(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src, dst := vaulttest.NewDatabase(t), vaulttest.NewDatabase(t)
	h := newHarness(t, src.URL)
	s, d := "--schema="+src.Schema, []string{"--schema=" + dst.Schema, "--database-url", dst.URL}
	key, recipient := identityFile(t)

	secrets := map[string]string{} // source id -> value
	for i := range 3 {
		v := h.secret()
		id := strings.TrimSpace(h.ok(v, "store", s, "--name", "acme/"+uuid.NewString()[:8], "--description", "number "+string(rune('0'+i))))
		secrets[id] = v
	}
	exec1(t, dst.URL, "CREATE TABLE public.organization_integrations (org int, vault_secret_id uuid)")
	for id := range secrets {
		exec1(t, dst.URL, "INSERT INTO public.organization_integrations VALUES (1, $1)", id)
	}

	for _, name := range []string{"export", "import"} {
		require.True(t, strings.HasPrefix(h.ok("", name, "--help"), "Usage:\n  credvault "+name+" "))
		require.Contains(t, h.ok("", "--help"), "\n  "+name+" ")
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "credentials.age")
	r := h.run("", "export", s, "--recipient", recipient, "--output", file)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "exported 3 credentials")
	require.Empty(t, r.stdout)
	fi, err := os.Stat(file)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	bundleBytes, err := os.ReadFile(file)
	require.NoError(t, err)
	for _, v := range secrets {
		requireNoSecret(t, string(bundleBytes), v, "the bundle holds a value in plaintext")
	}
	require.Equal(t, 3, exportRows(t, src))

	// --output never overwrites.
	r = h.run("", "export", s, "--recipient", recipient, "--output", file)
	require.Equal(t, cli.ExitFailed, r.code)
	same, err := os.ReadFile(file)
	require.NoError(t, err)
	require.Equal(t, bundleBytes, same)

	// To standard output, a pipe: the harness checks no value shows.
	r = h.run("", "export", s, "--recipient", recipient)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.True(t, strings.HasPrefix(r.stdout, "age-encryption.org/v1\n"), "an age file on stdout")

	remap := "public.organization_integrations.vault_secret_id"
	before := transferCounts(t, dst)

	// A dry run lists what would happen and writes nothing.
	out := h.ok("", onDst(d, "import", "--input", file, "--identity", key, "--remap", remap, "--dry-run")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Equal(t, "OUTCOME\tSOURCE_ID\tID\tNAMESPACE\tNAME", lines[0])
	require.Len(t, lines, 4, out)
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		require.Equal(t, "created", f[0])
		require.Contains(t, secrets, f[1])
		require.Equal(t, "-", f[2])
	}
	require.Equal(t, before, transferCounts(t, dst))

	// The import prints the mapping and rewrites the table.
	r = h.run("", onDst(d, "import", "--input", file, "--identity", key, "--remap", remap)...)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "3 created")
	require.Contains(t, r.stderr, `"public"."organization_integrations"."vault_secret_id": 3 rows rewritten`)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Equal(t, "SOURCE_ID\tID\tNAMESPACE\tNAME", lines[0])
	require.Len(t, lines, 4)
	mapping := map[string]string{}
	for _, l := range lines[1:] {
		f := strings.Split(l, "\t")
		mapping[f[0]] = f[1]
	}
	for old, v := range secrets {
		requireSecret(t, v, h.ok("", onDst(d, "retrieve", mapping[old])...))
		var n int
		require.NoError(t, dst.Pool.QueryRow(ctx, "SELECT count(*) FROM public.organization_integrations WHERE vault_secret_id = $1", mapping[old]).Scan(&n))
		require.Equal(t, 1, n)
	}

	// Again, from standard input, as JSON: nothing new.
	before = transferCounts(t, dst)
	r = h.run(string(bundleBytes), onDst(d, "import", "--identity", key, "--remap", remap, "--json")...)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "0 created, 3 already imported")
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var m map[string]string
		require.NoError(t, json.Unmarshal([]byte(l), &m))
		require.Equal(t, mapping[m["source_id"]], m["id"])
	}
	require.Equal(t, before, transferCounts(t, dst))

	// Refusals, with nothing written.
	other, _ := identityFile(t)
	for _, tc := range []struct {
		args []string
		code int
		hint string
	}{
		{[]string{"import", "--input", file, "--identity", other}, cli.ExitFailed, "--identity file whose public key"},
		{[]string{"import", "--input", file, "--identity", file}, cli.ExitUsage, ""},
		{[]string{"import", "--input", file, "--identity", key, "--remap", "organization_integrations.vault_secret_id"}, cli.ExitUsage, ""},
		{[]string{"import", "--input", file, "--identity", key, "--remap", "public.missing.vault_secret_id"}, cli.ExitFailed, ""},
		{[]string{"import", "--input", filepath.Join(dir, "missing.age"), "--identity", key}, cli.ExitFailed, ""},
	} {
		r := h.run("", onDst(d, tc.args...)...)
		require.Equal(t, tc.code, r.code, "%v: %s", tc.args, r.stderr)
		require.Contains(t, r.stderr, tc.hint)
		require.NotContains(t, r.stderr, dir, "paths are not repeated")
		require.Equal(t, before, transferCounts(t, dst))
	}
	truncated := filepath.Join(dir, "truncated.age")
	require.NoError(t, os.WriteFile(truncated, bundleBytes[:len(bundleBytes)-20], 0o600))
	r = h.run("", onDst(d, "import", "--input", truncated, "--identity", key)...)
	require.Equal(t, cli.ExitFailed, r.code)
	require.Contains(t, r.stderr, "truncated, corrupted or tampered with")
	require.Equal(t, before, transferCounts(t, dst))

	for _, args := range [][]string{
		{"export", s, "--recipient", "age1notakey"},
		{"export", s, "--recipient", "AGE-SECRET-KEY-1QQQ"}, // a private key by mistake: never repeated
		{"export", s, "--recipient", recipient, "extra"},
	} {
		r := h.run("", args...)
		require.Equal(t, cli.ExitUsage, r.code, "%v: %s", args, r.stderr)
		require.NotContains(t, r.stderr, "AGE-SECRET-KEY")
	}
}

// TestExportToTerminal: the bundle never goes to a terminal, and the
// refusal comes before anything is decrypted.
func TestExportToTerminal(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)
	secret := h.secret()
	h.ok(secret, "store", "--schema", db.Schema, "--name", "tty/"+uuid.NewString()[:8])
	_, recipient := identityFile(t)

	master, slave := openPTY(t)
	shown := screen(master)
	cmd := h.command("export", "--schema", db.Schema, "--recipient", recipient)
	cmd.Stdout = slave
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.Equal(t, cli.ExitUsage, exitCode(t, cmd.Run()))
	require.Contains(t, stderr.String(), "refusing to write the bundle to a terminal")
	require.NoError(t, slave.Close())
	require.NotContains(t, <-shown, "age-encryption.org")
	require.Zero(t, exportRows(t, db), "nothing was decrypted")
}

// runTyping runs credvault with standard input on a terminal and types
// each answer after the next prompt on standard error: the next
// occurrence of prompt, once standard error ends with ": ". It returns
// standard output and error, the exit code, and what the terminal
// displayed, and checks that the terminal echoes again at the end.
func runTyping(t *testing.T, h *harness, prompt string, answers []string, args ...string) (stdout, stderr string, code int, shown string) {
	t.Helper()
	master, slave := openPTY(t)
	require.True(t, echoOn(t, slave), "a new terminal echoes")
	screenCh := screen(master)
	cmd := h.command(args...)
	cmd.Stdin = slave
	var out bytes.Buffer
	cmd.Stdout = &out
	errPipe, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	var errBuf bytes.Buffer
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		buf := make([]byte, 512)
		typed := 0
		for {
			n, err := errPipe.Read(buf)
			errBuf.Write(buf[:n])
			if typed < len(answers) && strings.Count(errBuf.String(), prompt) > typed && strings.HasSuffix(errBuf.String(), ": ") {
				_, _ = master.WriteString(answers[typed] + "\n")
				typed++
			}
			if err != nil {
				return
			}
		}
	}()
	<-copied
	code = exitCode(t, cmd.Wait())
	require.True(t, echoOn(t, slave), "echo is restored")
	require.NoError(t, slave.Close())
	return out.String(), errBuf.String(), code, <-screenCh
}

// TestPassphraseOnTerminal exports and imports with a passphrase typed on
// the terminal, without echo, at age's default scrypt cost (a few seconds).
func TestPassphraseOnTerminal(t *testing.T) {
	t.Parallel()
	src, dst := vaulttest.NewDatabase(t), vaulttest.NewDatabase(t)
	h := newHarness(t, src.URL)
	secret := h.secret()
	id := strings.TrimSpace(h.ok(secret, "store", "--schema", src.Schema, "--name", "pass/"+uuid.NewString()[:8]))
	pass := "correct horse " + uuid.NewString()
	file := filepath.Join(t.TempDir(), "credentials.age")

	_, stderr, code, shown := runTyping(t, h, "Passphrase", []string{pass, pass + "typo"}, "export", "--schema", src.Schema, "--output", file)
	require.Equal(t, cli.ExitUsage, code, stderr)
	require.Contains(t, stderr, "the passphrases differ")
	require.NotContains(t, shown, pass, "no echo")
	_, err := os.Stat(file)
	require.ErrorIs(t, err, os.ErrNotExist)

	_, stderr, code, shown = runTyping(t, h, "Passphrase", []string{pass, pass}, "export", "--schema", src.Schema, "--output", file)
	require.Equal(t, cli.ExitOK, code, stderr)
	require.NotContains(t, shown, pass, "no echo")
	require.NotContains(t, stderr, pass)

	d := []string{"--schema", dst.Schema, "--database-url", dst.URL}
	before := transferCounts(t, dst)
	_, stderr, code, _ = runTyping(t, h, "Passphrase", []string{pass + "x"}, onDst(d, "import", "--input", file)...)
	require.Equal(t, cli.ExitFailed, code, stderr)
	require.Equal(t, before, transferCounts(t, dst), "a wrong passphrase writes nothing")

	out, stderr, code, shown := runTyping(t, h, "Passphrase", []string{pass}, onDst(d, "import", "--input", file)...)
	require.Equal(t, cli.ExitOK, code, stderr)
	require.NotContains(t, shown, pass)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2)
	f := strings.Split(lines[1], "\t")
	require.Equal(t, id, f[0])
	requireSecret(t, secret, h.ok("", onDst(d, "retrieve", f[1])...))
}

// TestProgressOnTerminal: with standard error on a terminal, export and
// import show how far they have gone, and clear the line when done.
func TestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	src, dst := vaulttest.NewDatabase(t), vaulttest.NewDatabase(t)
	h := newHarness(t, src.URL)
	for range 3 {
		h.ok(h.secret(), "store", "--schema", src.Schema, "--name", "progress/"+uuid.NewString()[:8])
	}
	key, recipient := identityFile(t)
	file := filepath.Join(t.TempDir(), "credentials.age")

	onTerminal := func(args ...string) string {
		master, slave := openPTY(t)
		shown := screen(master)
		cmd := h.command(args...)
		cmd.Stderr = slave
		var stdout bytes.Buffer
		cmd.Stdout = &stdout
		require.NoError(t, cmd.Run())
		require.NoError(t, slave.Close())
		out := <-shown
		for _, s := range h.secrets {
			requireNoSecret(t, out, s, "the terminal")
		}
		return out
	}
	out := onTerminal("export", "--schema", src.Schema, "--recipient", recipient, "--output", file)
	require.Contains(t, out, "exporting: 1 credentials")
	require.Contains(t, out, "\r\x1b[K")
	require.Contains(t, out, "exported 3 credentials")
	out = onTerminal(onDst([]string{"--schema", dst.Schema, "--database-url", dst.URL}, "import", "--input", file, "--identity", key)...)
	require.Regexp(t, `importing: 1 credentials, 0\.0 MB \(\d+%\)`, out)
	require.Contains(t, out, "3 created")
}
