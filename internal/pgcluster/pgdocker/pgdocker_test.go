package pgdocker

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault/internal/pgcluster"
)

// TestStart starts the Supabase Postgres image when a Docker daemon
// answers, and otherwise checks that Start steps aside quickly with
// ErrNoDocker, as the harness expects on machines without Docker.
func TestStart(t *testing.T) {
	ctx := t.Context()
	start := time.Now()
	c, err := Start(ctx, pgcluster.Options{Logf: t.Logf, Settings: map[string]string{"log_min_messages": "warning"}})
	if errors.Is(err, ErrNoDocker) {
		if d := time.Since(start); d > 10*time.Second {
			t.Fatalf("Start took %v to notice that no daemon answers", d)
		}
		t.Logf("no Docker daemon: %v", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Stop(); err != nil {
			t.Error(err)
		}
	}()
	if !c.SupabaseVault() {
		t.Error("a Supabase image cluster must report supabase_vault")
	}
	if c.Dir() != "" || c.KeyFile() != "" || c.LogPath() != "" {
		t.Errorf("a container has no local files: Dir %q, KeyFile %q, LogPath %q", c.Dir(), c.KeyFile(), c.LogPath())
	}
	if err := c.Restart(ctx); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Restart: got %v, want ErrUnsupported", err)
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres", "postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var setting, vault string
	if err := conn.QueryRow(ctx, "SELECT current_setting('log_min_messages'), (SELECT default_version FROM pg_available_extensions WHERE name = 'supabase_vault')").Scan(&setting, &vault); err != nil {
		t.Fatal(err)
	}
	if setting != "warning" {
		t.Errorf("log_min_messages = %q, want the caller's warning", setting)
	}
	t.Logf("supabase_vault %s in %s:%s", vault, Repository, Tag)
}

func TestStartRejectsManagedSettings(t *testing.T) {
	_, err := Start(t.Context(), pgcluster.Options{Settings: map[string]string{"port": "5432"}})
	if err == nil || errors.Is(err, ErrNoDocker) {
		t.Fatalf("got %v, want the settings error before any Docker call", err)
	}
}
