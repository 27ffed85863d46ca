package vault_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
)

// rcClient returns a client running as service_role on db, scoped to ns,
// with the given options.
func rcClient(t testing.TB, db vault.DB, schema, ns string, opts ...vault.Option) *vault.Client {
	t.Helper()
	base := []vault.Option{vault.WithSchema(schema), vault.WithRole(secService), vault.WithNamespace(ns), quiet()}
	c, err := vault.New(db, append(base, opts...)...)
	require.NoError(t, err)
	return c
}

// rcOwner returns a client running as the functions' owner on db, scoped
// to ns.
func rcOwner(t testing.TB, db vault.DB, schema, ns string, opts ...vault.Option) *vault.Client {
	t.Helper()
	base := []vault.Option{vault.WithSchema(schema), vault.WithNamespace(ns), quiet()}
	c, err := vault.New(db, append(base, opts...)...)
	require.NoError(t, err)
	return c
}

// rcVaultRows counts id's rows in vault.secrets.
func rcVaultRows(t testing.TB, db vault.DB, id uuid.UUID) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(), "SELECT count(*) FROM vault.secrets WHERE id = $1", id).Scan(&n))
	return n
}

// rcExpire moves the end of id's recovery window into the past, as the
// owner: in a test transaction now() does not advance.
func rcExpire(t testing.TB, db vault.DB, schema string, id uuid.UUID) {
	t.Helper()
	tag, err := db.Exec(context.Background(), "UPDATE "+secIdent(schema)+".vault_credentials "+
		"SET deleted_at = now() - interval '2 hours', purge_after = now() - interval '1 second' "+
		"WHERE id = $1 AND deleted_at IS NOT NULL", id)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected(), "the credential is not deleted into a window")
}

// rcListed reports whether List (live, or deleted) shows id.
func rcListed(t testing.TB, c *vault.Client, id uuid.UUID, deleted bool) bool {
	t.Helper()
	for cred, err := range c.All(context.Background(), vault.ListFilter{Deleted: deleted}) {
		require.NoError(t, err)
		if cred.ID == id {
			return true
		}
	}
	return false
}

// rcSQL runs one statement as service_role in a savepoint of tx that is
// always rolled back, and returns its SQLSTATE ("" on success) and, for a
// query, its first column as text.
func rcSQL(t *testing.T, tx pgx.Tx, sql string, args ...any) (string, string) {
	t.Helper()
	var out *string
	code := secProbe(t, tx, secService, func(ctx context.Context, sp pgx.Tx) error {
		err := sp.QueryRow(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...).Scan(&out)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	if out == nil {
		return code, ""
	}
	return code, *out
}

// TestRecoveryWindowHidesAndRestores deletes a credential into a
// recovery window and checks that every call, and every original SQL
// function, then treats it as an unknown id without changing anything,
// that Put of its name is refused with ErrPendingDeletion, and that
// Restore brings it back with its id, value and version.
func TestRecoveryWindowHidesAndRestores(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	schema := testSchema(t)
	s := secIdent(schema)
	ns := lcNamespace(t, "recover")
	c := rcClient(t, b.tx, schema, ns, vault.WithRecoveryWindow(time.Hour))

	name := "recover/" + uuid.NewString()
	value := newSecret()
	cred, err := c.Put(ctx, name, newSecret(), "kept while deleted")
	require.NoError(t, err)
	require.NoError(t, c.Rotate(ctx, cred.ID, value)) // a previous value exists, for Rollback
	other, err := c.Put(ctx, "recover/other-"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)

	require.NoError(t, c.Delete(ctx, cred.ID))
	require.Equal(t, 1, rcVaultRows(t, b.tx, cred.ID), "the Vault row stays during the window")
	require.Equal(t, []string{"put", "rotate", "delete"}, lcOps(t, b.owner, cred.ID))

	before := lcSnapshot(t, b.tx, schema, b.owner, cred.ID)
	unknown := uuid.New()
	id := cred.ID
	fnCalled := false
	newName, desc := "stolen", "stolen"
	calls := map[string]func() error{
		"Retrieve":         func() error { _, err := c.Retrieve(ctx, id); return err },
		"Read":             func() error { _, err := c.Read(ctx, id); return err },
		"Rotate":           func() error { return c.Rotate(ctx, id, newSecret()) },
		"Rotate IfVersion": func() error { return c.Rotate(ctx, id, newSecret(), vault.IfVersion(2)) },
		"Rollback":         func() error { return c.Rollback(ctx, id) },
		"Update": func() error {
			_, err := c.Update(ctx, id, vault.CredentialUpdate{Name: &newName, Description: &desc})
			return err
		},
		"Refresh": func() error {
			_, err := c.Refresh(ctx, id, func(context.Context, vault.Secret) (string, error) {
				fnCalled = true
				return newSecret(), nil
			})
			return err
		},
	}
	for what, call := range calls {
		errDeleted := call()
		require.ErrorIs(t, errDeleted, vault.ErrNotFound, "%s of a deleted credential", what)
		require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, cred.ID), "%s changed something", what)
		id = unknown
		errUnknown := call()
		id = cred.ID
		require.ErrorIs(t, errUnknown, vault.ErrNotFound, what)
		require.Equal(t, sqlstate(errUnknown), sqlstate(errDeleted), what)
		require.Equal(t, strings.ReplaceAll(errUnknown.Error(), unknown.String(), "ID"),
			strings.ReplaceAll(errDeleted.Error(), cred.ID.String(), "ID"), what)
	}
	require.False(t, fnCalled, "Refresh called fn for a deleted credential")
	_, err = c.Lookup(ctx, name)
	require.ErrorIs(t, err, vault.ErrNotFound)

	// The name stays with the deleted credential.
	_, err = c.Put(ctx, name, newSecret(), "")
	require.ErrorIs(t, err, vault.ErrPendingDeletion)
	require.Equal(t, "VA004", sqlstate(err))
	require.False(t, vault.IsRetryable(err))
	_, err = c.Update(ctx, other.ID, vault.CredentialUpdate{Name: &name})
	require.ErrorIs(t, err, vault.ErrPendingDeletion)
	require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, cred.ID), "Put and Update changed something")

	// Listed only when asked.
	require.False(t, rcListed(t, c, cred.ID, false))
	require.True(t, rcListed(t, c, other.ID, false))
	deleted, err := c.List(ctx, vault.ListFilter{Deleted: true})
	require.NoError(t, err)
	require.Len(t, deleted, 1)
	require.Equal(t, cred.ID, deleted[0].ID)
	require.Equal(t, name, deleted[0].Name)
	require.EqualValues(t, 2, deleted[0].Version)
	require.False(t, deleted[0].DeletedAt.IsZero())
	require.Equal(t, time.Hour, deleted[0].PurgeAfter.Sub(deleted[0].DeletedAt))
	_, err = c.List(ctx, vault.ListFilter{Deleted: true, ExpiresBefore: time.Now()})
	require.ErrorIs(t, err, vault.ErrInvalidArgument)

	// Deleting again, with or without a window, changes nothing.
	require.NoError(t, c.Delete(ctx, cred.ID))
	require.NoError(t, rcClient(t, b.tx, schema, ns).Delete(ctx, cred.ID))
	require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, cred.ID))

	// The original SQL functions, and the namespace-scoped ones, agree.
	for _, q := range []struct {
		sql  string
		args []any
		want string // SQLSTATE
	}{
		{"SELECT " + s + ".retrieve_credential($1)", []any{cred.ID}, "P0002"},
		{"SELECT " + s + ".rotate_credential($1, $2)::text", []any{cred.ID, newSecret()}, "P0002"},
		{"SELECT " + s + ".credential_retrieve($1, $2)", []any{ns, cred.ID}, "P0002"},
		{"SELECT secret FROM " + s + ".credential_read($1, $2)", []any{ns, cred.ID}, "P0002"},
		{"SELECT id::text FROM " + s + ".credential_lookup($1, $2)", []any{ns, name}, "P0002"},
		{"SELECT " + s + ".credential_rotate($1, $2, $3, NULL)::text", []any{ns, cred.ID, newSecret()}, "P0002"},
	} {
		code, _ := rcSQL(t, b.tx, q.sql, q.args...)
		require.Equal(t, q.want, code, q.sql)
	}
	code, _ := rcSQL(t, b.tx, "SELECT "+s+".delete_credential($1)::text", cred.ID)
	require.Empty(t, code)
	_, err = b.tx.Exec(ctx, "SELECT "+s+".delete_credential($1)", cred.ID)
	require.NoError(t, err)
	require.Equal(t, 1, rcVaultRows(t, b.tx, cred.ID), "delete_credential of a deleted credential is a no-op")
	code, listed := rcSQL(t, b.tx, "SELECT count(*)::text FROM "+s+".list_credentials(NULL, NULL, 1000) WHERE id = $1", cred.ID)
	require.Empty(t, code)
	require.Equal(t, "0", listed)
	require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, cred.ID))

	// Restore: the same id, value and version, visible again.
	require.NoError(t, c.Restore(ctx, cred.ID))
	got, err := c.Read(ctx, cred.ID)
	require.NoError(t, err)
	require.True(t, got.Value == value, "Restore returned another value")
	require.EqualValues(t, 2, got.Version)
	require.Equal(t, name, got.Name)
	require.Equal(t, "kept while deleted", got.Description)
	found, err := c.Lookup(ctx, name)
	require.NoError(t, err)
	require.Equal(t, cred.ID, found.ID)
	require.True(t, rcListed(t, c, cred.ID, false))
	require.False(t, rcListed(t, c, cred.ID, true))
	require.NoError(t, c.Rollback(ctx, cred.ID), "the previous value survived too")
	require.NoError(t, c.Restore(ctx, cred.ID), "restoring a live credential is a no-op")
	require.Equal(t, []string{"put", "rotate", "delete", "restore", "read", "rollback"}, lcOps(t, b.owner, cred.ID))
	require.ErrorIs(t, c.Restore(ctx, uuid.New()), vault.ErrNotFound)

	// Put updates it again.
	updated, err := c.Put(ctx, name, newSecret(), "")
	require.NoError(t, err)
	require.Equal(t, cred.ID, updated.ID)
}

// TestRecoveryWindowPurge: a credential whose window has ended can no
// longer be restored, and Purge removes it with its Vault row; one still
// in its window stays restorable.
func TestRecoveryWindowPurge(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	schema := testSchema(t)
	ns := lcNamespace(t, "purge")
	c := rcClient(t, b.tx, schema, ns, vault.WithRecoveryWindow(7*24*time.Hour))

	expired, err := c.Store(ctx, "purge/expired", newSecret(), "")
	require.NoError(t, err)
	kept, err := c.Store(ctx, "purge/kept", newSecret(), "")
	require.NoError(t, err)
	live, err := c.Store(ctx, "purge/live", newSecret(), "")
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, expired))
	require.NoError(t, c.Delete(ctx, kept))

	n, err := c.Purge(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "nothing has expired yet")

	rcExpire(t, b.tx, schema, expired)
	require.ErrorIs(t, c.Restore(ctx, expired), vault.ErrNotFound, "the window has ended")
	n, err = c.Purge(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, rcVaultRows(t, b.tx, expired), "Purge removes the Vault row")
	require.Equal(t, []string{"store", "delete", "purge"}, lcOps(t, b.owner, expired))
	require.False(t, rcListed(t, c, expired, true))
	require.ErrorIs(t, c.Restore(ctx, expired), vault.ErrNotFound)
	n, err = c.Purge(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	require.Equal(t, 1, rcVaultRows(t, b.tx, kept))
	require.NoError(t, c.Restore(ctx, kept))
	_, err = c.Retrieve(ctx, kept)
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, live)
	require.NoError(t, err)
}

// TestRecoveryWindowEndsInRealTime uses a one-second window on a pool, so
// that the database's own clock ends it.
func TestRecoveryWindowEndsInRealTime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	c := rcClient(t, db.Pool, db.Schema, "")
	id, err := c.Store(ctx, "realtime/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, id, vault.Recoverable(time.Second)))
	n, err := c.Purge(ctx)
	require.NoError(t, err)
	require.Zero(t, n)
	time.Sleep(1100 * time.Millisecond)
	require.ErrorIs(t, c.Restore(ctx, id), vault.ErrNotFound)
	n, err = c.Purge(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, rcVaultRows(t, db.Pool, id))
}

// TestDeleteOptions: without a window Delete is what it always was;
// WithoutRecovery removes a live or a deleted credential now; bad windows
// and conflicting options are refused before any round trip.
func TestDeleteOptions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b := setup(t)
	schema := testSchema(t)

	id, err := c.Store(ctx, "opts/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, id))
	require.Zero(t, rcVaultRows(t, b.tx, id), "without a window Delete removes the Vault row")
	require.False(t, rcListed(t, c, id, true))

	w := rcClient(t, b.tx, schema, "", vault.WithRecoveryWindow(time.Hour))
	live, err := w.Store(ctx, "opts/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	require.NoError(t, w.Delete(ctx, live, vault.WithoutRecovery()))
	require.Zero(t, rcVaultRows(t, b.tx, live))
	require.Equal(t, []string{"store", "delete"}, lcOps(t, b.owner, live))

	soft, err := w.Store(ctx, "opts/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	require.NoError(t, w.Delete(ctx, soft))
	require.Equal(t, 1, rcVaultRows(t, b.tx, soft))
	require.NoError(t, c.Delete(ctx, soft, vault.WithoutRecovery()), "also from a client without a window")
	require.Zero(t, rcVaultRows(t, b.tx, soft))
	require.Equal(t, []string{"store", "delete", "purge"}, lcOps(t, b.owner, soft))

	perCall, err := c.Store(ctx, "opts/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	require.NoError(t, c.Delete(ctx, perCall, vault.Recoverable(2*time.Hour)))
	require.Equal(t, 1, rcVaultRows(t, b.tx, perCall))
	require.NoError(t, c.Restore(ctx, perCall))

	for what, err := range map[string]error{
		"both":              c.Delete(ctx, perCall, vault.Recoverable(time.Hour), vault.WithoutRecovery()),
		"zero":              c.Delete(ctx, perCall, vault.Recoverable(0)),
		"too short":         c.Delete(ctx, perCall, vault.Recoverable(time.Millisecond)),
		"too long":          c.Delete(ctx, perCall, vault.Recoverable(vault.MaxRecoveryWindow+time.Second)),
		"nil option":        c.Delete(ctx, perCall, nil),
		"nil id":            c.Delete(ctx, uuid.Nil, vault.WithoutRecovery()),
		"restore nil id":    c.Restore(ctx, uuid.Nil),
		"negative (option)": func() error { _, err := vault.New(b.tx, vault.WithRecoveryWindow(-time.Hour)); return err }(),
	} {
		require.ErrorIs(t, err, vault.ErrInvalidArgument, what)
		require.Empty(t, sqlstate(err), "%s: refused before any round trip", what)
	}
	_, err = c.Retrieve(ctx, perCall)
	require.NoError(t, err, "the refused deletes changed nothing")
	off := rcClient(t, b.tx, schema, "", vault.WithRecoveryWindow(0))
	require.NoError(t, off.Delete(ctx, perCall))
	require.Zero(t, rcVaultRows(t, b.tx, perCall), "WithRecoveryWindow(0) is no window")

	// A Vault secret created without the library (default namespace) is
	// recorded, then deleted into the window like any other.
	var legacy uuid.UUID
	legacyValue := newSecret()
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT vault.create_secret($1)", legacyValue).Scan(&legacy))
	require.NoError(t, w.Delete(ctx, legacy))
	_, err = w.Retrieve(ctx, legacy)
	require.ErrorIs(t, err, vault.ErrNotFound)
	code, _ := rcSQL(t, b.tx, "SELECT "+secIdent(schema)+".retrieve_credential($1)", legacy)
	require.Equal(t, "P0002", code)
	require.NoError(t, w.Restore(ctx, legacy))
	got, err := w.Retrieve(ctx, legacy)
	require.NoError(t, err)
	require.True(t, got == legacyValue)

	// Through SQL, the window is checked too.
	code, _ = rcSQL(t, b.tx, "SELECT "+secIdent(schema)+".credential_delete_recoverable('', $1, interval '400 days')::text", uuid.New())
	require.Equal(t, "22023", code)
	code, _ = rcSQL(t, b.tx, "SELECT "+secIdent(schema)+".credential_delete_recoverable('', $1, NULL)::text", uuid.New())
	require.Equal(t, "22004", code)
}

// TestRecoveryNamespaceIsolation: Restore, Purge and List of another
// namespace's deleted credential behave as for an unknown one; Purge with
// AllNamespaces reaches every namespace.
func TestRecoveryNamespaceIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	schema := testSchema(t)
	nsA, nsB := lcNamespace(t, "org-a"), lcNamespace(t, "org-b")
	a := rcClient(t, b.tx, schema, nsA, vault.WithRecoveryWindow(time.Hour))
	other := rcClient(t, b.tx, schema, nsB, vault.WithRecoveryWindow(time.Hour))
	def := rcClient(t, b.tx, schema, "", vault.WithRecoveryWindow(time.Hour))

	first, err := a.Store(ctx, "iso/first", newSecret(), "")
	require.NoError(t, err)
	second, err := a.Store(ctx, "iso/second", newSecret(), "")
	require.NoError(t, err)
	require.NoError(t, a.Delete(ctx, first))
	require.NoError(t, a.Delete(ctx, second))

	for _, c := range []*vault.Client{other, def} {
		errOther := c.Restore(ctx, first)
		require.ErrorIs(t, errOther, vault.ErrNotFound)
		errUnknown := c.Restore(ctx, uuid.New())
		require.Equal(t, sqlstate(errUnknown), sqlstate(errOther))
		require.False(t, rcListed(t, c, first, true))
		require.NoError(t, c.Delete(ctx, first, vault.WithoutRecovery()), "a no-op, as for an unknown id")
		require.Equal(t, 1, rcVaultRows(t, b.tx, first))
	}
	rcExpire(t, b.tx, schema, first)
	for _, c := range []*vault.Client{other, def} {
		n, err := c.Purge(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "another namespace's credential is not purged")
		require.Equal(t, 1, rcVaultRows(t, b.tx, first))
	}
	n, err := a.Purge(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, rcVaultRows(t, b.tx, first))

	rcExpire(t, b.tx, schema, second)
	n, err = other.Purge(ctx, vault.AllNamespaces())
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 1)
	require.Zero(t, rcVaultRows(t, b.tx, second), "AllNamespaces purges every namespace")
}

// TestPurgeSkipsReferencedCredential: a foreign key of the user's to
// vault.secrets keeps a deleted credential's Vault row; Purge skips it and
// goes on, and removes it once the reference is gone.
func TestPurgeSkipsReferencedCredential(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	schema := testSchema(t)
	ns := lcNamespace(t, "fk")
	c := rcClient(t, b.tx, schema, ns, vault.WithRecoveryWindow(time.Hour))
	held, err := c.Store(ctx, "fk/held", newSecret(), "")
	require.NoError(t, err)
	free, err := c.Store(ctx, "fk/free", newSecret(), "")
	require.NoError(t, err)
	table := pgx.Identifier{"public", "fk_" + randomHex(t, 6)}.Sanitize()
	_, err = b.tx.Exec(ctx, "CREATE TABLE "+table+" (secret_id uuid REFERENCES vault.secrets (id))")
	require.NoError(t, err)
	_, err = b.tx.Exec(ctx, "INSERT INTO "+table+" VALUES ($1)", held)
	require.NoError(t, err)
	for _, id := range []uuid.UUID{held, free} {
		require.NoError(t, c.Delete(ctx, id))
		rcExpire(t, b.tx, schema, id)
	}

	n, err := c.Purge(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, rcVaultRows(t, b.tx, free))
	require.Equal(t, 1, rcVaultRows(t, b.tx, held))
	require.True(t, rcListed(t, c, held, true), "still listed as deleted")

	_, err = b.tx.Exec(ctx, "DELETE FROM "+table)
	require.NoError(t, err)
	n, err = c.Purge(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Zero(t, rcVaultRows(t, b.tx, held))
}

// rcAge makes id look created long ago, as the owner.
func rcAge(t testing.TB, db vault.DB, schema string, id uuid.UUID, age time.Duration) {
	t.Helper()
	tag, err := db.Exec(context.Background(), "UPDATE "+secIdent(schema)+".vault_credentials SET created_at = now() - $2::interval WHERE id = $1",
		id, age)
	require.NoError(t, err)
	require.EqualValues(t, 1, tag.RowsAffected())
}

// rcOrphans collects what Orphans yields.
func rcOrphans(t testing.TB, c *vault.Client, f vault.OrphanFilter) ([]uuid.UUID, error) {
	t.Helper()
	var ids []uuid.UUID
	for cred, err := range c.Orphans(context.Background(), f) {
		if err != nil {
			return ids, err
		}
		ids = append(ids, cred.ID)
	}
	return ids, nil
}

// TestOrphans stores credentials that a table of the user's references or
// not, young and old, in the client's namespace and another, and checks
// which Orphans lists, that DeleteOrphans deletes exactly those (into the
// recovery window when one is set), and that bad columns are refused.
func TestOrphans(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	schema := testSchema(t)
	ns, nsOther := lcNamespace(t, "orphans"), lcNamespace(t, "orphans-other")
	c := rcClient(t, b.tx, schema, ns)
	owner := rcOwner(t, b.tx, schema, ns)

	app := "orphans_" + randomHex(t, 4)
	integrations := vault.Column{Schema: app, Table: "organization_integrations", Name: "vault_secret_id"}
	webhooks := vault.Column{Schema: app, Table: "Webhooks", Name: "Signing Secret"}
	_, err := b.tx.Exec(ctx, "CREATE SCHEMA "+secIdent(app)+
		"; CREATE TABLE "+secIdent(app)+".organization_integrations (id bigint GENERATED ALWAYS AS IDENTITY, vault_secret_id uuid)"+
		"; CREATE TABLE "+secIdent(app)+`."Webhooks" ("Signing Secret" uuid, label text)`+
		"; CREATE VIEW "+secIdent(app)+".integration_view AS SELECT vault_secret_id FROM "+secIdent(app)+".organization_integrations")
	require.NoError(t, err)
	store := func(name string, age time.Duration, c *vault.Client) uuid.UUID {
		id, err := c.Store(ctx, name, newSecret(), "")
		require.NoError(t, err)
		if age > 0 {
			rcAge(t, b.tx, schema, id, age)
		}
		return id
	}
	referenced := store("referenced", 2*time.Hour, c)
	_, err = b.tx.Exec(ctx, "INSERT INTO "+secIdent(app)+".organization_integrations (vault_secret_id) VALUES ($1), (NULL)", referenced)
	require.NoError(t, err)
	hooked := store("hooked", 2*time.Hour, c)
	_, err = b.tx.Exec(ctx, "INSERT INTO "+secIdent(app)+`."Webhooks" VALUES ($1, 'x')`, hooked)
	require.NoError(t, err)
	fresh := store("fresh", 0, c)
	old := store("old", 2*time.Hour, c)
	older := store("older", 48*time.Hour, c)
	elsewhere := store("elsewhere", 2*time.Hour, rcClient(t, b.tx, schema, nsOther))

	both := vault.OrphanFilter{ReferencedBy: []vault.Column{integrations, webhooks}}
	got, err := rcOrphans(t, owner, both)
	require.NoError(t, err)
	require.ElementsMatch(t, []uuid.UUID{old, older}, got, "old and unreferenced, in this namespace only")
	got, err = rcOrphans(t, owner, vault.OrphanFilter{ReferencedBy: []vault.Column{integrations}})
	require.NoError(t, err)
	require.ElementsMatch(t, []uuid.UUID{hooked, old, older}, got, "hooked is referenced by the other column only")
	got, err = rcOrphans(t, owner, vault.OrphanFilter{ReferencedBy: both.ReferencedBy, Grace: 24 * time.Hour})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{older}, got, "the grace period")
	got, err = rcOrphans(t, owner, vault.OrphanFilter{ReferencedBy: both.ReferencedBy, AllNamespaces: true})
	require.NoError(t, err)
	require.Subset(t, got, []uuid.UUID{old, older, elsewhere})
	require.NotContains(t, got, fresh)
	require.NotContains(t, got, referenced)

	// A Vault secret the library did not create is left out unless asked.
	var foreign uuid.UUID
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT vault.create_secret($1)", newSecret()).Scan(&foreign))
	def := rcClient(t, b.tx, schema, "")
	require.NoError(t, def.Rotate(ctx, foreign, newSecret())) // a write records it in the default namespace
	rcAge(t, b.tx, schema, foreign, 2*time.Hour)
	defOwner := rcOwner(t, b.tx, schema, "")
	got, err = rcOrphans(t, defOwner, both)
	require.NoError(t, err)
	require.NotContains(t, got, foreign)
	got, err = rcOrphans(t, defOwner, vault.OrphanFilter{ReferencedBy: both.ReferencedBy, IncludeAdopted: true})
	require.NoError(t, err)
	require.Contains(t, got, foreign)

	// DeleteOrphans, into the client's window: restorable.
	windowed := rcOwner(t, b.tx, schema, ns, vault.WithRecoveryWindow(time.Hour))
	deleted, err := windowed.DeleteOrphans(ctx, vault.OrphanFilter{ReferencedBy: both.ReferencedBy, Grace: 24 * time.Hour})
	require.NoError(t, err)
	require.Len(t, deleted, 1)
	require.Equal(t, older, deleted[0].ID)
	require.Equal(t, 1, rcVaultRows(t, b.tx, older))
	require.True(t, rcListed(t, c, older, true))
	require.Equal(t, []string{"store", "delete"}, lcOps(t, b.owner, older))
	// Without a window: gone.
	deleted, err = owner.DeleteOrphans(ctx, both)
	require.NoError(t, err)
	require.Len(t, deleted, 1)
	require.Equal(t, old, deleted[0].ID)
	require.Zero(t, rcVaultRows(t, b.tx, old))
	for _, id := range []uuid.UUID{referenced, hooked, fresh} {
		_, err := c.Retrieve(ctx, id)
		require.NoError(t, err, "DeleteOrphans deleted a credential it must not")
	}
	require.NoError(t, c.Restore(ctx, older))
	got, err = rcOrphans(t, owner, both)
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{older}, got)

	// Bad filters, refused before or by the database, and changing nothing.
	col := func(schema, table, name string) []vault.Column {
		return []vault.Column{{Schema: schema, Table: table, Name: name}}
	}
	for what, f := range map[string]vault.OrphanFilter{
		"no column":      {},
		"negative grace": {ReferencedBy: both.ReferencedBy, Grace: -time.Second},
		"empty part":     {ReferencedBy: col(app, "", "x")},
		"no table":       {ReferencedBy: col(app, "nothing", "vault_secret_id")},
		"no schema":      {ReferencedBy: col("nothing_"+randomHex(t, 4), "organization_integrations", "vault_secret_id")},
		"no column name": {ReferencedBy: col(app, "organization_integrations", "nothing")},
		"not uuid":       {ReferencedBy: col(app, "organization_integrations", "id")},
		"a view":         {ReferencedBy: col(app, "integration_view", "vault_secret_id")},
		"folded case":    {ReferencedBy: col(app, "webhooks", "Signing Secret")},
	} {
		_, err := rcOrphans(t, owner, f)
		require.ErrorIs(t, err, vault.ErrInvalidArgument, what)
		_, err = owner.DeleteOrphans(ctx, f)
		require.ErrorIs(t, err, vault.ErrInvalidArgument, what)
	}
	// Owner only; and the owner must be able to read the column.
	_, err = rcOrphans(t, c, both)
	require.ErrorIs(t, err, vault.ErrPermissionDenied)
	_, err = c.DeleteOrphans(ctx, both)
	require.ErrorIs(t, err, vault.ErrPermissionDenied)
	_, err = b.tx.Exec(ctx, "REVOKE SELECT ON "+secIdent(app)+`."Webhooks" FROM CURRENT_USER`)
	require.NoError(t, err)
	_, err = rcOrphans(t, owner, both)
	require.ErrorIs(t, err, vault.ErrPermissionDenied)
	require.Equal(t, "42501", sqlstate(err))
	_, err = c.Retrieve(ctx, older)
	require.NoError(t, err)
}

func TestParseColumn(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]vault.Column{
		"public.organization_integrations.vault_secret_id": {Schema: "public", Table: "organization_integrations", Name: "vault_secret_id"},
		"Public.Orgs.Secret_ID":                            {Schema: "public", Table: "orgs", Name: "secret_id"},
		`app."My ""Table"".x".col`:                         {Schema: "app", Table: `My "Table".x`, Name: "col"},
	} {
		got, err := vault.ParseColumn(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		again, err := vault.ParseColumn(got.String())
		require.NoError(t, err)
		require.Equal(t, got, again, "String reads back")
	}
	require.Equal(t, "public.orgs.secret_id", vault.Column{Schema: "public", Table: "orgs", Name: "secret_id"}.String())
	for _, in := range []string{"", "table.column", "a.b.c.d", "a..c", `a."b.c`, "a.b.", ".a.b", "a b.c.d",
		"a.b." + strings.Repeat("x", 64), "a.b.\x00", `a.b"".c`} {
		_, err := vault.ParseColumn(in)
		require.ErrorIs(t, err, vault.ErrInvalidArgument, "%q", in)
	}
}

// TestPruneAccessLog deletes 25,000 old access-log rows (three batches)
// while four goroutines keep retrieving: every retrieval succeeds, every
// row before the cutoff is gone and every row at or after it is kept.
func TestPruneAccessLog(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	log := secIdent(db.Schema) + ".vault_access_log"
	cutoff := time.Now().Add(-400 * 24 * time.Hour).Truncate(time.Second)

	// Old rows first, as in a real log: ids follow time.
	const old, recent = 25_000, 3_000
	_, err := db.Pool.Exec(ctx, "INSERT INTO "+log+" (secret_id, accessed_at, session_user_name, current_user_name, op) "+
		"SELECT gen_random_uuid(), $1::timestamptz - (interval '1 second' * ($2 - g)) - interval '1 microsecond', 'test', 'test', 'retrieve' "+
		"FROM generate_series(0, $2 - 1) AS g", cutoff, old)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "INSERT INTO "+log+" (secret_id, accessed_at, session_user_name, current_user_name, op) "+
		"SELECT gen_random_uuid(), $1::timestamptz + interval '1 second' * g, 'test', 'test', 'retrieve' "+
		"FROM generate_series(0, $2 - 1) AS g", cutoff, recent)
	require.NoError(t, err)

	pool := newTestPool(t, db.URL, 8, "credvault-prune", nil)
	service := rcClient(t, pool, db.Schema, "")
	owner := rcOwner(t, pool, db.Schema, "")
	value := newSecret()
	id, err := service.Store(ctx, "prune/"+uuid.NewString(), value, "")
	require.NoError(t, err)

	var (
		wg        sync.WaitGroup
		done      atomic.Bool
		retrieved atomic.Int64
		failures  atomic.Int64
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !done.Load() {
				got, err := service.Retrieve(ctx, id)
				if err != nil || got != value {
					failures.Add(1)
					return
				}
				retrieved.Add(1)
			}
		}()
	}
	for retrieved.Load() < 4 && failures.Load() == 0 { // the readers are running
		time.Sleep(time.Millisecond)
	}
	n, err := owner.PruneAccessLog(ctx, cutoff)
	done.Store(true)
	wg.Wait()
	require.NoError(t, err)
	require.EqualValues(t, old, n)
	require.Zero(t, failures.Load(), "a retrieval failed during the prune")

	var before, after, retrievals int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FILTER (WHERE accessed_at < $1), count(*) FILTER (WHERE accessed_at >= $1), "+
		"count(*) FILTER (WHERE secret_id = $2 AND op = 'retrieve') FROM "+log, cutoff, id).Scan(&before, &after, &retrievals))
	require.Zero(t, before)
	require.EqualValues(t, recent+1+retrieved.Load(), after, "the recent rows, the store and every retrieval are kept")
	require.EqualValues(t, retrieved.Load(), retrievals)

	n, err = owner.PruneAccessLog(ctx, cutoff)
	require.NoError(t, err)
	require.Zero(t, n, "nothing left to prune")

	_, err = service.PruneAccessLog(ctx, cutoff)
	require.ErrorIs(t, err, vault.ErrPermissionDenied, "owner only")
	_, err = owner.PruneAccessLog(ctx, time.Time{})
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
}

// TestOrphansInOddSchema installs into a schema whose name holds quotes,
// which the orphan functions' dynamic SQL must not take for delimiters.
func TestOrphansInOddSchema(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	schema := `it's "odd"; --`
	owner := rcOwner(t, db.Pool, schema, "")
	require.NoError(t, owner.Migrate(ctx))
	tx := vaulttest.Tx(t, db.Pool)
	c := rcClient(t, tx, schema, "")
	owner = rcOwner(t, tx, schema, "", vault.WithRecoveryWindow(time.Hour))
	id, err := c.Store(ctx, "odd/orphan", newSecret(), "")
	require.NoError(t, err)
	rcAge(t, tx, schema, id, 2*time.Hour)
	_, err = tx.Exec(ctx, "CREATE TABLE public.odd_refs (secret_id uuid)")
	require.NoError(t, err)
	cols := []vault.Column{{Schema: "public", Table: "odd_refs", Name: "secret_id"}}
	got, err := rcOrphans(t, owner, vault.OrphanFilter{ReferencedBy: cols})
	require.NoError(t, err)
	require.Equal(t, []uuid.UUID{id}, got)
	deleted, err := owner.DeleteOrphans(ctx, vault.OrphanFilter{ReferencedBy: cols})
	require.NoError(t, err)
	require.Len(t, deleted, 1)
	require.NoError(t, c.Restore(ctx, id))
}
