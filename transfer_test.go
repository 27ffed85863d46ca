package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
)

// The tests of the transfer hooks (Export, Import, ImportedIDs) within one
// server. Package bundle's tests move credentials between two servers with
// different root keys, encrypted.

// trOwner returns a client running as the connection's role, the owner.
func trOwner(t testing.TB, db vault.DB, schema string) *vault.Client {
	t.Helper()
	c, err := vault.New(db, vault.WithSchema(schema), quiet())
	require.NoError(t, err)
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

// trOps counts the access-log rows of op.
func trOps(t testing.TB, db vault.DB, schema, op string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(context.Background(),
		"SELECT count(*) FROM "+secIdent(schema)+".vault_access_log WHERE op = $1", op).Scan(&n))
	return n
}

// trCounts is the size of everything an import may write.
func trCounts(t testing.TB, db vault.DB, schema string) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(context.Background(), fmt.Sprintf(
		"SELECT concat_ws(' ', (SELECT count(*) FROM vault.secrets), (SELECT count(*) FROM %[1]s.vault_credentials), "+
			"(SELECT count(*) FROM %[1]s.credential_imports), (SELECT count(*) FROM %[1]s.vault_access_log))",
		secIdent(schema))).Scan(&s))
	return s
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
		before := trOps(t, db.Pool, db.Schema, "export")
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
		require.Equal(t, before+len(inA), trOps(t, db.Pool, db.Schema, "export"), "one export row per credential")
		require.Equal(t, 0, trOpsFor(t, db, inB, "export"), "another namespace's credential is not decrypted")
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
		require.Equal(t, 1, trOpsFor(t, db, legacy, "export"))
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

// trOpsFor counts the access-log rows of op for id.
func trOpsFor(t testing.TB, db *vaulttest.Database, id uuid.UUID, op string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM "+secIdent(db.Schema)+".vault_access_log WHERE secret_id = $1 AND op = $2", id, op).Scan(&n))
	return n
}

func TestExportedCredentialNeverPrintsItsValue(t *testing.T) {
	t.Parallel()
	value := newSecret()
	e := vault.ExportedCredential{
		Secret:    vault.Secret{Credential: vault.Credential{ID: uuid.New(), Namespace: "org", Name: "acme/stripe", Version: 3}, Value: value},
		VaultName: "acme/stripe",
	}
	type wrapper struct{ E vault.ExportedCredential }
	outputs := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10v", "%-40s"} {
		outputs[verb] = fmt.Sprintf(verb, e)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &e)
		outputs[verb+" slice"] = fmt.Sprintf(verb, []vault.ExportedCredential{e})
		outputs[verb+" field"] = fmt.Sprintf(verb, wrapper{e})
	}
	outputs["String"] = e.String()
	outputs["GoString"] = e.GoString()
	for what, v := range map[string]any{"value": e, "pointer": &e, "slice": []vault.ExportedCredential{e}, "field": wrapper{e}} {
		j, err := json.Marshal(v)
		require.NoError(t, err)
		outputs["json "+what] = string(j)
		x, err := xml.Marshal(v)
		require.NoError(t, err)
		outputs["xml "+what] = string(x)
	}
	var logs bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&logs, nil), slog.NewTextHandler(&logs, nil)} {
		slog.New(h).Info("exported", "e", e, "p", &e, slog.Group("g", "e", e))
	}
	outputs["slog"] = logs.String()
	for what, out := range outputs {
		require.NotContains(t, out, value, "%s printed the value", what)
		if !strings.HasPrefix(what, "%x") && !strings.HasPrefix(what, "%X") && !strings.HasPrefix(what, "%d") {
			require.Contains(t, out, "REDACTED", what)
		}
	}
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
		require.Equal(t, len(creds), trOps(t, dst.Pool, dst.Schema, "import"))
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
	db := vaulttest.NewDatabase(t)
	if db.AdminURL == "" {
		t.Skip("installs into schema public: needs a throwaway database, not VAULT_TEST_DATABASE_URL")
	}
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
	db := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, db.Pool)
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
