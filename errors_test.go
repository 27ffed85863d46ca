package vault_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
)

// kindNames names every kind of the table as the README writes it.
var kindNames = map[string]error{
	"ErrNotFound":              vault.ErrNotFound,
	"ErrPermissionDenied":      vault.ErrPermissionDenied,
	"ErrOwnerPrivilege":        vault.ErrOwnerPrivilege,
	"ErrInvalidArgument":       vault.ErrInvalidArgument,
	"ErrInUse":                 vault.ErrInUse,
	"ErrPlaintextCredential":   vault.ErrPlaintextCredential,
	"ErrDecryption":            vault.ErrDecryption,
	"ErrVaultUnavailable":      vault.ErrVaultUnavailable,
	"ErrSchemaNotWritable":     vault.ErrSchemaNotWritable,
	"ErrNotMigrated":           vault.ErrNotMigrated,
	"ErrMigrationChecksum":     vault.ErrMigrationChecksum,
	"ErrConnection":            vault.ErrConnection,
	"ErrTimeout":               vault.ErrTimeout,
	"ErrConflict":              vault.ErrConflict,
	"ErrReadOnly":              vault.ErrReadOnly,
	"ErrUnsupported":           vault.ErrUnsupported,
	"ErrServer":                vault.ErrServer,
	"ErrVersionMismatch":       vault.ErrVersionMismatch,
	"ErrAlreadyExists":         vault.ErrAlreadyExists,
	"ErrPendingDeletion":       vault.ErrPendingDeletion,
	"context.Canceled":         context.Canceled,
	"context.DeadlineExceeded": context.DeadlineExceeded,
}

func kindRow(t *testing.T, kind error) vault.KindRow {
	t.Helper()
	for _, k := range vault.Kinds() {
		if k.Err == kind {
			return k
		}
	}
	t.Fatalf("no row for %v", kind)
	return vault.KindRow{}
}

// TestKindsTable checks the table itself: every exported sentinel has a
// row, every row an outcome of its own, a hint and a level that keeps
// failures visible at INFO, and no SQLSTATE is claimed twice.
func TestKindsTable(t *testing.T) {
	t.Parallel()
	f, err := parser.ParseFile(token.NewFileSet(), "errors.go", nil, 0)
	require.NoError(t, err)
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok {
			for _, name := range vs.Names {
				if strings.HasPrefix(name.Name, "Err") {
					require.Contains(t, kindNames, name.Name, "a sentinel without a row in the kinds table")
				}
			}
		}
		return true
	})

	named := map[error]bool{}
	for _, e := range kindNames {
		named[e] = true
	}
	rows := vault.Kinds()
	require.Len(t, rows, len(kindNames))
	outcomes := map[string]bool{"ok": true, "error": true}
	codes := map[string]error{}
	for _, k := range rows {
		require.True(t, named[k.Err], "%v has no name in kindNames", k.Err)
		require.Regexp(t, `^[a-z_]+$`, k.Outcome)
		require.False(t, outcomes[k.Outcome], "outcome %q used twice", k.Outcome)
		outcomes[k.Outcome] = true
		require.NotEmpty(t, k.Hint, "%v has no hint", k.Err)
		require.GreaterOrEqual(t, k.Level, slog.LevelInfo, "%v: a failure must show at INFO", k.Err)
		for _, c := range k.Codes {
			require.Regexp(t, `^([0-9A-Z]{2}|[0-9A-Z]{5})$`, c)
			require.NotContains(t, codes, c, "%s claimed by %v and %v", c, codes[c], k.Err)
			codes[c] = k.Err
		}
		// Only transient failures are worth retrying unchanged.
		transient := k.Err == vault.ErrConnection || k.Err == vault.ErrTimeout || k.Err == vault.ErrConflict ||
			k.Err == context.DeadlineExceeded
		require.Equal(t, transient, k.Retryable, "%v", k.Err)
	}
}

// TestClassification maps every SQLSTATE the calls can meet, by class, to
// its kind, as a Client call does, and checks that IsRetryable and Hint
// follow the kind.
func TestClassification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code string
		want error
	}{
		{"P0002", vault.ErrNotFound},
		{"42501", vault.ErrPermissionDenied},
		{"28P01", vault.ErrPermissionDenied},
		{"22004", vault.ErrInvalidArgument},
		{"22023", vault.ErrInvalidArgument},
		{"22021", vault.ErrInvalidArgument},
		{"22P05", vault.ErrInvalidArgument},
		{"23502", vault.ErrInvalidArgument},
		{"23505", vault.ErrAlreadyExists},
		{"23514", vault.ErrInvalidArgument},
		{"54000", vault.ErrInvalidArgument},
		{"54001", vault.ErrInvalidArgument},
		{"25P02", vault.ErrInvalidArgument},
		{"23503", vault.ErrInUse},
		{"23001", vault.ErrInUse},
		{"VA001", vault.ErrPlaintextCredential},
		{"22000", vault.ErrDecryption},
		{"VA002", vault.ErrVaultUnavailable},
		{"42883", vault.ErrNotMigrated},
		{"42P01", vault.ErrNotMigrated},
		{"42703", vault.ErrNotMigrated},
		{"3F000", vault.ErrNotMigrated},
		{"08006", vault.ErrConnection},
		{"08P01", vault.ErrConnection},
		{"57P01", vault.ErrConnection},
		{"57P02", vault.ErrConnection},
		{"57P03", vault.ErrConnection},
		{"57P05", vault.ErrConnection},
		{"53300", vault.ErrConnection},
		{"25P03", vault.ErrConnection},
		{"25P04", vault.ErrConnection},
		{"57014", vault.ErrTimeout},
		{"55P03", vault.ErrTimeout},
		{"40001", vault.ErrConflict},
		{"40P01", vault.ErrConflict},
		{"40003", vault.ErrConflict},
		{"25006", vault.ErrReadOnly},
		{"42P05", vault.ErrUnsupported},
		{"26000", vault.ErrUnsupported},
		{"0A000", vault.ErrUnsupported},
		{"53100", vault.ErrServer},
		{"53200", vault.ErrServer},
		{"53400", vault.ErrServer},
		{"58030", vault.ErrServer},
		{"XX000", vault.ErrServer},
		{"XX001", vault.ErrServer},
		// Not from the calls' own objects: a RAISE in a trigger of yours, a
		// missing database at connect time.
		{"P0001", nil},
		{"3D000", nil},
	} {
		t.Run(tc.code, func(t *testing.T) {
			cause := fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: tc.code})
			got := vault.CallKind(cause)
			require.Equal(t, tc.want, got)
			err := &vault.Error{Op: "retrieve", ID: uuid.New(), Kind: got, Err: cause}
			if tc.want == nil {
				require.False(t, vault.IsRetryable(err))
				require.Empty(t, vault.Hint(err))
				require.Contains(t, err.Error(), "database error (SQLSTATE "+tc.code+")")
				return
			}
			require.Equal(t, kindRow(t, tc.want).Retryable, vault.IsRetryable(err))
			require.Equal(t, kindRow(t, tc.want).Hint, vault.Hint(err))
			require.Contains(t, err.Error(), "(SQLSTATE "+tc.code+")")
		})
	}

	// Every code and class of the table reaches its own row.
	for _, k := range vault.Kinds() {
		for _, c := range k.Codes {
			code := c
			if len(c) == 2 {
				code = c + "Z99" // no real SQLSTATE: only the class matches
			}
			require.Equal(t, k.Err, vault.CallKind(&pgconn.PgError{Code: code}), code)
		}
	}

	// Errors without a SQLSTATE.
	for _, tc := range []struct {
		err  error
		want error
	}{
		{pgx.ErrNoRows, vault.ErrNotFound},
		{io.ErrUnexpectedEOF, vault.ErrConnection},
		{&pgconn.ConnectError{}, vault.ErrConnection},
		{fmt.Errorf("%w: nil credential id", vault.ErrInvalidArgument), vault.ErrInvalidArgument},
		{context.Canceled, context.Canceled},
		// The caller's deadline wins over what the driver saw when it hit.
		{fmt.Errorf("%w: %w", context.DeadlineExceeded, &pgconn.PgError{Code: "57014"}), context.DeadlineExceeded},
		{errors.New("something else"), nil},
	} {
		require.Equal(t, tc.want, vault.CallKind(tc.err), "%v", tc.err)
	}
}

// TestKindOfForeignErrors: KindOf labels a driver error from the caller's
// own statements only when the kind does not depend on the statement.
func TestKindOfForeignErrors(t *testing.T) {
	t.Parallel()
	pgErr := func(code string) error { return fmt.Errorf("my query: %w", &pgconn.PgError{Code: code}) }
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"no rows from my own query", fmt.Errorf("load org: %w", pgx.ErrNoRows), nil},
		{"P0002 from my own function", pgErr("P0002"), nil},
		{"42501 on my own table", pgErr("42501"), nil},
		{"42P01 on my own table", pgErr("42P01"), nil},
		{"22000 from reading vault.decrypted_secrets myself", pgErr("22000"), nil},
		{"23503 on my own tables", pgErr("23503"), nil},
		{"22021 in my own insert", pgErr("22021"), nil},
		{"0A000 in my own query", pgErr("0A000"), nil},
		{"guard", pgErr("VA001"), vault.ErrPlaintextCredential},
		{"compat key", pgErr("VA002"), vault.ErrVaultUnavailable},
		{"serialization failure at my commit", pgErr("40001"), vault.ErrConflict},
		{"statement_timeout", pgErr("57014"), vault.ErrTimeout},
		{"shutdown", pgErr("57P01"), vault.ErrConnection},
		{"lost connection", io.ErrUnexpectedEOF, vault.ErrConnection},
		{"read-only", pgErr("25006"), vault.ErrReadOnly},
		{"disk full", pgErr("53100"), vault.ErrServer},
		{"my own deadline", context.DeadlineExceeded, context.DeadlineExceeded},
		{"a sentinel I wrapped", fmt.Errorf("sync: %w", vault.ErrNotFound), vault.ErrNotFound},
		{"a call's error", fmt.Errorf("sync: %w", &vault.Error{Op: "retrieve", Kind: vault.ErrNotFound, Err: &pgconn.PgError{Code: "P0002"}}), vault.ErrNotFound},
		{"nil", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, vault.KindOf(tc.err))
			if tc.want == nil {
				require.Empty(t, vault.Hint(tc.err))
				require.False(t, vault.IsRetryable(tc.err))
			}
		})
	}
}

// TestREADMEKindsTable holds the README's table of kinds to the one in the
// code: the same kinds, SQLSTATEs, retryability and log levels.
func TestREADMEKindsTable(t *testing.T) {
	t.Parallel()
	table := fileSection(t, "README.md", "| Go error | SQLSTATE |", "\n\n")
	lines := strings.Split(table, "\n")[2:] // the rest of the header, the separator
	codeRE := regexp.MustCompile("`([0-9A-Z]{5}|[0-9A-Z]{2})`")
	levels := map[string]slog.Level{"INFO": slog.LevelInfo, "WARN": slog.LevelWarn, "ERROR": slog.LevelError}
	seen := map[error]bool{}
	for _, line := range lines {
		cols := strings.Split(line, "|")
		require.Len(t, cols, 7, "README row %q", line)
		cols = cols[1:6]
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		kind, ok := kindNames[strings.Trim(cols[0], "`")]
		require.True(t, ok, "README row for an unknown kind: %q", line)
		require.False(t, seen[kind], "two README rows for %s", cols[0])
		seen[kind] = true
		row := kindRow(t, kind)
		var codes []string
		for _, m := range codeRE.FindAllStringSubmatch(cols[1], -1) {
			codes = append(codes, m[1])
		}
		require.ElementsMatch(t, row.Codes, codes, "SQLSTATEs of %s", cols[0])
		require.Equal(t, row.Retryable, cols[3] == "yes", "retryable of %s", cols[0])
		require.Contains(t, []string{"yes", "no"}, cols[3])
		require.Equal(t, row.Level, levels[cols[4]], "level of %s", cols[0])
	}
	require.Len(t, seen, len(vault.Kinds()), "kinds missing from the README")
}

// TestDeleteReferencedCredential: a table of the user's references the
// credential, so Delete fails with ErrInUse, changes nothing and leaves
// the transaction usable; clearing the reference first lets it through.
func TestDeleteReferencedCredential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	secret := newSecret()
	id, err := c.Store(ctx, "fk/"+randomHex(t, 6), secret, "")
	require.NoError(t, err)
	release := holdSecret(t, b.tx, id)

	err = c.Delete(ctx, id)
	require.Equal(t, "23503", sqlstate(err))
	require.ErrorIs(t, err, vault.ErrInUse)
	require.Equal(t, vault.ErrInUse, vault.KindOf(err))
	require.False(t, vault.IsRetryable(err))
	require.NotEmpty(t, vault.Hint(err))
	require.False(t, strings.Contains(err.Error(), secret))

	got, err := c.Retrieve(ctx, id)
	require.NoError(t, err, "the failed delete left the credential and the transaction as they were")
	require.True(t, got == secret)

	release()
	require.NoError(t, c.Delete(ctx, id))
	_, err = c.Retrieve(ctx, id)
	require.ErrorIs(t, err, vault.ErrNotFound)

	require.Len(t, secFindRecord(secRecords(t, b.logs), map[string]any{
		"level": "INFO", "op": "delete", "secret_id": id.String(), "outcome": "in_use", "sqlstate": "23503",
	}), 1)
}

// TestReadOnlyConnection: on a connection whose transactions are read-only,
// as on a hot standby or in PostgREST's GET rpc calls, every writing call
// fails with ErrReadOnly, Retrieve included because it writes the access
// log, and nothing is written; List still reads.
func TestReadOnlyConnection(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	rw, _ := setup(t, on(db.Pool, db.Schema))
	name := "readonly/" + randomHex(t, 6)
	secret := newSecret()
	id, err := rw.Store(ctx, name, secret, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = rw.Delete(context.WithoutCancel(ctx), id) })

	pool := newTestPool(t, db.URL, 2, "credvault-readonly", func(cfg *pgxpool.Config) {
		cfg.ConnConfig.RuntimeParams["default_transaction_read_only"] = "on"
	})
	logger, logs := secLogger()
	ro, err := vault.New(pool, vault.WithSchema(db.Schema), vault.WithRole("service_role"), vault.WithLogger(logger))
	require.NoError(t, err)

	_, err = ro.Retrieve(ctx, id)
	require.Equal(t, "25006", sqlstate(err))
	require.ErrorIs(t, err, vault.ErrReadOnly)
	require.False(t, vault.IsRetryable(err))
	require.Contains(t, vault.Hint(err), "read-write")
	_, err = ro.Store(ctx, name+"/2", newSecret(), "")
	require.ErrorIs(t, err, vault.ErrReadOnly)
	require.ErrorIs(t, ro.Rotate(ctx, id, newSecret()), vault.ErrReadOnly)
	require.ErrorIs(t, ro.Delete(ctx, id), vault.ErrReadOnly)
	listed, err := ro.List(ctx, vault.ListFilter{NamePrefix: name})
	require.NoError(t, err)
	require.Len(t, listed, 1)

	got, err := rw.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, got == secret, "the read-only rotation changed nothing")
	owner := ownerClient(t, db.Pool, db.Schema)
	records, err := owner.AccessLog(ctx, id, 10)
	require.NoError(t, err)
	var retrievals int
	for _, r := range records {
		if r.Op == "retrieve" {
			retrievals++
		}
	}
	require.Equal(t, 1, retrievals, "only the read-write retrieval was logged")

	require.Len(t, secFindRecord(secRecords(t, logs), map[string]any{
		"level": "ERROR", "op": "retrieve", "outcome": "read_only", "sqlstate": "25006",
	}), 1)
}

// TestPreparedStatementClash reproduces, on one connection, what a
// transaction-mode pooler does to pgx's cached prepared statements: the
// server connection already has a statement of the name pgx picks (42P05),
// or no longer has one pgx prepared (26000). Both are ErrUnsupported, with
// a hint naming the fix. pgx names a cached statement "stmtcache_" and the
// hex of the first 24 bytes of its SQL's SHA-256.
func TestPreparedStatementClash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	conn, err := pgx.Connect(ctx, db.URL) // pgx's default exec mode caches prepared statements
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.WithoutCancel(ctx)) })
	tx := vaulttest.Tx(t, conn)
	c, _ := setup(t, on(tx, db.Schema))
	id, err := c.Store(ctx, "pooler/"+randomHex(t, 6), newSecret(), "")
	require.NoError(t, err)

	sum := sha256.Sum256([]byte("SELECT " + pgx.Identifier{db.Schema}.Sanitize() + ".credential_retrieve($1, $2)"))
	_, err = tx.Exec(ctx, "PREPARE stmtcache_"+hex.EncodeToString(sum[:24])+" AS SELECT 1")
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, id)
	require.Equal(t, "42P05", sqlstate(err), "%v", err)
	require.ErrorIs(t, err, vault.ErrUnsupported)
	require.False(t, vault.IsRetryable(err))
	require.Contains(t, vault.Hint(err), "QueryExecModeExec")

	// Store prepared the role switch that every call sends first; the
	// server connection forgets it.
	_, err = tx.Exec(ctx, "DEALLOCATE ALL")
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, id)
	require.Equal(t, "26000", sqlstate(err), "%v", err)
	require.ErrorIs(t, err, vault.ErrUnsupported)
}

// TestCallsAreLoggedByKind: one record per call, message "vault call" and
// the operation once, as an attribute; success at DEBUG, failures at the
// level of their kind; never a value.
func TestCallsAreLoggedByKind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tx := testTx(t)
	logger, logs := secLogger()
	c, err := vault.New(tx, vault.WithSchema(testSchema(t)), vault.WithRole("service_role"), vault.WithLogger(logger))
	require.NoError(t, err)
	missing, err := vault.New(tx, vault.WithSchema("no_such_schema_"+randomHex(t, 4)), vault.WithLogger(logger))
	require.NoError(t, err)

	secret := newSecret()
	id, err := c.Store(ctx, "levels/"+randomHex(t, 6), secret, "")
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, id)
	require.NoError(t, err)
	_, err = c.List(ctx, vault.ListFilter{Limit: 1})
	require.NoError(t, err)
	unknown := uuid.New()
	_, err = c.Retrieve(ctx, unknown)
	require.ErrorIs(t, err, vault.ErrNotFound)
	_, err = c.Store(ctx, "", secret, "")
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
	_, err = c.AccessLog(ctx, id, 1)
	require.ErrorIs(t, err, vault.ErrPermissionDenied)
	_, err = missing.Retrieve(ctx, id)
	require.ErrorIs(t, err, vault.ErrNotMigrated)
	errProvider := errors.New("provider: invalid_grant")
	_, err = c.Refresh(ctx, id, func(context.Context, vault.Secret) (string, error) { return "", errProvider })
	require.ErrorIs(t, err, errProvider)
	// a truncated HTTP body is the caller's, not a lost database connection
	_, err = c.Refresh(ctx, id, func(context.Context, vault.Secret) (string, error) { return "", io.ErrUnexpectedEOF })
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	require.Nil(t, vault.KindOf(err))
	require.False(t, vault.IsRetryable(err))

	want := []map[string]any{
		{"level": "DEBUG", "op": "store", "secret_id": id.String(), "outcome": "ok"},
		{"level": "DEBUG", "op": "retrieve", "secret_id": id.String(), "outcome": "ok"},
		{"level": "DEBUG", "op": "list", "outcome": "ok"},
		{"level": "INFO", "op": "retrieve", "secret_id": unknown.String(), "outcome": "not_found", "sqlstate": "P0002"},
		{"level": "INFO", "op": "store", "outcome": "invalid_argument"},
		{"level": "WARN", "op": "access_log", "secret_id": id.String(), "outcome": "permission_denied", "sqlstate": "42501"},
		{"level": "ERROR", "op": "retrieve", "secret_id": id.String(), "outcome": "not_migrated"},
		// the caller's own refresh function failed: the caller handles it
		{"level": "INFO", "op": "refresh", "secret_id": id.String(), "outcome": "caller_function_failed"},
		{"level": "INFO", "op": "refresh", "secret_id": id.String(), "outcome": "caller_function_failed"},
	}
	records := secRecords(t, logs)
	require.Len(t, records, len(want), "one record per call")
	for i, w := range want {
		for k, v := range w {
			require.Equal(t, v, records[i][k], "record %d, %s", i, k)
		}
		require.Equal(t, "vault call", records[i]["msg"])
	}
	out := logs.String()
	require.Equal(t, len(want), strings.Count(out, `"op":`), "op is written once per record")
	require.False(t, strings.Contains(out, secret), "the value leaked")
}

// TestOwnerLostVaultPrivilege takes from the functions' owner (postgres)
// a Vault grant the functions use, as a Supabase upgrade once did: the
// calls that need it fail with ErrOwnerPrivilege, which tells the
// operator to restore the grant, while a caller that may not call the
// functions still gets ErrPermissionDenied.
func TestOwnerLostVaultPrivilege(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := throwawayDatabase(t, "revokes Vault grants")
	svc, err := vault.New(db.Pool, vault.WithSchema(db.Schema), vault.WithRole("service_role"), quiet())
	require.NoError(t, err)
	id := storeFresh(t, svc, "owner/")

	admin := connect(t, db.AdminURL)
	_, err = admin.Exec(ctx, "REVOKE EXECUTE ON FUNCTION vault._crypto_aead_det_decrypt FROM postgres, service_role CASCADE")
	require.NoError(t, err)

	_, err = svc.Retrieve(ctx, id)
	require.ErrorIs(t, err, vault.ErrOwnerPrivilege)
	require.NotErrorIs(t, err, vault.ErrPermissionDenied)
	require.Equal(t, "42501", sqlstate(err))
	require.Contains(t, vault.Hint(err), "grant it back")
	require.False(t, vault.IsRetryable(err))

	denied, err := vault.New(db.Pool, vault.WithSchema(db.Schema), vault.WithRole("authenticated"), quiet())
	require.NoError(t, err)
	_, err = denied.Retrieve(ctx, id)
	require.ErrorIs(t, err, vault.ErrPermissionDenied)
	require.NotErrorIs(t, err, vault.ErrOwnerPrivilege)
}

// TestNoPlaintextInErrors makes every failure path that is handed a secret
// fail, through the Go client (validation before the round trip, server
// errors, denials) and through SQL (NULL and invalid arguments, unknown
// ids, the plaintext guard), and checks that no error text and no log
// record carries the secret.
func TestNoPlaintextInErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tx := sharedTx(t)
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
