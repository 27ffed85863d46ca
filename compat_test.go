package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

// This file proves the properties of Vault's encryption the product relies
// on, against the compatibility layer the throwaway clusters run (and,
// where they apply, against supabase_vault): ciphertexts hide the
// plaintext, are randomized and bound to their row, tampering is detected,
// a wrong or unusable root key fails clearly, and the key is nowhere a
// database role can read it.

// secIsCompat reports whether schema vault is the compatibility layer.
func secIsCompat(t *testing.T, db vault.DB) bool {
	t.Helper()
	var compat bool
	require.NoError(t, db.QueryRow(context.Background(),
		"SELECT pg_catalog.to_regprocedure('vault._compat_root_key()') IS NOT NULL").Scan(&compat))
	return compat
}

// secCiphertext returns the decoded ciphertext and the nonce of a secret.
func secCiphertext(t *testing.T, db vault.DB, id uuid.UUID) (ct, nonce []byte) {
	t.Helper()
	var b64 string
	require.NoError(t, db.QueryRow(context.Background(), "SELECT secret, nonce FROM vault.secrets WHERE id = $1", id).Scan(&b64, &nonce))
	ct, err := base64.StdEncoding.DecodeString(b64)
	require.NoError(t, err)
	return ct, nonce
}

// TestCiphertextHidesPlaintext stores values and inspects vault.secrets:
// no 8-byte piece of the plaintext is in the ciphertext (raw or base64),
// the same plaintext stored twice gives two different ciphertexts, and a
// repetitive plaintext gives no repeated ciphertext block.
func TestCiphertextHidesPlaintext(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	svc, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)

	secret := newSecret()
	repetitive := strings.Repeat(secret[len(secret)-16:], 16) // 16 identical 16-byte blocks
	var ids []uuid.UUID
	for _, v := range []string{secret, secret, repetitive} {
		id, err := svc.Store(ctx, "compat/ciphertext/"+uuid.NewString(), v, "")
		require.NoError(t, err)
		ids = append(ids, id)
	}
	cts := make([][]byte, len(ids))
	for i, id := range ids {
		ct, nonce := secCiphertext(t, tx, id)
		cts[i] = ct
		require.NotEmpty(t, nonce)
		plain := []string{secret, secret, repetitive}[i]
		require.Greater(t, len(ct), len(plain)-1, "the ciphertext cannot be shorter than the plaintext")
		for j := 0; j+8 <= len(plain); j++ {
			piece := []byte(plain[j : j+8])
			require.False(t, bytes.Contains(ct, piece), "a piece of the plaintext is in the ciphertext")
			require.False(t, strings.Contains(base64.StdEncoding.EncodeToString(ct), string(piece)))
		}
	}
	require.NotEqual(t, cts[0], cts[1], "the same plaintext stored twice gives different ciphertexts")
	blocks := map[string]bool{}
	for i := 0; i+16 <= len(cts[2]); i += 16 {
		block := string(cts[2][i : i+16])
		require.False(t, blocks[block], "repeated plaintext blocks show through as repeated ciphertext blocks")
		blocks[block] = true
	}
}

// TestCiphertextIsBoundToItsRow changes vault.secrets as a superuser
// would: a ciphertext (with its nonce) copied into another row, a row moved
// to another id, and single bytes flipped in the ciphertext or the nonce.
// Retrieve then fails with ErrDecryption (SQLSTATE 22000) and returns no
// value, while an untouched row still decrypts.
func TestCiphertextIsBoundToItsRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	if db.AdminURL == "" {
		t.Skip("needs a superuser to change vault.secrets: VAULT_TEST_DATABASE_URL points at an existing database")
	}
	tx := vaulttest.Tx(t, connect(t, db.AdminURL))
	svc, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)
	secretA, secretB := newSecret(), newSecret()
	idA, err := svc.Store(ctx, "compat/bound/a/"+uuid.NewString(), secretA, "")
	require.NoError(t, err)
	idB, err := svc.Store(ctx, "compat/bound/b/"+uuid.NewString(), secretB, "")
	require.NoError(t, err)
	ct, nonce := secCiphertext(t, tx, idA)

	flip := func(b []byte, i int) []byte {
		c := bytes.Clone(b)
		c[i] ^= 0x01
		return c
	}
	setA := func(ct, nonce []byte) (string, []any) {
		return "UPDATE vault.secrets SET secret = $2, nonce = $3 WHERE id = $1",
			[]any{idA, base64.StdEncoding.EncodeToString(ct), nonce}
	}
	cases := map[string]func(tx pgx.Tx) (uuid.UUID, error){
		"ciphertext and nonce copied from another row": func(tx pgx.Tx) (uuid.UUID, error) {
			_, err := tx.Exec(ctx, `UPDATE vault.secrets AS a SET secret = b.secret, nonce = b.nonce
				FROM vault.secrets AS b WHERE a.id = $1 AND b.id = $2`, idA, idB)
			return idA, err
		},
		"ciphertext copied from another row": func(tx pgx.Tx) (uuid.UUID, error) {
			_, err := tx.Exec(ctx, `UPDATE vault.secrets AS a SET secret = b.secret
				FROM vault.secrets AS b WHERE a.id = $1 AND b.id = $2`, idA, idB)
			return idA, err
		},
		"row moved to another id": func(tx pgx.Tx) (uuid.UUID, error) {
			var id uuid.UUID
			err := tx.QueryRow(ctx, "UPDATE vault.secrets SET id = gen_random_uuid() WHERE id = $1 RETURNING id", idA).Scan(&id)
			return id, err
		},
	}
	for _, i := range []int{0, 15, 16, len(ct) / 2, len(ct) - 17, len(ct) - 1} {
		sql, args := setA(flip(ct, i), nonce)
		cases[fmt.Sprintf("ciphertext byte %d flipped", i)] = func(tx pgx.Tx) (uuid.UUID, error) {
			_, err := tx.Exec(ctx, sql, args...)
			return idA, err
		}
	}
	for _, i := range []int{0, len(nonce) - 1} {
		sql, args := setA(ct, flip(nonce, i))
		cases[fmt.Sprintf("nonce byte %d flipped", i)] = func(tx pgx.Tx) (uuid.UUID, error) {
			_, err := tx.Exec(ctx, sql, args...)
			return idA, err
		}
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			sp, err := tx.Begin(ctx)
			require.NoError(t, err)
			defer sp.Rollback(ctx)
			id, err := change(sp)
			require.NoError(t, err)
			c, err := vault.New(sp, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
			require.NoError(t, err)
			got, err := c.Retrieve(ctx, id)
			require.ErrorIs(t, err, vault.ErrDecryption)
			require.Equal(t, "22000", sqlstate(err))
			require.Empty(t, got)
			got, err = c.Retrieve(ctx, idB)
			require.NoError(t, err)
			require.True(t, got == secretB, "an untouched row still decrypts to its own value")
		})
	}
}

// TestCompatRootKeyFile rewrites the root key file of a server of its own
// and checks every call against it: a wrong key fails with ErrDecryption, a
// missing or malformed file with ErrVaultUnavailable, never with a value;
// errors never show the key; restoring the file restores access.
func TestCompatRootKeyFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := testserver.Start(ctx, testserver.Options{NoExternal: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	if srv.Cluster() == nil || srv.Cluster().KeyFile() == "" {
		t.Skip("needs a server started from local binaries with a root key file")
	}
	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	if !secIsCompat(t, db.Pool) {
		t.Skip("the server runs supabase_vault, whose root key is not a file")
	}
	keyFile := srv.Cluster().KeyFile()
	original, err := os.ReadFile(keyFile)
	require.NoError(t, err)
	fi, err := os.Stat(keyFile)
	require.NoError(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	// write replaces the key file's content (nil: removes it), keeping the
	// owner (the server's OS user) and mode.
	write := func(content []byte, mode os.FileMode) {
		t.Helper()
		if content == nil {
			require.NoError(t, os.Remove(keyFile))
			return
		}
		require.NoError(t, os.WriteFile(keyFile, content, mode))
		require.NoError(t, os.Chmod(keyFile, mode))
		if os.Geteuid() == 0 {
			require.NoError(t, os.Chown(keyFile, int(st.Uid), int(st.Gid)))
		}
	}
	restore := func() { write(original, fi.Mode().Perm()) }
	t.Cleanup(restore)

	c, err := vault.New(db.Pool, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)
	secret := newSecret()
	id, err := c.Store(ctx, "compat/key/"+uuid.NewString(), secret, "")
	require.NoError(t, err)
	keyHex := strings.TrimSpace(string(original))
	key, err := hex.DecodeString(keyHex)
	require.NoError(t, err)

	otherKey := randomBytes(t, 32)
	cases := []struct {
		name    string
		content []byte // nil: no file
		mode    os.FileMode
		want    error
	}{
		{name: "wrong key", content: []byte(hex.EncodeToString(otherKey)), mode: 0o600, want: vault.ErrDecryption},
		{name: "missing file", content: nil, want: vault.ErrVaultUnavailable},
		{name: "empty file", content: []byte{}, mode: 0o600, want: vault.ErrVaultUnavailable},
		{name: "short key", content: []byte(keyHex[:62]), mode: 0o600, want: vault.ErrVaultUnavailable},
		{name: "not hexadecimal", content: []byte("g" + keyHex[1:]), mode: 0o600, want: vault.ErrVaultUnavailable},
		{name: "raw key bytes", content: key, mode: 0o600, want: vault.ErrVaultUnavailable},
		{name: "unreadable file", content: original, mode: 0o000, want: vault.ErrVaultUnavailable},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			write(tc.content, tc.mode)
			defer restore()
			got, err := c.Retrieve(ctx, id)
			require.Error(t, err, "a retrieval under a bad key must fail")
			require.Empty(t, got, "a failed retrieval returns no value")
			for where, text := range secErrorTexts(err) {
				for _, form := range []string{keyHex, strings.ToUpper(keyHex), base64.StdEncoding.EncodeToString(key), string(key)} {
					require.False(t, strings.Contains(text, form), "the key appears in the error's %s", where)
				}
			}
			require.ErrorIs(t, err, tc.want)
			if tc.want == vault.ErrVaultUnavailable {
				_, err := c.Store(ctx, "compat/key/"+uuid.NewString(), newSecret(), "")
				require.ErrorIs(t, err, vault.ErrVaultUnavailable, "nothing is stored without a usable key")
			}
		})
		got, err := c.Retrieve(ctx, id)
		require.NoError(t, err, "restoring the key file restores access")
		require.True(t, got == secret)
	}
}

// TestCompatRootKeyNotExposed reads, as postgres, service_role,
// authenticated and anon, everything the database shows those roles about
// settings, functions, comments, views, statements and sessions, and looks
// for the root key client-side (the key itself is never sent). None of the
// roles may read the key file through the server.
func TestCompatRootKeyNotExposed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cluster := testserver.SharedServer(t).Cluster()
	if cluster == nil || cluster.KeyFile() == "" {
		t.Skip("needs a throwaway cluster with a root key file")
	}
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	if !secIsCompat(t, tx) {
		t.Skip("the server runs supabase_vault, whose root key is not a file")
	}
	raw, err := os.ReadFile(cluster.KeyFile())
	require.NoError(t, err)
	keyHex := strings.ToLower(strings.TrimSpace(string(raw)))
	key, err := hex.DecodeString(keyHex)
	require.NoError(t, err)
	forms := []string{keyHex, base64.StdEncoding.EncodeToString(key), base64.RawURLEncoding.EncodeToString(key)}

	// Make the key be in use while the catalogs are read.
	svc, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)
	id, err := svc.Store(ctx, "compat/exposed/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	_, err = svc.Retrieve(ctx, id)
	require.NoError(t, err)

	views := map[string]string{
		"pg_settings":          "SELECT string_agg(concat_ws(' ', name, setting, reset_val, boot_val), E'\\n') FROM pg_settings",
		"pg_proc":              "SELECT string_agg(concat_ws(' ', proname, prosrc, probin, proconfig::text), E'\\n') FROM pg_proc",
		"pg_description":       "SELECT string_agg(description, E'\\n') FROM pg_description",
		"pg_shdescription":     "SELECT string_agg(description, E'\\n') FROM pg_shdescription",
		"pg_views":             "SELECT string_agg(definition, E'\\n') FROM pg_views",
		"pg_db_role_setting":   "SELECT string_agg(setconfig::text, E'\\n') FROM pg_db_role_setting",
		"pg_attrdef":           "SELECT string_agg(pg_get_expr(adbin, adrelid), E'\\n') FROM pg_attrdef",
		"pg_stat_statements":   "SELECT string_agg(query, E'\\n') FROM pg_stat_statements",
		"pg_stat_activity":     "SELECT string_agg(concat_ws(' ', query, application_name), E'\\n') FROM pg_stat_activity",
		"vault.secrets":        "SELECT string_agg(s::text, E'\\n') FROM vault.secrets AS s",
		"vault schema comment": "SELECT obj_description('vault'::regnamespace, 'pg_namespace')",
	}
	keyFile := cluster.KeyFile()
	for _, role := range []string{secOwner, secService, "authenticated", "anon"} {
		t.Run(role, func(t *testing.T) {
			read := 0
			for name, sql := range views {
				var text *string
				code := secProbe(t, tx, role, func(ctx context.Context, tx pgx.Tx) error {
					return tx.QueryRow(ctx, sql).Scan(&text)
				})
				if code == "42501" {
					continue // not readable by this role at all
				}
				require.Empty(t, code, "%s as %s", name, role)
				read++
				if text == nil {
					continue
				}
				for _, form := range forms {
					require.False(t, strings.Contains(strings.ToLower(*text), strings.ToLower(form)), "the root key appears in %s read as %s", name, role)
				}
			}
			require.GreaterOrEqual(t, read, 8, "most catalogs are readable by %s", role)
			for _, sql := range []string{
				"SELECT pg_read_file($1)",
				"SELECT pg_read_binary_file($1)",
				"SELECT pg_stat_file($1)",
			} {
				require.Equal(t, "42501", secProbe(t, tx, role, secSQL(sql, keyFile)), "%s as %s", sql, role)
			}
			require.Equal(t, "42501", secProbe(t, tx, role, secExec([]string{
				"CREATE TEMP TABLE credvault_key_probe (v text)",
				"COPY credvault_key_probe FROM " + secQuoteLiteral(keyFile),
			})), "COPY FROM the key file as %s", role)
		})
	}
}

// secQuoteLiteral quotes s as an SQL string literal.
func secQuoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// TestCompatFunctionsAreClosed checks the compatibility layer's functions
// in the catalog: each is SECURITY DEFINER with an empty search_path, and
// only create_secret, update_secret and _crypto_aead_det_decrypt are
// executable by postgres and service_role, as on Supabase; none by PUBLIC,
// anon or authenticated.
func TestCompatFunctionsAreClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := vaulttest.Tx(t, vaulttest.Shared(t).Pool)
	if !secIsCompat(t, tx) {
		t.Skip("the server runs supabase_vault")
	}
	rows, err := tx.Query(ctx, `
SELECT p.proname, p.prosecdef, coalesce(p.proconfig::text, ''),
       has_function_privilege('public', p.oid, 'EXECUTE') OR has_function_privilege('anon', p.oid, 'EXECUTE')
           OR has_function_privilege('authenticated', p.oid, 'EXECUTE'),
       has_function_privilege('postgres', p.oid, 'EXECUTE'),
       has_function_privilege('service_role', p.oid, 'EXECUTE')
  FROM pg_proc AS p WHERE p.pronamespace = 'vault'::regnamespace ORDER BY 1`)
	require.NoError(t, err)
	granted := []string{"_crypto_aead_det_decrypt", "create_secret", "update_secret"}
	n := 0
	for rows.Next() {
		var name, config string
		var definer, endUsers, postgres, service bool
		require.NoError(t, rows.Scan(&name, &definer, &config, &endUsers, &postgres, &service))
		n++
		require.True(t, definer, "%s is SECURITY DEFINER", name)
		require.Equal(t, `{"search_path=\"\""}`, config, "%s pins an empty search_path", name)
		require.False(t, endUsers, "%s is executable by PUBLIC, anon or authenticated", name)
		want := false
		for _, g := range granted {
			want = want || g == name
		}
		require.Equal(t, want, postgres, "postgres EXECUTE on %s", name)
		require.Equal(t, want, service, "service_role EXECUTE on %s", name)
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, n, 6)
}
