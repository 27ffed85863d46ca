package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/vaulttest"
)

// lcAuditRows counts every access-log row of id, whatever its op.
func lcAuditRows(t testing.TB, db vault.DB, schema string, id uuid.UUID) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(),
		"SELECT count(*) FROM "+secIdent(schema)+".vault_access_log WHERE secret_id = $1", id).Scan(&n))
	return n
}

// lcOps returns the ops of id's access-log rows, oldest first.
func lcOps(t testing.TB, owner *vault.Client, id uuid.UUID) []string {
	t.Helper()
	records, err := owner.AccessLog(context.Background(), id, 1000)
	require.NoError(t, err)
	ops := make([]string, len(records))
	for i, r := range records {
		ops[len(records)-1-i] = r.Op
	}
	return ops
}

// lcState is everything about a credential that a call must not change.
type lcState struct {
	Value      string
	Credential vault.Credential
	VaultRow   string // name, description, ciphertext, updated_at of vault.secrets
	AuditRows  int
}

func lcSnapshot(t testing.TB, db vault.DB, schema string, owner *vault.Client, id uuid.UUID) lcState {
	t.Helper()
	ctx := context.Background()
	var st lcState
	require.NoError(t, db.QueryRow(ctx, `SELECT d.decrypted_secret, concat_ws('|', d.name, d.description, d.secret, d.updated_at)
  FROM vault.decrypted_secrets AS d WHERE d.id = $1`, id).Scan(&st.Value, &st.VaultRow))
	var expires *time.Time
	require.NoError(t, db.QueryRow(ctx, "SELECT id, namespace, name, description, version, expires_at, created_at, updated_at FROM "+
		secIdent(schema)+".vault_credentials WHERE id = $1", id).Scan(&st.Credential.ID, &st.Credential.Namespace,
		&st.Credential.Name, &st.Credential.Description, &st.Credential.Version, &expires, &st.Credential.CreatedAt,
		&st.Credential.UpdatedAt))
	if expires != nil {
		st.Credential.ExpiresAt = *expires
	}
	st.AuditRows = lcAuditRows(t, db, schema, id)
	return st
}

// lcByIDCalls returns, by method name, calls of c on the credential *id
// (read at each call) that each return their error: Retrieve, Read,
// Rotate, Rotate IfVersion(version), Rollback, Update with update, and
// Refresh, whose function sets *fnCalled.
func lcByIDCalls(c *vault.Client, id *uuid.UUID, version int64, update vault.CredentialUpdate, fnCalled *bool) map[string]func() error {
	ctx := context.Background()
	return map[string]func() error{
		"Retrieve":         func() error { _, err := c.Retrieve(ctx, *id); return err },
		"Read":             func() error { _, err := c.Read(ctx, *id); return err },
		"Rotate":           func() error { return c.Rotate(ctx, *id, newSecret()) },
		"Rotate IfVersion": func() error { return c.Rotate(ctx, *id, newSecret(), vault.IfVersion(version)) },
		"Rollback":         func() error { return c.Rollback(ctx, *id) },
		"Update":           func() error { _, err := c.Update(ctx, *id, update); return err },
		"Refresh": func() error {
			_, err := c.Refresh(ctx, *id, func(context.Context, vault.Secret) (string, error) {
				*fnCalled = true
				return newSecret(), nil
			})
			return err
		},
	}
}

// lcRequireLikeUnknown runs each of calls, which address the credential
// *id, and checks that it fails as it does for an unknown id: with
// ErrNotFound, the same SQLSTATE and the same message but for the id.
// what describes the credential in messages; unchanged runs after each
// call, with the call's name, to check it changed nothing.
func lcRequireLikeUnknown(t *testing.T, calls map[string]func() error, id *uuid.UUID, what string, unchanged func(name string)) {
	t.Helper()
	known, unknown := *id, uuid.New()
	for name, call := range calls {
		errKnown := call()
		require.ErrorIs(t, errKnown, vault.ErrNotFound, "%s of %s", name, what)
		unchanged(name)
		*id = unknown
		errUnknown := call()
		*id = known
		require.ErrorIs(t, errUnknown, vault.ErrNotFound, name)
		require.Equal(t, sqlstate(errUnknown), sqlstate(errKnown), name)
		require.Equal(t, strings.ReplaceAll(errUnknown.Error(), unknown.String(), "ID"),
			strings.ReplaceAll(errKnown.Error(), known.String(), "ID"), name)
	}
}

func TestLifecyclePutLookupReadUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b, schema := lcSetup(t)
	ns := lcNamespace(t, "org")
	c, _ := setup(t, on(b.tx, schema), namespace(ns))
	require.Equal(t, ns, c.Namespace())

	name := "acme/quickbooks"
	v1, v2 := newSecret(), newSecret()
	created, err := c.Put(ctx, name, v1, "QuickBooks OAuth")
	require.NoError(t, err)
	require.NotEqual(t, uuid.Nil, created.ID)
	require.Equal(t, ns, created.Namespace)
	require.Equal(t, name, created.Name)
	require.Equal(t, "QuickBooks OAuth", created.Description)
	require.EqualValues(t, 1, created.Version)
	require.True(t, created.ExpiresAt.IsZero())

	found, err := c.Lookup(ctx, name)
	require.NoError(t, err)
	require.Equal(t, created.ID, found.ID)
	require.EqualValues(t, 1, found.Version)
	require.True(t, found.LastRetrievedAt.IsZero())

	got, err := c.Read(ctx, created.ID)
	require.NoError(t, err)
	require.True(t, got.Value == v1, "Read returned another value")
	require.Equal(t, created.ID, got.ID)
	require.Equal(t, name, got.Name)
	require.EqualValues(t, 1, got.Version)
	listed, err := c.List(ctx, vault.ListFilter{NamePrefix: name})
	require.NoError(t, err)
	require.Len(t, listed, 1)
	require.False(t, listed[0].LastRetrievedAt.IsZero(), "List reports the last read")

	updated, err := c.Put(ctx, name, v2, "QuickBooks OAuth, production")
	require.NoError(t, err)
	require.Equal(t, created.ID, updated.ID, "an update keeps the id")
	require.EqualValues(t, 2, updated.Version)
	require.Equal(t, "QuickBooks OAuth, production", updated.Description)
	require.True(t, updated.CreatedAt.Equal(created.CreatedAt))
	value, err := c.Retrieve(ctx, created.ID)
	require.NoError(t, err)
	require.True(t, value == v2, "Put did not replace the value")
	var vaultName *string
	var vaultDescription string
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT name, description FROM vault.secrets WHERE id = $1", created.ID).Scan(&vaultName, &vaultDescription))
	require.Nil(t, vaultName, "credentials made by Put have no Vault name")
	require.Equal(t, "QuickBooks OAuth, production", vaultDescription, "the dashboard shows the description")

	// Store keeps treating names as labels: a second credential.
	stored, err := c.Store(ctx, name, newSecret(), "")
	require.NoError(t, err)
	require.NotEqual(t, created.ID, stored)
	found, err = c.Lookup(ctx, name)
	require.NoError(t, err)
	require.Equal(t, created.ID, found.ID, "the exact name still finds the Put credential")

	_, err = c.Lookup(ctx, "acme/"+uuid.NewString())
	require.ErrorIs(t, err, vault.ErrNotFound)

	// Update: metadata only.
	renamed := "acme/quickbooks-eu"
	desc := "moved"
	expires := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	meta, err := c.Update(ctx, created.ID, vault.CredentialUpdate{Name: &renamed, Description: &desc, ExpiresAt: &expires})
	require.NoError(t, err)
	require.Equal(t, renamed, meta.Name)
	require.Equal(t, desc, meta.Description)
	require.True(t, meta.ExpiresAt.Equal(expires), "%v != %v", meta.ExpiresAt, expires)
	require.EqualValues(t, 2, meta.Version, "Update does not make a version")
	require.True(t, meta.UpdatedAt.Equal(updated.UpdatedAt), "Update does not touch the value")
	_, err = c.Lookup(ctx, name)
	require.ErrorIs(t, err, vault.ErrNotFound)
	found, err = c.Lookup(ctx, renamed)
	require.NoError(t, err)
	require.Equal(t, created.ID, found.ID)
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT description FROM vault.secrets WHERE id = $1", created.ID).Scan(&vaultDescription))
	require.Equal(t, desc, vaultDescription)
	value, err = c.Retrieve(ctx, created.ID)
	require.NoError(t, err)
	require.True(t, value == v2, "Update changed the value")

	// Only the expiry; the zero time removes it.
	var zero time.Time
	meta, err = c.Update(ctx, created.ID, vault.CredentialUpdate{ExpiresAt: &zero})
	require.NoError(t, err)
	require.True(t, meta.ExpiresAt.IsZero())
	require.Equal(t, renamed, meta.Name)

	// A taken name is refused and nothing changes.
	other, err := c.Put(ctx, "acme/xero", newSecret(), "")
	require.NoError(t, err)
	before := lcSnapshot(t, b.tx, schema, b.owner, other.ID)
	_, err = c.Update(ctx, other.ID, vault.CredentialUpdate{Name: &renamed, Description: &desc})
	require.ErrorIs(t, err, vault.ErrAlreadyExists)
	require.Equal(t, "23505", sqlstate(err))
	require.False(t, vault.IsRetryable(err))
	require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, other.ID))
	same := "acme/xero"
	_, err = c.Update(ctx, other.ID, vault.CredentialUpdate{Name: &same})
	require.NoError(t, err, "renaming to its own name is not a conflict")
	err = vaulttest.AsRole(ctx, b.tx, secService, nil, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT * FROM "+secIdent(schema)+".credential_update($1, $2, NULL, NULL, '-infinity')", ns, other.ID)
		return err
	})
	require.Equal(t, "22023", sqlstate(err), "an expiry Go cannot read is refused")

	// Bad input never reaches the database.
	empty := ""
	for what, call := range map[string]func() error{
		"put empty name":    func() error { _, err := c.Put(ctx, "", v1, ""); return err },
		"put NUL":           func() error { _, err := c.Put(ctx, "n", v1+"\x00", ""); return err },
		"lookup empty":      func() error { _, err := c.Lookup(ctx, ""); return err },
		"read nil id":       func() error { _, err := c.Read(ctx, uuid.Nil); return err },
		"update empty name": func() error { _, err := c.Update(ctx, created.ID, vault.CredentialUpdate{Name: &empty}); return err },
		"update nil id":     func() error { _, err := c.Update(ctx, uuid.Nil, vault.CredentialUpdate{}); return err },
		"rollback nil id":   func() error { return c.Rollback(ctx, uuid.Nil) },
		"IfVersion(0)":      func() error { return c.Rotate(ctx, created.ID, v1, vault.IfVersion(0)) },
		"refresh nil fn":    func() error { _, err := c.Refresh(ctx, created.ID, nil); return err },
	} {
		require.ErrorIs(t, call(), vault.ErrInvalidArgument, what)
	}
	_, err = vault.New(b.tx, vault.WithNamespace("bad\x00namespace"))
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
	_, err = vault.New(b.tx, vault.WithNamespace(strings.Repeat("n", vault.MaxNamespaceSize+1)))
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
}

// TestLifecycleNamespaceIsolation checks every call against a credential
// of another namespace, from a namespaced client and from one without the
// option: each behaves exactly as for an unknown id, changes nothing
// (value, metadata, Vault row) and writes no audit row, and fn is never
// called.
func TestLifecycleNamespaceIsolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	orgs := lcNewOrgs(t, lcClient)
	b, schema, nsA, a, other, byDefault := orgs.b, orgs.schema, orgs.nsA, orgs.a, orgs.other, orgs.def
	others := map[string]*vault.Client{
		"other namespace":   other,
		"default namespace": byDefault,
	}

	secretA := newSecret()
	credA, err := a.Put(ctx, "shared/name", secretA, "a's")
	require.NoError(t, err)
	require.NoError(t, a.Rotate(ctx, credA.ID, newSecret()))
	require.NoError(t, a.Rotate(ctx, credA.ID, secretA)) // a previous value exists, for Rollback
	storedA, err := a.Store(ctx, "stored/name", newSecret(), "")
	require.NoError(t, err)

	for who, c := range others {
		t.Run(who, func(t *testing.T) {
			for _, id := range []uuid.UUID{credA.ID, storedA} {
				before := lcSnapshot(t, b.tx, schema, b.owner, id)
				newName, desc, expires := "stolen", "stolen", time.Now()
				var fnCalled bool
				target := id
				calls := lcByIDCalls(c, &target, before.Credential.Version,
					vault.CredentialUpdate{Name: &newName, Description: &desc, ExpiresAt: &expires}, &fnCalled)
				lcRequireLikeUnknown(t, calls, &target, "another namespace's credential", func(name string) {
					require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, id), "%s changed something", name)
				})
				require.False(t, fnCalled, "Refresh called fn for another namespace's credential")
				require.NoError(t, c.Delete(ctx, id), "Delete of another namespace's credential is a no-op, as for an unknown id")
				require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, id), "Delete changed something")
			}
			_, err := c.Lookup(ctx, "shared/name")
			require.ErrorIs(t, err, vault.ErrNotFound)
			list, err := c.List(ctx, vault.ListFilter{NamePrefix: "shared/"})
			require.NoError(t, err)
			require.Empty(t, list)
			for cred, err := range c.All(ctx, vault.ListFilter{}) {
				require.NoError(t, err)
				require.NotEqual(t, nsA, cred.Namespace)
				require.NotContains(t, []uuid.UUID{credA.ID, storedA}, cred.ID)
			}
		})
	}

	// The same name in another namespace is another credential.
	b2 := others["other namespace"]
	credB, err := b2.Put(ctx, "shared/name", newSecret(), "b's")
	require.NoError(t, err)
	require.NotEqual(t, credA.ID, credB.ID)
	got, err := a.Read(ctx, credA.ID)
	require.NoError(t, err)
	require.True(t, got.Value == secretA)
	list, err := a.List(ctx, vault.ListFilter{})
	require.NoError(t, err)
	ids := map[uuid.UUID]bool{}
	for _, cr := range list {
		require.Equal(t, nsA, cr.Namespace)
		ids[cr.ID] = true
	}
	require.Equal(t, map[uuid.UUID]bool{credA.ID: true, storedA: true}, ids)
}

func TestLifecycleVersionsAndIfVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b, schema := lcSetup(t)

	id := storeFresh(t, c, "versions/")
	s, err := c.Read(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 1, s.Version, "Store makes version 1")

	v2 := newSecret()
	require.NoError(t, c.Rotate(ctx, id, v2))
	require.NoError(t, c.Rotate(ctx, id, newSecret(), vault.IfVersion(2)))
	before := lcSnapshot(t, b.tx, schema, b.owner, id)
	require.EqualValues(t, 3, before.Credential.Version)

	err = c.Rotate(ctx, id, newSecret(), vault.IfVersion(2))
	require.ErrorIs(t, err, vault.ErrVersionMismatch)
	require.Equal(t, "VA003", sqlstate(err))
	require.False(t, vault.IsRetryable(err))
	require.ErrorIs(t, vault.KindOf(err), vault.ErrVersionMismatch)
	var vErr *vault.Error
	require.ErrorAs(t, err, &vErr)
	require.Equal(t, "rotate", vErr.Op)
	require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, id), "a refused check-and-set changes nothing")
	require.ErrorIs(t, c.Rotate(ctx, id, newSecret(), vault.IfVersion(4)), vault.ErrVersionMismatch)
	require.ErrorIs(t, c.Rotate(ctx, uuid.New(), newSecret(), vault.IfVersion(1)), vault.ErrNotFound, "not found beats mismatch")

	// The original SQL functions count versions too.
	require.NoError(t, vaulttest.AsRole(ctx, b.tx, secService, nil, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT "+secIdent(schema)+".rotate_credential($1, $2)", id, newSecret())
		return err
	}))
	s, err = c.Read(ctx, id)
	require.NoError(t, err)
	require.EqualValues(t, 4, s.Version)
}

// TestLifecycleRollback rotates to a "broken" value and back: the previous
// value returns as a new version, a second rollback returns to the value
// rolled back from, and the previous value is kept only as Vault's own
// ciphertext, bound to the credential's id.
func TestLifecycleRollback(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b, schema := lcSetup(t)

	good, broken := newSecret(), newSecret()
	cred, err := c.Put(ctx, "rollback/"+uuid.NewString(), good, "")
	require.NoError(t, err)
	require.ErrorIs(t, c.Rollback(ctx, cred.ID), vault.ErrNotFound, "nothing to roll back to yet")

	var goodCiphertext string
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT secret FROM vault.secrets WHERE id = $1", cred.ID).Scan(&goodCiphertext))
	require.NoError(t, c.Rotate(ctx, cred.ID, broken))

	// At rest: the previous value is Vault's ciphertext, never the plaintext.
	var row, previous string
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT c::text, c.previous_secret FROM "+secIdent(schema)+
		".vault_credentials AS c WHERE c.id = $1", cred.ID).Scan(&row, &previous))
	require.Equal(t, goodCiphertext, previous)
	secRequireAbsent(t, "vault_credentials row", row, good, broken)

	require.NoError(t, c.Rollback(ctx, cred.ID))
	s, err := c.Read(ctx, cred.ID)
	require.NoError(t, err)
	require.True(t, s.Value == good, "Rollback did not restore the previous value")
	require.EqualValues(t, 3, s.Version, "a rollback is a new version")

	require.NoError(t, c.Rollback(ctx, cred.ID))
	s, err = c.Read(ctx, cred.ID)
	require.NoError(t, err)
	require.True(t, s.Value == broken, "a second rollback returns to the value rolled back from")
	require.EqualValues(t, 4, s.Version)

	require.ErrorIs(t, c.Rollback(ctx, uuid.New()), vault.ErrNotFound)

	// Through the original SQL functions as well.
	id, err := c.Store(ctx, "rollback/"+uuid.NewString(), good, "")
	require.NoError(t, err)
	require.NoError(t, c.Rotate(ctx, id, broken))
	require.NoError(t, c.Rollback(ctx, id))
	v, err := c.Retrieve(ctx, id)
	require.NoError(t, err)
	require.True(t, v == good)
}

// TestLifecycleAuditEveryOperation checks the access log's rows for every
// operation, through the Go API and the original SQL functions: op,
// session user and role; failed calls and metadata reads add none.
func TestLifecycleAuditEveryOperation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, b, schema := lcSetup(t)

	id := storeFresh(t, c, "audit/every/")
	cred, err := c.Put(ctx, "audit/every/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
	_, err = c.Put(ctx, cred.Name, newSecret(), "")
	require.NoError(t, err)
	_, err = c.Retrieve(ctx, cred.ID)
	require.NoError(t, err)
	_, err = c.Read(ctx, cred.ID)
	require.NoError(t, err)
	require.NoError(t, c.Rotate(ctx, cred.ID, newSecret()))
	require.NoError(t, c.Rollback(ctx, cred.ID))
	_, err = c.Refresh(ctx, cred.ID, func(context.Context, vault.Secret) (string, error) { return newSecret(), nil })
	require.NoError(t, err)
	desc := "changed"
	_, err = c.Update(ctx, cred.ID, vault.CredentialUpdate{Description: &desc})
	require.NoError(t, err)

	// Neither metadata reads nor failures leave rows.
	_, err = c.Lookup(ctx, cred.Name)
	require.NoError(t, err)
	_, err = c.List(ctx, vault.ListFilter{NamePrefix: "audit/every/"})
	require.NoError(t, err)
	require.ErrorIs(t, c.Rotate(ctx, cred.ID, newSecret(), vault.IfVersion(1)), vault.ErrVersionMismatch)
	require.NoError(t, c.Delete(ctx, cred.ID))
	require.NoError(t, c.Delete(ctx, cred.ID), "deleting again deletes nothing")

	require.Equal(t, []string{"put", "put", "retrieve", "read", "rotate", "rollback", "refresh", "update", "delete"},
		lcOps(t, b.owner, cred.ID))
	require.Equal(t, []string{"store"}, lcOps(t, b.owner, id))
	records, err := b.owner.AccessLog(ctx, cred.ID, 100)
	require.NoError(t, err)
	for _, r := range records {
		require.Equal(t, testserver.OwnerRole, r.SessionUser, r.Op)
		require.Equal(t, secService, r.CurrentUser, r.Op)
	}

	// The original SQL functions, as PostgREST calls them.
	var sqlID uuid.UUID
	s := secIdent(schema)
	sub := uuid.NewString()
	require.NoError(t, vaulttest.AsRole(ctx, b.tx, secService, map[string]any{"role": secService, "sub": sub}, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "SELECT "+s+".store_credential($1, $2)", "audit/sql/"+uuid.NewString(), newSecret()).Scan(&sqlID); err != nil {
			return err
		}
		for _, q := range []string{"SELECT " + s + ".retrieve_credential($1)", "SELECT " + s + ".delete_credential($1)"} {
			if _, err := tx.Exec(ctx, q, sqlID); err != nil {
				return err
			}
		}
		_, err := tx.Exec(ctx, "SELECT "+s+".rotate_credential($1, $2)", id, newSecret())
		return err
	}))
	require.Equal(t, []string{"store", "retrieve", "delete"}, lcOps(t, b.owner, sqlID))
	require.Equal(t, []string{"store", "rotate"}, lcOps(t, b.owner, id))
	records, err = b.owner.AccessLog(ctx, sqlID, 10)
	require.NoError(t, err)
	for _, r := range records {
		require.Equal(t, sub, r.JWTSubject, r.Op)
		require.Equal(t, secService, r.JWTRole, r.Op)
	}
}

// lcSetup is setup with no options, plus the shared database's schema.
func lcSetup(t *testing.T) (*vault.Client, *bundle, string) {
	t.Helper()
	c, b := setup(t)
	return c, b, testSchema(t)
}

// lcOrgs are clients that work in one transaction on the shared database,
// rolled back when the test ends: a and other in two fresh namespaces
// (nsA, nsB), def in the default namespace.
type lcOrgs struct {
	b                *bundle
	schema, nsA, nsB string
	a, other, def    *vault.Client
}

// lcNewOrgs makes lcOrgs' clients with newClient, such as lcClient.
func lcNewOrgs(t *testing.T, newClient func(t testing.TB, db vault.DB, schema, ns string) *vault.Client) lcOrgs {
	t.Helper()
	_, b, schema := lcSetup(t)
	o := lcOrgs{b: b, schema: schema, nsA: lcNamespace(t, "org-a"), nsB: lcNamespace(t, "org-b")}
	o.a = newClient(t, b.tx, o.schema, o.nsA)
	o.other = newClient(t, b.tx, o.schema, o.nsB)
	o.def = newClient(t, b.tx, o.schema, "")
	return o
}

// lcVerbs are the fmt verbs lcPrintings prints with.
var lcVerbs = []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10v", "%-40s"}

// lcPrintings returns, keyed by how, the ways a program may print or log
// value (a fmt.Stringer and fmt.GoStringer), given as itself, through a
// pointer, in a slice and in a struct field: each of lcVerbs ("%v",
// "%v pointer", ...), String, GoString, JSON and XML ("json value", "xml
// field", ...) and slog's JSON and text records ("slog").
func lcPrintings(t *testing.T, value, pointer, slice, field any) map[string]string {
	t.Helper()
	forms := map[string]any{"value": value, "pointer": pointer, "slice": slice, "field": field}
	outputs := map[string]string{
		"String":   value.(fmt.Stringer).String(),
		"GoString": value.(fmt.GoStringer).GoString(),
	}
	for what, v := range forms {
		for _, verb := range lcVerbs {
			key := verb + " " + what
			if what == "value" {
				key = verb
			}
			outputs[key] = fmt.Sprintf(verb, v)
		}
		j, err := json.Marshal(v)
		require.NoError(t, err)
		outputs["json "+what] = string(j)
		x, err := xml.Marshal(v)
		require.NoError(t, err)
		outputs["xml "+what] = string(x)
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		l := slog.New(h)
		l.Info("printed", "v", value, "p", pointer)
		l.Info("printed", slog.Any("v", value), slog.Group("g", "v", value))
	}
	outputs["slog"] = logs.String()
	return outputs
}

// lcRequireRedacted checks that no output holds value and that each says
// REDACTED, except the numeric verbs', which print bytes.
func lcRequireRedacted(t *testing.T, outputs map[string]string, value string) {
	t.Helper()
	for what, out := range outputs {
		require.NotContains(t, out, value, "%s printed the value", what)
		if !strings.HasPrefix(what, "%x") && !strings.HasPrefix(what, "%X") && !strings.HasPrefix(what, "%d") {
			require.Contains(t, out, "REDACTED", what)
		}
	}
}

func TestSecretNeverPrintsItsValue(t *testing.T) {
	t.Parallel()
	value := newSecret()
	s := vault.Secret{
		Credential: vault.Credential{ID: uuid.New(), Namespace: "org", Name: "acme/stripe", Version: 3},
		Value:      value,
	}
	require.True(t, s.Value == value, "the Value field reads the value")

	type Exported struct{ S vault.Secret }
	outputs := lcPrintings(t, s, &s, []vault.Secret{s}, Exported{s})
	for _, verb := range lcVerbs {
		outputs[verb+" map"] = fmt.Sprintf(verb, map[string]vault.Secret{"k": s})
	}
	outputs["Sprint"] = fmt.Sprint(s, &s)
	outputs["Sprintln"] = fmt.Sprintln(s, &s)
	outputs["error"] = fmt.Errorf("wrapped: %v", s).Error()
	lcRequireRedacted(t, outputs, value)
	require.Contains(t, outputs["json value"], `"Name":"acme/stripe"`, "the metadata stays readable")

	var decoded map[string]any
	require.NoError(t, json.Unmarshal([]byte(outputs["json value"]), &decoded))
	require.Equal(t, "[REDACTED]", decoded["Value"])
}

func TestCursorRoundTrip(t *testing.T) {
	t.Parallel()
	cred := vault.Credential{ID: uuid.New(), Name: "acme/ünïcode #1", ExpiresAt: time.Now().Truncate(time.Microsecond)}
	cur := cred.Cursor()
	require.False(t, cur.IsZero())
	parsed, err := vault.ParseCursor(cur.String())
	require.NoError(t, err)
	require.Equal(t, cur.String(), parsed.String())
	require.True(t, vault.Cursor{}.IsZero())
	require.Empty(t, vault.Cursor{}.String())
	zero, err := vault.ParseCursor("")
	require.NoError(t, err)
	require.True(t, zero.IsZero())
	for _, bad := range []string{"!", "AAAA", strings.Repeat("A", 40), cur.String() + "%"} {
		_, err := vault.ParseCursor(bad)
		require.ErrorIs(t, err, vault.ErrInvalidArgument, bad)
	}
	// A cursor without expiry cannot continue an expiry-ordered listing.
	noExpiry := vault.Credential{ID: uuid.New(), Name: "n"}.Cursor()
	c, _ := setup(t)
	_, err = c.List(context.Background(), vault.ListFilter{ExpiresBefore: time.Now(), After: noExpiry})
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
}

var errProvider = errors.New("provider said no")

// lcPool returns a pool of at most maxConns connections to db, closed when
// the test ends.
func lcPool(t testing.TB, db *vaulttest.Database, maxConns int32) *pgxpool.Pool {
	t.Helper()
	return newTestPool(t, db.URL, maxConns, "credvault-lifecycle-"+randomHex(t, 4), nil)
}

// lcPoolClient returns setup's client in a fresh namespace on a pool of at
// most maxConns connections to a new database, with the database and the
// namespace.
func lcPoolClient(t *testing.T, maxConns int32) (*vault.Client, *vaulttest.Database, string) {
	t.Helper()
	db := vaulttest.NewDatabase(t)
	ns := lcNamespace(t, "org")
	c, _ := setup(t, on(lcPool(t, db, maxConns), db.Schema), namespace(ns))
	return c, db, ns
}

// TestPutConcurrentGoroutines puts one name from 16 goroutines at once:
// one credential results, every Put made one version of it, and no Vault
// secret is left behind by the Puts that lost the race to create it.
func TestPutConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, db, ns := lcPoolClient(t, 8)
	const n = 16
	name := "concurrent/put"
	values := newSecrets(n)
	results := make([]vault.Credential, n)
	errs := make([]error, n)
	together(n, func(i int) { results[i], errs[i] = c.Put(ctx, name, values[i], "") })
	versions := map[int64]int{}
	for i := range n {
		require.NoError(t, errs[i])
		require.Equal(t, results[0].ID, results[i].ID, "one credential per name")
		versions[results[i].Version] = i
	}
	require.Len(t, versions, n, "each Put made its own version")
	for v := int64(1); v <= n; v++ {
		require.Contains(t, versions, v)
	}
	got, err := c.Read(ctx, results[0].ID)
	require.NoError(t, err)
	require.EqualValues(t, n, got.Version)
	require.True(t, got.Value == values[versions[n]], "the last version holds the value of the Put that made it")
	lcRequireOneCredential(t, db, ns, name)
}

// TestRefreshExactlyOnce refreshes one credential from 32 goroutines at
// once, while fn takes a while: fn runs once and every call returns its
// value. Once with one Client on a pool of 4 connections (the calls share
// one refresh in the process), once with 32 Clients on a pool of 40, where
// the database lock alone serializes them.
func TestRefreshExactlyOnce(t *testing.T) {
	t.Parallel()
	db := vaulttest.NewDatabase(t)
	for _, tc := range []struct {
		name     string
		maxConns int32
		clients  int
	}{{"one client, pool of 4", 4, 1}, {"32 clients, pool of 40", 40, 32}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			pool := lcPool(t, db, tc.maxConns)
			ns := lcNamespace(t, "org")
			clients := make([]*vault.Client, tc.clients)
			for i := range clients {
				clients[i], _ = setup(t, on(pool, db.Schema), namespace(ns))
			}
			cred, err := clients[0].Put(ctx, "oauth/refresh-token", newSecret(), "")
			require.NoError(t, err)
			if tc.clients > 1 { // open the connections before the race
				conns := make([]*pgxpool.Conn, tc.clients)
				for i := range conns {
					conns[i], err = pool.Acquire(ctx)
					require.NoError(t, err)
				}
				for _, c := range conns {
					c.Release()
				}
			}

			const n = 32
			var (
				fnCalls  atomic.Int32
				fnSaw    atomic.Int64
				produced atomic.Value
			)
			results := make([]vault.Secret, n)
			errs := make([]error, n)
			together(n, func(i int) {
				c := clients[i%len(clients)]
				results[i], errs[i] = c.Refresh(ctx, cred.ID, func(ctx context.Context, cur vault.Secret) (string, error) {
					fnCalls.Add(1)
					fnSaw.Store(cur.Version)
					time.Sleep(time.Second)
					v := newSecret()
					produced.Store(v)
					return v, nil
				})
			})
			require.EqualValues(t, 1, fnCalls.Load(), "fn ran more than once")
			require.EqualValues(t, 1, fnSaw.Load(), "fn got the current version")
			want := produced.Load().(string)
			for i := range n {
				require.NoError(t, errs[i])
				require.True(t, results[i].Value == want, "call %d returned another value than fn's", i)
				require.EqualValues(t, 2, results[i].Version)
			}
			got, err := clients[0].Read(ctx, cred.ID)
			require.NoError(t, err)
			require.True(t, got.Value == want)
			require.EqualValues(t, 2, got.Version)
		})
	}
}

// TestRefreshFailures: an error or a panic in fn changes nothing and
// releases the lock; a caller waiting on a refresh that panicked refreshes
// itself; a caller waiting for the lock gives up at its deadline without
// calling fn; a Refresh inside a caller's transaction leaves its role as it
// was.
func TestRefreshFailures(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	pool := lcPool(t, db, 4)
	c, _ := setup(t, on(pool, db.Schema))
	owner := ownerClient(t, db.Pool, db.Schema)
	cred, err := c.Put(ctx, "oauth/failures", newSecret(), "")
	require.NoError(t, err)
	before := lcSnapshot(t, db.Pool, db.Schema, owner, cred.ID)

	_, err = c.Refresh(ctx, cred.ID, func(context.Context, vault.Secret) (string, error) { return "", errProvider })
	require.ErrorIs(t, err, errProvider)
	require.Equal(t, before, lcSnapshot(t, db.Pool, db.Schema, owner, cred.ID), "a failed fn changed something")

	_, err = c.Refresh(ctx, cred.ID, func(context.Context, vault.Secret) (string, error) { return "bad\x00value", nil })
	require.ErrorIs(t, err, vault.ErrInvalidArgument)
	require.Equal(t, before, lcSnapshot(t, db.Pool, db.Schema, owner, cred.ID))

	// A panic propagates after the rollback; a caller that was waiting on
	// the panicking refresh refreshes itself.
	inFn := make(chan struct{})
	release := make(chan struct{})
	panicked := make(chan any, 1)
	go func() {
		defer func() { panicked <- recover() }()
		_, _ = c.Refresh(ctx, cred.ID, func(context.Context, vault.Secret) (string, error) {
			close(inFn)
			<-release
			panic("fn panics")
		})
	}()
	<-inFn
	waiterDone := make(chan error, 1)
	waiterCalls := 0
	var waiterValue string
	go func() {
		s, err := c.Refresh(ctx, cred.ID, func(context.Context, vault.Secret) (string, error) {
			waiterCalls++
			return newSecret(), nil
		})
		waiterValue = s.Value
		waiterDone <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the waiter join the refresh in flight
	close(release)
	require.Equal(t, "fn panics", <-panicked)
	select {
	case err := <-waiterDone:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter is stuck: the panicking refresh kept its lock")
	}
	require.Equal(t, 1, waiterCalls)
	got, err := c.Read(ctx, cred.ID)
	require.NoError(t, err)
	require.True(t, got.Value == waiterValue)
	require.EqualValues(t, before.Credential.Version+1, got.Version)

	// Waiting for the lock ends with the caller's deadline.
	tx, err := db.Pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx)
	_, err = tx.Exec(ctx, "SELECT FROM "+secIdent(db.Schema)+".vault_credentials WHERE id = $1 FOR UPDATE", cred.ID)
	require.NoError(t, err)
	other, _ := setup(t, on(pool, db.Schema)) // not sharing a flight with c
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	began := time.Now()
	fnCalled := false
	_, err = other.Refresh(short, cred.ID, func(context.Context, vault.Secret) (string, error) {
		fnCalled = true
		return newSecret(), nil
	})
	require.Error(t, err)
	require.Less(t, time.Since(began), 5*time.Second)
	require.False(t, fnCalled)
	require.True(t, errors.Is(err, context.DeadlineExceeded) || errors.Is(err, vault.ErrTimeout), "%v", err)
	require.NoError(t, tx.Rollback(ctx))
	_, err = other.Refresh(ctx, cred.ID, func(context.Context, vault.Secret) (string, error) { return newSecret(), nil })
	require.NoError(t, err, "the pool recovers")

	// Inside a caller's transaction, as the shared test setup runs.
	inTx, b := setup(t)
	id := storeFresh(t, inTx, "oauth/in-tx/")
	fresh := newSecret()
	s, err := inTx.Refresh(ctx, id, func(context.Context, vault.Secret) (string, error) { return fresh, nil })
	require.NoError(t, err)
	require.True(t, s.Value == fresh)
	var role string
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT current_setting('role')").Scan(&role))
	require.Equal(t, "none", role, "the caller's role is restored")
	_, err = inTx.Refresh(ctx, id, func(context.Context, vault.Secret) (string, error) { return "", errProvider })
	require.ErrorIs(t, err, errProvider)
	v, err := inTx.Retrieve(ctx, id)
	require.NoError(t, err, "the caller's transaction is still usable")
	require.True(t, v == fresh)
}

// TestIfVersionRace rotates one credential from eight goroutines at once,
// each with IfVersion of the version they all read: exactly one wins each
// round, the others get ErrVersionMismatch, and the value is the winner's.
func TestIfVersionRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	c, _ := setup(t, on(lcPool(t, db, 8), db.Schema))
	cred, err := c.Put(ctx, "cas/race", newSecret(), "")
	require.NoError(t, err)
	const n, rounds = 8, 5
	for round := range rounds {
		cur, err := c.Read(ctx, cred.ID)
		require.NoError(t, err)
		values := newSecrets(n)
		errs := make([]error, n)
		together(n, func(i int) { errs[i] = c.Rotate(ctx, cred.ID, values[i], vault.IfVersion(cur.Version)) })
		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "round %d: two rotations won", round)
				winner = i
				continue
			}
			require.ErrorIs(t, err, vault.ErrVersionMismatch, "round %d", round)
		}
		require.NotEqual(t, -1, winner, "round %d: no rotation won", round)
		got, err := c.Read(ctx, cred.ID)
		require.NoError(t, err)
		require.Equal(t, cur.Version+1, got.Version)
		require.True(t, got.Value == values[winner], "round %d: the value is not the winner's", round)
	}
}

// TestListPaging pages through 2,500 credentials while another goroutine
// keeps adding and deleting credentials of the same namespace: each of the
// 2,500 is seen exactly once and no credential twice, in name order; then
// the same in expiry order (with many equal expiries), through String
// cursors, and with a name prefix. Finally, with vault.secrets locked
// exclusively, List, All and Lookup still answer: they never read Vault.
func TestListPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c, db, ns := lcPoolClient(t, 4)
	s := secIdent(db.Schema)

	const n = 2500
	_, err := db.Pool.Exec(ctx, "SELECT count(*) FROM generate_series(1, $2::int) AS i CROSS JOIN LATERAL "+s+
		".credential_put($1, 'page/' || md5(i::text), md5(pg_catalog.random()::text), '') AS p", ns, n)
	require.NoError(t, err)
	originals := map[uuid.UUID]string{}
	rows, err := db.Pool.Query(ctx, "SELECT id, name FROM "+s+".vault_credentials WHERE namespace = $1", ns)
	require.NoError(t, err)
	var id uuid.UUID
	var name string
	_, err = pgx.ForEachRow(rows, []any{&id, &name}, func() error { originals[id] = name; return nil })
	require.NoError(t, err)
	require.Len(t, originals, n)

	// Others add and delete credentials meanwhile, all over the name range
	// and with expiries among the originals'.
	churn := func(t *testing.T) (stop func() int) {
		done := make(chan struct{})
		var added atomic.Int32
		var wg sync.WaitGroup
		wg.Go(func() {
			var mine []uuid.UUID
			for i := 0; !isClosed(done); i++ {
				cred, err := c.Put(ctx, "page/"+randomHex(t, 16), newSecret(), "")
				if !assert.NoError(t, err) {
					return
				}
				exp := time.Now().Add(time.Duration(i%50) * time.Minute)
				_, err = c.Update(ctx, cred.ID, vault.CredentialUpdate{ExpiresAt: &exp})
				assert.NoError(t, err)
				added.Add(1)
				mine = append(mine, cred.ID)
				if i%3 == 0 {
					assert.NoError(t, c.Delete(ctx, mine[0]))
					mine = mine[1:]
				}
			}
		})
		return func() int { close(done); wg.Wait(); return int(added.Load()) }
	}
	check := func(t *testing.T, seen []vault.Credential, less func(a, b vault.Credential) bool, want func(uuid.UUID) bool) {
		t.Helper()
		count := map[uuid.UUID]int{}
		for i, cr := range seen {
			count[cr.ID]++
			require.Equal(t, 1, count[cr.ID], "%s seen twice", cr.ID)
			require.Equal(t, ns, cr.Namespace)
			if i > 0 {
				require.True(t, less(seen[i-1], cr), "out of order at %d", i)
			}
		}
		for id := range originals {
			if want(id) {
				require.Equal(t, 1, count[id], "%s not seen", id)
			}
		}
	}
	byName := func(a, b vault.Credential) bool { return a.Name < b.Name }

	t.Run("name order", func(t *testing.T) {
		stop := churn(t)
		var seen []vault.Credential
		for cr, err := range c.All(ctx, vault.ListFilter{Limit: 100}) {
			require.NoError(t, err)
			seen = append(seen, cr)
		}
		added := stop()
		check(t, seen, byName, func(uuid.UUID) bool { return true })
		t.Logf("%d credentials listed, %d added meanwhile", len(seen), added)
	})

	// Expiries for the originals: 50 distinct values, so many ties.
	_, err = db.Pool.Exec(ctx, "UPDATE "+s+".vault_credentials SET expires_at = date_trunc('second', now()) + "+
		"(get_byte(decode(md5(id::text), 'hex'), 0) % 50) * interval '1 minute' WHERE namespace = $1", ns)
	require.NoError(t, err)
	byExpiry := func(a, b vault.Credential) bool {
		if !a.ExpiresAt.Equal(b.ExpiresAt) {
			return a.ExpiresAt.Before(b.ExpiresAt)
		}
		return bytes.Compare(a.ID[:], b.ID[:]) < 0
	}
	t.Run("expiry order with string cursors", func(t *testing.T) {
		stop := churn(t)
		filter := vault.ListFilter{ExpiresBefore: time.Now().Add(2 * time.Hour), Limit: 64}
		var seen []vault.Credential
		for {
			page, err := c.List(ctx, filter)
			require.NoError(t, err)
			seen = append(seen, page...)
			if len(page) < filter.Limit {
				break
			}
			filter.After, err = vault.ParseCursor(page[len(page)-1].Cursor().String())
			require.NoError(t, err)
		}
		stop()
		check(t, seen, byExpiry, func(uuid.UUID) bool { return true })
		for _, cr := range seen {
			require.False(t, cr.ExpiresAt.IsZero())
		}
	})

	t.Run("name prefix", func(t *testing.T) {
		prefix := "page/a"
		var seen []vault.Credential
		for cr, err := range c.All(ctx, vault.ListFilter{NamePrefix: prefix, Limit: 7}) {
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(cr.Name, prefix), cr.Name)
			seen = append(seen, cr)
		}
		check(t, seen, byName, func(id uuid.UUID) bool { return strings.HasPrefix(originals[id], prefix) })
	})

	t.Run("never reads vault.secrets", func(t *testing.T) {
		if db.AdminURL == "" {
			t.Skip("locks vault.secrets: needs a database of its own, not VAULT_TEST_DATABASE_URL")
		}
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		defer tx.Rollback(ctx)
		_, err = tx.Exec(ctx, "LOCK TABLE vault.secrets IN ACCESS EXCLUSIVE MODE")
		require.NoError(t, err)
		short, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		page, err := c.List(short, vault.ListFilter{Limit: 100})
		require.NoError(t, err)
		require.Len(t, page, 100)
		_, err = c.List(short, vault.ListFilter{ExpiresBefore: time.Now().Add(time.Hour), After: page[0].Cursor()})
		require.NoError(t, err)
		for _, err := range c.All(short, vault.ListFilter{NamePrefix: "page/b", Limit: 10}) {
			require.NoError(t, err)
		}
		_, err = c.Lookup(short, page[0].Name)
		require.NoError(t, err)
	})
}

// lcInstallBeforeLifecycle installs, in a new schema of db, the migrations
// that came before the lifecycle one, recorded as Migrate records them,
// and returns the schema.
func lcInstallBeforeLifecycle(t *testing.T, db *vaulttest.Database) string {
	t.Helper()
	ctx := context.Background()
	schema := "legacy_" + randomHex(t, 4)
	s := secIdent(schema)
	_, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+s+"; CREATE TABLE "+s+".credvault_migrations (version integer PRIMARY KEY, "+
		"name text NOT NULL, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())")
	require.NoError(t, err)
	names, sums := migrationFiles(t)
	installed := 0
	for i, file := range names {
		if strings.Contains(file, "credential_lifecycle") {
			break
		}
		sql, err := fs.ReadFile(vault.Migrations, file)
		require.NoError(t, err)
		_, err = db.Pool.Exec(ctx, strings.ReplaceAll(string(sql), "@schema@", s))
		require.NoError(t, err, file)
		_, err = db.Pool.Exec(ctx, "INSERT INTO "+s+".credvault_migrations (version, name, checksum) VALUES ($1, $2, $3)", i+1, file, sums[i])
		require.NoError(t, err)
		installed++
	}
	require.Less(t, installed, len(names), "the lifecycle migration is not in the bundle")
	return schema
}

// TestLegacyCredentials stores credentials with store_credential and
// directly in Vault before the lifecycle migration, applies it, and checks
// they keep working by id and appear in the default namespace (never in
// another); then does the same with Vault secrets created afterwards
// without the library, which are recorded on their first write.
func TestLegacyCredentials(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := throwawayDatabase(t, "the migration records every Vault secret of the database")
	schema := lcInstallBeforeLifecycle(t, db)
	s := secIdent(schema)
	tag := randomHex(t, 4)
	asService := func(sql string, args ...any) (id uuid.UUID) {
		t.Helper()
		require.NoError(t, vaulttest.AsRole(ctx, db.Pool, secService, nil, func(tx pgx.Tx) error {
			return tx.QueryRow(ctx, sql, args...).Scan(&id)
		}))
		return id
	}
	direct := func(value, name string) (id uuid.UUID) { // as postgres, straight into Vault
		t.Helper()
		var n *string
		if name != "" {
			n = &name
		}
		require.NoError(t, db.Pool.QueryRow(ctx, "SELECT vault.create_secret($1, $2)", value, n).Scan(&id))
		return id
	}

	values := map[string]string{}
	for _, k := range []string{"stored1", "stored2", "direct", "unnamed", "rotated"} {
		values[k] = newSecret()
	}
	stored1 := asService("SELECT "+s+".store_credential($1, $2)", "legacy/"+tag, values["stored1"])
	stored2 := asService("SELECT "+s+".store_credential($1, $2)", "legacy/"+tag, values["stored2"])
	directID := direct(values["direct"], "legacy/direct-"+tag)
	unnamed := direct(values["unnamed"], "")
	longName := "legacy/long-" + strings.Repeat("x", vault.MaxNameSize) // longer than the library allows
	values["long"] = newSecret()
	long := direct(values["long"], longName)
	require.NoError(t, vaulttest.AsRole(ctx, db.Pool, secService, nil, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT "+s+".rotate_credential($1, $2)", stored2, values["rotated"])
		if err == nil {
			_, err = tx.Exec(ctx, "SELECT "+s+".retrieve_credential($1)", stored1)
		}
		return err
	}))
	var suffixed string
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT name FROM vault.secrets WHERE id = $1", stored2).Scan(&suffixed))

	owner := ownerClient(t, db.Pool, schema)
	require.NoError(t, owner.Migrate(ctx))
	d, _ := setup(t, on(db.Pool, schema))
	o, _ := setup(t, on(db.Pool, schema), namespace(lcNamespace(t, "org")))

	want := map[uuid.UUID]string{stored1: values["stored1"], stored2: values["rotated"], directID: values["direct"],
		unnamed: values["unnamed"], long: values["long"]}
	for id, v := range want {
		got, err := d.Retrieve(ctx, id)
		require.NoError(t, err)
		require.True(t, got == v, "a credential from before does not retrieve its value")
		_, err = o.Retrieve(ctx, id)
		require.ErrorIs(t, err, vault.ErrNotFound, "credentials from before belong to the default namespace")
		sec, err := d.Read(ctx, id)
		require.NoError(t, err)
		require.EqualValues(t, 1, sec.Version)
		require.Empty(t, sec.Namespace)
	}
	records, err := owner.AccessLog(ctx, stored1, 10)
	require.NoError(t, err)
	require.Equal(t, "retrieve", records[len(records)-1].Op, "rows from before are retrievals")

	for name, id := range map[string]uuid.UUID{"legacy/" + tag: stored1, suffixed: stored2, "legacy/direct-" + tag: directID,
		unnamed.String(): unnamed} {
		cred, err := d.Lookup(ctx, name)
		require.NoError(t, err, name)
		require.Equal(t, id, cred.ID, name)
		_, err = o.Lookup(ctx, name)
		require.ErrorIs(t, err, vault.ErrNotFound)
	}
	listed := map[uuid.UUID]string{}
	for cr, err := range d.All(ctx, vault.ListFilter{Limit: 1}) { // every one ends a page
		require.NoError(t, err)
		listed[cr.ID] = cr.Name
	}
	require.Equal(t, map[uuid.UUID]string{stored1: "legacy/" + tag, stored2: suffixed, directID: "legacy/direct-" + tag,
		unnamed: unnamed.String(), long: longName}, listed, "listed under their Vault names, or their ids")
	cur, err := vault.ParseCursor(vault.Credential{ID: long, Name: longName}.Cursor().String())
	require.NoError(t, err)
	_, err = d.List(ctx, vault.ListFilter{After: cur})
	require.NoError(t, err)
	empty, err := o.List(ctx, vault.ListFilter{})
	require.NoError(t, err)
	require.Empty(t, empty)

	// Put by the name updates the credential stored before; rollback works
	// on a value set before the migration once it changed after.
	cred, err := d.Put(ctx, "legacy/"+tag, newSecret(), "")
	require.NoError(t, err)
	require.Equal(t, stored1, cred.ID)
	require.EqualValues(t, 2, cred.Version)
	require.NoError(t, d.Rotate(ctx, stored2, newSecret()))
	require.NoError(t, d.Rollback(ctx, stored2))
	got, err := d.Retrieve(ctx, stored2)
	require.NoError(t, err)
	require.True(t, got == values["rotated"])
	require.NoError(t, o.Delete(ctx, unnamed))
	require.NoError(t, d.Delete(ctx, unnamed))
	_, err = d.Retrieve(ctx, unnamed)
	require.ErrorIs(t, err, vault.ErrNotFound)

	// Vault secrets created after the migration without the library.
	later := newSecret()
	laterName := "after/direct-" + tag
	laterID := direct(later, laterName)
	got, err = d.Retrieve(ctx, laterID)
	require.NoError(t, err)
	require.True(t, got == later)
	_, err = o.Read(ctx, laterID)
	require.ErrorIs(t, err, vault.ErrNotFound)
	require.NoError(t, o.Delete(ctx, laterID))
	cred, err = d.Lookup(ctx, laterName)
	require.NoError(t, err)
	require.Equal(t, laterID, cred.ID)
	require.EqualValues(t, 1, cred.Version)
	page, err := d.List(ctx, vault.ListFilter{NamePrefix: "after/"})
	require.NoError(t, err)
	require.Empty(t, page, "not recorded before its first write")
	require.NoError(t, d.Rotate(ctx, laterID, newSecret(), vault.IfVersion(1)))
	page, err = d.List(ctx, vault.ListFilter{NamePrefix: "after/"})
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, laterID, page[0].ID)
	require.EqualValues(t, 2, page[0].Version)
	_, err = o.Lookup(ctx, laterName)
	require.ErrorIs(t, err, vault.ErrNotFound)

	putName := "after/put-" + tag
	putID := direct(newSecret(), putName)
	cred, err = d.Put(ctx, putName, newSecret(), "")
	require.NoError(t, err)
	require.Equal(t, putID, cred.ID, "Put takes over a Vault secret of that name")
	require.EqualValues(t, 2, cred.Version)

	gone := direct(newSecret(), "")
	require.NoError(t, d.Delete(ctx, gone))
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM vault.secrets WHERE id = $1", gone).Scan(&n))
	require.Zero(t, n)
	require.Equal(t, []string{"delete"}, lcOps(t, owner, gone))

	// store_credential after the migration records the credential.
	sqlID := asService("SELECT "+s+".store_credential($1, $2)", "after/sql-"+tag, newSecret())
	cred, err = d.Lookup(ctx, "after/sql-"+tag)
	require.NoError(t, err)
	require.Equal(t, sqlID, cred.ID)
	require.Equal(t, []string{"store"}, lcOps(t, owner, sqlID))
}

// TestPutRetryAfterLostCall makes a Put give up while Vault is locked (its
// connection is dropped with the call in flight, so the server may still
// carry it out), then retries it as the caller would: still one credential
// of that name, and no Vault secret without bookkeeping.
func TestPutRetryAfterLostCall(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	c, _ := setup(t, on(lcPool(t, db, 4), db.Schema), namespace(lcNamespace(t, "org")))
	name := "retry/put"
	for _, existing := range []bool{false, true} {
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, "LOCK TABLE vault.secrets IN SHARE MODE") // create_secret and update_secret wait
		require.NoError(t, err)
		short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_, err = c.Put(short, name, newSecret(), "")
		cancel()
		require.Error(t, err, "existing=%v", existing)
		require.True(t, vault.IsRetryable(err), "%v", err)
		require.NoError(t, tx.Rollback(ctx))

		value := newSecret()
		cred, err := c.Put(ctx, name, value, "")
		require.NoError(t, err)
		got, err := c.Read(ctx, cred.ID)
		require.NoError(t, err)
		if got.Version == cred.Version { // the lost call may commit after the retry
			require.True(t, got.Value == value)
		}
		lcRequireOneCredential(t, db, c.Namespace(), name)
	}
}

// TestWriteWhileVaultRowDeleted deletes a credential's Vault row directly,
// as the dashboard would, while a Put of its name or a Rotate waits to set
// the value: vault.update_secret then changes nothing and raises nothing.
// The Put creates the credential again, and the Rotate reports ErrNotFound,
// instead of either reporting a value it did not set.
func TestWriteWhileVaultRowDeleted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t)
	c, _ := setup(t, on(lcPool(t, db, 4), db.Schema), namespace(lcNamespace(t, "org")))
	// whileDeleted runs call while another transaction deletes id's Vault
	// row, and commits the delete once the call waits for its row lock.
	whileDeleted := func(id uuid.UUID, fn string, call func() error) error {
		t.Helper()
		tx, err := db.Pool.Begin(ctx)
		require.NoError(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		_, err = tx.Exec(ctx, "DELETE FROM vault.secrets WHERE id = $1", id)
		require.NoError(t, err)
		done := make(chan error, 1)
		go func() { done <- call() }()
		require.Eventually(t, func() bool {
			var waiting bool
			err := db.Pool.QueryRow(ctx, "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%'||$1||'%')", fn).Scan(&waiting)
			return err == nil && waiting
		}, 10*time.Second, 10*time.Millisecond)
		require.NoError(t, tx.Commit(ctx))
		return <-done
	}

	first, err := c.Put(ctx, "acme/hubspot", newSecret(), "")
	require.NoError(t, err)
	value := newSecret()
	var cred vault.Credential
	require.NoError(t, whileDeleted(first.ID, "credential_put", func() (err error) {
		cred, err = c.Put(ctx, "acme/hubspot", value, "")
		return err
	}))
	got, err := c.Read(ctx, cred.ID)
	require.NoError(t, err, "the credential Put returned exists")
	require.True(t, got.Value == value, "and holds the value Put set")
	lcRequireOneCredential(t, db, c.Namespace(), "acme/hubspot")

	err = whileDeleted(cred.ID, "credential_rotate", func() error {
		return c.Rotate(ctx, cred.ID, newSecret(), vault.IfVersion(cred.Version))
	})
	require.ErrorIs(t, err, vault.ErrNotFound, "a rotation of a credential deleted meanwhile")
}

// TestLifecycleGet reads metadata by id: in the client's namespace only,
// without the value, without an access-log row, and for a Vault secret
// created without the library (default namespace).
func TestLifecycleGet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	orgs := lcNewOrgs(t, lcClient)
	b, schema, nsA, a, other, def := orgs.b, orgs.schema, orgs.nsA, orgs.a, orgs.other, orgs.def

	put, err := a.Put(ctx, "acme/quickbooks", newSecret(), "QuickBooks")
	require.NoError(t, err)
	require.NoError(t, a.Rotate(ctx, put.ID, newSecret()))
	before := lcAuditRows(t, b.tx, schema, put.ID)

	got, err := a.Get(ctx, put.ID)
	require.NoError(t, err)
	require.Equal(t, put.ID, got.ID)
	require.Equal(t, nsA, got.Namespace)
	require.Equal(t, "acme/quickbooks", got.Name)
	require.Equal(t, "QuickBooks", got.Description)
	require.EqualValues(t, 2, got.Version)
	require.True(t, got.LastRetrievedAt.IsZero())
	require.Equal(t, before, lcAuditRows(t, b.tx, schema, put.ID), "Get writes no access-log row")

	_, err = a.Read(ctx, put.ID)
	require.NoError(t, err)
	got, err = a.Get(ctx, put.ID)
	require.NoError(t, err)
	require.False(t, got.LastRetrievedAt.IsZero(), "Get reports the last read")

	for _, c := range []*vault.Client{other, def} {
		_, err = c.Get(ctx, put.ID)
		require.ErrorIs(t, err, vault.ErrNotFound, "another namespace's credential is an unknown id")
	}
	_, err = a.Get(ctx, uuid.New())
	require.ErrorIs(t, err, vault.ErrNotFound)
	_, err = a.Get(ctx, uuid.Nil)
	require.ErrorIs(t, err, vault.ErrInvalidArgument)

	// A Vault secret created after the migrations, without the library.
	var direct uuid.UUID
	require.NoError(t, b.tx.QueryRow(ctx, "SELECT vault.create_secret($1, $2, 'made by hand')",
		newSecret(), "legacy/get-"+randomHex(t, 4)).Scan(&direct))
	got, err = def.Get(ctx, direct)
	require.NoError(t, err)
	require.Equal(t, "", got.Namespace)
	require.Equal(t, "made by hand", got.Description)
	require.EqualValues(t, 1, got.Version)
	_, err = a.Get(ctx, direct)
	require.ErrorIs(t, err, vault.ErrNotFound)
}

// TestREADMELifecycleExample holds the README's OAuth refresh code to
// ExampleClient_Refresh, which runs in the suite: every line of the block
// after the README's marker appears, in order, in the example's body.
func TestREADMELifecycleExample(t *testing.T) {
	t.Parallel()
	after := fileSection(t, "README.md", "<!-- keep in sync with ExampleClient_Refresh", "")
	_, after, ok := strings.Cut(after, "```go\n")
	require.True(t, ok)
	block, _, ok := strings.Cut(after, "```")
	require.True(t, ok)

	body := fileSection(t, "example_test.go", "func ExampleClient_Refresh() {\n", "\n}\n")
	lines := strings.Split(body, "\n")

	n, i := 0, 0
	for _, want := range strings.Split(block, "\n") {
		want = strings.TrimSpace(want)
		if want == "" {
			continue
		}
		for i < len(lines) && strings.TrimSpace(lines[i]) != want {
			i++
		}
		require.Less(t, i, len(lines), "README line not in ExampleClient_Refresh (or out of order): %s", want)
		i++
		n++
	}
	require.Greater(t, n, 10)
}

// The tests of the transfer hooks (Export, Import, ImportedIDs) within one
// server. Package bundle's tests move credentials between two servers with
// different root keys, encrypted.

// trOwner returns a client running as the connection's role, the owner.
func trOwner(t testing.TB, db vault.DB, schema string) *vault.Client {
	t.Helper()
	c := ownerClient(t, db, schema)
	return c
}

// trCollect runs an export to its end.
func trCollect(t testing.TB, seq iter.Seq2[vault.ExportedCredential, error]) []vault.ExportedCredential {
	t.Helper()
	var out []vault.ExportedCredential
	for e, err := range seq {
		require.NoError(t, err)
		out = append(out, e)
	}
	return out
}

func TestExportPagesNamespacesAndAudit(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := vaulttest.NewDatabase(t) // exports every namespace: a database of its own
	owner := trOwner(t, db.Pool, db.Schema)

	nsA, nsB := lcNamespace(t, "export-a"), lcNamespace(t, "export-b")
	values := map[uuid.UUID]string{}
	put := func(ns, name string) vault.Credential {
		v := newSecret()
		cred, err := lcClient(t, db.Pool, db.Schema, ns).Put(ctx, name, v, "desc of "+name)
		require.NoError(t, err)
		values[cred.ID] = v
		return cred
	}
	var inA []uuid.UUID
	for i := range 7 {
		inA = append(inA, put(nsA, fmt.Sprintf("a/%d", i)).ID)
	}
	inB := put(nsB, "b/0").ID
	// A rotated one, with an expiry: version and expiry travel.
	rotated := inA[0]
	cA := lcClient(t, db.Pool, db.Schema, nsA)
	v2 := newSecret()
	require.NoError(t, cA.Rotate(ctx, rotated, v2))
	values[rotated] = v2
	expires := time.Now().Add(48 * time.Hour).Truncate(time.Microsecond)
	_, err := cA.Update(ctx, rotated, vault.CredentialUpdate{ExpiresAt: &expires})
	require.NoError(t, err)
	// Stored in the default namespace: its Vault secret is named.
	stored, err := lcClient(t, db.Pool, db.Schema, "").Store(ctx, "default/"+randomHex(t, 4), newSecret(), "")
	require.NoError(t, err)
	// Made in Vault without the library, after it was installed.
	legacyName := "legacy/" + randomHex(t, 4)
	legacyValue := newSecret()
	var legacy uuid.UUID
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT vault.create_secret($1, $2, 'made by hand')", legacyValue, legacyName).Scan(&legacy))

	t.Run("one namespace, in pages, each once", func(t *testing.T) {
		before := auditRows(t, db.Pool, db.Schema, "export", nil)
		got := trCollect(t, owner.Export(ctx, vault.ExportFilter{Namespaces: []string{nsA}, PageSize: 3}))
		ids := make([]uuid.UUID, len(got))
		for i, e := range got {
			ids[i] = e.ID
			require.Equal(t, nsA, e.Namespace)
			require.True(t, values[e.ID] == e.Value, "the exported value is the stored one")
			require.Empty(t, e.VaultName, "Put leaves Vault secrets unnamed")
			require.Equal(t, "desc of "+e.Name, e.Description)
		}
		require.ElementsMatch(t, inA, ids)
		require.True(t, slices.IsSortedFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) }), "id order")
		i := slices.Index(ids, rotated)
		require.Equal(t, int64(2), got[i].Version)
		require.True(t, expires.Equal(got[i].ExpiresAt), "expiry exported")
		require.Equal(t, before+len(inA), auditRows(t, db.Pool, db.Schema, "export", nil), "one export row per credential")
		require.Equal(t, 0, auditRows(t, db.Pool, db.Schema, "export", &inB), "another namespace's credential is not decrypted")
	})

	t.Run("every namespace, legacy secrets in the default one", func(t *testing.T) {
		got := trCollect(t, owner.Export(ctx, vault.ExportFilter{}))
		byID := map[uuid.UUID]vault.ExportedCredential{}
		for _, e := range got {
			byID[e.ID] = e
		}
		for _, id := range append(append([]uuid.UUID{}, inA...), inB, stored, legacy) {
			require.Contains(t, byID, id)
		}
		l := byID[legacy]
		require.Equal(t, "", l.Namespace)
		require.Equal(t, legacyName, l.Name)
		require.Equal(t, legacyName, l.VaultName)
		require.Equal(t, "made by hand", l.Description)
		require.Equal(t, int64(1), l.Version)
		require.True(t, l.Value == legacyValue)
		require.NotEmpty(t, byID[stored].VaultName, "Store names the Vault secret")
		require.Equal(t, 1, auditRows(t, db.Pool, db.Schema, "export", &legacy))
	})

	t.Run("owner only", func(t *testing.T) {
		svc := lcClient(t, db.Pool, db.Schema, "")
		for _, err := range svc.Export(ctx, vault.ExportFilter{}) {
			require.ErrorIs(t, err, vault.ErrPermissionDenied)
		}
	})

	t.Run("invalid filters", func(t *testing.T) {
		for _, f := range []vault.ExportFilter{
			{Namespaces: []string{}}, {PageSize: -1}, {PageSize: vault.MaxListLimit + 1},
			{Namespaces: []string{strings.Repeat("n", vault.MaxNamespaceSize+1)}}, {Namespaces: []string{"a\x00b"}},
		} {
			n := 0
			for _, err := range owner.Export(ctx, f) {
				n++
				require.ErrorIs(t, err, vault.ErrInvalidArgument, "%+v", f)
			}
			require.Equal(t, 1, n)
		}
	})

	t.Run("a value that does not decrypt stops the export", func(t *testing.T) {
		if db.AdminURL == "" {
			t.Skip("needs a superuser to damage a ciphertext")
		}
		tx := vaulttest.Tx(t, connect(t, db.AdminURL))
		_, err := tx.Exec(ctx, "UPDATE vault.secrets SET nonce = decode(repeat('00', length(nonce)), 'hex') WHERE id = $1", inB)
		require.NoError(t, err)
		c := trOwner(t, tx, db.Schema)
		var last error
		n := 0
		for e, err := range c.Export(ctx, vault.ExportFilter{Namespaces: []string{nsB}}) {
			require.Empty(t, e.Value)
			last = err
			n++
		}
		require.Equal(t, 1, n, "only the error")
		require.ErrorIs(t, last, vault.ErrDecryption)
	})
}

func TestExportedCredentialNeverPrintsItsValue(t *testing.T) {
	t.Parallel()
	value := newSecret()
	e := vault.ExportedCredential{
		Secret:    vault.Secret{Credential: vault.Credential{ID: uuid.New(), Namespace: "org", Name: "acme/stripe", Version: 3}, Value: value},
		VaultName: "acme/stripe",
	}
	type wrapper struct{ E vault.ExportedCredential }
	outputs := lcPrintings(t, e, &e, []vault.ExportedCredential{e}, wrapper{e})
	lcRequireRedacted(t, outputs, value)
	require.Contains(t, outputs["json value"], `"VaultName":"acme/stripe"`)
	require.Contains(t, outputs["%v"], "acme/stripe")
}

// trSource makes n credentials in a fresh namespace of the source database
// and exports them.
func trSource(t *testing.T, db *vaulttest.Database, n int) (string, []vault.ExportedCredential) {
	t.Helper()
	ctx := context.Background()
	ns := lcNamespace(t, "source")
	c := lcClient(t, db.Pool, db.Schema, ns)
	for i := range n {
		_, err := c.Put(ctx, fmt.Sprintf("cred/%03d", i), newSecret(), fmt.Sprintf("number %d", i))
		require.NoError(t, err)
	}
	return ns, trCollect(t, trOwner(t, db.Pool, db.Schema).Export(ctx, vault.ExportFilter{Namespaces: []string{ns}}))
}

func trSeq(creds []vault.ExportedCredential, tail error) iter.Seq2[vault.ExportedCredential, error] {
	return func(yield func(vault.ExportedCredential, error) bool) {
		for _, e := range creds {
			if !yield(e, nil) {
				return
			}
		}
		if tail != nil {
			yield(vault.ExportedCredential{}, tail)
		}
	}
}

func TestImportIdempotentRemapAndDryRun(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := vaulttest.Shared(t)
	ns, creds := trSource(t, src, 450) // more than two batches
	dst := vaulttest.NewDatabase(t)
	owner := trOwner(t, dst.Pool, dst.Schema)
	exportID := uuid.New()

	// The target's tables, as a restored dump leaves them: the source's ids.
	_, err := dst.Pool.Exec(ctx, `
CREATE TABLE public.organization_integrations (org int, vault_secret_id uuid);
CREATE TABLE public.legacy_refs (ref text);`)
	require.NoError(t, err)
	unrelated := uuid.New()
	for i, e := range creds {
		_, err := dst.Pool.Exec(ctx, "INSERT INTO public.organization_integrations VALUES ($1, $2)", i, e.ID)
		require.NoError(t, err)
	}
	_, err = dst.Pool.Exec(ctx, "INSERT INTO public.organization_integrations VALUES (-1, $1)", unrelated)
	require.NoError(t, err)
	_, err = dst.Pool.Exec(ctx, "INSERT INTO public.legacy_refs VALUES ($1)", creds[0].ID.String())
	require.NoError(t, err)
	remap := []vault.ColumnRef{
		{Schema: "public", Table: "organization_integrations", Column: "vault_secret_id"},
		{Schema: "public", Table: "legacy_refs", Column: "ref"},
	}
	refs := func() string {
		var s string
		require.NoError(t, dst.Pool.QueryRow(ctx, "SELECT string_agg(org || '=' || vault_secret_id, ',' ORDER BY org) || ';' || "+
			"(SELECT string_agg(ref, ',') FROM public.legacy_refs) FROM public.organization_integrations").Scan(&s))
		return s
	}

	t.Run("dry run writes nothing", func(t *testing.T) {
		before, beforeRefs := trCounts(t, dst.Pool, dst.Schema), refs()
		var results []vault.ImportResult
		sum, err := owner.Import(ctx, trSeq(creds, nil), vault.ImportOptions{ExportID: exportID, DryRun: true, Remap: remap,
			OnResult: func(r vault.ImportResult) error { results = append(results, r); return nil }})
		require.NoError(t, err)
		require.True(t, sum.DryRun)
		require.Equal(t, int64(len(creds)), sum.Created)
		require.Zero(t, sum.Existing+sum.Conflicts)
		require.Equal(t, []vault.RemapCount{{Column: remap[0], Rows: int64(len(creds))}, {Column: remap[1], Rows: 1}}, sum.Remapped)
		require.Len(t, results, len(creds))
		for i, r := range results {
			require.Equal(t, creds[i].ID, r.SourceID, "results in order")
			require.Equal(t, vault.ImportCreated, r.Outcome)
			require.Equal(t, uuid.Nil, r.ID, "a dry run shows no id that was rolled back")
		}
		require.Equal(t, before, trCounts(t, dst.Pool, dst.Schema))
		require.Equal(t, beforeRefs, refs())
	})

	var firstIDs map[uuid.UUID]uuid.UUID
	t.Run("import", func(t *testing.T) {
		sum, err := owner.Import(ctx, trSeq(creds, nil), vault.ImportOptions{ExportID: exportID, Remap: remap})
		require.NoError(t, err)
		require.Equal(t, int64(len(creds)), sum.Created)
		require.Equal(t, int64(len(creds)), sum.Remapped[0].Rows)
		require.Equal(t, int64(1), sum.Remapped[1].Rows)
		firstIDs = map[uuid.UUID]uuid.UUID{}
		for m, err := range owner.ImportedIDs(ctx, exportID) {
			require.NoError(t, err)
			firstIDs[m.SourceID] = m.ID
			require.Equal(t, ns, m.Namespace)
		}
		require.Len(t, firstIDs, len(creds))
		c := lcClient(t, dst.Pool, dst.Schema, ns)
		for i, e := range creds {
			got, err := c.Read(ctx, firstIDs[e.ID])
			require.NoError(t, err)
			require.True(t, got.Value == e.Value, "value of %s", e.Name)
			require.Equal(t, e.Name, got.Name)
			require.Equal(t, e.Description, got.Description)
			require.Equal(t, e.Version, got.Version)
			require.True(t, e.CreatedAt.Equal(got.CreatedAt) && e.UpdatedAt.Equal(got.UpdatedAt), "timestamps kept")
			require.Contains(t, refs(), fmt.Sprintf("%d=%s", i, firstIDs[e.ID]))
			if i > 3 {
				break
			}
		}
		require.Contains(t, refs(), fmt.Sprintf("-1=%s", unrelated), "other values are left alone")
		require.True(t, strings.HasSuffix(refs(), ";"+firstIDs[creds[0].ID].String()), "a text column is remapped")
		require.Equal(t, len(creds), auditRows(t, dst.Pool, dst.Schema, "import", nil))
	})

	t.Run("again: nothing new", func(t *testing.T) {
		before, beforeRefs := trCounts(t, dst.Pool, dst.Schema), refs()
		sum, err := owner.Import(ctx, trSeq(creds, nil), vault.ImportOptions{ExportID: exportID, Remap: remap,
			OnResult: func(r vault.ImportResult) error {
				require.Equal(t, vault.ImportExisting, r.Outcome)
				require.Equal(t, firstIDs[r.SourceID], r.ID)
				return nil
			}})
		require.NoError(t, err)
		require.Equal(t, int64(len(creds)), sum.Existing)
		require.Zero(t, sum.Created)
		require.Zero(t, sum.Remapped[0].Rows, "already remapped")
		require.Equal(t, before, trCounts(t, dst.Pool, dst.Schema))
		require.Equal(t, beforeRefs, refs())
	})

	t.Run("deleted since: created again", func(t *testing.T) {
		c := lcClient(t, dst.Pool, dst.Schema, ns)
		gone := firstIDs[creds[1].ID]
		require.NoError(t, c.Delete(ctx, gone))
		sum, err := owner.Import(ctx, trSeq(creds, nil), vault.ImportOptions{ExportID: exportID})
		require.NoError(t, err)
		require.Equal(t, int64(1), sum.Created)
		require.Equal(t, int64(len(creds)-1), sum.Existing)
	})

	t.Run("a taken name fails the whole import; a dry run lists it", func(t *testing.T) {
		other := slices.Clone(creds[:3])
		for i := range other {
			other[i].ID = uuid.New() // another source, same names
		}
		before := trCounts(t, dst.Pool, dst.Schema)
		_, err := owner.Import(ctx, trSeq(other, nil), vault.ImportOptions{ExportID: uuid.New()})
		require.ErrorIs(t, err, vault.ErrAlreadyExists)
		var vErr *vault.Error
		require.ErrorAs(t, err, &vErr)
		require.Equal(t, other[0].ID, vErr.ID, "the error names the credential")
		require.Equal(t, "import", vErr.Op)
		require.Equal(t, before, trCounts(t, dst.Pool, dst.Schema))

		fresh := other[2]
		fresh.Name = "cred/fresh-" + randomHex(t, 4)
		sum, err := owner.Import(ctx, trSeq([]vault.ExportedCredential{other[0], fresh, other[1]}, nil),
			vault.ImportOptions{ExportID: uuid.New(), DryRun: true})
		require.NoError(t, err)
		require.Equal(t, int64(2), sum.Conflicts)
		require.Equal(t, int64(1), sum.Created)
		require.Equal(t, before, trCounts(t, dst.Pool, dst.Schema))
	})

	t.Run("an error from the stream rolls everything back", func(t *testing.T) {
		fresh := slices.Clone(creds)
		for i := range fresh {
			fresh[i].ID = uuid.New()
			fresh[i].Namespace = ns + "-copy"
		}
		before := trCounts(t, dst.Pool, dst.Schema)
		streamErr := fmt.Errorf("the bundle ends early")
		_, err := owner.Import(ctx, trSeq(fresh, streamErr), vault.ImportOptions{ExportID: uuid.New()})
		require.ErrorIs(t, err, streamErr)
		require.Equal(t, before, trCounts(t, dst.Pool, dst.Schema), "nothing of the batches sent before stays")
	})

	t.Run("invalid", func(t *testing.T) {
		_, err := owner.Import(ctx, trSeq(creds[:1], nil), vault.ImportOptions{})
		require.ErrorIs(t, err, vault.ErrInvalidArgument, "no ExportID")
		bad := creds[0]
		bad.ID = uuid.New()
		bad.Version = 0
		_, err = owner.Import(ctx, trSeq([]vault.ExportedCredential{bad}, nil), vault.ImportOptions{ExportID: uuid.New()})
		require.ErrorIs(t, err, vault.ErrInvalidArgument)
		for _, col := range []vault.ColumnRef{
			{Schema: "public", Table: "missing", Column: "x"},
			{Schema: "public", Table: "organization_integrations", Column: "missing"},
			{Schema: "public", Table: "organization_integrations", Column: "org"},
			{Schema: dst.Schema, Table: "credential_imports", Column: "id"},
			{Schema: "vault", Table: "secrets", Column: "id"},
		} {
			_, err = owner.Import(ctx, trSeq(nil, nil), vault.ImportOptions{ExportID: uuid.New(), Remap: []vault.ColumnRef{col}})
			require.ErrorIs(t, err, vault.ErrInvalidArgument, "%v", col)
		}
		svc := lcClient(t, dst.Pool, dst.Schema, "")
		_, err = svc.Import(ctx, trSeq(creds[:1], nil), vault.ImportOptions{ExportID: uuid.New()})
		require.ErrorIs(t, err, vault.ErrPermissionDenied)
		for _, err := range svc.ImportedIDs(ctx, exportID) {
			require.ErrorIs(t, err, vault.ErrPermissionDenied)
		}
	})
}

func TestParseColumnRef(t *testing.T) {
	t.Parallel()
	r, err := vault.ParseColumnRef("public.organization_integrations.vault_secret_id")
	require.NoError(t, err)
	require.Equal(t, vault.ColumnRef{Schema: "public", Table: "organization_integrations", Column: "vault_secret_id"}, r)
	require.Equal(t, `"public"."organization_integrations"."vault_secret_id"`, r.String())
	for _, s := range []string{"", "a.b", "a.b.c.d", ".b.c", "a..c", "a.b."} {
		_, err := vault.ParseColumnRef(s)
		require.ErrorIs(t, err, vault.ErrInvalidArgument, s)
	}
}

// TestImportRemapWithSchemaPublic: installed in schema public, next to the
// application's tables, the import still remaps those and never the
// module's own.
func TestImportRemapWithSchemaPublic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := throwawayDatabase(t, "installs into schema public")
	c := trOwner(t, db.Pool, "public")
	require.NoError(t, c.Migrate(ctx))
	_, creds := trSource(t, vaulttest.Shared(t), 2)
	_, err := db.Pool.Exec(ctx, "CREATE TABLE public.refs (vault_secret_id uuid)")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "INSERT INTO public.refs VALUES ($1), ($2)", creds[0].ID, creds[1].ID)
	require.NoError(t, err)

	for _, table := range []string{"vault_credentials", "credential_imports"} {
		_, err := c.Import(ctx, trSeq(creds, nil), vault.ImportOptions{ExportID: uuid.New(),
			Remap: []vault.ColumnRef{{Schema: "public", Table: table, Column: "id"}}})
		require.ErrorIs(t, err, vault.ErrInvalidArgument, table)
	}
	sum, err := c.Import(ctx, trSeq(creds, nil), vault.ImportOptions{ExportID: uuid.New(),
		Remap: []vault.ColumnRef{{Schema: "public", Table: "refs", Column: "vault_secret_id"}}})
	require.NoError(t, err)
	require.Equal(t, int64(2), sum.Remapped[0].Rows)
}

// TestImportVaultNameConflicts: a Vault name taken in the target's Vault,
// or (in the default namespace) a Vault secret without bookkeeping named
// like the credential, is a conflict too.
func TestImportVaultNameConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tx := sharedTx(t)
	owner := trOwner(t, tx, db.Schema)
	taken := "taken/" + randomHex(t, 6)
	_, err := tx.Exec(ctx, "SELECT vault.create_secret($1, $2)", newSecret(), taken)
	require.NoError(t, err)
	now := time.Now()
	cred := func(ns, name, vaultName string) vault.ExportedCredential {
		return vault.ExportedCredential{Secret: vault.Secret{Credential: vault.Credential{ID: uuid.New(), Namespace: ns, Name: name,
			Version: 1, CreatedAt: now, UpdatedAt: now}, Value: newSecret()}, VaultName: vaultName}
	}
	for _, c := range []vault.ExportedCredential{
		cred("elsewhere-"+randomHex(t, 4), "free/"+randomHex(t, 4), taken), // its Vault name
		cred("", taken, ""), // the name of a Vault secret of the default namespace
	} {
		_, err := owner.Import(ctx, trSeq([]vault.ExportedCredential{c}, nil), vault.ImportOptions{ExportID: uuid.New()})
		require.ErrorIs(t, err, vault.ErrAlreadyExists, "%v", c)
		sum, err := owner.Import(ctx, trSeq([]vault.ExportedCredential{c}, nil), vault.ImportOptions{ExportID: uuid.New(), DryRun: true})
		require.NoError(t, err)
		require.Equal(t, int64(1), sum.Conflicts)
	}
	sum, err := owner.Import(ctx, trSeq([]vault.ExportedCredential{cred("elsewhere-"+randomHex(t, 4), taken, "")}, nil),
		vault.ImportOptions{ExportID: uuid.New()})
	require.NoError(t, err, "another namespace may use the name")
	require.Equal(t, int64(1), sum.Created)
}

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
	_, b, schema := lcSetup(t)
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
	id := cred.ID
	var fnCalled bool
	newName, desc := "stolen", "stolen"
	calls := lcByIDCalls(c, &id, 2, vault.CredentialUpdate{Name: &newName, Description: &desc}, &fnCalled)
	calls["RetrieveMany"] = func() error { _, err := c.RetrieveMany(ctx, []uuid.UUID{id}); return err }
	lcRequireLikeUnknown(t, calls, &id, "a deleted credential", func(what string) {
		require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, cred.ID), "%s changed something", what)
	})
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
	_, b, schema := lcSetup(t)
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
	id := storeFresh(t, c, "realtime/")
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
	c, b, schema := lcSetup(t)

	id := storeFresh(t, c, "opts/")
	require.NoError(t, c.Delete(ctx, id))
	require.Zero(t, rcVaultRows(t, b.tx, id), "without a window Delete removes the Vault row")
	require.False(t, rcListed(t, c, id, true))

	w := rcClient(t, b.tx, schema, "", vault.WithRecoveryWindow(time.Hour))
	live := storeFresh(t, w, "opts/")
	require.NoError(t, w.Delete(ctx, live, vault.WithoutRecovery()))
	require.Zero(t, rcVaultRows(t, b.tx, live))
	require.Equal(t, []string{"store", "delete"}, lcOps(t, b.owner, live))

	soft := storeFresh(t, w, "opts/")
	require.NoError(t, w.Delete(ctx, soft))
	require.Equal(t, 1, rcVaultRows(t, b.tx, soft))
	require.NoError(t, c.Delete(ctx, soft, vault.WithoutRecovery()), "also from a client without a window")
	require.Zero(t, rcVaultRows(t, b.tx, soft))
	require.Equal(t, []string{"store", "delete", "purge"}, lcOps(t, b.owner, soft))

	perCall := storeFresh(t, c, "opts/")
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
	_, err := c.Retrieve(ctx, perCall)
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
	orgs := lcNewOrgs(t, func(t testing.TB, db vault.DB, schema, ns string) *vault.Client {
		return rcClient(t, db, schema, ns, vault.WithRecoveryWindow(time.Hour))
	})
	b, schema, a, other, def := orgs.b, orgs.schema, orgs.a, orgs.other, orgs.def

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
	_, b, schema := lcSetup(t)
	ns := lcNamespace(t, "fk")
	c := rcClient(t, b.tx, schema, ns, vault.WithRecoveryWindow(time.Hour))
	held, err := c.Store(ctx, "fk/held", newSecret(), "")
	require.NoError(t, err)
	free, err := c.Store(ctx, "fk/free", newSecret(), "")
	require.NoError(t, err)
	release := holdSecret(t, b.tx, held)
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

	release()
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
	_, b, schema := lcSetup(t)
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
	require.ErrorIs(t, err, vault.ErrOwnerPrivilege, "the functions' owner may not read the column")
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
	c, b := setup(t, namespace(lcNamespace(t, "org")))
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
	a, b := setup(t, namespace(nsA))
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
