package preflight_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/preflight"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/internal/vaultstate"
	"github.com/credvault/vault/vaulttest"
)

func TestMain(m *testing.M) { vaulttest.Main(m) }

// read reads the state as postgres in a rolled-back transaction.
func read(t *testing.T, pool *pgxpool.Pool, schema string) preflight.State {
	t.Helper()
	tx := vaulttest.Tx(t, pool)
	st, err := preflight.Read(context.Background(), tx, schema)
	require.NoError(t, err)
	return st
}

func codes(ps []preflight.Problem) []preflight.Code {
	var cs []preflight.Code
	for _, p := range ps {
		cs = append(cs, p.Code)
	}
	return cs
}

func TestRead(t *testing.T) {
	t.Parallel()
	db := vaulttest.Shared(t)

	st := read(t, db.Pool, db.Schema)
	require.GreaterOrEqual(t, st.ServerVersionNum, preflight.MinServerVersion)
	require.Equal(t, "postgres", st.CurrentUser)
	require.False(t, st.Superuser)
	require.True(t, st.Vault.Usable())
	require.Empty(t, st.MissingRoles)
	require.Equal(t, preflight.Schema{Name: db.Schema, Exists: true, CanCreate: true, Owner: "postgres", OwnerTrusted: true,
		Table: true, TableOwner: "postgres", TableOwnerTrusted: true, MissingFunctions: []string{}}, st.Schema)
	require.True(t, st.Schema.Installed())
	require.Equal(t, "postgres", st.FunctionsOwner)
	require.Empty(t, st.MissingVaultPrivileges)
	require.Equal(t, db.Schema, st.SuggestedSchema)
	require.Empty(t, st.Problems(), "the test server is healthy and logs nothing")

	// Schema vault, as on Supabase: postgres may not create there.
	st = read(t, db.Pool, "vault")
	require.False(t, st.Schema.CanCreate)
	require.False(t, st.Schema.Installed())
	require.Len(t, st.Schema.MissingFunctions, len(preflight.APIFunctions))
	require.Equal(t, db.Schema, st.SuggestedSchema, "the schema postgres owns and may create in")
	ps := st.Problems()
	require.Equal(t, []preflight.Code{preflight.SchemaNotCreatable}, codes(ps))
	require.Contains(t, ps[0].Msg, fmt.Sprintf("with WithSchema(%q)", db.Schema))

	// A schema that does not exist yet: postgres may create it.
	st = read(t, db.Pool, "not_there_yet")
	require.False(t, st.Schema.Exists)
	require.True(t, st.Schema.CanCreate)
	require.True(t, st.Schema.OwnerTrusted)
	require.Equal(t, "not_there_yet", st.SuggestedSchema)
	require.Empty(t, st.Problems())
}

// TestUndecryptable stores more credentials than one batch decrypts, breaks
// a few across batches, and finds exactly those, by id, in order.
func TestUndecryptable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := testutil.ThrowawayDatabase(t, "alters Vault's rows")
	c, err := vault.New(db.Pool, vault.WithSchema(db.Schema), vault.WithRole("service_role"),
		vault.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	n := preflight.DecryptBatch + 37
	ids := make([]uuid.UUID, n)
	for i := range ids {
		ids[i], err = c.Store(ctx, fmt.Sprintf("batch/%d", i), uuid.NewString(), "")
		require.NoError(t, err)
	}
	admin, err := pgx.Connect(ctx, db.AdminURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close(ctx) })
	// Break three: give each another row's ciphertext and nonce.
	var broken []uuid.UUID
	require.NoError(t, pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH picked AS (SELECT id, row_number() OVER (ORDER BY id) AS i FROM vault.secrets)
UPDATE vault.secrets t SET secret = s.secret, nonce = s.nonce
  FROM picked p, vault.secrets s
 WHERE t.id = p.id AND p.i IN (1, $1, $2) AND s.id = (SELECT id FROM picked WHERE i = p.i + 1)
RETURNING t.id`, preflight.DecryptBatch, preflight.DecryptBatch+20)
		if err != nil {
			return err
		}
		broken, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		return err
	}))
	require.Len(t, broken, 3)
	var want []uuid.UUID
	require.NoError(t, admin.QueryRow(ctx, "SELECT array_agg(id ORDER BY id) FROM vault.secrets WHERE id = ANY($1)", broken).Scan(&want))

	tx := vaulttest.Tx(t, db.Pool)
	countLog := func() (n int) {
		t.Helper()
		require.NoError(t, tx.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{db.Schema, "vault_access_log"}.Sanitize()).Scan(&n))
		return n
	}
	logged := countLog() // one row per Store above
	got, checked, err := preflight.Undecryptable(ctx, tx)
	require.NoError(t, err)
	require.Equal(t, n, checked)
	require.Equal(t, want, got)
	require.Equal(t, logged, countLog(), "decrypting wrote to the access log")
}

func TestVaultProblems(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		vault vaultstate.State
		want  []preflight.Code
	}{
		{vaultstate.State{Kind: vaultstate.Extension, ExtVersion: "0.3.1"}, nil},
		{vaultstate.State{Kind: vaultstate.Compat, CompatVersion: vaultstate.CompatVersion}, nil},
		{vaultstate.State{Kind: vaultstate.Compat, CompatVersion: 1}, []preflight.Code{preflight.CompatOutdated}},
		{vaultstate.State{Kind: vaultstate.Absent}, []preflight.Code{preflight.VaultAbsent}},
		{vaultstate.State{Kind: vaultstate.Foreign, Problem: "schema vault is owned by \"app\""}, []preflight.Code{preflight.VaultForeign}},
	} {
		st := preflight.State{ServerVersionNum: preflight.MinServerVersion, Vault: tc.vault,
			Schema: preflight.Schema{Name: "credentials", CanCreate: true, OwnerTrusted: true, TableOwnerTrusted: true}}
		require.Equal(t, tc.want, codes(st.Problems()), "%+v", tc.vault)
	}
}
