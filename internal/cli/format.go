package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/credvault/vault"
)

var dayWeekRE = regexp.MustCompile(`^(\d+(?:\.\d+)?)([dw])$`)

// parseAge parses a positive age: a number of days or weeks ("90d",
// "2w", "1.5d") or a Go duration ("12h", "1h30m"). Its errors never repeat
// s, which may be a secret typed in the wrong place.
func parseAge(s string) (time.Duration, error) {
	var d time.Duration
	if m := dayWeekRE.FindStringSubmatch(s); m != nil {
		n, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, errors.New("the number of days or weeks is not valid")
		}
		unit := 24 * time.Hour
		if m[2] == "w" {
			unit *= 7
		}
		if n*float64(unit) > float64(1<<62) {
			return 0, errors.New("the age is too long")
		}
		d = time.Duration(n * float64(unit))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New("not an age such as 90d, 2w, 12h or 1h30m")
		}
	}
	if d <= 0 {
		return 0, errors.New("the age must be positive")
	}
	return d, nil
}

// cell makes a database value safe for one table cell: "-" when empty,
// control characters escaped so they cannot move the cursor or break the
// alignment.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	if strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) >= 0 || strings.Contains(s, "\t") {
		q := strconv.QuoteToGraphic(s)
		return q[1 : len(q)-1]
	}
	return s
}

// parseTimeOrAge parses an RFC 3339 time, or an age (see parseAge) from
// now. Its errors never repeat s.
func parseTimeOrAge(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := parseAge(s)
	if err != nil {
		return time.Time{}, errors.New("not an RFC 3339 time (2025-01-31T12:00:00Z) or an age from now (10m, 12h, 7d)")
	}
	return now.Add(d), nil
}

func timeCell(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func optionalTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// credentialJSON is a credential's metadata as the commands print it.
type credentialJSON struct {
	ID              string     `json:"id"`
	Namespace       string     `json:"namespace"`
	Name            string     `json:"name"`
	Description     string     `json:"description"`
	Version         int64      `json:"version"`
	ExpiresAt       *time.Time `json:"expires_at"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	LastRetrievedAt *time.Time `json:"last_retrieved_at"`
	Cursor          string     `json:"cursor,omitempty"` // list only: pass to --after to continue after this row
}

func toCredentialJSON(c vault.Credential) credentialJSON {
	return credentialJSON{ID: c.ID.String(), Namespace: c.Namespace, Name: c.Name, Description: c.Description,
		Version: c.Version, ExpiresAt: optionalTime(c.ExpiresAt), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
		LastRetrievedAt: optionalTime(c.LastRetrievedAt)}
}

// writeCredentialsJSON writes creds as a JSON array; with cursors, each
// row carries the cursor that continues a listing after it.
func writeCredentialsJSON(w io.Writer, creds []vault.Credential, cursors bool) error {
	return writeJSONArray(w, creds, func(c vault.Credential) credentialJSON {
		j := toCredentialJSON(c)
		if cursors {
			j.Cursor = c.Cursor().String()
		}
		return j
	})
}

func writeCredentialsTable(w io.Writer, creds []vault.Credential) error {
	return writeTable(w, "ID\tNAMESPACE\tNAME\tVERSION\tEXPIRES_AT\tUPDATED_AT\tLAST_RETRIEVED_AT\tDESCRIPTION", creds,
		func(c vault.Credential) []string {
			return []string{c.ID.String(), cell(c.Namespace), cell(c.Name), strconv.FormatInt(c.Version, 10),
				timeCell(c.ExpiresAt), timeCell(c.UpdatedAt), timeCell(c.LastRetrievedAt), cell(c.Description)}
		})
}

type accessJSON struct {
	ID              int64     `json:"id"`
	SecretID        string    `json:"secret_id"`
	Op              string    `json:"op"`
	AccessedAt      time.Time `json:"accessed_at"`
	SessionUser     string    `json:"session_user"`
	CurrentUser     string    `json:"current_user"`
	JWTRole         string    `json:"jwt_role"`
	JWTSubject      string    `json:"jwt_sub"`
	ApplicationName string    `json:"application_name"`
	ClientAddr      string    `json:"client_addr"`
}

func writeAccessJSON(w io.Writer, records []vault.AccessRecord) error {
	return writeJSONArray(w, records, func(r vault.AccessRecord) accessJSON {
		a := accessJSON{ID: r.ID, SecretID: r.SecretID.String(), Op: r.Op, AccessedAt: r.AccessedAt,
			SessionUser: r.SessionUser, CurrentUser: r.CurrentUser, JWTRole: r.JWTRole, JWTSubject: r.JWTSubject,
			ApplicationName: r.ApplicationName}
		if r.ClientAddr.IsValid() {
			a.ClientAddr = r.ClientAddr.String()
		}
		return a
	})
}

func writeAccessTable(w io.Writer, records []vault.AccessRecord) error {
	return writeTable(w, "ACCESSED_AT\tOP\tSESSION_USER\tCURRENT_USER\tJWT_ROLE\tJWT_SUB\tAPPLICATION\tCLIENT_ADDR", records,
		func(r vault.AccessRecord) []string {
			addr := "local"
			if r.ClientAddr.IsValid() {
				addr = r.ClientAddr.String()
			}
			return []string{r.AccessedAt.UTC().Format(time.RFC3339Nano), cell(r.Op),
				cell(r.SessionUser), cell(r.CurrentUser), cell(r.JWTRole), cell(r.JWTSubject),
				cell(r.ApplicationName), addr}
		})
}

// writeTable writes rows as a table aligned in columns: header (the
// tab-separated column names), then one line of cells per row.
func writeTable[T any](w io.Writer, header string, rows []T, cells func(T) []string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(cells(r), "\t"))
	}
	return tw.Flush()
}

// writeJSONArray writes rows as one JSON array of their toJSON values.
func writeJSONArray[T, J any](w io.Writer, rows []T, toJSON func(T) J) error {
	out := make([]J, len(rows))
	for i, r := range rows {
		out[i] = toJSON(r)
	}
	return writeJSON(w, out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
