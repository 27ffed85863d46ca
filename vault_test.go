package vault_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
	_ "github.com/credvault/vault/vaulttest/vaulttestdocker" // Docker fallback when no PostgreSQL is installed
)

func TestStoreRetrieveRotateDelete(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	secret := newSecret()

	id, err := c.Store(ctx, "acme/quickbooks", secret, "QuickBooks client secret")
	require.NoError(t, err)
	require.NotEqual(t, uuid.Nil, id)

	// Vault holds ciphertext only.
	var stored, name, description string
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT secret, name, description FROM vault.secrets WHERE id = $1", id).
		Scan(&stored, &name, &description))
	require.False(t, strings.Contains(stored, secret), "the value leaked")
	require.Equal(t, "acme/quickbooks", name)
	require.Equal(t, "QuickBooks client secret", description)

	requireValue(t, c, id, secret, "Retrieve returned another value")

	rotated := newSecret()
	require.NoError(t, c.Rotate(ctx, id, rotated))
	requireValue(t, c, id, rotated, "Retrieve returned another value")
	var count int
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT count(*) FROM vault.secrets WHERE id = $1", id).Scan(&count))
	require.Equal(t, 1, count, "rotation keeps the same id")

	require.NoError(t, c.Delete(ctx, id))
	_, err = c.Retrieve(ctx, id)
	require.ErrorIs(t, err, vault.ErrNotFound)
	require.Equal(t, "P0002", sqlstate(err))
	require.ErrorIs(t, c.Rotate(ctx, id, newSecret()), vault.ErrNotFound)
	require.NoError(t, c.Delete(ctx, id), "delete is idempotent")
	require.NoError(t, c.Delete(ctx, uuid.New()), "deleting an unknown id is not an error")
}

func TestEmptySecretIsAllowed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := setup(t)
	id, err := c.Store(ctx, "empty", "", "")
	require.NoError(t, err)
	got, err := c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.Equal(t, "", got)
}

func TestSameNameTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	s1, s2 := newSecret(), newSecret()
	id1, err := c.Store(ctx, "acme/hubspot", s1, "")
	require.NoError(t, err)
	id2, err := c.Store(ctx, "acme/hubspot", s2, "")
	require.NoError(t, err)
	require.NotEqual(t, id1, id2)

	for id, want := range map[uuid.UUID]string{id1: s1, id2: s2} {
		got, err := c.Retrieve(ctx, id)
		require.NoError(t, err)
		require.True(t, got == want, "Retrieve returned another value")
	}
	var name1, name2 string
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT name FROM vault.secrets WHERE id = $1", id1).Scan(&name1))
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT name FROM vault.secrets WHERE id = $1", id2).Scan(&name2))
	require.Equal(t, "acme/hubspot", name1)
	require.Regexp(t, `^acme/hubspot #[0-9a-f]{12}$`, name2, "the caller's name stays visible")
}

func TestNullArguments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	s := testSchema(t)
	for _, call := range []string{
		"SELECT " + s + ".store_credential(NULL, 'x')",
		"SELECT " + s + ".store_credential('n', NULL)",
		"SELECT " + s + ".retrieve_credential(NULL)",
		"SELECT " + s + ".rotate_credential(NULL, 'x')",
		"SELECT " + s + ".rotate_credential(gen_random_uuid(), NULL)",
		"SELECT " + s + ".delete_credential(NULL)",
	} {
		t.Run(call, func(t *testing.T) {
			err := vaulttest.AsRole(ctx, b.tx, "service_role", nil, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, call)
				return err
			})
			require.Equal(t, "22004", sqlstate(err))
			require.ErrorIs(t, vault.CallKind(err), vault.ErrInvalidArgument)
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr)
			require.Regexp(t, `p_[a-z_]+ must not be null`, pgErr.Message, "the message names the argument")
		})
	}
	t.Run("empty name", func(t *testing.T) {
		err := vaulttest.AsRole(ctx, b.tx, "service_role", nil, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT "+s+".store_credential('', 'x')")
			return err
		})
		require.Equal(t, "22023", sqlstate(err))
	})
}

func TestInvalidArgumentsBeforeRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := setup(t)
	secret := newSecret()
	cases := map[string]func() error{
		"empty name":       func() error { _, err := c.Store(ctx, "", secret, ""); return err },
		"long name":        func() error { _, err := c.Store(ctx, strings.Repeat("n", vault.MaxNameSize+1), secret, ""); return err },
		"NUL in secret":    func() error { _, err := c.Store(ctx, "n", secret+"\x00", ""); return err },
		"bad UTF-8":        func() error { _, err := c.Store(ctx, "n", secret+"\xff", ""); return err },
		"oversized secret": func() error { _, err := c.Store(ctx, "n", strings.Repeat("s", vault.MaxSecretSize+1), ""); return err },
		"nil id retrieve":  func() error { _, err := c.Retrieve(ctx, uuid.Nil); return err },
		"nil id rotate":    func() error { return c.Rotate(ctx, uuid.Nil, secret) },
		"nil id delete":    func() error { return c.Delete(ctx, uuid.Nil) },
		"NUL in rotation":  func() error { return c.Rotate(ctx, uuid.New(), "\x00"+secret) },
	}
	for name, call := range cases {
		t.Run(name, func(t *testing.T) {
			err := call()
			require.ErrorIs(t, err, vault.ErrInvalidArgument)
			require.Empty(t, sqlstate(err), "rejected in Go, before any round trip")
			require.False(t, strings.Contains(err.Error(), secret), "the error quotes the secret")
		})
	}
}

func TestAccessLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	id, err := c.Store(ctx, "acme/salesforce", newSecret(), "")
	require.NoError(t, err)

	for range 2 {
		_, err = c.Retrieve(ctx, id)
		require.NoError(t, err)
	}
	// A retrieval through PostgREST: the role and subject come from the JWT.
	sub := uuid.NewString()
	err = vaulttest.AsRole(ctx, b.tx, "service_role", map[string]any{"role": "service_role", "sub": sub},
		func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "SELECT "+testSchema(t)+".retrieve_credential($1)", id)
			return err
		})
	require.NoError(t, err)
	// A failed retrieval writes no row.
	_, err = c.Retrieve(ctx, uuid.New())
	require.ErrorIs(t, err, vault.ErrNotFound)

	records, err := b.owner.AccessLog(ctx, id, 10)
	require.NoError(t, err)
	require.Len(t, records, 4, "the store and three retrievals")
	require.Equal(t, "store", records[3].Op, "newest first")
	for _, r := range records {
		require.Equal(t, id, r.SecretID)
		require.Equal(t, "postgres", r.SessionUser)
		require.Equal(t, "service_role", r.CurrentUser)
		require.False(t, r.AccessedAt.IsZero())
	}
	jwt := 0
	for _, r := range records {
		if r.JWTSubject == sub {
			jwt++
			require.Equal(t, "service_role", r.JWTRole)
		}
	}
	require.Equal(t, 1, jwt, "exactly the PostgREST-style call carries JWT claims")

	limited, err := b.owner.AccessLog(ctx, id, 1)
	require.NoError(t, err)
	require.Len(t, limited, 1)

	// service_role may call retrieve but not read the log.
	_, err = c.AccessLog(ctx, id, 10)
	require.ErrorIs(t, err, vault.ErrPermissionDenied)
}

func TestLoggingRecordsEveryCallWithoutValues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	secret := newSecret()
	id, err := c.Store(ctx, "acme/netsuite", secret, "")
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, id)
	require.NoError(t, err)
	rotated := newSecret()
	require.NoError(t, c.Rotate(ctx, id, rotated))
	_, err = c.Retrieve(ctx, uuid.New())
	require.ErrorIs(t, err, vault.ErrNotFound)

	out := b.logs.String()
	require.False(t, strings.Contains(out, secret), "the value leaked")
	require.False(t, strings.Contains(out, rotated), "the value leaked")
	require.Contains(t, out, `"op":"store"`)
	require.Contains(t, out, `"op":"rotate"`)
	require.Contains(t, out, `"secret_id":"`+id.String()+`"`)
	require.Contains(t, out, `"outcome":"not_found"`)
	require.Equal(t, 4, strings.Count(out, "\n"), "one record per call")
}

func TestDeniedCallIsLogged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	logs := &logBuffer{}
	tx := testTx(t)
	c, err := vault.New(tx, vault.WithSchema(testSchema(t)), vault.WithRole("authenticated"),
		vault.WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
	require.NoError(t, err)
	id := uuid.New()
	_, err = c.Retrieve(ctx, id)
	require.ErrorIs(t, err, vault.ErrPermissionDenied)
	require.Contains(t, logs.String(), `"outcome":"permission_denied"`)
	require.Contains(t, logs.String(), `"sqlstate":"42501"`)
	require.Contains(t, logs.String(), id.String())
}

func TestRoleIsRestoredInCallerTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	_, err := c.Store(ctx, "acme/restore", newSecret(), "")
	require.NoError(t, err)
	var user string
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT current_user").Scan(&user))
	require.Equal(t, "postgres", user)
}

func TestSupabasePrivilegesAreReproduced(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, stmt := range map[string]string{
		"create in schema vault":  "CREATE FUNCTION vault.credvault_probe() RETURNS int LANGUAGE sql AS 'SELECT 1'",
		"direct insert":           "INSERT INTO vault.secrets (secret) VALUES ('x')",
		"row lock on secrets":     "SELECT id FROM vault.secrets FOR UPDATE",
		"update of vault.secrets": "UPDATE vault.secrets SET name = name",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tx := testTx(t)
			_, err := tx.Exec(ctx, stmt)
			require.Equal(t, "42501", sqlstate(err), "postgres must be refused as on Supabase")
		})
	}
}

func TestErrorFormat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := setup(t)
	id := uuid.MustParse("6f1f2c44-8d3e-4c55-9b3a-0a6f3f0e2b11")
	_, err := c.Retrieve(ctx, id)
	require.EqualError(t, err, "vault: retrieve 6f1f2c44-8d3e-4c55-9b3a-0a6f3f0e2b11: credential not found (SQLSTATE P0002)")
	var vErr *vault.Error
	require.ErrorAs(t, err, &vErr)
	require.Equal(t, "retrieve", vErr.Op)
	require.Equal(t, id, vErr.ID)
	require.Equal(t, vault.ErrNotFound, vErr.Kind)
}

func TestContextErrorsStayReachable(t *testing.T) {
	t.Parallel()
	c, _ := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Store(ctx, "cancelled", newSecret(), "")
	require.ErrorIs(t, err, context.Canceled)
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	tx := testTx(t)
	for name, opt := range map[string]vault.Option{
		"empty schema":      vault.WithSchema(""),
		"long schema":       vault.WithSchema(strings.Repeat("s", 64)),
		"empty role":        vault.WithRole(""),
		"nil logger":        vault.WithLogger(nil),
		"relative key file": vault.WithCompatVault("vault.key"),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := vault.New(tx, opt)
			require.ErrorIs(t, err, vault.ErrInvalidArgument)
		})
	}
	_, err := vault.New(nil)
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
}

func TestUnmigratedSchema(t *testing.T) {
	t.Parallel()
	tx := testTx(t)
	c, err := vault.New(tx, vault.WithSchema("no_such_schema"), vault.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	_, err = c.Store(context.Background(), "n", newSecret(), "")
	require.ErrorIs(t, err, vault.ErrNotMigrated)
}

func TestListReturnsMetadataOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	prefix := "list-" + uuid.NewString() + "/"
	secret := newSecret()
	id1, err := c.Store(ctx, prefix+"a", secret, "first")
	require.NoError(t, err)
	id2, err := c.Store(ctx, prefix+"b", newSecret(), "")
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, id1)
	require.NoError(t, err)

	creds, err := c.List(ctx, vault.ListFilter{NamePrefix: prefix})
	require.NoError(t, err)
	require.Len(t, creds, 2)
	byID := map[uuid.UUID]vault.Credential{}
	for _, cr := range creds {
		byID[cr.ID] = cr
	}
	require.Equal(t, prefix+"a", byID[id1].Name)
	require.Equal(t, "first", byID[id1].Description)
	require.False(t, byID[id1].LastRetrievedAt.IsZero())
	require.True(t, byID[id2].LastRetrievedAt.IsZero())
	require.False(t, strings.Contains(fmt.Sprintf("%+v", creds), secret), "List leaked a value")

	// Nothing was rotated before the transaction started.
	var txStart time.Time
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT now()").Scan(&txStart))
	old, err := c.List(ctx, vault.ListFilter{NamePrefix: prefix, NotRotatedSince: txStart})
	require.NoError(t, err)
	require.Empty(t, old)
	due, err := c.List(ctx, vault.ListFilter{NamePrefix: prefix, NotRotatedSince: txStart.Add(time.Second), Limit: 1})
	require.NoError(t, err)
	require.Len(t, due, 1)

	_, err = c.List(ctx, vault.ListFilter{Limit: vault.MaxListLimit + 1})
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
}

// TestNoPlaintextAtRest stores, puts, rotates, rolls back and refreshes
// secrets and reads back, as text, every row and column of vault.secrets,
// the access log, the migration table, the lifecycle bookkeeping,
// list_credentials and credential_list: none holds a value.
func TestNoPlaintextAtRest(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tx := sharedTx(t)
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

// oddTexts are names, descriptions and secret fragments that have broken
// SQL wrappers, format strings, loggers or terminals before. Each is valid
// UTF-8 without NUL bytes, so PostgreSQL text can hold it.
var oddTexts = map[string]string{
	"single quote":       "'",
	"statement break":    "'); DROP TABLE vault.secrets; --",
	"double quote":       `"`,
	"backslash":          `\`,
	"escape string":      `E'\x00'`,
	"dollar quotes":      "$$ $fn$ $re$",
	"format verbs":       "%s %I %L %% %v %[1]q",
	"schema placeholder": "@schema@",
	"psql meta-command":  `\! true`,
	"comment":            "/* -- */",
	"like wildcards":     `%_\%`,
	"whitespace":         "a\nb\tc\r\n",
	"control characters": "\x01\x02\x1b[31m\x7f",
	"only spaces":        "   ",
	"unicode":            "Grüße, 你好, Привет, مرحبا",
	"emoji":              "🔑🗝️👩‍💻🏳️‍🌈",
	"bidi override":      "\u202egnp.exe",
	"zero width":         "a\u200bb\ufeffc",
	"combining mark":     "e\u0301",
	"noncharacters":      "\uffff\ufffe\U0010FFFF",
	"replacement char":   "\ufffd",
	"suffix lookalike":   "name #0123456789ab",
	"json":               `{"a": "b", "c": [1, null]}`,
}

// badUTF8 are byte strings that are not valid UTF-8.
var badUTF8 = map[string]string{
	"lone continuation": "\x80",
	"invalid byte":      "\xff",
	"bad sequence":      "\xc3\x28",
	"surrogate":         "\xed\xa0\x80",
	"overlong slash":    "\xc0\xaf",
	"truncated":         "\xe2\x82",
	"beyond U+10FFFF":   "\xf4\x90\x80\x80",
}

// storedMetadata returns the name and description Vault holds for id.
func storedMetadata(t *testing.T, tx pgx.Tx, id uuid.UUID) (name, description string) {
	t.Helper()
	require.NoError(t, tx.QueryRow(context.Background(), "SELECT name, description FROM vault.secrets WHERE id = $1", id).
		Scan(&name, &description))
	return name, description
}

// roundTripOdd stores secret under name with description, and checks that
// Vault keeps all three exactly, that Retrieve returns the secret, that a
// rotation to rotated is read back, and that Delete removes it.
func roundTripOdd(t *testing.T, c *vault.Client, tx pgx.Tx, name, secret, description, rotated string) {
	t.Helper()
	ctx := context.Background()
	id, err := c.Store(ctx, name, secret, description)
	require.NoError(t, err)
	gotName, gotDescription := storedMetadata(t, tx, id)
	require.Equal(t, name, gotName)
	require.Equal(t, description, gotDescription)
	requireValue(t, c, id, secret, "the secret did not round-trip") // no diff: it would print the value
	requireRotateDelete(t, c, id, rotated)
}

// requireRejected checks that err is an *vault.Error of kind
// ErrInvalidArgument whose message does not quote secret.
func requireRejected(t *testing.T, err error, secret string) {
	t.Helper()
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
	var vErr *vault.Error
	require.ErrorAs(t, err, &vErr)
	require.Empty(t, sqlstate(err), "rejected in Go, before any round trip")
	if secret != "" {
		require.NotContains(t, err.Error(), secret)
	}
}

// TestOddInputRoundTrips stores, reads, rotates and deletes credentials
// whose name, description and value hold SQL metacharacters, format verbs,
// control characters, unicode and emoji, and sizes at every limit: all of
// it comes back byte for byte. Names carry a random tag so that parallel
// tests never wait on each other's unique-name locks.
func TestOddInputRoundTrips(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	tx := b.tx
	for what, text := range oddTexts {
		t.Run(what, func(t *testing.T) {
			roundTripOdd(t, c, tx, text+" "+randomHex(t, 6), text+newSecret(), text, newSecret()+text)
		})
	}

	tag := randomHex(t, 6)
	emoji := "🔑" // 4 bytes
	sized := map[string]struct{ name, secret, description string }{
		"empty secret and description": {"empty/" + tag, "", ""},
		"name of MaxNameSize bytes":    {padTo(tag, "n", vault.MaxNameSize), newSecret(), ""},
		"name of MaxNameSize bytes of emoji": {
			tag + strings.Repeat(emoji, (vault.MaxNameSize-len(tag))/len(emoji)), newSecret(), ""},
		"secret of MaxSecretSize bytes":  {"max/" + tag, padTo(newSecret(), "s", vault.MaxSecretSize), ""},
		"secret of MaxSecretSize emoji":  {"max-emoji/" + tag, strings.Repeat(emoji, vault.MaxSecretSize/len(emoji)), ""},
		"description of MaxDescription":  {"desc/" + tag, newSecret(), padTo("", "d", vault.MaxDescriptionSize)},
		"one-byte name":                  {tag[:1], "s", "d"},
		"multi-byte at the secret limit": {"mb/" + tag, padTo(newSecret(), "s", vault.MaxSecretSize-2) + "é", ""},
	}
	for what, in := range sized {
		t.Run(what, func(t *testing.T) {
			require.LessOrEqual(t, len(in.name), vault.MaxNameSize)
			require.LessOrEqual(t, len(in.secret), vault.MaxSecretSize)
			roundTripOdd(t, c, tx, in.name, in.secret, in.description, in.secret)
		})
	}
	require.Len(t, padTo("", "s", vault.MaxSecretSize-2)+"é", vault.MaxSecretSize)
}

// padTo returns s followed by copies of fill up to exactly n bytes (fill is
// one byte).
func padTo(s, fill string, n int) string {
	return s + strings.Repeat(fill, n-len(s))
}

// TestInvalidInputIsRejected checks that what PostgreSQL text cannot hold
// (NUL bytes, invalid UTF-8) and what is over a limit is rejected by every
// method with ErrInvalidArgument before it reaches the server, and that the
// error never quotes the secret. The nil UUID is rejected the same way.
func TestInvalidInputIsRejected(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, _ := setup(t)
	secret := newSecret()
	id, err := c.Store(ctx, "valid/"+randomHex(t, 6), secret, "")
	require.NoError(t, err)

	fragments := map[string]string{"NUL": "\x00"}
	for what, b := range badUTF8 {
		fragments[what] = b
	}
	places := map[string]func(base, fragment string) string{
		"first":  func(base, f string) string { return f + base },
		"inside": func(base, f string) string { return base[:4] + f + base[4:] },
		"last":   func(base, f string) string { return base + f },
	}
	for what, f := range fragments {
		for where, place := range places {
			t.Run(what+"/"+where, func(t *testing.T) {
				_, err := c.Store(ctx, "n", place(secret, f), "")
				requireRejected(t, err, secret)
				requireRejected(t, c.Rotate(ctx, id, place(secret, f)), secret)
				_, err = c.Store(ctx, place("name", f), secret, "")
				requireRejected(t, err, secret)
				_, err = c.Store(ctx, "n", secret, place("description", f))
				requireRejected(t, err, secret)
			})
		}
	}

	over := map[string]func() error{
		"empty name":              func() error { _, err := c.Store(ctx, "", secret, ""); return err },
		"name over MaxNameSize":   func() error { _, err := c.Store(ctx, padTo("", "n", vault.MaxNameSize+1), secret, ""); return err },
		"name over in multi-byte": func() error { _, err := c.Store(ctx, padTo("", "n", vault.MaxNameSize-1)+"é", secret, ""); return err },
		"description over limit": func() error {
			_, err := c.Store(ctx, "n", secret, padTo("", "d", vault.MaxDescriptionSize+1))
			return err
		},
		"secret over MaxSecretSize": func() error {
			_, err := c.Store(ctx, "n", padTo(secret, "s", vault.MaxSecretSize+1), "")
			return err
		},
		"secret over in multi-byte": func() error {
			_, err := c.Store(ctx, "n", padTo(secret, "s", vault.MaxSecretSize-1)+"é", "")
			return err
		},
		"rotation over MaxSecretSize": func() error { return c.Rotate(ctx, id, padTo(secret, "s", vault.MaxSecretSize+1)) },
		"nil id retrieve":             func() error { _, err := c.Retrieve(ctx, uuid.Nil); return err },
		"nil id rotate":               func() error { return c.Rotate(ctx, uuid.Nil, secret) },
		"nil id delete":               func() error { return c.Delete(ctx, uuid.Nil) },
	}
	for what, call := range over {
		t.Run(what, func(t *testing.T) { requireRejected(t, call(), secret) })
	}

	// Nothing reached the server: the transaction is intact and the
	// credential unchanged.
	got, err := c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == secret)
	require.True(t, utf8.ValidString(got))
}

// TestOddInputThroughSQL calls the functions directly as service_role, as
// PostgREST and Edge Functions do, with the same odd input passed as bind
// parameters: it round-trips; NUL bytes and invalid UTF-8 fail with
// SQLSTATE 22021, which a Client call classifies as ErrInvalidArgument
// (KindOf leaves such direct calls' errors unlabelled); the nil UUID is
// an unknown id (P0002 for retrieve and rotate, nothing for delete).
func TestOddInputThroughSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	tx := b.tx
	asService := func(fn func(tx pgx.Tx) error) error {
		return vaulttest.AsRole(ctx, tx, "service_role", nil, fn)
	}
	store := func(name, secret, description string) (id uuid.UUID, err error) {
		err = asService(func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, "SELECT "+testSchema(t)+".store_credential($1, $2, $3)", name, secret, description).Scan(&id)
		})
		return id, err
	}
	retrieve := func(id uuid.UUID) (secret string, err error) {
		err = asService(func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, "SELECT "+testSchema(t)+".retrieve_credential($1)", id).Scan(&secret)
		})
		return secret, err
	}
	exec := func(sql string, args ...any) error {
		return asService(func(tx pgx.Tx) error { _, err := tx.Exec(ctx, sql, args...); return err })
	}

	for what, text := range oddTexts {
		t.Run(what, func(t *testing.T) {
			name, secret := text+" "+randomHex(t, 6), text+newSecret()
			id, err := store(name, secret, text)
			require.NoError(t, err)
			gotName, gotDescription := storedMetadata(t, tx, id)
			require.Equal(t, name, gotName)
			require.Equal(t, text, gotDescription)
			got, err := retrieve(id)
			require.NoError(t, err)
			require.True(t, got == secret)
			rotated := newSecret() + text
			require.NoError(t, exec("SELECT "+testSchema(t)+".rotate_credential($1, $2)", id, rotated))
			got, err = retrieve(id)
			require.NoError(t, err)
			require.True(t, got == rotated)
			require.NoError(t, exec("SELECT "+testSchema(t)+".delete_credential($1)", id))
		})
	}

	secret := newSecret()
	unholdable := map[string]string{"NUL": secret + "\x00"}
	for what, b := range badUTF8 {
		unholdable[what] = secret + b
	}
	for what, value := range unholdable {
		t.Run("unholdable/"+what, func(t *testing.T) {
			for _, args := range [][3]string{{"n", value, ""}, {value, "s", ""}, {"n", "s", value}} {
				_, err := store(args[0], args[1], args[2])
				require.Equal(t, "22021", sqlstate(err))
				require.ErrorIs(t, vault.CallKind(err), vault.ErrInvalidArgument)
			}
		})
	}

	t.Run("empty strings", func(t *testing.T) {
		_, err := store("", secret, "")
		require.Equal(t, "22023", sqlstate(err))
		require.ErrorIs(t, vault.CallKind(err), vault.ErrInvalidArgument)
		id, err := store("empty/"+randomHex(t, 6), "", "")
		require.NoError(t, err)
		got, err := retrieve(id)
		require.NoError(t, err)
		require.Empty(t, got)
	})

	t.Run("nil UUID", func(t *testing.T) {
		_, err := retrieve(uuid.Nil)
		require.Equal(t, "P0002", sqlstate(err))
		require.Equal(t, "P0002", sqlstate(exec("SELECT "+testSchema(t)+".rotate_credential($1, $2)", uuid.Nil, secret)))
		require.NoError(t, exec("SELECT "+testSchema(t)+".delete_credential($1)", uuid.Nil))
	})

	// The SQL functions enforce the Go client's size limits, so callers
	// that come through PostgREST get the same 22023.
	t.Run("secret over MaxSecretSize", func(t *testing.T) {
		_, err := store("big/"+randomHex(t, 6), padTo(secret, "s", vault.MaxSecretSize+1), "")
		require.Equal(t, "22023", sqlstate(err))
		require.ErrorIs(t, vault.CallKind(err), vault.ErrInvalidArgument)
		err = exec("SELECT "+testSchema(t)+".rotate_credential($1, $2)", uuid.New(), padTo(secret, "s", vault.MaxSecretSize+1))
		require.Equal(t, "22023", sqlstate(err))
	})
	t.Run("name over MaxNameSize", func(t *testing.T) {
		var long string
		for range 1000 {
			long += randomHex(t, 6) // 12 kB that do not compress
		}
		_, err := store(long, secret, "")
		require.Equal(t, "22023", sqlstate(err))
		var n int
		require.NoError(t, tx.QueryRow(ctx, "SELECT count(*) FROM vault.secrets WHERE name = $1", long).Scan(&n))
		require.Zero(t, n)
	})
}

// validText is the documented rule for names, descriptions and secrets:
// between minLen and maxLen bytes of UTF-8 without NUL bytes.
func validText(s string, minLen, maxLen int) bool {
	return len(s) >= minLen && len(s) <= maxLen && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// FuzzStoreRetrieve stores arbitrary (name, secret, description) triples
// as service_role, each in a transaction rolled back afterwards. Valid
// input round-trips byte for byte: Retrieve returns the secret, Vault
// holds the description and the name (or the name with a " #suffix" when
// taken), and a rotation to the description reads back. Invalid input is
// rejected with ErrInvalidArgument, with an error that does not quote the
// secret. Nothing panics. Run it with
//
//	go test -run '^$' -fuzz FuzzStoreRetrieve -fuzztime 3m .
//
// The seeds below run in every go test; none looks like a real credential.
func FuzzStoreRetrieve(f *testing.F) {
	for _, seed := range [][3]string{
		{"example/integration", "not-a-secret", "example client secret"},
		{"n", "", ""},
		{"", "empty name", ""},
		{"'; DROP TABLE vault.secrets; --", "' OR '1'='1", `"; --`},
		{"@schema@", "$$ $fn$", "%s %I %L"},
		{"nul", "a\x00b", ""},
		{"bad utf-8 \xff", "\xc3\x28", "\xed\xa0\x80"},
		{"🔑 key", "🗝️👩‍💻", "Grüße 你好"},
		{"name #0123456789ab", "\t\n\r", "\x1b[31m"},
		{strings.Repeat("n", vault.MaxNameSize), strings.Repeat("s", 1024), strings.Repeat("d", 512)},
		{strings.Repeat("n", vault.MaxNameSize+1), "s", ""},
		{"\u202egnp.exe", "\ufeff\u200b", "e\u0301"},
	} {
		f.Add(seed[0], seed[1], seed[2])
	}
	pool := vaulttest.Shared(f).Pool
	f.Fuzz(func(t *testing.T, name, secret, description string) {
		ctx := context.Background()
		tx := vaulttest.Tx(t, pool)
		c, _ := setup(t, on(tx, testSchema(t)))

		id, err := c.Store(ctx, name, secret, description)
		valid := validText(name, 1, vault.MaxNameSize) && validText(description, 0, vault.MaxDescriptionSize) &&
			validText(secret, 0, vault.MaxSecretSize)
		if !valid {
			require.ErrorIs(t, err, vault.ErrInvalidArgument)
			require.Equal(t, uuid.Nil, id)
			// The message quotes the name (%q), which is not secret.
			msg := strings.Replace(err.Error(), fmt.Sprintf("%q", name), "", 1)
			if len(secret) >= 8 {
				require.NotContains(t, msg, secret, "the error quotes the secret")
			}
			return
		}
		require.NoError(t, err)
		got, err := c.Retrieve(ctx, id)
		require.NoError(t, err)
		require.True(t, got == secret, "the secret did not round-trip")
		gotName, gotDescription := storedMetadata(t, tx, id)
		if gotName != name {
			require.True(t, strings.HasPrefix(gotName, name+" #"), "stored name %q for %q", gotName, name)
		}
		require.Equal(t, description, gotDescription)

		require.NoError(t, c.Rotate(ctx, id, description))
		got, err = c.Retrieve(ctx, id)
		require.NoError(t, err)
		require.True(t, got == description, "the rotated value did not round-trip")
		require.NoError(t, c.Delete(ctx, id))
	})
}
