package vault

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// DefaultSchema is the schema the credential functions and the access
	// log are installed in unless [WithSchema] says otherwise.
	DefaultSchema = "vault"

	// MaxSecretSize is the largest secret, in bytes, that Store and Rotate
	// accept. Credentials are small; PEM keys are a few kilobytes.
	MaxSecretSize = 64 << 10

	// MaxNameSize is the largest name, in bytes, that Store accepts.
	MaxNameSize = 256

	// MaxDescriptionSize is the largest description, in bytes, that Store
	// accepts.
	MaxDescriptionSize = 4 << 10
)

// DB is what a [Client] needs from its connection: [*pgxpool.Pool],
// [*pgx.Conn] and [pgx.Tx] all satisfy it. A pool is what services use; a
// transaction lets tests roll everything back.
type DB interface {
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

var (
	_ DB = (*pgxpool.Pool)(nil)
	_ DB = (*pgx.Conn)(nil)
	_ DB = pgx.Tx(nil)
)

// Client stores, retrieves, rotates and deletes credentials. A Client on a
// [*pgxpool.Pool] is safe for concurrent use by multiple goroutines; on a
// [*pgx.Conn] or a [pgx.Tx] it is as safe as that connection, that is, not.
type Client struct {
	db     DB
	schema string // unquoted
	role   string // unquoted; "" means the connection's own role
	logger *slog.Logger
	compat string // key file path for the compatibility layer; "" = off
	ns     string // namespace of every call; "" is the default one

	// SQL built once in New, with identifiers quoted.
	qStore, qRetrieve, qRotate, qDelete, qAccessLog, qList string
	lifecycle
	transfer
	recovery
}

// Option configures a [Client]. Options are applied in order by [New], which
// rejects invalid values.
type Option func(*Client) error

// WithSchema sets the schema holding the credential functions, the access
// log and the migration table. Default: [DefaultSchema] ("vault"). On
// Supabase, where postgres cannot create in schema vault, use a schema of
// your own such as "credentials"; keep it out of the schemas exposed by the
// API unless you mean to.
func WithSchema(name string) Option {
	return identifierOption("schema", name, func(c *Client) *string { return &c.schema })
}

// WithRole makes every call run as role (SET LOCAL ROLE, sent in the same
// round trip as the call). Default: none, the calls run as the connection's
// role. Use WithRole("service_role") when the service connects as postgres
// or as another role that is a member of service_role. A NOINHERIT login
// role (such as authenticator) also needs USAGE on the schema, because pgx
// prepares the call before the role switch runs; USAGE alone grants
// nothing else.
func WithRole(role string) Option {
	return identifierOption("role", role, func(c *Client) *string { return &c.role })
}

// identifierOption returns an Option that checks name as a PostgreSQL
// identifier of the kind what names ("schema", "role") and sets the field
// of the Client that field returns to it.
func identifierOption(what, name string, field func(*Client) *string) Option {
	return func(c *Client) error {
		if err := checkIdentifier(what, name); err != nil {
			return err
		}
		*field(c) = name
		return nil
	}
}

// WithLogger sets the logger that receives one record per call: at DEBUG
// for a success, at INFO, WARN or ERROR by kind for a failure (see the
// package's Logging section). Default: [slog.Default], whose INFO level
// shows failures only. Pass a logger with a discarding handler to silence
// it.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidArgument)
		}
		c.logger = l
		return nil
	}
}

// WithCompatVault lets [Client.Migrate] install the Vault compatibility
// layer when the supabase_vault extension is not installed. keyFile is the
// absolute path, on the database server, of a file holding the 256-bit root
// key as 64 hexadecimal characters; the server reads it on every use and it
// is never stored in the database. Default: off, and Migrate fails with
// [ErrVaultUnavailable] when Vault is missing. Installing the layer, or
// upgrading one an older version of this module installed, needs a
// superuser; see [InstallCompatVault].
func WithCompatVault(keyFile string) Option {
	return func(c *Client) error {
		if err := checkKeyFile(keyFile); err != nil {
			return err
		}
		c.compat = keyFile
		return nil
	}
}

// New returns a Client using db. It does no I/O: call [Client.Migrate] to
// install or upgrade the SQL.
func New(db DB, opts ...Option) (*Client, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil DB", ErrInvalidArgument)
	}
	if execMode(db) == pgx.QueryExecModeSimpleProtocol {
		return nil, fmt.Errorf("%w: the connection uses pgx.QueryExecModeSimpleProtocol, which puts secrets into "+
			"the SQL text that the server logs for failing statements; use pgx.QueryExecModeExec "+
			"(behind PgBouncer) or the default", ErrInvalidArgument)
	}
	c := &Client{db: db, schema: DefaultSchema, logger: slog.Default()}
	for _, opt := range opts {
		if err := opt(c); err != nil {
			return nil, err
		}
	}
	s := quoteIdent(c.schema)
	c.qStore = "SELECT " + s + ".credential_store($1, $2, $3, $4)"
	c.qRetrieve = "SELECT " + s + ".credential_retrieve($1, $2)"
	c.qRotate = "SELECT " + s + ".credential_rotate($1, $2, $3, $4)"
	c.qDelete = "SELECT " + s + ".credential_delete($1, $2)"
	c.qList = "SELECT * FROM " + s + ".credential_list($1, $2, $3, $4, $5, $6, $7, $8)"
	c.lifecycle = newLifecycle(s)
	c.transfer = newTransfer(s)
	c.recovery.init(s)
	c.qAccessLog = "SELECT id, secret_id, op, accessed_at, session_user_name, current_user_name, jwt_role, jwt_sub, " +
		"application_name, pg_catalog.host(client_addr) FROM " + s + ".vault_access_log " +
		"WHERE secret_id OPERATOR(pg_catalog.=) $1 " +
		"ORDER BY accessed_at DESC, id DESC LIMIT $2"
	return c, nil
}

// execMode returns the default query exec mode of db's connections, or -1
// when db is some other implementation of DB.
func execMode(db DB) pgx.QueryExecMode {
	switch db := db.(type) {
	case *pgxpool.Pool:
		return db.Config().ConnConfig.DefaultQueryExecMode
	case *pgx.Conn:
		return db.Config().DefaultQueryExecMode
	case *pgxpool.Conn:
		return db.Conn().Config().DefaultQueryExecMode
	case pgx.Tx:
		if conn := db.Conn(); conn != nil {
			return conn.Config().DefaultQueryExecMode
		}
	}
	return -1
}

// Schema returns the schema the client's functions live in.
func (c *Client) Schema() string { return c.schema }

// Store encrypts secret into Vault, in the client's namespace, and returns
// the new credential's id, the only thing your own tables should keep. name
// is a label for humans (for example "acme/quickbooks"); names need not be
// unique: when the namespace (or, in the default namespace, Vault) already
// has one, the stored name gets a random " #suffix". Use [Client.Put] to
// create or update by exact name. An empty secret is allowed, as in Vault.
//
// Errors: [ErrInvalidArgument] (empty or oversized name, oversized
// description or secret, invalid UTF-8 or NUL bytes), [ErrPermissionDenied],
// [ErrReadOnly], [ErrNotMigrated], [ErrVaultUnavailable].
func (c *Client) Store(ctx context.Context, name, secret, description string) (uuid.UUID, error) {
	var id uuid.UUID
	err := c.do(ctx, call{op: "store", id: &id, name: name}, func() error {
		if err := validateEntry(name, secret, description); err != nil {
			return err
		}
		return c.queryRow(ctx, &id, c.qStore, c.ns, name, secret, description)
	})
	if err != nil {
		return uuid.Nil, err
	}
	return id, nil
}

// Retrieve decrypts and returns the credential with the given id, and
// appends one row to the access log in the same transaction. Call it from
// server-side code when the integration runs, not per end-user request.
//
// Errors: [ErrNotFound] (also for another namespace's credential),
// [ErrPermissionDenied], [ErrDecryption],
// [ErrInvalidArgument] (nil id), [ErrReadOnly] (a read-only transaction or
// a hot standby: the access log is written), [ErrNotMigrated],
// [ErrVaultUnavailable].
func (c *Client) Retrieve(ctx context.Context, id uuid.UUID) (string, error) {
	var secret *string
	err := c.do(ctx, call{op: "retrieve", id: &id}, func() error {
		if err := checkID(id); err != nil {
			return err
		}
		if err := c.queryRow(ctx, &secret, c.qRetrieve, c.ns, id); err != nil {
			return err
		}
		if secret == nil {
			// Vault returns a NULL plaintext when its decryption yields nothing.
			return ErrDecryption
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return *secret, nil
}

// Rotate replaces the credential's value in place as its next version:
// the id stays, the ciphertext, Version and UpdatedAt change, and the
// previous value is kept for [Client.Rollback]. Readers see either the old
// or the new value, never a mix. With [IfVersion] the rotation applies only
// at that version (check-and-set).
//
// Errors: [ErrNotFound] (also for another namespace's credential),
// [ErrVersionMismatch], [ErrInvalidArgument], [ErrPermissionDenied],
// [ErrReadOnly], [ErrNotMigrated], [ErrVaultUnavailable].
func (c *Client) Rotate(ctx context.Context, id uuid.UUID, newSecret string, opts ...RotateOption) error {
	return c.do(ctx, call{op: "rotate", id: &id}, func() error {
		ifVersion, err := rotateOptions(opts)
		if err := cmp.Or(err, checkID(id), validateText("secret", newSecret, 0, MaxSecretSize)); err != nil {
			return err
		}
		return c.queryRow(ctx, nil, c.qRotate, c.ns, id, newSecret, ifVersion)
	})
}

// Delete removes the credential from Vault. It is idempotent: deleting an
// unknown id, or another namespace's credential (which stays), returns nil.
// With a recovery window ([WithRecoveryWindow], or [Recoverable] for this
// call) the credential is hidden instead, until [Client.Restore] or
// [Client.Purge]; a credential already hidden that way is, to Delete, an
// unknown id, except with [WithoutRecovery], which removes it now.
//
// Errors: [ErrInvalidArgument] (nil id, conflicting or out-of-range
// options), [ErrInUse] (a row of another table references the credential
// through a foreign key), [ErrPermissionDenied], [ErrReadOnly],
// [ErrNotMigrated].
func (c *Client) Delete(ctx context.Context, id uuid.UUID, opts ...DeleteOption) error {
	return c.do(ctx, call{op: "delete", id: &id}, func() error {
		sql, args, err := c.deleteCall(id, opts)
		if err := cmp.Or(checkID(id), err); err != nil {
			return err
		}
		return c.queryRow(ctx, nil, sql, args...)
	})
}

// call is one Client call as its envelope, do, reports it.
type call struct {
	op   string     // the operation: "store", "retrieve", ...
	id   *uuid.UUID // the credential's id when the call has one: its argument, or where Store puts the new one
	name string     // the credential's name (store); never a value
}

// do runs fn, the body of one Client call, which validates the arguments,
// queues the statement and scans the result. do times it, turns its error
// into an [*Error] of the kind classify finds, and logs one record, so
// every call is reported the same way whether it succeeded, failed or was
// refused before any round trip.
func (c *Client) do(ctx context.Context, cl call, fn func() error) error {
	start := time.Now()
	return c.report(ctx, cl, start, fn())
}

// queryRow runs sql, a call of one of the credential functions, and scans
// its one row into dest; a nil dest ignores the result.
func (c *Client) queryRow(ctx context.Context, dest any, sql string, args ...any) error {
	return c.run(ctx, func(b *pgx.Batch) {
		q := b.Queue(sql, args...)
		if dest != nil {
			q.QueryRow(func(row pgx.Row) error { return row.Scan(dest) })
		}
	})
}

// queryRows runs sql and collects every row it returns with scan.
func queryRows[T any](ctx context.Context, c *Client, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	var out []T
	err := c.run(ctx, func(b *pgx.Batch) {
		b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, scan)
			return err
		})
	})
	return out, err
}

// run sends the statements queued by queue in a single round trip, in a
// batch whose first statement keeps bind parameters out of the server's
// error log, makes the server plan them with generic plans (which hold no
// values for auto_explain to log) and switches to the client's role, if
// any. The statements of a
// batch share one implicit transaction, so these settings end with it and a
// failure anywhere rolls everything back.
//
// When db is a transaction, the batch runs inside a savepoint, taken one
// round trip before, and ends by restoring the caller's role: a failed call
// costs one more round trip to roll back to the savepoint, and leaves the
// caller's transaction usable.
func (c *Client) run(ctx context.Context, queue func(*pgx.Batch)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, inTx := c.db.(pgx.Tx)
	if inTx {
		// Its own round trip: pgx prepares a batch's statements before
		// running any, and a failure there must not abort the caller's
		// transaction.
		if _, err := c.db.Exec(ctx, qSavepoint); err != nil {
			return err
		}
	}
	b := &pgx.Batch{}
	c.queueSettings(b, inTx)
	queue(b)
	if inTx {
		b.Queue(qRestorePlanCacheMode)
		if c.role != "" {
			b.Queue(qRestoreRole)
		}
		b.Queue(qRelease)
	}
	err := c.db.SendBatch(ctx, b).Close()
	if err != nil && inTx {
		// The error stays the caller's; this only makes the transaction usable again.
		_, _ = c.db.Exec(context.WithoutCancel(ctx), qRollbackTo)
	}
	return err
}

// queueSettings queues the first statement of a call's batch (see
// qSettings). Inside a caller's transaction (nested) it also keeps the
// caller's plan_cache_mode and role for qRestorePlanCacheMode and
// qRestoreRole; elsewhere the settings end with the call's own
// transaction and there is nothing to restore.
func (c *Client) queueSettings(b *pgx.Batch, nested bool) {
	switch {
	case nested && c.role != "":
		b.Queue(qQuietErrorsAsRole, c.role)
	case nested:
		b.Queue(qQuietErrors)
	case c.role != "":
		b.Queue(qSettingsAsRole, c.role)
	default:
		b.Queue(qSettings)
	}
}

// The first statement of every call's batch. Besides keeping parameters out
// of error reports, it makes the transaction plan with generic plans: a
// custom plan folds bind parameters into constants, and auto_explain with
// log_verbose then logs the secret inside the plan of the call and, with
// log_nested_statements, inside the plans of the statements the credential
// functions and Vault run with it, whatever log_parameter_max_length says.
// A generic plan shows $1 instead. The caller's plan_cache_mode is kept in
// a transaction-local placeholder setting so that qRestorePlanCacheMode can
// put it back when db is a transaction.
const (
	// qSettings and qSettingsAsRole are the first statement of a call that
	// runs in a transaction of its own, where the settings end with the
	// call: unlike qQuietErrors and qQuietErrorsAsRole they keep nothing
	// for a restore, which saves the server two settings per call.
	qSettings = "SELECT pg_catalog.set_config('log_parameter_max_length_on_error', '0', true), " +
		"pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true)"
	qSettingsAsRole = qSettings + ", pg_catalog.set_config('role', $1, true)"

	qQuietErrors = "SELECT pg_catalog.set_config('log_parameter_max_length_on_error', '0', true), " +
		qGenericPlans

	// The caller's role is kept the same way, so that qRestoreRole can put
	// it back when db is a transaction, where releasing the savepoint would
	// otherwise keep the switched role.
	qQuietErrorsAsRole = "SELECT pg_catalog.set_config('log_parameter_max_length_on_error', '0', true), " +
		qGenericPlans + ", " +
		"pg_catalog.set_config('credvault.outer_role', pg_catalog.current_setting('role'), true), " +
		"pg_catalog.set_config('role', $1, true)"
	qRestoreRole = "SELECT pg_catalog.set_config('role', pg_catalog.current_setting('credvault.outer_role'), true)"

	qGenericPlans = "pg_catalog.set_config('credvault.outer_plan_cache_mode', pg_catalog.current_setting('plan_cache_mode'), true), " +
		"pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true)"
	qRestorePlanCacheMode = "SELECT pg_catalog.set_config('plan_cache_mode', " +
		"pg_catalog.current_setting('credvault.outer_plan_cache_mode'), true)"

	qSavepoint  = "SAVEPOINT credvault_call"
	qRelease    = "RELEASE SAVEPOINT credvault_call"
	qRollbackTo = "ROLLBACK TO SAVEPOINT credvault_call; RELEASE SAVEPOINT credvault_call"
)
