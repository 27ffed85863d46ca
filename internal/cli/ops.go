package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/credvault/vault"
)

// The operations commands: restore, purge, orphans and audit prune.

// namespaceFlag defines --namespace on fs unless the shared flags already
// do, and returns a function reading it.
func namespaceFlag(fs *flag.FlagSet) func() string {
	if fs.Lookup("namespace") == nil {
		fs.String("namespace", "", "`namespace` of the credentials (default: the default namespace \"\")")
	}
	return func() string { return fs.Lookup("namespace").Value.String() }
}

// nsOption returns the client option of a --namespace value.
func nsOption(ns string) []vault.Option {
	if ns == "" {
		return nil
	}
	return []vault.Option{vault.WithNamespace(ns)}
}

// ageFlag is a flag holding an age parsed by parseAge, unset until given.
type ageFlag struct {
	d   time.Duration
	set bool
}

func (a *ageFlag) String() string {
	if a == nil || !a.set {
		return ""
	}
	return a.d.String()
}

func (a *ageFlag) Set(s string) error {
	d, err := parseAge(s)
	if err != nil {
		return err
	}
	a.d, a.set = d, true
	return nil
}

// columnsFlag collects repeated --referenced-by values.
type columnsFlag []vault.Column

func (c *columnsFlag) String() string {
	if c == nil {
		return ""
	}
	parts := make([]string, len(*c))
	for i, col := range *c {
		parts[i] = col.String()
	}
	return strings.Join(parts, ",")
}

func (c *columnsFlag) Set(s string) error {
	col, err := vault.ParseColumn(s)
	if err != nil {
		return err
	}
	*c = append(*c, col)
	return nil
}

// deleteOptions returns the delete options of --recovery-window and
// --without-recovery.
func deleteOptions(window *ageFlag, without bool) ([]vault.DeleteOption, error) {
	switch {
	case window.set && without:
		return nil, usagef("--recovery-window and --without-recovery exclude each other")
	case window.set:
		if window.d < vault.MinRecoveryWindow || window.d > vault.MaxRecoveryWindow {
			return nil, usagef("--recovery-window must be between 1s and 365d")
		}
		return []vault.DeleteOption{vault.Recoverable(window.d)}, nil
	case without:
		return []vault.DeleteOption{vault.WithoutRecovery()}, nil
	}
	return nil, nil
}

var restoreCmd = &command{
	name:     "restore",
	synopsis: "ID [--namespace NS]",
	summary:  "bring back a credential deleted into its recovery window",
	conn:     connRole,
	args:     argsID,
	notFound: true,
	help: `
Brings back a credential that 'credvault delete --recovery-window' (or a
service with a recovery window) deleted, with its id, value, version and
name, while its window lasts. Restoring a credential that is not deleted
does nothing. Exits with status 4 when no deleted credential has that id in
the namespace or its window has ended.`,
	setup: func(fs *flag.FlagSet) runFunc {
		ns := namespaceFlag(fs)
		return func(ctx context.Context, s *session, args []string) error {
			c, err := s.client(ctx, nsOption(ns())...)
			if err != nil {
				return err
			}
			return s.done(c.Restore(ctx, s.id), "restored %s", s.id)
		}
	},
}

var purgeCmd = &command{
	name:     "purge",
	synopsis: "[--namespace NS | --all-namespaces]",
	summary:  "remove the deleted credentials whose recovery window has ended",
	conn:     connRole,
	help: `
Removes for good, with their Vault rows, the credentials deleted into a
recovery window that has ended, and prints how many. Run it from a
scheduler (daily is plenty): until it runs, such credentials can no longer
be restored but keep their names and Vault rows. A credential whose Vault
row a foreign key of yours references is skipped until the reference is
gone.

  credvault purge --schema credentials --all-namespaces`,
	setup: func(fs *flag.FlagSet) runFunc {
		ns := namespaceFlag(fs)
		all := fs.Bool("all-namespaces", false, "purge every namespace")
		return func(ctx context.Context, s *session, args []string) error {
			if *all && ns() != "" {
				return usagef("--namespace and --all-namespaces exclude each other")
			}
			c, err := s.client(ctx, nsOption(ns())...)
			if err != nil {
				return err
			}
			var opts []vault.PurgeOption
			if *all {
				opts = append(opts, vault.AllNamespaces())
			}
			n, err := c.Purge(ctx, opts...)
			if n > 0 || err == nil {
				fmt.Fprintf(s.io.Stdout, "purged %d credential(s)\n", n)
			}
			return err
		}
	},
}

var orphansCmd = &command{
	name:     "orphans",
	synopsis: "--referenced-by SCHEMA.TABLE.COLUMN... [--grace AGE] [--delete [--recovery-window AGE]] [--all-namespaces] [--include-adopted] [--json]",
	summary:  "list (or delete) credentials that none of your tables references",
	conn:     connOwner,
	help: `
Lists the credentials that no --referenced-by column holds: typically left
by a store whose id never reached your table (a crash or a lost connection
between the two). Only credentials older than --grace (default 1h) are
considered, so a store in flight is never one. Each column is a uuid column
of one of your tables, written schema.table.column (double-quote names with
capitals or dots); give every column that may hold a credential id.

It reads those columns as the role that ran migrate, so connect as it
(postgres on Supabase) and do not pass --role; that role needs SELECT on
them. With --delete the listed credentials are deleted, each in the same
statement that finds it unreferenced; with --recovery-window into that
window (recommended: 'credvault restore' undoes a mistake).

Vault secrets the library did not create (recorded because they existed
before, including all credentials recorded before this version) are left
out unless --include-adopted: Vault also holds other tools' secrets, such
as Supabase Wrappers' API keys. Check the list before deleting with it.

  credvault orphans --schema credentials \
      --referenced-by public.organization_integrations.vault_secret_id \
      --delete --recovery-window 7d`,
	setup: func(fs *flag.FlagSet) runFunc {
		ns := namespaceFlag(fs)
		var columns columnsFlag
		fs.Var(&columns, "referenced-by", "a uuid `column` (schema.table.column) holding credential ids; repeat for each (required)")
		grace := &ageFlag{}
		fs.Var(grace, "grace", "only credentials created at least `AGE` ago (default 1h)")
		del := fs.Bool("delete", false, "delete the orphans found")
		window := &ageFlag{}
		fs.Var(window, "recovery-window", "with --delete, delete into a recovery window of `AGE` (1s to 365d)")
		all := fs.Bool("all-namespaces", false, "look at every namespace")
		adopted := fs.Bool("include-adopted", false, "also look at Vault secrets the library did not create")
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		return func(ctx context.Context, s *session, args []string) error {
			if len(columns) == 0 {
				return usagef("--referenced-by is required: name every column that holds credential ids")
			}
			if window.set && !*del {
				return usagef("--recovery-window goes with --delete")
			}
			if *all && ns() != "" {
				return usagef("--namespace and --all-namespaces exclude each other")
			}
			opts, err := deleteOptions(window, false)
			if err != nil {
				return err
			}
			filter := vault.OrphanFilter{ReferencedBy: columns, Grace: grace.d, AllNamespaces: *all, IncludeAdopted: *adopted}
			c, err := s.client(ctx, nsOption(ns())...)
			if err != nil {
				return err
			}
			var found []vault.Credential
			if *del {
				found, err = c.DeleteOrphans(ctx, filter, opts...)
			} else {
				for cred, e := range c.Orphans(ctx, filter) {
					if e != nil {
						err = e
						break
					}
					found = append(found, cred)
				}
			}
			if len(found) > 0 || err == nil {
				if werr := writeOrphans(s.io.Stdout, found, *asJSON); werr != nil && err == nil {
					err = werr
				}
				switch {
				case *del && window.set:
					fmt.Fprintf(s.io.Stderr, "credvault: deleted %d orphan(s) into a recovery window of %s\n", len(found), window.d)
				case *del:
					fmt.Fprintf(s.io.Stderr, "credvault: deleted %d orphan(s)\n", len(found))
				default:
					fmt.Fprintf(s.io.Stderr, "credvault: %d orphan(s)\n", len(found))
				}
			}
			return err
		}
	},
}

var auditPruneCmd = &command{
	name:     "audit prune",
	synopsis: "--older-than AGE",
	summary:  "delete access-log rows older than AGE",
	conn:     connOwner,
	help: `
Deletes the access-log rows older than AGE (400d, 52w, or a Go duration) in
batches of 10,000 rows, each its own short transaction, so that calls,
which append to the log, never wait for it; prints how many it deleted.
Only the role that ran migrate may prune the log: connect as it (postgres
on Supabase) and do not pass --role. Run it from a scheduler; see the
README's "Audit log retention".

  credvault audit prune --schema credentials --older-than 400d`,
	setup: func(fs *flag.FlagSet) runFunc {
		olderThan := &ageFlag{}
		fs.Var(olderThan, "older-than", "delete rows older than `AGE` (400d, 52w, 12h; required)")
		return func(ctx context.Context, s *session, args []string) error {
			if !olderThan.set {
				return usagef("--older-than is required")
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			before := time.Now().Add(-olderThan.d)
			n, err := c.PruneAccessLog(ctx, before)
			if n > 0 || err == nil {
				fmt.Fprintf(s.io.Stdout, "deleted %d access-log row(s) older than %s\n", n, before.UTC().Format(time.RFC3339))
			}
			return err
		}
	},
}

type orphanJSON struct {
	ID          string    `json:"id"`
	Namespace   string    `json:"namespace"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func writeOrphans(w io.Writer, creds []vault.Credential, asJSON bool) error {
	if asJSON {
		return writeJSONArray(w, creds, func(c vault.Credential) orphanJSON {
			return orphanJSON{ID: c.ID.String(), Namespace: c.Namespace, Name: c.Name, Description: c.Description,
				CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
		})
	}
	return writeTable(w, "ID\tNAMESPACE\tNAME\tCREATED_AT\tDESCRIPTION", creds, func(c vault.Credential) []string {
		return []string{c.ID.String(), cell(c.Namespace), cell(c.Name), timeCell(c.CreatedAt), cell(c.Description)}
	})
}

type deletedJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	DeletedAt   time.Time `json:"deleted_at"`
	PurgeAfter  time.Time `json:"purge_after"`
}

// writeDeleted prints the listing of 'list --deleted'.
func writeDeleted(w io.Writer, creds []vault.Credential, asJSON bool) error {
	if asJSON {
		return writeJSONArray(w, creds, func(c vault.Credential) deletedJSON {
			return deletedJSON{ID: c.ID.String(), Name: c.Name, Description: c.Description,
				DeletedAt: c.DeletedAt, PurgeAfter: c.PurgeAfter}
		})
	}
	return writeTable(w, "ID\tNAME\tDELETED_AT\tPURGE_AFTER\tDESCRIPTION", creds, func(c vault.Credential) []string {
		return []string{c.ID.String(), cell(c.Name), timeCell(c.DeletedAt), timeCell(c.PurgeAfter), cell(c.Description)}
	})
}
