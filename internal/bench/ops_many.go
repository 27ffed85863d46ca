package bench

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// manyIDs is the number of credentials one RetrieveMany call of the
// benchmark asks for: an integration's handful and then some.
const manyIDs = 10

func init() {
	extraOperations = append(extraOperations, Operation{
		// The ratio is RetrieveMany of ten credentials over one Retrieve.
		Name:     "RetrieveMany",
		Library:  Case{Name: Library, Prepare: prepareRetrieveMany},
		Baseline: Case{Name: Single, Prepare: prepareRetrieve},
		References: []Case{
			{Name: Hand, Prepare: prepareRetrieveManyHand},
			{Name: SQL, Prepare: prepareRetrieveManySQL},
		},
	})
}

// many returns the ids of the i-th call's manyIDs targets.
func many(ts []target, i int) []uuid.UUID {
	ids := make([]uuid.UUID, manyIDs)
	for k := range ids {
		ids[k] = ts[(i*manyIDs+k)%len(ts)].id
	}
	return ids
}

// onMany returns a Prepare whose call i asks for the manyIDs credentials
// many picks; build runs once, untimed, and returns what a call does.
func onMany(build func(e *Env) func(ctx context.Context, ids []uuid.UUID) error) prepareFunc {
	return func(ctx context.Context, e *Env, n int) (Op, error) {
		ts, err := e.createTargets(ctx, max(manyIDs, min(n*manyIDs, reusedTargets)))
		if err != nil {
			return nil, err
		}
		op := build(e)
		return func(ctx context.Context, i int) error { return op(ctx, many(ts, i)) }, nil
	}
}

// discardIDsAndValues reads rows of an id and a value, and drops them.
func discardIDsAndValues(rows pgx.Rows) error {
	var (
		id uuid.UUID
		s  string
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &s}, func() error { return nil })
	return err
}

var prepareRetrieveMany = onMany(func(e *Env) func(context.Context, []uuid.UUID) error {
	return func(ctx context.Context, ids []uuid.UUID) error {
		_, err := e.Client.RetrieveMany(ctx, ids)
		return err
	}
})

// prepareRetrieveManyHand decrypts the ten and logs each access, by hand.
var prepareRetrieveManyHand = onMany(func(e *Env) func(context.Context, []uuid.UUID) error {
	insert := "INSERT INTO " + e.access + " (secret_id) SELECT unnest($1::uuid[])"
	return func(ctx context.Context, ids []uuid.UUID) error {
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue("SELECT id, decrypted_secret FROM vault.decrypted_secrets WHERE id = ANY($1)", ids).Query(discardIDsAndValues)
			b.Queue(insert, ids)
		})
	}
})

var prepareRetrieveManySQL = onMany(func(e *Env) func(context.Context, []uuid.UUID) error {
	sql := "SELECT id, secret FROM " + e.s + ".credential_retrieve_many($1, $2)"
	return func(ctx context.Context, ids []uuid.UUID) error {
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue(sql, e.Client.Namespace(), ids).Query(discardIDsAndValues)
		})
	}
})
