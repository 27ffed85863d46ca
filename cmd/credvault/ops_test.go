package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/cli"
)

// TestRecoveryCommands: delete into a recovery window, list --deleted,
// restore, purge after the window, delete --without-recovery.
func TestRecoveryCommands(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)
	s := "--schema=" + db.Schema

	value := h.secret()
	id := strings.TrimSpace(h.ok(value, "store", s, "--name", "ops/recover"))
	h.ok("", "delete", s, id, "--recovery-window", "7d")
	r := h.run("", "retrieve", s, id)
	require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
	require.NotContains(t, h.ok("", "list", s), id)
	table := h.ok("", "list", s, "--deleted")
	require.Regexp(t, `^ID\s+NAME\s+DELETED_AT\s+PURGE_AFTER\s+DESCRIPTION\n`, table)
	require.Contains(t, table, id)
	var listed []map[string]any
	require.NoError(t, json.Unmarshal([]byte(h.ok("", "list", s, "--deleted", "--json")), &listed))
	require.Len(t, listed, 1)
	require.Equal(t, id, listed[0]["id"])
	deletedAt, err := time.Parse(time.RFC3339Nano, listed[0]["deleted_at"].(string))
	require.NoError(t, err)
	purgeAfter, err := time.Parse(time.RFC3339Nano, listed[0]["purge_after"].(string))
	require.NoError(t, err)
	require.Equal(t, 7*24*time.Hour, purgeAfter.Sub(deletedAt))

	// The name is still held.
	r = h.run(h.secret(), "store", s, "--name", "ops/recover")
	require.Equal(t, cli.ExitOK, r.code, "store takes a suffixed name, as for any taken name")

	h.ok("", "restore", s, id)
	requireSecret(t, value, h.ok("", "retrieve", s, id))
	h.ok("", "restore", s, id) // a no-op on a live credential
	r = h.run("", "restore", s, uuid.NewString())
	require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
	require.Contains(t, r.stderr, "not found")

	// After the window: not restorable, and purged.
	h.ok("", "delete", s, id, "--recovery-window", "1s")
	time.Sleep(1100 * time.Millisecond)
	r = h.run("", "restore", s, id)
	require.Equal(t, cli.ExitNotFound, r.code, r.stderr)
	require.Equal(t, "purged 1 credential(s)\n", h.ok("", "purge", s))
	require.Equal(t, "purged 0 credential(s)\n", h.ok("", "purge", s, "--all-namespaces"))
	require.NotContains(t, h.ok("", "list", s, "--deleted"), id)

	// --without-recovery removes one in its window at once.
	other := strings.TrimSpace(h.ok(h.secret(), "store", s, "--name", "ops/other"))
	h.ok("", "delete", s, other, "--recovery-window", "30d")
	h.ok("", "delete", s, other, "--without-recovery")
	require.NotContains(t, h.ok("", "list", s, "--deleted"), other)

	// The access log has the whole story, as the owner.
	audit := h.ok("", "audit", s, id, "--limit", "100")
	require.Len(t, strings.Split(strings.TrimSpace(audit), "\n"), 1+6, audit) // store, delete, restore, retrieve, delete, purge
}

// TestOrphansCommand: a referenced, a fresh and an old unreferenced
// credential; only the old one is an orphan, --delete deletes it into the
// recovery window, restore brings it back.
func TestOrphansCommand(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)
	s := "--schema=" + db.Schema
	bookkeeping := pgx.Identifier{db.Schema, "vault_credentials"}.Sanitize()
	exec1(t, db.URL, "CREATE TABLE public.org_integrations (id int GENERATED ALWAYS AS IDENTITY, vault_secret_id uuid)")

	referenced := strings.TrimSpace(h.ok(h.secret(), "store", s, "--name", "orphans/referenced"))
	exec1(t, db.URL, "INSERT INTO public.org_integrations (vault_secret_id) VALUES ($1)", referenced)
	fresh := strings.TrimSpace(h.ok(h.secret(), "store", s, "--name", "orphans/fresh"))
	old := strings.TrimSpace(h.ok(h.secret(), "store", s, "--name", "orphans/old"))
	for _, id := range []string{referenced, old} {
		exec1(t, db.URL, "UPDATE "+bookkeeping+" SET created_at = now() - interval '2 hours' WHERE id = $1", id)
	}

	ref := "--referenced-by=public.org_integrations.vault_secret_id"
	r := h.run("", "orphans", s, ref)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Regexp(t, `^ID\s+NAMESPACE\s+NAME\s+CREATED_AT\s+DESCRIPTION\n`, r.stdout)
	require.Contains(t, r.stdout, old)
	require.NotContains(t, r.stdout, referenced)
	require.NotContains(t, r.stdout, fresh)
	require.Contains(t, r.stderr, "1 orphan(s)")
	require.NotContains(t, h.ok("", "orphans", s, ref, "--grace", "3h"), old)
	var found []map[string]any
	require.NoError(t, json.Unmarshal([]byte(h.ok("", "orphans", s, ref, "--json")), &found))
	require.Len(t, found, 1)
	require.Equal(t, old, found[0]["id"])

	r = h.run("", "orphans", s, ref, "--delete", "--recovery-window", "1d")
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	require.Contains(t, r.stdout, old)
	require.Contains(t, r.stderr, "deleted 1 orphan(s) into a recovery window of 24h0m0s")
	require.Contains(t, h.ok("", "list", s, "--deleted"), old)
	require.NotContains(t, h.ok("", "orphans", s, ref), old)
	h.ok("", "restore", s, old)
	for _, id := range []string{referenced, fresh, old} {
		h.ok("", "retrieve", s, id)
	}

	// The owner reads the columns: orphans takes no --role.
	r = h.run("", "orphans", s, ref, "--role", "service_role")
	require.Equal(t, cli.ExitUsage, r.code)
	// A column that is not there.
	r = h.run("", "orphans", s, "--referenced-by", "public.org_integrations.nothing")
	require.Equal(t, cli.ExitFailed, r.code)
	require.Contains(t, r.stderr, "invalid argument")
}

// TestAuditPruneCommand prunes old access-log rows and keeps the others.
func TestAuditPruneCommand(t *testing.T) {
	t.Parallel()
	db, h := newDatabaseHarness(t)
	s := "--schema=" + db.Schema
	log := pgx.Identifier{db.Schema, "vault_access_log"}.Sanitize()
	exec1(t, db.URL, "INSERT INTO "+log+" (secret_id, accessed_at, session_user_name, current_user_name) "+
		"SELECT gen_random_uuid(), now() - interval '500 days' + g * interval '1 minute', 'test', 'test' FROM generate_series(1, 1500) AS g")
	id := strings.TrimSpace(h.ok(h.secret(), "store", s, "--name", "prune/kept"))

	out := h.ok("", "audit", "prune", s, "--older-than", "400d")
	require.Regexp(t, `^deleted 1500 access-log row\(s\) older than \d{4}-\d\d-\d\dT`, out)
	require.Regexp(t, `^deleted 0 `, h.ok("", "audit", "prune", s, "--older-than", "400d"))
	require.Contains(t, h.ok("", "audit", s, id), "service_role", "newer rows are kept")

	r := h.run("", "audit", "prune", s, "--older-than", "400d", "--role", "service_role")
	require.Equal(t, cli.ExitUsage, r.code)
}

func TestOperationsUsage(t *testing.T) {
	t.Parallel()
	h := offlineHarness(t)
	id := uuid.NewString()
	for _, args := range [][]string{
		{"delete", id, "--recovery-window", "7d", "--without-recovery"},
		{"delete", id, "--recovery-window", "0d"},
		{"delete", id, "--recovery-window", "500d"},
		{"delete", id, "--recovery-window", "soon"},
		{"restore"},
		{"restore", "not-a-uuid"},
		{"purge", "extra"},
		{"purge", "--namespace", "acme", "--all-namespaces"},
		{"list", "--deleted", "--older-than", "90d"},
		{"orphans"},
		{"orphans", "--referenced-by", "just_a_table"},
		{"orphans", "--referenced-by", "public.t.c", "--recovery-window", "7d"},
		{"orphans", "--referenced-by", "public.t.c", "--grace", "-1h"},
		{"audit", "prune"},
		{"audit", "prune", "--older-than", "forever"},
		{"audit", "prune", "--older-than", "400d", "extra"},
	} {
		r := requireUsage(t, h, "", args...)
		require.NotContains(t, r.stderr, "just_a_table", "arguments are never repeated")
	}

	help := newHarness(t, "")
	out := help.ok("", "--help")
	for _, name := range []string{"restore", "purge", "orphans", "audit prune"} {
		require.Contains(t, out, "\n  "+name+" ")
		for _, args := range [][]string{append(strings.Fields(name), "--help"), append([]string{"help"}, strings.Fields(name)...)} {
			out := help.ok("", args...)
			require.True(t, strings.HasPrefix(out, "Usage:\n  credvault "+name+" "), out)
		}
	}
	require.Contains(t, help.ok("", "audit", "--help"), "credvault audit prune")
}
