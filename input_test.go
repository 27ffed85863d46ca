package vault_test

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
)

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

// inputSetup returns a client running as service_role in a transaction on
// the shared database that is rolled back when the test ends, and the
// transaction.
func inputSetup(t *testing.T) (*vault.Client, pgx.Tx) {
	t.Helper()
	tx := testTx(t)
	return serviceClient(t, tx, testSchema(t)), tx
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
	got, err := c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == secret, "the secret did not round-trip") // no diff: it would print the value
	require.NoError(t, c.Rotate(ctx, id, rotated))
	got, err = c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == rotated, "the rotated secret did not round-trip")
	require.NoError(t, c.Delete(ctx, id))
	_, err = c.Retrieve(ctx, id)
	require.ErrorIs(t, err, vault.ErrNotFound)
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
	c, tx := inputSetup(t)
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
	c, _ := inputSetup(t)
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
	_, tx := inputSetup(t)
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
