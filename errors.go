package vault

import (
	"context"
	"errors"
	"fmt"

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

	// ErrSchemaNotWritable means [Client.Migrate] may not create objects in
	// the target schema. On Supabase the migration role postgres cannot
	// create in schema vault: pick another schema with [WithSchema].
	ErrSchemaNotWritable = errors.New("vault: target schema is not writable by the migration role")

	// ErrNotMigrated means the credential functions do not exist in the
	// target schema (SQLSTATE 42883 or 3F000): run [Client.Migrate] first, or
	// check [WithSchema].
	ErrNotMigrated = errors.New("vault: credential functions not installed (run Migrate)")

	// ErrMigrationChecksum means an already applied migration differs from
	// the one embedded in this module, or the database has a migration this
	// module does not know. Migrations are never edited once shipped.
	ErrMigrationChecksum = errors.New("vault: applied migration does not match the embedded one")
)

// Error is the error type of every [Client] operation. It carries the
// operation and the credential's id or name, never its value, and unwraps to
// both its Kind (one of the sentinels, when one applies) and its cause, which
// is often a [*pgconn.PgError] or a context error:
//
//	var pgErr *pgconn.PgError
//	if errors.As(err, &pgErr) { log.Println(pgErr.Code) }
type Error struct {
	Op   string    // "store", "retrieve", "rotate", "delete", "access_log", "migrate", "install_compat"
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
	case "42883", "3F000": // undefined_function, invalid_schema_name
		return ErrNotMigrated
	}
	return nil
}

// sentinels are the kinds an *Error can have, in the order they are tested.
var sentinels = [...]error{
	ErrNotFound, ErrPermissionDenied, ErrInvalidArgument, ErrPlaintextCredential, ErrDecryption,
	ErrVaultUnavailable, ErrSchemaNotWritable, ErrNotMigrated, ErrMigrationChecksum,
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
