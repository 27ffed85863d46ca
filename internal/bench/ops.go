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
		{
			Name:     "Store",
			Library:  Case{Name: Library, Prepare: prepareStore},
			Baseline: Case{Name: Hand, Prepare: prepareStoreHand},
			References: []Case{
				{Name: SQL, Prepare: prepareStoreSQL(false)},
				{Name: SQLSetup, Prepare: prepareStoreSQL(true)},
				{Name: Vault, Prepare: prepareCreateSecret},
			},
		},
		{
			Name:     "Retrieve",
			Library:  Case{Name: Library, Prepare: prepareRetrieve},
			Baseline: Case{Name: Hand, Prepare: prepareDecryptInsert},
			References: []Case{
				{Name: SQL, Prepare: prepareRetrieveSQL(false)},
				{Name: SQLSetup, Prepare: prepareRetrieveSQL(true)},
				{Name: Vault, Prepare: prepareDecrypt},
			},
		},
		{
			Name:     "Rotate",
			Library:  Case{Name: Library, Prepare: prepareRotate},
			Baseline: Case{Name: Hand, Prepare: prepareRotateHand},
			References: []Case{
				{Name: SQL, Prepare: prepareRotateSQL(false)},
				{Name: SQLSetup, Prepare: prepareRotateSQL(true)},
				{Name: Vault, Prepare: prepareUpdateSecret},
			},
		},
		{
			Name:     "Delete",
			Library:  Case{Name: Library, Prepare: prepareDelete},
			Baseline: Case{Name: Hand, Prepare: prepareDeleteHand},
			References: []Case{
				{Name: SQL, Prepare: prepareDeleteSQL(false)},
				{Name: SQLSetup, Prepare: prepareDeleteSQL(true)},
				{Name: Vault, Prepare: prepareDeleteSecret},
			},
		},
		{
			Name:     "Put",
			Library:  Case{Name: Library, Prepare: preparePut},
			Baseline: Case{Name: Hand, Prepare: preparePutHand},
			References: []Case{
				{Name: SQL, Prepare: preparePutSQL(false)},
				{Name: SQLSetup, Prepare: preparePutSQL(true)},
				{Name: Vault, Prepare: prepareUpdateSecret},
			},
		},
		{
			Name:     "Read",
			Library:  Case{Name: Library, Prepare: prepareRead},
			Baseline: Case{Name: Hand, Prepare: prepareReadHand},
			References: []Case{
				{Name: SQL, Prepare: prepareReadSQL(false)},
				{Name: SQLSetup, Prepare: prepareReadSQL(true)},
				{Name: Vault, Prepare: prepareDecrypt},
			},
		},
		{
			Name:     "Refresh",
			Library:  Case{Name: Library, Prepare: prepareRefresh},
			Baseline: Case{Name: Hand, Prepare: prepareRefreshHand},
			References: []Case{
				{Name: SQL, Prepare: prepareRefreshSQL(false)},
				{Name: SQLSetup, Prepare: prepareRefreshSQL(true)},
			},
		},
		{
			Name:     "Lookup",
			Library:  Case{Name: Library, Prepare: prepareLookup},
			Baseline: Case{Name: Hand, Prepare: prepareLookupHand},
			References: []Case{
				{Name: SQL, Prepare: prepareLookupSQL(false)},
				{Name: SQLSetup, Prepare: prepareLookupSQL(true)},
			},
		},
		{
			// The ratio is the taken-name path over the free-name path.
			Name:     "StoreTaken",
			Library:  Case{Name: Library, Prepare: prepareStoreTaken},
			Baseline: Case{Name: "library, free name", Prepare: prepareStore},
		},
	}, extraOperations...)
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

func prepareStoreSQL(setup bool) func(context.Context, *Env, int) (Op, error) {
	return func(_ context.Context, e *Env, _ int) (Op, error) {
		sql := "SELECT " + e.s + ".credential_store($1, $2, $3, $4)"
		return func(ctx context.Context, i int) error {
			var id uuid.UUID
			return e.batch(ctx, func(b *pgx.Batch) {
				queueSetup(b, setup)
				b.Queue(sql, e.Client.Namespace(), e.name(), e.value(i), description).QueryRow(func(r pgx.Row) error { return r.Scan(&id) })
			})
		}, nil
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

func prepareRetrieve(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Retrieve(ctx, ts[pick(i)].id)
		return err
	}, nil
}

func prepareDecryptInsert(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	insert := "INSERT INTO " + e.access + " (secret_id) VALUES ($1)"
	return func(ctx context.Context, i int) error {
		id := ts[pick(i)].id
		var s string
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue(qDecrypt, id).QueryRow(func(r pgx.Row) error { return r.Scan(&s) })
			b.Queue(insert, id)
		})
	}, nil
}

func prepareRetrieveSQL(setup bool) func(context.Context, *Env, int) (Op, error) {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, pick, err := e.reused(ctx, n)
		if err != nil {
			return nil, err
		}
		sql := "SELECT " + e.s + ".credential_retrieve($1, $2)"
		return func(ctx context.Context, i int) error {
			var s string
			return e.batch(ctx, func(b *pgx.Batch) {
				queueSetup(b, setup)
				b.Queue(sql, e.Client.Namespace(), ts[pick(i)].id).QueryRow(func(r pgx.Row) error { return r.Scan(&s) })
			})
		}, nil
	}
}

func prepareDecrypt(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		var s string
		return e.Pool.QueryRow(ctx, qDecrypt, ts[pick(i)].id).Scan(&s)
	}, nil
}

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

func prepareRotate(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	vs := newVersions(len(ts))
	return func(ctx context.Context, i int) error {
		k := pick(i)
		return vs.with(k, func(v int64) error {
			return e.Client.Rotate(ctx, ts[k].id, e.value(i+1), vault.IfVersion(v))
		})
	}, nil
}

// prepareRotateHand sets the value and bumps the bookkeeping row's version
// if it is the expected one.
func prepareRotateHand(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	vs := newVersions(len(ts))
	update := "UPDATE " + e.book + " SET version = version + 1, updated_at = pg_catalog.now() WHERE id = $1 AND version = $2"
	return func(ctx context.Context, i int) error {
		k := pick(i)
		return vs.with(k, func(v int64) error {
			b := &pgx.Batch{}
			b.Queue("SELECT vault.update_secret($1, $2)", ts[k].id, e.value(i+1))
			b.Queue(update, ts[k].id, v).Exec(func(tag pgconn.CommandTag) error { return oneRow(tag) })
			return e.Pool.SendBatch(ctx, b).Close()
		})
	}, nil
}

func prepareRotateSQL(setup bool) func(context.Context, *Env, int) (Op, error) {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, pick, err := e.reused(ctx, n)
		if err != nil {
			return nil, err
		}
		vs := newVersions(len(ts))
		sql := "SELECT " + e.s + ".credential_rotate($1, $2, $3, $4)"
		return func(ctx context.Context, i int) error {
			k := pick(i)
			return vs.with(k, func(v int64) error {
				var next int64
				return e.batch(ctx, func(b *pgx.Batch) {
					queueSetup(b, setup)
					b.Queue(sql, e.Client.Namespace(), ts[k].id, e.value(i+1), v).QueryRow(func(r pgx.Row) error { return r.Scan(&next) })
				})
			})
		}, nil
	}
}

func prepareUpdateSecret(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Pool.Exec(ctx, "SELECT vault.update_secret($1, $2)", ts[pick(i)].id, e.value(i+1))
		return err
	}, nil
}

// ---- Delete

func prepareDelete(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.consumed(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		t, err := target(i)
		if err != nil {
			return err
		}
		return e.Client.Delete(ctx, t.id)
	}, nil
}

// prepareDeleteHand deletes the Vault secret and records the deletion in
// the hand-written log.
func prepareDeleteHand(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.consumed(ctx, n)
	if err != nil {
		return nil, err
	}
	insert := "INSERT INTO " + e.access + " (secret_id) VALUES ($1)"
	return func(ctx context.Context, i int) error {
		t, err := target(i)
		if err != nil {
			return err
		}
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue("DELETE FROM vault.secrets WHERE id = $1", t.id)
			b.Queue(insert, t.id)
		})
	}, nil
}

func prepareDeleteSQL(setup bool) func(context.Context, *Env, int) (Op, error) {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		target, err := e.consumed(ctx, n)
		if err != nil {
			return nil, err
		}
		sql := "SELECT " + e.s + ".credential_delete($1, $2)"
		return func(ctx context.Context, i int) error {
			t, err := target(i)
			if err != nil {
				return err
			}
			return e.batch(ctx, func(b *pgx.Batch) {
				queueSetup(b, setup)
				b.Queue(sql, e.Client.Namespace(), t.id)
			})
		}, nil
	}
}

func prepareDeleteSecret(ctx context.Context, e *Env, n int) (Op, error) {
	target, err := e.consumed(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		t, err := target(i)
		if err != nil {
			return err
		}
		_, err = e.Pool.Exec(ctx, "DELETE FROM vault.secrets WHERE id = $1", t.id)
		return err
	}, nil
}

// ---- Put of an existing name

func preparePut(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Put(ctx, ts[pick(i)].name, e.value(i+1), description)
		return err
	}, nil
}

// preparePutHand sets the value of the credential with that name and
// bumps its bookkeeping row, returning its metadata.
func preparePutHand(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	set := "SELECT vault.update_secret(b.id, $2, NULL, $3) FROM " + e.book + " AS b WHERE b.namespace = $4 AND b.name = $1"
	update := "UPDATE " + e.book + " SET version = version + 1, updated_at = pg_catalog.now(), description = $2 " +
		"WHERE namespace = $3 AND name = $1 RETURNING id, version, created_at, updated_at"
	return func(ctx context.Context, i int) error {
		var m meta
		name := ts[pick(i)].name
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue(set, name, e.value(i+1), description, e.Client.Namespace())
			b.Queue(update, name, description, e.Client.Namespace()).QueryRow(func(r pgx.Row) error {
				return r.Scan(&m.id, &m.version, &m.created, &m.updated)
			})
		})
	}, nil
}

func preparePutSQL(setup bool) func(context.Context, *Env, int) (Op, error) {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, pick, err := e.reused(ctx, n)
		if err != nil {
			return nil, err
		}
		sql := "SELECT id, version, created_at, updated_at FROM " + e.s + ".credential_put($1, $2, $3, $4)"
		return func(ctx context.Context, i int) error {
			var m meta
			return e.batch(ctx, func(b *pgx.Batch) {
				queueSetup(b, setup)
				b.Queue(sql, e.Client.Namespace(), ts[pick(i)].name, e.value(i+1), description).QueryRow(func(r pgx.Row) error {
					return r.Scan(&m.id, &m.version, &m.created, &m.updated)
				})
			})
		}, nil
	}
}

// ---- Read

func prepareRead(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Read(ctx, ts[pick(i)].id)
		return err
	}, nil
}

// prepareReadHand decrypts the value with the bookkeeping row's metadata
// and logs the access.
func prepareReadHand(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	read := "SELECT b.id, b.namespace, b.name, b.description, b.version, b.created_at, b.updated_at, d.decrypted_secret " +
		"FROM vault.decrypted_secrets AS d JOIN " + e.book + " AS b ON b.id = d.id WHERE d.id = $1"
	insert := "INSERT INTO " + e.access + " (secret_id) VALUES ($1)"
	return func(ctx context.Context, i int) error {
		id := ts[pick(i)].id
		var (
			m                      meta
			ns, name, desc, secret string
		)
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue(read, id).QueryRow(func(r pgx.Row) error {
				return r.Scan(&m.id, &ns, &name, &desc, &m.version, &m.created, &m.updated, &secret)
			})
			b.Queue(insert, id)
		})
	}, nil
}

func prepareReadSQL(setup bool) func(context.Context, *Env, int) (Op, error) {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, pick, err := e.reused(ctx, n)
		if err != nil {
			return nil, err
		}
		sql := "SELECT id, namespace, name, description, version, created_at, updated_at, secret FROM " + e.s + ".credential_read($1, $2)"
		return func(ctx context.Context, i int) error {
			var (
				m                      meta
				ns, name, desc, secret string
			)
			return e.batch(ctx, func(b *pgx.Batch) {
				queueSetup(b, setup)
				b.Queue(sql, e.Client.Namespace(), ts[pick(i)].id).QueryRow(func(r pgx.Row) error {
					return r.Scan(&m.id, &ns, &name, &desc, &m.version, &m.created, &m.updated, &secret)
				})
			})
		}, nil
	}
}

// ---- Refresh without contention

func prepareRefresh(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Refresh(ctx, ts[pick(i)].id, func(context.Context, vault.Secret) (string, error) {
			return e.value(i + 1), nil
		})
		return err
	}, nil
}

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

func prepareRefreshHand(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	lock := "SELECT b.version, d.decrypted_secret FROM " + e.book + " AS b JOIN vault.decrypted_secrets AS d ON d.id = b.id " +
		"WHERE b.id = $1 FOR NO KEY UPDATE OF b"
	update := "UPDATE " + e.book + " SET version = version + 1, updated_at = pg_catalog.now() WHERE id = $1"
	return func(ctx context.Context, i int) error {
		id := ts[pick(i)].id
		return e.refreshHand(ctx, func(b *pgx.Batch, version *int64, value *string) {
			b.Queue(lock, id).QueryRow(func(r pgx.Row) error { return r.Scan(version, value) })
		}, func(b *pgx.Batch, _ *int64, _ *string) {
			b.Queue("SELECT vault.update_secret($1, $2)", id, e.value(i+1))
			b.Queue(update, id)
		})
	}, nil
}

func prepareRefreshSQL(setup bool) func(context.Context, *Env, int) (Op, error) {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, pick, err := e.reused(ctx, n)
		if err != nil {
			return nil, err
		}
		begin := "SELECT version, secret FROM " + e.s + ".credential_refresh_begin($1, $2)"
		finish := "SELECT version FROM " + e.s + ".credential_refresh_finish($1, $2, $3, $4)"
		return func(ctx context.Context, i int) error {
			id := ts[pick(i)].id
			return e.refreshHand(ctx, func(b *pgx.Batch, version *int64, value *string) {
				queueSetup(b, setup)
				b.Queue(begin, e.Client.Namespace(), id).QueryRow(func(r pgx.Row) error { return r.Scan(version, value) })
			}, func(b *pgx.Batch, version *int64, _ *string) {
				var next int64
				b.Queue(finish, e.Client.Namespace(), id, *version, e.value(i+1)).QueryRow(func(r pgx.Row) error { return r.Scan(&next) })
			})
		}, nil
	}
}

// ---- Lookup

func prepareLookup(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Client.Lookup(ctx, ts[pick(i)].name)
		return err
	}, nil
}

func prepareLookupHand(ctx context.Context, e *Env, n int) (Op, error) {
	ts, pick, err := e.reused(ctx, n)
	if err != nil {
		return nil, err
	}
	sql := "SELECT id, namespace, name, description, version, created_at, updated_at FROM " + e.book +
		" WHERE namespace = $1 AND name = $2"
	return func(ctx context.Context, i int) error {
		var (
			m              meta
			ns, name, desc string
		)
		return e.Pool.QueryRow(ctx, sql, e.Client.Namespace(), ts[pick(i)].name).
			Scan(&m.id, &ns, &name, &desc, &m.version, &m.created, &m.updated)
	}, nil
}

func prepareLookupSQL(setup bool) func(context.Context, *Env, int) (Op, error) {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, pick, err := e.reused(ctx, n)
		if err != nil {
			return nil, err
		}
		sql := "SELECT id, namespace, name, description, version, created_at, updated_at FROM " + e.s + ".credential_lookup($1, $2)"
		return func(ctx context.Context, i int) error {
			var (
				m              meta
				ns, name, desc string
			)
			return e.batch(ctx, func(b *pgx.Batch) {
				queueSetup(b, setup)
				b.Queue(sql, e.Client.Namespace(), ts[pick(i)].name).QueryRow(func(r pgx.Row) error {
					return r.Scan(&m.id, &ns, &name, &desc, &m.version, &m.created, &m.updated)
				})
			})
		}, nil
	}
}

// meta receives the metadata columns the cases scan.
type meta struct {
	id               uuid.UUID
	version          int64
	created, updated time.Time
}

// oneRow fails unless tag says exactly one row changed.
func oneRow(tag pgconn.CommandTag) error {
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("bench: %s changed %d rows, want 1", tag.String(), tag.RowsAffected())
	}
	return nil
}
