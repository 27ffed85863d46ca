package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/credvault/vault"
)

// Operation is one credential call with the cases it is compared with.
type Operation struct {
	Name string // "Store", "Retrieve", ...
	// Library is the vault.Client call.
	Library Case
	// Baseline is what the library's ratio is taken against: the same
	// work written by hand with pgx in one round trip, the Vault call plus
	// one plain INSERT or UPDATE of a bookkeeping row (Refresh: two round
	// trips, as the library's).
	Baseline Case
	// References are measured beside them: the credential function alone
	// (the SQL-level comparison), the library's statements sent without
	// the library, and the bare Vault call.
	References []Case
}

// Cases returns the operation's library case, its baseline and its
// references, in that order.
func (o Operation) Cases() []Case {
	return append([]Case{o.Library, o.Baseline}, o.References...)
}

// Case returns the case called name, if the operation has one.
func (o Operation) Case(name string) (Case, bool) {
	for _, c := range o.Cases() {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// extraOperations are operations defined in other files, appended to
// those of Operations.
var extraOperations []Operation

// Operations returns the measured operations: Store, Retrieve, Rotate
// (with IfVersion), Delete, Put (of an existing name), Read, Refresh
// (without contention), Lookup, Store of a name already taken in Vault
// against Store of a free one, and RetrieveMany of ten credentials against
// one Retrieve.
func Operations() []Operation {
	return append([]Operation{
		credentialOp("Store", prepareStore, prepareStoreHand, prepareStoreSQL, prepareCreateSecret),
		credentialOp("Retrieve", prepareRetrieve, prepareDecryptInsert, prepareRetrieveSQL, prepareDecrypt),
		credentialOp("Rotate", prepareRotate, prepareRotateHand, prepareRotateSQL, prepareUpdateSecret),
		credentialOp("Delete", prepareDelete, prepareDeleteHand, prepareDeleteSQL, prepareDeleteSecret),
		credentialOp("Put", preparePut, preparePutHand, preparePutSQL, prepareUpdateSecret),
		credentialOp("Read", prepareRead, prepareReadHand, prepareReadSQL, prepareDecrypt),
		credentialOp("Refresh", prepareRefresh, prepareRefreshHand, prepareRefreshSQL, nil),
		credentialOp("Lookup", prepareLookup, prepareLookupHand, prepareLookupSQL, nil),
		{
			// The ratio is the taken-name path over the free-name path.
			Name:     "StoreTaken",
			Library:  Case{Name: Library, Prepare: prepareStoreTaken},
			Baseline: Case{Name: "library, free name", Prepare: prepareStore},
		},
	}, extraOperations...)
}

// credentialOp returns the operation called name with its library case,
// its hand-written baseline, and as references the credential function
// alone and after the library's settings statement (sql(false),
// sql(true)), then the bare Vault call, unless vaultCall is nil.
func credentialOp(name string, library, hand prepareFunc, sql func(setup bool) prepareFunc, vaultCall prepareFunc) Operation {
	op := Operation{
		Name:     name,
		Library:  Case{Name: Library, Prepare: library},
		Baseline: Case{Name: Hand, Prepare: hand},
		References: []Case{
			{Name: SQL, Prepare: sql(false)},
			{Name: SQLSetup, Prepare: sql(true)},
		},
	}
	if vaultCall != nil {
		op.References = append(op.References, Case{Name: Vault, Prepare: vaultCall})
	}
	return op
}

const description = "benchmark"

// batch sends the queued statements in one round trip.
func (e *Env) batch(ctx context.Context, queue func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	queue(b)
	return e.Pool.SendBatch(ctx, b).Close()
}

// queueSetup queues the library's settings statement when setup is true.
func queueSetup(b *pgx.Batch, setup bool) {
	if setup {
		b.Queue(SetupStatement, Role)
	}
}

// prepareFunc is a Case's Prepare.
type prepareFunc = func(ctx context.Context, e *Env, n int) (Op, error)

// targetOp performs call i on the target t.
type targetOp func(ctx context.Context, t target, i int) error

// onReused returns a Prepare whose calls each act on one of the targets
// e.reused makes, picked by the call's number. build runs once, untimed,
// and returns what a call does.
func onReused(build func(e *Env) targetOp) prepareFunc {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, pick, err := e.reused(ctx, n)
		if err != nil {
			return nil, err
		}
		op := build(e)
		return func(ctx context.Context, i int) error { return op(ctx, ts[pick(i)], i) }, nil
	}
}

// onConsumed returns a Prepare whose calls each use up a target of their
// own (see Env.consumed). build runs once, untimed, and returns what a
// call does.
func onConsumed(build func(e *Env) targetOp) prepareFunc {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		target, err := e.consumed(ctx, n)
		if err != nil {
			return nil, err
		}
		op := build(e)
		return func(ctx context.Context, i int) error {
			t, err := target(i)
			if err != nil {
				return err
			}
			return op(ctx, t, i)
		}, nil
	}
}

// onVersioned is onReused for check-and-set calls: a call gets its
// target's current version v, and counts as a new version when it
// succeeds; calls of one target are serialized.
func onVersioned(build func(e *Env) func(ctx context.Context, t target, v int64, i int) error) prepareFunc {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, pick, err := e.reused(ctx, n)
		if err != nil {
			return nil, err
		}
		vs := newVersions(len(ts))
		op := build(e)
		return func(ctx context.Context, i int) error {
			k := pick(i)
			return vs.with(k, func(v int64) error { return op(ctx, ts[k], v, i) })
		}, nil
	}
}

// sqlBatch returns a call that sends in one round trip the library's
// settings statement when setup is true, then what queue queues for call
// i on t: a credential function called without the library.
func (e *Env) sqlBatch(setup bool, queue func(b *pgx.Batch, t target, i int)) targetOp {
	return func(ctx context.Context, t target, i int) error {
		return e.batch(ctx, func(b *pgx.Batch) {
			queueSetup(b, setup)
			queue(b, t, i)
		})
	}
}

// scan returns a QueryRow callback that scans the row into dest.
func scan(dest ...any) func(pgx.Row) error {
	return func(r pgx.Row) error { return r.Scan(dest...) }
}

// ---- Store

func prepareStore(_ context.Context, e *Env, _ int) (Op, error) {
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Store(ctx, e.name(), e.value(i), description)
		return err
	}, nil
}

// prepareStoreTaken stores under a name that Vault already has for a
// secret made without the library (so the library's bookkeeping does not
// know the name): each Store finds it taken and takes a suffixed name.
func prepareStoreTaken(ctx context.Context, e *Env, _ int) (Op, error) {
	taken := e.name()
	if _, err := e.Pool.Exec(ctx, "SELECT vault.create_secret($1, $2)", e.value(0), taken); err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Store(ctx, taken, e.value(i), description)
		return err
	}, nil
}

// prepareStoreHand creates the Vault secret, named as the library names
// it in the default namespace, and inserts its bookkeeping row, in one
// statement.
func prepareStoreHand(_ context.Context, e *Env, _ int) (Op, error) {
	sql := "INSERT INTO " + e.book + " (id, namespace, name, description) SELECT vault.create_secret($1, $2, $3), $4, $2, $3"
	return func(ctx context.Context, i int) error {
		_, err := e.Pool.Exec(ctx, sql, e.value(i), e.name(), description, e.Client.Namespace())
		return err
	}, nil
}

func prepareStoreSQL(setup bool) prepareFunc {
	return func(_ context.Context, e *Env, _ int) (Op, error) {
		sql := "SELECT " + e.s + ".credential_store($1, $2, $3, $4)"
		op := e.sqlBatch(setup, func(b *pgx.Batch, _ target, i int) {
			var id uuid.UUID
			b.Queue(sql, e.Client.Namespace(), e.name(), e.value(i), description).QueryRow(scan(&id))
		})
		return func(ctx context.Context, i int) error { return op(ctx, target{}, i) }, nil
	}
}

func prepareCreateSecret(_ context.Context, e *Env, _ int) (Op, error) {
	return func(ctx context.Context, i int) error {
		var id uuid.UUID
		return e.Pool.QueryRow(ctx, "SELECT vault.create_secret($1, $2, $3)", e.value(i), e.name(), description).Scan(&id)
	}, nil
}

// ---- Retrieve

const qDecrypt = "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE id = $1"

var prepareRetrieve = onReused(func(e *Env) targetOp {
	return func(ctx context.Context, t target, _ int) error {
		_, err := e.Client.Retrieve(ctx, t.id)
		return err
	}
})

var prepareDecryptInsert = onReused(func(e *Env) targetOp {
	return e.loggedRead(qDecrypt, func() []any {
		var s string
		return []any{&s}
	})
})

// loggedRead returns a read written by hand: query, of the target's id,
// then the insert of the target's row in the hand-written access log, in
// one round trip; dest returns a call's scan destinations.
func (e *Env) loggedRead(query string, dest func() []any) targetOp {
	insert := "INSERT INTO " + e.access + " (secret_id) VALUES ($1)"
	return func(ctx context.Context, t target, _ int) error {
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue(query, t.id).QueryRow(scan(dest()...))
			b.Queue(insert, t.id)
		})
	}
}

func prepareRetrieveSQL(setup bool) prepareFunc {
	return sqlRow(setup, func(s string) string { return "SELECT " + s + ".credential_retrieve($1, $2)" },
		func() []any {
			var s string
			return []any{&s}
		},
		func(_ *Env, t target, _ int) []any { return []any{t.id} })
}

// sqlRow returns the case of a credential function that returns one row,
// called without the library (see Env.sqlBatch) on reused targets: the
// statement query makes of the schema, with the namespace and the
// arguments args returns for call i on t, scanned into what dest returns.
func sqlRow(setup bool, query func(schema string) string, dest func() []any, args func(e *Env, t target, i int) []any) prepareFunc {
	return onReused(func(e *Env) targetOp {
		sql := query(e.s)
		return e.sqlBatch(setup, func(b *pgx.Batch, t target, i int) {
			b.Queue(sql, append([]any{e.Client.Namespace()}, args(e, t, i)...)...).QueryRow(scan(dest()...))
		})
	})
}

var prepareDecrypt = onReused(func(e *Env) targetOp {
	return func(ctx context.Context, t target, _ int) error {
		var s string
		return e.Pool.QueryRow(ctx, qDecrypt, t.id).Scan(&s)
	}
})

// ---- Rotate with IfVersion

// versions tracks the version of each reused target, for check-and-set
// rotations; calls of one target are serialized.
type versions struct {
	mu []sync.Mutex
	v  []int64
}

func newVersions(n int) *versions {
	vs := &versions{mu: make([]sync.Mutex, n), v: make([]int64, n)}
	for i := range vs.v {
		vs.v[i] = 1
	}
	return vs
}

// with calls fn with target k's version and counts a successful call as a
// new version.
func (vs *versions) with(k int, fn func(v int64) error) error {
	vs.mu[k].Lock()
	defer vs.mu[k].Unlock()
	if err := fn(vs.v[k]); err != nil {
		return err
	}
	vs.v[k]++
	return nil
}

var prepareRotate = onVersioned(func(e *Env) func(context.Context, target, int64, int) error {
	return func(ctx context.Context, t target, v int64, i int) error {
		return e.Client.Rotate(ctx, t.id, e.value(i+1), vault.IfVersion(v))
	}
})

// prepareRotateHand sets the value and bumps the bookkeeping row's version
// if it is the expected one.
var prepareRotateHand = onVersioned(func(e *Env) func(context.Context, target, int64, int) error {
	update := "UPDATE " + e.book + " SET version = version + 1, updated_at = pg_catalog.now() WHERE id = $1 AND version = $2"
	return func(ctx context.Context, t target, v int64, i int) error {
		b := &pgx.Batch{}
		b.Queue("SELECT vault.update_secret($1, $2)", t.id, e.value(i+1))
		b.Queue(update, t.id, v).Exec(func(tag pgconn.CommandTag) error { return oneRow(tag) })
		return e.Pool.SendBatch(ctx, b).Close()
	}
})

func prepareRotateSQL(setup bool) prepareFunc {
	return onVersioned(func(e *Env) func(context.Context, target, int64, int) error {
		sql := "SELECT " + e.s + ".credential_rotate($1, $2, $3, $4)"
		return func(ctx context.Context, t target, v int64, i int) error {
			var next int64
			return e.batch(ctx, func(b *pgx.Batch) {
				queueSetup(b, setup)
				b.Queue(sql, e.Client.Namespace(), t.id, e.value(i+1), v).QueryRow(scan(&next))
			})
		}
	})
}

var prepareUpdateSecret = onReused(func(e *Env) targetOp {
	return func(ctx context.Context, t target, i int) error {
		_, err := e.Pool.Exec(ctx, "SELECT vault.update_secret($1, $2)", t.id, e.value(i+1))
		return err
	}
})

// ---- Delete

var prepareDelete = onConsumed(func(e *Env) targetOp {
	return func(ctx context.Context, t target, _ int) error {
		return e.Client.Delete(ctx, t.id)
	}
})

// prepareDeleteHand deletes the Vault secret and records the deletion in
// the hand-written log.
var prepareDeleteHand = onConsumed(func(e *Env) targetOp {
	insert := "INSERT INTO " + e.access + " (secret_id) VALUES ($1)"
	return func(ctx context.Context, t target, _ int) error {
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue("DELETE FROM vault.secrets WHERE id = $1", t.id)
			b.Queue(insert, t.id)
		})
	}
})

func prepareDeleteSQL(setup bool) prepareFunc {
	return onConsumed(func(e *Env) targetOp {
		sql := "SELECT " + e.s + ".credential_delete($1, $2)"
		return e.sqlBatch(setup, func(b *pgx.Batch, t target, _ int) {
			b.Queue(sql, e.Client.Namespace(), t.id)
		})
	})
}

var prepareDeleteSecret = onConsumed(func(e *Env) targetOp {
	return func(ctx context.Context, t target, _ int) error {
		_, err := e.Pool.Exec(ctx, "DELETE FROM vault.secrets WHERE id = $1", t.id)
		return err
	}
})

// ---- Put of an existing name

var preparePut = onReused(func(e *Env) targetOp {
	return func(ctx context.Context, t target, i int) error {
		_, err := e.Client.Put(ctx, t.name, e.value(i+1), description)
		return err
	}
})

// preparePutHand sets the value of the credential with that name and
// bumps its bookkeeping row, returning its metadata.
var preparePutHand = onReused(func(e *Env) targetOp {
	set := "SELECT vault.update_secret(b.id, $2, NULL, $3) FROM " + e.book + " AS b WHERE b.namespace = $4 AND b.name = $1"
	update := "UPDATE " + e.book + " SET version = version + 1, updated_at = pg_catalog.now(), description = $2 " +
		"WHERE namespace = $3 AND name = $1 RETURNING id, version, created_at, updated_at"
	return func(ctx context.Context, t target, i int) error {
		var m meta
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue(set, t.name, e.value(i+1), description, e.Client.Namespace())
			b.Queue(update, t.name, description, e.Client.Namespace()).QueryRow(scan(m.stamps()...))
		})
	}
})

func preparePutSQL(setup bool) prepareFunc {
	return sqlRow(setup, func(s string) string {
		return "SELECT id, version, created_at, updated_at FROM " + s + ".credential_put($1, $2, $3, $4)"
	}, func() []any { return new(meta).stamps() }, func(e *Env, t target, i int) []any { return []any{t.name, e.value(i + 1), description} })
}

// ---- Read

var prepareRead = onReused(func(e *Env) targetOp {
	return func(ctx context.Context, t target, _ int) error {
		_, err := e.Client.Read(ctx, t.id)
		return err
	}
})

// prepareReadHand decrypts the value with the bookkeeping row's metadata
// and logs the access.
var prepareReadHand = onReused(func(e *Env) targetOp {
	read := "SELECT b.id, b.namespace, b.name, b.description, b.version, b.created_at, b.updated_at, d.decrypted_secret " +
		"FROM vault.decrypted_secrets AS d JOIN " + e.book + " AS b ON b.id = d.id WHERE d.id = $1"
	return e.loggedRead(read, func() []any {
		var m meta
		return m.withSecret()
	})
})

func prepareReadSQL(setup bool) prepareFunc {
	return sqlRow(setup, func(s string) string {
		return "SELECT id, namespace, name, description, version, created_at, updated_at, secret FROM " + s + ".credential_read($1, $2)"
	}, func() []any { return new(meta).withSecret() }, func(_ *Env, t target, _ int) []any { return []any{t.id} })
}

// ---- Refresh without contention

var prepareRefresh = onReused(func(e *Env) targetOp {
	return func(ctx context.Context, t target, i int) error {
		_, err := e.Client.Refresh(ctx, t.id, func(context.Context, vault.Secret) (string, error) {
			return e.value(i + 1), nil
		})
		return err
	}
})

// refreshHand is a refresh written by hand: lock the bookkeeping row and
// read the value, then set the new value and bump the version, in one
// transaction of two round trips on one connection.
func (e *Env) refreshHand(ctx context.Context, begin, finish func(b *pgx.Batch, version *int64, value *string)) error {
	conn, err := e.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var (
		version int64
		value   string
	)
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	begin(b, &version, &value)
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	b = &pgx.Batch{}
	finish(b, &version, &value)
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	return nil
}

var prepareRefreshHand = onReused(func(e *Env) targetOp {
	lock := "SELECT b.version, d.decrypted_secret FROM " + e.book + " AS b JOIN vault.decrypted_secrets AS d ON d.id = b.id " +
		"WHERE b.id = $1 FOR NO KEY UPDATE OF b"
	update := "UPDATE " + e.book + " SET version = version + 1, updated_at = pg_catalog.now() WHERE id = $1"
	return func(ctx context.Context, t target, i int) error {
		return e.refreshHand(ctx, func(b *pgx.Batch, version *int64, value *string) {
			b.Queue(lock, t.id).QueryRow(scan(version, value))
		}, func(b *pgx.Batch, _ *int64, _ *string) {
			b.Queue("SELECT vault.update_secret($1, $2)", t.id, e.value(i+1))
			b.Queue(update, t.id)
		})
	}
})

func prepareRefreshSQL(setup bool) prepareFunc {
	return onReused(func(e *Env) targetOp {
		begin := "SELECT version, secret FROM " + e.s + ".credential_refresh_begin($1, $2)"
		finish := "SELECT version FROM " + e.s + ".credential_refresh_finish($1, $2, $3, $4)"
		return func(ctx context.Context, t target, i int) error {
			return e.refreshHand(ctx, func(b *pgx.Batch, version *int64, value *string) {
				queueSetup(b, setup)
				b.Queue(begin, e.Client.Namespace(), t.id).QueryRow(scan(version, value))
			}, func(b *pgx.Batch, version *int64, _ *string) {
				var next int64
				b.Queue(finish, e.Client.Namespace(), t.id, *version, e.value(i+1)).QueryRow(scan(&next))
			})
		}
	})
}

// ---- Lookup

var prepareLookup = onReused(func(e *Env) targetOp {
	return func(ctx context.Context, t target, _ int) error {
		_, err := e.Client.Lookup(ctx, t.name)
		return err
	}
})

var prepareLookupHand = onReused(func(e *Env) targetOp {
	sql := "SELECT id, namespace, name, description, version, created_at, updated_at FROM " + e.book +
		" WHERE namespace = $1 AND name = $2"
	return func(ctx context.Context, t target, _ int) error {
		var m meta
		return e.Pool.QueryRow(ctx, sql, e.Client.Namespace(), t.name).Scan(m.fields()...)
	}
})

func prepareLookupSQL(setup bool) prepareFunc {
	return sqlRow(setup, func(s string) string {
		return "SELECT id, namespace, name, description, version, created_at, updated_at FROM " + s + ".credential_lookup($1, $2)"
	}, func() []any { return new(meta).fields() }, func(_ *Env, t target, _ int) []any { return []any{t.name} })
}

// meta receives the metadata columns the cases scan.
type meta struct {
	id               uuid.UUID
	ns, name, desc   string
	version          int64
	created, updated time.Time
	secret           string
}

// stamps returns the destinations of id, version, created_at and
// updated_at.
func (m *meta) stamps() []any { return []any{&m.id, &m.version, &m.created, &m.updated} }

// fields returns the destinations of id, namespace, name, description,
// version, created_at and updated_at.
func (m *meta) fields() []any {
	return []any{&m.id, &m.ns, &m.name, &m.desc, &m.version, &m.created, &m.updated}
}

// withSecret returns fields' destinations and the secret's.
func (m *meta) withSecret() []any { return append(m.fields(), &m.secret) }

// oneRow fails unless tag says exactly one row changed.
func oneRow(tag pgconn.CommandTag) error {
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("bench: %s changed %d rows, want 1", tag.String(), tag.RowsAffected())
	}
	return nil
}
