package vault_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
)

// rmStore stores n credentials through c and returns their ids and values.
func rmStore(t *testing.T, c *vault.Client, n int) ([]uuid.UUID, map[uuid.UUID]string) {
	t.Helper()
	ids := make([]uuid.UUID, n)
	values := map[uuid.UUID]string{}
	for i := range ids {
		v := newSecret()
		cred, err := c.Put(context.Background(), "many/"+randomHex(t, 4), v, "")
		require.NoError(t, err)
		ids[i] = cred.ID
		values[cred.ID] = v
	}
	return ids, values
}

// rmAudit returns the access-log rows of each id, by op.
func rmAudit(t *testing.T, b *bundle, ids []uuid.UUID) map[uuid.UUID][]string {
	t.Helper()
	out := map[uuid.UUID][]string{}
	for _, id := range ids {
		out[id] = lcOps(t, b.owner, id)
	}
	return out
}

func TestRetrieveMany(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t, vault.WithNamespace(lcNamespace(t, "org")))
	ids, values := rmStore(t, c, 3)
	before := rmAudit(t, b, ids)

	got, err := c.RetrieveMany(ctx, ids)
	require.NoError(t, err)
	require.Equal(t, values, got)
	after := rmAudit(t, b, ids)
	for _, id := range ids {
		require.Equal(t, append(before[id], "retrieve"), after[id], "one retrieve row per credential")
	}
	records, err := b.owner.AccessLog(ctx, ids[0], 1)
	require.NoError(t, err)
	require.Equal(t, "service_role", records[0].CurrentUser)
	require.Equal(t, "postgres", records[0].SessionUser)
}

func TestRetrieveManyDuplicates(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ids, values := rmStore(t, c, 2)
	before := rmAudit(t, b, ids)

	got, err := c.RetrieveMany(context.Background(), []uuid.UUID{ids[0], ids[1], ids[0], ids[0]})
	require.NoError(t, err)
	require.Equal(t, values, got)
	after := rmAudit(t, b, ids)
	for _, id := range ids {
		require.Len(t, after[id], len(before[id])+1, "a duplicated id is audited once")
	}

	// The SQL function does the same with duplicates it is given.
	var n int
	require.NoError(t, b.tx.QueryRow(context.Background(), "SELECT count(*) FROM "+secIdent(testSchema(t))+
		".credential_retrieve_many('', $1)", []uuid.UUID{ids[1], ids[1]}).Scan(&n))
	require.Equal(t, 1, n)
	require.Len(t, rmAudit(t, b, ids)[ids[1]], len(before[ids[1]])+2)
}

// TestRetrieveManyAllOrNothing: an unknown id, or another namespace's,
// fails the whole call with ErrNotFound naming the missing ids, returns no
// value and writes no access-log row.
func TestRetrieveManyAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	nsA, nsB := lcNamespace(t, "org-a"), lcNamespace(t, "org-b")
	a, b := setup(t, vault.WithNamespace(nsA))
	other := lcClient(t, b.tx, testSchema(t), nsB)
	ids, _ := rmStore(t, a, 2)
	foreign, _ := rmStore(t, other, 1)
	legacy, err := b.owner.Store(ctx, "many/default/"+randomHex(t, 4), newSecret(), "") // default namespace
	require.NoError(t, err)
	unknown := uuid.New()
	all := append(append(slices.Clone(ids), foreign...), legacy, unknown)
	before := rmAudit(t, b, all)

	for _, tc := range []struct {
		name    string
		ask     []uuid.UUID
		missing []uuid.UUID
	}{
		{"unknown id", []uuid.UUID{ids[0], unknown, ids[1]}, []uuid.UUID{unknown}},
		{"another namespace's", []uuid.UUID{ids[0], foreign[0]}, foreign},
		{"the default namespace's", []uuid.UUID{legacy, ids[1]}, []uuid.UUID{legacy}},
		{"several, repeated", []uuid.UUID{unknown, ids[0], foreign[0], unknown}, []uuid.UUID{unknown, foreign[0]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.RetrieveMany(ctx, tc.ask)
			require.ErrorIs(t, err, vault.ErrNotFound)
			require.Nil(t, got)
			var missing *vault.MissingError
			require.ErrorAs(t, err, &missing)
			require.ElementsMatch(t, tc.missing, missing.IDs)
			distinct := map[uuid.UUID]bool{}
			for _, id := range tc.ask {
				distinct[id] = true
			}
			require.Equal(t, len(distinct), missing.Of)
			require.Equal(t, "P0002", sqlstate(err))
			var vErr *vault.Error
			require.ErrorAs(t, err, &vErr)
			require.Equal(t, "retrieve_many", vErr.Op)
			require.Contains(t, err.Error(), "credentials not found")
			require.Equal(t, before, rmAudit(t, b, all), "no access-log row")
		})
	}

	// The other namespace's client sees its own.
	got, err := other.RetrieveMany(ctx, foreign)
	require.NoError(t, err)
	require.Len(t, got, 1)
}

func TestRetrieveManyEmpty(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// A client on a finished transaction: any round trip would fail.
	tx := testTx(t)
	require.NoError(t, tx.Rollback(ctx))
	c, err := vault.New(tx, vault.WithSchema(testSchema(t)), quiet())
	require.NoError(t, err)
	for _, ids := range [][]uuid.UUID{nil, {}} {
		got, err := c.RetrieveMany(ctx, ids)
		require.NoError(t, err)
		require.NotNil(t, got)
		require.Empty(t, got)
	}
}

func TestRetrieveManyInvalid(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	ids, _ := rmStore(t, c, 1)

	_, err := c.RetrieveMany(ctx, []uuid.UUID{ids[0], uuid.Nil})
	require.ErrorIs(t, err, vault.ErrInvalidArgument)

	many := make([]uuid.UUID, vault.MaxRetrieveMany+1)
	for i := range many {
		many[i] = uuid.New()
	}
	_, err = c.RetrieveMany(ctx, many)
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
	// The cap counts distinct ids, and the server takes that many.
	_, err = c.RetrieveMany(ctx, append(many[:vault.MaxRetrieveMany], many[0]))
	var missing *vault.MissingError
	require.ErrorAs(t, err, &missing)
	require.Len(t, missing.IDs, vault.MaxRetrieveMany)

	// The SQL function checks its input itself, for callers through PostgREST.
	s := secIdent(testSchema(t))
	for _, tc := range []struct {
		sql, code string
	}{
		{"SELECT * FROM " + s + ".credential_retrieve_many('', NULL)", "22004"},
		{"SELECT * FROM " + s + ".credential_retrieve_many(NULL, '{}')", "22004"},
		{"SELECT * FROM " + s + ".credential_retrieve_many('', ARRAY[NULL::uuid])", "22004"},
		{"SELECT * FROM " + s + ".credential_retrieve_many('', ARRAY(SELECT gen_random_uuid() FROM generate_series(1, 101)))", "22023"},
	} {
		sp, err := b.tx.Begin(ctx)
		require.NoError(t, err)
		_, err = sp.Exec(ctx, tc.sql)
		require.Equal(t, tc.code, sqlstate(err), tc.sql)
		require.NoError(t, sp.Rollback(ctx))
	}
}

// TestRetrieveManyNeverPrintsValues: neither the error nor the log record
// of a failed batch holds a value.
func TestRetrieveManyNeverPrintsValues(t *testing.T) {
	t.Parallel()
	c, b := setup(t)
	ids, values := rmStore(t, c, 2)
	_, err := c.RetrieveMany(context.Background(), append(ids, uuid.New()))
	require.Error(t, err)
	for _, v := range values {
		require.NotContains(t, err.Error(), v)
		require.NotContains(t, b.logs.String(), v)
	}
	require.True(t, strings.Contains(b.logs.String(), `"op":"retrieve_many"`))
	require.False(t, errors.Is(err, vault.ErrInvalidArgument))
}
