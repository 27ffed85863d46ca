package vaulttestdocker

import (
	"strings"
	"testing"

	"github.com/credvault/vault/internal/pgcluster/pgdocker"
	"github.com/credvault/vault/internal/testserver"
)

// TestFallback hides the local PostgreSQL binaries: the server then comes
// from Docker when a daemon answers, and otherwise the error names both
// ways that failed. It is not parallel: it changes the environment.
func TestFallback(t *testing.T) {
	t.Setenv("PG_BIN", t.TempDir())
	t.Setenv(testserver.EnvDatabaseURL, "")
	t.Setenv(testserver.EnvVault, "")
	srv, err := testserver.Start(t.Context(), testserver.Options{Logf: t.Logf})
	if err != nil {
		msg := err.Error()
		if !strings.Contains(msg, "PostgreSQL server binaries") || !strings.Contains(msg, "through Docker") ||
			!strings.Contains(msg, pgdocker.ErrNoDocker.Error()) {
			t.Fatalf("got %v, want an error about the missing binaries and the missing Docker daemon", err)
		}
		return
	}
	defer func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	}()
	db, err := srv.NewDatabase(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !srv.Cluster().SupabaseVault() {
		t.Error("the container's cluster must run supabase_vault")
	}
	var n int
	if err := db.Pool.QueryRow(t.Context(), "SELECT count(*) FROM pg_extension WHERE extname = 'supabase_vault'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("supabase_vault in the test database: %d, %v", n, err)
	}
}
