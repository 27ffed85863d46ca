package vault

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

//go:embed compat/vault.sql
var compatSQL string

// InstallCompatVault installs the Vault compatibility layer into schema
// vault when neither the supabase_vault extension nor the layer is there,
// and does nothing otherwise. The layer reproduces Vault 0.3's public
// surface and Supabase's grants on it (for the roles postgres and
// service_role, which it creates with anon and authenticated when missing),
// encrypting with pgcrypto under a 256-bit root key that the server reads
// from keyFile on every use: a file of 64 hexadecimal characters, readable
// by the database server's OS user, kept outside the data directory and
// backed up separately. db must be connected as a superuser, which is
// also who owns the layer.
//
// [Client.Migrate] calls it when the client was built with
// [WithCompatVault]. Use it directly when the role that runs Migrate is not
// a superuser, as on Supabase.
//
// Errors: [ErrVaultUnavailable] when the key file is missing or malformed,
// [ErrPermissionDenied] when db is not a superuser, [ErrInvalidArgument]
// for a key path that is not absolute.
func InstallCompatVault(ctx context.Context, db DB, keyFile string) error {
	err := checkKeyFile(keyFile)
	if err == nil {
		err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			_, err := installCompat(ctx, tx, keyFile)
			return err
		})
	}
	if err != nil {
		return newError("install_compat", uuid.Nil, "", err)
	}
	return nil
}

// installCompat runs compat/vault.sql in tx unless Vault is already there,
// after making sure pgcrypto is installed (in schema extensions, as on
// Supabase, when it was not). It reports whether it installed the layer.
func installCompat(ctx context.Context, tx pgx.Tx, keyFile string) (bool, error) {
	var installed, super bool
	err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_advisory_xact_lock($1),
       pg_catalog.to_regprocedure('vault.create_secret(text,text,text,uuid)') IS NOT NULL,
       (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user)`,
		migrationLockKey("vault compat")).Scan(nil, &installed, &super)
	if err != nil || installed {
		return false, err
	}
	if !super {
		return false, fmt.Errorf("%w: installing the Vault compatibility layer needs a superuser "+
			"(it reads the root key file on the server)", ErrPermissionDenied)
	}
	const findPgcrypto = `SELECT n.nspname FROM pg_catalog.pg_extension AS e
JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace WHERE e.extname = 'pgcrypto'`
	var pgcrypto string
	err = tx.QueryRow(ctx, findPgcrypto).Scan(&pgcrypto)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS extensions; CREATE EXTENSION pgcrypto WITH SCHEMA extensions"); err != nil {
			return false, err
		}
		err = tx.QueryRow(ctx, findPgcrypto).Scan(&pgcrypto)
	}
	if err != nil {
		return false, err
	}
	sql := strings.NewReplacer("@pgcrypto@", quoteIdent(pgcrypto), "@keyfile@", quoteLiteral(keyFile)).Replace(compatSQL)
	_, err = tx.Exec(ctx, sql)
	return err == nil, err
}
