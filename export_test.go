package vault

import "io/fs"

// LoadMigrations exposes the migration loader to the black-box tests.
func LoadMigrations(fsys fs.FS) (int, error) {
	migs, err := loadMigrations(fsys)
	return len(migs), err
}
