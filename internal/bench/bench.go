// Package bench holds the measurements shared by the benchmarks in
// tests/bench_test.go and by cmd/vaultbench: each credential call of package
// vault next to the same work written by hand with pgx against Supabase
// Vault, the SQL function alone, and reference cases.
//
// An [Env] is a migrated database plus the benchmark's own tables: a
// bookkeeping table shaped like the library's (bench_book) and a plain log
// (bench_access), which the hand-written cases write to. Each [Operation]
// has the library call, the baseline its ratio is taken against (the Vault
// call plus one plain INSERT or UPDATE of a bookkeeping row, in one round
// trip) and reference cases. A [Case] is prepared outside any timer for a
// known number of calls and returns an [Op] that performs the i-th call.
package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/credvault/vault"
)

// Role is the role the library client calls the functions as, as in
// production on Supabase (the pool connects as postgres).
const Role = "service_role"

// Case names.
const (
	Library  = "library"   // the vault.Client call
	Hand     = "hand"      // the Vault call plus one plain bookkeeping row, by hand, one round trip
	SQL      = "sql"       // the credential function alone, one prepared statement, as the connection role
	SQLSetup = "sql+setup" // the statements the library sends, without the library: its settings statement and the function
	Vault    = "vault"     // the bare Vault call written by hand
	Insert   = "insert"    // a plain INSERT into an unencrypted table
	Single   = "retrieve"  // one vault.Client Retrieve, beside RetrieveMany
)

// ErrExhausted is returned by an [Op] asked for more calls than its
// [Case.Prepare] readied.
var ErrExhausted = errors.New("bench: no prepared target left")

// Op performs the i-th call of a measurement. i is unique within one
// preparation; callers hand out 0, 1, 2, ... from a shared counter.
type Op func(ctx context.Context, i int) error

// Case is one way of doing an operation.
type Case struct {
	Name string
	// Prepare readies n calls (for example by creating the secrets they
	// act on) and returns the function that performs them. It is not
	// timed.
	Prepare func(ctx context.Context, e *Env, n int) (Op, error)
}

// Env is a migrated database prepared for the measurements.
type Env struct {
	// Pool connects as the role that ran the migrations (postgres); the
	// hand-written cases run on it as that role.
	Pool *pgxpool.Pool
	// Client is the production configuration: Pool, the functions'
	// schema, WithRole(Role) and a discarding logger.
	Client *vault.Client
	// Schema holds the credential functions and the benchmark's tables.
	Schema string
	// CPU, if not nil, returns the CPU time used so far by the client and
	// the database server; [Measure] then reports the CPU time of the
	// calls it measures.
	CPU func() (CPUTimes, error)
	// CallCPU, if not nil, returns the CPU time used so far by this
	// process and by the server backend of Pool's one connection, cheaply
	// enough to be read around every call: [MeasurePaired] then reports
	// the median CPU time of a call. See [BackendCPUClock].
	CallCPU func(ctx context.Context) (CPUTimes, error)

	s                   string // quoted Schema
	book, access, plain string // quoted names of the benchmark's tables
	prefix              string // name prefix of everything this Env creates
	values              []string
	seq                 atomic.Int64
}

// NewEnv creates the benchmark's tables in schema (the schema of the
// credential functions) and the library client.
func NewEnv(ctx context.Context, pool *pgxpool.Pool, schema string) (*Env, error) {
	client, err := vault.New(pool, vault.WithSchema(schema), vault.WithRole(Role),
		vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	s := pgx.Identifier{schema}.Sanitize()
	e := &Env{
		Pool:   pool,
		Client: client,
		Schema: schema,
		s:      s,
		book:   s + ".bench_book",
		access: s + ".bench_access",
		plain:  s + ".bench_plain",
		prefix: "bench/" + randomHex(6) + "/",
		values: make([]string, 256),
	}
	for i := range e.values {
		e.values[i] = "bench-" + randomHex(24)
	}
	// bench_book is the hand-written bookkeeping: the library's columns
	// that a hand-written service would keep, its unique name and fill
	// factor.
	_, err = pool.Exec(ctx, `
CREATE TABLE IF NOT EXISTS `+e.book+` (
    id          uuid        PRIMARY KEY,
    namespace   text        COLLATE "C" NOT NULL DEFAULT '',
    name        text        COLLATE "C" NOT NULL,
    description text        NOT NULL DEFAULT '',
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (namespace, name)
) WITH (fillfactor = 80);
CREATE TABLE IF NOT EXISTS `+e.access+` (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_id   uuid        NOT NULL,
    accessed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE TABLE IF NOT EXISTS `+e.plain+` (
    id         uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name       text        NOT NULL,
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
)`)
	if err != nil {
		return nil, fmt.Errorf("bench: create tables: %w", err)
	}
	return e, nil
}

// SetupStatement is the settings statement the library sends first in every
// call's batch on a pool, with WithRole: keep bind parameters out of the
// error log, plan generically, switch role. The sql+setup cases send it,
// so that they differ from the library call only by the Go client.
const SetupStatement = "SELECT pg_catalog.set_config('log_parameter_max_length_on_error', '0', true), " +
	"pg_catalog.set_config('plan_cache_mode', 'force_generic_plan', true), " +
	"pg_catalog.set_config('role', $1, true)"

// Reset removes what the measurements created: this Env's secrets and
// their bookkeeping, the rows of its tables and the access log. Call it
// between measurements so that table sizes do not drift.
func (e *Env) Reset(ctx context.Context) error {
	like := e.prefix + "%"
	_, err := e.Pool.Exec(ctx, `
DELETE FROM vault.secrets AS s USING `+e.s+`.vault_credentials AS c
 WHERE c.id = s.id AND c.name LIKE $1`, like)
	if err == nil {
		_, err = e.Pool.Exec(ctx, "DELETE FROM "+e.s+".vault_credentials WHERE name LIKE $1", like)
	}
	if err == nil {
		_, err = e.Pool.Exec(ctx, "DELETE FROM vault.secrets WHERE name LIKE $1", like)
	}
	if err == nil {
		_, err = e.Pool.Exec(ctx, "TRUNCATE "+e.book+", "+e.access+", "+e.plain+", "+e.s+".vault_access_log")
	}
	if err != nil {
		return fmt.Errorf("bench: reset: %w", err)
	}
	return nil
}

// Close drops the benchmark's tables and secrets.
func (e *Env) Close(ctx context.Context) error {
	if err := e.Reset(ctx); err != nil {
		return err
	}
	_, err := e.Pool.Exec(ctx, "DROP TABLE IF EXISTS "+e.book+", "+e.access+", "+e.plain)
	return err
}

// reusedTargets caps the number of credentials that the calls on an
// existing credential cycle through: enough that concurrent callers rarely
// touch the same one.
const reusedTargets = 512

// value returns a random secret value made at start; values are never
// literals.
func (e *Env) value(i int) string { return e.values[i%len(e.values)] }

// name returns a fresh unique name.
func (e *Env) name() string {
	return e.prefix + strconv.FormatInt(e.seq.Add(1), 10)
}

// target is a credential the measurements act on: known to the library
// (a Vault secret with its bookkeeping row in the client's namespace) and
// to the hand-written cases (a bench_book row with the same id and name).
type target struct {
	id   uuid.UUID
	name string
}

// createTargets makes n credentials in bulk, as the owner: Vault secrets
// without a Vault name, as Put makes them, and their rows in the library's
// bookkeeping and in bench_book.
func (e *Env) createTargets(ctx context.Context, n int) ([]target, error) {
	values := make([]string, n)
	names := make([]string, n)
	batch := e.prefix + "t/" + randomHex(4) + "/"
	for i := range values {
		values[i] = e.value(i)
		names[i] = batch + strconv.Itoa(i)
	}
	rows, err := e.Pool.Query(ctx, `
WITH made AS (
    INSERT INTO `+e.s+`.vault_credentials (id, namespace, name, description)
    SELECT vault.create_secret(t.v, NULL, ''), $3, t.n, ''
      FROM unnest($1::text[], $2::text[]) AS t(v, n)
    RETURNING id, name
), book AS (
    INSERT INTO `+e.book+` (id, namespace, name) SELECT id, $3, name FROM made
)
SELECT id, name FROM made`, values, names, e.Client.Namespace())
	if err != nil {
		return nil, fmt.Errorf("bench: create credentials: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (target, error) {
		var t target
		err := r.Scan(&t.id, &t.name)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("bench: create credentials: %w", err)
	}
	return ts, nil
}

// reused returns min(n, reusedTargets) fresh credentials (at least one) and
// the function that picks the i-th call's target.
func (e *Env) reused(ctx context.Context, n int) ([]target, func(int) int, error) {
	ts, err := e.createTargets(ctx, max(1, min(n, reusedTargets)))
	if err != nil {
		return nil, nil, err
	}
	return ts, func(i int) int { return i % len(ts) }, nil
}

// consumed returns n fresh credentials and the function that picks the
// i-th call's target, which no other call gets.
func (e *Env) consumed(ctx context.Context, n int) (func(int) (target, error), error) {
	ts, err := e.createTargets(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(i int) (target, error) {
		if i < 0 || i >= len(ts) {
			return target{}, ErrExhausted
		}
		return ts[i], nil
	}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}
