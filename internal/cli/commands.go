package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
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
		in := namedSecretFlags(fs, "credential `name`, a label for humans such as acme/quickbooks (required)",
			"optional `text` describing the credential")
		return in.run(func(ctx context.Context, s *session, c *vault.Client, secret string) error {
			id, err := c.Store(ctx, *in.name, secret, *in.desc)
			if err != nil {
				return err
			}
			fmt.Fprintln(s.io.Stdout, id)
			return nil
		})
	},
}

var retrieveCmd = &command{
	name:     "retrieve",
	synopsis: "ID [--force]",
	summary:  "decrypt a credential to standard output (not to a terminal)",
	conn:     connRole,
	args:     argsID,
	notFound: true,
	help: `
Decrypts the credential and writes it, exactly and without a newline, to
standard output, which must be a pipe or a file unless --force is given.
Each retrieval appends a row to the access log (see 'credvault audit').

  credvault retrieve --schema credentials 0b6f... > /run/secrets/quickbooks`,
	setup: func(fs *flag.FlagSet) runFunc {
		force := fs.Bool("force", false, "write the secret even when standard output is a terminal")
		return func(ctx context.Context, s *session, args []string) error {
			tty, err := secretOutput(s.io, *force) // refuse before anything is decrypted or logged
			if err != nil {
				return err
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			secret, err := c.Retrieve(ctx, s.id)
			if err != nil {
				return err
			}
			return writeSecret(s.io, secret, tty)
		}
	},
}

var rotateCmd = &command{
	name:     "rotate",
	synopsis: "ID [--file PATH] [--if-version V]",
	summary:  "replace a credential's value, keeping its id",
	conn:     connRole,
	args:     argsID,
	notFound: true,
	help: `
Reads the new value from standard input (or --file), as 'store' does, and
replaces the credential's value in place as its next version: the id
stays, the ciphertext, version and updated_at change, and the previous value
is kept for 'credvault rollback'. With --if-version, the rotation applies only
if the credential is still at that version (check-and-set; 'credvault lookup
ID' prints it): otherwise nothing changes and the command fails.

  credvault rotate 0b6f... --if-version 3 < new-secret.txt`,
	setup: func(fs *flag.FlagSet) runFunc {
		file := fs.String("file", "", "read the new secret from the file at `path` instead of standard input")
		ifVersion := fs.Int64("if-version", 0, "rotate only if the credential is at `version` V (1 or more)")
		return func(ctx context.Context, s *session, args []string) error {
			var opts []vault.RotateOption
			if flagSet(fs, "if-version") {
				if *ifVersion < 1 {
					return usagef("--if-version must be a version, 1 or more")
				}
				opts = append(opts, vault.IfVersion(*ifVersion))
			}
			c, secret, err := s.clientAndSecret(ctx, *file)
			if err != nil {
				return err
			}
			return s.done(c.Rotate(ctx, s.id, secret, opts...), "rotated %s", s.id)
		}
	},
}

var deleteCmd = &command{
	name:     "delete",
	synopsis: "ID [--recovery-window AGE | --without-recovery]",
	summary:  "delete a credential from Vault (idempotent)",
	conn:     connRole,
	args:     argsID,
	help: `
Deletes the credential from Vault and says whether there was one: deleting
an id that does not exist succeeds too (exit 0), so the command can be
retried. A credential of another --namespace is left alone, as an unknown id
is. The access log keeps its rows. With --recovery-window the credential is
hidden instead, 'credvault restore' brings it back until AGE has passed and
'credvault purge' removes it afterwards; --without-recovery also removes one
hidden that way.`,
	setup: func(fs *flag.FlagSet) runFunc {
		window := &ageFlag{}
		fs.Var(window, "recovery-window", "delete into a recovery window of `AGE` (1s to 365d)")
		without := fs.Bool("without-recovery", false, "delete for good now, also a credential in its recovery window")
		return func(ctx context.Context, s *session, args []string) error {
			id := s.id
			opts, err := deleteOptions(window, *without)
			if err != nil {
				return err
			}
			existed, err := s.deleteCredential(ctx, id, opts...)
			switch {
			case err != nil:
				return err
			case existed == nil:
				fmt.Fprintf(s.io.Stderr, "credvault: deleted %s, if it existed (%s may not read its metadata to tell; run 'credvault migrate'?)\n", id, s.roleName())
			case *existed:
				fmt.Fprintf(s.io.Stderr, "credvault: deleted %s\n", id)
			default:
				fmt.Fprintf(s.io.Stderr, "credvault: nothing to delete: no credential has id %s%s\n", id, s.inNamespace())
			}
			return nil
		}
	},
}

// deleteCredential deletes the credential in a transaction that first
// reads its metadata in the session's namespace (vault.Client.Get: no
// value, no access-log row), and reports whether it existed; nil when the
// look-up failed (a schema migrated before Get existed, or a role that may
// not call it). The look-up runs in a savepoint rolled back at once, so it
// changes nothing and its failure does not stop the delete.
func (s *session) deleteCredential(ctx context.Context, id uuid.UUID, opts ...vault.DeleteOption) (existed *bool, err error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		sp, err := tx.Begin(ctx)
		if err != nil {
			return err
		}
		probe, err := s.clientOn(sp, vault.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return err
		}
		_, err = probe.Get(ctx, id)
		if err == nil || errors.Is(err, vault.ErrNotFound) {
			found := err == nil
			existed = &found
		}
		if err := sp.Rollback(ctx); err != nil { // also gives tx its role back
			return err
		}
		c, err := s.clientOn(tx)
		if err != nil {
			return err
		}
		return c.Delete(ctx, id, opts...)
	})
	return existed, err
}

var listCmd = &command{
	name:     "list",
	synopsis: "[--prefix P] [--older-than AGE | --deleted] [--expires-before TIME] [--limit N] [--after CURSOR] [--json]",
	summary:  "list credentials' metadata, by name, a page at a time",
	conn:     connRole,
	help: `
Lists the metadata of the namespace's credentials (id, namespace, name,
version, expiry, last change of the value, last retrieval, description),
never their values, by name. --older-than keeps those whose value has not
changed for at least AGE, such as 90d, 2w, 12h or any Go duration (1h30m):
the credentials due under a rotation policy. --expires-before keeps those
with an expiry (set with 'credvault update --expires-at') before TIME, an
RFC 3339 time or an AGE from now, soonest first: the tokens to renew.

A page holds at most --limit credentials. When it is full, the command
prints on standard error the --after cursor that continues the listing;
pass it back, with the same filters, for the next page (each credential is
listed once, even while others are added). With --json each row carries its
own "cursor".

  credvault list --schema credentials --older-than 90d
  credvault list --expires-before 10m --json
  credvault list --limit 100 --after "$cursor"`,
	setup: func(fs *flag.FlagSet) runFunc {
		prefix := fs.String("prefix", "", "only names starting with `text`")
		olderThan := fs.String("older-than", "", "only credentials not rotated for `AGE` (90d, 2w, 12h, 1h30m)")
		limit := fs.Int("limit", 100, fmt.Sprintf("at most `N` credentials (1 to %d)", vault.MaxListLimit))
		expiresBefore := fs.String("expires-before", "", "only credentials expiring before `TIME` (RFC 3339, or an age from now: 10m, 7d), soonest first")
		after := fs.String("after", "", "continue after `CURSOR`, as printed at the end of the previous page")
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		deleted := fs.Bool("deleted", false, "list the credentials deleted into a recovery window instead, with when they will be purged")
		return func(ctx context.Context, s *session, args []string) error {
			if *limit < 1 || *limit > vault.MaxListLimit {
				return usagef("--limit must be between 1 and %d", vault.MaxListLimit)
			}
			if *deleted && *olderThan != "" {
				return usagef("--deleted lists by name only: drop --older-than")
			}
			filter := vault.ListFilter{NamePrefix: *prefix, Limit: *limit, Deleted: *deleted}
			if *after != "" {
				cursor, err := vault.ParseCursor(*after)
				if err != nil {
					return usagef("--after is not a cursor printed by 'credvault list'")
				}
				filter.After = cursor
			}
			if *expiresBefore != "" {
				t, err := parseTimeOrAge(*expiresBefore, time.Now())
				if err != nil {
					return usagef("--expires-before: %v", err)
				}
				filter.ExpiresBefore = t
			}
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
				err = writeCredentialsJSON(s.io.Stdout, creds, true)
			} else {
				err = writeCredentialsTable(s.io.Stdout, creds)
			}
			if err == nil && len(creds) == *limit {
				fmt.Fprintf(s.io.Stderr, "credvault: more may follow: run again with --after %s\n", creds[len(creds)-1].Cursor())
			}
			return err
		}
	},
}

var auditCmd = &command{
	name:     "audit",
	synopsis: "ID [--limit N] [--json]",
	summary:  "show a credential's history: every operation, newest first",
	conn:     connOwner,
	args:     argsID,
	help: `
Prints the access log of a credential: one row per successful operation
(store, put, retrieve, read, refresh, rotate, rollback, update, delete,
restore, purge, export, import), with the time, the operation, the session's
login role, the role it ran as, the JWT role and subject when the call came
through PostgREST, the application name and the client address. The log is
kept by id in every namespace; the rows of a deleted credential stay. Only
the role that ran migrate may read the log, so connect as it (postgres on
Supabase); audit takes no --role. To delete old rows, see
'credvault audit prune --help'.`,
	setup: func(fs *flag.FlagSet) runFunc {
		limit := fs.Int("limit", 50, "at most `N` rows")
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		return func(ctx context.Context, s *session, args []string) error {
			if *limit < 1 {
				return usagef("--limit must be at least 1")
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			records, err := c.AccessLog(ctx, s.id, *limit)
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

The script records each migration in <schema>.credvault_migrations, as
'credvault migrate' does, and applies only those it does not find there: a
schema set up either way can be upgraded either way, with the script of a
newer release or with 'credvault migrate'. Like migrate, it fails and changes
nothing when an applied migration was edited. Every statement stands alone,
so tools that split files into statements run it as psql -1 -f does.`,
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, s *session, args []string) error {
			sql, err := vault.MigrationSQL(s.schema)
			if err != nil {
				return usagef("%v", err)
			}
			_, err = fmt.Fprint(s.io.Stdout, sql)
			return err
		}
	},
}

// namedSecret holds the flags of a command that writes a secret under a
// name: --name (required), --description and --file.
type namedSecret struct {
	name, desc, file *string
}

// namedSecretFlags defines namedSecret's flags on fs, with the usage
// texts of --name and --description.
func namedSecretFlags(fs *flag.FlagSet, nameUsage, descUsage string) namedSecret {
	return namedSecret{
		name: fs.String("name", "", nameUsage),
		desc: fs.String("description", "", descUsage),
		file: fs.String("file", "", "read the secret from the file at `path` instead of standard input"),
	}
}

// run returns the command's run: it checks --name, opens the session's
// client, reads the secret (see readSecret) and passes them to write.
func (n namedSecret) run(write func(ctx context.Context, s *session, c *vault.Client, secret string) error) runFunc {
	return func(ctx context.Context, s *session, args []string) error {
		if *n.name == "" {
			return usagef("--name is required")
		}
		c, secret, err := s.clientAndSecret(ctx, *n.file)
		if err != nil {
			return err
		}
		return write(ctx, s, c, secret)
	}
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
