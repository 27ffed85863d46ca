package vault_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/credvault/vault/internal/testserver"
)

// TestRejectedLiteralReachesLogUnlessPanic reproduces, on a server of its
// own, what the README says about literal SQL: the guard rejects an INSERT
// whose text holds a key, and under the default log_min_error_statement =
// error the server logs that text, key included. Once a superuser sets
// log_min_error_statement = panic for the database, the same mistake logs
// the guard's error but not the statement.
func TestRejectedLiteralReachesLogUnlessPanic(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := testserver.Start(ctx, testserver.Options{NoExternal: true})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	if srv.Cluster() == nil || srv.Cluster().LogPath() == "" {
		t.Skip("needs a server started from local binaries, whose log file the test can read")
	}
	db, err := srv.NewDatabase(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	_, err = db.Pool.Exec(ctx, "CREATE TABLE public.integrations (provider text, api_key text)")
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, "SELECT "+secIdent(db.Schema)+".guard_plaintext_credentials('public.integrations')")
	require.NoError(t, err)

	logPath := srv.Cluster().LogPath()
	// insertLiteral sends the mistake on a new session, checks the guard
	// rejects it, and returns what the server logged meanwhile.
	insertLiteral := func(key string) string {
		t.Helper()
		fi, err := os.Stat(logPath)
		require.NoError(t, err)
		conn, err := pgx.Connect(ctx, db.URL)
		require.NoError(t, err)
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "INSERT INTO public.integrations VALUES ('stripe', "+secQuoteLiteral(key)+")")
		require.Equal(t, "VA001", sqlstate(err))
		f, err := os.Open(logPath)
		require.NoError(t, err)
		defer f.Close()
		_, err = f.Seek(fi.Size(), io.SeekStart)
		require.NoError(t, err)
		b, err := io.ReadAll(f)
		require.NoError(t, err)
		return string(b)
	}

	first := "sk_" + "live_" + secAlnum(t, 32)
	logged := insertLiteral(first)
	require.True(t, strings.Contains(logged, "STATEMENT:  INSERT INTO public.integrations") && strings.Contains(logged, first),
		"the default logs the rejected statement, key included")

	admin := connect(t, db.AdminURL)
	_, err = admin.Exec(ctx, "ALTER DATABASE "+secIdent(db.Name)+" SET log_min_error_statement = panic")
	require.NoError(t, err)
	key := "sk_" + "live_" + secAlnum(t, 32)
	logged = insertLiteral(key)
	require.Contains(t, logged, "ERROR:", "the guard's error is still logged")
	require.NotContains(t, logged, "STATEMENT:")
	secRequireAbsent(t, "the server log with log_min_error_statement = panic", logged, key)
	require.False(t, strings.Contains(logged, "INSERT INTO public.integrations"))
}
