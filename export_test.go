package vault

import (
	"io/fs"
	"log/slog"

	"github.com/google/uuid"
)

// LoadMigrations exposes the migration loader to the black-box tests.
func LoadMigrations(fsys fs.FS) (int, error) {
	migs, err := loadMigrations(fsys)
	return len(migs), err
}

// KindRow is one row of the kinds table, for the tests.
type KindRow struct {
	Err          error
	Outcome      string
	Level        slog.Level
	Codes        []string
	AnyStatement bool
	Retryable    bool
	Hint         string
}

// Kinds returns the kinds table.
func Kinds() []KindRow {
	rows := make([]KindRow, len(kinds))
	for i, k := range kinds {
		rows[i] = KindRow{Err: k.err, Outcome: k.outcome, Level: k.level, Codes: k.codes,
			AnyStatement: k.anyStatement, Retryable: k.retryable, Hint: k.hint}
	}
	return rows
}

// CallKind returns the kind a Client call gives to err.
func CallKind(err error) error { return newError("test", uuid.Nil, "", err).Kind }
