package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors: the kinds of error this package tells apart. Every error
// returned by a [Client] method is an [*Error] that matches at most one of
// them with [errors.Is]. The README's "Errors and SQLSTATEs" table lists
// each kind with its SQLSTATEs, whether [IsRetryable] accepts it and the
// level its calls are logged at; [Hint] says what to do about it.
var (
	// ErrNotFound means no credential has the given id (SQLSTATE P0002).
	ErrNotFound = errors.New("vault: credential not found")

	// ErrPermissionDenied means the role the call ran as may not do it
	// (SQLSTATE 42501 raised by the call itself; raised inside a credential
	// function, it is [ErrOwnerPrivilege]), for example a client built with
	// WithRole("authenticated"), or that the server refused the login
	// itself (class 28).
	ErrPermissionDenied = errors.New("vault: permission denied")

	// ErrOwnerPrivilege means the role that owns the credential functions
	// (the one that ran Migrate) lacks a privilege the call needed inside
	// them, typically on Vault: EXECUTE on vault._crypto_aead_det_decrypt,
	// SELECT on vault.decrypted_secrets (SQLSTATE 42501 raised inside a
	// credential function, after the caller was allowed to call it). A
	// grant was revoked, or lost in an upgrade; the caller is not at fault,
	// and `credvault doctor` lists what the owner lacks.
	ErrOwnerPrivilege = errors.New("vault: the credential functions' owner lacks a privilege")

	// ErrInvalidArgument means an argument was rejected before or by the
	// database: an empty or oversized name, a secret that is not valid UTF-8
	// or holds a NUL byte, a nil id (SQLSTATE class 22 but 22000, 23502,
	// and the other class 23 codes a constraint of yours on vault.secrets
	// raises), a value over a server limit (class 54), or a transaction given
	// to [New] that had already failed (25P02).
	ErrInvalidArgument = errors.New("vault: invalid argument")

	// ErrInUse means a row of another table still references the
	// credential through a foreign key to vault.secrets, so
	// [Client.Delete] could not remove it (SQLSTATE 23503, 23001). Delete or
	// clear that row first, in the same transaction.
	ErrInUse = errors.New("vault: credential is still referenced")

	// ErrPlaintextCredential means the plaintext guard rejected a row that
	// looked like it held a credential in clear (SQLSTATE VA001).
	ErrPlaintextCredential = errors.New("vault: plaintext credential rejected")

	// ErrDecryption means Vault could not decrypt the stored ciphertext
	// (SQLSTATE 22000), typically because the server runs with a different
	// root key than the one that encrypted it. It is neither a missing
	// credential nor a permission problem: do not retry.
	ErrDecryption = errors.New("vault: credential cannot be decrypted (wrong root key?)")

	// ErrVaultUnavailable means neither the supabase_vault extension nor the
	// compatibility layer is usable: Vault is not installed and
	// [WithCompatVault] was not given; the compatibility layer's root key
	// file is missing or malformed (SQLSTATE VA002); or schema vault, or
	// the schema of pgcrypto the layer would use, is owned by or open to a
	// role that is not a superuser (or, for schema vault, not the
	// supabase_vault extension's owner), so that trusting it would hand
	// secrets or the root key to that role.
	ErrVaultUnavailable = errors.New("vault: Supabase Vault is not available")

	// ErrSchemaNotWritable means [Client.Migrate] may not create objects in
	// the target schema. On Supabase the migration role postgres cannot
	// create in schema vault: pick another schema with [WithSchema]. It also
	// means the schema, or its credvault_migrations table, belongs to a
	// role other than the migrating one (or a superuser), which could
	// replace the functions or attach triggers to the table.
	ErrSchemaNotWritable = errors.New("vault: target schema is not writable by the migration role")

	// ErrNotMigrated means the credential functions do not exist in the
	// target schema, or not in the shape this module calls (SQLSTATE 42883,
	// 3F000, 42P01 and the rest of class 42 but 42501 and 42P05): run
	// [Client.Migrate] first, or check [WithSchema].
	ErrNotMigrated = errors.New("vault: credential functions not installed (run Migrate)")

	// ErrMigrationChecksum means an already applied migration differs from
	// the one embedded in this module, or the database has a migration this
	// module does not know. Migrations are never edited once shipped.
	ErrMigrationChecksum = errors.New("vault: applied migration does not match the embedded one")

	// ErrConnection means the call could not reach the database or lost its
	// connection before learning the outcome: connection refused or reset,
	// the server shutting down, restarting or starting up, or ending the
	// session (SQLSTATE class 08, class 57 but 57014, 25P03, 25P04), too many
	// connections (53300). A call that had reached the server may still have
	// taken effect. See [IsRetryable].
	ErrConnection = errors.New("vault: database connection failed")

	// ErrTimeout means the server cancelled the call before it took effect:
	// statement_timeout or a cancel request (SQLSTATE 57014), lock_timeout
	// (55P03). Nothing was changed and the connection is still usable.
	ErrTimeout = errors.New("vault: the server cancelled the call")

	// ErrConflict means the server aborted the call because of a concurrent
	// transaction: a serialization failure (SQLSTATE 40001, in a caller's
	// REPEATABLE READ or SERIALIZABLE transaction), a deadlock (40P01) or
	// another transaction rollback (class 40). Nothing was changed; the
	// call may be retried.
	ErrConflict = errors.New("vault: the call conflicted with a concurrent transaction")

	// ErrReadOnly means the call ran in a read-only transaction or on a hot
	// standby (SQLSTATE 25006). Store, Rotate and Delete write, and so does
	// Retrieve, which appends to the access log: send them to the primary,
	// in a read-write transaction. PostgREST runs GET rpc calls read-only.
	ErrReadOnly = errors.New("vault: the transaction is read-only")

	// ErrUnsupported means something between the client and the functions
	// does not support how the call was made: a transaction-mode pooler
	// that sent pgx's prepared statements to another server connection
	// (SQLSTATE 42P05, 26000), or a feature the server or pooler does not
	// support (class 0A). It is a configuration problem: see [New].
	ErrUnsupported = errors.New("vault: the connection does not support the call")

	// ErrServer means the database server could not do the call for a
	// reason of its own: it ran out of memory, disk or a configured limit
	// (SQLSTATE class 53 but 53300), or failed (class 58, class XX). See the
	// server's log.
	ErrServer = errors.New("vault: the database server failed the call")

	// ErrVersionMismatch means a check-and-set ([IfVersion]) found the
	// credential at another version than the one expected (SQLSTATE VA003).
	// Nothing was changed. It is not retryable as is: read the credential
	// again and decide with its current version.
	ErrVersionMismatch = errors.New("vault: credential version mismatch")

	// ErrAlreadyExists means the name is already used by another credential
	// of the namespace, for example by [Client.Update] (SQLSTATE 23505).
	ErrAlreadyExists = errors.New("vault: credential name already in use")

	// ErrPendingDeletion means the name belongs to a credential deleted
	// into its recovery window (SQLSTATE VA004; see [WithRecoveryWindow]):
	// [Client.Put] neither updates it nor creates a second credential
	// beside it, and [Client.Update] does not give its name to another.
	// [Client.Restore] it, or delete it for good with [WithoutRecovery],
	// or wait for [Client.Purge].
	ErrPendingDeletion = errors.New("vault: name held by a credential pending deletion")
)

// Error is the error type of every [Client] operation. It carries the
// operation and the credential's id or name, never its value, and unwraps to
// both its Kind and its cause, which is often a [*pgconn.PgError] or a
// context error:
//
//	var pgErr *pgconn.PgError
//	if errors.As(err, &pgErr) { log.Println(pgErr.Code) }
type Error struct {
	Op   string    // "store", "retrieve", "retrieve_many", "put", "read", "rotate", "refresh", "rollback", "update", "delete", "lookup", "list", "restore", "purge", "orphans", "delete_orphans", "access_log", "prune_access_log", "migrate", ...
	ID   uuid.UUID // the credential's id, when the call has one
	Name string    // the credential's name (store), or a migration's file; never a value
	Kind error     // one of the sentinels in this package, [context.Canceled], [context.DeadlineExceeded], or nil
	Err  error     // the cause
}

// Error returns "vault: <op> <id or name>: <what went wrong>", with the
// SQLSTATE when the server raised the error. It never includes the
// server's message or detail, which may quote input values.
func (e *Error) Error() string {
	msg := "vault: " + e.Op
	switch {
	case e.ID != uuid.Nil:
		msg += " " + e.ID.String()
	case e.Name != "":
		msg += fmt.Sprintf(" %q", e.Name)
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(e.Err, &pgErr):
		what := "database error"
		if e.Kind != nil {
			what = trimPrefix(e.Kind.Error())
		}
		var missing *MissingError
		if errors.As(e.Err, &missing) {
			what = trimPrefix(missing.Error())
		}
		return msg + ": " + what + " (SQLSTATE " + pgErr.Code + ")"
	case e.Err != nil:
		return msg + ": " + trimPrefix(e.Err.Error())
	case e.Kind != nil:
		return msg + ": " + trimPrefix(e.Kind.Error())
	}
	return msg
}

// Unwrap returns Kind and Err, whichever are set, so errors.Is and errors.As
// reach both.
func (e *Error) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

func trimPrefix(s string) string {
	const p = "vault: "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

// SQLSTATEs that have no pgerrcode constant: this module's own, and
// PostgreSQL 17's transaction_timeout.
const (
	codePlaintextCredential  = "VA001"
	codeCompatKeyUnavailable = "VA002"
	codeVersionMismatch      = "VA003"
	codePendingDeletion      = "VA004"
	codeTransactionTimeout   = "25P04"
)

// class returns the two-character class of a SQLSTATE; in kinds it stands
// for every code of the class that no kind names exactly.
func class(code string) string { return code[:2] }

// kind is one row of kinds: an error kind and everything this package does
// with it.
type kind struct {
	err     error      // the sentinel; errors.Is(err, this) gives the kind
	outcome string     // the "outcome" attribute of the call's log record
	level   slog.Level // the level of the call's log record
	// codes are the SQLSTATEs classified as this kind: exact codes, or
	// classes (see class). An exact code wins over a class.
	codes []string
	// match recognises errors that carry no SQLSTATE.
	match func(error) bool
	// refine claims a server error before its SQLSTATE is looked up, for a
	// kind that the SQLSTATE alone does not tell.
	refine func(*pgconn.PgError) bool
	// anyStatement means the kind says the same whichever statement failed
	// (a lost connection, a conflict, this module's own SQLSTATEs), so
	// KindOf gives it to driver errors from the caller's own statements.
	anyStatement bool
	retryable    bool   // IsRetryable accepts it
	hint         string // what to do, for Hint
}

// kinds is the one table of error kinds, in the order errors are matched
// against their sentinels: the caller's context first. Classification,
// [Error.Kind], the log record, [IsRetryable] and [Hint] read it (the
// credvault command through KindOf and Hint), and a test holds the
// README's table to it.
//
// Levels: a successful call is logged at DEBUG. Every failure is logged at
// INFO or above, because a failed call's access-log row, if any, was
// rolled back and the record is its only trace: INFO for outcomes the
// caller caused and handles (the returned error is the signal), WARN for
// security-relevant failures and for transient ones that may pass on
// retry (many of them need a look), ERROR for what an operator must fix
// before such calls can succeed.
var kinds = [...]kind{
	{
		err: context.Canceled, outcome: "canceled", level: slog.LevelInfo, anyStatement: true,
		hint: "the caller gave up (its context was canceled); a write cancelled in flight may still have committed",
	},
	{
		err: context.DeadlineExceeded, outcome: "deadline_exceeded", level: slog.LevelWarn, anyStatement: true, retryable: true,
		hint: "the call's context deadline passed before it finished: retry, or allow more time; " +
			"a Store that timed out in flight may have committed, look for it with List before storing again",
	},
	{
		err: ErrNotFound, outcome: "not_found", level: slog.LevelInfo,
		codes: []string{pgerrcode.NoDataFound},
		match: func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
		hint:  "no credential has this id: it was deleted, or the id kept in your table is wrong",
	},
	{
		err: ErrPermissionDenied, outcome: "permission_denied", level: slog.LevelWarn,
		codes: []string{pgerrcode.InsufficientPrivilege, class(pgerrcode.InvalidAuthorizationSpecification)},
		hint: "the role the call ran as may not do this. AccessLog and the other owner's calls (the access log, " +
			"export, import, orphans, pruning the log) belong to the role that ran Migrate: call them on a client without WithRole. " +
			"The credential functions are executable by service_role only: connect as a member of it " +
			"(postgres on Supabase) and run the calls as service_role (WithRole). A class 28 SQLSTATE means the server " +
			"refused the login itself",
	},
	{
		err: ErrOwnerPrivilege, outcome: "owner_privilege_missing", level: slog.LevelError,
		refine: deniedInsideFunction,
		hint: "the role that owns the credential functions (the one that ran Migrate) lacks a privilege they use, " +
			"typically on Vault (a grant revoked, or lost in an upgrade): have Vault's owner (supabase_admin, or a superuser) " +
			"grant it back to that role; the caller is not at fault, and retrying will not help",
	},
	{
		err: ErrInvalidArgument, outcome: "invalid_argument", level: slog.LevelInfo,
		codes: []string{
			class(pgerrcode.DataException), class(pgerrcode.IntegrityConstraintViolation),
			class(pgerrcode.ProgramLimitExceeded), pgerrcode.InFailedSQLTransaction,
		},
		hint: fmt.Sprintf("fix the input: a name of 1 to %d bytes, a secret of at most %d bytes, "+
			"valid UTF-8 without NUL bytes, a non-nil id; SQLSTATE 25P02 means the transaction the client "+
			"runs in had already failed: roll it back", MaxNameSize, MaxSecretSize),
	},
	{
		err: ErrAlreadyExists, outcome: "already_exists", level: slog.LevelInfo,
		codes: []string{pgerrcode.UniqueViolation},
		hint:  "another credential of the namespace has this name: choose another name, or Put to update that credential",
	},
	{
		err: ErrVersionMismatch, outcome: "version_mismatch", level: slog.LevelInfo, anyStatement: true,
		codes: []string{codeVersionMismatch},
		hint:  "the credential changed since the version you expected (IfVersion): read it again and decide with its current version",
	},
	{
		err: ErrPendingDeletion, outcome: "pending_deletion", level: slog.LevelInfo, anyStatement: true,
		codes: []string{codePendingDeletion},
		hint: "a credential deleted into its recovery window still holds the name: Restore it (List with Deleted " +
			"shows its id), or remove it for good with Delete and WithoutRecovery, before using the name again",
	},
	{
		err: ErrInUse, outcome: "in_use", level: slog.LevelInfo,
		codes: []string{pgerrcode.ForeignKeyViolation, pgerrcode.RestrictViolation},
		hint: "a row of your tables still references the credential through a foreign key to vault.secrets: " +
			"delete or clear that row first, in the same transaction as the delete",
	},
	{
		err: ErrPlaintextCredential, outcome: "plaintext_rejected", level: slog.LevelWarn, anyStatement: true,
		codes: []string{codePlaintextCredential},
		hint:  "store the value with Client.Store (or the SQL function store_credential) and keep only the returned id in your table",
	},
	{
		err: ErrDecryption, outcome: "decryption_failed", level: slog.LevelError,
		codes: []string{pgerrcode.DataException},
		hint: "the server runs with a different root key than the one that encrypted this credential " +
			"(after a restore or a key change): restore that key; retrying will not help",
	},
	{
		err: ErrVaultUnavailable, outcome: "vault_unavailable", level: slog.LevelError, anyStatement: true,
		codes: []string{codeCompatKeyUnavailable},
		hint: "install the supabase_vault extension, or on plain PostgreSQL install the compatibility layer " +
			"(WithCompatVault or InstallCompatVault, as a superuser) and check its root key file",
	},
	{
		err: ErrSchemaNotWritable, outcome: "schema_not_writable", level: slog.LevelError,
		hint: "the migration role may not create objects in the schema: choose one it may create in with WithSchema " +
			"(on Supabase, postgres cannot create in schema vault)",
	},
	{
		err: ErrNotMigrated, outcome: "not_migrated", level: slog.LevelError,
		codes: []string{
			pgerrcode.UndefinedFunction, pgerrcode.UndefinedTable, class(pgerrcode.InvalidSchemaName),
			class(pgerrcode.SyntaxErrorOrAccessRuleViolation),
		},
		hint: "the credential functions are not installed in this schema, or not in this module's version: " +
			"run Migrate, or give the schema you migrated with WithSchema",
	},
	{
		err: ErrMigrationChecksum, outcome: "migration_checksum", level: slog.LevelError,
		hint: "an applied migration differs from this module's, or the database is ahead of it: " +
			"upgrade the module; never edit a migration once applied",
	},
	{
		err: ErrConnection, outcome: "connection_failed", level: slog.LevelWarn, anyStatement: true, retryable: true,
		codes: []string{
			class(pgerrcode.ConnectionException), class(pgerrcode.OperatorIntervention), pgerrcode.TooManyConnections,
			pgerrcode.IdleInTransactionSessionTimeout, codeTransactionTimeout,
		},
		match: isConnectionFailure,
		hint: "the database could not be reached or dropped the connection: retry with backoff; " +
			"a Store that failed this way may have committed, look for it with List before storing again",
	},
	{
		err: ErrTimeout, outcome: "server_timeout", level: slog.LevelWarn, anyStatement: true, retryable: true,
		codes: []string{pgerrcode.QueryCanceled, pgerrcode.LockNotAvailable},
		hint:  "statement_timeout, lock_timeout or a cancel request stopped the call before it took effect: retry, or raise the timeout",
	},
	{
		err: ErrConflict, outcome: "conflict", level: slog.LevelWarn, anyStatement: true, retryable: true,
		codes: []string{class(pgerrcode.TransactionRollback)},
		hint:  "a concurrent transaction got in the way (serialization failure or deadlock): retry the whole transaction",
	},
	{
		err: ErrReadOnly, outcome: "read_only", level: slog.LevelError, anyStatement: true,
		codes: []string{pgerrcode.ReadOnlySQLTransaction},
		hint: "the call ran in a read-only transaction or on a hot standby, and every call but listing writes " +
			"(a retrieval appends to the access log): send it to the primary in a read-write transaction " +
			"(through PostgREST, call retrieve_credential with POST, not GET)",
	},
	{
		err: ErrUnsupported, outcome: "unsupported", level: slog.LevelError,
		codes: []string{
			pgerrcode.DuplicatePreparedStatement, class(pgerrcode.InvalidSQLStatementName),
			class(pgerrcode.FeatureNotSupported),
		},
		hint: "behind a transaction-mode pooler (PgBouncer, Supavisor on port 6543) pgx's prepared statements " +
			"reach other server connections: set ConnConfig.DefaultQueryExecMode to pgx.QueryExecModeExec, " +
			"or connect directly or in session mode",
	},
	{
		err: ErrServer, outcome: "server_error", level: slog.LevelError, anyStatement: true,
		codes: []string{class(pgerrcode.InsufficientResources), class(pgerrcode.SystemError), class(pgerrcode.InternalError)},
		hint: "the database server ran out of memory, disk or a configured limit, or failed: see its log; " +
			"retrying before it is fixed only adds load",
	},
}

// unclassified is what the log records for an error of no kind.
var unclassified = kind{outcome: "error", level: slog.LevelError}

// callerFailed is what the log records for an error that a function of the
// caller's returned (the refresh function given to Refresh): the caller made
// it and handles it.
var callerFailed = kind{outcome: "caller_function_failed", level: slog.LevelInfo}

// callerError wraps an error returned by a function of the caller's, which
// errors.Is and errors.As still reach.
type callerError struct {
	what string // which function, as the message names it
	err  error
}

func (e *callerError) Error() string { return e.what + ": " + e.err.Error() }
func (e *callerError) Unwrap() error { return e.err }

// kindOfSentinel returns the row of a sentinel, or nil.
func kindOfSentinel(err error) *kind {
	for i := range kinds {
		if kinds[i].err == err {
			return &kinds[i]
		}
	}
	return nil
}

// classify returns the kind of err, or nil: the first sentinel in err's
// chain, else what its SQLSTATE or, without one, its shape says. It is
// the only place where errors are interpreted.
func classify(err error) *kind {
	if err == nil {
		return nil
	}
	for i := range kinds {
		if errors.Is(err, kinds[i].err) {
			return &kinds[i]
		}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		for i := range kinds {
			if kinds[i].refine != nil && kinds[i].refine(pgErr) {
				return &kinds[i]
			}
		}
		return kindOfCode(pgErr.Code)
	}
	for i := range kinds {
		if kinds[i].match != nil && kinds[i].match(err) {
			return &kinds[i]
		}
	}
	return nil
}

// kindOfCode returns the kind of a SQLSTATE: the kind naming it exactly,
// else the kind naming its class, else nil.
func kindOfCode(code string) *kind {
	if len(code) != 5 {
		return nil
	}
	for _, want := range []string{code, class(code)} {
		for i := range kinds {
			for _, c := range kinds[i].codes {
				if c == want {
					return &kinds[i]
				}
			}
		}
	}
	return nil
}

// KindOf returns the kind of err, or nil: for an [*Error] anywhere in
// err's chain, its Kind when set; for a sentinel of this package or a context
// error in the chain, that error.
//
// For any other error, such as a driver error from your own statements,
// KindOf answers only when the kind does not depend on which statement
// failed: this module's own SQLSTATEs (VA001 from the plaintext guard,
// VA002) and conditions of the connection or server (ErrConnection,
// ErrTimeout, ErrConflict, ErrReadOnly, ErrServer). It returns nil for the
// rest, which only a call of this package can interpret: a [pgx.ErrNoRows],
// P0002, 42501 or 42P01 from your own query says nothing about a credential
// or about Migrate.
//
//	if errors.Is(vault.KindOf(err), vault.ErrPlaintextCredential) { ... }
func KindOf(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind // classified when the call failed
	}
	k := classify(err)
	if k == nil || !(k.anyStatement || errors.Is(err, k.err)) {
		return nil
	}
	return k.err
}

// IsRetryable reports whether a call that failed with err may succeed if
// made again unchanged: the database could not be reached or dropped the
// connection ([ErrConnection]), the server cancelled the call
// ([ErrTimeout]) or aborted it for a concurrent transaction
// ([ErrConflict]), or the call's deadline passed. It is false for nil, for
// context.Canceled (the caller gave up) and for every other error, which
// would only happen again. Retrieve, Delete and Rotate (with the same value)
// may be retried as they are; a Store interrupted by a lost connection or a
// deadline may have committed, so look for it with [Client.List] before
// storing again (see the README's "Failure behaviour").
func IsRetryable(err error) bool {
	k := kindOfSentinel(KindOf(err))
	return k != nil && k.retryable
}

// Hint returns one sentence for an operator on what to do about err,
// chosen by its kind (see [KindOf]), or "" when err has none. Hints name
// this package's options and methods; they never quote values.
func Hint(err error) string {
	if k := kindOfSentinel(KindOf(err)); k != nil {
		return k.hint
	}
	return ""
}

// deniedInsideFunction reports whether a 42501 was raised inside a
// function (the server's error context names it) rather than by the call
// itself: the caller was allowed to call the SECURITY DEFINER function, and
// its owner was refused something.
func deniedInsideFunction(e *pgconn.PgError) bool {
	return e.Code == pgerrcode.InsufficientPrivilege && e.Where != ""
}

// isConnectionFailure reports whether err, which holds no server error, says
// the connection could not be made or was lost.
func isConnectionFailure(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, pgconn.ErrConnClosed)
}

// newError builds the *Error for a failed operation, with the kind
// classify finds. Context errors stay reachable through Err.
func newError(op string, id uuid.UUID, name string, err error) *Error {
	e := &Error{Op: op, ID: id, Name: name, Err: err}
	// An error of the caller's own function says nothing about the database:
	// an I/O error of its HTTP call is not ErrConnection, a nested call's
	// ErrNotFound not this credential's. Only a context error keeps its kind.
	if errors.As(err, new(*callerError)) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
		return e
	}
	if k := classify(err); k != nil {
		e.Kind = k.err
	}
	return e
}
