package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/cli"
	"github.com/credvault/vault/internal/pgcluster"
	"github.com/credvault/vault/internal/testserver"
)

// plainDatabase creates a database without Vault on the shared server,
// owned by a fresh role that is not a superuser, and returns its owner's
// and the superuser's URLs and the cluster's root key file.
func plainDatabase(t *testing.T) (ownerURL, adminURL, keyFile string) {
	t.Helper()
	ctx := context.Background()
	cluster := testserver.SharedServer(t).Cluster()
	if cluster == nil || cluster.KeyFile() == "" {
		t.Skip("needs a throwaway server with a root key file: VAULT_TEST_DATABASE_URL points at an existing database")
	}
	b := make([]byte, 6)
	_, err := rand.Read(b)
	require.NoError(t, err)
	suffix := hex.EncodeToString(b)
	owner, name := "credvault_cli_owner_"+suffix, "credvault_cli_"+suffix
	exec1(t, cluster.AdminURL(), "CREATE ROLE "+pgx.Identifier{owner}.Sanitize()+" LOGIN NOSUPERUSER")
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, cluster.AdminURL())
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
		_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+pgx.Identifier{owner}.Sanitize())
	})
	require.NoError(t, pgcluster.CreateDatabase(ctx, cluster.AdminURL(), name, owner))
	return cluster.URL(owner, name), cluster.URL(pgcluster.AdminUser, name), cluster.KeyFile()
}

// vaultLine returns doctor's line for the vault check.
func vaultLine(t *testing.T, out string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, " vault ") {
			return l
		}
	}
	t.Fatalf("no vault line in:\n%s", out)
	return ""
}

// TestDoctorReportsUntrustedVault has the database owner, not a superuser,
// create a schema vault that looks like the compatibility layer (its
// comment, create_secret, update_secret, secrets, decrypted_secrets) before
// the first migration. doctor reports it as a finding, never as
// "compatibility layer ok", and migrate --compat-key-file refuses it.
func TestDoctorReportsUntrustedVault(t *testing.T) {
	t.Parallel()
	ownerURL, adminURL, keyFile := plainDatabase(t)
	exec1(t, ownerURL, `
CREATE SCHEMA vault;
COMMENT ON SCHEMA vault IS 'Supabase Vault 0.3 compatible layer installed by github.com/credvault/vault (compat 2)';
CREATE TABLE vault.secrets (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, description text NOT NULL DEFAULT '',
    secret text NOT NULL, key_id uuid, nonce bytea, created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE VIEW vault.decrypted_secrets AS SELECT s.*, s.secret AS decrypted_secret FROM vault.secrets AS s;
CREATE FUNCTION vault.create_secret(new_secret text, new_name text DEFAULT NULL, new_description text DEFAULT '',
    new_key_id uuid DEFAULT NULL) RETURNS uuid LANGUAGE sql AS $$ SELECT gen_random_uuid() $$;
CREATE FUNCTION vault.update_secret(secret_id uuid, new_secret text DEFAULT NULL, new_name text DEFAULT NULL,
    new_description text DEFAULT NULL, new_key_id uuid DEFAULT NULL) RETURNS void LANGUAGE sql AS $$ SELECT $$;
CREATE FUNCTION vault._crypto_aead_det_decrypt(message bytea, additional bytea, key_id bigint, context bytea DEFAULT 'pgsodium',
    nonce bytea DEFAULT NULL) RETURNS bytea LANGUAGE sql AS $$ SELECT message $$;
CREATE FUNCTION vault._compat_root_key() RETURNS bytea LANGUAGE sql AS $$ SELECT NULL::bytea $$;`)

	for _, url := range []string{ownerURL, adminURL} {
		h := newHarness(t, url)
		r := h.run("", "doctor", "--schema", "vault")
		require.Equal(t, cli.ExitFindings, r.code, r.stdout+r.stderr)
		line := vaultLine(t, r.stdout)
		require.Regexp(t, `^  FINDING +vault +schema vault is owned by "credvault_cli_owner_[0-9a-f]+", which is not a superuser`, line)
		require.NotContains(t, r.stdout, "compatibility layer")
	}

	h := newHarness(t, adminURL)
	r := h.run("", "migrate", "--compat-key-file", keyFile)
	require.Equal(t, cli.ExitFailed, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "not a superuser")
	require.NotContains(t, r.stderr, "applied migration")
}

// TestDoctorReportsOutdatedCompat installs the compatibility layer as
// compat 1 shipped: doctor reports it as a finding and says how to
// upgrade; migrate --compat-key-file upgrades it, after which doctor
// reports the current layer.
func TestDoctorReportsOutdatedCompat(t *testing.T) {
	t.Parallel()
	_, adminURL, keyFile := plainDatabase(t)
	sql, err := os.ReadFile("../../testdata/compat1_vault.sql")
	require.NoError(t, err)
	exec1(t, adminURL, strings.NewReplacer("@pgcrypto@", "extensions",
		"@keyfile@", "'"+strings.ReplaceAll(keyFile, "'", "''")+"'").Replace(string(sql)))
	h := newHarness(t, adminURL)

	line := vaultLine(t, h.run("", "doctor", "--schema", "credentials").stdout)
	require.Regexp(t, `^  FINDING +vault +compatibility layer compat 1 is outdated: .* upgrade it to compat 2 with 'credvault migrate --compat-key-file PATH'`, line)

	r := h.run("", "migrate", "--schema", "credentials", "--compat-key-file", keyFile)
	require.Equal(t, cli.ExitOK, r.code, r.stdout+r.stderr)
	require.Contains(t, r.stderr, "upgraded the Vault compatibility layer")
	r = h.run("", "doctor", "--schema", "credentials")
	require.Regexp(t, `^  ok +vault +compatibility layer compat 2 `, vaultLine(t, r.stdout))
}

// TestDoctorSeesWhatBreaksRetrievals breaks a healthy setup the three ways
// that once left doctor saying "no findings": a credential whose
// ciphertext does not decrypt under the server's root key, a Vault grant
// taken from the functions' owner, and a --schema with nothing installed.
// doctor reports each, decrypts without writing to the access log or
// printing a value, and tells a missing installation from a healthy one.
func TestDoctorSeesWhatBreaksRetrievals(t *testing.T) {
	t.Parallel()
	db := throwawayDatabase(t, "alters Vault's rows and grants")
	ctx := context.Background()
	h := newHarness(t, db.URL)
	s := "--schema=" + db.Schema
	doctor := func(wantCode int, args ...string) string {
		t.Helper()
		r := h.run("", append([]string{"doctor"}, args...)...)
		require.Equal(t, wantCode, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		return r.stdout
	}
	a := strings.TrimSpace(h.ok(h.secret(), "store", s, "--name", "broken/a"))
	b := strings.TrimSpace(h.ok(h.secret(), "store", s, "--name", "broken/b"))
	out := doctor(cli.ExitOK, s)
	require.Regexp(t, `(?m)^  ok +secrets +\d+ credential\(s\) decrypt under the server's root key$`, out)

	// (c) Nothing installed: a schema that does not exist, and one that
	// exists but holds nothing.
	exec1(t, db.URL, "CREATE SCHEMA nothing_installed")
	for _, schema := range []string{"no_such_schema", "nothing_installed"} {
		out = doctor(cli.ExitFindings, "--schema", schema)
		require.Regexp(t, `(?m)^  FINDING +migrations +schema "`+schema+`" (does not exist|holds no credential functions): run 'credvault migrate --schema `+schema+`'$`, out)
		require.Regexp(t, `(?m)^  skipped +privileges +nothing is installed in schema "`+schema+`"$`, out)
		require.NotRegexp(t, `(?m)^  ok +privileges`, out)
		require.Regexp(t, `\nnothing is installed in schema "`+schema+`": 1 finding\(s\)\n$`, out)
	}

	// (a) A's row gets B's ciphertext and nonce, as after a botched
	// restore: A no longer decrypts, B still does.
	var secret string
	var nonce []byte
	conn, err := pgx.Connect(ctx, db.AdminURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(ctx) })
	require.NoError(t, conn.QueryRow(ctx, "SELECT secret, nonce FROM vault.secrets WHERE id = $1", a).Scan(&secret, &nonce))
	_, err = conn.Exec(ctx, "UPDATE vault.secrets t SET secret = s.secret, nonce = s.nonce FROM vault.secrets s WHERE t.id = $1 AND s.id = $2", a, b)
	require.NoError(t, err)
	logRows := func() int {
		var n int
		require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{db.Schema, "vault_access_log"}.Sanitize()).Scan(&n))
		return n
	}
	before := logRows()
	out = doctor(cli.ExitFindings, s)
	require.Regexp(t, `(?m)^  FINDING +secrets +credential `+a+` does not decrypt under the server's root key: `, out)
	require.NotContains(t, out, b)
	require.Equal(t, 1, strings.Count(out, "FINDING"), out)
	require.Equal(t, before, logRows(), "doctor wrote to the access log")
	r := h.run("", "retrieve", s, a)
	require.Equal(t, cli.ExitFailed, r.code)
	require.Contains(t, r.stderr, "credential cannot be decrypted")
	_, err = conn.Exec(ctx, "UPDATE vault.secrets SET secret = $2, nonce = $3 WHERE id = $1", a, secret, nonce)
	require.NoError(t, err)
	doctor(cli.ExitOK, s)

	// (b) The functions' owner loses a Vault grant, as in a Supabase
	// upgrade: every retrieval fails, with an error that is not the
	// caller's "permission denied".
	_, err = conn.Exec(ctx, "REVOKE EXECUTE ON FUNCTION vault._crypto_aead_det_decrypt FROM postgres, service_role CASCADE")
	require.NoError(t, err)
	out = doctor(cli.ExitFindings, s)
	require.Regexp(t, `(?m)^  FINDING +vault +"postgres", which owns the credential functions, lacks EXECUTE on function `+
		`vault\._crypto_aead_det_decrypt\(bytea,bytea,int8,bytea,bytea\), which the functions use: .*GRANT EXECUTE ON FUNCTION `+
		`vault\._crypto_aead_det_decrypt\(bytea,bytea,int8,bytea,bytea\) TO "postgres"$`, out)
	require.Regexp(t, `(?m)^  skipped +secrets +postgres lacks Vault privileges \(see vault\)$`, out)
	require.Equal(t, 1, strings.Count(out, "FINDING"), out)
	r = h.run("", "retrieve", s, b)
	require.Equal(t, cli.ExitFailed, r.code)
	require.Contains(t, r.stderr, "credvault retrieve "+b+": the credential functions' owner lacks a privilege (SQLSTATE 42501)\n")
	require.Contains(t, r.stderr, "'credvault doctor' lists what it lacks")
	require.NotContains(t, r.stderr, "executable by service_role only")
	requireCLITerms(t, r.stderr)
}
