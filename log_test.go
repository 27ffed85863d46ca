package vault_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

// This file proves the audit trail: what one access-log row holds, that
// only successful retrievals add one, that failures reach the Go logger
// instead, and that nobody but the owner may read or change the log.

// secLogRows counts the retrieval rows of id in the access log, as the
// owner.
func secLogRows(t *testing.T, db vault.DB, schema string, id uuid.UUID) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(),
		"SELECT count(*) FROM "+secIdent(schema)+".vault_access_log WHERE secret_id = $1 AND op = 'retrieve'", id).Scan(&n))
	return n
}

// TestAuditRecordsEachRetrieval retrieves through pools that identify
// themselves with an application_name and reach the server over TCP on
// 127.0.0.1, logged in as the migration owner and, as PostgREST does, as
// authenticator, both running the calls as service_role. Each Retrieve
// adds exactly one row holding the secret id, the time of the call, the
// login role, the role the caller ran as, the application name and the
// client address.
func TestAuditRecordsEachRetrieval(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	owner, err := vault.New(db.Pool, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)

	logins := []string{testserver.OwnerRole}
	if db.AdminURL != "" { // a throwaway cluster, where authenticator logs in without a password
		logins = append(logins, "authenticator")
	}
	for _, login := range logins {
		t.Run(login, func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(db.URL)
			require.NoError(t, err)
			cfg.ConnConfig.User = login
			if login == "authenticator" {
				// See TestWithRoleFromNoInheritLogin for the default mode.
				cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
			}
			app := "credvault-audit-" + randomHex(t, 4)
			cfg.ConnConfig.RuntimeParams["application_name"] = app
			pool, err := pgxpool.NewWithConfig(ctx, cfg)
			require.NoError(t, err)
			t.Cleanup(pool.Close)
			c, err := vault.New(pool, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
			require.NoError(t, err)
			id, err := c.Store(ctx, "audit/"+uuid.NewString(), newSecret(), "")
			require.NoError(t, err)
			require.Zero(t, secLogRows(t, db.Pool, db.Schema, id), "storing is not an access")

			for n := 1; n <= 2; n++ {
				var before, after time.Time
				require.NoError(t, pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&before))
				_, err := c.Retrieve(ctx, id)
				require.NoError(t, err)
				require.NoError(t, pool.QueryRow(ctx, "SELECT clock_timestamp()").Scan(&after))

				records, err := owner.AccessLog(ctx, id, 10)
				require.NoError(t, err)
				records = secRetrievals(records)
				require.Len(t, records, n, "one row per successful Retrieve")
				r := records[0]
				require.Equal(t, id, r.SecretID)
				require.False(t, r.AccessedAt.Before(before), "accessed_at %v is before the call started (%v)", r.AccessedAt, before)
				require.False(t, r.AccessedAt.After(after), "accessed_at %v is after the call returned (%v)", r.AccessedAt, after)
				require.Equal(t, login, r.SessionUser)
				require.Equal(t, secService, r.CurrentUser)
				require.Equal(t, app, r.ApplicationName)
				require.Empty(t, r.JWTRole)
				require.Empty(t, r.JWTSubject)
				if cfg.ConnConfig.Host == "127.0.0.1" {
					require.Equal(t, netip.MustParseAddr("127.0.0.1"), r.ClientAddr)
				} else {
					require.True(t, r.ClientAddr.IsValid(), "a TCP session records its client address")
				}
				if n == 2 {
					require.Greater(t, r.ID, records[1].ID, "row ids increase")
				}
			}
		})
	}
}

// TestAuditJWTClaims retrieves the way PostgREST runs a request (SET
// LOCAL ROLE and request.jwt.claims) and checks that the row carries the
// JWT's role and sub; older PostgREST versions' request.jwt.claim.*
// settings are used when the claims are absent or unreadable; malformed or
// non-object claims never break the retrieval.
func TestAuditJWTClaims(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	owner, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)
	secret := newSecret()
	id, err := owner.Store(ctx, "audit/jwt/"+uuid.NewString(), secret, "")
	require.NoError(t, err)

	// retrieveWith retrieves as service_role with the raw claims setting
	// (nil: unset) and the older per-claim settings, and returns the row.
	retrieveWith := func(t *testing.T, claims *string, legacy map[string]string) vault.AccessRecord {
		t.Helper()
		err := vaulttest.AsRole(ctx, tx, secService, nil, func(tx pgx.Tx) error {
			if claims != nil {
				if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('request.jwt.claims', $1, true)", *claims); err != nil {
					return err
				}
			}
			for k, v := range legacy {
				if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config($1, $2, true)", "request.jwt.claim."+k, v); err != nil {
					return err
				}
			}
			c, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
			if err != nil {
				return err
			}
			got, err := c.Retrieve(ctx, id)
			if err != nil {
				return err
			}
			require.True(t, got == secret, "retrieve returned another value")
			for k := range legacy {
				if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config($1, '', true)", "request.jwt.claim."+k); err != nil {
					return err
				}
			}
			return nil
		})
		require.NoError(t, err, "retrieval must not depend on the claims being readable")
		records, err := owner.AccessLog(ctx, id, 1)
		require.NoError(t, err)
		require.Len(t, records, 1)
		require.Equal(t, secService, records[0].CurrentUser)
		return records[0]
	}
	str := func(s string) *string { return &s }

	t.Run("PostgREST claims", func(t *testing.T) {
		sub := uuid.NewString()
		err := vaulttest.AsRole(ctx, tx, secService, map[string]any{"role": secService, "sub": sub, "aud": "authenticated"},
			func(tx pgx.Tx) error {
				c, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
				if err != nil {
					return err
				}
				_, err = c.Retrieve(ctx, id)
				return err
			})
		require.NoError(t, err)
		records, err := owner.AccessLog(ctx, id, 1)
		require.NoError(t, err)
		require.Equal(t, secService, records[0].JWTRole)
		require.Equal(t, sub, records[0].JWTSubject)
	})
	for name, raw := range map[string]string{
		"malformed JSON": `{"role": "service_role", "sub": `,
		"not JSON":       "Bearer " + randomHex(t, 8),
		"JSON array":     `["service_role"]`,
		"JSON string":    `"service_role"`,
		"JSON null":      `null`,
		"empty":          ``,
	} {
		t.Run(name, func(t *testing.T) {
			r := retrieveWith(t, str(raw), nil)
			require.Empty(t, r.JWTRole)
			require.Empty(t, r.JWTSubject)
		})
	}
	t.Run("older PostgREST settings", func(t *testing.T) {
		sub := uuid.NewString()
		r := retrieveWith(t, nil, map[string]string{"role": "authenticated", "sub": sub})
		require.Equal(t, "authenticated", r.JWTRole)
		require.Equal(t, sub, r.JWTSubject)
	})
	t.Run("malformed claims fall back to older settings", func(t *testing.T) {
		sub := uuid.NewString()
		r := retrieveWith(t, str(`{"sub":`), map[string]string{"sub": sub})
		require.Empty(t, r.JWTRole)
		require.Equal(t, sub, r.JWTSubject)
	})
}

// TestAuditFailedCallsAddNoRow shows that a retrieval that fails, because
// the id is unknown or the role may not call the function, writes nothing to
// the access log and is reported by the Go logger instead, with the
// credential id, outcome and SQLSTATE.
func TestAuditFailedCallsAddNoRow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	logger, logs := secLogger()
	client := func(role string) *vault.Client {
		c, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(role), vault.WithLogger(logger))
		require.NoError(t, err)
		return c
	}
	svc := client(secService)
	id, err := svc.Store(ctx, "audit/failed/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)

	unknown := uuid.New()
	_, err = svc.Retrieve(ctx, unknown)
	require.ErrorIs(t, err, vault.ErrNotFound)
	require.Zero(t, secLogRows(t, tx, db.Schema, unknown))

	for _, role := range []string{"authenticated", "anon"} {
		_, err = client(role).Retrieve(ctx, id)
		require.ErrorIs(t, err, vault.ErrPermissionDenied)
	}
	require.Zero(t, secLogRows(t, tx, db.Schema, id), "denied retrievals leave no row")

	_, err = svc.Retrieve(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 1, secLogRows(t, tx, db.Schema, id), "only the successful retrieval left a row")

	records := secRecords(t, logs)
	require.Len(t, secFindRecord(records, map[string]any{
		"level": "INFO", "op": "retrieve", "secret_id": unknown.String(), "outcome": "not_found", "sqlstate": "P0002", "role": secService,
	}), 1, "the failed retrieval is logged")
	for _, role := range []string{"authenticated", "anon"} {
		require.Len(t, secFindRecord(records, map[string]any{
			"level": "WARN", "op": "retrieve", "secret_id": id.String(), "outcome": "permission_denied", "sqlstate": "42501", "role": role,
		}), 1, "the denied retrieval as %s is logged", role)
	}
	require.Len(t, secFindRecord(records, map[string]any{
		"level": "DEBUG", "op": "retrieve", "secret_id": id.String(), "outcome": "ok", "role": secService,
	}), 1)
}

// TestAuditLogIsAppendOnly checks that, with rows in the log, service_role
// and authenticated may neither update, delete nor truncate them, that
// none of the API roles may read them, even with the schema exposed to
// PUBLIC, while the owner reads them with Client.AccessLog.
func TestAuditLogIsAppendOnly(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	owner, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)
	svc, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)
	id, err := svc.Store(ctx, "audit/append-only/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	for range 2 {
		_, err = svc.Retrieve(ctx, id)
		require.NoError(t, err)
	}
	want, err := owner.AccessLog(ctx, id, 10)
	require.NoError(t, err)
	require.Len(t, secRetrievals(want), 2)

	log := secIdent(db.Schema) + ".vault_access_log"
	tamper := map[string]string{
		"UPDATE":   "UPDATE " + log + " SET current_user_name = 'someone_else', jwt_sub = 'forged'",
		"DELETE":   "DELETE FROM " + log,
		"TRUNCATE": "TRUNCATE " + log,
		"INSERT":   "INSERT INTO " + log + " (secret_id, session_user_name, current_user_name) VALUES (gen_random_uuid(), 'forged', 'forged')",
		"SELECT":   "SELECT count(*) FROM " + log,
	}
	check := func(t *testing.T) {
		for _, role := range []string{secService, "authenticated", "anon"} {
			for op, sql := range tamper {
				require.Equal(t, "42501", secProbe(t, tx, role, secSQL(sql)), "%s as %s", op, role)
			}
		}
		got, err := owner.AccessLog(ctx, id, 10)
		require.NoError(t, err)
		require.Equal(t, want, got, "the rows are unchanged")
		_, err = svc.AccessLog(ctx, id, 10)
		require.ErrorIs(t, err, vault.ErrPermissionDenied)
	}
	t.Run("as installed", check)
	_, err = tx.Exec(ctx, "GRANT USAGE ON SCHEMA "+secIdent(db.Schema)+" TO PUBLIC")
	require.NoError(t, err)
	t.Run("schema exposed", check)

	// The owner may prune.
	require.Empty(t, secProbe(t, tx, secOwner, secSQL("DELETE FROM "+log+" WHERE secret_id = $1", id)))
}

// TestAuditRecordsCallerBehindDefinerWrapper shows which role a row
// names when an end user reaches retrieve_credential through a SECURITY
// DEFINER wrapper of the owner's, exposed through the API (a pattern to
// avoid): the end user's role and JWT subject, not the wrapper's owner.
func TestAuditRecordsCallerBehindDefinerWrapper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	owner, err := vault.New(tx, vault.WithSchema(db.Schema), quiet())
	require.NoError(t, err)
	id, err := owner.Store(ctx, "audit/wrapper/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	wrapper := "public.credvault_wrapper_" + randomHex(t, 4)
	_, err = tx.Exec(ctx, "CREATE FUNCTION "+wrapper+"(uuid) RETURNS text LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp "+
		"AS $$ SELECT "+secIdent(db.Schema)+".retrieve_credential($1) $$; GRANT EXECUTE ON FUNCTION "+wrapper+"(uuid) TO authenticated")
	require.NoError(t, err)

	sub := uuid.NewString()
	err = vaulttest.AsRole(ctx, tx, "authenticated", map[string]any{"role": "authenticated", "sub": sub}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT "+wrapper+"($1)", id)
		return err
	})
	require.NoError(t, err)
	records, err := owner.AccessLog(ctx, id, 10)
	require.NoError(t, err)
	records = secRetrievals(records)
	require.Len(t, records, 1)
	require.Equal(t, "authenticated", records[0].CurrentUser)
	require.Equal(t, "authenticated", records[0].JWTRole)
	require.Equal(t, sub, records[0].JWTSubject)
	require.Equal(t, testserver.OwnerRole, records[0].SessionUser)
}

// TestAuditRowIsPartOfCallerTransaction documents a limit of an in-database
// log: the row is written in the caller's transaction, so a caller that
// rolls back removes it although it read the value. The Go logger's record
// remains.
func TestAuditRowIsPartOfCallerTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
	logger, logs := secLogger()
	svc, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole(secService), quiet())
	require.NoError(t, err)
	id, err := svc.Store(ctx, "audit/rollback/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)

	inner, err := tx.Begin(ctx)
	require.NoError(t, err)
	c, err := vault.New(inner, vault.WithSchema(db.Schema), vault.WithRole(secService), vault.WithLogger(logger))
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.Equal(t, 1, secLogRows(t, inner, db.Schema, id))
	require.NoError(t, inner.Rollback(ctx))

	require.Zero(t, secLogRows(t, tx, db.Schema, id), "the row went with the rolled-back transaction")
	require.Len(t, secFindRecord(secRecords(t, logs), map[string]any{
		"op": "retrieve", "secret_id": id.String(), "outcome": "ok",
	}), 1, "the Go logger's record is the durable trace")
}
