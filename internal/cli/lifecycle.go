package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/credvault/vault"
)

// The lifecycle commands: put, lookup, read, rollback and update, over
// vault.Client's Put, Lookup, Get, Read, Rollback and Update. Like every
// credential command they work in --namespace.

var putCmd = &command{
	name:     "put",
	synopsis: "--name NAME [--description TEXT] [--file PATH] [--json]",
	summary:  "create or update the credential with an exact name; print its id and version",
	conn:     connRole,
	help: `
Reads the secret from standard input (or --file), as 'store' does, and
creates the credential called NAME in the namespace, or, when the namespace
has one, replaces its value and description as its next version, keeping
its id. There is at most one credential per namespace and name, even when
several puts of one name run at once or a put is retried. Prints the id and
the version, separated by a space (--json: the metadata), never the value.

Unlike 'store', which always creates a new credential (a taken name gets a
" #suffix"), put addresses a credential by a stable name, such as the
provider, per organization (--namespace):

  credvault put --namespace org_42 --name quickbooks < secret.txt
  read -r id version < <(credvault put --name acme/quickbooks --file key.pem)

The description is replaced too: pass --description on every put that
should keep one.`,
	setup: func(fs *flag.FlagSet) runFunc {
		in := namedSecretFlags(fs, "exact credential `name`, unique in the namespace, such as acme/quickbooks (required)",
			"`text` describing the credential; replaces the current description")
		asJSON := fs.Bool("json", false, "print the credential's metadata as JSON")
		return in.run(func(ctx context.Context, s *session, c *vault.Client, secret string) error {
			cred, err := c.Put(ctx, *in.name, secret, *in.desc)
			if err != nil {
				return err
			}
			if *asJSON {
				return writeJSON(s.io.Stdout, toCredentialJSON(cred))
			}
			_, err = fmt.Fprintf(s.io.Stdout, "%s %d\n", cred.ID, cred.Version)
			return err
		})
	},
}

var lookupCmd = &command{
	name:     "lookup",
	synopsis: "--name NAME | ID [--json]",
	summary:  "show one credential's metadata, by exact name or by id",
	conn:     connRole,
	args:     argsOwn,
	notFound: true,
	help: `
Prints the metadata of one credential of the namespace (id, namespace,
name, version, expiry, last change of the value, last retrieval,
description), never its value: the one called exactly NAME, or the one with
the given id. Nothing is decrypted and the access log gets no row. A
credential of another --namespace is not found (exit 4), as an unknown one.

  credvault lookup --namespace org_42 --name quickbooks
  credvault lookup 0b6f... --json`,
	setup: func(fs *flag.FlagSet) runFunc {
		name := fs.String("name", "", "exact credential `name` to look up")
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		return func(ctx context.Context, s *session, args []string) error {
			var (
				id  uuid.UUID
				err error
			)
			switch {
			case *name != "" && len(args) > 0:
				return usagef("pass either --name or a credential ID, not both")
			case *name == "":
				if id, err = idArg(args); err != nil {
					return usagef("pass --name NAME or one credential ID")
				}
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			var cred vault.Credential
			if *name != "" {
				cred, err = c.Lookup(ctx, *name)
			} else {
				cred, err = c.Get(ctx, id)
			}
			if err != nil {
				return err
			}
			return writeCredential(s, cred, *asJSON)
		}
	},
}

var readCmd = &command{
	name:     "read",
	synopsis: "ID [--force]",
	summary:  "decrypt a credential with its metadata, as JSON (not to a terminal)",
	conn:     connRole,
	args:     argsID,
	notFound: true,
	help: `
Decrypts the credential and writes it with its metadata as one JSON object
(the fields of 'credvault lookup --json' plus "value") to standard output,
which must be a pipe or a file unless --force is given: for scripts that
need the version along with the value, such as a rotation with
--if-version. Each read appends a row to the access log, as retrieve does.

  credvault read 0b6f... | jq -r .version`,
	setup: func(fs *flag.FlagSet) runFunc {
		force := fs.Bool("force", false, "write the secret even when standard output is a terminal")
		return func(ctx context.Context, s *session, args []string) error {
			if _, err := secretOutput(s.io, *force); err != nil { // refuse before anything is decrypted or logged
				return err
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			secret, err := c.Read(ctx, s.id)
			if err != nil {
				return err
			}
			return writeJSON(s.io.Stdout, struct {
				credentialJSON
				Value string `json:"value"`
			}{toCredentialJSON(secret.Credential), secret.Value})
		}
	},
}

var rollbackCmd = &command{
	name:     "rollback",
	synopsis: "ID",
	summary:  "make a credential's previous value current again, as a new version",
	conn:     connRole,
	args:     argsID,
	notFound: true,
	help: `
Makes the value before the credential's last change current again, as its
next version: after a rotation to a broken key, rollback restores the key
that worked. The previous value is kept encrypted, as Vault ciphertext; a
second rollback returns to the value rolled back from. A credential whose
value never changed has no previous value (exit 4).

  credvault rollback 0b6f...`,
	setup: func(fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, s *session, args []string) error {
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			return s.done(c.Rollback(ctx, s.id), "rolled back %s to its previous value", s.id)
		}
	},
}

var updateCmd = &command{
	name:     "update",
	synopsis: "ID [--name NAME] [--description TEXT] [--expires-at TIME | --no-expiry] [--json]",
	summary:  "change a credential's name, description or expiry, not its value",
	conn:     connRole,
	args:     argsID,
	notFound: true,
	help: `
Changes the metadata given (at least one flag), never the value or the
version, and prints the credential's metadata. A name taken by another
credential of the namespace is refused. --expires-at records when the
credential expires, for 'credvault list --expires-before' (nothing expires
by itself); --no-expiry removes it.

  credvault update 0b6f... --description "QuickBooks, production"
  credvault update 0b6f... --expires-at 2025-01-31T12:00:00Z
  credvault update 0b6f... --expires-at 55m`,
	setup: func(fs *flag.FlagSet) runFunc {
		name := fs.String("name", "", "rename the credential to `name`")
		desc := fs.String("description", "", "replace the description with `text` ('' clears it)")
		expiresAt := fs.String("expires-at", "", "set the expiry to `TIME` (RFC 3339, or an age from now: 55m, 30d)")
		noExpiry := fs.Bool("no-expiry", false, "remove the expiry")
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		return func(ctx context.Context, s *session, args []string) error {
			var u vault.CredentialUpdate
			if flagSet(fs, "name") {
				if *name == "" {
					return usagef("--name must not be empty")
				}
				u.Name = name
			}
			if flagSet(fs, "description") {
				u.Description = desc
			}
			switch {
			case flagSet(fs, "expires-at") && *noExpiry:
				return usagef("pass either --expires-at or --no-expiry, not both")
			case flagSet(fs, "expires-at"):
				t, err := parseTimeOrAge(*expiresAt, time.Now())
				if err != nil {
					return usagef("--expires-at: %v", err)
				}
				u.ExpiresAt = &t
			case *noExpiry:
				u.ExpiresAt = new(time.Time)
			}
			if u == (vault.CredentialUpdate{}) {
				return usagef("nothing to update: pass --name, --description, --expires-at or --no-expiry")
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			cred, err := c.Update(ctx, s.id, u)
			if err != nil {
				return err
			}
			return writeCredential(s, cred, *asJSON)
		}
	},
}

// writeCredential prints one credential's metadata: a one-row table, or a
// JSON object.
func writeCredential(s *session, cred vault.Credential, asJSON bool) error {
	if asJSON {
		return writeJSON(s.io.Stdout, toCredentialJSON(cred))
	}
	return writeCredentialsTable(s.io.Stdout, []vault.Credential{cred})
}

// flagSet reports whether the flag called name was given on the command
// line (even with its zero value).
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			found = true
		}
	})
	return found
}

// inNamespace words the session's namespace for messages, without
// repeating it.
func (s *session) inNamespace() string {
	if s.namespace == "" {
		return ""
	}
	return " in the namespace given with --namespace"
}
