package vault

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// MaxListLimit is the largest number of credentials one [Client.List] call
// returns.
const MaxListLimit = 1000

// ListFilter selects the credentials [Client.List] returns. The zero value
// lists the first 100 credentials, least recently rotated first.
type ListFilter struct {
	// NamePrefix keeps credentials whose name starts with it.
	NamePrefix string
	// NotRotatedSince keeps credentials whose value was last set (stored
	// or rotated) before it: time.Now().AddDate(0, 0, -90) finds those due
	// under a 90-day rotation policy. Zero means no filter.
	NotRotatedSince time.Time
	// Limit is the maximum number of rows, 1 to [MaxListLimit]. Default 100.
	Limit int
}

// Credential is a credential's metadata. It never holds the value.
type Credential struct {
	ID              uuid.UUID
	Name            string
	Description     string
	CreatedAt       time.Time
	UpdatedAt       time.Time // last Store or Rotate
	LastRetrievedAt time.Time // zero if never retrieved
}

// List returns the metadata of the Vault secrets that match filter, least
// recently rotated first. It reads every secret in Vault, not only those
// stored through this package, and never decrypts anything.
//
// Errors: [ErrInvalidArgument] (limit out of range), [ErrPermissionDenied],
// [ErrNotMigrated].
func (c *Client) List(ctx context.Context, filter ListFilter) ([]Credential, error) {
	var creds []Credential
	err := c.do(ctx, call{op: "list"}, func() error {
		f := filter
		if f.Limit == 0 {
			f.Limit = 100
		}
		if f.Limit < 1 || f.Limit > MaxListLimit {
			return fmt.Errorf("%w: limit must be between 1 and %d", ErrInvalidArgument, MaxListLimit)
		}
		var prefix *string
		if f.NamePrefix != "" {
			if err := validateText("name prefix", f.NamePrefix, 1, MaxNameSize); err != nil {
				return err
			}
			prefix = &f.NamePrefix
		}
		var before *time.Time
		if !f.NotRotatedSince.IsZero() {
			before = &f.NotRotatedSince
		}
		var err error
		creds, err = queryRows(ctx, c, scanCredential, c.qList, prefix, before, f.Limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	return creds, nil
}

func scanCredential(row pgx.CollectableRow) (Credential, error) {
	var (
		cr            Credential
		name          *string
		lastRetrieved *time.Time
	)
	err := row.Scan(&cr.ID, &name, &cr.Description, &cr.CreatedAt, &cr.UpdatedAt, &lastRetrieved)
	cr.Name = deref(name)
	if lastRetrieved != nil {
		cr.LastRetrievedAt = *lastRetrieved
	}
	return cr, err
}
