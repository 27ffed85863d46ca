package vault_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
)

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
		c := serviceClient(t, tx, testSchema(t))

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
