package vault_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/vaulttest"
)

// guardProbe creates a probe table in a fresh test transaction and returns
// the transaction and the table's qualified name. Names are unique so that
// parallel tests never wait on each other's uncommitted catalog rows.
func guardProbe(t *testing.T, attach bool) (pgx.Tx, string) {
	t.Helper()
	ctx := context.Background()
	tx := testTx(t)
	table := "public.guard_probe_" + hex.EncodeToString(guardRand{t}.bytes(6))
	_, err := tx.Exec(ctx, `CREATE TABLE `+table+` (
		id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		t    text,
		v    varchar(4000),
		j    jsonb,
		js   json,
		u    uuid,
		note text)`)
	require.NoError(t, err)
	if attach {
		guardAttach(t, tx, table)
	}
	return tx, table
}

func guardAttach(t *testing.T, tx pgx.Tx, table string) {
	t.Helper()
	_, err := tx.Exec(context.Background(), "SELECT "+testSchema(t)+".guard_plaintext_credentials($1::regclass)", table)
	require.NoError(t, err)
}

// guardExec runs sql in a savepoint, so that a rejection leaves tx usable.
func guardExec(t *testing.T, tx pgx.Tx, sql string, args ...any) error {
	t.Helper()
	ctx := context.Background()
	sp, err := tx.Begin(ctx)
	require.NoError(t, err)
	_, err = sp.Exec(ctx, sql, args...)
	if err != nil {
		require.NoError(t, sp.Rollback(ctx))
		return err
	}
	require.NoError(t, sp.Commit(ctx))
	return nil
}

func guardInsert(t *testing.T, tx pgx.Tx, table string, c guardCase) error {
	t.Helper()
	typ := map[string]string{"t": "text", "v": "varchar", "j": "jsonb", "js": "json", "u": "uuid"}[c.Column]
	require.NotEmpty(t, typ, "case %s: unknown column", c.Name)
	return guardExec(t, tx, fmt.Sprintf("INSERT INTO %s (%s) VALUES ($1::text::%s)", table, c.Column, typ), c.Value)
}

// guardRejected reports whether err is the guard's VA001 rejection. It fails
// the test on any other error, and when an error field carries the value or
// any 8 characters of one of the random secret parts.
func guardRejected(t *testing.T, err error, value string, secrets ...string) bool {
	t.Helper()
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr, "not a server error")
	require.Equal(t, "VA001", pgErr.Code, "unexpected error %s: %s", pgErr.Code, pgErr.Message)
	require.True(t, strings.HasPrefix(pgErr.Message, "plaintext credential rejected: column "), "message %q", pgErr.Message)
	require.Equal(t, "store the value with store_credential() and keep only the returned secret id", pgErr.Hint)
	for _, f := range []string{pgErr.Message, pgErr.Detail, pgErr.Hint, pgErr.Where, err.Error()} {
		if f == "" {
			continue
		}
		if value != "" && strings.Contains(f, value) {
			t.Fatalf("an error field contains the value")
		}
		for _, s := range secrets {
			for i := 0; i+8 <= len(s); i++ {
				if strings.Contains(f, s[i:i+8]) {
					t.Fatalf("an error field contains 8 characters of the secret (offset %d)", i)
				}
			}
		}
	}
	return true
}

func TestGuardCorpus(t *testing.T) {
	t.Parallel()
	tx, table := guardProbe(t, true)
	guardAttach(t, tx, table) // idempotent

	var n int
	require.NoError(t, tx.QueryRow(context.Background(),
		"SELECT count(*) FROM pg_catalog.pg_trigger WHERE tgrelid = $1::regclass AND tgname = 'credvault_reject_plaintext'", table).Scan(&n))
	require.Equal(t, 1, n)

	pos, neg := guardPositives(t), guardNegatives(t)
	var tp, fp int
	for _, c := range pos {
		t.Run("positive/"+c.Name, func(t *testing.T) {
			if guardRejected(t, guardInsert(t, tx, table, c), c.Value, c.Secret) {
				tp++
			} else {
				t.Logf("missed: %s in column %s", c.Name, c.Column)
			}
		})
	}
	for _, c := range neg {
		t.Run("negative/"+c.Name, func(t *testing.T) {
			if guardRejected(t, guardInsert(t, tx, table, c), c.Value) {
				fp++
				t.Logf("false positive: %s in column %s", c.Name, c.Column)
			}
		})
	}
	tpr := float64(tp) / float64(len(pos))
	fpr := float64(fp) / float64(len(neg))
	t.Logf("plaintext guard: TPR %.3f (%d/%d), FPR %.3f (%d/%d)", tpr, tp, len(pos), fpr, fp, len(neg))
	require.GreaterOrEqual(t, tpr, 0.95)
	require.LessOrEqual(t, fpr, 0.02)
}

func TestGuardBypasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := guardRand{t}
	stripe := func() (string, string) { s := r.s(guardAlnum, 32); return "sk_" + "live_" + s, s }
	github := func() (string, string) { s := r.s(guardAlnum, 36); return "gh" + "p_" + s, s }

	t.Run("update of one column", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		require.NoError(t, guardExec(t, tx, "INSERT INTO "+table+" (t, note) VALUES ('stripe', 'ok')"))
		tok, s := stripe()
		err := guardExec(t, tx, "UPDATE "+table+" SET note = $1", tok)
		require.True(t, guardRejected(t, err, tok, s))
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		require.Contains(t, pgErr.Message, "column note of public.guard_probe_")
	})

	t.Run("multi-row insert", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		tok, s := github()
		err := guardExec(t, tx, "INSERT INTO "+table+" (t) VALUES ('a'), ($1), ('c')", tok)
		require.True(t, guardRejected(t, err, tok, s))
		require.NoError(t, guardExec(t, tx, "INSERT INTO "+table+" (t) VALUES ('a'), ('b'), ('c')"))
	})

	t.Run("insert select", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		tok, s := stripe()
		err := guardExec(t, tx, "INSERT INTO "+table+" (t) SELECT x FROM unnest(ARRAY['a', $1, 'c']) AS x", tok)
		require.True(t, guardRejected(t, err, tok, s))
	})

	t.Run("upsert", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		_, err := tx.Exec(ctx, "ALTER TABLE "+table+" ADD UNIQUE (u)")
		require.NoError(t, err)
		id := r.uuid()
		require.NoError(t, guardExec(t, tx, "INSERT INTO "+table+" (u, note) VALUES ($1, 'ok')", id))
		tok, s := stripe()
		err = guardExec(t, tx, "INSERT INTO "+table+" (u, note) VALUES ($1, 'ok') ON CONFLICT (u) DO UPDATE SET note = $2", id, tok)
		require.True(t, guardRejected(t, err, tok, s))
	})

	t.Run("copy", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		tok, s := github()
		sp, err := tx.Begin(ctx)
		require.NoError(t, err)
		_, err = sp.CopyFrom(ctx, pgx.Identifier{"public", strings.TrimPrefix(table, "public.")}, []string{"t", "note"},
			pgx.CopyFromRows([][]any{{"a", "ok"}, {"b", tok}, {"c", "ok"}}))
		require.True(t, guardRejected(t, err, tok, s))
		require.NoError(t, sp.Rollback(ctx))

		sp, err = tx.Begin(ctx)
		require.NoError(t, err)
		n, err := sp.CopyFrom(ctx, pgx.Identifier{"public", strings.TrimPrefix(table, "public.")}, []string{"t", "note"},
			pgx.CopyFromRows([][]any{{"a", "ok"}, {"b", "fine"}}))
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
		require.NoError(t, sp.Commit(ctx))
	})

	t.Run("jsonb arrays", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		tok, s := stripe()
		doc := guardJSON(t, []any{"ok", map[string]any{"nested": []any{1, true, nil, []any{"x", tok}}}})
		for _, col := range []string{"j", "js"} {
			err := guardExec(t, tx, "INSERT INTO "+table+" ("+col+") VALUES ($1::text::"+map[string]string{"j": "jsonb", "js": "json"}[col]+")", doc)
			require.True(t, guardRejected(t, err, tok, s), "column %s", col)
		}
		err := guardExec(t, tx, "INSERT INTO "+table+" (t) VALUES (array_to_string(ARRAY['x', $1], ','))", tok)
		require.True(t, guardRejected(t, err, tok, s))
	})

	t.Run("mixed case assignments", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		for _, prefix := range []string{"API_KEY=", "Api-Key: ", "aPi_KeY = ", "CLIENT_SECRET: ", "Password=", "TOKEN: ", `"Secret": "`} {
			s := r.s(guardAlnum, 32)
			err := guardExec(t, tx, "INSERT INTO "+table+" (t) VALUES ($1)", prefix+s)
			require.True(t, guardRejected(t, err, prefix+s, s), "prefix %q", prefix)
		}
	})

	t.Run("split by whitespace", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		split := func(tok, sep string, every int) string {
			var sb strings.Builder
			for i := 0; i < len(tok); i += every {
				if i > 0 {
					sb.WriteString(sep)
				}
				sb.WriteString(tok[i:min(i+every, len(tok))])
			}
			return sb.String()
		}
		for i, sep := range []string{" ", "\n", "\r\n", "\t", "  \n  "} {
			tok, s := stripe()
			if i%2 == 1 {
				tok, s = github()
			}
			val := "key:\n" + split(tok, sep, 7)
			err := guardExec(t, tx, "INSERT INTO "+table+" (t) VALUES ($1)", val)
			require.True(t, guardRejected(t, err, val, s), "separator %q", sep)

			doc := guardJSON(t, map[string]any{"cfg": map[string]any{"value": split(tok, sep, 10)}})
			err = guardExec(t, tx, "INSERT INTO "+table+" (j) VALUES ($1::text::jsonb)", doc)
			require.True(t, guardRejected(t, err, doc, s), "separator %q in jsonb", sep)
		}
		// split inside the prefix too
		tok, s := stripe()
		err := guardExec(t, tx, "INSERT INTO "+table+" (t) VALUES ($1)", tok[:5]+"\n"+tok[5:])
		require.True(t, guardRejected(t, err, tok, s))
	})

	t.Run("JSON string escapes", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		tok, s := stripe()
		var esc strings.Builder
		for _, c := range tok[:10] {
			fmt.Fprintf(&esc, `\u%04x`, c)
		}
		escaped := esc.String() + tok[10:]
		for _, c := range []struct{ col, typ, doc string }{
			{"t", "text", `{"connection":{"secret":"` + escaped + `"}}`},
			{"t", "text", `["` + escaped + `"]`},
			{"js", "json", `{"a":"` + escaped + `"}`},
			{"j", "jsonb", `{"a":"` + escaped + `"}`},
			// JSON inside a JSON string inside a text column
			{"t", "text", guardJSON(t, map[string]any{"raw": `{"k":"` + escaped + `"}`})},
			{"j", "jsonb", guardJSON(t, map[string]any{"raw": `{"k":"` + escaped + `"}`})},
			// escaped slashes in a credential URL
			{"t", "text", `{"dsn":"postgres:\/\/app:` + s + `@db.internal\/app"}`},
		} {
			err := guardExec(t, tx, "INSERT INTO "+table+" ("+c.col+") VALUES ($1::text::"+c.typ+")", c.doc)
			require.True(t, guardRejected(t, err, tok, s), "%s: %s", c.typ, c.doc[:12])
		}
	})

	t.Run("json duplicate keys", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		tok, s := github()
		err := guardExec(t, tx, "INSERT INTO "+table+" (js) VALUES ($1::text::json)", `{"a":"`+tok+`","a":"harmless"}`)
		require.True(t, guardRejected(t, err, tok, s))
	})

	t.Run("uuid reference accepted", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		id := r.uuid()
		require.NoError(t, guardExec(t, tx, "INSERT INTO "+table+" (t, v, u, j, note) VALUES ($1::text, $1::text, $1::text::uuid, $2::text::jsonb, $3::text)",
			id, guardJSON(t, map[string]any{"api_key_secret_id": id, "secret_id": id}), "api_key_secret_id="+id))
	})

	t.Run("unchanged columns are not re-checked", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, false)
		tok, s := stripe()
		// a row written before the guard existed
		require.NoError(t, guardExec(t, tx, "INSERT INTO "+table+" (t, j, note) VALUES ($1, $2::text::jsonb, 'old')",
			tok, guardJSON(t, map[string]any{"k": tok})))
		guardAttach(t, tx, table)
		require.NoError(t, guardExec(t, tx, "UPDATE "+table+" SET note = 'touched'"))
		require.NoError(t, guardExec(t, tx, "UPDATE "+table+" SET t = t, j = j, note = 'again'"))
		err := guardExec(t, tx, "UPDATE "+table+" SET t = $1", tok+"x")
		require.True(t, guardRejected(t, err, tok, s))
		err = guardExec(t, tx, "UPDATE "+table+" SET j = j || '{\"more\": 1}'")
		require.True(t, guardRejected(t, err, tok, s), "a changed jsonb column is checked as a whole")
	})

	t.Run("end-user roles are guarded too", func(t *testing.T) {
		t.Parallel()
		tx, table := guardProbe(t, true)
		_, err := tx.Exec(ctx, "GRANT INSERT ON "+table+" TO authenticated, service_role")
		require.NoError(t, err)
		for _, role := range []string{"authenticated", "service_role"} {
			tok, s := github()
			sp, err := tx.Begin(ctx)
			require.NoError(t, err)
			_, err = sp.Exec(ctx, "SET LOCAL ROLE "+role)
			require.NoError(t, err)
			_, err = sp.Exec(ctx, "INSERT INTO "+table+" (t) VALUES ($1)", tok)
			require.True(t, guardRejected(t, err, tok, s), role)
			require.NoError(t, sp.Rollback(ctx))
		}
	})
}

func TestGuardFunctions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("null target", func(t *testing.T) {
		t.Parallel()
		tx := testTx(t)
		_, err := tx.Exec(ctx, "SELECT "+testSchema(t)+".guard_plaintext_credentials(NULL)")
		var pgErr *pgconn.PgError
		require.ErrorAs(t, err, &pgErr)
		require.Equal(t, "22004", pgErr.Code)
		require.Contains(t, pgErr.Message, "target")
	})

	t.Run("kind labels", func(t *testing.T) {
		t.Parallel()
		tx := testTx(t)
		r := guardRand{t}
		for _, c := range []struct{ value, kind string }{
			{"AK" + "IA" + r.s(guardUpper+"234567", 16), "AWS access key id"},
			{"x = " + "sk_" + "live_" + r.s(guardAlnum, 24), "Stripe secret key"},
			{"api_key=" + r.s(guardAlnum, 32), "api_key assignment"},
			{"postgres://u:" + r.password() + "@h/db", "URL with embedded password"},
			{"", ""},
			{r.uuid(), ""},
		} {
			var kind *string
			require.NoError(t, tx.QueryRow(ctx, "SELECT "+testSchema(t)+".plaintext_credential_kind($1)", c.value).Scan(&kind))
			if c.kind == "" {
				require.Nil(t, kind)
			} else {
				require.NotNil(t, kind)
				require.Equal(t, c.kind, *kind)
			}
		}
		var kind *string
		require.NoError(t, tx.QueryRow(ctx, "SELECT "+testSchema(t)+".plaintext_credential_kind(NULL)").Scan(&kind))
		require.Nil(t, kind)
	})

	t.Run("owner only", func(t *testing.T) {
		t.Parallel()
		tx := testTx(t)
		for _, role := range []string{"anon", "authenticated", "service_role"} {
			for _, call := range []string{
				"SELECT " + testSchema(t) + ".plaintext_credential_kind('x')",
				"SELECT " + testSchema(t) + ".guard_plaintext_credentials('pg_catalog.pg_class')",
				"SELECT " + testSchema(t) + ".reject_plaintext_credentials()",
			} {
				sp, err := tx.Begin(ctx)
				require.NoError(t, err)
				_, err = sp.Exec(ctx, "SET LOCAL ROLE "+role)
				require.NoError(t, err)
				_, err = sp.Exec(ctx, call)
				var pgErr *pgconn.PgError
				require.True(t, errors.As(err, &pgErr), "%s: %s", role, call)
				require.Equal(t, "42501", pgErr.Code, "%s: %s: %s", role, call, pgErr.Message)
				require.NoError(t, sp.Rollback(ctx))
			}
		}
	})
}

// TestGuardRunsNoCodeOfTheTableOwner makes sure that the guard, which runs
// with its owner's rights, never calls code that the owner of a guarded
// table controls: a cast to json of a column type of theirs would
// otherwise run as the guard's owner, who may read vault.decrypted_secrets.
// Columns of built-in types are still checked in such a table.
func TestGuardRunsNoCodeOfTheTableOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	if db.AdminURL == "" {
		t.Skip("needs a throwaway cluster to create a login role")
	}
	role := "tenant_" + randomHex(t, 4)
	admin := connect(t, db.AdminURL)
	_, err := admin.Exec(ctx, "CREATE ROLE "+role+" LOGIN; CREATE SCHEMA "+role+" AUTHORIZATION "+role+
		"; GRANT USAGE ON SCHEMA "+role+" TO postgres")
	require.NoError(t, err)
	cfg, err := pgxpool.ParseConfig(db.AdminURL)
	require.NoError(t, err)
	cfg.ConnConfig.User = role
	tenant, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(tenant.Close)

	_, err = tenant.Exec(ctx, `
CREATE TYPE `+role+`.kind AS ENUM ('a');
CREATE TABLE `+role+`.integ (id int, k `+role+`.kind, note text);
CREATE TABLE `+role+`.ran_as (who text);
GRANT INSERT ON `+role+`.ran_as TO PUBLIC;
CREATE FUNCTION `+role+`.to_json(`+role+`.kind) RETURNS json LANGUAGE plpgsql AS $$
BEGIN INSERT INTO `+role+`.ran_as VALUES (current_user); RETURN '1'::json; END $$;
CREATE CAST (`+role+`.kind AS json) WITH FUNCTION `+role+`.to_json(`+role+`.kind);
GRANT TRIGGER ON `+role+`.integ TO postgres;`)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "SELECT "+db.Schema+".guard_plaintext_credentials($1::regclass)", role+".integ")
	require.NoError(t, err)

	_, err = tenant.Exec(ctx, "INSERT INTO "+role+".integ VALUES (1, 'a', 'hello')")
	require.NoError(t, err)
	_, err = tenant.Exec(ctx, "UPDATE "+role+".integ SET note = 'still harmless'")
	require.NoError(t, err)
	var ran int
	require.NoError(t, tenant.QueryRow(ctx, "SELECT count(*) FROM "+role+".ran_as").Scan(&ran))
	require.Zero(t, ran, "the tenant's cast ran inside the guard")

	key := "sk_" + "live_" + randomHex(t, 16)
	_, err = tenant.Exec(ctx, "INSERT INTO "+role+".integ VALUES (2, 'a', $1)", "api_key="+key)
	require.Equal(t, "VA001", sqlstate(err), "built-in columns of such a table are still checked")
	_, err = tenant.Exec(ctx, "UPDATE "+role+".integ SET note = $1 WHERE id = 1", key)
	require.Equal(t, "VA001", sqlstate(err))
}
