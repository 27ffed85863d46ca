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

func prepareRetrieveMany(ctx context.Context, e *Env, n int) (Op, error) {
	ts, err := e.createTargets(ctx, max(manyIDs, min(n*manyIDs, reusedTargets)))
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, i int) error {
		_, err := e.Client.RetrieveMany(ctx, many(ts, i))
		return err
	}, nil
}

// prepareRetrieveManyHand decrypts the ten and logs each access, by hand.
func prepareRetrieveManyHand(ctx context.Context, e *Env, n int) (Op, error) {
	ts, err := e.createTargets(ctx, max(manyIDs, min(n*manyIDs, reusedTargets)))
	if err != nil {
		return nil, err
	}
	insert := "INSERT INTO " + e.access + " (secret_id) SELECT unnest($1::uuid[])"
	return func(ctx context.Context, i int) error {
		ids := many(ts, i)
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue("SELECT id, decrypted_secret FROM vault.decrypted_secrets WHERE id = ANY($1)", ids).Query(func(rows pgx.Rows) error {
				var (
					id uuid.UUID
					s  string
				)
				_, err := pgx.ForEachRow(rows, []any{&id, &s}, func() error { return nil })
				return err
			})
			b.Queue(insert, ids)
		})
	}, nil
}

func prepareRetrieveManySQL(ctx context.Context, e *Env, n int) (Op, error) {
	ts, err := e.createTargets(ctx, max(manyIDs, min(n*manyIDs, reusedTargets)))
	if err != nil {
		return nil, err
	}
	sql := "SELECT id, secret FROM " + e.s + ".credential_retrieve_many($1, $2)"
	return func(ctx context.Context, i int) error {
		return e.batch(ctx, func(b *pgx.Batch) {
			b.Queue(sql, e.Client.Namespace(), many(ts, i)).Query(func(rows pgx.Rows) error {
				var (
					id uuid.UUID
					s  string
				)
				_, err := pgx.ForEachRow(rows, []any{&id, &s}, func() error { return nil })
				return err
			})
		})
	}, nil
}
