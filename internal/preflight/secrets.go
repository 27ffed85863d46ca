package preflight

import (
	"bytes"
	"context"
	"errors"
	"slices"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DecryptBatch is how many secrets [Undecryptable] decrypts per query.
const DecryptBatch = 500

// Undecryptable returns the ids of the secrets in vault.secrets that do not
// decrypt under the server's root key (Vault's "invalid ciphertext",
// SQLSTATE 22000, or a NULL plaintext), in id order, and how many secrets
// it checked. It decrypts on the server as the current role, through
// vault.decrypted_secrets, and reads back only whether each plaintext is
// NULL: no value leaves the server, and no access-log row is written.
//
// It costs one query per DecryptBatch secrets, plus, for a batch holding
// undecryptable ones, a bisection in savepoints of tx (about two queries
// per broken secret and level). Its queries qualify every name.
func Undecryptable(ctx context.Context, tx pgx.Tx) (broken []uuid.UUID, checked int, err error) {
	var after *uuid.UUID
	for {
		rows, err := tx.Query(ctx, `SELECT s.id FROM vault.secrets AS s
 WHERE $1::pg_catalog.uuid IS NULL OR s.id OPERATOR(pg_catalog.>) $1
 ORDER BY s.id LIMIT $2`, after, DecryptBatch)
		if err != nil {
			return nil, checked, err
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return nil, checked, err
		}
		if len(ids) == 0 {
			slices.SortFunc(broken, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
			return broken, checked, nil
		}
		b, err := undecryptable(ctx, tx, ids)
		if err != nil {
			return nil, checked, err
		}
		broken = append(broken, b...)
		checked += len(ids)
		after = &ids[len(ids)-1]
	}
}

// undecryptable decrypts the secrets ids in a savepoint and returns those
// that do not decrypt, bisecting when Vault refuses one of them.
func undecryptable(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) ([]uuid.UUID, error) {
	sp, err := tx.Begin(ctx)
	if err != nil {
		return nil, err
	}
	// The plaintext is computed in the select list, so only for the rows
	// the WHERE clause keeps: a qual on it could be evaluated, and fail,
	// for rows outside the batch.
	rows, err := sp.Query(ctx, `SELECT d.id, d.decrypted_secret IS NULL FROM vault.decrypted_secrets AS d
 WHERE d.id OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.uuid[])`, ids)
	var broken []uuid.UUID
	if err == nil {
		var id uuid.UUID
		var null bool
		_, err = pgx.ForEachRow(rows, []any{&id, &null}, func() error {
			if null {
				broken = append(broken, id)
			}
			return nil
		})
	}
	if err == nil {
		return broken, sp.Commit(ctx)
	}
	if rbErr := sp.Rollback(ctx); rbErr != nil {
		return nil, errors.Join(err, rbErr)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != pgerrcode.DataException {
		return nil, err
	}
	if len(ids) == 1 {
		return ids, nil
	}
	half := len(ids) / 2
	first, err := undecryptable(ctx, tx, ids[:half])
	if err != nil {
		return nil, err
	}
	second, err := undecryptable(ctx, tx, ids[half:])
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}
