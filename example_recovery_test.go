package vault_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"time"

	"github.com/credvault/vault"
)

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
