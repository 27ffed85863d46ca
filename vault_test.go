package vault_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
	_ "github.com/credvault/vault/vaulttest/vaulttestdocker" // Docker fallback when no PostgreSQL is installed
)

func TestMain(m *testing.M) { vaulttest.Main(m) }

// testSchema is the schema of the shared database's functions:
// "credentials" on a throwaway server, a fresh one with
// VAULT_TEST_DATABASE_URL.
func testSchema(t testing.TB) string {
	t.Helper()
	return vaulttest.Shared(t).Schema
}

// testTx returns a transaction on the shared migrated database, connected
// as the migration owner (postgres), rolled back when the test ends.
func testTx(t *testing.T) pgx.Tx {
	t.Helper()
	return vaulttest.Tx(t, vaulttest.Shared(t).Pool)
}

// newSecret returns a fresh random value; test secrets are never literals.
func newSecret() string {
	return "test-secret-" + rand.Text() + rand.Text()
}

// randomBytes returns n random bytes.
func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// randomHex returns n random bytes as hex, for unique names.
func randomHex(t testing.TB, n int) string {
	t.Helper()
	return hex.EncodeToString(randomBytes(t, n))
}

// logBuffer is a concurrency-safe sink for a JSON slog handler.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type bundle struct {
	tx    pgx.Tx
	owner *vault.Client // runs as the connection's role, postgres
	logs  *logBuffer
}

// setup returns a client that runs as service_role inside a rolled-back
// transaction, and a bundle with the same transaction.
func setup(t *testing.T, opts ...vault.Option) (*vault.Client, *bundle) {
	t.Helper()
	tx := testTx(t)
	logs := &logBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := []vault.Option{vault.WithSchema(testSchema(t)), vault.WithLogger(logger)}
	c, err := vault.New(tx, append(append(base, vault.WithRole("service_role")), opts...)...)
	require.NoError(t, err)
	owner, err := vault.New(tx, base...)
	require.NoError(t, err)
	return c, &bundle{tx: tx, owner: owner, logs: logs}
}

func sqlstate(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

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

	got, err := c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == secret, "Retrieve returned another value")

	rotated := newSecret()
	require.NoError(t, c.Rotate(ctx, id, rotated))
	got, err = c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == rotated, "Retrieve returned another value")
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

func TestRoleMatrixBasics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	secret := newSecret()
	id, err := c.Store(ctx, "acme/xero", secret, "")
	require.NoError(t, err)

	for _, role := range []string{"authenticated", "anon"} {
		t.Run(role, func(t *testing.T) {
			// Each subtest works in a savepoint: a denied call aborts it.
			sp, err := b.tx.Begin(ctx)
			require.NoError(t, err)
			defer sp.Rollback(ctx)
			as, err := vault.New(sp, vault.WithSchema(testSchema(t)), vault.WithRole(role),
				vault.WithLogger(slog.New(slog.DiscardHandler)))
			require.NoError(t, err)
			_, err = as.Retrieve(ctx, id)
			require.ErrorIs(t, err, vault.ErrPermissionDenied)
			require.Equal(t, "42501", sqlstate(err))
			require.False(t, strings.Contains(err.Error(), secret), "the value leaked")
		})
		t.Run(role+"/vault.secrets", func(t *testing.T) {
			err := vaulttest.AsRole(ctx, b.tx, role, nil, func(tx pgx.Tx) error {
				var s string
				return tx.QueryRow(ctx, "SELECT secret FROM vault.secrets WHERE id = $1", id).Scan(&s)
			})
			require.Equal(t, "42501", sqlstate(err))
		})
		t.Run(role+"/vault.decrypted_secrets", func(t *testing.T) {
			err := vaulttest.AsRole(ctx, b.tx, role, nil, func(tx pgx.Tx) error {
				var s string
				return tx.QueryRow(ctx, "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE id = $1", id).Scan(&s)
			})
			require.Equal(t, "42501", sqlstate(err))
		})
	}
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

func TestPlaintextGuardBasics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	_, err := b.tx.Exec(ctx, `CREATE TABLE public.organization_integrations (
		id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, organization_id uuid NOT NULL,
		provider text NOT NULL, secret_id uuid, settings jsonb NOT NULL DEFAULT '{}')`)
	require.NoError(t, err)
	_, err = b.tx.Exec(ctx, "SELECT "+testSchema(t)+".guard_plaintext_credentials('public.organization_integrations')")
	require.NoError(t, err)

	_, err = b.tx.Exec(ctx, "INSERT INTO public.organization_integrations (organization_id, provider, secret_id) VALUES ($1, 'stripe', $2)",
		uuid.New(), uuid.New())
	require.NoError(t, err, "a secret id reference is accepted")

	key := "sk_" + "live_" + strings.Repeat("A", 4) + hex.EncodeToString([]byte(newSecret()))[:24]
	sp, err := b.tx.Begin(ctx)
	require.NoError(t, err)
	_, err = sp.Exec(ctx, "INSERT INTO public.organization_integrations (organization_id, provider, settings) VALUES ($1, 'stripe', $2)",
		uuid.New(), map[string]any{"api_key": key})
	require.Equal(t, "VA001", sqlstate(err))
	require.ErrorIs(t, vault.KindOf(err), vault.ErrPlaintextCredential)
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	require.Contains(t, pgErr.Message, "settings")
	for _, s := range []string{pgErr.Message, pgErr.Detail, pgErr.Hint} {
		require.False(t, strings.Contains(s, key), "the value leaked")
	}
	require.NoError(t, sp.Rollback(ctx))
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
