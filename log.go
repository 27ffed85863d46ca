package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// logCall writes the one record of a call: at DEBUG when it succeeded,
// otherwise at its kind's level (see kinds), with the kind's outcome. Denied
// and failed calls matter most: their access-log row, if any, was rolled
// back with the transaction, so this record is the only trace. It logs the
// credential id and name, never a value, and the SQLSTATE but not the
// server's message.
func (c *Client) logCall(ctx context.Context, op string, id uuid.UUID, name string, d time.Duration, err *Error) {
	level, outcome := slog.LevelDebug, "ok"
	if err != nil {
		k := kindOfSentinel(err.Kind)
		if k == nil {
			k = &unclassified
			if errors.As(err, new(*callerError)) {
				k = &callerFailed
			}
		}
		level, outcome = k.level, k.outcome
	}
	if !c.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs, slog.String("op", op))
	if id != uuid.Nil {
		attrs = append(attrs, slog.String("secret_id", id.String()))
	}
	if name != "" {
		attrs = append(attrs, slog.String("name", name))
	}
	attrs = append(attrs,
		slog.String("outcome", outcome),
		slog.Duration("duration", d),
		slog.String("schema", c.schema))
	if c.role != "" {
		attrs = append(attrs, slog.String("role", c.role))
	}
	var pgErr *pgconn.PgError
	if err != nil && errors.As(err.Err, &pgErr) {
		attrs = append(attrs, slog.String("sqlstate", pgErr.Code))
	}
	c.logger.LogAttrs(ctx, level, "vault call", attrs...)
}

// AccessRecord is one row of the access log: one successful operation on
// a credential.
type AccessRecord struct {
	ID              int64      // the row's own id, increasing
	SecretID        uuid.UUID  // the credential
	Op              string     // "store", "put", "retrieve", "read", "refresh", "rotate", "rollback", "update", "delete", "restore", "purge", "export" or "import"
	AccessedAt      time.Time  // transaction time of the operation
	SessionUser     string     // the login role of the session (session_user)
	CurrentUser     string     // the role the caller ran as (SET ROLE), or the login role
	JWTRole         string     // "role" claim of request.jwt.claims, when PostgREST set it
	JWTSubject      string     // "sub" claim of request.jwt.claims, when PostgREST set it
	ApplicationName string     // the session's application_name
	ClientAddr      netip.Addr // the client's address; invalid for Unix-socket sessions
}

// AccessLog returns up to limit access-log rows for the credential, newest
// first. Only the log's owner (the role that ran Migrate) may read it: a
// client built with WithRole("service_role") gets [ErrPermissionDenied].
//
// Errors: [ErrInvalidArgument] (nil id, limit < 1), [ErrPermissionDenied],
// [ErrNotMigrated].
func (c *Client) AccessLog(ctx context.Context, secretID uuid.UUID, limit int) ([]AccessRecord, error) {
	var records []AccessRecord
	err := c.do(ctx, call{op: "access_log", id: &secretID}, func() error {
		if err := checkID(secretID); err != nil {
			return err
		}
		if limit < 1 {
			return fmt.Errorf("%w: limit must be at least 1", ErrInvalidArgument)
		}
		var err error
		records, err = queryRows(ctx, c, scanAccessRecord, c.qAccessLog, secretID, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	return records, nil
}

func scanAccessRecord(row pgx.CollectableRow) (AccessRecord, error) {
	var (
		r                              AccessRecord
		jwtRole, jwtSub, appName, addr *string
	)
	if err := row.Scan(&r.ID, &r.SecretID, &r.Op, &r.AccessedAt, &r.SessionUser, &r.CurrentUser,
		&jwtRole, &jwtSub, &appName, &addr); err != nil {
		return r, err
	}
	r.JWTRole, r.JWTSubject, r.ApplicationName = deref(jwtRole), deref(jwtSub), deref(appName)
	if addr != nil {
		r.ClientAddr, _ = netip.ParseAddr(*addr)
	}
	return r, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
