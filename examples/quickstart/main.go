// Command quickstart walks through a credential's whole life with package
// vault: it starts a throwaway PostgreSQL with Supabase's roles, installs
// the Vault compatibility layer and the credential functions, then stores,
// retrieves, rotates, audits, lists and deletes a credential, puts and
// refreshes one for an organization by name, and stops the server.
//
//	go run ./examples/quickstart
//
// It needs the PostgreSQL server binaries (apt-get install postgresql, or
// PG_BIN pointing at the directory holding initdb and postgres). It prints
// lengths and ids, never the secret itself.
//
// The throwaway server comes from this module's internal/pgcluster, which
// other modules cannot import: in a service, start from the pool connected
// to your own database.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/pgcluster"
)

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, w io.Writer) (err error) {
	step := 0
	say := func(format string, args ...any) {
		step++
		fmt.Fprintf(w, "%2d. %s\n", step, fmt.Sprintf(format, args...))
	}

	// A throwaway server: superuser supabase_admin, roles postgres, anon,
	// authenticated, service_role and authenticator as on Supabase.
	cluster, err := pgcluster.Start(ctx, pgcluster.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := cluster.Stop(); err == nil {
			err = stopErr
		}
		if err == nil {
			say("Stopped the server and removed its files.")
		}
	}()
	say("Started a throwaway PostgreSQL with Supabase's roles (%s).", cluster.Dir())

	// Plain PostgreSQL has no supabase_vault extension: a superuser installs
	// the compatibility layer, which reads its root key from a file on the
	// server. On Supabase, skip this step: Vault is already there.
	admin, err := pgx.Connect(ctx, cluster.AdminURL())
	if err != nil {
		return err
	}
	err = vault.InstallCompatVault(ctx, admin, cluster.KeyFile())
	_ = admin.Close(ctx)
	if err != nil {
		return err
	}
	say("Installed the Vault compatibility layer (root key in %s).", cluster.KeyFile())

	// The service connects as postgres, as most Supabase services do.
	cfg, err := pgxpool.ParseConfig(cluster.URL("postgres", "postgres"))
	if err != nil {
		return err
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "quickstart"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	// The library logs every call (never values) to slog.Default: failures
	// at INFO and above, successes at DEBUG. This walkthrough prints its
	// own lines instead.
	quiet := vault.WithLogger(slog.New(slog.DiscardHandler))

	// Migrate as the owner of the functions. postgres may not create in
	// schema vault on Supabase, hence a schema of our own.
	owner, err := vault.New(pool, vault.WithSchema("credentials"), quiet)
	if err != nil {
		return err
	}
	if err := owner.Migrate(ctx); err != nil {
		return err
	}
	say(`Migrated schema "credentials" as postgres.`)

	// Calls run as service_role: SET LOCAL ROLE in the same round trip.
	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"), quiet)
	if err != nil {
		return err
	}

	secret := randomSecret()
	id, err := creds.Store(ctx, "acme/quickbooks", secret, "QuickBooks OAuth client secret")
	if err != nil {
		return err
	}
	say(`Stored "acme/quickbooks": id %s (keep only this id in your tables).`, id)

	got, err := creds.Retrieve(ctx, id)
	if err != nil {
		return err
	}
	say("Retrieved it: %d bytes, equal to what was stored: %t.", len(got), got == secret)

	rotated := randomSecret()
	if err := creds.Rotate(ctx, id, rotated); err != nil {
		return err
	}
	got, err = creds.Retrieve(ctx, id)
	if err != nil {
		return err
	}
	say("Rotated it: same id, new value retrieved: %t.", got == rotated)

	// Only the owner may read the access log.
	records, err := owner.AccessLog(ctx, id, 10)
	if err != nil {
		return err
	}
	say("Access log, newest first (%d operations):", len(records))
	for _, r := range records {
		fmt.Fprintf(w, "      %s  %-8s login %s, as %s, application %q\n",
			r.AccessedAt.Format(time.RFC3339Nano), r.Op, r.SessionUser, r.CurrentUser, r.ApplicationName)
	}

	list, err := creds.List(ctx, vault.ListFilter{NamePrefix: "acme/"})
	if err != nil {
		return err
	}
	say(`Listed credentials named "acme/...": %d (metadata only):`, len(list))
	for _, c := range list {
		fmt.Fprintf(w, "      %s  %s  %q  last retrieved %s\n", c.ID, c.Name, c.Description,
			c.LastRetrievedAt.Format(time.RFC3339))
	}

	if err := creds.Delete(ctx, id); err != nil {
		return err
	}
	say("Deleted it.")

	_, err = creds.Retrieve(ctx, id)
	if !errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("retrieve after delete: want ErrNotFound, got %v", err)
	}
	say("Retrieved it again: errors.Is(err, vault.ErrNotFound) = true (%v).", err)

	// The same, per organization and by a stable name: a client scoped to
	// one namespace (cheap: New does no I/O), Put to create or update the
	// one credential of that name, Refresh to renew an OAuth token exactly
	// once however many workers ask at the same moment.
	org42, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"),
		vault.WithNamespace("org_42"), quiet)
	if err != nil {
		return err
	}
	cred, err := org42.Put(ctx, "acme/hubspot", randomSecret(), "HubSpot refresh token")
	if err != nil {
		return err
	}
	say(`Put "acme/hubspot" for org_42: id %s, version %d.`, cred.ID, cred.Version)
	renewed, err := org42.Refresh(ctx, cred.ID, func(ctx context.Context, current vault.Secret) (string, error) {
		// Here a service exchanges current.Value with the provider.
		return randomSecret(), nil
	})
	if err != nil {
		return err
	}
	say("Refreshed it: version %d; its value prints as %v.", renewed.Version, renewed)

	org43, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"),
		vault.WithNamespace("org_43"), quiet)
	if err != nil {
		return err
	}
	if _, err := org43.Read(ctx, cred.ID); !errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("read from another namespace: want ErrNotFound, got %v", err)
	}
	say("Read it as org_43: not found, exactly as an unknown id.")
	return nil
}

// randomSecret stands in for a credential from a provider. Real code
// receives it from an OAuth flow or an operator, never from source code.
func randomSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b) // never fails
	return "qb_" + hex.EncodeToString(b)
}
