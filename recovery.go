package vault

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Operations: a recovery window for deletes, orphans and the access log's
// retention.

const (
	// MinRecoveryWindow and MaxRecoveryWindow bound a recovery window
	// ([WithRecoveryWindow], [Recoverable]).
	MinRecoveryWindow = time.Second
	MaxRecoveryWindow = 365 * 24 * time.Hour

	// DefaultOrphanGrace is the grace period of [OrphanFilter]: a
	// credential younger than this is never an orphan, so that a Store
	// whose id is about to be saved is left alone.
	DefaultOrphanGrace = time.Hour

	// MaxOrphanColumns is the largest number of referencing columns one
	// [OrphanFilter] may name.
	MaxOrphanColumns = 64

	// PruneBatchSize is the number of access-log rows
	// [Client.PruneAccessLog] examines per transaction.
	PruneBatchSize = 10_000
)

// purgeBatch is the number of credentials Purge and the orphan calls
// handle per transaction (the functions' maximum).
const purgeBatch = 1000

// recovery is the Client's state for the operations calls: the client's
// recovery window and their SQL, built once in New with the schema quoted.
type recovery struct {
	window time.Duration // 0: Delete removes at once

	qDeleteRecoverable, qDestroy, qRestore, qPurge, qListDeleted, qOrphans, qDeleteOrphans, qPrune string
}

func (r *recovery) init(schema string) {
	const meta = "id, namespace, name, description, version, expires_at, created_at, updated_at, last_retrieved_at"
	r.qDeleteRecoverable = "SELECT " + schema + ".credential_delete_recoverable($1, $2, $3)"
	r.qDestroy = "SELECT " + schema + ".credential_destroy($1, $2)"
	r.qRestore = "SELECT " + schema + ".credential_restore($1, $2)"
	r.qPurge = "SELECT id, purge_after, purged FROM " + schema + ".credential_purge($1, $2, $3, $4)"
	r.qListDeleted = "SELECT " + meta + ", deleted_at, purge_after FROM " + schema + ".credential_list_deleted($1, $2, $3, $4)"
	r.qOrphans = "SELECT " + meta + " FROM " + schema + ".credential_orphans($1, $2, $3, $4, $5, $6, $7, $8)"
	r.qDeleteOrphans = "SELECT " + meta + " FROM " + schema + ".credential_delete_orphans($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	r.qPrune = "SELECT last_id, examined, deleted FROM " + schema + ".prune_access_log($1, $2, $3)"
}

func checkWindow(d time.Duration) error {
	if d < MinRecoveryWindow || d > MaxRecoveryWindow {
		return fmt.Errorf("%w: a recovery window is between %v and %v, not %v", ErrInvalidArgument,
			MinRecoveryWindow, MaxRecoveryWindow, d)
	}
	return nil
}

// WithRecoveryWindow makes [Client.Delete] recoverable for d: a deleted
// credential keeps its Vault row and value, but Retrieve, Read, Rotate,
// Rollback, Refresh, Update, Lookup and the update path of Put treat it as
// an unknown id ([ErrNotFound]), and List shows it only with
// [ListFilter.Deleted], until [Client.Restore] brings it back (id, value
// and version unchanged) or, once d has passed, [Client.Purge] removes it
// with its Vault row. Meanwhile it keeps its name: Put of that name fails
// with [ErrPendingDeletion]. d is between [MinRecoveryWindow] and
// [MaxRecoveryWindow] (AWS Secrets Manager uses 7 to 30 days). Default: 0,
// no window: Delete removes the Vault row at once, as without this option.
// [Recoverable] and [WithoutRecovery] override it for one call.
func WithRecoveryWindow(d time.Duration) Option {
	return func(c *Client) error {
		if d != 0 {
			if err := checkWindow(d); err != nil {
				return err
			}
		}
		c.recovery.window = d
		return nil
	}
}

// DeleteOption adjusts one [Client.Delete] or [Client.DeleteOrphans]
// call: see [Recoverable] and [WithoutRecovery].
type DeleteOption interface {
	applyDelete(*deleteSettings) error
}

type deleteSettings struct {
	window    time.Duration
	windowSet bool
	permanent bool
}

type recoverable time.Duration

func (d recoverable) applyDelete(s *deleteSettings) error {
	if err := checkWindow(time.Duration(d)); err != nil {
		return err
	}
	s.window, s.windowSet = time.Duration(d), true
	return nil
}

type withoutRecovery struct{}

func (withoutRecovery) applyDelete(s *deleteSettings) error {
	s.permanent = true
	return nil
}

// Recoverable deletes into a recovery window of d for this call, whatever
// the client's [WithRecoveryWindow]:
//
//	err := creds.Delete(ctx, id, vault.Recoverable(7*24*time.Hour))
func Recoverable(d time.Duration) DeleteOption { return recoverable(d) }

// WithoutRecovery deletes for good, now, whatever the client's
// [WithRecoveryWindow] (AWS Secrets Manager's ForceDeleteWithoutRecovery,
// HashiCorp Vault's destroy). Given to [Client.Delete], it also removes a
// credential already deleted into its recovery window.
func WithoutRecovery() DeleteOption { return withoutRecovery{} }

// deleteMode resolves the options of one delete against the client's
// window: permanent, or the window to delete into (0: none).
func (c *Client) deleteMode(opts []DeleteOption) (permanent bool, window time.Duration, err error) {
	s := deleteSettings{window: c.recovery.window}
	for _, opt := range opts {
		if opt == nil {
			return false, 0, fmt.Errorf("%w: nil DeleteOption", ErrInvalidArgument)
		}
		if err := opt.applyDelete(&s); err != nil {
			return false, 0, err
		}
	}
	if s.permanent && s.windowSet {
		return false, 0, fmt.Errorf("%w: Recoverable and WithoutRecovery together", ErrInvalidArgument)
	}
	if s.permanent {
		return true, 0, nil
	}
	return false, s.window, nil
}

// deleteCall returns the statement and arguments of Delete.
func (c *Client) deleteCall(id uuid.UUID, opts []DeleteOption) (string, []any, error) {
	permanent, window, err := c.deleteMode(opts)
	switch {
	case err != nil:
		return "", nil, err
	case permanent:
		return c.qDestroy, []any{c.ns, id}, nil
	case window > 0:
		return c.qDeleteRecoverable, []any{c.ns, id, window}, nil
	}
	return c.qDelete, []any{c.ns, id}, nil
}

// Restore brings back a credential of the client's namespace deleted into
// its recovery window (see [WithRecoveryWindow]), with its id, value,
// version and name, and appends an access-log row (op "restore"). Restoring
// a credential that is not deleted changes nothing and returns nil, so a
// Restore may be retried.
//
// Errors: [ErrNotFound] (unknown id, another namespace's credential, or a
// recovery window that has ended, even before Purge ran),
// [ErrInvalidArgument] (nil id), [ErrPermissionDenied], [ErrNotMigrated].
func (c *Client) Restore(ctx context.Context, id uuid.UUID) error {
	return c.do(ctx, call{op: "restore", id: &id}, func() error {
		if err := checkID(id); err != nil {
			return err
		}
		return c.queryRow(ctx, nil, c.qRestore, c.ns, id)
	})
}

// PurgeOption adjusts one [Client.Purge] call: see [AllNamespaces].
type PurgeOption interface {
	applyPurge(*purgeSettings)
}

type purgeSettings struct{ allNamespaces bool }

type allNamespaces struct{}

func (allNamespaces) applyPurge(s *purgeSettings) { s.allNamespaces = true }

// AllNamespaces makes [Client.Purge] purge every namespace, not only the
// client's: for an operator's scheduled job.
func AllNamespaces() PurgeOption { return allNamespaces{} }

// Purge removes for good, with their Vault rows, the credentials of the
// client's namespace whose recovery window has ended, and returns how
// many it removed; each gets an access-log row (op "purge"). It works in
// transactions of up to 1000 credentials, so on error the returned count
// is what was removed before. A credential whose Vault row a foreign key of
// yours still references is skipped (see [ErrInUse]) and stays listed
// with [ListFilter.Deleted] until the reference is gone. Run it
// periodically (credvault purge does it from a scheduler).
//
// Errors: [ErrPermissionDenied], [ErrNotMigrated], [ErrConnection].
func (c *Client) Purge(ctx context.Context, opts ...PurgeOption) (int, error) {
	var s purgeSettings
	for _, opt := range opts {
		if opt != nil {
			opt.applyPurge(&s)
		}
	}
	ns := &c.ns
	if s.allNamespaces {
		ns = nil
	}
	type examined struct {
		id     uuid.UUID
		due    time.Time
		purged bool
	}
	n := 0
	err := c.do(ctx, call{op: "purge"}, func() error {
		var (
			afterDue *time.Time
			afterID  *uuid.UUID
		)
		for {
			rows, err := queryRows(ctx, c, func(row pgx.CollectableRow) (examined, error) {
				var e examined
				err := row.Scan(&e.id, &e.due, &e.purged)
				return e, err
			}, c.qPurge, ns, afterDue, afterID, purgeBatch)
			if err != nil {
				return err
			}
			for _, r := range rows {
				if r.purged {
					n++
				}
			}
			if len(rows) < purgeBatch {
				return nil
			}
			last := rows[len(rows)-1]
			afterDue, afterID = &last.due, &last.id
		}
	})
	return n, err
}

// listDeleted is List with filter.Deleted.
func (c *Client) listDeleted(ctx context.Context, f ListFilter) ([]Credential, error) {
	if f.Limit == 0 {
		f.Limit = 100
	}
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidArgument, MaxListLimit)
	}
	if !f.NotRotatedSince.IsZero() || !f.ExpiresBefore.IsZero() {
		return nil, fmt.Errorf("%w: Deleted lists by name only: NotRotatedSince and ExpiresBefore must be zero", ErrInvalidArgument)
	}
	var prefix, afterName *string
	if f.NamePrefix != "" {
		if err := validateText("name prefix", f.NamePrefix, 1, MaxNameSize); err != nil {
			return nil, err
		}
		prefix = &f.NamePrefix
	}
	if !f.After.IsZero() {
		if err := validateText("cursor name", f.After.name, 0, maxCursorName); err != nil {
			return nil, err
		}
		afterName = &f.After.name
	}
	return queryRows(ctx, c, func(row pgx.CollectableRow) (Credential, error) {
		var (
			r                     credentialRow
			deletedAt, purgeAfter time.Time
		)
		err := row.Scan(append(r.dest(), &deletedAt, &purgeAfter)...)
		cred := r.credential()
		cred.DeletedAt, cred.PurgeAfter = deletedAt, purgeAfter
		return cred, err
	}, c.qListDeleted, c.ns, prefix, afterName, f.Limit)
}

// Column names a column of a table of yours that holds credential ids,
// such as public.organization_integrations.vault_secret_id. The names are
// exact (they are quoted in SQL); [ParseColumn] reads the usual written
// form.
type Column struct {
	Schema, Table, Name string
}

// ParseColumn reads "schema.table.column". Each part is an identifier as
// PostgreSQL reads it: folded to lower case, or written in double quotes
// ("My Table", with "" for a quote) to be taken as is. The schema is
// required: the functions never resolve names through a search_path.
//
// Errors: [ErrInvalidArgument], which does not repeat s.
func ParseColumn(s string) (Column, error) {
	parts, ok := splitIdentifiers(s)
	if !ok || len(parts) != 3 {
		return Column{}, fmt.Errorf("%w: a referencing column is written schema.table.column", ErrInvalidArgument)
	}
	col := Column{Schema: parts[0], Table: parts[1], Name: parts[2]}
	if err := col.check(); err != nil {
		return Column{}, err
	}
	return col, nil
}

// String returns the column as schema.table.column, quoting the parts
// that need it, so that [ParseColumn] reads it back.
func (col Column) String() string {
	return quoteIfNeeded(col.Schema) + "." + quoteIfNeeded(col.Table) + "." + quoteIfNeeded(col.Name)
}

func (col Column) check() error {
	for _, p := range []struct{ what, name string }{{"schema", col.Schema}, {"table", col.Table}, {"column", col.Name}} {
		if p.name == "" || len(p.name) > 63 || strings.ContainsRune(p.name, 0) || !utf8.ValidString(p.name) {
			return fmt.Errorf("%w: a referencing column's %s name must be 1 to 63 bytes of UTF-8 without NUL", ErrInvalidArgument, p.what)
		}
	}
	return nil
}

// splitIdentifiers splits a dotted name into identifiers, unquoting quoted
// ones and folding the others to lower case (ASCII), as PostgreSQL does.
func splitIdentifiers(s string) ([]string, bool) {
	var parts []string
	for {
		var part strings.Builder
		if strings.HasPrefix(s, `"`) {
			s = s[1:]
			for {
				i := strings.IndexByte(s, '"')
				if i < 0 {
					return nil, false
				}
				part.WriteString(s[:i])
				s = s[i+1:]
				if !strings.HasPrefix(s, `"`) {
					break
				}
				part.WriteByte('"')
				s = s[1:]
			}
		} else {
			i := strings.IndexByte(s, '.')
			if i < 0 {
				i = len(s)
			}
			raw := s[:i]
			if strings.ContainsAny(raw, `" `) {
				return nil, false
			}
			for j := 0; j < len(raw); j++ {
				b := raw[j]
				if 'A' <= b && b <= 'Z' {
					b += 'a' - 'A'
				}
				part.WriteByte(b)
			}
			s = s[i:]
		}
		if part.Len() == 0 {
			return nil, false
		}
		parts = append(parts, part.String())
		if s == "" {
			return parts, true
		}
		if s[0] != '.' {
			return nil, false
		}
		s = s[1:]
	}
}

// quoteIfNeeded returns name bare when ParseColumn reads it back
// unchanged (lower case letters, digits and underscores, not starting with
// a digit), otherwise quoted.
func quoteIfNeeded(name string) string {
	bare := name != "" && !('0' <= name[0] && name[0] <= '9')
	for i := 0; i < len(name) && bare; i++ {
		b := name[i]
		bare = b == '_' || ('a' <= b && b <= 'z') || ('0' <= b && b <= '9')
	}
	if bare {
		return name
	}
	return quoteIdent(name)
}

// OrphanFilter selects what [Client.Orphans] and [Client.DeleteOrphans]
// look at.
type OrphanFilter struct {
	// ReferencedBy lists the uuid columns of your tables that hold
	// credential ids (1 to [MaxOrphanColumns]); a credential that none of
	// them holds is an orphan. Each must be a column of type uuid of an
	// ordinary or partitioned table that the functions' owner may read.
	// Index them: each credential costs one probe per column.
	ReferencedBy []Column
	// Grace leaves out credentials created less than Grace ago, so that
	// a Store whose id is on its way to your table is never an orphan.
	// Default (zero): [DefaultOrphanGrace], one hour.
	Grace time.Duration
	// AllNamespaces looks at every namespace, not only the client's.
	AllNamespaces bool
	// IncludeAdopted also looks at credentials the library did not
	// create: Vault secrets recorded in the default namespace because they
	// existed before (every credential recorded before this version's
	// migration counts as such) or were written by id. Vault also holds
	// other tools' secrets (Supabase Wrappers keep API keys there): check
	// the list before deleting with it.
	IncludeAdopted bool
}

// orphanArgs returns the arguments every orphan function takes first:
// namespace, schemas, tables, columns, grace, include_adopted.
func (c *Client) orphanArgs(f OrphanFilter) ([]any, error) {
	if len(f.ReferencedBy) == 0 || len(f.ReferencedBy) > MaxOrphanColumns {
		return nil, fmt.Errorf("%w: give 1 to %d referencing columns", ErrInvalidArgument, MaxOrphanColumns)
	}
	if f.Grace < 0 {
		return nil, fmt.Errorf("%w: a negative grace period", ErrInvalidArgument)
	}
	grace := f.Grace
	if grace == 0 {
		grace = DefaultOrphanGrace
	}
	n := len(f.ReferencedBy)
	schemas, tables, columns := make([]string, n), make([]string, n), make([]string, n)
	for i, col := range f.ReferencedBy {
		if err := col.check(); err != nil {
			return nil, err
		}
		schemas[i], tables[i], columns[i] = col.Schema, col.Table, col.Name
	}
	var ns *string
	if !f.AllNamespaces {
		ns = &c.ns
	}
	return []any{ns, schemas, tables, columns, grace, f.IncludeAdopted}, nil
}

// Orphans returns an iterator over the credentials that no column of
// f.ReferencedBy references: typically left by a Store whose id never
// reached your table (a crash or a lost connection between the two). It
// looks at live credentials of the client's namespace (or every namespace
// with f.AllNamespaces) created more than f.Grace ago, in id order, pages
// of 1000 at a time; an error is yielded once, last.
//
// It reads your tables with the rights of the functions' owner, so the
// client must run as that owner (no [WithRole]), which needs SELECT on the
// columns. Row-level security is turned off for the reads: a table whose
// policies would hide rows from the owner fails with
// [ErrPermissionDenied] rather than make its credentials look unreferenced
// (Supabase's postgres bypasses row-level security).
//
// Errors: [ErrInvalidArgument] (no columns, a column that does not exist,
// is not of type uuid or not in a table, a negative grace),
// [ErrPermissionDenied] (a client with WithRole, or a column the owner may
// not read), [ErrNotMigrated].
func (c *Client) Orphans(ctx context.Context, f OrphanFilter) iter.Seq2[Credential, error] {
	return pages(purgeBatch, func(last *Credential) ([]Credential, error) {
		var after *uuid.UUID
		if last != nil {
			after = &last.ID
		}
		var page []Credential
		err := c.do(ctx, call{op: "orphans"}, func() error {
			args, err := c.orphanArgs(f)
			if err != nil {
				return err
			}
			page, err = queryRows(ctx, c, scanCredential, c.qOrphans, append(args, after, purgeBatch)...)
			return err
		})
		return page, err
	})
}

// DeleteOrphans deletes the credentials [Client.Orphans] would yield for
// f, each in the same statement that finds it unreferenced, and returns
// them. They are deleted as [Client.Delete] would with opts: into the
// client's recovery window when it has one (prefer one: a reference
// written by a transaction still in flight is not seen), [Recoverable] or
// [WithoutRecovery] for this call. It works in transactions of up to 1000
// credentials, so on error the credentials returned are those deleted
// before. Credentials being written concurrently are skipped. Each
// deletion gets an access-log row (op "delete").
//
// Errors: those of Orphans.
func (c *Client) DeleteOrphans(ctx context.Context, f OrphanFilter, opts ...DeleteOption) ([]Credential, error) {
	var deleted []Credential
	err := c.do(ctx, call{op: "delete_orphans"}, func() error {
		args, err := c.orphanArgs(f)
		if err != nil {
			return err
		}
		_, window, err := c.deleteMode(opts)
		if err != nil {
			return err
		}
		var w *time.Duration
		if window > 0 {
			w = &window
		}
		var after *uuid.UUID
		for {
			page, err := queryRows(ctx, c, scanCredential, c.qDeleteOrphans, append(args, after, purgeBatch, w)...)
			if err != nil {
				return err
			}
			deleted = append(deleted, page...)
			if len(page) < purgeBatch {
				return nil
			}
			after = &page[len(page)-1].ID
		}
	})
	return deleted, err
}

func scanCredential(row pgx.CollectableRow) (Credential, error) {
	var r credentialRow
	err := row.Scan(r.dest()...)
	return r.credential(), err
}

// PruneAccessLog deletes the access-log rows older than before and
// returns how many it deleted. It walks the log in id order (ids follow
// time), [PruneBatchSize] rows per transaction, and stops at the first
// batch with nothing to delete, so that no transaction holds its row locks
// or delays vacuum for long and concurrent calls, which append to the log,
// never wait for it. After each batch that deleted rows it pauses as long
// as the batch took (at most a second), so that its writes (WAL, dirty
// pages, the checkpoints they bring) take at most about half of what the
// server can do and leave the rest to the calls: 10 million rows took
// 80 s on a busy 2-core machine. On a [pgx.Tx] every batch runs inside that transaction,
// without pauses. On error the returned count is what earlier batches
// deleted. Only the log's owner (the role that ran Migrate) may prune it:
// a client built with [WithRole] gets [ErrPermissionDenied].
//
// Errors: [ErrInvalidArgument] (zero before), [ErrPermissionDenied],
// [ErrNotMigrated], [ErrConnection].
func (c *Client) PruneAccessLog(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	err := c.do(ctx, call{op: "prune_access_log"}, func() error {
		if before.IsZero() {
			return fmt.Errorf("%w: zero time", ErrInvalidArgument)
		}
		_, inTx := c.db.(pgx.Tx)
		var after int64
		for {
			var (
				last              *int64
				examined, deleted int
			)
			start := time.Now()
			err := c.run(ctx, func(b *pgx.Batch) {
				b.Queue(c.qPrune, before, after, PruneBatchSize).QueryRow(func(r pgx.Row) error {
					return r.Scan(&last, &examined, &deleted)
				})
			})
			if err != nil {
				return err
			}
			total += int64(deleted)
			if last == nil || examined < PruneBatchSize || deleted == 0 {
				return nil
			}
			after = *last
			if !inTx {
				pause := time.NewTimer(min(time.Since(start), time.Second))
				select {
				case <-ctx.Done():
					pause.Stop()
					return ctx.Err()
				case <-pause.C:
				}
			}
		}
	})
	return total, err
}
