package vault

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Sentinel errors. Every error returned by a [Client] method is an [*Error]
// that matches at most one of these with [errors.Is].
var (
	// ErrNotFound means no credential has the given id (SQLSTATE P0002).
	ErrNotFound = errors.New("vault: credential not found")

	// ErrPermissionDenied means the role the call ran as may not do it
	// (SQLSTATE 42501), for example a client built with WithRole("authenticated").
	ErrPermissionDenied = errors.New("vault: permission denied")

	// ErrInvalidArgument means an argument was rejected before or by the
	// database: an empty or oversized name, a secret that is not valid UTF-8
	// or holds a NUL byte, a nil id (SQLSTATE 22004, 22023, 22021).
	ErrInvalidArgument = errors.New("vault: invalid argument")

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
	// [WithCompatVault] was not given, or the compatibility layer's root key
	// file is missing or malformed (SQLSTATE VA002).
	ErrVaultUnavailable = errors.New("vault: Supabase Vault is not available")

	// ErrConnection means the call could not reach the database or lost its
	// connection before learning the outcome: connection refused or reset,
	// the server shutting down, restarting or starting up (SQLSTATE 57P01,
	// 57P02, 57P03, class 08), too many connections (53300). A call that had
	// reached the server may still have taken effect. See [IsRetryable].
	ErrConnection = errors.New("vault: database connection failed")

	// ErrTimeout means the server cancelled the call before it took effect:
	// statement_timeout or a cancel request (SQLSTATE 57014), lock_timeout
	// (55P03). Nothing was changed and the connection is still usable.
	ErrTimeout = errors.New("vault: the server cancelled the call")

	// ErrConflict means the server aborted the call because of a concurrent
	// transaction: a serialization failure (SQLSTATE 40001, in a caller's
	// REPEATABLE READ or SERIALIZABLE transaction) or a deadlock (40P01).
	// Nothing was changed; the call may be retried.
	ErrConflict = errors.New("vault: the call conflicted with a concurrent transaction")

	// ErrSchemaNotWritable means [Client.Migrate] may not create objects in
	// the target schema. On Supabase the migration role postgres cannot
	// create in schema vault: pick another schema with [WithSchema].
	ErrSchemaNotWritable = errors.New("vault: target schema is not writable by the migration role")

	// ErrNotMigrated means the credential functions do not exist in the
	// target schema (SQLSTATE 42883, 3F000 or 42P01): run [Client.Migrate] first, or
	// check [WithSchema].
	ErrNotMigrated = errors.New("vault: credential functions not installed (run Migrate)")

	// ErrMigrationChecksum means an already applied migration differs from
	// the one embedded in this module, or the database has a migration this
	// module does not know. Migrations are never edited once shipped.
	ErrMigrationChecksum = errors.New("vault: applied migration does not match the embedded one")

	// ErrVersionMismatch means a check-and-set ([IfVersion]) found the
	// credential at another version than the one expected (SQLSTATE VA003).
	// Nothing was changed. It is not retryable as is: read the credential
	// again and decide with its current version.
	ErrVersionMismatch = errors.New("vault: credential version mismatch")

	// ErrAlreadyExists means the name is already used by another credential
	// of the namespace, for example by [Client.Update] (SQLSTATE 23505).
	ErrAlreadyExists = errors.New("vault: credential name already in use")
)

// Error is the error type of every [Client] operation. It carries the
// operation and the credential's id or name, never its value, and unwraps to
// both its Kind (one of the sentinels, when one applies) and its cause, which
// is often a [*pgconn.PgError] or a context error:
//
//	var pgErr *pgconn.PgError
//	if errors.As(err, &pgErr) { log.Println(pgErr.Code) }
type Error struct {
	Op   string    // "store", "retrieve", "rotate", "delete", "put", "lookup", "read", "refresh", "rollback", "update", "list", "access_log", "migrate", "install_compat"
	ID   uuid.UUID // the credential's id; zero for store and migrate
	Name string    // the credential's name (store only); never its value
	Kind error     // one of the sentinels in this package, or nil
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

// SQLSTATEs raised by this module's SQL that have no pgerrcode constant.
const (
	codePlaintextCredential  = "VA001"
	codeCompatKeyUnavailable = "VA002"
	codeVersionMismatch      = "VA003"
)

// KindOf returns the sentinel error matching err, or nil. err may be an
// [*Error] or a driver error from your own statements, such as an INSERT
// into an integration table that the plaintext guard rejected:
//
//	if errors.Is(vault.KindOf(err), vault.ErrPlaintextCredential) { ... }
func KindOf(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return newError("", uuid.Nil, "", err).Kind
}

// kindOf maps a driver error to one of the sentinels, or nil. It is the only
// place where SQLSTATEs are interpreted.
func kindOf(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if isConnectionFailure(err) {
			return ErrConnection
		}
		return nil
	}
	switch pgErr.Code {
	case "P0002": // no_data_found
		return ErrNotFound
	case "42501": // insufficient_privilege
		return ErrPermissionDenied
	case "22004", "22023", "22021", "22P05", "23502": // null_value_not_allowed, invalid_parameter_value, character_not_in_repertoire, untranslatable_character, not_null_violation
		return ErrInvalidArgument
	case "22000": // data_exception: Vault's "invalid ciphertext"
		return ErrDecryption
	case codePlaintextCredential:
		return ErrPlaintextCredential
	case codeCompatKeyUnavailable:
		return ErrVaultUnavailable
	case codeVersionMismatch:
		return ErrVersionMismatch
	case "23505": // unique_violation
		return ErrAlreadyExists
	case "42883", "3F000", "42P01": // undefined_function, invalid_schema_name, undefined_table
		return ErrNotMigrated
	case "57014", "55P03": // query_canceled (statement_timeout), lock_not_available (lock_timeout)
		return ErrTimeout
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return ErrConflict
	case "57P01", "57P02", "57P03", "53300": // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
		return ErrConnection
	}
	if strings.HasPrefix(pgErr.Code, "08") { // connection_exception
		return ErrConnection
	}
	return nil
}

// isConnectionFailure reports whether err, which holds no server error, says
// the connection could not be made or was lost.
func isConnectionFailure(err error) bool {
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) || errors.As(err, &netErr) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, pgconn.ErrConnClosed)
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
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	k := KindOf(err)
	return errors.Is(err, context.DeadlineExceeded) || k == ErrConnection || k == ErrTimeout || k == ErrConflict
}

// sentinels are the kinds an *Error can have, in the order they are tested.
var sentinels = [...]error{
	ErrNotFound, ErrPermissionDenied, ErrInvalidArgument, ErrPlaintextCredential, ErrDecryption,
	ErrVaultUnavailable, ErrSchemaNotWritable, ErrNotMigrated, ErrMigrationChecksum, ErrConnection, ErrTimeout, ErrConflict,
	ErrVersionMismatch, ErrAlreadyExists,
}

// newError builds the *Error for a failed operation. Context errors stay
// reachable through Err and get no kind.
func newError(op string, id uuid.UUID, name string, err error) *Error {
	e := &Error{Op: op, ID: id, Name: name, Err: err}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return e
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			e.Kind = s
			return e
		}
	}
	e.Kind = kindOf(err)
	return e
}
