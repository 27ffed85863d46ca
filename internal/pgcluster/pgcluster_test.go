package pgcluster

import (
	"context"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestCluster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, err := Start(ctx, Options{
		Settings: map[string]string{"log_statement": "all", "cluster_name": `it's a \test`},
		Logf:     t.Logf,
	})
	if errors.Is(err, ErrNoBinaries) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })

	t.Run("Settings", func(t *testing.T) {
		conn := connect(t, c.AdminURL())
		var v string
		require.NoError(t, conn.QueryRow(ctx, "SHOW cluster_name").Scan(&v))
		require.Equal(t, `it's a \test`, v)
		require.NoError(t, conn.QueryRow(ctx, "SHOW log_statement").Scan(&v))
		require.Equal(t, "all", v)
		require.NoError(t, conn.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v))
		require.Equal(t, "on", v)
		require.NoError(t, conn.QueryRow(ctx, "SHOW shared_preload_libraries").Scan(&v))
		require.Equal(t, c.SupabaseVault(), strings.Contains(v, "supabase_vault"), "shared_preload_libraries = %q", v)
	})

	t.Run("Roles", func(t *testing.T) {
		conn := connect(t, c.URL("postgres", "postgres"))
		var super bool
		require.NoError(t, conn.QueryRow(ctx, "SELECT rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&super))
		require.False(t, super, "postgres must not be a superuser")
		for _, role := range []string{"anon", "authenticated", "service_role"} {
			_, err := conn.Exec(ctx, "SET ROLE "+role)
			require.NoError(t, err)
			var cur string
			require.NoError(t, conn.QueryRow(ctx, "SELECT current_user").Scan(&cur))
			require.Equal(t, role, cur)
			_, err = conn.Exec(ctx, "RESET ROLE")
			require.NoError(t, err)
		}

		auth := connect(t, c.URL("authenticator", "postgres"))
		_, err := auth.Exec(ctx, "SET ROLE service_role")
		require.NoError(t, err)

		_, err = pgx.Connect(ctx, c.URL("anon", "postgres"))
		require.Error(t, err, "anon must not log in")

		require.NoError(t, ApplySupabaseRoles(ctx, c.AdminURL()), "must be idempotent")
	})

	t.Run("CreateDatabase", func(t *testing.T) {
		const name = `app "db"`
		require.NoError(t, CreateDatabase(ctx, c.AdminURL(), name, "postgres"))
		conn := connect(t, c.URL("postgres", name))
		var digest string
		require.NoError(t, conn.QueryRow(ctx, "SELECT encode(extensions.digest('x', 'sha256'), 'hex')").Scan(&digest))
		require.Len(t, digest, 64)
		var n int
		require.NoError(t, conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_statements").Scan(&n))

		// Supabase's default privileges: tables made by postgres in public
		// are usable by the API roles.
		_, err := conn.Exec(ctx, "CREATE TABLE public.t (id bigserial PRIMARY KEY, v text)")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "SET ROLE anon")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "INSERT INTO public.t (v) VALUES ('a')")
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "RESET ROLE")
		require.NoError(t, err)

		require.Error(t, CreateDatabase(ctx, c.AdminURL(), name, "postgres"), "database exists")
	})

	t.Run("Files", func(t *testing.T) {
		b, err := os.ReadFile(c.LogPath())
		require.NoError(t, err)
		require.Contains(t, string(b), "database system is ready to accept connections")

		dirInfo, err := os.Stat(c.Dir())
		require.NoError(t, err)
		require.Equal(t, c.Dir(), filepath.Dir(c.KeyFile()))
		require.False(t, strings.HasPrefix(c.KeyFile(), filepath.Join(c.Dir(), "data")+string(filepath.Separator)))
		fi, err := os.Stat(c.KeyFile())
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		require.Equal(t, dirInfo.Sys().(*syscall.Stat_t).Uid, fi.Sys().(*syscall.Stat_t).Uid, "key owned by the server's user")
		if os.Geteuid() == 0 {
			require.NotZero(t, fi.Sys().(*syscall.Stat_t).Uid, "server must not run as root")
		}
		key, err := os.ReadFile(c.KeyFile())
		require.NoError(t, err)
		require.Len(t, key, 64)
		_, err = hex.DecodeString(string(key))
		require.NoError(t, err, "key must be hex")
	})

	t.Run("RestartKeepsCommittedData", func(t *testing.T) {
		conn, err := pgx.Connect(ctx, c.AdminURL())
		require.NoError(t, err)
		_, err = conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('committed')")
		require.NoError(t, err)

		require.NoError(t, c.StopImmediate())
		require.NoError(t, c.StopImmediate(), "no-op when stopped")
		_, err = conn.Exec(ctx, "SELECT 1")
		require.Error(t, err, "connection must be gone")
		_ = conn.Close(ctx)

		require.NoError(t, c.Restart(ctx))
		conn = connect(t, c.AdminURL())
		var v string
		require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
		require.Equal(t, "committed", v)

		require.NoError(t, c.Restart(ctx), "restart of a running server")
		conn = connect(t, c.AdminURL())
		require.NoError(t, conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v))
	})

	t.Run("Stop", func(t *testing.T) {
		require.NoError(t, c.Stop())
		_, err := os.Stat(c.Dir())
		require.ErrorIs(t, err, os.ErrNotExist)
		require.NoError(t, c.Stop(), "idempotent")
		require.Error(t, c.Restart(ctx))
	})
}

// TestNoSupabaseVault checks that the option leaves the extension out of
// the server even where it is installed, and that the cluster says so.
func TestNoSupabaseVault(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, err := Start(ctx, Options{NoSupabaseVault: true})
	if errors.Is(err, ErrNoBinaries) {
		t.Skip(err)
	}
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Stop() })
	require.False(t, c.SupabaseVault())
	conn := connect(t, c.AdminURL())
	var v string
	require.NoError(t, conn.QueryRow(ctx, "SHOW shared_preload_libraries").Scan(&v))
	require.NotContains(t, v, "supabase_vault")
}

// TestNoBinaries is not parallel: it changes the environment of the process
// (sequential tests finish before parallel ones run).
func TestNoBinaries(t *testing.T) {
	t.Setenv("PG_BIN", t.TempDir())
	_, err := Start(t.Context(), Options{})
	require.ErrorIs(t, err, ErrNoBinaries)
}

func TestInvalidSettings(t *testing.T) {
	_, err := Start(t.Context(), Options{Settings: map[string]string{"port": "5432"}})
	require.ErrorContains(t, err, "managed by pgcluster")
	_, err = Start(t.Context(), Options{Settings: map[string]string{"a = 1\nb": "2"}})
	require.ErrorContains(t, err, "invalid setting name")
}

func TestStartFailureReportsLog(t *testing.T) {
	t.Parallel()
	_, err := Start(t.Context(), Options{Settings: map[string]string{"shared_buffers": "lots"}})
	if errors.Is(err, ErrNoBinaries) {
		t.Skip(err)
	}
	require.ErrorContains(t, err, `invalid value for parameter "shared_buffers"`)
}
