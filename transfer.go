package vault

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"iter"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Moving credentials to another database: the owner-only hooks that
// package github.com/credvault/vault/bundle builds its encrypted bundles
// on. This package knows nothing of files or encryption; it reads
// credentials out as a stream and re-creates a stream of them.

const (
	// DefaultExportPageSize is how many credentials one round trip of
	// [Client.Export] decrypts unless [ExportFilter.PageSize] says otherwise.
	DefaultExportPageSize = 500

	// MaxImportNameSize is the largest name and Vault name, in bytes, that
	// [Client.Import] accepts. It is above [MaxNameSize] because Vault
	// secrets made without this package may have longer names.
	MaxImportNameSize = 2048

	// MaxImportValueSize is the largest value and description, in bytes,
	// that [Client.Import] accepts. It is above [MaxSecretSize] because
	// Vault secrets made without this package may be larger.
	MaxImportValueSize = 1 << 20

	// importBatchSize and importBatchBytes bound one round trip of Import:
	// whichever is reached first sends the batch. Memory holds one batch.
	importBatchSize  = 200
	importBatchBytes = 4 << 20
)

// ExportFilter selects the credentials [Client.Export] reads.
type ExportFilter struct {
	// Namespaces lists the namespaces to export. Nil exports every
	// namespace, Vault secrets made without this package included (they
	// belong to the default namespace ""). A non-nil empty slice is an
	// error. The client's own namespace ([WithNamespace]) plays no part.
	Namespaces []string
	// PageSize is how many credentials one round trip decrypts, 1 to
	// [MaxListLimit]. Default: [DefaultExportPageSize]. Memory holds one
	// page at a time.
	PageSize int
}

// ExportedCredential is a credential as [Client.Export] reads it and
// [Client.Import] re-creates it: a [Secret] (metadata and value) and the
// Vault secret's own name. Like Secret, it never prints its value: every
// fmt verb, JSON, text encoders and slog show "[REDACTED]"; only the Value
// field reads it.
type ExportedCredential struct {
	Secret
	// VaultName is the Vault secret's own name (vault.secrets.name), which
	// the Supabase dashboard shows and SQL may look secrets up by; "" when
	// it has none. Store in the default namespace sets it; Put and the
	// other namespaces leave it empty.
	VaultName string
}

// String returns the metadata and "[REDACTED]" for the value.
func (e ExportedCredential) String() string {
	return fmt.Sprintf("{ID:%s Namespace:%q Name:%q VaultName:%q Version:%d Value:%s}",
		e.ID, e.Namespace, e.Name, e.VaultName, e.Version, redacted)
}

// GoString returns Go syntax for e with the value redacted.
func (e ExportedCredential) GoString() string {
	return fmt.Sprintf("vault.ExportedCredential{Secret:%#v, VaultName:%q}", e.Secret, e.VaultName)
}

// Format prints e redacted for every verb: %#v as GoString, %q quoted,
// anything else as String.
func (e ExportedCredential) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, e)
}

// MarshalJSON encodes the metadata with "Value":"[REDACTED]".
func (e ExportedCredential) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Credential
		VaultName string
		Value     string
	}{e.Credential, e.VaultName, redacted})
}

// MarshalText returns String, so that encoders using
// [encoding.TextMarshaler] never see the value.
func (e ExportedCredential) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// LogValue logs the metadata with the value redacted.
func (e ExportedCredential) LogValue() slog.Value {
	return redactedLogValue(e.Credential, slog.String("vault_name", e.VaultName))
}

// Export returns an iterator over the credentials filter selects, with
// their values, in id order, decrypting one page (filter.PageSize) per
// round trip and transaction. Every credential it yields has been recorded
// in the access log (op "export") by a committed transaction before it is
// yielded: a decryption never leaves the database unrecorded. Pages are
// chosen by keyset (the last id), so each costs the same however far the
// export has gone, and memory holds one page. An error is yielded once, as
// the last element.
//
// Export is for moving credentials to another database (see package
// github.com/credvault/vault/bundle, which encrypts them at once); it is
// executable by the owner only (the role that ran [Client.Migrate]): a
// client built with WithRole("service_role") gets [ErrPermissionDenied].
// Each credential is exported once; credentials stored or deleted while it
// runs may or may not be. It carries the metadata and the current value,
// not the previous value kept for [Client.Rollback] nor the access log.
//
// Errors: [ErrInvalidArgument] (empty Namespaces, an invalid namespace,
// PageSize out of range), [ErrDecryption] (a value that does not decrypt
// under this server's root key: nothing of that page is yielded),
// [ErrPermissionDenied], [ErrNotMigrated], [ErrConnection] and the other
// kinds of a failed call.
func (c *Client) Export(ctx context.Context, filter ExportFilter) iter.Seq2[ExportedCredential, error] {
	return func(yield func(ExportedCredential, error) bool) {
		size := filter.PageSize
		if size == 0 {
			size = DefaultExportPageSize
		}
		var after *uuid.UUID
		for {
			var page []ExportedCredential
			err := c.do(ctx, call{op: "export"}, func() error {
				if err := checkExportFilter(filter, size); err != nil {
					return err
				}
				var err error
				page, err = queryRows(ctx, c, scanExported, c.qExport, filter.Namespaces, after, size)
				return err
			})
			if err != nil {
				yield(ExportedCredential{}, err)
				return
			}
			// A credential deleted while its page was read is left out of
			// it, so only an empty page ends the export.
			if len(page) == 0 {
				return
			}
			for _, e := range page {
				if !yield(e, nil) {
					return
				}
			}
			last := page[len(page)-1].ID
			after = &last
		}
	}
}

func checkExportFilter(f ExportFilter, size int) error {
	if size < 1 || size > MaxListLimit {
		return fmt.Errorf("%w: export page size must be between 1 and %d", ErrInvalidArgument, MaxListLimit)
	}
	if f.Namespaces != nil && len(f.Namespaces) == 0 {
		return fmt.Errorf("%w: no namespace to export (nil exports every namespace)", ErrInvalidArgument)
	}
	for _, ns := range f.Namespaces {
		if err := validateText("namespace", ns, 0, MaxNamespaceSize); err != nil {
			return err
		}
	}
	return nil
}

func scanExported(row pgx.CollectableRow) (ExportedCredential, error) {
	var (
		e         ExportedCredential
		vaultName *string
		expiresAt *time.Time
	)
	err := row.Scan(&e.ID, &e.Namespace, &e.Name, &vaultName, &e.Description, &e.Version, &expiresAt,
		&e.CreatedAt, &e.UpdatedAt, &e.Value)
	if vaultName != nil {
		e.VaultName = *vaultName
	}
	if expiresAt != nil {
		e.ExpiresAt = *expiresAt
	}
	return e, err
}

// ColumnRef names a column of one of your tables that keeps credential ids,
// such as public.organization_integrations.vault_secret_id, for
// [ImportOptions.Remap]. The names are as stored in the catalog (unquoted
// names are lower case), without quotes.
type ColumnRef struct {
	Schema, Table, Column string
}

// ParseColumnRef reads "schema.table.column". Names containing dots cannot
// be written this way; build a ColumnRef instead.
//
// Errors: [ErrInvalidArgument] when s does not have three non-empty parts.
func ParseColumnRef(s string) (ColumnRef, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return ColumnRef{}, fmt.Errorf("%w: a column is written schema.table.column", ErrInvalidArgument)
	}
	r := ColumnRef{Schema: parts[0], Table: parts[1], Column: parts[2]}
	return r, r.check()
}

func (r ColumnRef) check() error {
	for _, p := range []struct{ what, name string }{{"schema", r.Schema}, {"table", r.Table}, {"column", r.Column}} {
		if err := checkIdentifier(p.what, p.name); err != nil {
			return err
		}
	}
	return nil
}

// String returns the column as schema.table.column, each name quoted when
// SQL would need it.
func (r ColumnRef) String() string {
	return pgx.Identifier{r.Schema, r.Table, r.Column}.Sanitize()
}

// ImportOptions adjust one [Client.Import].
type ImportOptions struct {
	// ExportID identifies the export the credentials come from, such as a
	// bundle's export id. Required. Each credential's pair (source id, new
	// id) is recorded under it, for [Client.ImportedIDs]; a credential in
	// several imported exports belongs to the last one.
	ExportID uuid.UUID
	// DryRun does all the work in a transaction that is rolled back, and
	// reports a taken name as [ImportConflict] rather than failing: the
	// results and the summary say what an import would do, and nothing is
	// written.
	DryRun bool
	// Remap lists the columns of your tables that keep credential ids
	// (uuid or text): once every credential is imported, in the same
	// transaction, each value that is the source id of an imported
	// credential (by this or an earlier import) becomes its new id.
	Remap []ColumnRef
	// OnResult, if not nil, is called with each credential's result, in
	// order, as the import goes; an error from it stops the import, which
	// then writes nothing. The results of an import are only final once
	// Import returns nil.
	OnResult func(ImportResult) error
}

// ImportOutcome is what [Client.Import] did with one credential.
type ImportOutcome string

const (
	// ImportCreated: the credential was created (in a dry run: would be).
	ImportCreated ImportOutcome = "created"
	// ImportExisting: an earlier import created it, and it still exists;
	// nothing changed.
	ImportExisting ImportOutcome = "existing"
	// ImportConflict (dry runs only): its name is taken in the namespace,
	// or its Vault name in Vault; a real import fails with
	// [ErrAlreadyExists].
	ImportConflict ImportOutcome = "conflict"
)

// ImportResult is what [Client.Import] did with one credential.
type ImportResult struct {
	SourceID  uuid.UUID // the credential's id in the database it was exported from
	ID        uuid.UUID // its id here; uuid.Nil in a dry run unless ImportExisting
	Namespace string
	Name      string
	Outcome   ImportOutcome
}

// ImportSummary counts what [Client.Import] did (in a dry run: would do).
type ImportSummary struct {
	Created, Existing, Conflicts int64
	Remapped                     []RemapCount // one per ImportOptions.Remap column, in order
	DryRun                       bool
}

// RemapCount is the number of rows of a column [Client.Import] rewrote.
type RemapCount struct {
	Column ColumnRef
	Rows   int64
}

// Import re-creates the credentials creds yields, which typically come
// from [Client.Export] on another database (through package bundle), in
// one transaction: each gets a new Vault secret through
// vault.create_secret (Vault chooses the new id), with its value, Vault
// name and description, and keeps its namespace, name, version, expiry,
// CreatedAt and UpdatedAt in the library's bookkeeping (Vault's own
// timestamps are the import's). The pair (source id, new id) is recorded
// in the database, never held in memory: memory holds one batch of
// credentials, whatever creds yields. Each credential created is audited
// (op "import").
//
// Import is idempotent: a credential whose source id an earlier import
// created, and which still exists, is reported as [ImportExisting] and left
// as it is (even if it changed since); one deleted since is created again.
// Imports into one schema run one at a time (an advisory lock).
//
// The transaction commits only after creds has ended without an error and
// the columns of opts.Remap are rewritten; an error from creds (a corrupt
// bundle), from a credential, from OnResult or from ctx rolls everything
// back and is returned, wrapped. Inside a transaction given to [New], the
// import is a savepoint of it. Import runs as the owner only (the role that
// ran Migrate).
//
// Credentials are validated before they are sent: a non-nil source id,
// namespace of at most [MaxNamespaceSize] bytes, name of 1 to
// [MaxImportNameSize] bytes, value and description of at most
// [MaxImportValueSize] bytes, valid UTF-8 without NUL bytes, Version at
// least 1, non-zero CreatedAt and UpdatedAt. The [*Error] of a failed
// credential carries its source id and name.
//
// Errors: [ErrAlreadyExists] (a name taken in its namespace, or a Vault
// name taken in Vault), [ErrInvalidArgument] (ExportID nil, a credential
// or a Remap column that cannot be imported or remapped),
// [ErrPermissionDenied], [ErrNotMigrated], [ErrVaultUnavailable],
// [ErrConnection] and the other kinds of a failed call, and the errors of
// creds and OnResult.
func (c *Client) Import(ctx context.Context, creds iter.Seq2[ExportedCredential, error], opts ImportOptions) (ImportSummary, error) {
	start := time.Now()
	sum := ImportSummary{DryRun: opts.DryRun}
	var failed ExportedCredential
	err := c.importAll(ctx, creds, opts, &sum, &failed)
	if err != nil {
		return ImportSummary{DryRun: opts.DryRun}, c.report(ctx, call{op: "import", id: &failed.ID, name: failed.Name}, start, err)
	}
	c.report(ctx, call{op: "import"}, start, nil)
	return sum, nil
}

// report logs a call that ran from start and ended with err, and returns
// err as an [*Error]: the end of every [Client.do], and of calls whose id
// or name is known only at the end.
func (c *Client) report(ctx context.Context, cl call, start time.Time, err error) error {
	var id uuid.UUID
	if cl.id != nil {
		id = *cl.id
	}
	if err == nil {
		c.logCall(ctx, cl.op, id, cl.name, time.Since(start), nil)
		return nil
	}
	e := newError(cl.op, id, cl.name, err)
	c.logCall(ctx, cl.op, id, cl.name, time.Since(start), e)
	return e
}

// importLockKey is the pg_advisory_xact_lock key that serializes imports
// into one schema: the FNV-1a 64-bit hash of
// "github.com/credvault/vault import:" followed by the schema name.
func importLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("github.com/credvault/vault import:" + schema))
	return int64(h.Sum64())
}

func checkImported(e ExportedCredential) error {
	if e.ID == uuid.Nil {
		return fmt.Errorf("%w: nil source id", ErrInvalidArgument)
	}
	if e.Version < 1 {
		return fmt.Errorf("%w: version %d: versions start at 1", ErrInvalidArgument, e.Version)
	}
	if e.CreatedAt.IsZero() || e.UpdatedAt.IsZero() {
		return fmt.Errorf("%w: zero creation or update time", ErrInvalidArgument)
	}
	for _, f := range []struct {
		what     string
		s        string
		min, max int
	}{
		{"namespace", e.Namespace, 0, MaxNamespaceSize},
		{"name", e.Name, 1, MaxImportNameSize},
		{"Vault name", e.VaultName, 0, MaxImportNameSize},
		{"description", e.Description, 0, MaxImportValueSize},
		{"secret", e.Value, 0, MaxImportValueSize},
	} {
		if err := validateText(f.what, f.s, f.min, f.max); err != nil {
			return err
		}
	}
	return nil
}

func (c *Client) importAll(ctx context.Context, creds iter.Seq2[ExportedCredential, error], opts ImportOptions,
	sum *ImportSummary, failed *ExportedCredential) error {
	if opts.ExportID == uuid.Nil {
		return fmt.Errorf("%w: ImportOptions.ExportID is required", ErrInvalidArgument)
	}
	if creds == nil {
		return fmt.Errorf("%w: nil credentials", ErrInvalidArgument)
	}
	for _, col := range opts.Remap {
		if err := col.check(); err != nil {
			return err
		}
	}
	sess, err := c.beginSession(ctx)
	if err != nil {
		return err
	}
	ended := false
	defer func() {
		if !ended {
			sess.abort(ctx)
		}
		sess.release()
	}()
	err = sess.send(ctx, c.sessionSettings(ctx, sess), func(b *pgx.Batch) {
		b.Queue("SELECT pg_catalog.pg_advisory_xact_lock($1)", importLockKey(c.schema))
	})
	if err != nil {
		return err
	}

	batch := make([]ExportedCredential, 0, importBatchSize)
	batchBytes := 0
	results := make([]ImportResult, importBatchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		failedAt := -1
		err := sess.send(ctx, nil, func(b *pgx.Batch) {
			for i, e := range batch {
				var expires *time.Time
				if !e.ExpiresAt.IsZero() {
					expires = &e.ExpiresAt
				}
				var vaultName *string
				if e.VaultName != "" {
					vaultName = &e.VaultName
				}
				b.Queue(c.qImport, opts.ExportID, e.ID, e.Namespace, e.Name, vaultName, e.Description, e.Value,
					e.Version, expires, e.CreatedAt, e.UpdatedAt, opts.DryRun).
					QueryRow(func(row pgx.Row) error {
						var (
							id      *uuid.UUID
							outcome string
						)
						if err := row.Scan(&id, &outcome); err != nil {
							failedAt = i
							return err
						}
						r := ImportResult{SourceID: e.ID, Namespace: e.Namespace, Name: e.Name, Outcome: ImportOutcome(outcome)}
						if id != nil && !(opts.DryRun && r.Outcome == ImportCreated) {
							r.ID = *id // a dry run's new ids are rolled back: do not show them
						}
						results[i] = r
						return nil
					})
			}
		})
		if err != nil {
			if failedAt >= 0 {
				*failed = batch[failedAt]
			}
			return err
		}
		for _, r := range results[:len(batch)] {
			switch r.Outcome {
			case ImportCreated:
				sum.Created++
			case ImportExisting:
				sum.Existing++
			case ImportConflict:
				sum.Conflicts++
			}
			if opts.OnResult != nil {
				if err := opts.OnResult(r); err != nil {
					return err
				}
			}
		}
		clear(batch)
		batch, batchBytes = batch[:0], 0
		return nil
	}

	for e, err := range creds {
		if err != nil {
			return err
		}
		if err := checkImported(e); err != nil {
			*failed = e
			return err
		}
		batch = append(batch, e)
		batchBytes += len(e.Value) + len(e.Description) + len(e.Name)
		if len(batch) == importBatchSize || batchBytes >= importBatchBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}

	if len(opts.Remap) > 0 {
		sum.Remapped = make([]RemapCount, len(opts.Remap))
		err = sess.send(ctx, nil, func(b *pgx.Batch) {
			for i, col := range opts.Remap {
				sum.Remapped[i].Column = col
				b.Queue(c.qRemap, col.Schema, col.Table, col.Column).QueryRow(func(row pgx.Row) error {
					return row.Scan(&sum.Remapped[i].Rows)
				})
			}
		})
		if err != nil {
			return err
		}
	}
	if opts.DryRun {
		return nil // the deferred abort rolls everything back
	}
	if err := sess.finish(ctx, c, nil); err != nil {
		return err
	}
	ended = true
	return nil
}

// ImportedID is one credential of an import: its id in the database it
// was exported from and here.
type ImportedID struct {
	SourceID  uuid.UUID
	ID        uuid.UUID
	Namespace string // "" and Name "" too when the credential was deleted since
	Name      string
}

// ImportedIDs returns an iterator over the credentials that the import
// of exportID (see [ImportOptions.ExportID]) created or found, in source id
// order, read from the database a page of 1000 at a time: the mapping of
// old to new ids, however large. An error is yielded once, as the last
// element. Owner only, as [Client.Import].
//
// Errors: [ErrInvalidArgument] (nil exportID), [ErrPermissionDenied],
// [ErrNotMigrated], and the other kinds of a failed call.
func (c *Client) ImportedIDs(ctx context.Context, exportID uuid.UUID) iter.Seq2[ImportedID, error] {
	const limit = MaxListLimit
	return pages(limit, func(last *ImportedID) ([]ImportedID, error) {
		var after *uuid.UUID
		if last != nil {
			after = &last.SourceID
		}
		var page []ImportedID
		err := c.do(ctx, call{op: "imported_ids", id: &exportID}, func() error {
			if exportID == uuid.Nil {
				return fmt.Errorf("%w: nil export id", ErrInvalidArgument)
			}
			var err error
			page, err = queryRows(ctx, c, func(row pgx.CollectableRow) (ImportedID, error) {
				var (
					m        ImportedID
					ns, name *string
				)
				err := row.Scan(&m.SourceID, &m.ID, &ns, &name)
				if ns != nil {
					m.Namespace = *ns
				}
				if name != nil {
					m.Name = *name
				}
				return m, err
			}, c.qImportedIDs, exportID, after, limit)
			return err
		})
		return page, err
	})
}

// transfer holds the SQL of the transfer calls, built once in New.
type transfer struct {
	qExport, qImport, qRemap, qImportedIDs string
}

func newTransfer(schema string) transfer {
	return transfer{
		qExport:      "SELECT * FROM " + schema + ".export_credentials($1, $2, $3)",
		qImport:      "SELECT id, outcome FROM " + schema + ".import_credential($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
		qRemap:       "SELECT " + schema + ".remap_credential_references($1, $2, $3)",
		qImportedIDs: "SELECT * FROM " + schema + ".list_credential_imports($1, $2, $3)",
	}
}
