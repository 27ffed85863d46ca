package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
)

// lcClient returns a client running as service_role on db, scoped to ns.
func lcClient(t testing.TB, db vault.DB, schema, ns string) *vault.Client {
	t.Helper()
	c, err := vault.New(db, vault.WithSchema(schema), vault.WithRole(secService), vault.WithNamespace(ns), quiet())
	require.NoError(t, err)
	return c
}

// lcNamespace returns a fresh namespace name.
func lcNamespace(t testing.TB, what string) string {
	t.Helper()
	return what + "-" + randomHex(t, 4)
}

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

func TestLifecyclePutLookupReadUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b := setup(t)
	schema := testSchema(t)
	ns := lcNamespace(t, "org")
	c := lcClient(t, b.tx, schema, ns)
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
	found, err = c.Lookup(ctx, name)
	require.NoError(t, err)
	require.False(t, found.LastRetrievedAt.IsZero(), "Lookup reports the last read")

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
	_, b := setup(t)
	schema := testSchema(t)
	nsA, nsB := lcNamespace(t, "org-a"), lcNamespace(t, "org-b")
	a := lcClient(t, b.tx, schema, nsA)
	others := map[string]*vault.Client{
		"other namespace":   lcClient(t, b.tx, schema, nsB),
		"default namespace": lcClient(t, b.tx, schema, ""),
	}

	secretA := newSecret()
	credA, err := a.Put(ctx, "shared/name", secretA, "a's")
	require.NoError(t, err)
	require.NoError(t, a.Rotate(ctx, credA.ID, newSecret()))
	require.NoError(t, a.Rotate(ctx, credA.ID, secretA)) // a previous value exists, for Rollback
	storedA, err := a.Store(ctx, "stored/name", newSecret(), "")
	require.NoError(t, err)
	unknown := uuid.New()

	for who, c := range others {
		t.Run(who, func(t *testing.T) {
			for _, id := range []uuid.UUID{credA.ID, storedA} {
				before := lcSnapshot(t, b.tx, schema, b.owner, id)
				newName, desc, expires := "stolen", "stolen", time.Now()
				fnCalled := false
				calls := map[string]func() error{
					"Retrieve": func() error { _, err := c.Retrieve(ctx, id); return err },
					"Read":     func() error { _, err := c.Read(ctx, id); return err },
					"Rotate":   func() error { return c.Rotate(ctx, id, newSecret()) },
					"Rotate IfVersion": func() error {
						return c.Rotate(ctx, id, newSecret(), vault.IfVersion(before.Credential.Version))
					},
					"Rollback": func() error { return c.Rollback(ctx, id) },
					"Update": func() error {
						_, err := c.Update(ctx, id, vault.CredentialUpdate{Name: &newName, Description: &desc, ExpiresAt: &expires})
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
				for name, call := range calls {
					errOther := call()
					require.ErrorIs(t, errOther, vault.ErrNotFound, "%s of another namespace's credential", name)
					require.Equal(t, before, lcSnapshot(t, b.tx, schema, b.owner, id), "%s changed something", name)
					// Exactly as for an unknown id: same kind, same SQLSTATE.
					idCopy := id
					id = unknown
					errUnknown := call()
					id = idCopy
					require.ErrorIs(t, errUnknown, vault.ErrNotFound, name)
					require.Equal(t, sqlstate(errUnknown), sqlstate(errOther), name)
					require.Equal(t, strings.ReplaceAll(errUnknown.Error(), unknown.String(), "ID"),
						strings.ReplaceAll(errOther.Error(), id.String(), "ID"), name)
				}
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
	c, b := setup(t)
	schema := testSchema(t)

	id, err := c.Store(ctx, "versions/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
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
	c, b := setup(t)
	schema := testSchema(t)

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
	c, b := setup(t)
	schema := testSchema(t)

	id, err := c.Store(ctx, "audit/every/"+uuid.NewString(), newSecret(), "")
	require.NoError(t, err)
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
		require.Equal(t, vaulttest.OwnerRole, r.SessionUser, r.Op)
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

func TestSecretNeverPrintsItsValue(t *testing.T) {
	t.Parallel()
	value := newSecret()
	s := vault.Secret{
		Credential: vault.Credential{ID: uuid.New(), Namespace: "org", Name: "acme/stripe", Version: 3},
		Value:      value,
	}
	require.True(t, s.Value == value, "the Value field reads the value")

	type Exported struct{ S vault.Secret }
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10v", "%-40s"} {
		outputs[verb] = fmt.Sprintf(verb, s)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &s)
		outputs[verb+" slice"] = fmt.Sprintf(verb, []vault.Secret{s})
		outputs[verb+" map"] = fmt.Sprintf(verb, map[string]vault.Secret{"k": s})
		outputs[verb+" field"] = fmt.Sprintf(verb, Exported{s})
	}
	outputs["Sprint"] = fmt.Sprint(s, &s)
	outputs["Sprintln"] = fmt.Sprintln(s, &s)
	outputs["String"] = s.String()
	outputs["GoString"] = s.GoString()
	outputs["error"] = fmt.Errorf("wrapped: %v", s).Error()
	for what, v := range map[string]any{"value": s, "pointer": &s, "slice": []vault.Secret{s}, "field": Exported{s}} {
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
		l.Info("secret", "s", s, "p", &s)
		l.Info("secret", slog.Any("s", s), slog.Group("g", "s", s))
	}
	outputs["slog"] = logs.String()

	for what, out := range outputs {
		require.NotContains(t, out, value, "%s printed the value", what)
		if !strings.HasPrefix(what, "%x") && !strings.HasPrefix(what, "%X") && !strings.HasPrefix(what, "%d") {
			require.Contains(t, out, "REDACTED", what)
		}
	}
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
