package vault_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/pgcluster"
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
	db, tx := sharedTx(t)
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
	srv := ownServer(t, nil)
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
	db, tx := sharedTx(t)
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
	id := storeFresh(t, svc, "compat/exposed/")
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
				"COPY credvault_key_probe FROM " + quoteLiteral(keyFile),
			})), "COPY FROM the key file as %s", role)
		})
	}
}

// TestCompatFunctionsAreClosed checks the compatibility layer's functions
// in the catalog: each is owned by a superuser, SECURITY DEFINER with
// search_path pinned to pg_catalog, pg_temp, and only create_secret,
// update_secret and _crypto_aead_det_decrypt are executable by postgres and
// service_role, as on Supabase; none by PUBLIC, anon or authenticated.
// pgcrypto is called only from SQL-standard bodies, bound when created.
func TestCompatFunctionsAreClosed(t *testing.T) {
	t.Parallel()
	db := newCompatBareDB(t)
	require.NoError(t, vault.InstallCompatVault(context.Background(), db.admin, db.keyFile))
	compatFunctionsClosed(t, db.admin)
}

func compatFunctionsClosed(t *testing.T, db vault.DB) {
	t.Helper()
	rows, err := db.Query(context.Background(), `
SELECT p.proname, r.rolsuper, p.prosecdef, coalesce(p.proconfig::text, ''),
       has_function_privilege('public', p.oid, 'EXECUTE') OR has_function_privilege('anon', p.oid, 'EXECUTE')
           OR has_function_privilege('authenticated', p.oid, 'EXECUTE'),
       has_function_privilege('postgres', p.oid, 'EXECUTE'),
       has_function_privilege('service_role', p.oid, 'EXECUTE'),
       p.prosqlbody IS NULL AND p.prosrc ~ '(^|[^_a-z])(hmac|encrypt_iv|decrypt_iv|gen_random_bytes)\s*\('
  FROM pg_proc AS p JOIN pg_roles AS r ON r.oid = p.proowner
 WHERE p.pronamespace = 'vault'::regnamespace ORDER BY 1`)
	require.NoError(t, err)
	defer rows.Close()
	granted := []string{"_crypto_aead_det_decrypt", "create_secret", "update_secret"}
	n := 0
	for rows.Next() {
		var name, config string
		var super, definer, endUsers, postgres, service, pgcryptoByName bool
		require.NoError(t, rows.Scan(&name, &super, &definer, &config, &endUsers, &postgres, &service, &pgcryptoByName))
		n++
		require.True(t, super, "%s is owned by a superuser", name)
		require.True(t, definer, "%s is SECURITY DEFINER", name)
		require.Equal(t, `{"search_path=pg_catalog, pg_temp"}`, config, "%s pins search_path to pg_catalog, pg_temp", name)
		require.False(t, endUsers, "%s is executable by PUBLIC, anon or authenticated", name)
		require.False(t, pgcryptoByName, "%s calls pgcrypto by name at run time", name)
		want := false
		for _, g := range granted {
			want = want || g == name
		}
		require.Equal(t, want, postgres, "postgres EXECUTE on %s", name)
		require.Equal(t, want, service, "service_role EXECUTE on %s", name)
	}
	require.NoError(t, rows.Err())
	require.GreaterOrEqual(t, n, 10)
}

// compatBareDB is a database on the shared server with neither Vault nor
// pgcrypto, owned by a fresh role that is not a superuser, as an
// application role owns its database on plain PostgreSQL. In the attack
// tests below that owner is the attacker: it owns schema public (through
// pg_database_owner) and may create schemas.
type compatBareDB struct {
	name     string
	owner    string        // the database owner, LOGIN NOSUPERUSER
	admin    *pgxpool.Pool // connected as the superuser
	ownerDB  *pgxpool.Pool // connected as the owner
	adminURL string
	ownerURL string
	keyFile  string // the cluster's root key file
}

func newCompatBareDB(t *testing.T) *compatBareDB {
	t.Helper()
	ctx := context.Background()
	cluster := testserver.SharedServer(t).Cluster()
	if cluster == nil || cluster.KeyFile() == "" {
		t.Skip("needs a throwaway server with a root key file: VAULT_TEST_DATABASE_URL points at an existing database")
	}
	suffix := randomHex(t, 6)
	db := &compatBareDB{name: "credvault_bare_" + suffix, owner: "credvault_owner_" + suffix, keyFile: cluster.KeyFile()}
	root, err := pgx.Connect(ctx, cluster.AdminURL())
	require.NoError(t, err)
	defer root.Close(ctx)
	_, err = root.Exec(ctx, "CREATE ROLE "+secIdent(db.owner)+" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
	require.NoError(t, err)
	t.Cleanup(func() {
		root, err := pgx.Connect(ctx, cluster.AdminURL())
		if err != nil {
			t.Errorf("drop %s: %v", db.name, err)
			return
		}
		defer root.Close(ctx)
		for _, sql := range []string{
			"DROP DATABASE IF EXISTS " + secIdent(db.name) + " WITH (FORCE)",
			"DROP ROLE IF EXISTS " + secIdent(db.owner),
		} {
			if _, err := root.Exec(ctx, sql); err != nil {
				t.Errorf("%s: %v", sql, err)
			}
		}
	})
	_, err = root.Exec(ctx, "CREATE DATABASE "+secIdent(db.name)+" OWNER "+secIdent(db.owner))
	require.NoError(t, err)
	db.adminURL = cluster.URL(pgcluster.AdminUser, db.name)
	db.ownerURL = cluster.URL(db.owner, db.name)
	db.admin = connect(t, db.adminURL)
	db.ownerDB = connect(t, db.ownerURL)
	return db
}

// exec runs statements (no arguments: one simple-protocol query) on pool.
func (db *compatBareDB) exec(t *testing.T, pool *pgxpool.Pool, sql string) {
	t.Helper()
	_, err := pool.Exec(context.Background(), sql)
	require.NoError(t, err)
}

// plantLoot creates, as the owner, the table where planted code records
// that it ran, writable by everyone.
func (db *compatBareDB) plantLoot(t *testing.T) {
	t.Helper()
	db.exec(t, db.ownerDB, `CREATE SCHEMA loot;
GRANT USAGE ON SCHEMA loot TO PUBLIC;
CREATE TABLE loot.ran (fn text NOT NULL, ran_as name NOT NULL, key_bytes integer);
GRANT INSERT, SELECT ON loot.ran TO PUBLIC;`)
}

// plantPgcryptoWrappers creates, as the owner, look-alikes of the pgcrypto
// functions the layer calls in schema into, each of which records its
// caller and the length of the key it was handed, tries to make the owner
// a superuser, and then calls the real function in schema real.
func (db *compatBareDB) plantPgcryptoWrappers(t *testing.T, into, real string) {
	t.Helper()
	grab := `INSERT INTO loot.ran (fn, ran_as, key_bytes) VALUES (%s, current_user, pg_catalog.length(%s));
    BEGIN
        EXECUTE 'ALTER ROLE ` + secIdent(db.owner) + ` SUPERUSER';
    EXCEPTION WHEN OTHERS THEN NULL;
    END;`
	in, re := secIdent(into), secIdent(real)
	db.exec(t, db.ownerDB, fmt.Sprintf(`
CREATE FUNCTION %[1]s.hmac(data bytea, key bytea, alg text) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
    `+fmt.Sprintf(grab, "'hmac'", "key")+`
    RETURN %[2]s.hmac(data, key, alg);
END $$;
CREATE FUNCTION %[1]s.encrypt_iv(data bytea, key bytea, iv bytea, alg text) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
    `+fmt.Sprintf(grab, "'encrypt_iv'", "key")+`
    RETURN %[2]s.encrypt_iv(data, key, iv, alg);
END $$;
CREATE FUNCTION %[1]s.decrypt_iv(data bytea, key bytea, iv bytea, alg text) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
    `+fmt.Sprintf(grab, "'decrypt_iv'", "key")+`
    RETURN %[2]s.decrypt_iv(data, key, iv, alg);
END $$;
CREATE FUNCTION %[1]s.gen_random_bytes(n integer) RETURNS bytea LANGUAGE plpgsql AS $$
BEGIN
    `+fmt.Sprintf(grab, "'gen_random_bytes'", "''::bytea")+`
    RETURN %[2]s.gen_random_bytes(n);
END $$;`, in, re))
}

// requireNothingRan fails when planted code ran, or the owner became a
// superuser.
func (db *compatBareDB) requireNothingRan(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	var ran []string
	rows, err := db.admin.Query(ctx, "SELECT fn || ' as ' || ran_as FROM loot.ran ORDER BY 1")
	require.NoError(t, err)
	ran, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, ran, "planted functions ran (as the superuser, they received the root key)")
	var super bool
	require.NoError(t, db.admin.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = $1", db.owner).Scan(&super))
	require.False(t, super, "the database owner made itself a superuser")
}

// useCredentials stores, retrieves and rotates a credential as service_role
// through the functions in schema on pool.
func useCredentials(t *testing.T, pool *pgxpool.Pool, schema string) {
	t.Helper()
	ctx := context.Background()
	c, err := vault.New(pool, vault.WithSchema(schema), vault.WithRole("service_role"), quiet())
	require.NoError(t, err)
	id, _ := storeNew(t, c, "compat/attack/"+uuid.NewString())
	require.NoError(t, c.Rotate(ctx, id, newSecret()))
}

// requireNoVault fails when schema vault or the credential functions exist.
// superuser returns a client of db's superuser that installs the
// compatibility layer with db's key file.
func (db *compatBareDB) superuser(t *testing.T) *vault.Client {
	t.Helper()
	c, err := vault.New(db.admin, vault.WithCompatVault(db.keyFile), quiet())
	require.NoError(t, err)
	return c
}

// migrateOrRefuse runs Migrate with c and returns its error: when it
// fails, it must be ErrVaultUnavailable saying why, having installed
// nothing of Vault.
func (db *compatBareDB) migrateOrRefuse(t *testing.T, c *vault.Client, why string) error {
	t.Helper()
	err := c.Migrate(context.Background())
	if err != nil {
		require.ErrorIs(t, err, vault.ErrVaultUnavailable)
		require.Contains(t, err.Error(), why)
		db.requireNoVault(t)
	}
	return err
}

func (db *compatBareDB) requireNoVault(t *testing.T) {
	t.Helper()
	var n int
	require.NoError(t, db.admin.QueryRow(context.Background(), `
SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'vault')
     + (SELECT count(*) FROM pg_proc WHERE proname = 'store_credential')
     + (SELECT count(*) FROM pg_class WHERE relname = 'credvault_migrations')`).Scan(&n))
	require.Zero(t, n, "nothing of the layer or the credential functions is installed")
}

// TestCompatRefusesPgcryptoInOwnersSchema reproduces the attack on the
// layer through pgcrypto: pgcrypto is installed in public, which the
// database owner (not a superuser) controls; once the layer is installed
// the owner renames public, recreates it and plants hmac, encrypt_iv,
// decrypt_iv and gen_random_bytes wrappers. The layer must either refuse
// to install or never call them: no wrapper runs, so the root key never
// reaches the owner and the owner does not become a superuser.
func TestCompatRefusesPgcryptoInOwnersSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newCompatBareDB(t)
	db.exec(t, db.admin, "CREATE EXTENSION pgcrypto SCHEMA public")
	superuser := db.superuser(t)

	err := db.migrateOrRefuse(t, superuser,
		`pgcrypto is installed in schema "public", which is owned by pg_database_owner (the owner of the database, `+db.owner+`), which is not a superuser`)
	db.plantLoot(t)
	db.exec(t, db.ownerDB, "ALTER SCHEMA public RENAME TO public_orig; CREATE SCHEMA public; GRANT USAGE ON SCHEMA public TO PUBLIC")
	db.plantPgcryptoWrappers(t, "public", "public_orig")
	if err == nil {
		useCredentials(t, db.admin, vault.DefaultSchema)
	} else {
		require.ErrorIs(t, superuser.Migrate(ctx), vault.ErrVaultUnavailable, "pgcrypto's renamed schema is the owner's too")
		require.ErrorIs(t, vault.InstallCompatVault(ctx, db.admin, db.keyFile), vault.ErrVaultUnavailable)
		db.requireNoVault(t)
	}
	db.requireNothingRan(t)
}

// TestCompatRefusesOwnersExtensionsSchema is the same attack when pgcrypto
// is not installed yet and the database owner has created schema
// extensions, where the layer installs pgcrypto: the layer must not install
// into it, or must never call what the owner plants after renaming it.
func TestCompatRefusesOwnersExtensionsSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newCompatBareDB(t)
	db.exec(t, db.ownerDB, "CREATE SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO PUBLIC")
	superuser := db.superuser(t)

	err := db.migrateOrRefuse(t, superuser, "schema extensions")
	if err != nil {
		var pgcrypto int
		require.NoError(t, db.admin.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto'").Scan(&pgcrypto))
		require.Zero(t, pgcrypto, "pgcrypto is not installed into the owner's schema")
	}
	db.plantLoot(t)
	if err == nil {
		db.exec(t, db.ownerDB, "ALTER SCHEMA extensions RENAME TO extensions_orig; CREATE SCHEMA extensions; GRANT USAGE ON SCHEMA extensions TO PUBLIC")
		db.plantPgcryptoWrappers(t, "extensions", "extensions_orig")
		useCredentials(t, db.admin, vault.DefaultSchema)
	}
	db.requireNothingRan(t)
}

// TestCompatInstallsPgcryptoIntoItsOwnSchema installs the layer where
// pgcrypto is missing: pgcrypto lands in schema extensions, created by the
// superuser and closed to everybody else. The database owner then plants
// pgcrypto look-alikes in public and puts public first on the database's
// search_path; calls never reach them.
func TestCompatInstallsPgcryptoIntoItsOwnSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newCompatBareDB(t)
	superuser := db.superuser(t)
	require.NoError(t, superuser.Migrate(ctx))

	var schema, owner string
	var super, othersMayUse bool
	require.NoError(t, db.admin.QueryRow(ctx, `
SELECT n.nspname, pg_get_userbyid(n.nspowner), r.rolsuper,
       has_schema_privilege($1, n.oid, 'CREATE') OR has_schema_privilege($1, n.oid, 'USAGE')
  FROM pg_extension AS e JOIN pg_namespace AS n ON n.oid = e.extnamespace JOIN pg_roles AS r ON r.oid = n.nspowner
 WHERE e.extname = 'pgcrypto'`, db.owner).Scan(&schema, &owner, &super, &othersMayUse))
	require.Equal(t, "extensions", schema)
	require.Equal(t, pgcluster.AdminUser, owner)
	require.True(t, super)
	require.False(t, othersMayUse, "the database owner may neither create in nor use schema extensions")

	db.plantLoot(t)
	db.plantPgcryptoWrappers(t, "public", "extensions_unreachable") // bodies are never run
	db.exec(t, db.ownerDB, "ALTER DATABASE "+secIdent(db.name)+" SET search_path = public, pg_catalog")
	useCredentials(t, connect(t, db.adminURL), vault.DefaultSchema) // new sessions get the database's search_path
	db.requireNothingRan(t)
}

// TestCompatRefusesFakeVault has the database owner create a look-alike
// schema vault (secrets, decrypted_secrets, create_secret, update_secret,
// and the layer's own comment) before the first compat migration. Migrate,
// with or without WithCompatVault, and InstallCompatVault refuse it with
// ErrVaultUnavailable, install nothing, and never call the look-alikes.
func TestCompatRefusesFakeVault(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newCompatBareDB(t)
	db.plantLoot(t)
	plantFakeVault(t, db.ownerDB)

	superuser := db.superuser(t)
	err := superuser.Migrate(ctx)
	require.ErrorIs(t, err, vault.ErrVaultUnavailable)
	require.Contains(t, err.Error(), "which is not a superuser")
	err = vault.InstallCompatVault(ctx, db.admin, db.keyFile)
	require.ErrorIs(t, err, vault.ErrVaultUnavailable)

	owner, err := vault.New(db.ownerDB, vault.WithSchema("credentials"), quiet())
	require.NoError(t, err)
	require.ErrorIs(t, owner.Migrate(ctx), vault.ErrVaultUnavailable)

	var n int
	require.NoError(t, db.admin.QueryRow(ctx, `
SELECT (SELECT count(*) FROM pg_proc WHERE proname = 'store_credential')
     + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'vault'::regnamespace AND proowner <> $1::regrole)
     + (SELECT count(*) FROM pg_class WHERE relname = 'credvault_migrations')
     + (SELECT count(*) FROM pg_extension WHERE extname = 'pgcrypto')`, db.owner).Scan(&n))
	require.Zero(t, n, "nothing is installed next to or into the look-alike")
	db.requireNothingRan(t)
}

// plantFakeVault creates, as whoever pool connects as, a schema vault that
// looks like the compatibility layer, with functions that record their
// calls in loot.ran.
func plantFakeVault(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	_, err := pool.Exec(context.Background(), `
CREATE SCHEMA vault;
COMMENT ON SCHEMA vault IS 'Supabase Vault 0.3 compatible layer installed by github.com/credvault/vault (compat 2)';
GRANT USAGE ON SCHEMA vault TO PUBLIC;
CREATE TABLE vault.secrets (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text, description text NOT NULL DEFAULT '',
    secret text NOT NULL, key_id uuid, nonce bytea, created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now());
CREATE VIEW vault.decrypted_secrets AS SELECT s.*, s.secret AS decrypted_secret FROM vault.secrets AS s;
CREATE FUNCTION vault.create_secret(new_secret text, new_name text DEFAULT NULL, new_description text DEFAULT '',
    new_key_id uuid DEFAULT NULL) RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE v_id uuid;
BEGIN
    INSERT INTO loot.ran (fn, ran_as, key_bytes) VALUES ('create_secret', current_user, pg_catalog.length(new_secret));
    INSERT INTO vault.secrets (name, description, secret) VALUES (new_name, new_description, new_secret) RETURNING id INTO v_id;
    RETURN v_id;
END $$;
CREATE FUNCTION vault.update_secret(secret_id uuid, new_secret text DEFAULT NULL, new_name text DEFAULT NULL,
    new_description text DEFAULT NULL, new_key_id uuid DEFAULT NULL) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO loot.ran (fn, ran_as, key_bytes) VALUES ('update_secret', current_user, pg_catalog.length(new_secret));
END $$;
CREATE FUNCTION vault._crypto_aead_det_decrypt(message bytea, additional bytea, key_id bigint, context bytea DEFAULT 'pgsodium',
    nonce bytea DEFAULT NULL) RETURNS bytea LANGUAGE sql AS $$ SELECT message $$;
CREATE FUNCTION vault._compat_root_key() RETURNS bytea LANGUAGE sql AS $$ SELECT NULL::bytea $$;
GRANT ALL ON ALL TABLES IN SCHEMA vault TO PUBLIC;`)
	require.NoError(t, err)
}

// TestCompatIgnoresCallerTempTypes gives the caller, service_role,
// temporary domains named bytea, text and uuid whose CHECK records every
// value it sees, then stores, retrieves and rotates through the layer in
// the same session. The layer's functions, running as the superuser, must
// resolve the built-in types: with an empty search_path PostgreSQL looks
// type names up in the caller's pg_temp first, and the domain received the
// root key.
func TestCompatIgnoresCallerTempTypes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := newCompatBareDB(t)
	superuser := db.superuser(t)
	require.NoError(t, superuser.Migrate(ctx))

	tx := vaulttest.Tx(t, db.admin)
	_, err := tx.Exec(ctx, `SET LOCAL ROLE service_role;
CREATE TEMP TABLE ran (type text, ran_as name, bytes integer);
CREATE FUNCTION pg_temp.saw(p_type pg_catalog.text, p_bytes pg_catalog.int4) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO pg_temp.ran VALUES (p_type, current_user, p_bytes);
    RETURN true;
END $$;
CREATE DOMAIN pg_temp.bytea AS pg_catalog.bytea CHECK (pg_temp.saw('bytea', pg_catalog.length(VALUE)));
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.saw('text', pg_catalog.length(VALUE)));
CREATE DOMAIN pg_temp.uuid AS pg_catalog.uuid CHECK (pg_temp.saw('uuid', 16));
RESET ROLE;`)
	require.NoError(t, err)
	c, err := vault.New(tx, vault.WithRole("service_role"), quiet())
	require.NoError(t, err)
	id, _ := storeNew(t, c, "compat/temp-types/"+uuid.NewString())
	require.NoError(t, c.Rotate(ctx, id, newSecret()))

	rows, err := tx.Query(ctx, "SELECT type || ' seen by ' || ran_as FROM pg_temp.ran")
	require.NoError(t, err)
	seen, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Empty(t, seen, "the layer used the caller's temporary types")
}

// compat1SQL returns the compatibility layer as compat 1 shipped, rendered
// for pgcrypto in schema extensions and keyFile.
func compat1SQL(t *testing.T, keyFile string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/compat1_vault.sql")
	require.NoError(t, err)
	return strings.NewReplacer("@pgcrypto@", `"extensions"`, "@keyfile@", quoteLiteral(keyFile)).Replace(string(b))
}

// TestCompatUpgradesOlderLayer installs compat 1, stores a credential
// under it, and upgrades with Migrate: a key file that does not decrypt the
// stored secrets is refused and leaves compat 1 in place; the right one
// upgrades to the current layer in place, whose functions pin their
// search_path, and the earlier credential still decrypts.
func TestCompatUpgradesOlderLayer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	adminURL, _ := plainDatabase(t) // pgcrypto in schema extensions, owned by the superuser
	pool := connect(t, adminURL)
	keyFile := testserver.SharedServer(t).Cluster().KeyFile()
	_, err := pool.Exec(ctx, compat1SQL(t, keyFile))
	require.NoError(t, err)

	logs := &logBuffer{}
	owner, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	require.NoError(t, err)
	require.NoError(t, owner.Migrate(ctx), "compat 1 is still Vault")
	require.Contains(t, logs.String(), "compatibility layer compat 1 is outdated")
	c, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"), quiet())
	require.NoError(t, err)
	secret := newSecret()
	id, err := c.Store(ctx, "compat/upgrade/"+uuid.NewString(), secret, "")
	require.NoError(t, err)

	comment := func() string {
		var s string
		require.NoError(t, pool.QueryRow(ctx, "SELECT obj_description('vault'::regnamespace, 'pg_namespace')").Scan(&s))
		return s
	}
	otherKey := filepath.Join(filepath.Dir(keyFile), "other-"+randomHex(t, 4)+".key")
	require.NoError(t, os.WriteFile(otherKey, []byte(hex.EncodeToString(randomBytes(t, 32))), 0o600))
	t.Cleanup(func() { _ = os.Remove(otherKey) })
	if os.Geteuid() == 0 {
		fi, err := os.Stat(keyFile)
		require.NoError(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		require.NoError(t, os.Chown(otherKey, int(st.Uid), int(st.Gid)))
	}
	wrong, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithCompatVault(otherKey), quiet())
	require.NoError(t, err)
	require.ErrorIs(t, wrong.Migrate(ctx), vault.ErrDecryption, "a key file that does not decrypt the stored secrets")
	require.True(t, strings.HasSuffix(comment(), "(compat 1)"), "a failed upgrade leaves the layer as it was")

	upgrade, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithCompatVault(keyFile), quiet())
	require.NoError(t, err)
	require.NoError(t, upgrade.Migrate(ctx))
	require.True(t, strings.HasSuffix(comment(), "(compat 2)"), comment())
	got, err := c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == secret, "the credential stored under compat 1 decrypts after the upgrade")
	require.NoError(t, upgrade.Migrate(ctx), "a second run finds nothing to do")
	compatFunctionsClosed(t, pool)
}
