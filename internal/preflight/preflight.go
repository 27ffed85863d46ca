// Package preflight reads what a server offers the credential functions
// (PostgreSQL's version, Vault, Supabase's roles, the target schema, the
// Vault privileges of the functions' owner, the log settings) and holds the
// rules that judge it. [vault.Client.Migrate] and `credvault doctor` both
// read the server through [Read] and judge it with [State.Problems], so
// they accept, refuse and warn about the same things.
//
// Problems speak the Go API's language (options such as WithSchema, methods
// such as Migrate); the credvault command translates them into its flags.
// They never hold a value.
package preflight

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault/internal/serverlog"
	"github.com/credvault/vault/internal/vaultstate"
)

// MinServerVersion is the oldest PostgreSQL (as server_version_num) the
// migrations run on: they use CREATE OR REPLACE TRIGGER.
const MinServerVersion = 140000

// MigrationTable records applied migrations, in the target schema.
const MigrationTable = "credvault_migrations"

// SupabaseRoles are the roles the migrations grant to and revoke from.
var SupabaseRoles = []string{"anon", "authenticated", "service_role"}

// APIFunctions are the functions services call, as signatures relative to
// the target schema.
var APIFunctions = []string{
	"store_credential(text,text,text)",
	"retrieve_credential(uuid)",
	"rotate_credential(uuid,text)",
	"delete_credential(uuid)",
	"list_credentials(text,timestamptz,integer)",
	"credential_store(text,text,text,text)",
	"credential_put(text,text,text,text)",
	"credential_lookup(text,text)",
	"credential_retrieve(text,uuid)",
	"credential_read(text,uuid)",
	"credential_rotate(text,uuid,text,bigint)",
	"credential_rollback(text,uuid,bigint)",
	"credential_update(text,uuid,text,text,timestamptz)",
	"credential_delete(text,uuid)",
	"credential_list(text,text,timestamptz,timestamptz,text,timestamptz,uuid,integer)",
	"credential_refresh_begin(text,uuid)",
	"credential_refresh_finish(text,uuid,bigint,text)",
	"credential_get(text,uuid)",
}

// vaultPrivileges are the privileges on Vault that the credential
// functions use, as Supabase grants them to postgres (see the module's
// facts on roles): what their owner must hold.
var vaultPrivileges = []struct{ kind, object, privilege string }{
	{"schema", "vault", "USAGE"},
	{"table", "vault.secrets", "SELECT"},
	{"table", "vault.secrets", "DELETE"},
	{"table", "vault.decrypted_secrets", "SELECT"},
	{"function", "vault.create_secret(pg_catalog.text,pg_catalog.text,pg_catalog.text,pg_catalog.uuid)", "EXECUTE"},
	{"function", "vault.update_secret(pg_catalog.uuid,pg_catalog.text,pg_catalog.text,pg_catalog.text,pg_catalog.uuid)", "EXECUTE"},
	{"function", "vault._crypto_aead_det_decrypt(pg_catalog.bytea,pg_catalog.bytea,pg_catalog.int8,pg_catalog.bytea,pg_catalog.bytea)", "EXECUTE"},
}

// Querier runs queries: [*pgx.Conn], [pgx.Tx] and pgxpool's Pool satisfy
// it.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// State is what the server offers the credential functions in one schema.
type State struct {
	ServerVersion    string // server_version, such as "15.8"
	ServerVersionNum int    // server_version_num, such as 150008
	CurrentUser      string
	Superuser        bool // the current user is a superuser

	Vault        vaultstate.State
	MissingRoles []string // of SupabaseRoles

	Schema Schema

	// FunctionsOwner is the role the credential functions run as: the
	// owner of the schema's store_credential, or, before they exist, the
	// current user, who would own them.
	FunctionsOwner string
	// MissingVaultPrivileges are the privileges on Vault that
	// FunctionsOwner lacks, such as "EXECUTE on function
	// vault._crypto_aead_det_decrypt(...)"; nil when Vault is not usable.
	MissingVaultPrivileges []Privilege

	// SuggestedSchema is a schema the current user may install into: the
	// target schema when it may, else an existing schema it owns and may
	// create in (credentials first), else "credentials" when it may create
	// schemas; "" when there is none.
	SuggestedSchema string

	Logging serverlog.Settings
}

// Schema is the target schema as the current user sees it.
type Schema struct {
	Name   string
	Exists bool
	// CanCreate reports whether the current user may create objects in
	// the schema, or, when it does not exist, create it.
	CanCreate bool
	// Owner is the schema's owner; for a schema owned by pg_database_owner,
	// the database's owner.
	Owner string
	// OwnerTrusted reports whether Owner is the current user or a
	// superuser: another owner could replace the functions Migrate creates
	// there, which run as the current user. True when the schema does not
	// exist.
	OwnerTrusted bool

	// Table reports whether the migration table exists.
	Table      bool
	TableOwner string
	// TableOwnerTrusted reports whether TableOwner is the current user or
	// a superuser: another owner's triggers on it would run as the current
	// user when a version is recorded. True without the table.
	TableOwnerTrusted bool

	// MissingFunctions are the APIFunctions the schema lacks.
	MissingFunctions []string
}

// Installed reports whether the schema holds any credential function or
// the migration table.
func (s Schema) Installed() bool {
	return s.Table || len(s.MissingFunctions) < len(APIFunctions)
}

// Untracked reports whether the schema holds credential functions but no
// migration table, as the script of MigrationSQL set it up before it
// recorded its migrations: neither Migrate nor today's script can tell
// which migrations it holds, and both refuse it with UntrackedMsg.
func (s Schema) Untracked() bool {
	return !s.Table && len(s.MissingFunctions) < len(APIFunctions)
}

// UntrackedMsg says what to do about an untracked schema.
func UntrackedMsg(schema string) string {
	return fmt.Sprintf("schema %s holds credential functions but no %s table: it was set up from the SQL script of "+
		"an older release, which did not record versions, so which migrations it holds is unknown; record them once "+
		"(the README's \"Upgrades and migrations\" says how, from the old script's part headers), or keep "+
		"upgrading it with that tool from the old script's parts", pgx.Identifier{schema}.Sanitize(), MigrationTable)
}

// Privilege is one privilege on one object.
type Privilege struct {
	Privilege string // such as EXECUTE
	Kind      string // schema, table or function
	Object    string // schema-qualified, with argument types for a function
}

func (p Privilege) String() string { return p.Privilege + " on " + p.Kind + " " + p.Object }

// SchemaOwnerSQL is the owner of the schema n, a pg_namespace row, as an
// SQL expression: for a schema owned by pg_database_owner (public, by
// default), the database's owner. It qualifies every name.
const SchemaOwnerSQL = `CASE WHEN n.nspowner OPERATOR(pg_catalog.=) 'pg_database_owner'::pg_catalog.regrole
     THEN (SELECT d.datdba FROM pg_catalog.pg_database AS d
            WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
     ELSE n.nspowner END`

// stateQuery reads everything Read needs but Vault and the log settings in
// one round trip. Every name and operator is schema-qualified, so it is
// safe under any search_path. $1 is the schema, $2 the migration table,
// $3 the Supabase roles, $4 the API functions.
const stateQuery = `
SELECT pg_catalog.current_setting('server_version'),
       pg_catalog.current_setting('server_version_num')::pg_catalog.int4,
       me.rolname::pg_catalog.text,
       me.rolsuper,
       ARRAY(SELECT r FROM pg_catalog.unnest($3::pg_catalog.text[]) AS r
              WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS x WHERE x.rolname OPERATOR(pg_catalog.=) r)
              ORDER BY 1),
       n.oid IS NOT NULL,
       CASE WHEN n.oid IS NULL THEN pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE')
            ELSE pg_catalog.has_schema_privilege(n.oid, 'CREATE') END,
       coalesce(pg_catalog.pg_get_userbyid(x.owner)::pg_catalog.text, ''),
       n.oid IS NULL OR x.owner OPERATOR(pg_catalog.=) me.oid OR coalesce(o.rolsuper, false),
       c.oid IS NOT NULL,
       coalesce(pg_catalog.pg_get_userbyid(c.relowner)::pg_catalog.text, ''),
       c.oid IS NULL OR c.relowner OPERATOR(pg_catalog.=) me.oid OR coalesce(t.rolsuper, false),
       ARRAY(SELECT f FROM pg_catalog.unnest($4::pg_catalog.text[]) AS f
              WHERE n.oid IS NULL OR pg_catalog.to_regprocedure(
                        pg_catalog.quote_ident($1) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) f) IS NULL),
       coalesce((SELECT pg_catalog.pg_get_userbyid(p.proowner)::pg_catalog.text FROM pg_catalog.pg_proc AS p
                  WHERE n.oid IS NOT NULL AND p.oid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure(
                        pg_catalog.quote_ident($1) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) ($4::pg_catalog.text[])[1])),
                me.rolname::pg_catalog.text),
       pg_catalog.has_database_privilege(pg_catalog.current_database(), 'CREATE'),
       ARRAY(SELECT s.nspname::pg_catalog.text FROM pg_catalog.pg_namespace AS s
              WHERE s.nspowner OPERATOR(pg_catalog.=) me.oid
                AND pg_catalog.has_schema_privilege(s.oid, 'CREATE')
                AND s.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['public', 'vault', 'extensions', 'graphql_public']::pg_catalog.name[])
                AND NOT pg_catalog.starts_with(s.nspname::pg_catalog.text, 'pg_')
              ORDER BY s.nspname OPERATOR(pg_catalog.<>) 'credentials', 1
              LIMIT 1)
  FROM pg_catalog.pg_roles AS me
  LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname OPERATOR(pg_catalog.=) $1
  LEFT JOIN LATERAL (SELECT ` + SchemaOwnerSQL + `) AS x(owner) ON true
  LEFT JOIN pg_catalog.pg_roles AS o ON o.oid OPERATOR(pg_catalog.=) x.owner
  LEFT JOIN pg_catalog.pg_class AS c ON c.relnamespace OPERATOR(pg_catalog.=) n.oid
                                    AND c.relname OPERATOR(pg_catalog.=) $2
  LEFT JOIN pg_catalog.pg_roles AS t ON t.oid OPERATOR(pg_catalog.=) c.relowner
 WHERE me.rolname OPERATOR(pg_catalog.=) current_user`

// privilegeQuery returns the indexes (1-based) of the privileges in $2..$4
// (kinds, objects, privileges) that role $1 lacks. An object that does not
// exist counts as lacked.
const privilegeQuery = `
SELECT w.i FROM ROWS FROM (pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[]),
                           pg_catalog.unnest($4::pg_catalog.text[])) WITH ORDINALITY AS w(kind, object, privilege, i)
 WHERE NOT coalesce(CASE
           WHEN w.kind OPERATOR(pg_catalog.=) 'schema'
           THEN pg_catalog.has_schema_privilege($1, pg_catalog.to_regnamespace(w.object), w.privilege)
           WHEN w.kind OPERATOR(pg_catalog.=) 'table'
           THEN pg_catalog.has_table_privilege($1, pg_catalog.to_regclass(w.object), w.privilege)
           WHEN w.kind OPERATOR(pg_catalog.=) 'function'
           THEN pg_catalog.has_function_privilege($1, pg_catalog.to_regprocedure(w.object), w.privilege)
       END, false)
 ORDER BY w.i`

// Read reads the state of the server for schema in a few round trips,
// reading the catalogs and settings only. Its queries qualify every name,
// so any role may run it under any search_path.
func Read(ctx context.Context, q Querier, schema string) (State, error) {
	st := State{Schema: Schema{Name: schema}}
	var err error
	if st.Vault, err = vaultstate.Read(ctx, q); err != nil {
		return State{}, err
	}
	var suggested []string
	var canCreateSchemas bool
	sc := &st.Schema
	err = q.QueryRow(ctx, stateQuery, schema, MigrationTable, SupabaseRoles, APIFunctions).Scan(
		&st.ServerVersion, &st.ServerVersionNum, &st.CurrentUser, &st.Superuser, &st.MissingRoles,
		&sc.Exists, &sc.CanCreate, &sc.Owner, &sc.OwnerTrusted,
		&sc.Table, &sc.TableOwner, &sc.TableOwnerTrusted, &sc.MissingFunctions,
		&st.FunctionsOwner, &canCreateSchemas, &suggested)
	if err != nil {
		return State{}, err
	}
	switch {
	case sc.CanCreate && sc.OwnerTrusted:
		st.SuggestedSchema = schema
	case len(suggested) > 0:
		st.SuggestedSchema = suggested[0]
	case canCreateSchemas:
		st.SuggestedSchema = "credentials"
	}
	if st.Vault.Usable() {
		if st.MissingVaultPrivileges, err = missingPrivileges(ctx, q, st.FunctionsOwner); err != nil {
			return State{}, err
		}
	}
	if st.Logging, err = serverlog.ReadSettings(ctx, q); err != nil {
		return State{}, err
	}
	return st, nil
}

func missingPrivileges(ctx context.Context, q Querier, role string) ([]Privilege, error) {
	kinds := make([]string, len(vaultPrivileges))
	objects := make([]string, len(vaultPrivileges))
	privs := make([]string, len(vaultPrivileges))
	for i, p := range vaultPrivileges {
		kinds[i], objects[i], privs[i] = p.kind, p.object, p.privilege
	}
	rows, err := q.Query(ctx, privilegeQuery, role, kinds, objects, privs)
	if err != nil {
		return nil, err
	}
	idx, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	var missing []Privilege
	for _, i := range idx {
		p := vaultPrivileges[i-1]
		missing = append(missing, Privilege{Privilege: p.privilege, Kind: p.kind,
			Object: strings.ReplaceAll(p.object, "pg_catalog.", "")})
	}
	return missing, nil
}

// Code says what a [Problem] is about.
type Code int

const (
	// ServerTooOld: PostgreSQL is older than MinServerVersion.
	ServerTooOld Code = iota + 1
	// VaultAbsent: there is no schema vault.
	VaultAbsent
	// VaultForeign: schema vault is neither Vault nor the compatibility
	// layer owned by superusers.
	VaultForeign
	// CompatOutdated: the compatibility layer is older than this build's.
	CompatOutdated
	// VaultPrivileges: the functions' owner lacks privileges on Vault
	// that the functions use.
	VaultPrivileges
	// RolesMissing: a Supabase role is missing.
	RolesMissing
	// SchemaNotCreatable: the current user may not create in the target
	// schema (or create it).
	SchemaNotCreatable
	// SchemaOwner: another role owns the target schema.
	SchemaOwner
	// TableOwner: another role owns the migration table.
	TableOwner
	// Logging: the server would write values to its log.
	Logging
)

// Problem is one thing that stops the credential functions from being
// installed or from working, or that exposes secrets.
type Problem struct {
	Code Code
	// Check names the part of the setup it is about: "server", "vault",
	// "roles", "schema" or "logging".
	Check string
	// Msg says what is wrong and what to do, in the Go API's terms.
	Msg string
}

func (p Problem) String() string { return p.Msg }

// Problems judges the state: every problem in the order of the checks
// (server, vault, roles, schema, logging). Which of them stop Migrate is
// Migrate's business: schema problems only matter when a migration is to
// be applied.
func (s State) Problems() []Problem {
	var ps []Problem
	add := func(code Code, check, format string, args ...any) {
		ps = append(ps, Problem{Code: code, Check: check, Msg: fmt.Sprintf(format, args...)})
	}
	if s.ServerVersionNum < MinServerVersion {
		add(ServerTooOld, "server", "PostgreSQL %s is too old: the migrations need PostgreSQL 14 or later", s.ServerVersion)
	}

	switch v := s.Vault; {
	case v.Kind == vaultstate.Absent:
		add(VaultAbsent, "vault", "Vault is not installed (there is no schema vault): install the supabase_vault extension "+
			"(CREATE EXTENSION supabase_vault), or on plain PostgreSQL run Migrate with WithCompatVault as a superuser")
	case v.Kind == vaultstate.Foreign:
		add(VaultForeign, "vault", "%s", UntrustedVault(v))
	case v.Kind == vaultstate.Compat && v.CompatVersion < vaultstate.CompatVersion:
		add(CompatOutdated, "vault", "compatibility layer compat %d is outdated: a role that controls the schema of pgcrypto, "+
			"or a caller's temporary types, can make it run code as its superuser owner with the root key; "+
			"upgrade it to compat %d with Migrate and WithCompatVault, as a superuser",
			v.CompatVersion, vaultstate.CompatVersion)
	}
	for _, p := range s.MissingVaultPrivileges {
		owner := "Vault's owner"
		if s.Vault.Owner != "" {
			owner += " (" + pgx.Identifier{s.Vault.Owner}.Sanitize() + ")"
		}
		add(VaultPrivileges, "vault", "%s, which owns the credential functions, lacks %s, which the functions use: "+
			"the calls that need it fail; have %s grant it back: GRANT %s ON %s %s TO %s",
			pgx.Identifier{s.FunctionsOwner}.Sanitize(), p, owner, p.Privilege, strings.ToUpper(p.Kind), p.Object,
			pgx.Identifier{s.FunctionsOwner}.Sanitize())
	}

	if len(s.MissingRoles) > 0 {
		add(RolesMissing, "roles", "roles %s must exist: Supabase has them, and on plain PostgreSQL the compatibility layer "+
			"creates them (run Migrate with WithCompatVault as a superuser)", strings.Join(s.MissingRoles, ", "))
	}

	sc := s.Schema
	switch {
	case !sc.CanCreate:
		add(SchemaNotCreatable, "schema", "role %s may not create objects in schema %s%s; %s",
			pgx.Identifier{s.CurrentUser}.Sanitize(), pgx.Identifier{sc.Name}.Sanitize(), SupabaseNote(sc.Name), s.elsewhere())
	case !sc.OwnerTrusted:
		add(SchemaOwner, "schema", "schema %s is owned by %s, which could replace the functions Migrate would create there "+
			"as the current role: migrate as its owner, or %s", pgx.Identifier{sc.Name}.Sanitize(),
			pgx.Identifier{sc.Owner}.Sanitize(), s.elsewhere())
	case !sc.TableOwnerTrusted:
		add(TableOwner, "schema", "%s.%s is owned by %s, whose triggers on it would run as the current role: "+
			"migrate as its owner, or have it dropped", pgx.Identifier{sc.Name}.Sanitize(), MigrationTable,
			pgx.Identifier{sc.TableOwner}.Sanitize())
	}

	for _, p := range s.Logging.Problems() {
		add(Logging, "logging", "%s", p)
	}
	return ps
}

// UntrustedVault says why schema vault, which is neither Vault nor the
// compatibility layer owned by superusers, is refused, and what to do.
func UntrustedVault(v vaultstate.State) string {
	return v.Problem + ": it is not Vault, and the credential functions would hand every secret to it; refusing to use it: " +
		"have a superuser inspect and drop schema vault, then install the supabase_vault extension, " +
		"or on plain PostgreSQL run Migrate with WithCompatVault as a superuser"
}

// SupabaseNote explains, for schema vault, that on Supabase nobody but
// Vault's owner may create in it: " (on Supabase only supabase_admin
// may)"; "" for any other schema.
func SupabaseNote(schema string) string {
	if schema == "vault" {
		return " (on Supabase only supabase_admin may)"
	}
	return ""
}

// elsewhere suggests a schema the current user may install into, as a Go
// option.
func (s State) elsewhere() string {
	if s.SuggestedSchema != "" && s.SuggestedSchema != s.Schema.Name {
		return fmt.Sprintf("install into a schema it may create in, such as %q, with WithSchema(%q)",
			s.SuggestedSchema, s.SuggestedSchema)
	}
	return fmt.Sprintf("install into a schema it may create in with WithSchema, after a role that may has granted %s "+
		"CREATE on one (GRANT CREATE ON SCHEMA ... TO %[1]s) or on the database",
		pgx.Identifier{s.CurrentUser}.Sanitize())
}
