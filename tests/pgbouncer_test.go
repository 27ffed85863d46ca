package tests

import (
	"context"
	"log/slog"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
)

// TestQueryExecModesWithoutNamedStatements runs the client on pools
// configured as behind PgBouncer in transaction pooling mode, where a
// named prepared statement made on one server connection is missing on
// the next: pgx.QueryExecModeExec and pgx.QueryExecModeCacheDescribe use
// only the unnamed statement. In both, every call works, with and without
// WithRole, leaves no named prepared statement on the server, and takes
// one round trip (with CacheDescribe, after a first use that fetches the
// statements' descriptions). The default mode, which does name its
// statements, is the control.
func TestQueryExecModesWithoutNamedStatements(t *testing.T) {
	db := vaulttest.NewDatabase(t)
	for _, tc := range []struct {
		mode           pgx.QueryExecMode
		namedStatement bool // whether the mode leaves named statements on the server
		firstUse       int  // round trips of an operation's first call on a connection
	}{
		{pgx.QueryExecModeExec, false, 1},
		{pgx.QueryExecModeCacheDescribe, false, 2},
		{pgx.QueryExecModeCacheStatement, true, 2},
	} {
		for _, role := range []string{"", "service_role"} {
			name := tc.mode.String()
			opts := []vault.Option{vault.WithSchema(db.Schema), vault.WithLogger(slog.New(slog.DiscardHandler))}
			if role != "" {
				name += "/WithRole"
				opts = append(opts, vault.WithRole(role))
			}
			t.Run(name, func(t *testing.T) {
				ctx := context.Background()
				pool, rt := countingPool(t, db, tc.mode)
				c, err := vault.New(pool, opts...)
				require.NoError(t, err)

				first := callRoundTrips(t, c, rt)
				for op, n := range first {
					require.Contains(t, []int{1, tc.firstUse}, n, "%s, first use", op)
				}
				require.Equal(t, oneRoundTripEach, callRoundTrips(t, c, rt))

				id, _ := testutil.StoreNew(t, c, "pgbouncer/acme")
				testutil.RequireRotateDelete(t, c, id, testutil.NewSecret())

				// The pool has one connection: this is the one the calls used.
				var named int
				require.NoError(t, pool.QueryRow(ctx, "SELECT count(*) FROM pg_catalog.pg_prepared_statements",
					pgx.QueryExecModeExec).Scan(&named))
				require.Equal(t, tc.namedStatement, named > 0, "named prepared statements on the server: %d", named)
			})
		}
	}
}
