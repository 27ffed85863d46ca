package vault_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

// This file proves that a secret never shows up where it should not: in
// errors, in the Go log, in Vault's table, in pg_stat_statements or, once
// log_parameter_max_length = 0, in the server log, failing calls included.
// Assertions never print the text they search, which may hold a secret.

// secContains reports whether s holds secret, whole or any 16-byte piece of it.
func secContains(s, secret string) bool {
	const piece = 16
	if len(secret) <= piece {
		return strings.Contains(s, secret)
	}
	for i := 0; i+piece <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+piece]) {
			return true
		}
	}
	return false
}

// secRequireAbsent fails when any of secrets occurs in s, naming only where
// and which one (by index).
func secRequireAbsent(t *testing.T, where, s string, secrets ...string) {
	t.Helper()
	for i, secret := range secrets {
		if secContains(s, secret) {
			t.Fatalf("secret #%d appears in %s", i, where)
		}
	}
}

// secErrorTexts returns every text an error carries: its message in each
// format, and each field of the server error it wraps.
func secErrorTexts(err error) map[string]string {
	texts := map[string]string{
		"Error()": err.Error(),
		"%+v":     fmt.Sprintf("%+v", err),
		"%#v":     fmt.Sprintf("%#v", err),
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		texts["PgError"] = fmt.Sprintf("%#v", *pgErr)
		for name, v := range map[string]string{
			"Message": pgErr.Message, "Detail": pgErr.Detail, "Hint": pgErr.Hint, "Where": pgErr.Where,
			"InternalQuery": pgErr.InternalQuery, "ColumnName": pgErr.ColumnName, "ConstraintName": pgErr.ConstraintName,
		} {
			texts["PgError."+name] = v
		}
	}
	return texts
}

// TestNoPlaintextInErrors makes every failure path that is handed a secret
// fail, through the Go client (validation before the round trip, server
// errors, denials) and through SQL (NULL and invalid arguments, unknown
// ids, the plaintext guard), and checks that no error text and no log
// record carries the secret.
func TestNoPlaintextInErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	s := secIdent(db.Schema)
	logger, logs := secLogger()
	client := func(db vault.DB, schema, role string) *vault.Client {
		c, err := vault.New(db, vault.WithSchema(schema), vault.WithRole(role), vault.WithLogger(logger))
		require.NoError(t, err)
		return c
	}
	id, err := client(tx, db.Schema, secService).Store(ctx, "leak/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()

	var secrets []string
	secret := func() string { v := newSecret(); secrets = append(secrets, v); return v }
	check := func(t *testing.T, err error, secret string) {
		t.Helper()
		require.Error(t, err)
		for where, text := range secErrorTexts(err) {
			secRequireAbsent(t, where, text, secret)
		}
	}

	// Each call gets a savepoint of its own: some failures abort the
	// transaction they run in.
	schema := db.Schema
	goCalls := map[string]func(db vault.DB, secret string) error{
		"store: empty name": func(db vault.DB, v string) error {
			_, err := client(db, schema, secService).Store(ctx, "", v, "")
			return err
		},
		"store: NUL byte": func(db vault.DB, v string) error {
			_, err := client(db, schema, secService).Store(ctx, "leak", v[:10]+"\x00"+v[10:], "")
			return err
		},
		"store: invalid UTF-8": func(db vault.DB, v string) error {
			_, err := client(db, schema, secService).Store(ctx, "leak", v[:10]+"\xff"+v[10:], "")
			return err
		},
		"store: oversized": func(db vault.DB, v string) error {
			_, err := client(db, schema, secService).Store(ctx, "leak", strings.Repeat(v, vault.MaxSecretSize/len(v)+1), "")
			return err
		},
		"store: denied": func(db vault.DB, v string) error {
			_, err := client(db, schema, "authenticated").Store(ctx, "leak", v, "")
			return err
		},
		"store: not migrated": func(db vault.DB, v string) error {
			_, err := client(db, "credvault_no_such_schema", secService).Store(ctx, "leak", v, "")
			return err
		},
		"store: cancelled context": func(db vault.DB, v string) error {
			_, err := client(db, schema, secService).Store(cancelled, "leak", v, "")
			return err
		},
		"rotate: nil id": func(db vault.DB, v string) error {
			return client(db, schema, secService).Rotate(ctx, uuid.Nil, v)
		},
		"rotate: unknown id": func(db vault.DB, v string) error {
			return client(db, schema, secService).Rotate(ctx, uuid.New(), v)
		},
		"rotate: NUL byte": func(db vault.DB, v string) error {
			return client(db, schema, secService).Rotate(ctx, id, v+"\x00")
		},
		"rotate: oversized": func(db vault.DB, v string) error {
			return client(db, schema, secService).Rotate(ctx, id, strings.Repeat(v, vault.MaxSecretSize/len(v)+1))
		},
		"rotate: denied": func(db vault.DB, v string) error {
			return client(db, schema, "anon").Rotate(ctx, id, v)
		},
	}
	for name, call := range goCalls {
		t.Run(name, func(t *testing.T) {
			sp, err := tx.Begin(ctx)
			require.NoError(t, err)
			defer sp.Rollback(ctx)
			v := secret()
			check(t, call(sp, v), v)
		})
	}

	sqlCalls := []struct {
		name, role, sql string
		code            string
	}{
		{"store_credential: NULL name", secService, "SELECT " + s + ".store_credential(NULL, $1)", "22004"},
		{"store_credential: empty name", secService, "SELECT " + s + ".store_credential('', $1)", "22023"},
		{"store_credential: denied", "authenticated", "SELECT " + s + ".store_credential('leak', $1)", "42501"},
		{"rotate_credential: NULL id", secService, "SELECT " + s + ".rotate_credential(NULL, $1)", "22004"},
		{"rotate_credential: unknown id", secService, "SELECT " + s + ".rotate_credential(gen_random_uuid(), $1)", "P0002"},
		{"rotate_credential: denied", "anon", "SELECT " + s + ".rotate_credential(gen_random_uuid(), $1)", "42501"},
		{"plaintext_credential_kind: denied", secService, "SELECT " + s + ".plaintext_credential_kind($1)", "42501"},
		{"vault.create_secret: denied", "authenticated", "SELECT vault.create_secret($1)", "42501"},
	}
	for _, c := range sqlCalls {
		t.Run(c.name, func(t *testing.T) {
			v := secret()
			var got error
			code := secProbe(t, tx, c.role, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, c.sql, v)
				got = err
				return err
			})
			require.Equal(t, c.code, code)
			check(t, got, v)
		})
	}

	t.Run("plaintext guard", func(t *testing.T) {
		table := "public.credvault_leak_" + randomHex(t, 4)
		_, err := tx.Exec(ctx, "CREATE TABLE "+table+" (id bigint GENERATED ALWAYS AS IDENTITY, api_key text, settings jsonb)")
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "SELECT "+s+".guard_plaintext_credentials($1::regclass)", table)
		require.NoError(t, err)
		key := "sk_" + "live_" + secAlnum(t, 32) // a Stripe-shaped key
		secrets = append(secrets, key)
		for _, insert := range []struct {
			sql string
			arg any
		}{
			{"INSERT INTO " + table + " (api_key) VALUES ($1)", key},
			{"INSERT INTO " + table + " (settings) VALUES ($1)", map[string]any{"stripe": map[string]any{"secret_key": key}}},
		} {
			var got error
			code := secProbe(t, tx, secOwner, func(ctx context.Context, tx pgx.Tx) error {
				_, err := tx.Exec(ctx, insert.sql, insert.arg)
				got = err
				return err
			})
			require.Equal(t, "VA001", code)
			check(t, got, key)
		}
		var kind string
		require.NoError(t, tx.QueryRow(ctx, "SELECT "+s+".plaintext_credential_kind($1)", "api_key="+key).Scan(&kind))
		require.NotEmpty(t, kind)
		secRequireAbsent(t, "plaintext_credential_kind's result", kind, key)
	})

	secRequireAbsent(t, "the Go log", logs.String(), secrets...)
	require.NotEmpty(t, secRecords(t, logs), "the calls were logged")
}

// secAlnum returns n random letters and digits.
func secAlnum(t testing.TB, n int) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// TestNoPlaintextAtRest stores, puts, rotates, rolls back and refreshes
// secrets and reads back, as text, every row and column of vault.secrets,
// the access log, the migration table, the lifecycle bookkeeping,
// list_credentials and credential_list: none holds a value.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	s := secIdent(db.Schema)
	svc, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)
	var secrets []string
	for i := range 3 {
		v := newSecret()
		secrets = append(secrets, v)
		id, err := svc.Store(ctx, fmt.Sprintf("leak/rest/%d/%s", i, uuid.NewString()), v, "")
		require.NoError(t, err)
		rotated := newSecret()
		secrets = append(secrets, rotated)
		require.NoError(t, svc.Rotate(ctx, id, rotated))
		got, err := svc.Retrieve(ctx, id)
		require.NoError(t, err)
		require.True(t, got == rotated)
	}
	// The lifecycle keeps the previous value, as Vault ciphertext.
	for i := range 2 {
		first, second, refreshed := newSecret(), newSecret(), newSecret()
		secrets = append(secrets, first, second, refreshed)
		cred, err := svc.Put(ctx, fmt.Sprintf("leak/rest/put/%d/%s", i, uuid.NewString()), first, "")
		require.NoError(t, err)
		_, err = svc.Put(ctx, cred.Name, second, "")
		require.NoError(t, err)
		require.NoError(t, svc.Rollback(ctx, cred.ID))
		_, err = svc.Refresh(ctx, cred.ID, func(context.Context, vault.Secret) (string, error) { return refreshed, nil })
		require.NoError(t, err)
	}
	for name, sql := range map[string]string{
		"vault_credentials": "SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM " + s + ".vault_credentials AS r",
		"credential_list": "SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM " + s +
			".credential_list('', NULL, NULL, NULL, NULL, NULL, NULL, 1000) AS r",
		"vault.secrets":        "SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM vault.secrets AS r",
		"vault_access_log":     "SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM " + s + ".vault_access_log AS r",
		"credvault_migrations": "SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM " + s + ".credvault_migrations AS r",
		"list_credentials":     "SELECT coalesce(string_agg(r::text, E'\\n'), '') FROM " + s + ".list_credentials(NULL, NULL, 1000) AS r",
	} {
		var text string
		require.NoError(t, tx.QueryRow(ctx, sql).Scan(&text), name)
		require.NotEmpty(t, text, name)
		secRequireAbsent(t, name, text, secrets...)
	}
}
