package vault

import (
	"context"
	"iter"
	"time"

	"github.com/google/uuid"
)

// MaxListLimit is the largest number of credentials one [Client.List] call
// returns.
const MaxListLimit = 1000

// ListFilter selects the credentials [Client.List] returns, from the
// client's namespace. The zero value lists the first 100 credentials in
// name order (bytewise); with ExpiresBefore they come soonest expiry first.
type ListFilter struct {
	// NamePrefix keeps credentials whose name starts with it.
	NamePrefix string
	// NotRotatedSince keeps credentials whose value was last set (stored
	// or rotated) before it: time.Now().AddDate(0, 0, -90) finds those due
	// under a 90-day rotation policy. Zero means no filter. It filters the
	// listing rather than ordering it (rotations stay cheap that way), so
	// when few of many credentials match, a page reads many rows.
	NotRotatedSince time.Time
	// ExpiresBefore keeps credentials with an expiry (see
	// [Client.Update]) before it, soonest first:
	// time.Now().Add(10*time.Minute) finds the tokens to refresh. Zero
	// means no filter.
	ExpiresBefore time.Time
	// After continues a listing after the last credential of the previous
	// page, page[len(page)-1].Cursor(), with the same filter. Each
	// credential is listed once even while others are added or deleted.
	// Zero starts at the beginning.
	After Cursor
	// Limit is the maximum number of rows, 1 to [MaxListLimit]. Default 100.
	Limit int
	// Deleted lists, instead of the live credentials, those deleted into
	// a recovery window (see [WithRecoveryWindow]) that [Client.Purge] has
	// not removed yet, in name order, with DeletedAt and PurgeAfter set.
	// NotRotatedSince and ExpiresBefore must be zero with it.
	Deleted bool
}

// Credential is a credential's metadata. It never holds the value.
type Credential struct {
	ID              uuid.UUID
	Namespace       string // see [WithNamespace]; "" is the default namespace
	Name            string
	Description     string
	Version         int64     // 1 when stored, +1 on every change of the value
	ExpiresAt       time.Time // zero: none (see [Client.Update])
	CreatedAt       time.Time
	UpdatedAt       time.Time // last change of the value (Store, Put, Rotate, Rollback, Refresh)
	LastRetrievedAt time.Time // zero if never retrieved; set by List (and All) only
	DeletedAt       time.Time // when it was deleted into its recovery window; set by List with Deleted only
	PurgeAfter      time.Time // end of its recovery window; set by List with Deleted only
}

// List returns the metadata of the client's namespace's credentials that
// match filter, in name order, or soonest expiry first with
// filter.ExpiresBefore; page with filter.After, or use [Client.All]. It
// reads only the library's own indexed bookkeeping, never decrypts
// anything, and a page costs the same with millions of credentials. Vault
// secrets that existed when the migrations were first applied are listed
// in the default namespace; see "Lifecycle" in the package documentation.
//
// Errors: [ErrInvalidArgument] (limit out of range), [ErrPermissionDenied],
// [ErrNotMigrated].
func (c *Client) List(ctx context.Context, filter ListFilter) ([]Credential, error) {
	var creds []Credential
	err := c.do(ctx, call{op: "list"}, func() error {
		var err error
		creds, err = c.listPage(ctx, filter)
		return err
	})
	if err != nil {
		return nil, err
	}
	return creds, nil
}

// pages returns an iterator over the rows of a keyset-paged listing: next
// reads the page after last, the row yielded last (nil for the first
// page), and the listing ends after a page of fewer than size rows. An
// error is yielded once, as the last element.
func pages[T any](size int, next func(last *T) ([]T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var last *T
		for {
			page, err := next(last)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, row := range page {
				if !yield(row, nil) {
					return
				}
			}
			if len(page) < size {
				return
			}
			last = &page[len(page)-1]
		}
	}
}
