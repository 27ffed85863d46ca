package testserver

import (
	"context"
	"crypto/rand"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credvault/vault"
)

// start starts a throwaway server of the test's own and closes it at
// cleanup.
func start(t *testing.T) *Server {
	t.Helper()
	srv, err := Start(t.Context(), Options{NoExternal: true, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func newDatabase(t *testing.T, srv *Server) *Database {
	t.Helper()
	db, err := srv.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// store stores a fresh random secret through pool with the functions of
// schema and returns its id.
func store(t *testing.T, pool *pgxpool.Pool, schema string) uuid.UUID {
	t.Helper()
	c, err := vault.New(pool, vault.WithSchema(schema), vault.WithRole("service_role"),
		vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	id, err := c.Store(context.Background(), "testserver/"+uuid.NewString(), "test-secret-"+rand.Text(), "")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestExternalDeletesWhatTestsStored points VAULT_TEST_DATABASE_URL at a
// database of a throwaway server, as at the one `supabase start` runs, and
// checks that closing a test database deletes the Vault secrets stored
// through its schema, from its pool or any other connection, but never a
// secret that existed before, another test database's, or one another
// client created in Vault meanwhile.
// It is not parallel: it sets the environment.
func TestExternalDeletesWhatTestsStored(t *testing.T) {
	ctx := t.Context()
	project := newDatabase(t, start(t)) // the "existing" database, migrated in schema credentials
	before := store(t, project.Pool, project.Schema)

	t.Setenv(EnvDatabaseURL, project.URL)
	ext, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ext.Cluster() != nil {
		t.Fatal("Start must use VAULT_TEST_DATABASE_URL")
	}
	present := func(ids ...uuid.UUID) map[uuid.UUID]bool {
		t.Helper()
		rows, err := project.Pool.Query(ctx, "SELECT id FROM vault.secrets WHERE id = ANY($1)", ids)
		if err != nil {
			t.Fatal(err)
		}
		got := map[uuid.UUID]bool{}
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			got[id] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}
	check := func(step string, kept, deleted []uuid.UUID) {
		t.Helper()
		got := present(append(kept, deleted...)...)
		for _, id := range kept {
			if !got[id] {
				t.Errorf("%s: secret %s was deleted, want it kept", step, id)
			}
		}
		for _, id := range deleted {
			if got[id] {
				t.Errorf("%s: secret %s is still in vault.secrets, want it deleted", step, id)
			}
		}
	}
	closeDB := func(db *Database) {
		t.Helper()
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// A secret another client creates in Vault meanwhile, not through a
	// test schema, must survive every Close.
	var other uuid.UUID
	if err := project.Pool.QueryRow(ctx, "SELECT vault.create_secret($1)", randomHex(16)).Scan(&other); err != nil {
		t.Fatal(err)
	}
	a, err := ext.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if a.Schema == project.Schema || !strings.HasPrefix(a.Schema, "credvault_test_") {
		t.Fatalf("schema %q: want a fresh credvault_test_ schema", a.Schema)
	}
	a1 := store(t, a.Pool, a.Schema)
	own, err := pgxpool.New(ctx, a.URL) // a connection the test opens itself
	if err != nil {
		t.Fatal(err)
	}
	a2 := store(t, own, a.Schema)
	own.Close()
	b, err := ext.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b1 := store(t, b.Pool, b.Schema)
	a3 := store(t, a.Pool, a.Schema)
	closeDB(a)
	check("a closed, b open", []uuid.UUID{before, other, b1}, []uuid.UUID{a1, a2, a3})
	var schemas int
	if err := project.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_namespace WHERE nspname = $1", a.Schema).Scan(&schemas); err != nil || schemas != 0 {
		t.Errorf("schema %s after Close: %d, %v; want it dropped", a.Schema, schemas, err)
	}
	closeDB(b)
	check("b closed", []uuid.UUID{before, other}, []uuid.UUID{b1})
}

// TestVaultMode starts a server per value of CREDVAULT_TEST_VAULT and
// checks which Vault its databases get. It is not parallel: it sets the
// environment.
func TestVaultMode(t *testing.T) {
	ctx := t.Context()
	extension := func(db *Database) bool {
		t.Helper()
		var n int
		if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'supabase_vault'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}

	t.Setenv(EnvVault, VaultCompat)
	srv := start(t)
	if srv.Cluster().SupabaseVault() {
		t.Fatalf("%s=%s: the server preloads supabase_vault", EnvVault, VaultCompat)
	}
	db := newDatabase(t, srv)
	if extension(db) {
		t.Errorf("%s=%s: the database has the supabase_vault extension", EnvVault, VaultCompat)
	}
	store(t, db.Pool, db.Schema) // the compatibility layer works

	t.Setenv(EnvVault, VaultSupabaseVault)
	srv, err := Start(ctx, Options{NoExternal: true})
	if err != nil {
		if !strings.Contains(err.Error(), "supabase_vault extension is not installed") {
			t.Fatal(err)
		}
		t.Logf("supabase_vault is not installed here: %v", err)
	} else {
		t.Cleanup(func() { _ = srv.Close() })
		if db := newDatabase(t, srv); !extension(db) {
			t.Errorf("%s=%s: the database lacks the extension", EnvVault, VaultSupabaseVault)
		}
	}

	t.Setenv(EnvVault, "native")
	if _, err := Start(ctx, Options{NoExternal: true}); err == nil || !strings.Contains(err.Error(), EnvVault) {
		t.Errorf("an unknown %s value: got %v, want an error naming the variable", EnvVault, err)
	}

	t.Setenv(EnvVault, VaultCompat)
	t.Setenv(EnvDatabaseURL, "postgres://postgres@127.0.0.1:1/postgres")
	if _, err := Start(ctx, Options{}); err == nil || !strings.Contains(err.Error(), EnvDatabaseURL) {
		t.Errorf("%s=%s with %s: got %v, want a refusal", EnvVault, VaultCompat, EnvDatabaseURL, err)
	}
}

// TestNoServer hides the local binaries: without a registered fallback,
// the error says how to get a server, including the Docker fallback. It is
// not parallel: it sets the environment.
func TestNoServer(t *testing.T) {
	t.Setenv("PG_BIN", t.TempDir())
	t.Setenv(EnvDatabaseURL, "")
	_, err := Start(t.Context(), Options{})
	if err == nil {
		t.Fatal("Start succeeded without PostgreSQL binaries")
	}
	for _, want := range []string{"apt-get install postgresql", EnvDatabaseURL, "vaulttest/vaulttestdocker"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
