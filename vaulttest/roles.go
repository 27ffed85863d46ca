package vaulttest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/credvault/vault"
)

// Tx begins a transaction on db that is rolled back when the test ends,
// so tests that share a database (see [Shared]) can run in parallel.
func Tx(t testing.TB, db vault.DB) pgx.Tx {
	t.Helper()
	tx, err := db.Begin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = tx.Rollback(context.Background()) // ErrTxClosed when the test already ended it
	})
	return tx
}

// AsRole runs fn in a transaction (a savepoint when db is a transaction)
// as role, the way PostgREST runs a request: SET LOCAL ROLE, and, when
// claims is not nil, request.jwt.claims set to claims as JSON. It commits
// (releases) when fn returns nil and rolls back otherwise. Afterwards the
// role and claims of an enclosing transaction are what they were before.
func AsRole(ctx context.Context, db vault.DB, role string, claims map[string]any, fn func(pgx.Tx) error) error {
	claimsJSON := ""
	if claims != nil {
		b, err := json.Marshal(claims)
		if err != nil {
			return err
		}
		claimsJSON = string(b)
	}
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var prevRole, prevClaims string
		err := tx.QueryRow(ctx, `SELECT pg_catalog.current_setting('role'),
       coalesce(pg_catalog.current_setting('request.jwt.claims', true), ''),
       pg_catalog.set_config('request.jwt.claims', $2, true),
       pg_catalog.set_config('role', $1, true)`, role, claimsJSON).Scan(&prevRole, &prevClaims, nil, nil)
		if err != nil {
			return err
		}
		if err := fn(tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_catalog.set_config('role', $1, true), pg_catalog.set_config('request.jwt.claims', $2, true)`,
			prevRole, prevClaims)
		return err
	})
}
