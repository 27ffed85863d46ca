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

// Outcomes reported in the "outcome" attribute of each log record.
const (
	outcomeOK = "ok"
)

// outcome names the result of a call for the log: "ok", or the kind of
// error ("not_found", "permission_denied", ...), or "error".
func outcome(err error) string {
	if err == nil {
		return outcomeOK
	}
	for _, k := range []struct {
		err  error
		name string
	}{
		{ErrNotFound, "not_found"},
		{ErrPermissionDenied, "permission_denied"},
		{ErrInvalidArgument, "invalid_argument"},
		{ErrPlaintextCredential, "plaintext_rejected"},
		{ErrDecryption, "decryption_failed"},
		{ErrVaultUnavailable, "vault_unavailable"},
		{ErrNotMigrated, "not_migrated"},
		{ErrConnection, "connection_failed"},
		{ErrTimeout, "server_timeout"},
		{ErrConflict, "conflict"},
		{ErrVersionMismatch, "version_mismatch"},
		{ErrAlreadyExists, "already_exists"},
		{context.Canceled, "canceled"},
		{context.DeadlineExceeded, "deadline_exceeded"},
	} {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return "error"
}

// logCall writes one record per call. Denied and failed calls matter most:
// their access-log row, if any, was rolled back with the transaction, so
// this record is the only trace. It logs the credential id and name, never
// a value, and the SQLSTATE but not the server's message.
func (c *Client) logCall(ctx context.Context, op string, id uuid.UUID, name string, start time.Time, err error) {
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelWarn
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
		slog.String("outcome", outcome(err)),
		slog.Duration("duration", time.Since(start)),
		slog.String("schema", c.schema))
	if c.role != "" {
		attrs = append(attrs, slog.String("role", c.role))
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		attrs = append(attrs, slog.String("sqlstate", pgErr.Code))
	}
	c.logger.LogAttrs(ctx, level, "vault "+op, attrs...)
}

// AccessRecord is one row of the access log: one successful operation on
// a credential.
type AccessRecord struct {
	ID              int64      // the row's own id, increasing
	SecretID        uuid.UUID  // the credential
	Op              string     // "store", "put", "retrieve", "read", "refresh", "rotate", "rollback", "update" or "delete"
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
	records, err := c.accessLog(ctx, secretID, limit)
	if err != nil {
		return nil, newError("access_log", secretID, "", err)
	}
	return records, nil
}

func (c *Client) accessLog(ctx context.Context, secretID uuid.UUID, limit int) ([]AccessRecord, error) {
	if err := checkID(secretID); err != nil {
		return nil, err
	}
	if limit < 1 {
		return nil, fmt.Errorf("%w: limit must be at least 1", ErrInvalidArgument)
	}
	var records []AccessRecord
	err := c.run(ctx, func(b *pgx.Batch) {
		b.Queue(c.qAccessLog, secretID, limit).Query(func(rows pgx.Rows) error {
			var err error
			records, err = pgx.CollectRows(rows, scanAccessRecord)
			return err
		})
	})
	return records, err
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
