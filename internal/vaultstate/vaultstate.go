// Package vaultstate tells what schema vault of a database is: the
// supabase_vault extension, this module's compatibility layer, nothing, or
// an impostor that nobody may trust. Migrate and credvault doctor both use
// it, so they accept and refuse the same states.
//
// Trust follows ownership. The credential functions hand every secret to
// vault.create_secret and vault.update_secret, and the compatibility layer
// runs as a superuser with the root key, so schema vault counts only when
// the role that could change it is the one that installed Vault: the
// extension's owner for supabase_vault, a superuser for the layer. A schema
// vault that any other role owns or may create objects in is an impostor,
// however much it looks like Vault.
package vaultstate

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// CompatVersion is the version of the compatibility layer this build
// installs, recorded in the comment of schema vault as "(compat N)".
// Version 1 resolved pgcrypto by name at run time and pinned an empty
// search_path; version 2 binds pgcrypto's functions when it is installed
// and pins search_path to pg_catalog, pg_temp.
const CompatVersion = 2

// CompatComment returns the comment the compatibility layer of version n
// puts on schema vault.
func CompatComment(n int) string {
	return "Supabase Vault 0.3 compatible layer installed by github.com/credvault/vault (compat " + strconv.Itoa(n) + ")"
}

var compatCommentRE = regexp.MustCompile(`^Supabase Vault 0\.3 compatible layer installed by github\.com/credvault/vault \(compat ([1-9][0-9]{0,5})\)$`)

// Kind is what schema vault is.
type Kind int

const (
	// Absent: there is no schema vault.
	Absent Kind = iota
	// Extension: schema vault is the supabase_vault extension's, owned by
	// the extension's owner, and vault.create_secret belongs to the
	// extension.
	Extension
	// Compat: schema vault is this module's compatibility layer, owned by
	// a superuser, with every object in it owned by superusers and no
	// other role allowed to create objects in it.
	Compat
	// Foreign: schema vault exists but is neither of the above.
	Foreign
)

// State describes schema vault.
type State struct {
	Kind Kind
	// ExtVersion is the supabase_vault version (Extension only).
	ExtVersion string
	// CompatVersion is the layer's version (Compat only).
	CompatVersion int
	// Owner is the owner of schema vault; "" when Absent.
	Owner string
	// Problem says, for Foreign, what makes schema vault untrustworthy, as
	// a phrase such as `schema vault is owned by "app", which is not a
	// superuser`.
	Problem string
}

// Usable reports whether the credential functions may rely on schema
// vault.
func (s State) Usable() bool { return s.Kind == Extension || s.Kind == Compat }

// Querier is what Read needs: a *pgx.Conn, a pgx.Tx or a pool.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// query reads everything Read needs in one round trip. Every name and
// operator is schema-qualified, so it is safe under any search_path.
const query = `
SELECT v.oid IS NOT NULL,
       coalesce(pg_catalog.pg_get_userbyid(v.nspowner)::pg_catalog.text, ''),
       coalesce(o.rolsuper, false),
       coalesce(pg_catalog.obj_description(v.oid, 'pg_namespace'), ''),
       e.oid IS NOT NULL,
       coalesce(e.extversion, ''),
       coalesce(pg_catalog.pg_get_userbyid(e.extowner)::pg_catalog.text, ''),
       coalesce(e.extnamespace OPERATOR(pg_catalog.=) v.oid, false),
       coalesce(e.extowner OPERATOR(pg_catalog.=) v.nspowner, false),
       EXISTS (SELECT FROM pg_catalog.pg_depend AS d
                WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
                  AND d.objid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure(
                          'vault.create_secret(pg_catalog.text,pg_catalog.text,pg_catalog.text,pg_catalog.uuid)')
                  AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_extension'::pg_catalog.regclass
                  AND d.refobjid OPERATOR(pg_catalog.=) e.oid
                  AND d.deptype OPERATOR(pg_catalog.=) 'e'),
       ARRAY(SELECT CASE WHEN a.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                         ELSE pg_catalog.pg_get_userbyid(a.grantee)::pg_catalog.text END
               FROM pg_catalog.aclexplode(coalesce(v.nspacl, pg_catalog.acldefault('n', v.nspowner))) AS a
               LEFT JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) a.grantee
              WHERE a.privilege_type OPERATOR(pg_catalog.=) 'CREATE' AND NOT coalesce(r.rolsuper, false)
              ORDER BY 1),
       ARRAY(SELECT DISTINCT pg_catalog.pg_get_userbyid(x.owner)::pg_catalog.text
               FROM (SELECT p.proowner FROM pg_catalog.pg_proc AS p WHERE p.pronamespace OPERATOR(pg_catalog.=) v.oid
                     UNION ALL
                     SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.relnamespace OPERATOR(pg_catalog.=) v.oid
                     UNION ALL
                     SELECT t.typowner FROM pg_catalog.pg_type AS t WHERE t.typnamespace OPERATOR(pg_catalog.=) v.oid
                     UNION ALL
                     SELECT op.oprowner FROM pg_catalog.pg_operator AS op WHERE op.oprnamespace OPERATOR(pg_catalog.=) v.oid
                    ) AS x(owner)
               JOIN pg_catalog.pg_roles AS r ON r.oid OPERATOR(pg_catalog.=) x.owner
              WHERE NOT r.rolsuper
              ORDER BY 1),
       ARRAY(SELECT f FROM pg_catalog.unnest(ARRAY[
                 'vault.create_secret(pg_catalog.text,pg_catalog.text,pg_catalog.text,pg_catalog.uuid)',
                 'vault.update_secret(pg_catalog.uuid,pg_catalog.text,pg_catalog.text,pg_catalog.text,pg_catalog.uuid)',
                 'vault._crypto_aead_det_decrypt(pg_catalog.bytea,pg_catalog.bytea,pg_catalog.int8,pg_catalog.bytea,pg_catalog.bytea)',
                 'vault._compat_root_key()']) AS f
              WHERE pg_catalog.to_regprocedure(f) IS NULL)
  FROM (SELECT) AS one
  LEFT JOIN pg_catalog.pg_namespace AS v ON v.nspname OPERATOR(pg_catalog.=) 'vault'
  LEFT JOIN pg_catalog.pg_roles AS o ON o.oid OPERATOR(pg_catalog.=) v.nspowner
  LEFT JOIN pg_catalog.pg_extension AS e ON e.extname OPERATOR(pg_catalog.=) 'supabase_vault'`

// Read classifies schema vault. It only reads the catalogs, and its query
// qualifies every name, so any role may run it under any search_path.
func Read(ctx context.Context, q Querier) (State, error) {
	var (
		st                                       State
		exists, ownerSuper, extExists            bool
		comment, extOwner                        string
		extInVault, extOwnsVault, extHasFunction bool
		creators, nonSuperOwners, missing        []string
	)
	err := q.QueryRow(ctx, query).Scan(&exists, &st.Owner, &ownerSuper, &comment,
		&extExists, &st.ExtVersion, &extOwner, &extInVault, &extOwnsVault, &extHasFunction,
		&creators, &nonSuperOwners, &missing)
	if err != nil {
		return State{}, err
	}
	if !exists {
		return State{Kind: Absent}, nil
	}
	owner := pgx.Identifier{st.Owner}.Sanitize()
	foreign := func(format string, args ...any) (State, error) {
		st.Kind = Foreign
		st.ExtVersion = ""
		st.Problem = fmt.Sprintf(format, args...)
		return st, nil
	}

	if extExists {
		switch {
		case !extInVault:
			return foreign("schema vault does not belong to the supabase_vault extension")
		case !extOwnsVault:
			return foreign("schema vault is owned by %s, but the supabase_vault extension by %s",
				owner, pgx.Identifier{extOwner}.Sanitize())
		case !extHasFunction:
			return foreign("vault.create_secret(text,text,text,uuid) is not part of the supabase_vault extension")
		}
		st.Kind = Extension
		return st, nil
	}

	m := compatCommentRE.FindStringSubmatch(comment)
	switch {
	case !ownerSuper:
		return foreign("schema vault is owned by %s, which is not a superuser, and is not the supabase_vault extension", owner)
	case m == nil:
		return foreign("schema vault is neither the supabase_vault extension nor marked as this module's compatibility layer")
	case len(creators) > 0:
		return foreign("schema vault lets %s create objects in it", quoteAll(creators))
	case len(nonSuperOwners) > 0:
		return foreign("schema vault holds objects owned by %s, which is not a superuser", quoteAll(nonSuperOwners))
	case len(missing) > 0:
		return foreign("schema vault lacks %s", strings.Join(missing, ", "))
	}
	st.Kind = Compat
	st.ExtVersion = ""
	st.CompatVersion, _ = strconv.Atoi(m[1]) // the pattern allows digits only
	return st, nil
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		if n == "PUBLIC" {
			q[i] = n
		} else {
			q[i] = pgx.Identifier{n}.Sanitize()
		}
	}
	return strings.Join(q, ", ")
}
