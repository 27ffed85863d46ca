// Command credvault manages integration credentials kept in Supabase Vault
// through the SQL functions of github.com/credvault/vault.
//
// Usage:
//
//	credvault <command> [flags] [arguments]
//
// The commands are:
//
//	migrate   install or upgrade the credential functions in a schema
//	store     encrypt a new credential into Vault and print its id
//	retrieve  decrypt a credential to standard output (not to a terminal)
//	rotate    replace a credential's value, keeping its id
//	delete    delete a credential from Vault (idempotent)
//	list      list credentials' metadata, least recently rotated first
//	audit     show a credential's access log, newest first
//	sql       print the migrations as one SQL script, for other migration tools
//	doctor    check the server, Vault, roles, migrations, privileges and logging
//	export    decrypt credentials into an encrypted bundle, to move them to another database
//	import    re-create the credentials of a bundle made by export
//
// Every command takes --help. Commands that connect read the connection URL
// from --database-url or the environment variable DATABASE_URL, and the
// schema of the credential functions from --schema or CREDVAULT_SCHEMA
// (default "vault"; on Supabase, the schema you migrated, such as
// "credentials"). Data commands run as --role or CREDVAULT_ROLE (default
// service_role) with SET LOCAL ROLE.
//
// Secrets are read from standard input or --file, never from arguments or
// the environment, and only retrieve prints one, only to a pipe or a file
// unless --force is given.
//
// Exit status: 0 success (delete of an id that does not exist included); 1
// the operation failed; 2 usage error (including retrieve to a terminal
// without --force); 3 doctor found problems; 4 no credential with that id
// (retrieve, rotate).
package main

import (
	"context"
	"os"

	"github.com/credvault/vault/internal/cli"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args[1:], cli.IO{
		Stdin:  os.Stdin,
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
	}))
}
