// Package testserver runs the PostgreSQL servers behind package vaulttest:
// throwaway clusters (package pgcluster), a fallback registered by package
// vaulttest/vaulttestdocker, or an existing database named by
// VAULT_TEST_DATABASE_URL; it hands out migrated test databases on them.
//
// Package vaulttest is the public face for users' tests. This package is
// for this module's own tests and commands, which also need what users do
// not: a server of their own with extra settings ([Start]), and the cluster
// behind it ([Server.Cluster]) to restart it or read its log.
package testserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/credvault/vault/internal/pgcluster"
)

// OwnerRole is the role that runs the migrations and owns the functions,
// as on Supabase. Pools of test databases connect as it.
const OwnerRole = "postgres"

// EnvDatabaseURL names the environment variable that points the tests at
// an existing database with Supabase Vault instead of throwaway servers.
const EnvDatabaseURL = "VAULT_TEST_DATABASE_URL"

// EnvVault names the environment variable that chooses the Vault of
// throwaway servers:
//   - unset, empty or "auto": the supabase_vault extension when it is
//     installed next to the PostgreSQL binaries, else the compatibility layer;
//   - "compat": the compatibility layer, even where the extension is
//     installed (it is then not preloaded);
//   - "supabase_vault": the extension, failing when it is not installed.
//
// It does not apply to a database named by VAULT_TEST_DATABASE_URL, whose
// Vault is whatever it has; "compat" is refused there.
const EnvVault = "CREDVAULT_TEST_VAULT"

// Values of [EnvVault].
const (
	VaultAuto          = "auto"
	VaultCompat        = "compat"
	VaultSupabaseVault = "supabase_vault"
)

// vaultMode returns the value of [EnvVault], checked, with "" as
// [VaultAuto].
func vaultMode() (string, error) {
	switch v := os.Getenv(EnvVault); v {
	case "", VaultAuto:
		return VaultAuto, nil
	case VaultCompat, VaultSupabaseVault:
		return v, nil
	default:
		return "", fmt.Errorf("vaulttest: %s=%q: want %q, %q or %q", EnvVault, v, VaultAuto, VaultCompat, VaultSupabaseVault)
	}
}

// Options configure a server.
type Options struct {
	// Settings are extra postgresql.conf settings, such as
	// {"log_statement": "all"}. Ignored with VAULT_TEST_DATABASE_URL.
	Settings map[string]string
	// Logf receives progress messages; nil means silence.
	Logf func(format string, args ...any)
	// NoExternal ignores VAULT_TEST_DATABASE_URL, for tests that need a
	// server of their own (restarts, server logs).
	NoExternal bool
}

// Server is a PostgreSQL server ready to hand out migrated databases. Its
// methods are safe for concurrent use.
type Server struct {
	cluster  *pgcluster.Cluster // nil with an external URL
	external string             // VAULT_TEST_DATABASE_URL

	mu       sync.Mutex
	template string // name of the migrated template database, once made
}

// Start starts a throwaway server or, with VAULT_TEST_DATABASE_URL set and
// opts.NoExternal false, connects to that database. The throwaway server
// comes from the local PostgreSQL binaries or, when there are none, from
// the fallback registered with [RegisterFallback]; its Vault follows
// [EnvVault]. Close the server when done.
func Start(ctx context.Context, opts Options) (*Server, error) {
	mode, err := vaultMode()
	if err != nil {
		return nil, err
	}
	if url := os.Getenv(EnvDatabaseURL); url != "" && !opts.NoExternal {
		if mode == VaultCompat {
			return nil, fmt.Errorf("vaulttest: %s=%s applies to throwaway servers: unset %s", EnvVault, mode, EnvDatabaseURL)
		}
		return &Server{external: url}, nil
	}
	popts := pgcluster.Options{Settings: opts.Settings, Logf: opts.Logf, NoSupabaseVault: mode == VaultCompat}
	c, err := pgcluster.Start(ctx, popts)
	if errors.Is(err, pgcluster.ErrNoBinaries) {
		c, err = startFallback(ctx, popts, err)
	}
	if err != nil {
		return nil, fmt.Errorf("vaulttest: %w", err)
	}
	if err := checkVault(c, mode); err != nil {
		_ = c.Stop()
		return nil, err
	}
	return &Server{cluster: c}, nil
}

// checkVault checks that the cluster can give databases the Vault that
// mode asks for.
func checkVault(c *pgcluster.Cluster, mode string) error {
	switch {
	case mode == VaultSupabaseVault && !c.SupabaseVault():
		return fmt.Errorf("vaulttest: %s=%s, but the supabase_vault extension is not installed next to the PostgreSQL binaries "+
			"(build and install supabase_vault 0.3.1 from github.com/supabase/vault, as the README's Testing section says)", EnvVault, mode)
	case mode == VaultCompat && (c.SupabaseVault() || c.KeyFile() == ""):
		return fmt.Errorf("vaulttest: %s=%s needs a server started from local PostgreSQL binaries; this one has its own Vault", EnvVault, mode)
	case !c.SupabaseVault() && c.KeyFile() == "":
		return errors.New("vaulttest: the server has neither supabase_vault nor a root key file for the compatibility layer")
	}
	return nil
}

// Starter starts a throwaway cluster with the Supabase roles; see
// [RegisterFallback].
type Starter func(ctx context.Context, opts pgcluster.Options) (*pgcluster.Cluster, error)

var fallback struct {
	mu    sync.Mutex
	what  string
	start Starter
}

// RegisterFallback makes start the way [Start] gets a throwaway server on
// machines without PostgreSQL binaries. what names it in error messages,
// such as "a Supabase Postgres container through Docker". Packages that
// provide a fallback call it from their init function; a second
// registration panics.
func RegisterFallback(what string, start Starter) {
	fallback.mu.Lock()
	defer fallback.mu.Unlock()
	if fallback.start != nil {
		panic("vaulttest: a fallback server is already registered: " + fallback.what)
	}
	fallback.what, fallback.start = what, start
}

// startFallback runs the registered fallback after Start found no binaries
// (noBinaries), or says how to get a server.
func startFallback(ctx context.Context, opts pgcluster.Options, noBinaries error) (*pgcluster.Cluster, error) {
	fallback.mu.Lock()
	what, start := fallback.what, fallback.start
	fallback.mu.Unlock()
	help := fmt.Sprintf("install PostgreSQL server binaries (apt-get install postgresql), or set %s to a database with Supabase Vault (supabase start)", EnvDatabaseURL)
	if start == nil {
		return nil, fmt.Errorf("no PostgreSQL to test against: %w; %s, or import _ \"github.com/credvault/vault/vaulttest/vaulttestdocker\" "+
			"in a test file to fall back to a Supabase Postgres container through Docker", noBinaries, help)
	}
	c, err := start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("no PostgreSQL to test against: %w; %s: %v; %s", noBinaries, what, err, help)
	}
	return c, nil
}

// Cluster returns the throwaway cluster, or nil when the server is an
// external database.
func (s *Server) Cluster() *pgcluster.Cluster { return s.cluster }

// Close stops a throwaway server and removes its files. It does nothing
// for an external database.
func (s *Server) Close() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.Stop()
}
