package cli

import (
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// qualifiedTable and joinTable name the guarded_table column of the guard's
// report functions with its schema, whatever the session's search_path.
const (
	qualifiedTable = "pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname)"
	joinTable      = " JOIN pg_catalog.pg_class AS c ON c.oid OPERATOR(pg_catalog.=) g.guarded_table::oid" +
		" JOIN pg_catalog.pg_namespace AS n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace"
)

// plainIdentifier matches role names that need no quotes in a REVOKE.
var plainIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

// checkGuardTriggers reports, for every table the plaintext guard protects,
// the gaps in its guard (from guard_coverage_gaps()) and the roles other
// than the table's owner that may create triggers on it (from
// guard_trigger_creators()): a trigger runs as whoever writes the row, so
// such a role can run its code with a writer's rights. Both functions come
// with migration 0005; on an older schema the check reports nothing.
func checkGuardTriggers(ctx context.Context, d *doctor) error {
	var installed bool
	if err := d.conn.QueryRow(ctx, "SELECT pg_catalog.to_regprocedure($1) IS NOT NULL",
		d.qualified("guard_trigger_creators")+"()").Scan(&installed); err != nil {
		return err
	}
	if !installed {
		d.ok("no trigger report before migration 0005")
		return nil
	}
	guard := d.qualified("guard_plaintext_credentials")

	rows, err := d.conn.Query(ctx, "SELECT "+qualifiedTable+", g.problem FROM "+d.qualified("guard_coverage_gaps")+"() AS g"+joinTable+" ORDER BY 1, 2")
	if err != nil {
		return err
	}
	var table, problem string
	_, err = pgx.ForEachRow(rows, []any{&table, &problem}, func() error {
		d.finding("%s: %s: run SELECT %s('%s')", table, problem, guard, table)
		return nil
	})
	if err != nil {
		return err
	}

	type creator struct{ table, role, via string }
	var creators []creator
	rows, err = d.conn.Query(ctx, "SELECT "+qualifiedTable+", g.role_name, g.via FROM "+d.qualified("guard_trigger_creators")+"() AS g"+joinTable+" ORDER BY 1, 2, 3")
	if err != nil {
		return err
	}
	var c creator
	if _, err = pgx.ForEachRow(rows, []any{&c.table, &c.role, &c.via}, func() error {
		creators = append(creators, c)
		return nil
	}); err != nil {
		return err
	}
	if len(creators) == 0 {
		d.ok("no guarded tables")
		return nil
	}
	var tables []string
	grantees := map[string][]string{} // table -> roles holding TRIGGER on it
	for _, c := range creators {
		if !slices.Contains(tables, c.table) {
			tables = append(tables, c.table)
		}
		if c.via == "TRIGGER privilege" {
			grantees[c.table] = append(grantees[c.table], c.role)
		}
	}
	for _, table := range tables {
		if len(grantees[table]) == 0 {
			d.ok("only the owner of %s may create triggers on it", table)
			continue
		}
		var members, quoted []string
		for _, c := range creators {
			if c.table == table && strings.HasPrefix(c.via, "member of ") &&
				slices.Contains(grantees[table], strings.TrimPrefix(c.via, "member of ")) && !slices.Contains(members, c.role) {
				members = append(members, c.role)
			}
		}
		for _, g := range grantees[table] {
			if g == "PUBLIC" || plainIdentifier.MatchString(g) {
				quoted = append(quoted, g)
			} else {
				quoted = append(quoted, pgx.Identifier{g}.Sanitize())
			}
		}
		also := ""
		if len(members) > 0 {
			also = " (and their members " + strings.Join(members, ", ") + ")"
		}
		d.finding("%s%s may create triggers on %s, which run as whoever writes a row: REVOKE TRIGGER ON %s FROM %s",
			strings.Join(grantees[table], ", "), also, table, table, strings.Join(quoted, ", "))
	}
	return nil
}
