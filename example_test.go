package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credvault/vault"
	"github.com/credvault/vault/internal/testserver"
)

// Example_store walks through a credential's life: store, retrieve, rotate
// and delete.
func Example_store() {
	ctx := context.Background()
	pool, done := examplePool() // in a service: pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	defer done()

	creds, err := vault.New(pool,
		vault.WithSchema("credentials"),
		vault.WithRole("service_role"),
		vault.WithLogger(slog.New(slog.DiscardHandler)), // the default is slog.Default
	)
	if err != nil {
		log.Fatal(err)
	}

	clientSecret := exampleSecret() // from the provider's OAuth app settings, never from source code
	id, err := creds.Store(ctx, "acme/quickbooks", clientSecret, "QuickBooks OAuth client secret")
	if err != nil {
		log.Fatal(err)
	}
	// Save id, not the secret, in your organization_integrations row.

	got, err := creds.Retrieve(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("retrieved the stored value:", got == clientSecret)

	newSecret := exampleSecret()
	if err := creds.Rotate(ctx, id, newSecret); err != nil {
		log.Fatal(err)
	}
	got, err = creds.Retrieve(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("retrieved the rotated value under the same id:", got == newSecret)

	if err := creds.Delete(ctx, id); err != nil {
		log.Fatal(err)
	}
	_, err = creds.Retrieve(ctx, id)
	fmt.Println("gone after delete:", errors.Is(err, vault.ErrNotFound))
	// Output:
	// retrieved the stored value: true
	// retrieved the rotated value under the same id: true
	// gone after delete: true
}

// Example_sameTransaction stores a credential and saves its id in your own
// table in one transaction, which is how to connect an integration: a
// client built on the [pgx.Tx] makes its calls inside it, so the secret and
// the row that points to it commit together, or neither does and no orphan
// secret is left in Vault.
func Example_sameTransaction() {
	ctx := context.Background()
	pool, done := examplePool() // in a service: pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	defer done()
	exampleIntegrations(pool) // your table: organization_integrations(organization_id, provider, secret_id)

	// connectQuickBooks stores an organization's QuickBooks client secret
	// and saves its id in the organization's integration row.
	connectQuickBooks := func(ctx context.Context, orgID int64, clientSecret string) (id uuid.UUID, err error) {
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			creds, err := vault.New(tx, vault.WithSchema("credentials"), vault.WithRole("service_role"),
				vault.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				return err
			}
			id, err = creds.Store(ctx, fmt.Sprintf("org/%d/quickbooks", orgID), clientSecret, "QuickBooks OAuth client secret")
			if err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `UPDATE organization_integrations SET secret_id = $1
 WHERE organization_id = $2 AND provider = 'quickbooks'`, id, orgID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 1 {
				return fmt.Errorf("organization %d has no QuickBooks integration", orgID)
			}
			return nil // commit: the secret and its id together
		})
		return id, err
	}

	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"),
		vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	clientSecret := exampleSecret()
	if _, err := connectQuickBooks(ctx, 42, clientSecret); err != nil {
		log.Fatal(err)
	}
	var id uuid.UUID
	err = pool.QueryRow(ctx, `SELECT secret_id FROM organization_integrations
 WHERE organization_id = 42 AND provider = 'quickbooks'`).Scan(&id)
	if err != nil {
		log.Fatal(err)
	}
	defer creds.Delete(ctx, id)
	got, err := creds.Retrieve(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the integration row holds the credential's id:", got == clientSecret)

	// Organization 7 has no integration row: the UPDATE fails the
	// transaction, and the secret stored in it is rolled back.
	orphan, err := connectQuickBooks(ctx, 7, exampleSecret())
	fmt.Println("error:", err)
	_, err = creds.Retrieve(ctx, orphan)
	fmt.Println("nothing left in Vault:", errors.Is(err, vault.ErrNotFound))
	// Output:
	// the integration row holds the credential's id: true
	// error: organization 7 has no QuickBooks integration
	// nothing left in Vault: true
}

// ExampleNew shows the two clients a Supabase service typically builds: one
// that migrates at startup as the owner of the functions (postgres), and one
// that makes every call as service_role.
func ExampleNew() {
	ctx := context.Background()
	pool, done := examplePool() // in a service: pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	defer done()

	// At startup, connected as postgres. On Supabase postgres may not create
	// in schema vault, so the functions go in a schema of their own.
	owner, err := vault.New(pool, vault.WithSchema("credentials"))
	if err != nil {
		log.Fatal(err)
	}
	if err := owner.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	// For the calls: SET LOCAL ROLE service_role, sent in the same round
	// trip as each call.
	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("functions in schema", creds.Schema())

	// Options are checked when the client is built.
	_, err = vault.New(pool, vault.WithSchema(""))
	fmt.Println("empty schema rejected:", errors.Is(err, vault.ErrInvalidArgument))
	// Output:
	// functions in schema credentials
	// empty schema rejected: true
}

// ExampleClient_Retrieve reads a credential when an integration runs, and
// tells the failures apart.
func ExampleClient_Retrieve() {
	ctx := context.Background()
	pool, done := examplePool()
	defer done()
	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"),
		vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	id, err := creds.Store(ctx, "acme/salesforce", exampleSecret(), "")
	if err != nil {
		log.Fatal(err)
	}
	defer creds.Delete(ctx, id)

	apiKey, err := creds.Retrieve(ctx, id)
	switch {
	case errors.Is(err, vault.ErrNotFound):
		// The integration was disconnected: ask the user to connect again.
	case errors.Is(err, vault.ErrDecryption):
		// The server runs with another root key: alert, do not retry.
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("got an API key:", apiKey != "")
	// Output:
	// got an API key: true
}

// ExampleClient_AccessLog shows who stored and retrieved a credential. Only
// the owner of the functions (the role that ran Migrate) may read the log.
func ExampleClient_AccessLog() {
	ctx := context.Background()
	pool, done := examplePool()
	defer done()
	quiet := vault.WithLogger(slog.New(slog.DiscardHandler))
	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"), quiet)
	if err != nil {
		log.Fatal(err)
	}
	owner, err := vault.New(pool, vault.WithSchema("credentials"), quiet)
	if err != nil {
		log.Fatal(err)
	}

	id, err := creds.Store(ctx, "acme/hubspot", exampleSecret(), "")
	if err != nil {
		log.Fatal(err)
	}
	defer creds.Delete(ctx, id)
	for range 2 {
		if _, err := creds.Retrieve(ctx, id); err != nil {
			log.Fatal(err)
		}
	}

	records, err := owner.AccessLog(ctx, id, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range records { // newest first
		fmt.Printf("%s: login %s, as %s\n", r.Op, r.SessionUser, r.CurrentUser)
	}

	_, err = creds.AccessLog(ctx, id, 10)
	fmt.Println("service_role may not read it:", errors.Is(err, vault.ErrPermissionDenied))
	// Output:
	// retrieve: login postgres, as service_role
	// retrieve: login postgres, as service_role
	// store: login postgres, as service_role
	// service_role may not read it: true
}

// Example_errors shows how to inspect what a [vault.Client] method returns:
// errors.Is for the kind, errors.As for the operation and the server's
// SQLSTATE. The error is built by hand here; Retrieve returns the same for
// an unknown id.
func Example_errors() {
	id := uuid.MustParse("0b6f3c1e-6d1a-4c51-9e8a-5f2d7c4b9a10")
	var err error = &vault.Error{
		Op:   "retrieve",
		ID:   id,
		Kind: vault.ErrNotFound,
		Err:  &pgconn.PgError{Code: "P0002", Message: "retrieve_credential: credential not found"},
	}
	err = fmt.Errorf("sync invoices: %w", err)

	fmt.Println(errors.Is(err, vault.ErrNotFound), errors.Is(err, vault.ErrPermissionDenied))

	var vErr *vault.Error
	if errors.As(err, &vErr) {
		fmt.Println("operation:", vErr.Op, vErr.ID)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		fmt.Println("SQLSTATE:", pgErr.Code)
	}
	// The message names the operation and the id, never a value, and not
	// the server's message.
	fmt.Println(err)

	// Context errors stay reachable.
	err = &vault.Error{Op: "store", Name: "acme/quickbooks", Err: context.DeadlineExceeded}
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Output:
	// true false
	// operation: retrieve 0b6f3c1e-6d1a-4c51-9e8a-5f2d7c4b9a10
	// SQLSTATE: P0002
	// sync invoices: vault: retrieve 0b6f3c1e-6d1a-4c51-9e8a-5f2d7c4b9a10: credential not found (SQLSTATE P0002)
	// true
}

// ExampleKindOf classifies errors from your own statements, such as an
// INSERT into an integration table that the plaintext guard rejected. It
// labels them only where the kind does not depend on the statement.
func ExampleKindOf() {
	// What pgx returns when the guard's trigger rejects the row (built by
	// hand here).
	err := fmt.Errorf("save integration: %w", &pgconn.PgError{
		Code:    "VA001",
		Message: "plaintext credential rejected: column api_key of public.organization_integrations holds what looks like a plaintext credential (Stripe secret key)",
	})
	if errors.Is(vault.KindOf(err), vault.ErrPlaintextCredential) {
		fmt.Println("keep only a Vault secret id: store the value with Store or Put")
	}

	// A conflict is a conflict whichever statement met it: retry the
	// transaction.
	commitErr := fmt.Errorf("commit: %w", &pgconn.PgError{Code: "40001"})
	fmt.Println(vault.KindOf(commitErr), vault.IsRetryable(commitErr))

	// No row from your own query is not a missing credential.
	fmt.Println(vault.KindOf(fmt.Errorf("load organization: %w", pgx.ErrNoRows)) == nil)
	// Output:
	// keep only a Vault secret id: store the value with Store or Put
	// vault: the call conflicted with a concurrent transaction true
	// true
}

// ExampleHint tells an operator what to do about a failed call, here a
// Retrieve sent to a hot standby (built by hand).
func ExampleHint() {
	err := &vault.Error{
		Op:   "retrieve",
		ID:   uuid.MustParse("0b6f3c1e-6d1a-4c51-9e8a-5f2d7c4b9a10"),
		Kind: vault.ErrReadOnly,
		Err:  &pgconn.PgError{Code: "25006"},
	}
	fmt.Println(err)
	fmt.Println("hint:", vault.Hint(err))
	// Output:
	// vault: retrieve 0b6f3c1e-6d1a-4c51-9e8a-5f2d7c4b9a10: the transaction is read-only (SQLSTATE 25006)
	// hint: the call ran in a read-only transaction or on a hot standby, and every call but listing writes (a retrieval appends to the access log): send it to the primary in a read-write transaction (through PostgREST, call retrieve_credential with POST, not GET)
}

// ExampleMigrationSQL hands the migrations to another tool, such as the
// Supabase CLI (supabase/migrations/<timestamp>_credentials.sql).
func ExampleMigrationSQL() {
	sql, err := vault.MigrationSQL("credentials")
	if err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(sql, "\n") {
		if strings.HasPrefix(line, "CREATE SCHEMA") || strings.HasPrefix(line, "       pg_catalog.set_config('search_path'") {
			fmt.Println(line)
		}
	}
	fmt.Println(strings.Contains(sql, `CREATE FUNCTION "credentials".retrieve_credential(`))
	// Output:
	//        pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);
	// CREATE SCHEMA IF NOT EXISTS "credentials";
	// true
}

// examplePool returns a pool connected as postgres to a database where
// schema "credentials" holds the migrated functions, and a function that
// closes it. With a throwaway server (the default) the database is a fresh
// one, dropped by done. With VAULT_TEST_DATABASE_URL it is that database,
// migrated in schema "credentials" like a project following the README;
// the examples delete what they store.
func examplePool() (pool *pgxpool.Pool, done func()) {
	ctx := context.Background()
	srv, err := testserver.OpenSharedServer()
	if err != nil {
		panic(err)
	}
	if srv.Cluster() == nil {
		pool, err := pgxpool.New(ctx, os.Getenv(testserver.EnvDatabaseURL))
		if err != nil {
			panic(err)
		}
		c, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithLogger(slog.New(slog.DiscardHandler)))
		if err == nil {
			err = c.Migrate(ctx)
		}
		if err != nil {
			panic(err)
		}
		return pool, pool.Close
	}
	db, err := srv.NewDatabase(ctx)
	if err != nil {
		panic(err)
	}
	if db.Schema != "credentials" {
		panic("vaulttest migrates in schema " + db.Schema + ", the examples expect credentials")
	}
	return db.Pool, func() { _ = db.Close() }
}

// exampleIntegrations creates, unless it exists, the integration table of
// Example_sameTransaction, with organization 42's QuickBooks integration,
// not connected yet.
func exampleIntegrations(pool *pgxpool.Pool) {
	_, err := pool.Exec(context.Background(), `
CREATE TABLE IF NOT EXISTS public.organization_integrations (
    organization_id bigint NOT NULL,
    provider        text   NOT NULL,
    secret_id       uuid,
    PRIMARY KEY (organization_id, provider));
INSERT INTO public.organization_integrations (organization_id, provider) VALUES (42, 'quickbooks')
    ON CONFLICT (organization_id, provider) DO UPDATE SET secret_id = NULL;`)
	if err != nil {
		panic(err)
	}
}

// exampleSecret stands in for a credential received from a provider.
func exampleSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "example-" + hex.EncodeToString(b)
}

// ExampleClient_Refresh renews an OAuth refresh token from several workers
// at once, against a provider that, like many, rotates the refresh token
// on every use and rejects the old one: the provider is called once, and
// every worker gets the new token.
func ExampleClient_Refresh() {
	ctx := context.Background()
	pool, done := examplePool()
	defer done()
	// One client per organization: another organization's credential id is
	// unknown to it.
	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"),
		vault.WithNamespace("org_42"), vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	provider := &exampleProvider{token: exampleSecret()}
	cred, err := creds.Put(ctx, "acme/quickbooks/refresh-token", provider.token, "QuickBooks OAuth refresh token")
	if err != nil {
		log.Fatal(err)
	}
	defer creds.Delete(ctx, cred.ID)

	var wg sync.WaitGroup
	got := make([]vault.Secret, 5)
	for i := range got {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // fn runs while a row lock is held
			defer cancel()
			s, err := creds.Refresh(ctx, cred.ID, func(ctx context.Context, current vault.Secret) (string, error) {
				return provider.exchange(ctx, current.Value)
			})
			if err != nil {
				log.Print(err)
			}
			got[i] = s
		})
	}
	wg.Wait()
	same := true
	for _, s := range got {
		same = same && s.Value == provider.token
	}
	fmt.Println("provider calls:", provider.calls)
	fmt.Println("every worker got the new token:", same)
	fmt.Println("version:", got[0].Version)
	// A Secret never prints its value.
	fmt.Println(strings.Replace(fmt.Sprint(got[0]), got[0].ID.String(), "<id>", 1))
	// Output:
	// provider calls: 1
	// every worker got the new token: true
	// version: 2
	// {ID:<id> Namespace:"org_42" Name:"acme/quickbooks/refresh-token" Version:2 Value:[REDACTED]}
}

// exampleProvider stands in for an OAuth token endpoint that rotates the
// refresh token on every use.
type exampleProvider struct {
	mu    sync.Mutex
	token string
	calls int
}

func (p *exampleProvider) exchange(_ context.Context, refreshToken string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if refreshToken != p.token {
		return "", errors.New("invalid_grant: refresh token already used")
	}
	time.Sleep(100 * time.Millisecond)
	p.token = exampleSecret()
	return p.token, nil
}

// ExampleWithRecoveryWindow deletes a credential by mistake and brings it
// back, with its id and value, before its recovery window ends.
func ExampleWithRecoveryWindow() {
	ctx := context.Background()
	pool, done := examplePool()
	defer done()
	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"),
		vault.WithRecoveryWindow(7*24*time.Hour), vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	cred, err := creds.Put(ctx, "acme/stripe", exampleSecret(), "")
	if err != nil {
		log.Fatal(err)
	}
	defer creds.Delete(ctx, cred.ID, vault.WithoutRecovery())

	if err := creds.Delete(ctx, cred.ID); err != nil {
		log.Fatal(err)
	}
	_, err = creds.Retrieve(ctx, cred.ID)
	fmt.Println("deleted:", errors.Is(err, vault.ErrNotFound))
	_, err = creds.Put(ctx, "acme/stripe", exampleSecret(), "")
	fmt.Println("name held:", errors.Is(err, vault.ErrPendingDeletion))

	if err := creds.Restore(ctx, cred.ID); err != nil {
		log.Fatal(err)
	}
	_, err = creds.Retrieve(ctx, cred.ID)
	fmt.Println("restored:", err == nil)
	// Output:
	// deleted: true
	// name held: true
	// restored: true
}

// ExampleClient_Orphans lists the credentials that no row of your table
// public.organization_integrations references, as the functions' owner.
func ExampleClient_Orphans() {
	ctx := context.Background()
	pool, done := examplePool()
	defer done()
	owner, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		log.Fatal(err)
	}
	col, err := vault.ParseColumn("public.organization_integrations.vault_secret_id")
	if err != nil {
		log.Fatal(err)
	}
	for cred, err := range owner.Orphans(ctx, vault.OrphanFilter{ReferencedBy: []vault.Column{col}}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("orphan:", cred.ID, cred.Name, cred.CreatedAt)
	}
}

// ExampleParseColumn reads a referencing column as PostgreSQL would.
func ExampleParseColumn() {
	col, err := vault.ParseColumn(`Public."Org Integrations".vault_secret_id`)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q %q %q\n", col.Schema, col.Table, col.Name)
	fmt.Println(col)
	// Output:
	// "public" "Org Integrations" "vault_secret_id"
	// public."Org Integrations".vault_secret_id
}
