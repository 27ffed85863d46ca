package bundle_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault"
	"github.com/credvault/vault/bundle"
	"github.com/credvault/vault/internal/testserver"
	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
)

func TestMain(m *testing.M) { vaulttest.Main(m) }

// marker starts every secret value these tests make, so that one search
// finds any of them in a file. It is random for each run: a value found
// on disk was written by this run.
var marker = "bundle-test-" + rand.Text()[:12] + "-"

func newSecret() string { return marker + rand.Text() + rand.Text() }

func quiet() vault.Option { return vault.WithLogger(slog.New(slog.DiscardHandler)) }

// owner returns a client running as the connection's role, postgres, the
// owner of the functions: exports and imports run as it.
func owner(t testing.TB, db vault.DB, schema string) *vault.Client {
	t.Helper()
	c, err := vault.New(db, vault.WithSchema(schema), quiet())
	require.NoError(t, err)
	return c
}

// service returns a client as the services use it: service_role, scoped
// to ns.
func service(t testing.TB, db vault.DB, schema, ns string) *vault.Client {
	t.Helper()
	c, err := vault.New(db, vault.WithSchema(schema), vault.WithRole("service_role"), vault.WithNamespace(ns), quiet())
	require.NoError(t, err)
	return c
}

// secondServer starts a server of the test's own, with a root key of its
// own, and returns a migrated database on it.
func secondServer(t *testing.T) (*testserver.Server, *testserver.Database) {
	t.Helper()
	ctx := context.Background()
	srv, err := testserver.Start(ctx, testserver.Options{NoExternal: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return srv, db
}

func x25519(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return id
}

// requireNoPlaintext fails if any file under dir holds a secret value of
// these tests.
func requireNoPlaintext(t *testing.T, dir string) {
	t.Helper()
	path, files, err := testutil.FileContaining(dir, marker)
	require.NoError(t, err)
	require.NotZero(t, files, "no file under %s", dir)
	require.Empty(t, path, "a secret value in plaintext in a file")
}

// checkpoint makes the server write what it holds in memory to its files.
func checkpoint(t *testing.T, adminURL string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminURL)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CHECKPOINT")
	require.NoError(t, err)
}

type sourceCred struct {
	id    uuid.UUID
	ns    string
	value string
}

// TestMoveToAnotherServer is the whole move: credentials of several
// namespaces (one rotated, one with an expiry, one stored with a Vault name,
// one made in Vault without the library) exported from one server, encrypted
// to an age recipient, and imported into a second server whose Vault has
// another root key, with the referencing table of a restored dump remapped.
func TestMoveToAnotherServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := vaulttest.NewDatabase(t)
	srv2, dst := secondServer(t)

	nsA, nsB := "org-"+rand.Text()[:6], "org-"+rand.Text()[:6]
	var creds []sourceCred
	for i := range 60 {
		ns := nsA
		if i%3 == 0 {
			ns = nsB
		}
		v := newSecret()
		c, err := service(t, src.Pool, src.Schema, ns).Put(ctx, fmt.Sprintf("acme/integration-%02d", i), v, fmt.Sprintf("integration %d", i))
		require.NoError(t, err)
		creds = append(creds, sourceCred{c.ID, ns, v})
	}
	rotated := creds[1]
	rotated.value = newSecret()
	require.NoError(t, service(t, src.Pool, src.Schema, rotated.ns).Rotate(ctx, rotated.id, rotated.value))
	creds[1] = rotated
	expires := time.Now().Add(time.Hour).Truncate(time.Microsecond)
	_, err := service(t, src.Pool, src.Schema, creds[2].ns).Update(ctx, creds[2].id, vault.CredentialUpdate{ExpiresAt: &expires})
	require.NoError(t, err)
	storedValue := newSecret()
	storedName := "dashboard/" + rand.Text()[:8]
	stored, err := service(t, src.Pool, src.Schema, "").Store(ctx, storedName, storedValue, "shown in the dashboard")
	require.NoError(t, err)
	creds = append(creds, sourceCred{stored, "", storedValue})
	legacyValue, legacyName := newSecret(), "edge-function/"+rand.Text()[:8]
	var legacy uuid.UUID
	require.NoError(t, src.Pool.QueryRow(ctx, "SELECT vault.create_secret($1, $2, 'made in SQL')", legacyValue, legacyName).Scan(&legacy))
	creds = append(creds, sourceCred{legacy, "", legacyValue})

	// The two servers have different root keys: a ciphertext of the first
	// does not decrypt on the second, as after a dump and restore.
	var cipher string
	var nonce []byte
	require.NoError(t, src.Pool.QueryRow(ctx, "SELECT secret, nonce FROM vault.secrets WHERE id = $1", legacy).Scan(&cipher, &nonce))
	var plain *string
	err = dst.Pool.QueryRow(ctx, `SELECT convert_from(vault._crypto_aead_det_decrypt(decode($1, 'base64'), convert_to($2::text, 'utf8'),
		0::bigint, 'pgsodium'::bytea, $3), 'utf8')`, cipher, legacy, nonce).Scan(&plain)
	require.True(t, err != nil || plain == nil || *plain != legacyValue, "the second server decrypts the first one's ciphertext: same root key")

	// The target has the application's table as a restored dump left it:
	// the source's ids.
	_, err = dst.Pool.Exec(ctx, "CREATE TABLE public.organization_integrations (id serial PRIMARY KEY, vault_secret_id uuid NOT NULL)")
	require.NoError(t, err)
	for _, c := range creds {
		_, err := dst.Pool.Exec(ctx, "INSERT INTO public.organization_integrations (vault_secret_id) VALUES ($1)", c.id)
		require.NoError(t, err)
	}

	// Export every namespace: the two, the default one's stored credential
	// and the one made in SQL.
	recipient := x25519(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "credentials.age")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	require.NoError(t, err)
	exported, err := bundle.Export(ctx, owner(t, src.Pool, src.Schema), f, []age.Recipient{recipient.Recipient()}, bundle.ExportOptions{PageSize: 7})
	require.NoError(t, err)
	require.NoError(t, f.Close())
	require.Equal(t, int64(len(creds)), exported.Credentials)
	requireNoPlaintext(t, dir)
	for _, c := range creds {
		var n int
		require.NoError(t, src.Pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{src.Schema}.Sanitize()+
			".vault_access_log WHERE secret_id = $1 AND op = 'export'", c.id).Scan(&n))
		require.Equal(t, 1, n, "one export row for each credential")
	}

	// The format, as documented: header, one line per credential, end.
	in, err := os.Open(path)
	require.NoError(t, err)
	plainText, err := age.Decrypt(in, recipient)
	require.NoError(t, err)
	sc := bufio.NewScanner(plainText)
	sc.Buffer(nil, bundle.MaxLineSize)
	var lines []map[string]any
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		lines = append(lines, m)
	}
	require.NoError(t, sc.Err())
	require.NoError(t, in.Close())
	require.Len(t, lines, len(creds)+2)
	require.Equal(t, "credvault-bundle", lines[0]["format"])
	require.Equal(t, float64(bundle.FormatVersion), lines[0]["version"])
	require.Equal(t, exported.Header.ExportID.String(), lines[0]["export_id"])
	require.Nil(t, lines[0]["namespaces"])
	require.Equal(t, map[string]any{"type": "end", "count": float64(len(creds))}, lines[len(lines)-1])
	for _, l := range lines[1 : len(lines)-1] {
		require.Equal(t, "credential", l["type"])
		for _, k := range []string{"id", "namespace", "name", "vault_name", "description", "version", "expires_at", "created_at", "updated_at", "value"} {
			require.Contains(t, l, k)
		}
	}

	// Import, with the table remapped in the same transaction.
	remap := []vault.ColumnRef{{Schema: "public", Table: "organization_integrations", Column: "vault_secret_id"}}
	importFile := func(opts bundle.ImportOptions) (bundle.ImportSummary, error) {
		in, err := os.Open(path)
		require.NoError(t, err)
		defer in.Close()
		return bundle.Import(ctx, owner(t, dst.Pool, dst.Schema), in, []age.Identity{recipient}, opts)
	}
	var progress []bundle.Progress
	sum, err := importFile(bundle.ImportOptions{Remap: remap, Progress: func(p bundle.Progress) { progress = append(progress, p) }})
	require.NoError(t, err)
	require.Equal(t, int64(len(creds)), sum.Created)
	require.Equal(t, int64(len(creds)), sum.Remapped[0].Rows)
	require.Len(t, progress, len(creds))
	require.Equal(t, int64(len(creds)), progress[len(progress)-1].Credentials)

	newIDs := map[uuid.UUID]uuid.UUID{}
	for m, err := range owner(t, dst.Pool, dst.Schema).ImportedIDs(ctx, sum.Header.ExportID) {
		require.NoError(t, err)
		newIDs[m.SourceID] = m.ID
	}
	require.Len(t, newIDs, len(creds))
	for _, c := range creds {
		newID := newIDs[c.id]
		require.NotEqual(t, c.id, newID)
		was, err := service(t, src.Pool, src.Schema, c.ns).Read(ctx, c.id)
		require.NoError(t, err)
		now, err := service(t, dst.Pool, dst.Schema, c.ns).Read(ctx, newID)
		require.NoError(t, err, "the credential reads on the second server, under its root key")
		require.True(t, now.Value == c.value, "value of %s", was.Name)
		require.Equal(t, was.Name, now.Name)
		require.Equal(t, was.Namespace, now.Namespace)
		require.Equal(t, was.Description, now.Description)
		require.Equal(t, was.Version, now.Version)
		require.True(t, was.ExpiresAt.Equal(now.ExpiresAt), "expiry of %s", was.Name)
		require.True(t, was.CreatedAt.Equal(now.CreatedAt), "created_at of %s", was.Name)
		require.True(t, was.UpdatedAt.Equal(now.UpdatedAt), "updated_at of %s", was.Name)
		var n int
		require.NoError(t, dst.Pool.QueryRow(ctx, "SELECT count(*) FROM public.organization_integrations WHERE vault_secret_id = $1", newID).Scan(&n))
		require.Equal(t, 1, n, "the referencing row now holds the new id")
	}
	require.Equal(t, int64(2), mustGet(t, src, creds[1].id).Version, "the rotation counts")
	var vaultNames []string
	rows, err := dst.Pool.Query(ctx, "SELECT name FROM vault.secrets WHERE name IS NOT NULL ORDER BY name")
	require.NoError(t, err)
	vaultNames, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Contains(t, vaultNames, storedName, "Vault names travel (the dashboard, SQL by name)")
	require.Contains(t, vaultNames, legacyName)
	var legacyBack string
	require.NoError(t, dst.Pool.QueryRow(ctx, "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = $1", legacyName).Scan(&legacyBack))
	require.True(t, legacyBack == legacyValue, "SQL that reads Vault by name keeps working")

	// Again: nothing new, nothing changed.
	before := testutil.TransferCounts(t, dst.Pool, dst.Schema)
	sum, err = importFile(bundle.ImportOptions{Remap: remap})
	require.NoError(t, err)
	require.Equal(t, int64(len(creds)), sum.Existing)
	require.Zero(t, sum.Created)
	require.Zero(t, sum.Remapped[0].Rows)
	require.Equal(t, before, testutil.TransferCounts(t, dst.Pool, dst.Schema))

	// No value in plaintext in any file of the target server, the WAL and
	// the tables' dead tuples included. (Not the source: Put and Store go
	// through vault.create_secret, which writes the value in plaintext
	// before encrypting it in place.)
	checkpoint(t, srv2.Cluster().AdminURL())
	requireNoPlaintext(t, srv2.Cluster().Dir())
}

func mustGet(t *testing.T, db *vaulttest.Database, id uuid.UUID) vault.Credential {
	t.Helper()
	var c vault.Credential
	require.NoError(t, db.Pool.QueryRow(context.Background(), "SELECT id, version FROM "+pgx.Identifier{db.Schema}.Sanitize()+
		".vault_credentials WHERE id = $1", id).Scan(&c.ID, &c.Version))
	return c
}

// damageFixture is a bundle of enough credentials for several age chunks
// and several import batches, made once.
var damageFixture = sync.OnceValues(func() (*fixture, error) {
	ctx := context.Background()
	srv, err := testserver.OpenSharedServer()
	if err != nil {
		return nil, err
	}
	db, err := srv.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	ns := "damage-" + rand.Text()[:6]
	c, err := vault.New(db.Pool, vault.WithSchema(db.Schema), vault.WithNamespace(ns), quiet())
	if err != nil {
		return nil, err
	}
	for i := range 500 {
		// About 700 bytes each: 350 KB, six chunks of 64 KiB, three batches.
		if _, err := c.Put(ctx, fmt.Sprintf("bulk/%03d", i), newSecret()+strings.Repeat("x", 600), ""); err != nil {
			return nil, err
		}
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	o, err := vault.New(db.Pool, vault.WithSchema(db.Schema), quiet())
	if err != nil {
		return nil, err
	}
	if _, err := bundle.Export(ctx, o, &buf, []age.Recipient{id.Recipient()}, bundle.ExportOptions{Namespaces: []string{ns}}); err != nil {
		return nil, err
	}
	return &fixture{identity: id, bundle: buf.Bytes()}, nil
})

type fixture struct {
	identity *age.X25519Identity
	bundle   []byte
}

// encrypt makes an age file of plaintext for id.
func encrypt(t *testing.T, id *age.X25519Identity, plaintext string) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	require.NoError(t, err)
	_, err = io.WriteString(w, plaintext)
	require.NoError(t, err)
	require.NoError(t, w.Close())
	return buf.Bytes()
}

// TestImportRefusesDamagedBundles imports broken bundles into a database
// with a referencing table: every one fails with its error, after writing
// (for those damaged past the first batches) and rolling back: the
// database and the table are as before.
func TestImportRefusesDamagedBundles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	fx, err := damageFixture()
	require.NoError(t, err)
	dst := vaulttest.NewDatabase(t)
	_, err = dst.Pool.Exec(ctx, "CREATE TABLE public.refs (vault_secret_id uuid)")
	require.NoError(t, err)
	remap := []vault.ColumnRef{{Schema: "public", Table: "refs", Column: "vault_secret_id"}}
	// The table references the first credential of the bundle.
	r, err := bundle.NewReader(bytes.NewReader(fx.bundle), fx.identity)
	require.NoError(t, err)
	for e, err := range r.All() {
		require.NoError(t, err)
		_, err = dst.Pool.Exec(ctx, "INSERT INTO public.refs VALUES ($1)", e.ID)
		require.NoError(t, err)
		break
	}
	refs := func() string {
		var s string
		require.NoError(t, dst.Pool.QueryRow(ctx, "SELECT string_agg(vault_secret_id::text, ',') FROM public.refs").Scan(&s))
		return s
	}
	before, beforeRefs := testutil.TransferCounts(t, dst.Pool, dst.Schema), refs()

	// Where the age payload's chunks are: after the header and the nonce,
	// 64 KiB of plaintext plus a 16-byte tag each.
	hdrEnd := bytes.Index(fx.bundle, []byte("\n--- ")) + 1
	hdrEnd += bytes.IndexByte(fx.bundle[hdrEnd:], '\n') + 1
	payload := hdrEnd + 16
	const chunk = 64<<10 + 16
	require.Greater(t, len(fx.bundle), payload+4*chunk, "the fixture spans several chunks")

	flip := func(i int) []byte {
		b := bytes.Clone(fx.bundle)
		b[i] ^= 0x01
		return b
	}
	newer := func() []byte {
		var buf bytes.Buffer
		w, err := bundle.NewWriter(&buf, bundle.Header{Version: bundle.FormatVersion + 1}, fx.identity.Recipient())
		require.NoError(t, err)
		require.NoError(t, w.Close())
		return buf.Bytes()
	}
	header := `{"format":"credvault-bundle","version":1,"export_id":"` + uuid.NewString() + `","exported_at":"2025-01-01T00:00:00Z","namespaces":null}` + "\n"
	line := func(name string) string {
		return `{"type":"credential","id":"` + uuid.NewString() + `","namespace":"x","name":"` + name + `","vault_name":null,"description":"",` +
			`"version":1,"expires_at":null,"created_at":"2025-01-01T00:00:00Z","updated_at":"2025-01-01T00:00:00Z","value":"` + newSecret() + `"}` + "\n"
	}
	other := x25519(t)

	for _, tc := range []struct {
		name     string
		bundle   []byte
		identity age.Identity
		want     error
		wrote    bool // the damage is found after batches were sent
	}{
		{"wrong identity", fx.bundle, other, bundle.ErrNoIdentity, false},
		{"truncated in the last chunk", fx.bundle[:len(fx.bundle)-1], nil, bundle.ErrCorrupt, true},
		{"truncated at a chunk boundary", fx.bundle[:payload+4*chunk], nil, bundle.ErrCorrupt, true},
		{"truncated in the first chunk", fx.bundle[:payload+chunk/2], nil, bundle.ErrCorrupt, false},
		{"truncated in the age header", fx.bundle[:hdrEnd-10], nil, bundle.ErrCorrupt, false},
		{"empty", nil, nil, bundle.ErrCorrupt, false},
		{"tampered payload, late", flip(len(fx.bundle) - 100), nil, bundle.ErrCorrupt, true},
		{"tampered payload, early", flip(payload + 10), nil, bundle.ErrCorrupt, false},
		{"tampered age header", flip(hdrEnd - 5), nil, bundle.ErrCorrupt, false},
		{"appended data", append(bytes.Clone(fx.bundle), 0), nil, bundle.ErrCorrupt, true},
		{"newer format version", newer(), nil, bundle.ErrUnsupportedVersion, false},
		{"not a bundle", encrypt(t, fx.identity, "hello\n"), nil, bundle.ErrNotBundle, false},
		{"no end line", encrypt(t, fx.identity, header+line("a")), nil, bundle.ErrCorrupt, false},
		{"wrong count", encrypt(t, fx.identity, header+line("a")+`{"type":"end","count":2}`+"\n"), nil, bundle.ErrCorrupt, false},
		{"data after the end", encrypt(t, fx.identity, header+line("a")+`{"type":"end","count":1}`+"\n"+line("b")), nil, bundle.ErrCorrupt, false},
		{"unknown line type", encrypt(t, fx.identity, header+`{"type":"policy"}`+"\n"), nil, bundle.ErrCorrupt, false},
		{"unknown field", encrypt(t, fx.identity, header+strings.Replace(line("a"), `"type"`, `"colour":"red","type"`, 1)), nil, bundle.ErrCorrupt, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := tc.identity
			if id == nil {
				id = fx.identity
			}
			results := 0
			_, err := bundle.Import(ctx, owner(t, dst.Pool, dst.Schema), bytes.NewReader(tc.bundle), []age.Identity{id},
				bundle.ImportOptions{Remap: remap, OnResult: func(vault.ImportResult) error { results++; return nil }})
			require.ErrorIs(t, err, tc.want)
			require.NotErrorIs(t, err, vault.ErrConnection, "not a retryable failure")
			require.False(t, vault.IsRetryable(err))
			require.NotContains(t, err.Error(), marker, "the error quotes no value")
			if tc.wrote {
				require.NotZero(t, results, "credentials were written before the damage was found")
			}
			require.Equal(t, before, testutil.TransferCounts(t, dst.Pool, dst.Schema), "nothing written")
			require.Equal(t, beforeRefs, refs(), "the table is as before")
		})
	}

	t.Run("intact, for comparison", func(t *testing.T) {
		sum, err := bundle.Import(ctx, owner(t, dst.Pool, dst.Schema), bytes.NewReader(fx.bundle), []age.Identity{fx.identity},
			bundle.ImportOptions{Remap: remap, DryRun: true})
		require.NoError(t, err)
		require.Equal(t, int64(500), sum.Created)
		require.Equal(t, int64(1), sum.Remapped[0].Rows)
		require.Equal(t, before, testutil.TransferCounts(t, dst.Pool, dst.Schema), "a dry run writes nothing")
	})
}

// TestPassphrase encrypts with a passphrase (scrypt) and refuses a wrong
// one before anything is written.
func TestPassphrase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	src := vaulttest.Shared(t)
	tx := vaulttest.Tx(t, src.Pool)
	ns := "pass-" + rand.Text()[:6]
	value := newSecret()
	_, err := service(t, tx, src.Schema, ns).Put(ctx, "acme/stripe", value, "")
	require.NoError(t, err)

	pass := rand.Text()
	rcpt, err := age.NewScryptRecipient(pass)
	require.NoError(t, err)
	rcpt.SetWorkFactor(12) // scrypt's cost is not under test here; the command's test uses the default
	var buf bytes.Buffer
	_, err = bundle.Export(ctx, owner(t, tx, src.Schema), &buf, []age.Recipient{rcpt}, bundle.ExportOptions{Namespaces: []string{ns}})
	require.NoError(t, err)
	require.NotContains(t, buf.String(), value)

	dst := vaulttest.NewDatabase(t)
	before := testutil.TransferCounts(t, dst.Pool, dst.Schema)
	wrong, err := age.NewScryptIdentity(pass + "x")
	require.NoError(t, err)
	_, err = bundle.Import(ctx, owner(t, dst.Pool, dst.Schema), bytes.NewReader(buf.Bytes()), []age.Identity{wrong}, bundle.ImportOptions{})
	require.ErrorIs(t, err, bundle.ErrNoIdentity)
	require.Equal(t, before, testutil.TransferCounts(t, dst.Pool, dst.Schema))

	right, err := age.NewScryptIdentity(pass)
	require.NoError(t, err)
	sum, err := bundle.Import(ctx, owner(t, dst.Pool, dst.Schema), bytes.NewReader(buf.Bytes()), []age.Identity{right}, bundle.ImportOptions{})
	require.NoError(t, err)
	require.Equal(t, int64(1), sum.Created)
	c, err := service(t, dst.Pool, dst.Schema, ns).Lookup(ctx, "acme/stripe")
	require.NoError(t, err)
	got, err := service(t, dst.Pool, dst.Schema, ns).Read(ctx, c.ID)
	require.NoError(t, err)
	require.True(t, got.Value == value)
}

// TestWriterReader round-trips every field through the format without a
// database, and checks what a reader refuses to do twice.
func TestWriterReader(t *testing.T) {
	t.Parallel()
	id := x25519(t)
	ts := time.Date(2025, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600))
	in := []vault.ExportedCredential{
		{Secret: vault.Secret{Credential: vault.Credential{ID: uuid.New(), Namespace: "org-1", Name: "a/ü\t\"b\"<>&", Description: "d\n",
			Version: 7, ExpiresAt: ts.Add(time.Hour), CreatedAt: ts, UpdatedAt: ts.Add(time.Minute)}, Value: newSecret() + "\u2028\x01"}, VaultName: "v"},
		{Secret: vault.Secret{Credential: vault.Credential{ID: uuid.New(), Name: "plain", Version: 1, CreatedAt: ts, UpdatedAt: ts}}},
	}
	var buf bytes.Buffer
	w, err := bundle.NewWriter(&buf, bundle.Header{Namespaces: []string{"org-1", ""}, ExportedAt: ts}, id.Recipient())
	require.NoError(t, err)
	for _, e := range in {
		require.NoError(t, w.Write(e))
	}
	require.NoError(t, w.Close())
	require.Error(t, w.Write(in[0]), "write after Close")
	require.NotContains(t, buf.String(), marker)

	r, err := bundle.NewReader(&buf, id)
	require.NoError(t, err)
	h := r.Header()
	require.Equal(t, bundle.FormatVersion, h.Version)
	require.NotEqual(t, uuid.Nil, h.ExportID)
	require.Equal(t, []string{"org-1", ""}, h.Namespaces)
	require.True(t, h.ExportedAt.Equal(ts.Truncate(time.Microsecond)))
	var out []vault.ExportedCredential
	for e, err := range r.All() {
		require.NoError(t, err)
		out = append(out, e)
	}
	require.Len(t, out, len(in))
	for i := range in {
		want, got := in[i], out[i]
		require.True(t, want.Value == got.Value, "value %d", i)
		require.Equal(t, want.VaultName, got.VaultName)
		require.Equal(t, want.Name, got.Name)
		require.Equal(t, want.Description, got.Description)
		require.Equal(t, want.Namespace, got.Namespace)
		require.Equal(t, want.Version, got.Version)
		for _, p := range [][2]time.Time{{want.CreatedAt, got.CreatedAt}, {want.UpdatedAt, got.UpdatedAt}, {want.ExpiresAt, got.ExpiresAt}} {
			require.True(t, p[0].Truncate(time.Microsecond).Equal(p[1]), "%v %v", p[0], p[1])
		}
	}
	for _, err := range r.All() {
		require.Error(t, err, "a second pass")
	}
}
