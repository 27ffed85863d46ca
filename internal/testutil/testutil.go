// Package testutil holds what the tests of package vault and of the tests/
// package share: one way to build a client, random test secrets, log
// capture, quoting and secret-safe assertions. Test secrets are generated at
// run time; assertions never print the text they search.
package testutil

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

// ServiceRole is the role the library's callers run as.
const ServiceRole = "service_role"

// An Option configures [Setup].
type Option func(*config)

type config struct {
	db     vault.DB
	schema string
	opts   []vault.Option
}

// On makes Setup's clients work on db in schema, instead of in a
// transaction on the shared database.
func On(db vault.DB, schema string) Option {
	return func(c *config) { c.db, c.schema = db, schema }
}

// With passes opts to vault.New after Setup's own (schema, role, logger),
// so that they override them.
func With(opts ...vault.Option) Option {
	return func(c *config) { c.opts = append(c.opts, opts...) }
}

// Namespace scopes Setup's service client to ns.
func Namespace(ns string) Option { return With(vault.WithNamespace(ns)) }

// A Bundle holds what Setup built besides the service client.
type Bundle struct {
	Tx    pgx.Tx        // the transaction the clients work in; nil with On and a pool
	Owner *vault.Client // runs as the connection's role (postgres)
	Logs  *LogBuffer    // the JSON records of both clients, debug level and up
}

// Setup returns a client that runs as service_role and a bundle. By
// default both clients work in a transaction on the shared migrated
// database that is rolled back when the test ends; see [On] and [With].
func Setup(t testing.TB, opts ...Option) (*vault.Client, *Bundle) {
	t.Helper()
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.db == nil {
		shared := vaulttest.Shared(t)
		cfg.db, cfg.schema = vaulttest.Tx(t, shared.Pool), shared.Schema
	}
	logger, logs := Logger()
	base := []vault.Option{vault.WithSchema(cfg.schema), vault.WithLogger(logger)}
	c, err := vault.New(cfg.db, append(append(base, vault.WithRole(ServiceRole)), cfg.opts...)...)
	require.NoError(t, err)
	owner, err := vault.New(cfg.db, base...)
	require.NoError(t, err)
	tx, _ := cfg.db.(pgx.Tx)
	return c, &Bundle{Tx: tx, Owner: owner, Logs: logs}
}

// ThrowawayDatabase returns a new test database, dropped when the test
// ends, and skips the test, saying why it needs a throwaway server, when
// the tests run on an existing database (VAULT_TEST_DATABASE_URL).
func ThrowawayDatabase(t testing.TB, why string) *vaulttest.Database {
	t.Helper()
	db := vaulttest.NewDatabase(t)
	if db.AdminURL == "" {
		t.Skip(why + ": needs a throwaway server, not VAULT_TEST_DATABASE_URL")
	}
	return db
}

// OwnServer starts a throwaway server of the test's own, never an
// external one, with settings (see testserver.Options), and stops it when
// the test ends.
func OwnServer(t testing.TB, settings map[string]string) *testserver.Server {
	t.Helper()
	srv, err := testserver.Start(context.Background(), testserver.Options{NoExternal: true, Settings: settings})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

// TransferCounts describes the size of everything an import may write
// (Vault secrets, the library's bookkeeping, the record of imports and
// the access log of schema), to compare before and after.
func TransferCounts(t testing.TB, db vault.DB, schema string) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(context.Background(), fmt.Sprintf(
		"SELECT concat_ws(' ', (SELECT count(*) FROM vault.secrets), (SELECT count(*) FROM %[1]s.vault_credentials), "+
			"(SELECT count(*) FROM %[1]s.credential_imports), (SELECT count(*) FROM %[1]s.vault_access_log))",
		Ident(schema))).Scan(&s))
	return s
}

// Quiet discards a client's log.
func Quiet() vault.Option { return vault.WithLogger(slog.New(slog.DiscardHandler)) }

// NewPool returns a pool on url with at most maxConns connections,
// application_name set to app (so its server sessions can be found in
// pg_stat_activity) and any further settings made by configure, closed
// when the test ends.
func NewPool(t testing.TB, url string, maxConns int32, app string, configure func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = maxConns
	cfg.ConnConfig.RuntimeParams["application_name"] = app
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	return pool
}

// Connect returns a small pool on url, closed when the test ends.
func Connect(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	return NewPool(t, url, 4, "credvault-test", nil)
}

// NewSecret returns a fresh random value; test secrets are never literals.
func NewSecret() string {
	return "test-secret-" + rand.Text() + rand.Text()
}

// Closed reports whether ch is closed, without waiting: the loop
// condition of goroutines that run until a test closes ch.
func Closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// RequireValue checks that c retrieves want for id. On a mismatch it
// fails with msg and prints neither value.
func RequireValue(t testing.TB, c *vault.Client, id uuid.UUID, want, msg string) {
	t.Helper()
	got, err := c.Retrieve(context.Background(), id)
	require.NoError(t, err)
	require.True(t, got == want, msg)
}

// StoreNew stores a new test secret under name, checks that it is
// retrieved as stored and returns its id and the secret.
func StoreNew(t testing.TB, c *vault.Client, name string) (uuid.UUID, string) {
	t.Helper()
	secret := NewSecret()
	id, err := c.Store(context.Background(), name, secret, "")
	require.NoError(t, err)
	RequireValue(t, c, id, secret, "Retrieve returned another value than was stored")
	return id, secret
}

// RequireRotateDelete rotates the credential id to rotated and checks that
// it is retrieved, then deletes it and checks that it is gone.
func RequireRotateDelete(t testing.TB, c *vault.Client, id uuid.UUID, rotated string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, c.Rotate(ctx, id, rotated))
	RequireValue(t, c, id, rotated, "Retrieve after Rotate returned another value")
	require.NoError(t, c.Delete(ctx, id))
	_, err := c.Retrieve(ctx, id)
	require.ErrorIs(t, err, vault.ErrNotFound)
}

// RandomBytes returns n random bytes.
func RandomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// RandomHex returns n random bytes as hex, for unique names.
func RandomHex(t testing.TB, n int) string {
	t.Helper()
	return hex.EncodeToString(RandomBytes(t, n))
}

// Alnum returns n random letters and digits.
func Alnum(t testing.TB, n int) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := RandomBytes(t, n)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// SQLState returns the SQLSTATE of the server error err wraps, or "".
func SQLState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// Ident quotes s as an SQL identifier.
func Ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// QuoteLiteral quotes s as an SQL string literal
// (standard_conforming_strings on).
func QuoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// LogBuffer is a concurrency-safe sink for a JSON slog handler.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Logger returns a JSON slog logger at debug level writing into a fresh
// buffer.
func Logger() (*slog.Logger, *LogBuffer) {
	buf := &LogBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// Records decodes the JSON records written to buf.
func Records(t testing.TB, buf *LogBuffer) []map[string]any {
	t.Helper()
	var records []map[string]any
	sc := bufio.NewScanner(strings.NewReader(buf.String()))
	for sc.Scan() {
		var r map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &r))
		records = append(records, r)
	}
	require.NoError(t, sc.Err())
	return records
}

// Contains reports whether s holds secret, whole or any 16-byte piece of it.
func Contains(s, secret string) bool {
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

// RequireAbsent fails when any of secrets occurs in s, naming only where
// and which one (by index).
func RequireAbsent(t testing.TB, where, s string, secrets ...string) {
	t.Helper()
	for i, secret := range secrets {
		if Contains(s, secret) {
			t.Fatalf("secret #%d appears in %s", i, where)
		}
	}
}

// ErrorTexts returns every text an error carries: its message in each
// format, and each field of the server error it wraps.
func ErrorTexts(err error) map[string]string {
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

// NewNamespace returns a fresh namespace name starting with what.
func NewNamespace(t testing.TB, what string) string {
	t.Helper()
	return what + "-" + RandomHex(t, 4)
}

// MigrationFiles returns the embedded migration files by version (1-based)
// with their SHA-256.
func MigrationFiles(t testing.TB) (names, sums []string) {
	t.Helper()
	files, err := fs.Glob(vault.Migrations, "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		b, err := fs.ReadFile(vault.Migrations, f)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		names = append(names, f)
		sums = append(sums, hex.EncodeToString(sum[:]))
	}
	return names, sums
}

// MigrationCount returns the number of embedded migrations.
func MigrationCount(t testing.TB) int {
	t.Helper()
	names, _ := MigrationFiles(t)
	return len(names)
}

// AppliedMigrations returns the number of rows of the version table of
// schema, an SQL name (quoted where it needs to be).
func AppliedMigrations(t testing.TB, pool *pgxpool.Pool, schema string) int {
	t.Helper()
	var n int
	require.NoError(t, pool.QueryRow(context.Background(),
		"SELECT count(*) FROM "+schema+".credvault_migrations").Scan(&n))
	return n
}

// RequireOneCredential checks that the namespace has one credential
// called name and that Vault holds no secret besides the database's
// credentials.
func RequireOneCredential(t testing.TB, db *vaulttest.Database, ns, name string) {
	t.Helper()
	ctx := context.Background()
	var named, tracked, inVault int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FILTER (WHERE namespace = $1 AND name = $2), count(*) FROM "+
		Ident(db.Schema)+".vault_credentials", ns, name).Scan(&named, &tracked))
	require.Equal(t, 1, named)
	if db.AdminURL == "" {
		return // VAULT_TEST_DATABASE_URL: Vault holds other tests' secrets too
	}
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM vault.secrets").Scan(&inVault))
	require.Equal(t, tracked, inVault, "a Put that lost the race left a Vault secret behind")
}

// Retrievals keeps the retrieval records: the log also records every
// write, such as the Store that created the credential.
func Retrievals(records []vault.AccessRecord) []vault.AccessRecord {
	var out []vault.AccessRecord
	for _, r := range records {
		if r.Op == "retrieve" {
			out = append(out, r)
		}
	}
	return out
}

// FileContaining returns the path of a regular file under dir whose bytes
// contain s, or "" when none does, and how many files it read. Files that
// vanish while it walks (the server recycles WAL segments and removes
// temporary files) are skipped. It reads each file in 1 MiB windows that
// overlap by len(s)-1 bytes, so a match across two windows is found.
func FileContaining(dir, s string) (path string, files int, err error) {
	m := []byte(s)
	buf := make([]byte, 1<<20+len(m))
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil || path != "" || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		files++
		keep := 0
		for {
			n, rerr := io.ReadFull(f, buf[keep:])
			if bytes.Contains(buf[:keep+n], m) {
				path = p
				return nil
			}
			if rerr != nil {
				if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
					return nil
				}
				return rerr
			}
			keep = min(len(m)-1, keep+n)
			copy(buf, buf[len(buf)-keep:])
		}
	})
	return path, files, err
}
