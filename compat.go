package vault

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault/internal/preflight"
	"github.com/credvault/vault/internal/vaultstate"
)

var (
	//go:embed compat/tables.sql
	compatTablesSQL string
	//go:embed compat/vault.sql
	compatSQL string
)

// InstallCompatVault installs the Vault compatibility layer into schema
// vault when neither the supabase_vault extension nor the layer is there,
// upgrades a layer installed by an older version of this module in place
// (same key, same ciphertexts), and does nothing otherwise. The layer
// reproduces Vault 0.3's public surface and Supabase's grants on it (for
// the roles postgres and service_role, which it creates with anon and
// authenticated when missing), encrypting with pgcrypto under a 256-bit
// root key that the server reads from keyFile on every use: a file of 64
// hexadecimal characters, readable by the database server's OS user, kept
// outside the data directory and backed up separately. db must be
// connected as a superuser, which is also who owns the layer.
//
// The layer trusts nothing another role controls. A schema vault that is
// neither the supabase_vault extension nor this layer owned by superusers
// is refused, not reused. pgcrypto must live in a schema owned by a
// superuser in which no other role may create objects; when pgcrypto is
// not installed, InstallCompatVault installs it into schema extensions,
// creating that schema when it does not exist, and refuses when it exists
// with another owner.
//
// [Client.Migrate] calls it when the client was built with
// [WithCompatVault]. Use it directly when the role that runs Migrate is not
// a superuser, as on Supabase.
//
// Errors: [ErrVaultUnavailable] when the key file is missing or malformed,
// when schema vault exists but is neither Vault nor the layer owned by
// superusers, or when pgcrypto or schema extensions is owned by, or open
// to, a role that is not a superuser; [ErrDecryption] when upgrading with a
// key file that does not decrypt the secrets already stored;
// [ErrPermissionDenied] when db is not a superuser; [ErrInvalidArgument]
// for a key path that is not absolute.
func InstallCompatVault(ctx context.Context, db DB, keyFile string) error {
	err := checkKeyFile(keyFile)
	if err == nil {
		_, err = installCompatTx(ctx, db, keyFile)
	}
	if err != nil {
		return newError("install_compat", uuid.Nil, "", err)
	}
	return nil
}

// installCompatTx runs installCompat in a transaction of its own on db (a
// savepoint when db is a transaction) with the search_path pinned.
func installCompatTx(ctx context.Context, db DB, keyFile string) (action compatAction, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		restore, err := pinSearchPath(ctx, tx, isTx(db))
		if err != nil {
			return err
		}
		if action, err = installCompat(ctx, tx, keyFile); err != nil {
			return err
		}
		return restore(ctx)
	})
	return action, err
}

// compatAction is what installCompat did.
type compatAction string

const (
	compatNone      compatAction = ""
	compatInstalled compatAction = "installed"
	compatUpgraded  compatAction = "upgraded"
)

// installCompat installs the compatibility layer in tx, or upgrades an
// older one, unless Vault is already there; tx must have its search_path
// pinned (pinSearchPath). It refuses a schema vault it cannot trust and a
// pgcrypto in a schema that a role other than a superuser controls.
func installCompat(ctx context.Context, tx pgx.Tx, keyFile string) (compatAction, error) {
	var super bool
	err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_advisory_xact_lock($1),
       (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user)`,
		migrationLockKey("vault compat")).Scan(nil, &super)
	if err != nil {
		return compatNone, err
	}
	vs, err := vaultstate.Read(ctx, tx)
	if err != nil {
		return compatNone, err
	}
	action := compatInstalled
	switch {
	case vs.Kind == vaultstate.Foreign:
		return compatNone, untrustedVault(vs)
	case vs.Kind == vaultstate.Extension:
		return compatNone, nil
	case vs.Kind == vaultstate.Compat && vs.CompatVersion >= vaultstate.CompatVersion:
		return compatNone, nil
	case vs.Kind == vaultstate.Compat:
		action = compatUpgraded
	}
	if !super {
		return compatNone, fmt.Errorf("%w: installing or upgrading the Vault compatibility layer needs a superuser "+
			"(it reads the root key file on the server)", ErrPermissionDenied)
	}
	pgcrypto, err := pgcryptoSchema(ctx, tx)
	if err != nil {
		return compatNone, err
	}
	sql := compatSQL
	if action == compatInstalled {
		sql = compatTablesSQL + "\n" + compatSQL
	}
	sql = strings.NewReplacer(
		"@pgcrypto@", quoteIdent(pgcrypto),
		"@keyfile@", quoteLiteral(keyFile),
		"@comment@", quoteLiteral(vaultstate.CompatComment(vaultstate.CompatVersion)),
	).Replace(sql)
	if _, err := tx.Exec(ctx, sql); err != nil {
		return compatNone, err
	}
	// What was just created must read back as the current layer.
	if vs, err = vaultstate.Read(ctx, tx); err != nil {
		return compatNone, err
	}
	if vs.Kind != vaultstate.Compat || vs.CompatVersion != vaultstate.CompatVersion {
		return compatNone, fmt.Errorf("%w: schema vault does not read back as the compatibility layer after installing it: %s",
			ErrVaultUnavailable, vs.Problem)
	}
	return action, nil
}

// untrustedVault is the error for a schema vault that is neither Vault nor
// this module's layer owned by superusers.
func untrustedVault(vs vaultstate.State) error {
	return fmt.Errorf("%w: %s", ErrVaultUnavailable, preflight.UntrustedVault(vs))
}

// pgcryptoFunctions are the pgcrypto functions the layer calls.
var pgcryptoFunctions = []string{
	"hmac(pg_catalog.bytea,pg_catalog.bytea,pg_catalog.text)",
	"encrypt_iv(pg_catalog.bytea,pg_catalog.bytea,pg_catalog.bytea,pg_catalog.text)",
	"decrypt_iv(pg_catalog.bytea,pg_catalog.bytea,pg_catalog.bytea,pg_catalog.text)",
	"gen_random_bytes(pg_catalog.int4)",
}

// pgcryptoSchema returns the schema of pgcrypto, after checking that only
// superusers control it and that the functions the layer calls there are
// pgcrypto's own, owned by a superuser: the layer hands them the root key.
// When pgcrypto is not installed it installs it into schema extensions,
// which it creates unless it exists; an existing one must pass the same
// checks.
func pgcryptoSchema(ctx context.Context, tx pgx.Tx) (string, error) {
	const find = `SELECT n.nspname FROM pg_catalog.pg_extension AS e
  JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
 WHERE e.extname OPERATOR(pg_catalog.=) 'pgcrypto'`
	var schema string
	err := tx.QueryRow(ctx, find).Scan(&schema)
	if errors.Is(err, pgx.ErrNoRows) {
		const target = "extensions"
		exists, problem, cerr := schemaControl(ctx, tx, target)
		switch {
		case cerr != nil:
			return "", cerr
		case problem != "":
			return "", fmt.Errorf("%w: pgcrypto is not installed, and schema %s, where the compatibility layer would install it, %s: "+
				"a role that controls the schema of pgcrypto can make the layer hand it the root key. Have a superuser install "+
				"pgcrypto into a schema that only superusers own and may create in, or drop or rename schema %s",
				ErrVaultUnavailable, target, problem, target)
		case !exists:
			// Never IF NOT EXISTS: a schema someone creates meanwhile makes this fail.
			if _, err := tx.Exec(ctx, "CREATE SCHEMA "+target); err != nil {
				return "", err
			}
		}
		if _, err := tx.Exec(ctx, "CREATE EXTENSION pgcrypto WITH SCHEMA "+target); err != nil {
			return "", err
		}
		err = tx.QueryRow(ctx, find).Scan(&schema)
	}
	if err != nil {
		return "", err
	}
	if _, problem, err := schemaControl(ctx, tx, schema); err != nil {
		return "", err
	} else if problem != "" {
		return "", fmt.Errorf("%w: pgcrypto is installed in schema %s, which %s: a role that controls the schema of pgcrypto "+
			"can make the compatibility layer hand it the root key (by renaming the schema and planting look-alike "+
			"functions). Have a superuser move it into a schema that only superusers own and may create in: "+
			"CREATE SCHEMA extensions; ALTER EXTENSION pgcrypto SET SCHEMA extensions",
			ErrVaultUnavailable, quoteIdent(schema), problem)
	}
	rows, err := tx.Query(ctx, `
SELECT f FROM pg_catalog.unnest($2::pg_catalog.text[]) AS f
 WHERE NOT EXISTS (
       SELECT FROM pg_catalog.pg_proc AS p
         JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) p.proowner
         JOIN pg_catalog.pg_depend AS d ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                                        AND d.objid OPERATOR(pg_catalog.=) p.oid
                                        AND d.deptype OPERATOR(pg_catalog.=) 'e'
         JOIN pg_catalog.pg_extension AS e ON e.oid OPERATOR(pg_catalog.=) d.refobjid
                                          AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
        WHERE p.oid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure(
                  pg_catalog.quote_ident($1) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) f)
          AND e.extname OPERATOR(pg_catalog.=) 'pgcrypto' AND r.rolsuper)`, schema, pgcryptoFunctions)
	if err != nil {
		return "", err
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: schema %s lacks pgcrypto's own %s, owned by a superuser",
			ErrVaultUnavailable, quoteIdent(schema), strings.Join(missing, ", "))
	}
	return schema, nil
}

// schemaControl reports whether schema exists and, if so, what lets a role
// other than a superuser control it: an owner that is not a superuser, or
// CREATE granted to PUBLIC or to such a role. problem is "" when only
// superusers control it.
func schemaControl(ctx context.Context, tx pgx.Tx, schema string) (exists bool, problem string, err error) {
	var owner string
	var ownerSuper bool
	var creators []string
	// A schema owned by pg_database_owner (public, by default) is the
	// database owner's.
	err = tx.QueryRow(ctx, `
SELECT CASE WHEN n.nspowner OPERATOR(pg_catalog.=) x.owner THEN pg_catalog.quote_ident(o.rolname)
            ELSE 'pg_database_owner (the owner of the database, ' OPERATOR(pg_catalog.||)
                 pg_catalog.quote_ident(o.rolname) OPERATOR(pg_catalog.||) ')' END,
       o.rolsuper,
       ARRAY(SELECT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                         ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(a.grantee)) END
               FROM pg_catalog.aclexplode(coalesce(n.nspacl, pg_catalog.acldefault('n', n.nspowner))) AS a
               LEFT JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) a.grantee
              WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE' AND NOT coalesce(r.rolsuper, false)
              ORDER BY 1)
  FROM pg_catalog.pg_namespace AS n
 CROSS JOIN LATERAL (SELECT `+preflight.SchemaOwnerSQL+`) AS x(owner)
  JOIN pg_catalog.pg_roles AS o ON o.oid OPERATOR(pg_catalog.=) x.owner
 WHERE n.nspname OPERATOR(pg_catalog.=) $1`, schema).Scan(&owner, &ownerSuper, &creators)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, "", nil
	case err != nil:
		return false, "", err
	case !ownerSuper:
		return true, "is owned by " + owner + ", which is not a superuser", nil
	case len(creators) > 0:
		return true, "lets " + strings.Join(creators, ", ") + " create objects in it", nil
	}
	return true, "", nil
}
