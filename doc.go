// Package vault keeps third-party integration credentials (API keys, OAuth
// client secrets, tokens) in Supabase Vault instead of plain columns.
//
// A [Client] gives Go services [Client.Store], [Client.Retrieve],
// [Client.Rotate] and [Client.Delete], and around them a secret store's
// lifecycle (see Lifecycle below: namespaces, exact names with
// [Client.Put], versions with check-and-set, exactly-once OAuth refresh,
// rollback, a recovery window, batch retrieval, export and import), each
// backed by a SECURITY DEFINER SQL function that only service_role may
// execute. Every operation, read or write, appends a row to an append-only
// access log in the database, and every call, including denied and failed
// ones, is reported to a [log/slog] logger. Your tables keep only the id a
// credential has in Vault.
//
// # Setup
//
// The SQL ships inside this module ([Migrations]) and is applied by
// [Client.Migrate], typically once at startup:
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	// handle err
//	creds, err := vault.New(pool, vault.WithSchema("credentials"), vault.WithRole("service_role"))
//	// handle err
//	if err := creds.Migrate(ctx); err != nil { /* handle err */ }
//
//	id, err := creds.Store(ctx, "acme/quickbooks", apiKey, "QuickBooks OAuth client secret")
//	// save id in your organization_integrations row: build the client on
//	// the transaction that writes it (see Connections), so both commit together
//	secret, err := creds.Retrieve(ctx, id)
//
// Migrate runs as the connection's own role, not the one given with
// [WithRole]: that role owns the functions.
//
// On hosted Supabase and `supabase start`, the migration role postgres may
// not create objects in schema vault, so pass [WithSchema] with a schema of
// your own (the functions still use Vault in schema vault). On plain
// PostgreSQL without the supabase_vault extension, opt into the
// compatibility layer with [WithCompatVault].
//
// # Privileges
//
// The functions are SECURITY DEFINER, owned by the role that ran Migrate,
// with search_path pinned to pg_catalog, pg_temp. EXECUTE is revoked from
// PUBLIC, anon and authenticated and granted to service_role only, so end
// users reaching the database through PostgREST cannot call them even when
// the schema is exposed. [WithRole] makes every call run as a given role
// (SET LOCAL ROLE), which is how a service connected as postgres calls
// them as service_role. The access log can be read only by its owner.
//
// # Connections
//
// [New] accepts a [*pgxpool.Pool], a [*pgx.Conn] or a [pgx.Tx]. On a pool
// every call is one round trip; inside a transaction a call takes a
// savepoint first, so a failed call leaves the transaction usable. Building
// the client on a transaction is also how a Store and the row that keeps
// its id commit together. Behind a transaction-mode pooler (PgBouncer,
// Supavisor on port 6543) set ConnConfig.DefaultQueryExecMode to
// [pgx.QueryExecModeExec]: with pgx's default, prepared statements reach
// other server connections and calls fail with [ErrUnsupported]. New refuses
// [pgx.QueryExecModeSimpleProtocol], which would put secrets into SQL text
// that the server logs for failing statements. Every call but List writes,
// Retrieve included (the access log), so send them to the primary in a
// read-write transaction; elsewhere they fail with [ErrReadOnly].
//
// # Errors
//
// Every method returns an [*Error] carrying the operation and the
// credential's id or name, never its value. Its Kind is one of this
// package's sentinel errors (ErrNotFound, ErrPermissionDenied, ...), which
// [errors.Is] matches; [KindOf] returns it, [IsRetryable] tells which
// failures may pass when the call is made again, and [Hint] says what to do.
// The kinds are kept in one table, listed in the README's "Errors and
// SQLSTATEs" section with the SQLSTATEs that map to each, whether it is
// retryable and the level its calls are logged at. Reach the server's
// [*pgconn.PgError] with [errors.As]. Context cancellation stays reachable
// as [context.Canceled] or [context.DeadlineExceeded], which are also the
// kind of such errors.
//
// For errors of your own statements, KindOf answers only where the answer
// does not depend on the statement: the plaintext guard's rejection, and
// conditions of the connection or server such as [ErrConnection] or
// [ErrConflict]. A [pgx.ErrNoRows] from your own query is not [ErrNotFound].
//
// # Logging
//
// Each call writes one record, message "vault call", to the [*slog.Logger]
// given with [WithLogger] (default [slog.Default]), with its operation, the
// credential's id or name, outcome, duration, schema, role and SQLSTATE;
// values are never logged. A successful call is logged at DEBUG; a failed
// one at INFO when the caller caused it and handles it (not found, invalid
// argument, in use, an error of the caller's own Refresh function), at WARN when it is security-relevant or transient
// (permission denied, connection, timeout, conflict), and at ERROR when an
// operator must fix something (decryption, not migrated, read-only,
// unsupported, server). The README's kinds table gives each kind's level.
//
// Each call also sets log_parameter_max_length_on_error = 0 for its
// transaction so a failing statement does not write the secret into the
// server log, and plan_cache_mode = force_generic_plan so that auto_explain
// (log_verbose) finds no value in its plans or in those of the statements
// it runs inside the credential functions and Vault; inside a caller's
// transaction the caller's plan_cache_mode is restored after the call.
// Statement logging (log_statement = 'all' or 'mod',
// log_min_duration_statement) still logs bind parameters unless a
// superuser sets log_parameter_max_length = 0: [Client.Migrate] warns when
// the server would, and when auto_explain would log values (log_verbose,
// which shows those of other clients' statements, and from PostgreSQL 16
// any auto_explain.log_parameter_max_length but 0). Do not attach pgx
// tracers that log query arguments (tracelog) to the pool used here.
//
// # Lifecycle
//
// Store, Retrieve, Rotate and Delete address credentials by the id Store
// returns. Around them the package keeps each credential's metadata in its
// own indexed table next to Vault (namespace, name, description, version,
// expiry, timestamps) and offers the rest of a secret store's lifecycle:
//
//   - [WithNamespace] scopes a client to one namespace, typically an
//     organization: another namespace's credential is, to every call on a
//     credential, an unknown id. Clients without it use the default
//     namespace "". [Client.AccessLog], an owner's call, reads every
//     namespace's rows.
//   - [Client.Put] creates or updates the one credential with an exact name
//     in the namespace (at most one, even under concurrent Puts and
//     retries), [Client.Lookup] finds it by name and [Client.Get] by id
//     (metadata only, no audit row), [Client.Read] returns its value with
//     its metadata as a [Secret], which never prints its value.
//   - Every change of the value makes a new [Credential.Version].
//     [IfVersion] makes [Client.Rotate] a check-and-set
//     ([ErrVersionMismatch]); [Client.Rollback] makes the previous value
//     current again, as a new version (the previous value is kept as Vault
//     ciphertext, never in plaintext).
//   - [Client.Refresh] renews a token at its provider once per version,
//     however many workers refresh it at once (see below).
//   - [Client.RetrieveMany] returns several credentials of the namespace
//     (an integration's client secret, refresh token and webhook secret)
//     in one round trip, all or nothing: a missing id fails the call with
//     [ErrNotFound] and a [*MissingError] naming it, and nothing is
//     returned or audited.
//   - [Client.Update] changes name, description and expiry;
//     [ListFilter.ExpiresBefore] finds what to renew, [ListFilter.After]
//     and [Client.All] page through any number of credentials at a constant
//     cost per page.
//   - The access log ([Client.AccessLog]) records every successful
//     operation with its [AccessRecord.Op]: store, put, retrieve, read,
//     refresh, rotate, rollback, update, delete, restore, purge.
//
// The OAuth refresh pattern, for providers that rotate the refresh token on
// every use: fn runs once per version; concurrent callers wait and return
// its result.
//
//	token, err := creds.Refresh(ctx, id, func(ctx context.Context, cur vault.Secret) (string, error) {
//		return exchangeRefreshToken(ctx, cur.Value) // your call to the provider
//	})
//
// Vault names are unique across a database, so a namespace's names are
// kept in the library's table only: credentials created by Put or stored
// in a namespace other than the default one have no Vault name, and Store
// in the default namespace names the Vault secret as it always has.
// Vault secrets that existed when this version's migration was applied,
// and those created later without the library, belong to the default
// namespace: Retrieve, Read, Rotate and Delete reach them by id, Lookup and
// Put by their Vault name, and List shows them (the later ones once a
// write has recorded them). The original SQL functions
// (store_credential, retrieve_credential, rotate_credential,
// delete_credential) keep their behaviour and act on any namespace; the
// credential_* functions are the namespace-scoped SQL API.
//
// # Moving credentials
//
// A dump and restore does not carry Vault secrets to another project
// (another root key; postgres may not write vault.secrets). [Client.Export]
// reads credentials out with their values, page by page, auditing each
// (op "export"), and [Client.Import] re-creates them in another database
// in one transaction, idempotently (keyed by their source id), rewriting
// the columns of your tables that keep their ids ([ImportOptions.Remap]);
// [Client.ImportedIDs] streams the mapping of old to new ids. Both are for
// the owner only. Package github.com/credvault/vault/bundle encrypts the
// stream in between with age, in a documented, versioned format; this
// package does not depend on age.
//
// # Operations
//
// [WithRecoveryWindow] makes deletes recoverable: [Client.Delete] then
// hides a credential (every call treats it as an unknown id, and Put of
// its name fails with [ErrPendingDeletion]) until [Client.Restore] brings
// it back or, once the window has passed, [Client.Purge] removes it with
// its Vault row; [Recoverable] and [WithoutRecovery] decide for one call.
// [Client.Orphans] finds credentials that none of your tables references
// (a Store whose id never reached its row), older than a grace period, and
// [Client.DeleteOrphans] deletes them. [Client.PruneAccessLog] keeps the
// access log bounded, deleting in short batches that calls never wait
// for. Orphans, DeleteOrphans and PruneAccessLog run as the functions'
// owner (a client without [WithRole]). See the README's "Operations".
//
// # Testing
//
// Package github.com/credvault/vault/vaulttest starts a throwaway
// PostgreSQL with Supabase's roles, Vault and these migrations for your own
// tests, and runs code as anon, authenticated or service_role with JWT
// claims, as PostgREST does.
//
// # Plaintext guard
//
// Migrate also installs a trigger that rejects rows holding what looks like
// a plaintext credential (API keys of common providers, private keys, JWTs,
// passwords in URLs, api_key= assignments) with SQLSTATE VA001, naming the
// column but never echoing the value. Attach it to each integration table
// once, as its owner:
//
//	SELECT credentials.guard_plaintext_credentials('public.organization_integrations');
//
// Migrate attaches it to public.organization_integrations itself when that
// table exists. Classify the rejected INSERT's error with [KindOf], which
// returns [ErrPlaintextCredential].
package vault
