package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/google/uuid"

	"github.com/credvault/vault"
	"github.com/credvault/vault/bundle"
)

// The export and import commands: moving credentials to another database
// in an age-encrypted bundle (package bundle).

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

var exportCmd = &command{
	name:     "export",
	synopsis: "[--namespace NS]... [--recipient AGE1...]... [--output FILE]",
	summary:  "decrypt credentials into an encrypted bundle, to move them to another database",
	conn:     connOwner,
	hint:     transferHint,
	help: `
Decrypts the credentials of the given namespaces (default: every namespace,
including Vault secrets made without credvault) and writes them, encrypted
with age, to --output or standard output, which must not be a terminal. With
--recipient (an age public key, repeatable) whoever holds a matching
identity can import it; without, a passphrase is asked for on the terminal,
twice, without echo. Nothing is written in plaintext. Each credential
exported is recorded in the access log (op export). Run it as the role that
ran migrate (postgres on Supabase); it takes no --role.

  age-keygen -o target.key        # on the machine that will import; prints the public key
  credvault export --schema credentials --recipient age1... --output credentials.age

The bundle holds every secret exported: move it to the target, import it
with 'credvault import', and delete it. A failed export removes --output.`,
	setup: func(fs *flag.FlagSet) runFunc {
		var namespaces, recipients listFlag
		fs.Var(&namespaces, "namespace", "export the namespace `NS` (repeatable; \"\" is the default namespace); default every namespace")
		fs.Var(&recipients, "recipient", "encrypt to the age public key `AGE1...` (repeatable); default a passphrase asked on the terminal")
		output := fs.String("output", "", "write the bundle to a new file at `path` (mode 0600; must not exist) instead of standard output")
		return func(ctx context.Context, s *session, args []string) error {
			var rcpts []age.Recipient
			for _, r := range recipients {
				parsed, err := age.ParseRecipients(strings.NewReader(r))
				if err != nil || len(parsed) != 1 {
					return usagef("--recipient must be an age public key (age1...)") // never repeated: it may be a private key
				}
				rcpts = append(rcpts, parsed[0])
			}
			// Where the bundle goes is settled before anything is decrypted.
			var (
				out     io.Writer = s.io.Stdout
				outFile *os.File
			)
			if *output == "" || *output == "-" {
				if f, ok := s.io.Stdout.(*os.File); ok && isTerminal(f) {
					return usagef("refusing to write the bundle to a terminal: pass --output FILE or redirect standard output")
				}
			}
			if len(rcpts) == 0 {
				r, err := passphraseKey(s, false, true, age.NewScryptRecipient)
				if err != nil {
					return err
				}
				rcpts = append(rcpts, r)
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}
			if *output != "" && *output != "-" {
				f, err := os.OpenFile(*output, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("cannot create the file given with --output: %w", pathless(err))
				}
				outFile, out = f, f
			}
			p := newProgress(s, "exporting", 0)
			sum, err := bundle.Export(ctx, c, out, rcpts, bundle.ExportOptions{
				Namespaces: nilIfEmpty(namespaces),
				Progress:   p.update,
			})
			p.done()
			if outFile != nil {
				if err == nil {
					err = outFile.Sync()
				}
				if cerr := outFile.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					_ = os.Remove(outFile.Name())
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(s.stderr(), "credvault: exported %d credentials (%d bytes, export id %s)\n",
				sum.Credentials, sum.Bytes, sum.Header.ExportID)
			return nil
		}
	},
}

var importCmd = &command{
	name:     "import",
	synopsis: "[--input FILE] [--identity FILE]... [--remap SCHEMA.TABLE.COLUMN]... [--dry-run] [--json]",
	summary:  "re-create the credentials of a bundle made by export",
	conn:     connOwner,
	hint:     transferHint,
	help: `
Decrypts a bundle made by 'credvault export' (from --input or standard
input) with the age identities of --identity files or, without, a passphrase
asked on the terminal, and re-creates every credential in Vault with its
namespace, name, description, expiry, version and timestamps. Vault gives
each a new id. --remap rewrites a column of your tables that keeps
credential ids (uuid or text, repeatable) from the old ids to the new ones.
All of it runs in one transaction, which commits only once the whole bundle
has been read and authenticated: a wrong identity or passphrase, a
truncated or tampered bundle, or one of a newer format writes nothing.

Importing the same bundle again creates nothing: credentials imported
before are reported as existing. A credential whose name is already taken
in the target fails the import; --dry-run lists such conflicts and what the
import would do, and writes nothing.

Prints the old and new id of each credential (SOURCE_ID, ID, NAMESPACE,
NAME, tab-separated, or JSON lines with --json) once committed; with
--dry-run, each credential's outcome (created, existing, conflict) as it
goes. Run it as the role that ran migrate (postgres on Supabase).

  credvault import --schema credentials --input credentials.age --identity target.key \
      --remap public.organization_integrations.vault_secret_id`,
	setup: func(fs *flag.FlagSet) runFunc {
		var identityFiles, remaps listFlag
		input := fs.String("input", "", "read the bundle from the file at `path` instead of standard input")
		fs.Var(&identityFiles, "identity", "decrypt with the age identities in the file at `path` (repeatable); default a passphrase asked on the terminal")
		fs.Var(&remaps, "remap", "rewrite the column `SCHEMA.TABLE.COLUMN` from old to new ids (repeatable)")
		dryRun := fs.Bool("dry-run", false, "say what the import would do, and write nothing")
		asJSON := fs.Bool("json", false, "print JSON lines instead of tab-separated lines")
		return func(ctx context.Context, s *session, args []string) error {
			var cols []vault.ColumnRef
			for _, r := range remaps {
				col, err := vault.ParseColumnRef(r)
				if err != nil {
					return usagef("--remap takes schema.table.column, such as public.organization_integrations.vault_secret_id")
				}
				cols = append(cols, col)
			}
			var ids []age.Identity
			for _, path := range identityFiles {
				parsed, err := readIdentities(path)
				if err != nil {
					return err
				}
				ids = append(ids, parsed...)
			}
			var (
				in   io.Reader = s.io.Stdin
				size int64
			)
			if *input != "" && *input != "-" {
				f, err := os.Open(*input)
				if err != nil {
					return fmt.Errorf("cannot open the file given with --input: %w", pathless(err))
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
					size = fi.Size()
				}
				in = f
			} else if f, ok := s.io.Stdin.(*os.File); ok && isTerminal(f) {
				return usagef("give the bundle with --input FILE or on standard input (not a terminal)")
			} else if in == nil {
				return usagef("no bundle: pass --input FILE")
			}
			if len(ids) == 0 {
				id, err := passphraseKey(s, *input == "" || *input == "-", false, age.NewScryptIdentity)
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			c, err := s.client(ctx)
			if err != nil {
				return err
			}

			out := bufio.NewWriter(s.io.Stdout)
			defer out.Flush()
			p := newProgress(s, "importing", size)
			opts := bundle.ImportOptions{DryRun: *dryRun, Remap: cols, Progress: p.update}
			if *dryRun {
				if !*asJSON {
					fmt.Fprintln(out, "OUTCOME\tSOURCE_ID\tID\tNAMESPACE\tNAME")
				}
				opts.OnResult = func(r vault.ImportResult) error {
					p.clear()
					return writeImportResult(out, r, *asJSON)
				}
			}
			sum, err := bundle.Import(ctx, c, in, ids, opts)
			p.done()
			if err != nil {
				return err
			}
			if *dryRun {
				if err := out.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(s.stderr(), "credvault: dry run, nothing written: %d to create, %d already imported, %d conflicts\n",
					sum.Created, sum.Existing, sum.Conflicts)
				for _, r := range sum.Remapped {
					fmt.Fprintf(s.stderr(), "credvault: %s: %d rows to rewrite\n", r.Column, r.Rows)
				}
				if sum.Conflicts > 0 {
					return fmt.Errorf("the import would fail: %d credentials have a name taken in the target", sum.Conflicts)
				}
				return nil
			}
			if !*asJSON {
				fmt.Fprintln(out, "SOURCE_ID\tID\tNAMESPACE\tNAME")
			}
			for m, err := range c.ImportedIDs(ctx, sum.Header.ExportID) {
				if err != nil {
					return fmt.Errorf("the import committed, but listing its ids failed: %w", err)
				}
				if err := writeImportedID(out, m, *asJSON); err != nil {
					return err
				}
			}
			if err := out.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(s.stderr(), "credvault: imported %d credentials: %d created, %d already imported (export id %s)\n",
				sum.Created+sum.Existing, sum.Created, sum.Existing, sum.Header.ExportID)
			for _, r := range sum.Remapped {
				fmt.Fprintf(s.stderr(), "credvault: %s: %d rows rewritten\n", r.Column, r.Rows)
			}
			return nil
		}
	},
}

// transferHint is the hint of export's and import's failures, in the
// commands' terms.
func transferHint(err error) string {
	switch {
	case errors.Is(err, bundle.ErrNoIdentity):
		return "the bundle was encrypted to another key or passphrase: pass the --identity file whose public key was given to export's --recipient"
	case errors.Is(err, bundle.ErrUnsupportedVersion):
		return "the bundle was made by a newer credvault: import it with that version or a later one"
	case errors.Is(err, bundle.ErrCorrupt), errors.Is(err, bundle.ErrNotBundle):
		return "nothing was imported; copy the bundle again from where export wrote it (a failed or interrupted export leaves no usable bundle)"
	case errors.Is(err, vault.ErrAlreadyExists):
		return "nothing was imported; a credential of the bundle has a name (or Vault name) already taken in the target: " +
			"run with --dry-run to list the conflicts, then rename or delete them in the target"
	case errors.Is(err, vault.ErrConnection):
		return "check --database-url and that the server is up, then run the command again: an import is one " +
			"transaction, and if it did commit, running it again creates nothing twice"
	case errors.Is(err, vault.ErrDecryption):
		return "a credential of the source does not decrypt under its server's root key: fix or delete it, or export the other namespaces"
	}
	return ""
}

func nilIfEmpty(l listFlag) []string {
	if len(l) == 0 {
		return nil
	}
	return l
}

// pathless drops the path from a file error: it may be anything typed in
// the wrong place.
func pathless(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readIdentities reads an age identity file. Its content is secret: errors
// never quote it, nor the path.
func readIdentities(path string) ([]age.Identity, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot open the file given with --identity: %w", pathless(err))
	}
	defer f.Close()
	ids, err := age.ParseIdentities(f)
	if err != nil {
		return nil, usagef("the file given with --identity is not an age identity file (AGE-SECRET-KEY-1... lines, as age-keygen writes)")
	}
	return ids, nil
}

// maxPassphrase bounds a passphrase read from the terminal.
const maxPassphrase = 4 << 10

// passphraseKey reads a passphrase (see readPassphrase) and returns the
// age key newKey makes of it: export's scrypt recipient, import's scrypt
// identity. An empty passphrase is a usage error.
func passphraseKey[K any](s *session, stdinBusy, confirm bool, newKey func(string) (K, error)) (K, error) {
	var key K
	pass, err := readPassphrase(s, stdinBusy, confirm)
	if err != nil {
		return key, err
	}
	if key, err = newKey(pass); err != nil {
		return key, usagef("the passphrase is empty")
	}
	return key, nil
}

// readPassphrase asks for a passphrase on the terminal, without echo, twice
// when confirm is set: on standard input when it is a terminal and not the
// bundle (stdinBusy), else on /dev/tty.
func readPassphrase(s *session, stdinBusy, confirm bool) (string, error) {
	var tty *os.File
	if f, ok := s.io.Stdin.(*os.File); ok && !stdinBusy && isTerminal(f) {
		tty = f
	} else {
		f, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
		if err != nil || !isTerminal(f) {
			if f != nil {
				_ = f.Close()
			}
			return "", usagef("a passphrase is asked on a terminal, and there is none: pass --recipient to export, --identity to import")
		}
		defer f.Close()
		tty = f
	}
	stderr := s.stderr()
	if echoes(tty) {
		restore, err := disableEcho(tty)
		if err != nil {
			return "", fmt.Errorf("cannot turn the terminal's echo off for the passphrase: %w", err)
		}
		defer restore()
	}
	r := bufio.NewReader(io.LimitReader(tty, 2*maxPassphrase+4))
	read := func(prompt string) (string, error) {
		fmt.Fprint(stderr, prompt)
		line, err := r.ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return "", usagef("no passphrase was entered")
		}
		line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
		if line == "" {
			return "", usagef("the passphrase is empty")
		}
		if len(line) > maxPassphrase {
			return "", usagef("the passphrase is longer than %d bytes", maxPassphrase)
		}
		return line, nil
	}
	pass, err := read("Passphrase: ")
	if err != nil {
		return "", err
	}
	if confirm {
		again, err := read("Passphrase (again): ")
		if err != nil {
			return "", err
		}
		if again != pass {
			return "", usagef("the passphrases differ")
		}
		if len(pass) < 12 {
			fmt.Fprintln(stderr, "credvault: warning: a short passphrase can be guessed offline by whoever gets the bundle; prefer --recipient with an age key")
		}
	}
	return pass, nil
}

// progress shows, on standard error when it is a terminal, how far an
// export or import has gone, at most ten times a second.
type progress struct {
	w     io.Writer // nil: not a terminal, nothing shown
	what  string
	total int64 // bytes of the bundle, when known
	last  time.Time
	shown bool
}

func newProgress(s *session, what string, total int64) *progress {
	p := &progress{what: what, total: total}
	if f, ok := s.io.Stderr.(*os.File); ok && isTerminal(f) {
		p.w = f
	}
	return p
}

func (p *progress) update(b bundle.Progress) {
	if p.w == nil || time.Since(p.last) < 100*time.Millisecond {
		return
	}
	p.last = time.Now()
	line := fmt.Sprintf("\r%s: %d credentials, %.1f MB", p.what, b.Credentials, float64(b.Bytes)/1e6)
	if p.total > 0 {
		line += fmt.Sprintf(" (%d%%)", b.Bytes*100/p.total)
	}
	fmt.Fprint(p.w, line+"\x1b[K")
	p.shown = true
}

// clear removes the progress line before other output to the terminal.
func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

func (p *progress) done() { p.clear() }

type importResultJSON struct {
	Outcome   string  `json:"outcome"`
	SourceID  string  `json:"source_id"`
	ID        *string `json:"id"`
	Namespace string  `json:"namespace"`
	Name      string  `json:"name"`
}

func writeImportResult(w io.Writer, r vault.ImportResult, asJSON bool) error {
	id := "-"
	var idp *string
	if r.ID != uuid.Nil {
		id = r.ID.String()
		idp = &id
	}
	if asJSON {
		return writeJSONLine(w, importResultJSON{Outcome: string(r.Outcome), SourceID: r.SourceID.String(), ID: idp,
			Namespace: r.Namespace, Name: r.Name})
	}
	_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", r.Outcome, r.SourceID, id, cell(r.Namespace), cell(r.Name))
	return err
}

type importedIDJSON struct {
	SourceID  string `json:"source_id"`
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
}

func writeImportedID(w io.Writer, m vault.ImportedID, asJSON bool) error {
	if asJSON {
		return writeJSONLine(w, importedIDJSON{SourceID: m.SourceID.String(), ID: m.ID.String(), Namespace: m.Namespace, Name: m.Name})
	}
	_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.SourceID, m.ID, cell(m.Namespace), cell(m.Name))
	return err
}

func writeJSONLine(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
