package vault

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// MaxRetrieveMany is the largest number of distinct ids one
// [Client.RetrieveMany] call takes. An integration run needs a handful
// (client secret, refresh token, webhook secret); the cap keeps one call's
// plaintexts, and its transaction, small.
const MaxRetrieveMany = 100

// RetrieveMany decrypts and returns the credentials with the given ids,
// keyed by id, in one round trip, and appends one access-log row (op
// "retrieve") per credential in the same transaction, as [Client.Retrieve]
// does for one. An id given more than once is retrieved and audited once.
// nil or no ids return an empty map without a round trip.
//
// It is all or nothing: when any id is not a credential of the client's
// namespace (unknown, deleted, or another namespace's), RetrieveMany
// returns [ErrNotFound], whose cause is a [*MissingError] listing those
// ids, and no value: nothing is decrypted for the caller and no access-log
// row is written.
//
// Errors: [ErrNotFound] (with a [*MissingError]), [ErrInvalidArgument] (a
// nil id, more than [MaxRetrieveMany] distinct ids), [ErrDecryption],
// [ErrPermissionDenied], [ErrReadOnly], [ErrNotMigrated],
// [ErrVaultUnavailable].
func (c *Client) RetrieveMany(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]string, error) {
	out := make(map[uuid.UUID]string, len(ids))
	err := c.do(ctx, call{op: "retrieve_many"}, func() error {
		distinct, err := distinctIDs(ids)
		if err != nil || len(distinct) == 0 {
			return err
		}
		err = c.run(ctx, func(b *pgx.Batch) {
			b.Queue(c.qRetrieveMany, c.ns, distinct).Query(func(rows pgx.Rows) error {
				var (
					id     uuid.UUID
					secret *string
				)
				_, err := pgx.ForEachRow(rows, []any{&id, &secret}, func() error {
					if secret == nil {
						// Vault returns a NULL plaintext when its decryption yields nothing.
						return ErrDecryption
					}
					out[id] = *secret
					return nil
				})
				return err
			})
		})
		if err != nil {
			clear(out)
			return missingError(err, len(distinct))
		}
		if len(out) != len(distinct) {
			clear(out)
			return fmt.Errorf("%w: the server returned %d of %d credentials", ErrServer, len(out), len(distinct))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// distinctIDs returns ids without repeats, in their order, checked.
func distinctIDs(ids []uuid.UUID) ([]uuid.UUID, error) {
	seen := make(map[uuid.UUID]struct{}, len(ids))
	distinct := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, err
		}
		if _, ok := seen[id]; ok {
			continue
		}
		seen[id] = struct{}{}
		distinct = append(distinct, id)
	}
	if len(distinct) > MaxRetrieveMany {
		return nil, fmt.Errorf("%w: %d distinct ids, at most %d per call", ErrInvalidArgument, len(distinct), MaxRetrieveMany)
	}
	return distinct, nil
}

// MissingError is the cause of the [ErrNotFound] that [Client.RetrieveMany]
// returns when some of its ids are not credentials of the client's
// namespace. errors.Is(err, ErrNotFound) holds for it, and it unwraps to
// the server's error.
type MissingError struct {
	IDs []uuid.UUID // the ids not found, each once
	Of  int         // the number of distinct ids asked for
	Err error       // the server's error (SQLSTATE P0002)
}

// Error returns "vault: <n> of <m> credentials not found".
func (e *MissingError) Error() string {
	return fmt.Sprintf("vault: %d of %d credentials not found", len(e.IDs), e.Of)
}

// Is reports whether target is [ErrNotFound].
func (e *MissingError) Is(target error) bool { return target == ErrNotFound }

// Unwrap returns the server's error.
func (e *MissingError) Unwrap() error { return e.Err }

// missingError turns the P0002 of credential_retrieve_many, whose detail
// lists the ids not found, into a *MissingError; other errors pass.
func missingError(err error, of int) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "P0002" {
		return err
	}
	e := &MissingError{Of: of, Err: err}
	list, ok := strings.CutPrefix(pgErr.Detail, "not found: ")
	if !ok {
		return e
	}
	for _, f := range strings.Fields(list) {
		id, perr := uuid.Parse(f)
		if perr != nil {
			e.IDs = nil
			return e
		}
		e.IDs = append(e.IDs, id)
	}
	return e
}
