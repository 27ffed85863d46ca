package vault

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// MaxNamespaceSize is the largest namespace, in bytes, that
// [WithNamespace] accepts.
const MaxNamespaceSize = 256

// lifecycle is the Client's state for the lifecycle calls: their SQL,
// built once in New with the schema quoted, and the refreshes in flight.
type lifecycle struct {
	qPut, qLookup, qGet, qRead, qRollback, qUpdate, qRefreshBegin, qRefreshFinish, qRetrieveMany string

	refreshes *refreshGroup
}

func newLifecycle(schema string) lifecycle {
	const meta = "id, namespace, name, description, version, expires_at, created_at, updated_at, last_retrieved_at"
	return lifecycle{
		refreshes:      &refreshGroup{flights: map[uuid.UUID]*refreshFlight{}},
		qPut:           "SELECT " + meta + " FROM " + schema + ".credential_put($1, $2, $3, $4)",
		qLookup:        "SELECT " + meta + " FROM " + schema + ".credential_lookup($1, $2)",
		qGet:           "SELECT " + meta + " FROM " + schema + ".credential_get($1, $2)",
		qRead:          "SELECT " + meta + ", secret FROM " + schema + ".credential_read($1, $2)",
		qRollback:      "SELECT " + schema + ".credential_rollback($1, $2, NULL)",
		qUpdate:        "SELECT " + meta + " FROM " + schema + ".credential_update($1, $2, $3, $4, $5)",
		qRefreshBegin:  "SELECT refreshed, " + meta + ", secret FROM " + schema + ".credential_refresh_begin($1, $2)",
		qRefreshFinish: "SELECT " + meta + " FROM " + schema + ".credential_refresh_finish($1, $2, $3, $4)",
		qRetrieveMany:  "SELECT id, secret FROM " + schema + ".credential_retrieve_many($1, $2)",
	}
}

// WithNamespace scopes every call of the client to the namespace ns,
// typically the id of the organization the credentials belong to. Default:
// "", the default namespace. Credentials are stored and created in ns, and
// Retrieve, RetrieveMany, Read, Get, Rotate, Refresh, Rollback, Update,
// Delete, Restore, Lookup and List of a credential of another namespace
// behave exactly as for an unknown id: [ErrNotFound] (Delete: nothing to
// do), nothing changed, nothing revealed, no audit row. [Client.AccessLog]
// is the owner's and reads the rows of every namespace. ns may be at most [MaxNamespaceSize]
// bytes of valid UTF-8 without NUL bytes.
//
// Namespaces guard against passing one organization's credential id while
// working for another; they are not a privilege boundary between database
// roles (service_role may call every function).
func WithNamespace(ns string) Option {
	return func(c *Client) error {
		if err := validateText("namespace", ns, 0, MaxNamespaceSize); err != nil {
			return err
		}
		c.ns = ns
		return nil
	}
}

// Namespace returns the namespace the client's calls are scoped to (see
// [WithNamespace]).
func (c *Client) Namespace() string { return c.ns }

// RotateOption adjusts one [Client.Rotate] call; see [IfVersion].
type RotateOption interface {
	applyRotate(*rotateSettings) error
}

type rotateSettings struct {
	ifVersion *int64
}

// IfVersion makes a rotation check-and-set: it applies only if the
// credential is at version v (see [Credential.Version]); otherwise Rotate
// returns [ErrVersionMismatch] and nothing changes. v must be at least 1.
func IfVersion(v int64) RotateOption { return ifVersion(v) }

type ifVersion int64

func (v ifVersion) applyRotate(s *rotateSettings) error {
	if v < 1 {
		return fmt.Errorf("%w: IfVersion(%d): versions start at 1", ErrInvalidArgument, int64(v))
	}
	n := int64(v)
	s.ifVersion = &n
	return nil
}

func rotateOptions(opts []RotateOption) (*int64, error) {
	var s rotateSettings
	for _, opt := range opts {
		if opt == nil {
			return nil, fmt.Errorf("%w: nil RotateOption", ErrInvalidArgument)
		}
		if err := opt.applyRotate(&s); err != nil {
			return nil, err
		}
	}
	return s.ifVersion, nil
}

// Secret is a credential's value with its metadata, as [Client.Read] and
// [Client.Refresh] return it. Only the Value field reads the value: a
// Secret printed with any fmt verb, encoded as JSON, text or XML, or
// logged with slog shows "[REDACTED]" instead. (A Secret inside a struct
// field that fmt cannot reach, an unexported one, is printed by reflection:
// keep Secrets out of such structs.)
type Secret struct {
	Credential
	Value string
}

const redacted = "[REDACTED]"

// redactor is what a type holding a value implements so that printing,
// encoding or logging it never shows the value.
type redactor interface {
	fmt.Stringer
	fmt.GoStringer
	fmt.Formatter
	json.Marshaler
	slog.LogValuer
}

var (
	_ redactor = Secret{}
	_ redactor = ExportedCredential{}
)

// String returns the metadata and "[REDACTED]" for the value.
func (s Secret) String() string {
	return fmt.Sprintf("{ID:%s Namespace:%q Name:%q Version:%d Value:%s}", s.ID, s.Namespace, s.Name, s.Version, redacted)
}

// GoString returns Go syntax for s with the value redacted.
func (s Secret) GoString() string {
	return fmt.Sprintf("vault.Secret{Credential:%#v, Value:%q}", s.Credential, redacted)
}

// Format prints s redacted for every verb: %#v as GoString, %q quoted,
// anything else as String.
func (s Secret) Format(f fmt.State, verb rune) {
	formatRedacted(f, verb, s)
}

// formatRedacted prints v, whose String and GoString redact its value,
// for verb: %#v as GoString, %q quoted, anything else as String.
func formatRedacted(f fmt.State, verb rune, v interface {
	fmt.Stringer
	fmt.GoStringer
}) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = io.WriteString(f, v.GoString())
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(v.String()))
	default:
		_, _ = io.WriteString(f, v.String())
	}
}

// MarshalJSON encodes the metadata with "Value":"[REDACTED]".
func (s Secret) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Credential
		Value string
	}{s.Credential, redacted})
}

// MarshalText returns String, so that encoders using
// [encoding.TextMarshaler] (encoding/xml, encoding/gob, YAML) never see the
// value.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue logs the metadata with the value redacted.
func (s Secret) LogValue() slog.Value {
	return redactedLogValue(s.Credential)
}

// redactedLogValue logs c's id, namespace and name, then extra, then its
// version and "[REDACTED]" for the value.
func redactedLogValue(c Credential, extra ...slog.Attr) slog.Value {
	attrs := append([]slog.Attr{
		slog.String("id", c.ID.String()),
		slog.String("namespace", c.Namespace),
		slog.String("name", c.Name),
	}, extra...)
	return slog.GroupValue(append(attrs, slog.Int64("version", c.Version), slog.String("value", redacted))...)
}

// CredentialUpdate lists the metadata [Client.Update] changes; nil fields
// are left as they are.
type CredentialUpdate struct {
	// Name renames the credential; it must not be empty or taken by another
	// credential of the namespace.
	Name *string
	// Description replaces the description, here and in Vault.
	Description *string
	// ExpiresAt sets when the credential expires, for
	// [ListFilter.ExpiresBefore]; a pointer to the zero time removes the
	// expiry. Nothing expires by itself.
	ExpiresAt *time.Time
}

// Cursor is a position in a listing: the place after a credential, made by
// [Credential.Cursor] and given to [ListFilter.After]. The zero Cursor is
// the beginning. Its String form travels through URLs and command lines
// and is read back by [ParseCursor]; it holds the credential's id, name and
// expiry, never its value.
type Cursor struct {
	id        uuid.UUID
	name      string
	expiresAt time.Time
}

// Cursor returns the position after c in a listing.
func (c Credential) Cursor() Cursor {
	return Cursor{id: c.ID, name: c.Name, expiresAt: c.ExpiresAt}
}

// IsZero reports whether c is the beginning of a listing.
func (c Cursor) IsZero() bool { return c.id == uuid.Nil && c.name == "" && c.expiresAt.IsZero() }

const (
	cursorFormat = 1
	// maxCursorName bounds a cursor's name. Names made by this package are
	// at most MaxNameSize bytes, but a Vault secret named by other means
	// before the library was installed keeps its (longer) Vault name.
	maxCursorName = 64 << 10
)

// String encodes c as URL-safe base64 text; the zero Cursor is "".
func (c Cursor) String() string {
	if c.IsZero() {
		return ""
	}
	b := make([]byte, 0, 1+16+1+8+len(c.name))
	b = append(b, cursorFormat)
	b = append(b, c.id[:]...)
	if c.expiresAt.IsZero() {
		b = append(b, 0)
		b = binary.BigEndian.AppendUint64(b, 0)
	} else {
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(c.expiresAt.UnixMicro()))
	}
	b = append(b, c.name...)
	return base64.RawURLEncoding.EncodeToString(b)
}

// ParseCursor reads the String form of a [Cursor]; "" is the zero Cursor.
//
// Errors: [ErrInvalidArgument] when s is not a cursor.
func ParseCursor(s string) (Cursor, error) {
	if s == "" {
		return Cursor{}, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 1+16+1+8 || b[0] != cursorFormat || b[17] > 1 {
		return Cursor{}, fmt.Errorf("%w: not a listing cursor", ErrInvalidArgument)
	}
	var c Cursor
	copy(c.id[:], b[1:17])
	if b[17] == 1 {
		c.expiresAt = time.UnixMicro(int64(binary.BigEndian.Uint64(b[18:26])))
	}
	c.name = string(b[26:])
	if err := validateText("cursor name", c.name, 0, maxCursorName); err != nil {
		return Cursor{}, fmt.Errorf("%w: not a listing cursor", ErrInvalidArgument)
	}
	return c, nil
}

// credentialRow scans the metadata columns every lifecycle function returns.
type credentialRow struct {
	Credential
	expiresAt, lastRetrievedAt *time.Time
}

func (r *credentialRow) dest() []any {
	return []any{&r.ID, &r.Namespace, &r.Name, &r.Description, &r.Version, &r.expiresAt,
		&r.CreatedAt, &r.UpdatedAt, &r.lastRetrievedAt}
}

func (r *credentialRow) credential() Credential {
	cr := r.Credential
	if r.expiresAt != nil {
		cr.ExpiresAt = *r.expiresAt
	}
	if r.lastRetrievedAt != nil {
		cr.LastRetrievedAt = *r.lastRetrievedAt
	}
	return cr
}

// queryCredential runs one lifecycle function returning a credential's
// metadata (and, when value is not nil, its value) in one round trip.
func (c *Client) queryCredential(ctx context.Context, sql string, args []any, value **string) (Credential, error) {
	var row credentialRow
	err := c.run(ctx, func(b *pgx.Batch) {
		b.Queue(sql, args...).QueryRow(func(r pgx.Row) error {
			dest := row.dest()
			if value != nil {
				dest = append(dest, value)
			}
			return r.Scan(dest...)
		})
	})
	return row.credential(), err
}

// Put creates or updates the credential called name in the client's
// namespace: at most one credential per namespace and name exists, even
// when Puts of one name run concurrently from many processes or are retried
// after a lost connection. An update keeps the id, replaces value and
// description, and increases Version by one; a retried Put may increase
// it twice, with the same value. ExpiresAt is kept (see [Client.Update]).
// The Vault secret of a credential Put creates has no Vault name: its name
// lives in the library's bookkeeping, so that namespaces may share names.
//
// Errors: [ErrInvalidArgument] (empty or oversized name, oversized
// description or secret, invalid UTF-8 or NUL bytes), [ErrConflict] (the
// name kept being created and deleted concurrently; retry),
// [ErrPermissionDenied], [ErrNotMigrated], [ErrVaultUnavailable].
func (c *Client) Put(ctx context.Context, name, secret, description string) (Credential, error) {
	var cred Credential
	err := c.do(ctx, call{op: "put", id: &cred.ID, name: name}, func() error {
		if err := validateEntry(name, secret, description); err != nil {
			return err
		}
		var err error
		cred, err = c.queryCredential(ctx, c.qPut, []any{c.ns, name, secret, description}, nil)
		return err
	})
	if err != nil {
		return Credential{}, err
	}
	return cred, nil
}

// Lookup returns the metadata of the credential called exactly name in the
// client's namespace, never its value.
//
// Errors: [ErrNotFound], [ErrInvalidArgument], [ErrPermissionDenied],
// [ErrNotMigrated].
func (c *Client) Lookup(ctx context.Context, name string) (Credential, error) {
	return c.metadataCall(ctx, call{op: "lookup", name: name}, validateText("name", name, 1, MaxNameSize), c.qLookup, c.ns, name)
}

// Read decrypts and returns the credential with its metadata, and appends
// one row (op "read") to the access log in the same transaction, as
// [Client.Retrieve] does. The returned [Secret] prints redacted.
//
// Errors: [ErrNotFound] (also for another namespace's credential),
// [ErrPermissionDenied], [ErrDecryption], [ErrInvalidArgument] (nil id),
// [ErrNotMigrated], [ErrVaultUnavailable].
func (c *Client) Read(ctx context.Context, id uuid.UUID) (Secret, error) {
	var (
		s     Secret
		value *string
	)
	err := c.do(ctx, call{op: "read", id: &id}, func() error {
		if err := checkID(id); err != nil {
			return err
		}
		var err error
		if s.Credential, err = c.queryCredential(ctx, c.qRead, []any{c.ns, id}, &value); err != nil {
			return err
		}
		if value == nil {
			return ErrDecryption
		}
		return nil
	})
	if err != nil {
		return Secret{}, err
	}
	s.Value = *value
	return s, nil
}

// Get returns the metadata of the credential with the given id, never its
// value, in one round trip: it decrypts nothing and writes no access-log
// row (as AWS Secrets Manager's DescribeSecret). Use it to check that an id
// belongs to the client's namespace, or to read the current Version before
// a [Client.Rotate] with [IfVersion]. LastRetrievedAt is set.
//
// Errors: [ErrNotFound] (also for another namespace's credential),
// [ErrInvalidArgument] (nil id), [ErrPermissionDenied], [ErrNotMigrated]
// (also when the schema predates this call: run Migrate).
func (c *Client) Get(ctx context.Context, id uuid.UUID) (Credential, error) {
	return c.metadataCall(ctx, call{op: "get", id: &id}, checkID(id), c.qGet, c.ns, id)
}

// metadataCall is a call that reads one credential's metadata with sql and
// args, or fails with invalid, the result of validating its arguments,
// when that is not nil. A cl without id reports the credential's.
func (c *Client) metadataCall(ctx context.Context, cl call, invalid error, sql string, args ...any) (Credential, error) {
	var cred Credential
	if cl.id == nil {
		cl.id = &cred.ID
	}
	err := c.do(ctx, cl, func() error {
		if invalid != nil {
			return invalid
		}
		var err error
		cred, err = c.queryCredential(ctx, sql, args, nil)
		return err
	})
	if err != nil {
		return Credential{}, err
	}
	return cred, nil
}

// Rollback makes the credential's previous value current again, as its
// next version: after a rotation to a broken key, Rollback restores the
// key that worked. The previous value is the one before the last change of
// the value, kept as Vault ciphertext (never in plaintext), so a second
// Rollback returns to the value rolled back from.
//
// Errors: [ErrNotFound] (unknown id, another namespace's credential, or no
// previous value: the value never changed), [ErrDecryption],
// [ErrInvalidArgument] (nil id), [ErrPermissionDenied], [ErrNotMigrated],
// [ErrVaultUnavailable].
func (c *Client) Rollback(ctx context.Context, id uuid.UUID) error {
	return c.do(ctx, call{op: "rollback", id: &id}, func() error {
		if err := checkID(id); err != nil {
			return err
		}
		return c.queryRow(ctx, nil, c.qRollback, c.ns, id)
	})
}

// Update changes the metadata given in u (the fields that are not nil)
// without touching the value or Version, and returns the credential's
// metadata. A description is changed in Vault too, for the Supabase
// dashboard; a Vault name, which only credentials stored in the default
// namespace have, stays as Store set it.
//
// Errors: [ErrNotFound] (also for another namespace's credential),
// [ErrAlreadyExists] (the new name is taken in the namespace),
// [ErrInvalidArgument], [ErrPermissionDenied], [ErrNotMigrated].
func (c *Client) Update(ctx context.Context, id uuid.UUID, u CredentialUpdate) (Credential, error) {
	var cred Credential
	err := c.do(ctx, call{op: "update", id: &id}, func() error {
		err := checkID(id)
		if err == nil && u.Name != nil {
			err = validateText("name", *u.Name, 1, MaxNameSize)
		}
		if err == nil && u.Description != nil {
			err = validateText("description", *u.Description, 0, MaxDescriptionSize)
		}
		if err != nil {
			return err
		}
		var expires any
		if u.ExpiresAt != nil {
			if u.ExpiresAt.IsZero() {
				expires = pgtype.Timestamptz{InfinityModifier: pgtype.Infinity, Valid: true} // no expiry
			} else {
				expires = *u.ExpiresAt
			}
		}
		cred, err = c.queryCredential(ctx, c.qUpdate, []any{c.ns, id, u.Name, u.Description, expires}, nil)
		return err
	})
	if err != nil {
		return Credential{}, err
	}
	return cred, nil
}

// All returns an iterator over every credential that matches filter, in
// the order of [Client.List], fetching pages of filter.Limit (default 100)
// as it goes. Each credential is yielded once, even while others are added
// or deleted; those may or may not be yielded. An error is yielded once, as
// the last element:
//
//	for cred, err := range creds.All(ctx, vault.ListFilter{NamePrefix: "acme/"}) {
//		if err != nil { return err }
//		fmt.Println(cred.Name)
//	}
func (c *Client) All(ctx context.Context, filter ListFilter) iter.Seq2[Credential, error] {
	return pages(cmp.Or(filter.Limit, 100), func(last *Credential) ([]Credential, error) {
		if last != nil {
			filter.After = last.Cursor()
		}
		return c.List(ctx, filter)
	})
}

func (c *Client) listPage(ctx context.Context, f ListFilter) ([]Credential, error) {
	if f.Deleted {
		return c.listDeleted(ctx, f)
	}
	if f.Limit == 0 {
		f.Limit = 100
	}
	if f.Limit < 1 || f.Limit > MaxListLimit {
		return nil, fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidArgument, MaxListLimit)
	}
	var prefix, afterName *string
	if f.NamePrefix != "" {
		if err := validateText("name prefix", f.NamePrefix, 1, MaxNameSize); err != nil {
			return nil, err
		}
		prefix = &f.NamePrefix
	}
	var notRotatedSince, expiresBefore, afterExpires *time.Time
	if !f.NotRotatedSince.IsZero() {
		notRotatedSince = &f.NotRotatedSince
	}
	if !f.ExpiresBefore.IsZero() {
		expiresBefore = &f.ExpiresBefore
	}
	var afterID *uuid.UUID
	if !f.After.IsZero() {
		if err := validateText("cursor name", f.After.name, 0, maxCursorName); err != nil {
			return nil, err
		}
		switch {
		case expiresBefore == nil:
			afterName = &f.After.name
		case f.After.expiresAt.IsZero():
			return nil, fmt.Errorf("%w: with ExpiresBefore, After must be the cursor of a credential with an expiry", ErrInvalidArgument)
		default:
			afterExpires, afterID = &f.After.expiresAt, &f.After.id
		}
	}
	var creds []Credential
	err := c.run(ctx, func(b *pgx.Batch) {
		b.Queue(c.qList, c.ns, prefix, notRotatedSince, expiresBefore, afterName, afterExpires, afterID, f.Limit).
			Query(func(rows pgx.Rows) error {
				var err error
				creds, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Credential, error) {
					var r credentialRow
					err := row.Scan(r.dest()...)
					return r.credential(), err
				})
				return err
			})
	})
	return creds, err
}

// Refresh renews a credential that must be renewed at its provider, such
// as an OAuth token whose refresh token changes on every use, calling fn
// once per version of the credential however many goroutines and processes
// refresh it at the same time.
//
// Refresh locks the credential in a transaction (waiting, within ctx, while
// another refresh or write of it is in progress) and reads it. If its
// version moved on while Refresh waited, another caller has just renewed
// it: Refresh returns that value without calling fn. Otherwise it calls
// fn with the current value, still holding the lock, stores what fn
// returns as the next version and returns it. An error from fn changes
// nothing, releases the lock and is returned, wrapped; so is a panic
// (which propagates) after the transaction is rolled back. Concurrent
// Refresh calls of one credential on the same Client share one such call:
// they wait for it and return its value or its error, without touching
// the database, so a small pool does not make late callers renew again;
// when the sharing call failed because of its own context or a panic,
// they refresh themselves. Each refresh that reaches the database adds one
// access-log row (op "refresh").
//
// fn runs while a database connection and a row lock are held: give ctx a
// deadline, and keep fn to the provider call. When the connection is lost
// after fn returned, Refresh cannot tell whether the new value was stored
// ([ErrConnection]): the provider may already have retired the old token.
//
// On a pool Refresh takes two round trips, before and after fn. Inside a caller's transaction (a [Client] on a
// [pgx.Tx]) the lock is held until that transaction ends, and in a
// REPEATABLE READ or SERIALIZABLE transaction a concurrent refresh ends in
// [ErrConflict].
//
// Errors: [ErrNotFound] (also for another namespace's credential),
// [ErrInvalidArgument] (nil id or fn, or a value fn returned that Vault
// cannot hold), [ErrDecryption], [ErrTimeout], [ErrConflict],
// [ErrPermissionDenied], [ErrNotMigrated], [ErrVaultUnavailable], context
// errors, and fn's error.
func (c *Client) Refresh(ctx context.Context, id uuid.UUID, fn func(ctx context.Context, current Secret) (string, error)) (Secret, error) {
	var s Secret
	err := c.do(ctx, call{op: "refresh", id: &id}, func() error {
		var err error
		s, err = c.refresh(ctx, id, fn)
		return err
	})
	if err != nil {
		return Secret{}, err
	}
	return s, nil
}

// refreshGroup lets concurrent Refresh calls of one credential on one
// Client share a single refresh.
type refreshGroup struct {
	mu      sync.Mutex
	flights map[uuid.UUID]*refreshFlight
}

type refreshFlight struct {
	done  chan struct{}
	s     Secret
	err   error
	retry bool // the leader failed for reasons of its own: waiters refresh themselves
}

// join returns the flight of id and whether the caller leads it.
func (g *refreshGroup) join(id uuid.UUID) (*refreshFlight, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.flights[id]; ok {
		return f, false
	}
	f := &refreshFlight{done: make(chan struct{})}
	g.flights[id] = f
	return f, true
}

func (g *refreshGroup) leave(id uuid.UUID, f *refreshFlight) {
	g.mu.Lock()
	delete(g.flights, id)
	g.mu.Unlock()
	close(f.done)
}

func (c *Client) refresh(ctx context.Context, id uuid.UUID, fn func(context.Context, Secret) (string, error)) (Secret, error) {
	if err := checkID(id); err != nil {
		return Secret{}, err
	}
	if fn == nil {
		return Secret{}, fmt.Errorf("%w: nil refresh function", ErrInvalidArgument)
	}
	for {
		if err := ctx.Err(); err != nil {
			return Secret{}, err
		}
		f, leader := c.refreshes.join(id)
		if leader {
			return c.leadRefresh(ctx, id, fn, f)
		}
		select {
		case <-f.done:
			if !f.retry {
				return f.s, f.err
			}
		case <-ctx.Done():
			return Secret{}, ctx.Err()
		}
	}
}

// leadRefresh runs the refresh of flight f and hands its outcome to the
// callers waiting on it.
func (c *Client) leadRefresh(ctx context.Context, id uuid.UUID, fn func(context.Context, Secret) (string, error), f *refreshFlight) (s Secret, err error) {
	f.retry = true // until it returns normally: a panic makes the waiters refresh themselves
	defer c.refreshes.leave(id, f)
	s, err = c.refreshOnce(ctx, id, fn)
	f.s, f.err = s, err
	f.retry = err != nil && ctx.Err() != nil // this caller's context ended: not the others' business
	return s, err
}

// refreshOnce is one refresh in the database.
func (c *Client) refreshOnce(ctx context.Context, id uuid.UUID, fn func(context.Context, Secret) (string, error)) (Secret, error) {
	sess, err := c.beginSession(ctx)
	if err != nil {
		return Secret{}, err
	}
	ended := false
	defer func() {
		// Also when fn panics: the lock goes with the transaction.
		if !ended {
			sess.abort(ctx)
		}
		sess.release()
	}()

	var (
		cur       credentialRow
		refreshed bool
		value     *string
	)
	err = sess.send(ctx, c.sessionSettings(ctx, sess), func(b *pgx.Batch) {
		b.Queue(c.qRefreshBegin, c.ns, id).QueryRow(func(r pgx.Row) error {
			return r.Scan(append(append([]any{&refreshed}, cur.dest()...), &value)...)
		})
	})
	if err == nil && value == nil {
		err = ErrDecryption
	}
	if err != nil {
		return Secret{}, err
	}
	current := Secret{Credential: cur.credential(), Value: *value}
	if refreshed {
		if err := sess.finish(ctx, c, nil); err != nil {
			return Secret{}, err
		}
		ended = true
		return current, nil
	}

	next, err := fn(ctx, current)
	if err != nil {
		return Secret{}, &callerError{what: "refresh function", err: err}
	}
	if err := validateText("secret returned by the refresh function", next, 0, MaxSecretSize); err != nil {
		return Secret{}, err
	}
	var out credentialRow
	err = sess.finish(ctx, c, func(b *pgx.Batch) {
		b.Queue(c.qRefreshFinish, c.ns, id, current.Version, next).QueryRow(func(r pgx.Row) error {
			return r.Scan(out.dest()...)
		})
	})
	if err != nil {
		return Secret{}, err
	}
	ended = true
	return Secret{Credential: out.credential(), Value: next}, nil
}

// session is one transaction on one connection, for calls that span
// several round trips (Refresh). On a pool or an idle connection it is a
// transaction of its own, begun and committed inside the first and last
// batches; inside a caller's transaction it is a savepoint.
type session struct {
	conn interface {
		Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
		SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	}
	tx       pgx.Tx // set when the transaction came from DB.Begin
	begin    string // queued first in the first batch, if not ""
	end      string // queued last in the last batch, if not ""
	rollback string
	nested   bool // inside a caller's transaction: restore its role
	release  func()
	started  bool
}

const (
	qSessionSavepoint = "SAVEPOINT credvault_session"
	qSessionRelease   = "RELEASE SAVEPOINT credvault_session"
	qSessionRollback  = "ROLLBACK TO SAVEPOINT credvault_session; RELEASE SAVEPOINT credvault_session"
)

func (c *Client) beginSession(ctx context.Context) (*session, error) {
	own := func(conn *pgx.Conn, release func()) (*session, error) {
		if conn.PgConn().TxStatus() != 'I' {
			// In a transaction begun with plain SQL: stay inside it.
			if _, err := conn.Exec(ctx, qSessionSavepoint); err != nil {
				release()
				return nil, err
			}
			return &session{conn: conn, end: qSessionRelease, rollback: qSessionRollback, nested: true, release: release}, nil
		}
		return &session{conn: conn, begin: "BEGIN", end: "COMMIT", rollback: "ROLLBACK", release: release}, nil
	}
	switch db := c.db.(type) {
	case *pgxpool.Pool:
		pc, err := db.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		return own(pc.Conn(), pc.Release)
	case *pgxpool.Conn:
		return own(db.Conn(), func() {})
	case *pgx.Conn:
		return own(db, func() {})
	case pgx.Tx:
		// Its own round trip, as in run: a failure while pgx prepares the
		// batch must not abort the caller's transaction.
		if _, err := db.Exec(ctx, qSessionSavepoint); err != nil {
			return nil, err
		}
		return &session{conn: db, end: qSessionRelease, rollback: qSessionRollback, nested: true, release: func() {}}, nil
	default:
		tx, err := c.db.Begin(ctx)
		if err != nil {
			return nil, err
		}
		return &session{conn: tx, tx: tx, nested: true, release: func() {}}, nil
	}
}

// sessionSettings returns the settings statement of the session's first
// batch, as run queues it, and bounds lock waits by ctx's deadline in a
// transaction of the session's own.
func (c *Client) sessionSettings(ctx context.Context, s *session) func(*pgx.Batch) {
	return func(b *pgx.Batch) {
		c.queueSettings(b, s.nested)
		if deadline, ok := ctx.Deadline(); ok && !s.nested {
			// The server gives up waiting when the caller does, rather than
			// waiting on after the client dropped the connection.
			ms := max(time.Until(deadline).Milliseconds(), 1)
			b.Queue("SELECT pg_catalog.set_config('lock_timeout', $1, true)", strconv.FormatInt(ms, 10))
		}
	}
}

// send runs settings (first batch only) and queue in one round trip.
func (s *session) send(ctx context.Context, settings, queue func(*pgx.Batch)) error {
	b := &pgx.Batch{}
	if !s.started && s.begin != "" {
		b.Queue(s.begin)
	}
	s.started = true
	if settings != nil {
		settings(b)
	}
	queue(b)
	return s.conn.SendBatch(ctx, b).Close()
}

// finish runs queue, if not nil, and ends the session, in one round trip.
func (s *session) finish(ctx context.Context, c *Client, queue func(*pgx.Batch)) error {
	b := &pgx.Batch{}
	if queue != nil {
		queue(b)
	}
	if s.nested && c.role != "" {
		b.Queue(qRestoreRole)
	}
	if s.end != "" {
		b.Queue(s.end)
	}
	if b.Len() > 0 {
		if err := s.conn.SendBatch(ctx, b).Close(); err != nil {
			return err
		}
	}
	if s.tx != nil {
		return s.tx.Commit(ctx)
	}
	return nil
}

// abort rolls the session back, even after ctx ended. A connection broken
// by a cancelled wait fails here and is discarded by its pool.
func (s *session) abort(ctx context.Context) {
	ctx = context.WithoutCancel(ctx)
	if s.tx != nil {
		_ = s.tx.Rollback(ctx)
		return
	}
	if s.started || s.nested {
		_, _ = s.conn.Exec(ctx, s.rollback)
	}
}
