// Package vault keeps third-party integration credentials (API keys, OAuth
// client secrets, tokens) in Supabase Vault instead of plain columns.
//
// A [Client] gives Go services four calls, [Client.Store], [Client.Retrieve],
// [Client.Rotate] and [Client.Delete], each backed by a SECURITY DEFINER SQL
// function that only service_role may execute. Every successful retrieval is
// recorded in an append-only access log in the database, and every call,
// including denied and failed ones, is reported to a [log/slog] logger.
// Your tables keep only the id that Store returns.
//
// # Setup
//
// The SQL ships inside this module ([Migrations]) and is applied by
// [Client.Migrate], typically once at startup:
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	// handle err
//	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"))
//	// handle err
//	if err := creds.Migrate(ctx); err != nil { /* handle err */ }
//
//	id, err := creds.Store(ctx, "acme/quickbooks", apiKey, "QuickBooks OAuth client secret")
//	// save id in your organization_integrations row
//	secret, err := creds.Retrieve(ctx, id)
//
// Migrate runs as the connection's own role, not the one given with
// [WithRole]: that role owns the functions.
//
// On hosted Supabase and `supabase start`, the migration role postgres may
// not create objects in schema vault, so pass [WithSchema] with a schema of
// your own (the functions still use Vault in schema vault). On plain
// PostgreSQL without the supabase_vault extension, opt into the
// compatibility layer with [WithCompatVault].
//
// # Privileges
//
// The functions are SECURITY DEFINER, owned by the role that ran Migrate,
// with search_path pinned to pg_catalog, pg_temp. EXECUTE is revoked from
// PUBLIC, anon and authenticated and granted to service_role only, so end
// users reaching the database through PostgREST cannot call them even when
// the schema is exposed. [WithRole] makes every call run as a given role
// (SET LOCAL ROLE), which is how a service connected as postgres calls
// them as service_role. The access log can be read only by its owner.
//
// # Connections
//
// [New] accepts a [*pgxpool.Pool], a [*pgx.Conn] or a [pgx.Tx]. On a pool
// every call is one round trip; inside a transaction a call takes a
// savepoint first, so a failed call leaves the transaction usable. Behind a
// transaction-mode pooler (PgBouncer, Supavisor on port 6543) set
// ConnConfig.DefaultQueryExecMode to [pgx.QueryExecModeExec]. New refuses
// [pgx.QueryExecModeSimpleProtocol], which would put secrets into SQL text
// that the server logs for failing statements.
//
// # Lifecycle
//
// Store, Retrieve, Rotate and Delete address credentials by the id Store
// returns. Around them the package keeps each credential's metadata in its
// own indexed table next to Vault (namespace, name, description, version,
// expiry, timestamps) and offers the rest of a secret store's lifecycle:
//
//   - [WithNamespace] scopes a client to one namespace, typically an
//     organization: another namespace's credential is, to every call, an
//     unknown id. Clients without it use the default namespace "".
//   - [Client.Put] creates or updates the one credential with an exact name
//     in the namespace (at most one, even under concurrent Puts and
//     retries), [Client.Lookup] finds it by name, [Client.Read] returns its
//     value with its metadata as a [Secret], which never prints its value.
//   - Every change of the value makes a new [Credential.Version].
//     [IfVersion] makes [Client.Rotate] a check-and-set
//     ([ErrVersionMismatch]); [Client.Rollback] makes the previous value
//     current again, as a new version (the previous value is kept as Vault
//     ciphertext, never in plaintext).
//   - [Client.Refresh] renews a token at its provider once per version,
//     however many workers refresh it at once (see below).
//   - [Client.Update] changes name, description and expiry;
//     [ListFilter.ExpiresBefore] finds what to renew, [ListFilter.After]
//     and [Client.All] page through any number of credentials at a constant
//     cost per page.
//   - The access log ([Client.AccessLog]) records every successful
//     operation with its [AccessRecord.Op]: store, put, retrieve, read,
//     refresh, rotate, rollback, update, delete.
//
// The OAuth refresh pattern, for providers that rotate the refresh token on
// every use: fn runs once per version; concurrent callers wait and return
// its result.
//
//	token, err := creds.Refresh(ctx, id, func(ctx context.Context, cur vault.Secret) (string, error) {
//		return exchangeRefreshToken(ctx, cur.Value) // your call to the provider
//	})
//
// Vault names are unique across a database, so a namespace's names are
// kept in the library's table only: credentials created by Put or stored
// in a namespace other than the default one have no Vault name, and Store
// in the default namespace names the Vault secret as it always has.
// Vault secrets that existed when this version's migration was applied,
// and those created later without the library, belong to the default
// namespace: Retrieve, Read, Rotate and Delete reach them by id, Lookup and
// Put by their Vault name, and List shows them (the later ones once a
// write has recorded them). The original SQL functions
// (store_credential, retrieve_credential, rotate_credential,
// delete_credential) keep their behaviour and act on any namespace; the
// credential_* functions are the namespace-scoped SQL API.
//
// # Testing
//
// Package github.com/credvault/vault/vaulttest starts a throwaway
// PostgreSQL with Supabase's roles, Vault and these migrations for your own
// tests, and runs code as anon, authenticated or service_role with JWT
// claims, as PostgREST does.
//
// # Plaintext guard
//
// Migrate also installs a trigger that rejects rows holding what looks like
// a plaintext credential (API keys of common providers, private keys, JWTs,
// passwords in URLs, api_key= assignments) with SQLSTATE VA001, naming the
// column but never echoing the value. Attach it to each integration table
// once, as its owner:
//
//	SELECT credentials.guard_plaintext_credentials('public.organization_integrations');
//
// Migrate attaches it to public.organization_integrations itself when that
// table exists. Classify the rejected INSERT's error with [KindOf].
//
// # Errors
//
// Every method returns an [*Error] carrying the operation and the
// credential's id or name, never its value. Match its kind with [errors.Is]
// against [ErrNotFound], [ErrPermissionDenied], [ErrInvalidArgument],
// [ErrPlaintextCredential], [ErrDecryption], [ErrVaultUnavailable],
// [ErrNotMigrated], [ErrConnection], [ErrTimeout], [ErrConflict], [ErrSchemaNotWritable],
// [ErrMigrationChecksum], [ErrVersionMismatch] or [ErrAlreadyExists]; [IsRetryable] tells which failures may pass
// when the call is made again. Reach
// the server's [*pgconn.PgError] with [errors.As]. Context cancellation
// stays reachable as [context.Canceled] or [context.DeadlineExceeded].
//
// # Logging
//
// Each call is logged through the [*slog.Logger] given with [WithLogger]
// (default [slog.Default]) with its operation, credential id, outcome and
// duration; values are never logged. Each call also sets
// log_parameter_max_length_on_error = 0 for its transaction so a failing
// statement does not write the secret into the server log. Statement
// logging (log_statement = 'all' or 'mod', log_min_duration_statement)
// still logs bind parameters unless a superuser sets
// log_parameter_max_length = 0: [Client.Migrate] warns when the server
// would. Do not attach pgx tracers that log query arguments (tracelog) to
// the pool used here.
package vault

import (
	"context"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

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
	return func(c *Client) error {
		if err := checkIdentifier("schema", name); err != nil {
			return err
		}
		c.schema = name
		return nil
	}
}

// WithRole makes every call run as role (SET LOCAL ROLE, sent in the same
// round trip as the call). Default: none, the calls run as the connection's
// role. Use WithRole("service_role") when the service connects as postgres
// or as another role that is a member of service_role. A NOINHERIT login
// role (such as authenticator) also needs USAGE on the schema, because pgx
// prepares the call before the role switch runs; USAGE alone grants
// nothing else.
func WithRole(role string) Option {
	return func(c *Client) error {
		if err := checkIdentifier("role", role); err != nil {
			return err
		}
		c.role = role
		return nil
	}
}

// WithLogger sets the logger that receives one record per call. Default:
// [slog.Default]. Pass a logger with a discarding handler to silence it.
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
// [ErrVaultUnavailable] when Vault is missing. Installing the layer needs a
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
// [ErrNotMigrated], [ErrVaultUnavailable].
func (c *Client) Store(ctx context.Context, name, secret, description string) (uuid.UUID, error) {
	start := time.Now()
	var id uuid.UUID
	err := validateText("name", name, 1, MaxNameSize)
	if err == nil {
		err = validateText("description", description, 0, MaxDescriptionSize)
	}
	if err == nil {
		err = validateText("secret", secret, 0, MaxSecretSize)
	}
	if err == nil {
		err = c.call(ctx, c.qStore, []any{c.ns, name, secret, description}, &id)
	}
	if err != nil {
		e := newError("store", uuid.Nil, name, err)
		c.logCall(ctx, "store", uuid.Nil, name, start, e)
		return uuid.Nil, e
	}
	c.logCall(ctx, "store", id, name, start, nil)
	return id, nil
}

// Retrieve decrypts and returns the credential with the given id, and
// appends one row to the access log in the same transaction. Call it from
// server-side code when the integration runs, not per end-user request.
//
// Errors: [ErrNotFound] (also for another namespace's credential),
// [ErrPermissionDenied], [ErrDecryption],
// [ErrInvalidArgument] (nil id), [ErrNotMigrated], [ErrVaultUnavailable].
func (c *Client) Retrieve(ctx context.Context, id uuid.UUID) (string, error) {
	start := time.Now()
	var secret *string
	err := checkID(id)
	if err == nil {
		err = c.call(ctx, c.qRetrieve, []any{c.ns, id}, &secret)
	}
	if err == nil && secret == nil {
		// Vault returns a NULL plaintext when its decryption yields nothing.
		err = ErrDecryption
	}
	if err != nil {
		e := newError("retrieve", id, "", err)
		c.logCall(ctx, "retrieve", id, "", start, e)
		return "", e
	}
	c.logCall(ctx, "retrieve", id, "", start, nil)
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
// [ErrNotMigrated], [ErrVaultUnavailable].
func (c *Client) Rotate(ctx context.Context, id uuid.UUID, newSecret string, opts ...RotateOption) error {
	start := time.Now()
	ifVersion, err := rotateOptions(opts)
	if err == nil {
		err = checkID(id)
	}
	if err == nil {
		err = validateText("secret", newSecret, 0, MaxSecretSize)
	}
	if err == nil {
		err = c.call(ctx, c.qRotate, []any{c.ns, id, newSecret, ifVersion}, nil)
	}
	if err != nil {
		e := newError("rotate", id, "", err)
		c.logCall(ctx, "rotate", id, "", start, e)
		return e
	}
	c.logCall(ctx, "rotate", id, "", start, nil)
	return nil
}

// Delete removes the credential from Vault. It is idempotent: deleting an
// unknown id, or another namespace's credential (which stays), returns nil.
//
// Errors: [ErrInvalidArgument] (nil id), [ErrPermissionDenied],
// [ErrNotMigrated].
func (c *Client) Delete(ctx context.Context, id uuid.UUID) error {
	start := time.Now()
	err := checkID(id)
	if err == nil {
		err = c.call(ctx, c.qDelete, []any{c.ns, id}, nil)
	}
	if err != nil {
		e := newError("delete", id, "", err)
		c.logCall(ctx, "delete", id, "", start, e)
		return e
	}
	c.logCall(ctx, "delete", id, "", start, nil)
	return nil
}

// call runs one credential function and scans its result into dest, if
// not nil.
func (c *Client) call(ctx context.Context, sql string, args []any, dest any) error {
	return c.run(ctx, func(b *pgx.Batch) {
		q := b.Queue(sql, args...)
		if dest != nil {
			q.QueryRow(func(row pgx.Row) error { return row.Scan(dest) })
		}
	})
}

// run sends the statements queued by queue in a single round trip, in a
// batch whose first statement keeps bind parameters out of the server's
// error log and switches to the client's role, if any. The statements of a
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
	if c.role == "" {
		b.Queue(qQuietErrors)
	} else {
		b.Queue(qQuietErrorsAsRole, c.role)
	}
	queue(b)
	if inTx {
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

const (
	qQuietErrors = "SELECT pg_catalog.set_config('log_parameter_max_length_on_error', '0', true)"

	// The caller's role is kept in a transaction-local placeholder setting
	// so that qRestoreRole can put it back when db is a transaction, where
	// releasing the savepoint would otherwise keep the switched role.
	qQuietErrorsAsRole = "SELECT pg_catalog.set_config('log_parameter_max_length_on_error', '0', true), " +
		"pg_catalog.set_config('credvault.outer_role', pg_catalog.current_setting('role'), true), " +
		"pg_catalog.set_config('role', $1, true)"
	qRestoreRole = "SELECT pg_catalog.set_config('role', pg_catalog.current_setting('credvault.outer_role'), true)"

	qSavepoint  = "SAVEPOINT credvault_call"
	qRelease    = "RELEASE SAVEPOINT credvault_call"
	qRollbackTo = "ROLLBACK TO SAVEPOINT credvault_call; RELEASE SAVEPOINT credvault_call"
)

func checkID(id uuid.UUID) error {
	if id == uuid.Nil {
		return fmt.Errorf("%w: nil credential id", ErrInvalidArgument)
	}
	return nil
}

// validateText rejects what PostgreSQL text cannot hold (NUL bytes, invalid
// UTF-8) and sizes out of range, without echoing the value.
func validateText(field, s string, minLen, maxLen int) error {
	switch {
	case len(s) < minLen:
		return fmt.Errorf("%w: %s must not be empty", ErrInvalidArgument, field)
	case len(s) > maxLen:
		return fmt.Errorf("%w: %s is %d bytes, more than the %d allowed", ErrInvalidArgument, field, len(s), maxLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalidArgument, field)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return fmt.Errorf("%w: %s contains a NUL byte", ErrInvalidArgument, field)
		}
	}
	return nil
}
