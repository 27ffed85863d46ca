package main

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/cli"
	"github.com/credvault/vault/vaulttest"
)

// putLine parses what put prints: "<id> <version>\n".
func putLine(t *testing.T, out string) (uuid.UUID, int64) {
	t.Helper()
	m := regexp.MustCompile(`^([0-9a-f-]{36}) (\d+)\n$`).FindStringSubmatch(out)
	require.NotNil(t, m, "put prints the id and the version: %q", out)
	id, err := uuid.Parse(m[1])
	require.NoError(t, err)
	v, err := strconv.ParseInt(m[2], 10, 64)
	require.NoError(t, err)
	return id, v
}

// credentialOut is a credential as the commands print it with --json.
type credentialOut struct {
	ID          string     `json:"id"`
	Namespace   string     `json:"namespace"`
	Name        string     `json:"name"`
	Description string     `json:"description"`
	Version     int64      `json:"version"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Cursor      string     `json:"cursor"`
	Value       *string    `json:"value"`
}

func decodeOne(t *testing.T, out string) credentialOut {
	t.Helper()
	var c credentialOut
	require.NoError(t, json.Unmarshal([]byte(out), &c), "JSON object")
	return c
}

// TestCLICredentialLifecycle drives put, lookup, read, rotate
// --if-version, rollback, update, list and audit through the command, in
// one namespace, and checks that only read prints the value.
func TestCLICredentialLifecycle(t *testing.T) {
	t.Parallel()
	db := vaulttest.Shared(t)
	ns := "org-" + uuid.NewString()[:8]
	h := newHarness(t, db.URL).withEnv(cli.EnvSchema+"="+db.Schema, cli.EnvNamespace+"="+ns)
	name := "quickbooks-" + uuid.NewString()[:8]

	// put creates, then updates in place: same id, next version.
	v1, v2 := h.secret(), h.secret()
	id, version := putLine(t, h.ok(v1+"\n", "put", "--name", name, "--description", "QuickBooks OAuth"))
	require.EqualValues(t, 1, version)
	id2, version := putLine(t, h.ok(v2, "put", "--name", name, "--description", "QuickBooks OAuth"))
	require.Equal(t, id, id2, "put of the same name keeps the id")
	require.EqualValues(t, 2, version)
	requireSecret(t, v2, h.ok("", "retrieve", id.String()))

	// lookup by name and by id: metadata, never the value.
	for _, args := range [][]string{{"lookup", "--name", name, "--json"}, {"lookup", id.String(), "--json"}} {
		c := decodeOne(t, h.ok("", args...))
		require.Equal(t, id.String(), c.ID)
		require.Equal(t, ns, c.Namespace)
		require.Equal(t, name, c.Name)
		require.Equal(t, "QuickBooks OAuth", c.Description)
		require.EqualValues(t, 2, c.Version)
		require.Nil(t, c.ExpiresAt)
		require.Nil(t, c.Value)
	}
	table := h.ok("", "lookup", "--name", name)
	require.Regexp(t, `^ID\s+NAMESPACE\s+NAME\s+VERSION\s+EXPIRES_AT\s+UPDATED_AT\s+LAST_RETRIEVED_AT\s+DESCRIPTION\n`, table)
	require.Regexp(t, id.String()+`\s+`+ns+`\s+`+name+`\s+2\s+-\s+`, table)
	r := h.run("", "lookup", "--name", name+"-missing")
	require.Equal(t, cli.ExitNotFound, r.code, r.stderr)

	// read: the value with its metadata, as JSON.
	got := decodeOne(t, h.ok("", "read", id.String()))
	require.NotNil(t, got.Value)
	requireSecret(t, v2, *got.Value)
	require.EqualValues(t, 2, got.Version)

	// rotate --if-version: check-and-set.
	v3 := h.secret()
	r = h.run(v3, "rotate", id.String(), "--if-version", "1")
	require.Equal(t, cli.ExitFailed, r.code, r.stderr)
	require.Contains(t, r.stderr, "version mismatch")
	require.Contains(t, r.stderr, "hint: ")
	requireSecret(t, v2, h.ok("", "retrieve", id.String()))
	h.ok(v3, "rotate", id.String(), "--if-version", "2")
	requireSecret(t, v3, h.ok("", "retrieve", id.String()))

	// rollback: the previous value, as version 4.
	r = h.run("", "rollback", id.String())
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "rolled back "+id.String())
	requireSecret(t, v2, h.ok("", "retrieve", id.String()))
	require.EqualValues(t, 4, decodeOne(t, h.ok("", "lookup", id.String(), "--json")).Version)

	// update: name, description, expiry; never the value or the version.
	renamed := name + "-prod"
	expires := time.Now().Add(30 * time.Minute).UTC().Truncate(time.Second)
	c := decodeOne(t, h.ok("", "update", id.String(), "--name", renamed, "--description", "",
		"--expires-at", expires.Format(time.RFC3339), "--json"))
	require.Equal(t, renamed, c.Name)
	require.Equal(t, "", c.Description)
	require.NotNil(t, c.ExpiresAt)
	require.True(t, expires.Equal(*c.ExpiresAt))
	require.EqualValues(t, 4, c.Version)
	requireSecret(t, v2, h.ok("", "retrieve", id.String()))
	require.Contains(t, h.ok("", "list", "--expires-before", "1h"), id.String())
	require.NotContains(t, h.ok("", "list", "--expires-before", "10m"), id.String())
	require.Contains(t, h.ok("", "list", "--expires-before", expires.Add(time.Second).Format(time.RFC3339)), id.String())
	c = decodeOne(t, h.ok("", "update", id.String(), "--no-expiry", "--json"))
	require.Nil(t, c.ExpiresAt)
	require.NotContains(t, h.ok("", "list", "--expires-before", "1h"), id.String())
	c = decodeOne(t, h.ok("", "update", id.String(), "--expires-at", "55m", "--json"))
	require.NotNil(t, c.ExpiresAt)
	require.WithinDuration(t, time.Now().Add(55*time.Minute), *c.ExpiresAt, time.Minute)

	// A name taken in the namespace is refused, without quoting it.
	other, _ := putLine(t, h.ok(h.secret(), "put", "--name", name+"-other"))
	r = h.run("", "update", other.String(), "--name", renamed)
	require.Equal(t, cli.ExitFailed, r.code, r.stderr)
	require.Contains(t, r.stderr, "already in use")
	require.NotContains(t, r.stderr, renamed)

	// audit: every operation, newest first, with its op.
	var records []struct {
		Op string `json:"op"`
	}
	require.NoError(t, json.Unmarshal([]byte(newHarness(t, db.URL).ok("", "audit", "--schema", db.Schema, id.String(), "--json")), &records))
	var ops []string
	for i := len(records) - 1; i >= 0; i-- {
		ops = append(ops, records[i].Op)
	}
	require.Equal(t, []string{"put", "put", "retrieve", "read", "retrieve", "rotate", "retrieve", "rollback", "retrieve",
		"update", "retrieve", "update", "update"}, ops)
	audit := newHarness(t, db.URL).ok("", "audit", "--schema", db.Schema, id.String(), "--limit", "1")
	require.Regexp(t, `\n\S+\s+update\s+postgres\s+service_role\s`, audit)

	// delete in the namespace: deleted, then nothing to delete.
	r = h.run("", "delete", other.String())
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "deleted "+other.String())
	r = h.run("", "delete", other.String())
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Contains(t, r.stderr, "nothing to delete")
}

// TestCLINamespaces checks that a credential of one namespace is, to every
// command run with another --namespace (or none), an unknown id: not
// found, not changed, not deleted, not listed.
func TestCLINamespaces(t *testing.T) {
	t.Parallel()
	db := vaulttest.Shared(t)
	tag := uuid.NewString()[:8]
	base := newHarness(t, db.URL).withEnv(cli.EnvSchema + "=" + db.Schema)
	a := base.withEnv(cli.EnvNamespace + "=org-a-" + tag) // from the environment
	name := "stripe-" + tag
	value := a.secret()
	id, _ := putLine(t, a.ok(value, "put", "--name", name))
	// The same name in another namespace is another credential.
	b := base
	bns := "--namespace=org-b-" + tag
	idB, _ := putLine(t, b.ok(b.secret(), "put", bns, "--name", name))
	require.NotEqual(t, id, idB)

	for _, tc := range []struct {
		h    *harness
		args []string
	}{{b, []string{bns}}, {base, nil}} {
		run := func(stdin string, args ...string) result {
			return tc.h.run(stdin, append(args, tc.args...)...)
		}
		for _, args := range [][]string{
			{"retrieve", id.String()},
			{"read", id.String()},
			{"lookup", id.String()},
			{"rollback", id.String()},
			{"update", id.String(), "--description", "taken over"},
		} {
			r := run("", args...)
			require.Equal(t, cli.ExitNotFound, r.code, "%v: %s", args, r.stderr)
			require.Empty(t, r.stdout)
		}
		r := run(tc.h.secret(), "rotate", id.String())
		require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
		if len(tc.args) == 0 {
			r = run("", "lookup", "--name", name)
			require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
		}
		require.NotContains(t, run("", "list", "--limit", "1000").stdout, id.String())
		r = run("", "delete", id.String())
		require.Equal(t, cli.ExitOK, r.code, r.stderr)
		require.Contains(t, r.stderr, "nothing to delete", "another namespace's credential is not deleted")
	}
	// Untouched in its own namespace.
	requireSecret(t, value, a.ok("", "retrieve", id.String()))
	c := decodeOne(t, a.ok("", "lookup", "--name", name, "--json"))
	require.EqualValues(t, 1, c.Version)
	require.Equal(t, "", c.Description)
	require.Contains(t, a.ok("", "list", "--prefix", name), id.String())
	require.NotContains(t, a.ok("", "list", "--prefix", name), idB.String())
	require.Contains(t, b.ok("", "list", bns, "--prefix", name), idB.String())
	// --namespace wins over the environment.
	c = decodeOne(t, a.ok("", "lookup", "--name", name, "--json", bns))
	require.Equal(t, idB.String(), c.ID)
}

// TestCLIListPages pages through a prefix with --limit and --after, as
// printed on standard error and in each JSON row, and sees every
// credential exactly once.
func TestCLIListPages(t *testing.T) {
	t.Parallel()
	db := vaulttest.Shared(t)
	h := newHarness(t, db.URL).withEnv(cli.EnvSchema+"="+db.Schema, cli.EnvNamespace+"=pages-"+uuid.NewString()[:8])
	want := map[string]bool{}
	for i := range 7 {
		id, _ := putLine(t, h.ok(h.secret(), "put", "--name", "p/"+strconv.Itoa(i)))
		want[id.String()] = true
	}
	next := regexp.MustCompile(`more may follow: run again with --after (\S+)\n`)

	// Tables, following the cursor printed on standard error.
	seen := map[string]int{}
	args := []string{"list", "--limit", "3"}
	for pages := 0; ; pages++ {
		require.Less(t, pages, 4)
		r := h.run("", args...)
		require.Equal(t, cli.ExitOK, r.code, r.stderr)
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
			seen[strings.Fields(line)[0]]++
		}
		m := next.FindStringSubmatch(r.stderr)
		if m == nil {
			break
		}
		args = []string{"list", "--limit", "3", "--after", m[1]}
	}
	require.Len(t, seen, len(want))
	for id, n := range seen {
		require.True(t, want[id])
		require.Equal(t, 1, n, "listed once")
	}

	// JSON, following each page's last cursor.
	seen = map[string]int{}
	after := ""
	for pages := 0; ; pages++ {
		require.Less(t, pages, 5)
		var rows []credentialOut
		require.NoError(t, json.Unmarshal([]byte(h.ok("", "list", "--limit", "2", "--json", "--after", after)), &rows))
		for _, row := range rows {
			require.NotEmpty(t, row.Cursor)
			require.EqualValues(t, 1, row.Version)
			seen[row.ID]++
		}
		if len(rows) < 2 {
			break
		}
		after = rows[len(rows)-1].Cursor
	}
	require.Len(t, seen, len(want))
}

// TestCLILifecycleUsage checks the new commands' and flags' usage errors:
// exit 2, a clear message, and no argument repeated.
func TestCLILifecycleUsage(t *testing.T) {
	t.Parallel()
	h := offlineHarness(t)
	id := uuid.NewString()
	for _, tc := range []struct {
		name string
		args func(v string) []string
		msg  string
	}{
		{"put without a name", func(v string) []string { return []string{"put"} }, "--name is required"},
		{"put with an argument", func(v string) []string { return []string{"put", "--name", "x", v} }, "argument"},
		{"lookup without name or id", func(v string) []string { return []string{"lookup"} }, "--name NAME or one credential ID"},
		{"lookup with a bad id", func(v string) []string { return []string{"lookup", v} }, "--name NAME or one credential ID"},
		{"lookup with both", func(v string) []string { return []string{"lookup", id, "--name", v} }, "not both"},
		{"read with a bad id", func(v string) []string { return []string{"read", v} }, "not a credential ID"},
		{"rollback with a bad id", func(v string) []string { return []string{"rollback", v} }, "not a credential ID"},
		{"update with nothing to do", func(v string) []string { return []string{"update", id} }, "nothing to update"},
		{"update with an empty name", func(v string) []string { return []string{"update", id, "--name="} }, "--name must not be empty"},
		{"update with a bad expiry", func(v string) []string { return []string{"update", id, "--expires-at", v} }, "RFC 3339"},
		{"update with two expiries", func(v string) []string { return []string{"update", id, "--expires-at", "1h", "--no-expiry"} }, "not both"},
		{"rotate with a bad version", func(v string) []string { return []string{"rotate", id, "--if-version", v} }, "--if-version"},
		{"rotate with version 0", func(v string) []string { return []string{"rotate", id, "--if-version", "0"} }, "--if-version must be"},
		{"list with a bad cursor", func(v string) []string { return []string{"list", "--after", v} }, "--after is not a cursor"},
		{"list with a bad expiry", func(v string) []string { return []string{"list", "--expires-before", v} }, "RFC 3339"},
		{"a namespace too long", func(v string) []string { return []string{"list", "--namespace", strings.Repeat(v, 20)} }, "--namespace"},
		{"a namespace where none is taken", func(v string) []string { return []string{"audit", id, "--namespace", v} }, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := secretLike(t)
			r := requireUsage(t, h, "", tc.args(v)...)
			require.Contains(t, r.stderr, tc.msg)
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
