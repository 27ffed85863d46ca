// Package bench holds the measurements shared by the benchmarks in
// tests/bench_test.go and by cmd/vaultbench: each credential call of package
// vault next to the same work written by hand against Supabase Vault, and a
// plain INSERT into an unencrypted table as the floor of a durable write.
//
// An [Env] is a migrated database plus the benchmark's own tables. Each
// [Operation] has the library call, the baseline its ratio is taken against
// and reference cases. A [Case] is prepared outside any timer for a known
// number of calls and returns an [Op] that performs the i-th call.
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
	"time"

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
	Library     = "library"      // the vault.Client call
	Vault       = "vault"        // the bare Vault call written by hand
	VaultInsert = "vault+insert" // hand-written decrypt plus one plain INSERT, one round trip
	Insert      = "insert"       // a plain INSERT into an unencrypted table
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

// Operation is one credential call with the cases it is compared with.
type Operation struct {
	Name string // "Store", "Retrieve", "Rotate", "Delete"
	// Library is the vault.Client call.
	Library Case
	// Baseline is what the library's ratio is taken against: the bare
	// Vault call, or for Retrieve the bare decrypt plus one plain INSERT
	// (the access-log row) in one round trip.
	Baseline Case
	// References are measured beside them for context: the plain INSERT
	// floor, and for Retrieve the bare decrypt.
	References []Case
}

// Env is a migrated database prepared for the measurements.
type Env struct {
	// Pool connects as the role that ran the migrations (postgres); the
	// baselines run on it as that role.
	Pool *pgxpool.Pool
	// Client is the production configuration: Pool, the functions'
	// schema, WithRole(Role) and a discarding logger.
	Client *vault.Client
	// Schema holds the credential functions and the benchmark's tables.
	Schema string
	// CPU, if not nil, returns the CPU time used so far by the client and
	// the database server; [Measure] then reports the CPU time of the
	// calls it measures.
	CPU func() (time.Duration, error)

	plain, access string // quoted names of the benchmark's tables
	prefix        string // name prefix of everything this Env creates in Vault
	values        []string
	seq           atomic.Int64
}

// NewEnv creates the benchmark's two unencrypted tables in schema (the
// schema of the credential functions) and the library client.
func NewEnv(ctx context.Context, pool *pgxpool.Pool, schema string) (*Env, error) {
	client, err := vault.New(pool, vault.WithSchema(schema), vault.WithRole(Role),
		vault.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, err
	}
	e := &Env{
		Pool:   pool,
		Client: client,
		Schema: schema,
		plain:  pgx.Identifier{schema, "bench_plain"}.Sanitize(),
		access: pgx.Identifier{schema, "bench_access"}.Sanitize(),
		prefix: "bench/" + randomHex(6) + "/",
		values: make([]string, 256),
	}
	for i := range e.values {
		e.values[i] = "bench-" + randomHex(24)
	}
	_, err = pool.Exec(ctx, `
CREATE TABLE IF NOT EXISTS `+e.plain+` (
    id         uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
    name       text        NOT NULL,
    secret     text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
CREATE TABLE IF NOT EXISTS `+e.access+` (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_id   uuid        NOT NULL,
    accessed_at timestamptz NOT NULL DEFAULT pg_catalog.now()
)`)
	if err != nil {
		return nil, fmt.Errorf("bench: create tables: %w", err)
	}
	return e, nil
}

// Reset removes what the measurements created: this Env's secrets, the
// rows of its tables and the access log. Call it between measurements so
// that table sizes do not drift.
func (e *Env) Reset(ctx context.Context) error {
	_, err := e.Pool.Exec(ctx, "DELETE FROM vault.secrets WHERE name LIKE $1", e.prefix+"%")
	if err == nil {
		_, err = e.Pool.Exec(ctx, "TRUNCATE "+e.plain+", "+e.access+", "+
			pgx.Identifier{e.Schema, "vault_access_log"}.Sanitize())
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
	_, err := e.Pool.Exec(ctx, "DROP TABLE IF EXISTS "+e.plain+", "+e.access)
	return err
}

// Operations returns Store, Retrieve, Rotate and Delete, in that order.
func Operations() []Operation {
	insert := Case{Name: Insert, Prepare: prepareInsert}
	return []Operation{
		{
			Name:       "Store",
			Library:    Case{Name: Library, Prepare: prepareStore},
			Baseline:   Case{Name: Vault, Prepare: prepareCreateSecret},
			References: []Case{insert},
		},
		{
			Name:       "Retrieve",
			Library:    Case{Name: Library, Prepare: prepareRetrieve},
			Baseline:   Case{Name: VaultInsert, Prepare: prepareDecryptInsert},
			References: []Case{{Name: Vault, Prepare: prepareDecrypt}},
		},
		{
			Name:       "Rotate",
			Library:    Case{Name: Library, Prepare: prepareRotate},
			Baseline:   Case{Name: Vault, Prepare: prepareUpdateSecret},
			References: []Case{insert},
		},
		{
			Name:       "Delete",
			Library:    Case{Name: Library, Prepare: prepareDelete},
			Baseline:   Case{Name: Vault, Prepare: prepareDeleteSecret},
			References: []Case{insert},
		},
	}
}

// Cases returns the operation's library case, its baseline and its
// references, in that order.
func (o Operation) Cases() []Case {
	return append([]Case{o.Library, o.Baseline}, o.References...)
}

// reusedTargets caps the number of secrets that Retrieve and Rotate cycle
// through: enough that concurrent callers rarely touch the same row.
const reusedTargets = 512

// value returns a random secret value made at start; values are never
// literals.
func (e *Env) value(i int) string { return e.values[i%len(e.values)] }

// name returns a fresh unique name: Vault keeps names unique, and a
// repeated name would take store_credential's retry path.
func (e *Env) name() string {
	return e.prefix + strconv.FormatInt(e.seq.Add(1), 10)
}

// createSecrets makes n secrets with hand-written SQL in one statement.
func (e *Env) createSecrets(ctx context.Context, n int) ([]uuid.UUID, error) {
	values := make([]string, n)
	for i := range values {
		values[i] = e.value(i)
	}
	rows, err := e.Pool.Query(ctx, `
SELECT vault.create_secret(t.v, $2 || t.n::text)
  FROM unnest($1::text[]) WITH ORDINALITY AS t(v, n)`, values, e.prefix+"seed/"+randomHex(4)+"/")
	if err != nil {
		return nil, fmt.Errorf("bench: create secrets: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("bench: create secrets: %w", err)
	}
	return ids, nil
}

// reused returns min(n, reusedTargets) fresh secrets (at least one) and the
// function that picks the i-th call's target.
func (e *Env) reused(ctx context.Context, n int) (func(int) uuid.UUID, error) {
	ids, err := e.createSecrets(ctx, max(1, min(n, reusedTargets)))
	if err != nil {
		return nil, err
	}
	return func(i int) uuid.UUID { return ids[i%len(ids)] }, nil
}

// consumed returns n fresh secrets and the function that picks the i-th
// call's target, which no other call gets.
func (e *Env) consumed(ctx context.Context, n int) (func(int) (uuid.UUID, error), error) {
	ids, err := e.createSecrets(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(i int) (uuid.UUID, error) {
		if i < 0 || i >= len(ids) {
			return uuid.Nil, ErrExhausted
		}
		return ids[i], nil
	}, nil
}

const description = "benchmark"

func prepareStore(_ context.Context, e *Env, _ int) (Op, error) {
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Store(ctx, e.name(), e.value(i), description)
		return err
	}, nil
}

func prepareCreateSecret(_ context.Context, e *Env, _ int) (Op, error) {
	return func(ctx context.Context, i int) error {
		var id uuid.UUID
		return e.Pool.QueryRow(ctx, "select vault.create_secret($1, $2, $3)",
			e.value(i), e.name(), description).Scan(&id)
	}, nil
}

func prepareInsert(_ context.Context, e *Env, _ int) (Op, error) {
	sql := "insert into " + e.plain + " (name, secret) values ($1, $2)"
	return func(ctx context.Context, i int) error {
		_, err := e.Pool.Exec(ctx, sql, e.name(), e.value(i))
		return err
	}, nil
}

const qDecrypt = "select decrypted_secret from vault.decrypted_secrets where id = $1"

func prepareRetrieve(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Retrieve(ctx, target(i))
		return err
	}, nil
}

func prepareDecrypt(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		var s string
		return e.Pool.QueryRow(ctx, qDecrypt, target(i)).Scan(&s)
	}, nil
}

func prepareDecryptInsert(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	insert := "insert into " + e.access + " (secret_id) values ($1)"
	return func(ctx context.Context, i int) error {
		id := target(i)
		var s string
		b := &pgx.Batch{}
		b.Queue(qDecrypt, id).QueryRow(func(row pgx.Row) error { return row.Scan(&s) })
		b.Queue(insert, id)
		return e.Pool.SendBatch(ctx, b).Close()
	}, nil
}

func prepareRotate(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		return e.Client.Rotate(ctx, target(i), e.value(i+1))
	}, nil
}

func prepareUpdateSecret(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Pool.Exec(ctx, "select vault.update_secret($1, $2)", target(i), e.value(i+1))
		return err
	}, nil
}

func prepareDelete(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.consumed(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		id, err := target(i)
		if err != nil {
			return err
		}
		return e.Client.Delete(ctx, id)
	}, nil
}

func prepareDeleteSecret(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.consumed(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		id, err := target(i)
		if err != nil {
			return err
		}
		_, err = e.Pool.Exec(ctx, "delete from vault.secrets where id = $1", id)
		return err
	}, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails on supported platforms
	return hex.EncodeToString(b)
}
