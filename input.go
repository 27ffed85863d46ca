package vault

import (
	"cmp"
	"fmt"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// What the client accepts, and how it puts names into SQL. Values never
// reach SQL text: they travel as bind parameters. Errors here never echo
// a value.

// checkID rejects the nil UUID, which no credential has.
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

// validateEntry checks the name, description and secret of a credential
// to store, in that order.
func validateEntry(name, secret, description string) error {
	return cmp.Or(
		validateText("name", name, 1, MaxNameSize),
		validateText("description", description, 0, MaxDescriptionSize),
		validateText("secret", secret, 0, MaxSecretSize),
	)
}

// checkIdentifier accepts names PostgreSQL can hold as identifiers; they
// are always quoted when used.
func checkIdentifier(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: %s name must not be empty", ErrInvalidArgument, what)
	case len(name) > 63:
		return fmt.Errorf("%w: %s name %q is longer than 63 bytes", ErrInvalidArgument, what, name)
	case strings.ContainsRune(name, 0) || !utf8.ValidString(name):
		return fmt.Errorf("%w: %s name must be valid UTF-8 without NUL bytes", ErrInvalidArgument, what)
	}
	return nil
}

// checkKeyFile accepts an absolute path that can be written as an SQL
// literal without escapes.
func checkKeyFile(path string) error {
	if !filepath.IsAbs(path) || strings.ContainsAny(path, "\x00\n\r$'") {
		return fmt.Errorf("%w: the compat key file must be an absolute path on the database server, without quotes or $", ErrInvalidArgument)
	}
	return nil
}

// quoteIdent quotes an identifier for SQL.
func quoteIdent(s string) string {
	return pgx.Identifier{s}.Sanitize()
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings on).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
