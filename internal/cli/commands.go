package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault"
)

var migrateCmd = &command{
	name:     "migrate",
	synopsis: "[--schema S] [--compat-key-file PATH]",
	summary:  "install or upgrade the credential functions in a schema",
	conn:     connOwner,
	help: `
Applies the SQL migrations embedded in this build to --schema, each once, in
order, and records them in <schema>.credvault_migrations. Running it again
does nothing. Run it as the role that should own the functions: postgres on
Supabase, where the schema must not be vault (use --schema credentials).

On plain PostgreSQL without the supabase_vault extension, --compat-key-file
installs the Vault compatibility layer first; this needs a superuser, and
PATH is the root key file on the database server (64 hex characters).`,
	setup: func(fs *flag.FlagSet) runFunc {
		keyFile := fs.String("compat-key-file", "", "install the Vault compatibility layer, reading the root key from `path` on the database server")
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0); err != nil {
				return err
			}
			var opts []vault.Option
			if *keyFile != "" {
				opts = append(opts, vault.WithCompatVault(*keyFile))
			}
			c, err := s.client(ctx, opts...)
			if err != nil {
				return err
			}
			if err := c.Migrate(ctx); err != nil {
				return err
			}
			var n int
			err = s.conn.QueryRow(ctx, "SELECT pg_catalog.count(*) FROM "+pgx.Identifier{s.schema, "credvault_migrations"}.Sanitize()).Scan(&n)
			if err != nil {
				return err
			}
			fmt.Fprintf(s.io.Stdout, "schema %q is up to date: %d migrations applied\n", s.schema, n)
			return nil
		}
	},
}

var storeCmd = &command{
	name:     "store",
	synopsis: "--name NAME [--description TEXT] [--file PATH]",
	summary:  "encrypt a new credential into Vault and print its id",
	conn:     connRole,
	help: `
Reads the secret from standard input (or --file), stores it encrypted in
Vault and prints the new credential's id, the only thing your tables should
keep. One trailing newline is removed; an empty secret is refused. On a
terminal, the secret is read as one line without echo; pipe multi-line
values (PEM keys) or use --file.

  credvault store --schema credentials --name acme/quickbooks < secret.txt`,
	setup: func(fs *flag.FlagSet) runFunc {
		name := fs.String("name", "", "credential `name`, a label for humans such as acme/quickbooks (required)")
		desc := fs.String("description", "", "optional `text` describing the credential")
		file := fs.String("file", "", "read the secret from the file at `path` instead of standard input")
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0); err != nil {
				return err
			}
			if *name == "" {
				return usagef("--name is required")
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			secret, err := readSecret(s.io, *file)
			if err != nil {
				return err
			}
			id, err := c.Store(ctx, *name, secret, *desc)
			if err != nil {
				return err
			}
			fmt.Fprintln(s.io.Stdout, id)
			return nil
		}
	},
}

var retrieveCmd = &command{
	name:     "retrieve",
	synopsis: "ID [--force]",
	summary:  "decrypt a credential to standard output (not to a terminal)",
	conn:     connRole,
	help: `
Decrypts the credential and writes it, exactly and without a newline, to
standard output, which must be a pipe or a file unless --force is given.
Each retrieval appends a row to the access log (see 'credvault audit').

  credvault retrieve --schema credentials 0b6f... > /run/secrets/quickbooks`,
	setup: func(fs *flag.FlagSet) runFunc {
		force := fs.Bool("force", false, "write the secret even when standard output is a terminal")
		return func(ctx context.Context, s *session, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			tty, err := secretOutput(s.io, *force) // refuse before anything is decrypted or logged
			if err != nil {
				return err
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			secret, err := c.Retrieve(ctx, id)
			if err != nil {
				return err
			}
			return writeSecret(s.io, secret, tty)
		}
	},
}

var rotateCmd = &command{
	name:     "rotate",
	synopsis: "ID [--file PATH]",
	summary:  "replace a credential's value, keeping its id",
	conn:     connRole,
	help: `
Reads the new value from standard input (or --file), as 'store' does, and
replaces the credential's value in place: the id stays, the ciphertext and
updated_at change.`,
	setup: func(fs *flag.FlagSet) runFunc {
		file := fs.String("file", "", "read the new secret from the file at `path` instead of standard input")
		return func(ctx context.Context, s *session, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			secret, err := readSecret(s.io, *file)
			if err != nil {
				return err
			}
			if err := c.Rotate(ctx, id, secret); err != nil {
				return err
			}
			fmt.Fprintf(s.io.Stderr, "credvault: rotated %s\n", id)
			return nil
		}
	},
}

var deleteCmd = &command{
	name:     "delete",
	synopsis: "ID [--recovery-window AGE | --without-recovery]",
	summary:  "delete a credential from Vault (idempotent)",
	conn:     connRole,
	help: `
Deletes the credential from Vault. Deleting an id that does not exist
succeeds, so the command can be retried. The access log keeps its rows.
With --recovery-window the credential is hidden instead, 'credvault
restore' brings it back until AGE has passed and 'credvault purge' removes
it afterwards; --without-recovery also removes one hidden that way.`,
	setup: func(fs *flag.FlagSet) runFunc {
		window := &ageFlag{}
		fs.Var(window, "recovery-window", "delete into a recovery window of `AGE` (1s to 365d)")
		without := fs.Bool("without-recovery", false, "delete for good now, also a credential in its recovery window")
		return func(ctx context.Context, s *session, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			opts, err := deleteOptions(window, *without)
			if err != nil {
				return err
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			if err := c.Delete(ctx, id, opts...); err != nil {
				return err
			}
			fmt.Fprintf(s.io.Stderr, "credvault: deleted %s\n", id)
			return nil
		}
	},
}

var listCmd = &command{
	name:     "list",
	synopsis: "[--prefix P] [--older-than AGE | --deleted] [--limit N] [--json]",
	summary:  "list credentials' metadata, by name",
	conn:     connRole,
	help: `
Lists the metadata of the credentials (id, name, description, creation,
last rotation, last retrieval), never their values. --older-than keeps
those whose value has not changed for at least AGE, such as 90d, 2w, 12h or
any Go duration (1h30m): the credentials due under a rotation policy.

  credvault list --schema credentials --older-than 90d`,
	setup: func(fs *flag.FlagSet) runFunc {
		prefix := fs.String("prefix", "", "only names starting with `text`")
		olderThan := fs.String("older-than", "", "only credentials not rotated for `AGE` (90d, 2w, 12h, 1h30m)")
		limit := fs.Int("limit", 100, fmt.Sprintf("at most `N` credentials (1 to %d)", vault.MaxListLimit))
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		deleted := fs.Bool("deleted", false, "list the credentials deleted into a recovery window instead, with when they will be purged")
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0); err != nil {
				return err
			}
			if *limit < 1 || *limit > vault.MaxListLimit {
				return usagef("--limit must be between 1 and %d", vault.MaxListLimit)
			}
			if *deleted && *olderThan != "" {
				return usagef("--deleted lists by name only: drop --older-than")
			}
			filter := vault.ListFilter{NamePrefix: *prefix, Limit: *limit, Deleted: *deleted}
			if *olderThan != "" {
				age, err := parseAge(*olderThan)
				if err != nil {
					return usagef("--older-than: %v", err)
				}
				filter.NotRotatedSince = time.Now().Add(-age)
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			creds, err := c.List(ctx, filter)
			if err != nil {
				return err
			}
			if *deleted {
				return writeDeleted(s.io.Stdout, creds, *asJSON)
			}
			if *asJSON {
				return writeCredentialsJSON(s.io.Stdout, creds)
			}
			return writeCredentialsTable(s.io.Stdout, creds)
		}
	},
}

var auditCmd = &command{
	name:     "audit",
	synopsis: "ID [--limit N] [--json]",
	summary:  "show a credential's access log, newest first",
	conn:     connOwner,
	help: `
Prints the access log of a credential: one row per successful retrieval,
with the time, the session's login role, the role it ran as, the JWT role
and subject when the call came through PostgREST, the application name and
the client address. Only the role that ran migrate may read the log, so
connect as it (postgres on Supabase); audit takes no --role. To delete old
rows, see 'credvault audit prune --help'.`,
	setup: func(fs *flag.FlagSet) runFunc {
		limit := fs.Int("limit", 50, "at most `N` rows")
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		return func(ctx context.Context, s *session, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			if *limit < 1 {
				return usagef("--limit must be at least 1")
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			records, err := c.AccessLog(ctx, id, *limit)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeAccessJSON(s.io.Stdout, records)
			}
			return writeAccessTable(s.io.Stdout, records)
		}
	},
}

var sqlCmd = &command{
	name:     "sql",
	synopsis: "[--schema S]",
	summary:  "print the migrations as one SQL script, for other migration tools",
	conn:     connSchema,
	help: `
Prints every migration rendered for --schema, in order, as one script, for
teams that apply migrations with the Supabase CLI or another tool:

  credvault sql --schema credentials > supabase/migrations/20250101000000_credentials.sql

The script does not record versions in credvault_migrations: manage a schema
either with it or with 'credvault migrate', not both. New releases add new
migrations; regenerate and diff to find them.`,
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, s *session, args []string) error {
			if err := wantArgs(args, 0); err != nil {
				return err
			}
			sql, err := vault.MigrationSQL(s.schema)
			if err != nil {
				return usagef("%v", err)
			}
			_, err = fmt.Fprint(s.io.Stdout, sql)
			return err
		}
	},
}

// wantArgs checks the number of positional arguments. Messages never
// quote an argument: a secret typed on the command line by mistake must
// not be echoed.
func wantArgs(args []string, n int) error {
	if len(args) != n {
		return usagef("expected %d argument(s), got %d (secrets are read from standard input or --file)", n, len(args))
	}
	return nil
}

// idArg parses the single positional argument as a credential id.
func idArg(args []string) (uuid.UUID, error) {
	if len(args) != 1 {
		return uuid.Nil, usagef("expected one credential ID, got %d arguments", len(args))
	}
	id, err := uuid.Parse(args[0])
	if err != nil || id == uuid.Nil {
		return uuid.Nil, usagef("the argument is not a credential ID (a UUID such as the one store printed)")
	}
	return id, nil
}
