package vault_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/cli"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

// This file proves the privilege model: who may call which function and
// touch which table (TestRoleMatrix), that the catalog keeps every function
// of the schema SECURITY DEFINER, pinned and closed (TestCatalogPrivileges),
// and that a caller's search_path cannot redirect the functions to objects
// of its own (TestSearchPathAttacks).

// secIdent quotes an identifier.
func secIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// secProbe runs exec as role in a savepoint of tx that is always rolled back,
// so a successful probe changes nothing, and returns the SQLSTATE of the
// failure, or "" on success.
func secProbe(t *testing.T, tx pgx.Tx, role string, exec func(ctx context.Context, tx pgx.Tx) error) string {
	t.Helper()
	ctx := context.Background()
	sp, err := tx.Begin(ctx)
	require.NoError(t, err)
	defer func() { require.NoError(t, sp.Rollback(ctx)) }()
	_, err = sp.Exec(ctx, "SELECT pg_catalog.set_config('role', $1, true)", role)
	require.NoError(t, err)
	err = exec(ctx, sp)
	if err == nil {
		return ""
	}
	code := sqlstate(err)
	require.NotEmpty(t, code, "the probe failed without a server error: %v", err)
	return code
}

// secExec returns a probe running each statement in turn, the last one with
// args. Statements are parsed anew each time (no statement cache), so every
// probe meets every permission check as the role it runs as.
func secExec(stmts []string, args ...any) func(context.Context, pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		for i, s := range stmts {
			a := []any{pgx.QueryExecModeExec}
			if i == len(stmts)-1 {
				a = append(a, args...)
			}
			if _, err := tx.Exec(ctx, s, a...); err != nil {
				return err
			}
		}
		return nil
	}
}

// secSQL returns a probe running one statement.
func secSQL(sql string, args ...any) func(context.Context, pgx.Tx) error {
	return secExec([]string{sql}, args...)
}

// The roles of the matrix. secPublic stands for PUBLIC: a fresh role with
// no grants, which holds exactly what PUBLIC holds.
const (
	secPublic  = "PUBLIC"
	secOwner   = testserver.OwnerRole
	secService = "service_role"
)

var secMatrixRoles = []string{secPublic, "anon", "authenticated", secService, secOwner}

type secMatrixRow struct {
	object  string
	op      string
	probe   func(context.Context, pgx.Tx) error
	allowed []string // roles for which the probe succeeds; every other role gets 42501
}

// TestRoleMatrix calls every function and touches every table the product
// creates or depends on as each role, and asserts exactly who succeeds and
// who gets SQLSTATE 42501. It runs twice: as installed, and with USAGE on
// the product schema and on schema vault granted to PUBLIC (a schema exposed
// through the API), where only the objects' own grants stand in the way.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t) // TRUNCATE probes lock tables: keep them away from the shared database
	s := secIdent(db.Schema)
	tx := vaulttest.Tx(t, db.Pool)

	// A stand-in for PUBLIC: a role with no grants that postgres may SET ROLE to.
	public := "credvault_public_" + randomHex(t, 4)
	_, err := tx.Exec(ctx, "CREATE ROLE "+secIdent(public)+" NOLOGIN NOINHERIT")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "GRANT "+secIdent(public)+" TO "+secIdent(secOwner))
	require.NoError(t, err)
	sqlRole := func(role string) string {
		if role == secPublic {
			return public
		}
		return role
	}

	owner, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)
	id, err := owner.Store(ctx, "matrix/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	guardName := "public.credvault_matrix_" + randomHex(t, 4)
	_, err = tx.Exec(ctx, "CREATE TABLE "+guardName+" (v text)")
	require.NoError(t, err)
	var guardTable uint32 // an oid, so that no role needs to look the name up
	require.NoError(t, tx.QueryRow(ctx, "SELECT $1::regclass::oid", guardName).Scan(&guardTable))

	exists := func(sig string) bool {
		var ok bool
		require.NoError(t, tx.QueryRow(ctx, "SELECT pg_catalog.to_regprocedure($1) IS NOT NULL", sig).Scan(&ok))
		return ok
	}
	both := []string{secOwner, secService}
	owners := []string{secOwner}
	var none []string

	rows := []secMatrixRow{
		{"store_credential", "EXECUTE", secSQL("SELECT "+s+".store_credential($1, $2, '')", "matrix/"+uuid.NewString(), newSecret()), both},
		{"retrieve_credential", "EXECUTE", secSQL("SELECT "+s+".retrieve_credential($1)", id), both},
		{"rotate_credential", "EXECUTE", secSQL("SELECT "+s+".rotate_credential($1, $2)", id, newSecret()), both},
		{"delete_credential", "EXECUTE", secSQL("SELECT "+s+".delete_credential($1)", id), both},
		{"list_credentials", "EXECUTE", secSQL("SELECT count(*) FROM " + s + ".list_credentials(NULL, NULL, 10)"), both},
		{"credential_store", "EXECUTE", secSQL("SELECT "+s+".credential_store('', $1, $2, '')", "matrix/"+uuid.NewString(), newSecret()), both},
		{"credential_put", "EXECUTE", secSQL("SELECT id FROM "+s+".credential_put('', $1, $2, '')", "matrix/"+uuid.NewString(), newSecret()), both},
		{"credential_lookup", "EXECUTE", secSQL("SELECT count(*) FROM "+s+".credential_lookup('', (SELECT name FROM vault.secrets WHERE id = $1))", id), both},
		{"credential_retrieve", "EXECUTE", secSQL("SELECT "+s+".credential_retrieve('', $1)", id), both},
		{"credential_read", "EXECUTE", secSQL("SELECT secret FROM "+s+".credential_read('', $1)", id), both},
		{"credential_retrieve_many", "EXECUTE", secSQL("SELECT count(*) FROM "+s+".credential_retrieve_many('', ARRAY[$1::uuid])", id), both},
		{"credential_rotate", "EXECUTE", secSQL("SELECT "+s+".credential_rotate('', $1, $2, NULL)", id, newSecret()), both},
		{"credential_rollback", "EXECUTE", secSQL("SELECT "+s+".credential_rotate('', $1, $2, NULL), "+s+".credential_rollback('', $1, NULL)", id, newSecret()), both},
		{"credential_update", "EXECUTE", secSQL("SELECT count(*) FROM "+s+".credential_update('', $1, NULL, 'matrix', NULL)", id), both},
		{"credential_list", "EXECUTE", secSQL("SELECT count(*) FROM " + s + ".credential_list('', NULL, NULL, NULL, NULL, NULL, NULL, 10)"), both},
		{"credential_refresh", "EXECUTE", secSQL("SELECT "+s+".credential_refresh_finish('', $1, (SELECT version FROM "+s+
			".credential_refresh_begin('', $1)), $2)", id, newSecret()), both},
		{"credential_delete", "EXECUTE", secSQL("SELECT "+s+".credential_delete('', $1)", uuid.New()), both},
		{"_credential_write", "EXECUTE", secSQL("SELECT "+s+"._credential_write($1, $2, NULL, 'forged')", id, newSecret()), owners},
		{"_credential_audit", "EXECUTE", secSQL("SELECT "+s+"._credential_audit($1, 'forged')", id), owners},
		{"_credential_jwt_claim", "EXECUTE", secSQL("SELECT " + s + "._credential_jwt_claim('role')"), owners},
		{"guard_plaintext_credentials", "EXECUTE", secSQL("SELECT "+s+".guard_plaintext_credentials($1::oid::regclass)", guardTable), owners},
		// A trigger function cannot be called directly; attaching it needs EXECUTE.
		{"reject_plaintext_credentials", "EXECUTE (CREATE TRIGGER)", secExec([]string{
			"CREATE TEMP TABLE credvault_trigger_probe (v text)",
			"CREATE TRIGGER probe BEFORE INSERT ON credvault_trigger_probe FOR EACH ROW EXECUTE FUNCTION " + s + ".reject_plaintext_credentials()",
		}), owners},
	}
	if exists(db.Schema + ".plaintext_credential_kind(text)") {
		rows = append(rows, secMatrixRow{"plaintext_credential_kind", "EXECUTE",
			secSQL("SELECT "+s+".plaintext_credential_kind($1)", newSecret()), owners})
	}
	for _, table := range []string{"vault_access_log", "credvault_migrations", "vault_credentials"} {
		q := s + "." + table
		insert := "INSERT INTO " + q + " (secret_id, session_user_name, current_user_name) VALUES (gen_random_uuid(), 'forged', 'forged')"
		update := "UPDATE " + q + " SET jwt_sub = 'forged'"
		switch table {
		case "credvault_migrations":
			insert = "INSERT INTO " + q + " (version, name, checksum) VALUES (1000000, 'forged', 'forged')"
			update = "UPDATE " + q + " SET checksum = 'forged'"
		case "vault_credentials":
			insert = "INSERT INTO " + q + " (id, name) VALUES (gen_random_uuid(), 'forged')"
			update = "UPDATE " + q + " SET namespace = 'forged'"
		}
		rows = append(rows,
			secMatrixRow{table, "SELECT", secSQL("SELECT count(*) FROM " + q), owners},
			secMatrixRow{table, "INSERT", secSQL(insert), owners},
			secMatrixRow{table, "UPDATE", secSQL(update), owners},
			secMatrixRow{table, "DELETE", secSQL("DELETE FROM " + q), owners},
			secMatrixRow{table, "TRUNCATE", secSQL("TRUNCATE " + q), owners})
	}
	rows = append(rows,
		// Supabase's grants on Vault, which the functions rely on and which
		// must not reach end users.
		secMatrixRow{"vault.secrets", "SELECT", secSQL("SELECT secret FROM vault.secrets WHERE id = $1", id), both},
		secMatrixRow{"vault.secrets", "INSERT", secSQL("INSERT INTO vault.secrets (secret) VALUES ('x')"), none},
		secMatrixRow{"vault.secrets", "UPDATE", secSQL("UPDATE vault.secrets SET description = 'forged' WHERE id = $1", id), none},
		secMatrixRow{"vault.secrets", "DELETE", secSQL("DELETE FROM vault.secrets WHERE id = $1", id), both},
		secMatrixRow{"vault.decrypted_secrets", "SELECT", secSQL("SELECT decrypted_secret FROM vault.decrypted_secrets WHERE id = $1", id), both},
		secMatrixRow{"vault.decrypted_secrets", "INSERT", secSQL("INSERT INTO vault.decrypted_secrets (secret) VALUES ('x')"), none},
		secMatrixRow{"vault.decrypted_secrets", "UPDATE", secSQL("UPDATE vault.decrypted_secrets SET description = 'forged' WHERE id = $1", id), none},
		secMatrixRow{"vault.decrypted_secrets", "DELETE", secSQL("DELETE FROM vault.decrypted_secrets WHERE id = $1", id), both},
		secMatrixRow{"vault.create_secret", "EXECUTE", secSQL("SELECT vault.create_secret($1)", newSecret()), both},
		secMatrixRow{"vault.update_secret", "EXECUTE", secSQL("SELECT vault.update_secret($1, $2)", id, newSecret()), both},
	)
	if db.AdminURL != "" {
		// Only where vault.secrets is this test's own: TRUNCATE waits for
		// every other transaction that touched the table.
		rows = append(rows, secMatrixRow{"vault.secrets", "TRUNCATE", secSQL("TRUNCATE vault.secrets"), owners})
	}
	if exists("vault._crypto_aead_det_noncegen()") {
		rows = append(rows, secMatrixRow{"vault._crypto_aead_det_noncegen", "EXECUTE", secSQL("SELECT vault._crypto_aead_det_noncegen()"), none})
	}
	if exists("vault._compat_root_key()") { // the compatibility layer's key reader
		rows = append(rows, secMatrixRow{"vault._compat_root_key", "EXECUTE", secSQL("SELECT vault._compat_root_key()"), none})
	}

	check := func(t *testing.T) {
		for _, row := range rows {
			for _, role := range secMatrixRoles {
				want := "42501"
				if slices.Contains(row.allowed, role) {
					want = ""
				}
				got := secProbe(t, tx, sqlRole(role), row.probe)
				require.Equal(t, want, got, "%s %s as %s: want SQLSTATE %q (empty = success)", row.object, row.op, role, want)
			}
		}
	}
	t.Run("as installed", check)
	_, err = tx.Exec(ctx, "GRANT USAGE ON SCHEMA "+s+", vault TO PUBLIC")
	require.NoError(t, err)
	t.Run("schemas exposed", check)
}

// TestCatalogPrivileges checks the catalog rather than calls, so that a
// function or table added later without the same care fails here: every
// function of the product schema is SECURITY DEFINER, owned by the
// migration role, pins search_path with pg_temp last and only schemas
// nobody else may create in, and is executable by nobody but the owner and,
// for the credential API alone, service_role; no table or sequence grants
// anything to PUBLIC or the API roles; only service_role may use the schema.
func TestCatalogPrivileges(t *testing.T) {
	t.Parallel()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	require.Empty(t, secCatalogViolations(t, tx, db.Schema))
}

// TestCatalogPrivilegesInPublicSchema installs into schema public, where
// Supabase's default privileges grant everything postgres creates to anon,
// authenticated and service_role, and checks that the migrations revoke
// every one of those grants.
func TestCatalogPrivilegesInPublicSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	if db.AdminURL == "" {
		t.Skip("installs into schema public: needs a throwaway database, not VAULT_TEST_DATABASE_URL")
	}
	c, err := vault.New(db.Pool, vault.WithSchema("public"), quiet())
	require.NoError(t, err)
	require.NoError(t, c.Migrate(ctx))
	tx := vaulttest.Tx(t, db.Pool)
	// In public, Supabase's default privileges grant anon, authenticated and
	// service_role everything on new tables and sequences (the access log's
	// identity sequence included): the migrations must revoke it all.
	require.Empty(t, secCatalogViolations(t, tx, "public"))
}

// secCatalogViolations lists every way the product schema departs from the
// privilege model. Objects belonging to extensions are not the product's
// and are left out.
func secCatalogViolations(t *testing.T, tx pgx.Tx, schema string) []string {
	t.Helper()
	ctx := context.Background()
	var violations []string
	addf := func(format string, args ...any) { violations = append(violations, fmt.Sprintf(format, args...)) }
	apiRoles := []string{"public", "anon", "authenticated", secService}
	credentialAPI := []string{"store_credential", "retrieve_credential", "rotate_credential", "delete_credential", "list_credentials",
		"credential_store", "credential_retrieve", "credential_rotate", "credential_delete", "credential_list", "credential_put",
		"credential_lookup", "credential_read", "credential_rollback", "credential_update", "credential_refresh_begin",
		"credential_refresh_finish", "credential_retrieve_many"}

	rows, err := tx.Query(ctx, `
SELECT p.oid::regprocedure::text, p.proname, p.prosecdef, pg_get_userbyid(p.proowner),
       coalesce((SELECT pg_catalog.substr(c, 13) FROM pg_catalog.unnest(p.proconfig) AS c
                  WHERE c LIKE 'search_path=%'), ''),
       has_function_privilege('public', p.oid, 'EXECUTE'),
       has_function_privilege('anon', p.oid, 'EXECUTE'),
       has_function_privilege('authenticated', p.oid, 'EXECUTE'),
       has_function_privilege('service_role', p.oid, 'EXECUTE')
  FROM pg_proc AS p
 WHERE p.pronamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1)
   AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
 ORDER BY 1`, schema)
	require.NoError(t, err)
	type fn struct {
		sig, name, owner, path            string
		definer, pub, anon, auth, service bool
	}
	var fns []fn
	for rows.Next() {
		var f fn
		require.NoError(t, rows.Scan(&f.sig, &f.name, &f.definer, &f.owner, &f.path, &f.pub, &f.anon, &f.auth, &f.service))
		fns = append(fns, f)
	}
	require.NoError(t, rows.Err())
	require.NotEmpty(t, fns, "no functions in schema %s", schema)
	seen := map[string]bool{}
	for _, f := range fns {
		seen[f.name] = true
		if !f.definer {
			addf("function %s: not SECURITY DEFINER", f.sig)
		}
		if f.owner != secOwner {
			addf("function %s: owned by %s, not the migration role %s", f.sig, f.owner, secOwner)
		}
		path := strings.Split(f.path, ",")
		for i := range path {
			path[i] = strings.Trim(strings.TrimSpace(path[i]), `"`)
		}
		if f.path == "" || path[len(path)-1] != "pg_temp" {
			addf("function %s: search_path %q does not end with pg_temp", f.sig, f.path)
		}
		for _, sch := range path[:len(path)-1] {
			for _, role := range apiRoles {
				var create bool
				require.NoError(t, tx.QueryRow(ctx, "SELECT coalesce(bool_or(has_schema_privilege($1, n.oid, 'CREATE')), false) "+
					"FROM pg_namespace AS n WHERE n.nspname = $2", role, sch).Scan(&create))
				if create {
					addf("function %s: %s may create objects in schema %s of its search_path", f.sig, role, sch)
				}
			}
		}
		if f.pub || f.anon || f.auth {
			addf("function %s: executable by PUBLIC (%v), anon (%v) or authenticated (%v)", f.sig, f.pub, f.anon, f.auth)
		}
		if want := slices.Contains(credentialAPI, f.name); f.service != want {
			addf("function %s: service_role EXECUTE is %v, want %v", f.sig, f.service, want)
		}
	}
	for _, name := range credentialAPI {
		if !seen[name] {
			addf("function %s is missing", name)
		}
	}

	rows, err = tx.Query(ctx, `
SELECT c.relname, c.relkind::text, r.rolname,
       CASE WHEN c.relkind = 'S'
            THEN has_sequence_privilege(r.rolname, c.oid, 'USAGE, SELECT, UPDATE')
            ELSE has_table_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')
                 OR has_any_column_privilege(r.rolname, c.oid, 'SELECT, INSERT, UPDATE, REFERENCES')
       END
  FROM pg_class AS c
 CROSS JOIN unnest($2::text[]) AS r(rolname)
 WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = $1) AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
   AND NOT EXISTS (SELECT FROM pg_depend AS d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1, 3`, schema, apiRoles)
	require.NoError(t, err)
	tables := 0
	for rows.Next() {
		var name, kind, role string
		var granted bool
		require.NoError(t, rows.Scan(&name, &kind, &role, &granted))
		tables++
		if granted {
			what := "table"
			if kind == "S" {
				what = "sequence"
			}
			addf("%s %s: %s holds privileges on it", what, name, role)
		}
	}
	require.NoError(t, rows.Err())
	require.NotZero(t, tables)

	if schema != "public" { // public's own grants are Supabase's, not the product's
		for _, role := range apiRoles {
			var usage, create bool
			require.NoError(t, tx.QueryRow(ctx, "SELECT has_schema_privilege($1, n.oid, 'USAGE'), has_schema_privilege($1, n.oid, 'CREATE') "+
				"FROM pg_namespace AS n WHERE n.nspname = $2", role, schema).Scan(&usage, &create))
			if create {
				addf("schema %s: %s may create in it", schema, role)
			}
			if usage != (role == secService) {
				addf("schema %s: USAGE for %s is %v", schema, role, usage)
			}
		}
	}
	return violations
}

// TestSearchPathAttacks gives service_role, the caller, every way to put
// objects of its own in front of the ones the functions mean: temporary
// tables named like the product's and Vault's relations, and, in a schema
// it owns placed first on its search_path (before pg_catalog too), look-alike
// functions and operators that record every call and return forged results
// (an always-true uuid =, a forged now(), a key-file reader returning a key
// of its choosing...). Every function must still use the real objects: the
// look-alikes are never called, the real access log gets the rows,
// rotate and delete touch only the intended id, retrieve returns the
// right value.
func TestSearchPathAttacks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	s := secIdent(db.Schema)
	tx := vaulttest.Tx(t, db.Pool)
	owner, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)
	c, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)

	prefix := "searchpath-" + uuid.NewString() + "/"
	secretA, secretB := newSecret(), newSecret()
	idA, err := owner.Store(ctx, prefix+"a", secretA, "")
	require.NoError(t, err)
	idB, err := owner.Store(ctx, prefix+"b", secretB, "")
	require.NoError(t, err)

	attacker := "attacker_" + randomHex(t, 4)
	a := secIdent(attacker)
	_, err = tx.Exec(ctx, "CREATE SCHEMA "+a+" AUTHORIZATION service_role")
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT pg_catalog.set_config('role', 'service_role', true)")
	require.NoError(t, err)
	// Everything below is created by service_role itself.
	setup := strings.NewReplacer("@a@", a, "@target@", idA.String()).Replace(`
-- Each call is recorded twice: by name, and in a sequence, which keeps
-- counting when the call's transaction or savepoint rolls back.
CREATE TABLE @a@.hits (fn text NOT NULL);
CREATE SEQUENCE @a@.hit_count;
GRANT ALL ON @a@.hits, @a@.hit_count TO PUBLIC;
GRANT USAGE ON SCHEMA @a@ TO PUBLIC;
CREATE FUNCTION @a@.hit(fn text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_catalog.nextval('@a@.hit_count'); INSERT INTO @a@.hits VALUES (fn) $$;

CREATE FUNCTION @a@.now() RETURNS timestamptz LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('now'); RETURN '2000-01-01'; END $$;
CREATE FUNCTION @a@.gen_random_uuid() RETURNS uuid LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('gen_random_uuid'); RETURN '@target@'; END $$;
CREATE FUNCTION @a@.gen_random_bytes(integer) RETURNS bytea LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('gen_random_bytes'); RETURN '\x00000000000000000000000000000000'; END $$;
CREATE FUNCTION @a@.convert_from(bytea, name) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('convert_from'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.convert_to(text, name) RETURNS bytea LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('convert_to'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.encode(bytea, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('encode'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.decode(text, text) RETURNS bytea LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('decode'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.current_setting(text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('current_setting'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.current_setting(text, boolean) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('current_setting'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.set_config(text, text, boolean) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('set_config'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.inet_client_addr() RETURNS inet LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('inet_client_addr'); RETURN '192.0.2.66'; END $$;
CREATE FUNCTION @a@.host(inet) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('host'); RETURN '192.0.2.66'; END $$;
CREATE FUNCTION @a@.left(text, integer) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('left'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.replace(text, text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('replace'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.length(text) RETURNS integer LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('length'); RETURN 0; END $$;
CREATE FUNCTION @a@.length(bytea) RETURNS integer LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('length'); RETURN 0; END $$;
CREATE FUNCTION @a@.starts_with(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('starts_with'); RETURN true; END $$;
CREATE FUNCTION @a@."coalesce"(text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('coalesce'); RETURN 'forged'; END $$;
CREATE FUNCTION @a@.pg_read_file(text, bigint, bigint, boolean) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('pg_read_file'); RETURN repeat('0', 64); END $$;
CREATE FUNCTION @a@.btrim(text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('btrim'); RETURN repeat('0', 64); END $$;

CREATE FUNCTION @a@.uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('uuid ='); RETURN true; END $$;
CREATE OPERATOR @a@.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = @a@.uuid_eq);
CREATE FUNCTION @a@.text_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('text ='); RETURN true; END $$;
CREATE OPERATOR @a@.= (LEFTARG = text, RIGHTARG = text, FUNCTION = @a@.text_eq);
CREATE FUNCTION @a@.text_ne(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('text <>'); RETURN false; END $$;
CREATE OPERATOR @a@.<> (LEFTARG = text, RIGHTARG = text, FUNCTION = @a@.text_ne);
CREATE FUNCTION @a@.text_cat(text, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('text ||'); RETURN 'forged'; END $$;
CREATE OPERATOR @a@.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = @a@.text_cat);
CREATE FUNCTION @a@.jsonb_field(jsonb, text) RETURNS text LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('jsonb ->>'); RETURN 'forged'; END $$;
CREATE OPERATOR @a@.->> (LEFTARG = jsonb, RIGHTARG = text, FUNCTION = @a@.jsonb_field);
CREATE FUNCTION @a@.ts_lt(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('timestamptz <'); RETURN true; END $$;
CREATE OPERATOR @a@.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = @a@.ts_lt);
CREATE FUNCTION @a@.text_nregex(text, text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN PERFORM @a@.hit('text !~'); RETURN false; END $$;
CREATE OPERATOR @a@.!~ (LEFTARG = text, RIGHTARG = text, FUNCTION = @a@.text_nregex);

-- Look-alike relations, in the attacker's schema and as temporary tables.
CREATE TABLE @a@.vault_access_log (id bigint, secret_id uuid, accessed_at timestamptz, session_user_name text, current_user_name text,
                                   jwt_role text, jwt_sub text, application_name text, client_addr inet);
CREATE TABLE @a@.secrets (id uuid, name text, description text, secret text, key_id uuid, nonce bytea, created_at timestamptz, updated_at timestamptz);
CREATE TABLE @a@.decrypted_secrets (id uuid, name text, description text, secret text, decrypted_secret text, key_id uuid, nonce bytea,
                                    created_at timestamptz, updated_at timestamptz);
INSERT INTO @a@.decrypted_secrets (id, decrypted_secret) VALUES ('@target@', 'forged');
CREATE TEMP TABLE vault_access_log (LIKE @a@.vault_access_log);
CREATE TEMP TABLE secrets (LIKE @a@.secrets);
CREATE TEMP TABLE decrypted_secrets (LIKE @a@.decrypted_secrets);
INSERT INTO pg_temp.decrypted_secrets (id, decrypted_secret) VALUES ('@target@', 'forged');
`)
	_, err = tx.Exec(ctx, setup)
	require.NoError(t, err)
	_, err = tx.Exec(ctx, "SELECT pg_catalog.set_config('role', 'none', true)")
	require.NoError(t, err)
	hitCount := func(db vault.DB) int {
		t.Helper()
		var n int
		require.NoError(t, db.QueryRow(ctx, "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM "+a+".hit_count").Scan(&n))
		return n
	}

	for _, path := range []string{
		"attacker, pg_temp, public",
		"attacker, pg_catalog, pg_temp, public",
		"pg_temp, attacker, pg_catalog, public",
	} {
		t.Run(path, func(t *testing.T) {
			path := strings.Replace(path, "attacker", a, 1)
			sp, err := tx.Begin(ctx)
			require.NoError(t, err)
			defer sp.Rollback(ctx)
			clean := func(fn func() error) {
				t.Helper()
				// Inspect with the default search_path, as the owner.
				_, err := sp.Exec(ctx, `SELECT pg_catalog.set_config('search_path', '"$user", public', true)`)
				require.NoError(t, err)
				require.NoError(t, fn())
				_, err = sp.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, true)", path)
				require.NoError(t, err)
			}
			_, err = sp.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, true)", path)
			require.NoError(t, err)
			var before int
			clean(func() error {
				return sp.QueryRow(ctx, "SELECT count(*) FROM "+s+".vault_access_log WHERE secret_id = $1 AND op = 'retrieve'", idA).Scan(&before)
			})

			got, err := c.Retrieve(ctx, idA)
			require.NoError(t, err)
			require.True(t, got == secretA, "retrieve returned another value than the credential's")

			secretC := newSecret()
			idC, err := c.Store(ctx, prefix+"c", secretC, "")
			require.NoError(t, err)
			require.NotEqual(t, idA, idC, "the id comes from the real gen_random_uuid")

			rotated := newSecret()
			require.NoError(t, c.Rotate(ctx, idA, rotated))
			list, err := c.List(ctx, vault.ListFilter{NamePrefix: prefix})
			require.NoError(t, err)
			require.Len(t, list, 3)
			require.NoError(t, c.Delete(ctx, idC))

			// The lifecycle calls, through the same search_path.
			put, err := c.Put(ctx, prefix+"put", newSecret(), "")
			require.NoError(t, err)
			_, err = c.Put(ctx, prefix+"put", newSecret(), "again")
			require.NoError(t, err)
			_, err = c.Lookup(ctx, prefix+"put")
			require.NoError(t, err)
			_, err = c.Read(ctx, put.ID)
			require.NoError(t, err)
			require.NoError(t, c.Rotate(ctx, put.ID, newSecret(), vault.IfVersion(2)))
			require.ErrorIs(t, c.Rotate(ctx, put.ID, newSecret(), vault.IfVersion(2)), vault.ErrVersionMismatch)
			require.NoError(t, c.Rollback(ctx, put.ID))
			renamed, expires := prefix+"renamed", time.Now().Add(time.Hour)
			_, err = c.Update(ctx, put.ID, vault.CredentialUpdate{Name: &renamed, Description: &renamed, ExpiresAt: &expires})
			require.NoError(t, err)
			_, err = c.Refresh(ctx, put.ID, func(context.Context, vault.Secret) (string, error) { return newSecret(), nil })
			require.NoError(t, err)
			for _, f := range []vault.ListFilter{{NamePrefix: prefix, After: put.Cursor()}, {ExpiresBefore: expires.Add(time.Hour)}} {
				_, err = c.List(ctx, f)
				require.NoError(t, err)
			}
			require.NoError(t, c.Delete(ctx, put.ID))

			clean(func() error {
				var hits []string
				rows, err := sp.Query(ctx, "SELECT fn FROM "+a+".hits ORDER BY 1")
				if err == nil {
					hits, err = pgx.CollectRows(rows, pgx.RowTo[string])
				}
				require.NoError(t, err)
				require.Empty(t, hits, "look-alike functions or operators were called")
				require.Zero(t, hitCount(sp), "look-alike functions or operators were called")
				for _, shadow := range []string{a + ".vault_access_log", "pg_temp.vault_access_log", a + ".secrets", "pg_temp.secrets"} {
					var n int
					require.NoError(t, sp.QueryRow(ctx, "SELECT count(*) FROM "+shadow).Scan(&n))
					require.Zero(t, n, "%s was written to", shadow)
				}
				var after int
				var role, addr *string
				require.NoError(t, sp.QueryRow(ctx, "SELECT count(*), max(current_user_name), max(host(client_addr)) FROM "+s+
					".vault_access_log WHERE secret_id = $1 AND op = 'retrieve'", idA).Scan(&after, &role, &addr))
				require.Equal(t, before+1, after, "the real access log got the row")
				require.Equal(t, secService, *role)
				if addr != nil {
					require.NotEqual(t, "192.0.2.66", *addr)
				}

				got := map[uuid.UUID]string{}
				rows, err = sp.Query(ctx, "SELECT id, decrypted_secret FROM vault.decrypted_secrets WHERE id = ANY($1)",
					[]uuid.UUID{idA, idB, idC})
				require.NoError(t, err)
				var id uuid.UUID
				var v string
				_, err = pgx.ForEachRow(rows, []any{&id, &v}, func() error { got[id] = v; return nil })
				require.NoError(t, err)
				require.Len(t, got, 2, "delete removed exactly the intended credential")
				require.True(t, got[idA] == rotated, "rotate changed the intended credential")
				require.True(t, got[idB] == secretB, "rotate left the other credential alone")
				return nil
			})
		})
	}

	// The plaintext guard runs as its owner inside the caller's INSERT.
	t.Run("plaintext guard", func(t *testing.T) {
		sp, err := tx.Begin(ctx)
		require.NoError(t, err)
		defer sp.Rollback(ctx)
		table := "public.credvault_guarded_" + randomHex(t, 4)
		_, err = sp.Exec(ctx, "CREATE TABLE "+table+" (api_key text); GRANT INSERT ON "+table+" TO service_role; SELECT "+
			s+".guard_plaintext_credentials('"+table+"')")
		require.NoError(t, err)
		_, err = sp.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, true)", a+", pg_catalog, pg_temp, public")
		require.NoError(t, err)
		insert := "INSERT INTO " + table + " (api_key) VALUES ($1)"
		for _, role := range []string{secOwner, secService} {
			require.Equal(t, "VA001", secProbe(t, sp, role, secSQL(insert, "sk_"+"live_"+secAlnum(t, 32))), "as %s", role)
			require.Empty(t, secProbe(t, sp, role, secSQL(insert, uuid.NewString())), "as %s", role)
		}
		require.Zero(t, hitCount(sp), "look-alike functions or operators were called")
	})

	// The owner's own statements in Client.AccessLog run under the owner's
	// session search_path, which only the owner sets; still, with a hostile
	// schema first they must not reach look-alikes.
	t.Run("AccessLog", func(t *testing.T) {
		sp, err := tx.Begin(ctx)
		require.NoError(t, err)
		defer sp.Rollback(ctx)
		_, err = sp.Exec(ctx, "SELECT pg_catalog.set_config('search_path', $1, true)", a+", pg_catalog, pg_temp, public")
		require.NoError(t, err)
		_, err = c.Retrieve(ctx, idB)
		require.NoError(t, err)
		ownerInSP, err := vault.New(sp, vault.WithSchema(db.Schema), quiet())
		require.NoError(t, err)
		records, err := ownerInSP.AccessLog(ctx, idB, 10)
		require.NoError(t, err)
		var hits []string
		rows, err := sp.Query(ctx, "SELECT fn FROM "+a+".hits ORDER BY 1")
		if err == nil {
			hits, err = pgx.CollectRows(rows, pgx.RowTo[string])
		}
		require.NoError(t, err)
		require.Empty(t, hits)
		require.Len(t, secRetrievals(records), 1)
	})
}

// TestWithRoleFromNoInheritLogin connects as authenticator, the login role
// PostgREST uses: NOINHERIT, so it holds none of service_role's privileges
// until it switches role. Without WithRole every call is denied; with
// WithRole("service_role") every call works, in every query mode.
func TestWithRoleFromNoInheritLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	if db.AdminURL == "" {
		t.Skip("needs a throwaway cluster, where authenticator logs in without a password")
	}
	// As WithRole documents, a NOINHERIT login role needs USAGE on the
	// schema: pgx prepares the call before the role switch runs.
	_, err := db.Pool.Exec(ctx, "GRANT USAGE ON SCHEMA "+db.Schema+" TO authenticator")
	require.NoError(t, err)
	for _, mode := range []pgx.QueryExecMode{
		pgx.QueryExecModeCacheStatement, pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeDescribeExec,
		pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol,
	} {
		t.Run(mode.String(), func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(db.URL)
			require.NoError(t, err)
			cfg.ConnConfig.User = "authenticator"
			cfg.ConnConfig.DefaultQueryExecMode = mode
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			if mode == pgx.QueryExecModeSimpleProtocol {
				_, err := vault.New(pool, vault.WithSchema(db.Schema), quiet())
				require.ErrorIs(t, err, vault.ErrInvalidArgument, "the simple protocol would put secrets in logged SQL text")
				return
			}

			self, err := vault.New(pool, vault.WithSchema(db.Schema), quiet())
			require.NoError(t, err)
			_, err = self.Store(ctx, "noinherit/"+uuid.NewString(), newSecret(), "")
			require.ErrorIs(t, err, vault.ErrPermissionDenied, "the login role itself may not call the functions")

			c, err := vault.New(pool, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
			require.NoError(t, err)
			secret := newSecret()
			id, err := c.Store(ctx, "noinherit/"+uuid.NewString(), secret, "")
			require.NoError(t, err)
			got, err := c.Retrieve(ctx, id)
			require.NoError(t, err)
			require.True(t, got == secret)
			require.NoError(t, c.Delete(ctx, id))
		})
	}
}

// plantTypes are the argument types of the look-alike operators planted by
// plantLookAlikes: every type the library's own statements compare (oids
// and their reg* aliases, names and text, "char" flags, integers,
// booleans).
var plantTypes = []string{"oid", "regclass", "regnamespace", "regproc", "regprocedure", "regrole", "regtype",
	"name", "text", `"char"`, "int2", "int4", "int8", "bool"}

// plantFunctions are look-alikes of catalog functions, as name(arguments)
// and result type.
var plantFunctions = [][2]string{
	{"current_database()", "name"},
	{"current_setting(pg_catalog.text)", "text"},
	{"current_setting(pg_catalog.text, pg_catalog.bool)", "text"},
	{"set_config(pg_catalog.text, pg_catalog.text, pg_catalog.bool)", "text"},
	{"to_regclass(pg_catalog.text)", "regclass"},
	{"to_regnamespace(pg_catalog.text)", "regnamespace"},
	{"to_regprocedure(pg_catalog.text)", "regprocedure"},
	{"to_regrole(pg_catalog.text)", "regrole"},
	{"has_schema_privilege(pg_catalog.oid, pg_catalog.text)", "bool"},
	{"has_schema_privilege(pg_catalog.text, pg_catalog.text)", "bool"},
	{"has_database_privilege(pg_catalog.text, pg_catalog.text)", "bool"},
	{"has_function_privilege(pg_catalog.oid, pg_catalog.oid, pg_catalog.text)", "bool"},
	{"has_table_privilege(pg_catalog.oid, pg_catalog.oid, pg_catalog.text)", "bool"},
	{"obj_description(pg_catalog.oid, pg_catalog.name)", "text"},
	{"pg_get_userbyid(pg_catalog.oid)", "name"},
	{"quote_ident(pg_catalog.text)", "text"},
	{"length(pg_catalog.text)", "int4"},
	{"lower(pg_catalog.text)", "text"},
	{"format(pg_catalog.text)", "text"},
	{"now()", "timestamptz"},
	{"gen_random_uuid()", "uuid"},
	{"acldefault(pg_catalog.\"char\", pg_catalog.oid)", "aclitem[]"},
}

// plantLookAlikes returns SQL that creates, in schema public, look-alike
// operators (=, <> for every pair of plantTypes; ordering, pattern and
// concatenation operators for strings and integers), functions
// (plantFunctions, count(*)) and domains named like built-in types, each of
// which records that it ran: it advances the sequence
// public.credvault_planted_runs, which no rollback undoes, and adds a row
// to public.credvault_planted_log.
func plantLookAlikes() string {
	var b strings.Builder
	b.WriteString(`
CREATE TABLE public.credvault_planted_log (what pg_catalog.text, ran_as pg_catalog.name);
CREATE SEQUENCE public.credvault_planted_runs;
GRANT INSERT, SELECT ON public.credvault_planted_log TO PUBLIC;
GRANT USAGE, SELECT, UPDATE ON SEQUENCE public.credvault_planted_runs TO PUBLIC;
CREATE FUNCTION public.credvault_planted_ran(p_what pg_catalog.text) RETURNS pg_catalog.bool
LANGUAGE plpgsql SET search_path = pg_catalog AS $$
BEGIN
    PERFORM pg_catalog.nextval('public.credvault_planted_runs');
    INSERT INTO public.credvault_planted_log VALUES (p_what, current_user);
    RETURN true;
END $$;
GRANT EXECUTE ON FUNCTION public.credvault_planted_ran(pg_catalog.text) TO PUBLIC;
`)
	// Operators return what the real one would for types of one kind, so
	// that code running them goes on and the log shows all it ran.
	kind := map[string]string{"oid": "oid", "regclass": "oid", "regnamespace": "oid", "regproc": "oid",
		"regprocedure": "oid", "regrole": "oid", "regtype": "oid", "name": "text", "text": "text",
		`"char"`: `"char"`, "int2": "int8", "int4": "int8", "int8": "int8", "bool": "bool"}
	n := 0
	op := func(name, left, right, result string) {
		n++
		fn := fmt.Sprintf("public.credvault_planted_op%d", n)
		what := secQuoteLiteral(fmt.Sprintf("operator %s(%s, %s)", name, left, right))
		real := "NULL"
		if k := kind[left]; k == kind[right] {
			real = fmt.Sprintf("$1::pg_catalog.%[1]s OPERATOR(pg_catalog.%[2]s) $2::pg_catalog.%[1]s", k, name)
		}
		fmt.Fprintf(&b, `CREATE FUNCTION %s(pg_catalog.%s, pg_catalog.%s) RETURNS pg_catalog.%s
LANGUAGE plpgsql SET search_path = pg_catalog AS $$ BEGIN PERFORM public.credvault_planted_ran(%s); RETURN %s; END $$;
CREATE OPERATOR public.%s (LEFTARG = pg_catalog.%s, RIGHTARG = pg_catalog.%s, FUNCTION = %s);
`, fn, left, right, result, what, real, name, left, right, fn)
	}
	for _, l := range plantTypes {
		for _, r := range plantTypes {
			op("=", l, r, "bool")
			op("<>", l, r, "bool")
		}
	}
	for _, pair := range [][2]string{{"text", "text"}, {"name", "text"}, {"text", "name"}, {"name", "name"},
		{"int4", "int4"}, {"int8", "int8"}, {"int4", "int8"}, {"int8", "int4"}, {"oid", "oid"}} {
		for _, name := range []string{"<", "<=", ">", ">="} {
			op(name, pair[0], pair[1], "bool")
		}
	}
	for _, pair := range [][2]string{{"text", "text"}, {"name", "text"}, {"text", "name"}} {
		for _, name := range []string{"~", "!~", "~*", "~~", "!~~"} {
			op(name, pair[0], pair[1], "bool")
		}
		op("||", pair[0], pair[1], "text")
	}
	for i, f := range plantFunctions {
		sig, result := f[0], f[1]
		name := sig[:strings.IndexByte(sig, '(')]
		args := strings.Split(strings.TrimSuffix(sig[len(name)+1:], ")"), ", ")
		if args[0] == "" {
			args = nil
		}
		call := make([]string, len(args))
		for j := range args {
			call[j] = fmt.Sprintf("$%d", j+1)
		}
		fmt.Fprintf(&b, `CREATE FUNCTION public.%s RETURNS pg_catalog.%s
LANGUAGE plpgsql SET search_path = pg_catalog AS $f%d$ BEGIN PERFORM public.credvault_planted_ran(%s); RETURN pg_catalog.%s(%s); END $f%d$;
`, sig, result, i, secQuoteLiteral("function "+sig), name, strings.Join(call, ", "), i)
	}
	b.WriteString(`CREATE FUNCTION public.credvault_planted_count(pg_catalog.int8) RETURNS pg_catalog.int8
LANGUAGE plpgsql SET search_path = pg_catalog AS $$ BEGIN PERFORM public.credvault_planted_ran('aggregate count(*)'); RETURN $1 + 1; END $$;
CREATE AGGREGATE public.count(*) (SFUNC = public.credvault_planted_count, STYPE = pg_catalog.int8, INITCOND = '0');
`)
	for _, typ := range []string{"text", "name", "oid", "regclass", "bytea", "uuid", "int4", "bool"} {
		fmt.Fprintf(&b, "CREATE DOMAIN public.%s AS pg_catalog.%s CHECK (public.credvault_planted_ran(%s));\n",
			typ, typ, secQuoteLiteral("type "+typ))
	}
	return b.String()
}

// plantedRuns returns what planted look-alikes recorded, and whether any
// ran at all (the sequence survives rollbacks that remove log rows).
func plantedRuns(t *testing.T, admin *pgxpool.Pool) (ran bool, log []string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, admin.QueryRow(ctx, "SELECT is_called FROM public.credvault_planted_runs").Scan(&ran))
	rows, err := admin.Query(ctx, "SELECT DISTINCT what || ' as ' || ran_as FROM public.credvault_planted_log ORDER BY 1")
	require.NoError(t, err)
	log, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	return ran, log
}

// runAsMigrationOwner runs, on url, everything the library sends outside
// its pinned functions: Migrate into a fresh schema (with WithCompatVault
// when keyFile is set), MigrationStatus, the MigrationSQL script applied
// into another fresh schema, and credvault doctor. It returns doctor's
// output and checks that the script gives the session its search_path
// back.
func runAsMigrationOwner(t *testing.T, url, schema, keyFile string) string {
	t.Helper()
	ctx := context.Background()
	opts := []vault.Option{vault.WithSchema(schema), quiet()}
	if keyFile != "" {
		opts = append(opts, vault.WithCompatVault(keyFile))
	}
	pool := connect(t, url)
	c, err := vault.New(pool, opts...)
	require.NoError(t, err)
	require.NoError(t, c.Migrate(ctx))
	status, err := c.MigrationStatus(ctx)
	require.NoError(t, err)
	require.Len(t, status, migrationCount(t))
	for _, m := range status {
		require.True(t, m.Applied, m.File)
	}

	script, err := vault.MigrationSQL(schema + "_script")
	require.NoError(t, err)
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var before, after string
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_catalog.current_setting('search_path')").Scan(&before))
	_, err = conn.Exec(ctx, script)
	require.NoError(t, err)
	require.NoError(t, conn.QueryRow(ctx, "SELECT pg_catalog.current_setting('search_path')").Scan(&after))
	require.Equal(t, before, after, "the script gives the session its search_path back")

	var stdout, stderr strings.Builder
	code := cli.Main(ctx, []string{"doctor", "--schema", schema, "--database-url", url},
		cli.IO{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
	require.Contains(t, []int{cli.ExitOK, cli.ExitFindings}, code, "doctor: %s%s", stdout.String(), stderr.String())
	require.NotContains(t, stdout.String(), "cannot check", stdout.String())
	return stdout.String()
}

// TestPlantedObjectsNeverRunAsMigrationOwner plants look-alike operators,
// functions, aggregates and types in public (plantLookAlikes) and runs
// Migrate, MigrationStatus, the MigrationSQL script and credvault doctor as
// the owner of the functions: none of them may run. On supabase_vault the
// attacker is a role with CREATE on public (the default of PostgreSQL 14
// and older) and the owner is postgres; on the compatibility layer the
// attacker owns the database and also puts public first on its
// search_path, and the owner is the superuser, which also installs the
// layer. Pinning search_path to pg_catalog, pg_temp is what stops them;
// casts between built-in types cannot be planted at all.
func TestPlantedObjectsNeverRunAsMigrationOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("supabase_vault", func(t *testing.T) {
		t.Parallel()
		if c := testserver.SharedServer(t).Cluster(); c != nil && !c.SupabaseVault() {
			t.Skip("the shared server runs the compatibility layer; the subtest below covers it")
		}
		db := vaulttest.NewDatabase(t)
		if db.AdminURL == "" {
			t.Skip("creates roles: needs a throwaway server, not VAULT_TEST_DATABASE_URL")
		}
		admin := connect(t, db.AdminURL)
		attacker := "credvault_planter_" + randomHex(t, 4)
		_, err := admin.Exec(ctx, "CREATE ROLE "+secIdent(attacker)+" NOLOGIN; GRANT CREATE ON SCHEMA public TO "+secIdent(attacker))
		require.NoError(t, err)
		t.Cleanup(func() {
			_, _ = admin.Exec(context.Background(), "DROP OWNED BY "+secIdent(attacker)+" CASCADE; DROP ROLE "+secIdent(attacker))
		})
		_, err = admin.Exec(ctx, "SET ROLE "+secIdent(attacker)+";"+plantLookAlikes()+"RESET ROLE;")
		require.NoError(t, err)
		requireNoBuiltinCast(t, admin, attacker)
		// Makes migration 0002 look for the guard on this table.
		_, err = db.Pool.Exec(ctx, "CREATE TABLE public.organization_integrations (id bigint PRIMARY KEY, secret_id uuid)")
		require.NoError(t, err)

		out := runAsMigrationOwner(t, db.URL, "planted_"+randomHex(t, 4), "")
		require.Regexp(t, `ok +vault +supabase_vault `, out)
		ran, log := plantedRuns(t, admin)
		require.Empty(t, log, "planted objects ran")
		require.False(t, ran, "planted objects ran")
	})

	t.Run("compat", func(t *testing.T) {
		t.Parallel()
		db := newCompatBareDB(t)
		_, err := db.ownerDB.Exec(ctx, plantLookAlikes()+
			"ALTER DATABASE "+secIdent(db.name)+" SET search_path = public, pg_catalog;")
		require.NoError(t, err)
		requireNoBuiltinCast(t, db.ownerDB, "")

		out := runAsMigrationOwner(t, db.adminURL, vault.DefaultSchema, db.keyFile) // new sessions
		require.Regexp(t, `ok +vault +compatibility layer compat \d+`, out)
		useCredentials(t, connect(t, db.adminURL), vault.DefaultSchema)
		ran, log := plantedRuns(t, db.admin)
		require.Empty(t, log, "planted objects ran")
		require.False(t, ran, "planted objects ran")
	})
}

// requireNoBuiltinCast checks that role (the pool's own when "") cannot
// plant a cast between built-in types, as used by the library's
// statements: only the owner of one of the types may create one.
func requireNoBuiltinCast(t *testing.T, pool *pgxpool.Pool, role string) {
	t.Helper()
	ctx := context.Background()
	for _, pair := range [][2]string{{"oid", "regclass"}, {"text", "regnamespace"}, {"text", "int4"}, {"name", "text"}} {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			if role != "" {
				if _, err := tx.Exec(ctx, "SET LOCAL ROLE "+secIdent(role)); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE FUNCTION public.credvault_planted_cast(pg_catalog.%[1]s) RETURNS pg_catalog.%[2]s
LANGUAGE sql AS 'SELECT NULL::pg_catalog.%[2]s';
CREATE CAST (pg_catalog.%[1]s AS pg_catalog.%[2]s) WITH FUNCTION public.credvault_planted_cast(pg_catalog.%[1]s)`, pair[0], pair[1]))
			return err
		})
		require.Equal(t, "42501", sqlstate(err), "CREATE CAST (%s AS %s): %v", pair[0], pair[1], err)
	}
}
