// Package serverlog tells whether the server's log settings would write
// credential values to its log, in ways the client cannot switch off for
// its own calls. [vault.Client.Migrate] warns about what it finds and
// `credvault doctor` reports it, from the same rules.
package serverlog

import (
	"context"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// Querier runs a query: [*pgx.Conn], [pgx.Tx] and pgxpool's Pool satisfy it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Problem is one way the server would write values to its log.
type Problem struct {
	Why string // what is logged and which settings make it so
	Fix string // the setting that prevents it, and who may change it
}

func (p Problem) String() string { return p.Why + ": " + p.Fix }

// AutoExplain holds the auto_explain settings of the current session, as
// pg_settings shows them. Its zero value is auto_explain not loaded.
type AutoExplain struct {
	// Loaded reports whether this session has loaded the module (through
	// shared_preload_libraries, session_preload_libraries or
	// local_preload_libraries); the other fields are meaningful only then.
	Loaded bool

	MinDuration int     // auto_explain.log_min_duration, in milliseconds; -1 logs no plan
	SampleRate  float64 // auto_explain.sample_rate, 0 to 1
	Verbose     bool    // auto_explain.log_verbose
	Nested      bool    // auto_explain.log_nested_statements

	// ParamMaxLength is auto_explain.log_parameter_max_length (PostgreSQL
	// 16 and later; HasParamMaxLength is false before): -1 logs each
	// statement's bind parameters in full, 0 not at all.
	ParamMaxLength    int
	HasParamMaxLength bool
}

// ReadAutoExplain reads the session's auto_explain settings in one query.
// Settings made for other roles or databases, or a LOAD in other sessions,
// are not visible from here.
func ReadAutoExplain(ctx context.Context, q Querier) (AutoExplain, error) {
	rows, err := q.Query(ctx, `SELECT s.name, s.setting FROM pg_catalog.pg_settings AS s
 WHERE pg_catalog.starts_with(s.name, 'auto_explain.')`)
	if err != nil {
		return AutoExplain{}, err
	}
	set := map[string]string{}
	var name, value string
	if _, err := pgx.ForEachRow(rows, []any{&name, &value}, func() error { set[name] = value; return nil }); err != nil {
		return AutoExplain{}, err
	}
	if len(set) == 0 {
		return AutoExplain{}, nil
	}
	a := AutoExplain{Loaded: true, MinDuration: -1, SampleRate: 1, ParamMaxLength: -1}
	if v, err := strconv.Atoi(set["auto_explain.log_min_duration"]); err == nil {
		a.MinDuration = v
	}
	if v, err := strconv.ParseFloat(set["auto_explain.sample_rate"], 64); err == nil {
		a.SampleRate = v
	}
	a.Verbose = set["auto_explain.log_verbose"] == "on"
	a.Nested = set["auto_explain.log_nested_statements"] == "on"
	if v, err := strconv.Atoi(set["auto_explain.log_parameter_max_length"]); err == nil {
		a.ParamMaxLength, a.HasParamMaxLength = v, true
	}
	return a, nil
}

// Active reports whether auto_explain writes plans to the log at all.
func (a AutoExplain) Active() bool {
	return a.Loaded && a.MinDuration >= 0 && a.SampleRate > 0
}

// Problems returns the ways auto_explain would write values to the log, or
// none:
//
//   - log_parameter_max_length other than 0 (PostgreSQL 16 and later) logs
//     the bind parameters of every statement whose plan is logged, whatever
//     the plan: this library's calls too.
//   - log_verbose shows expressions, and a custom plan holds its bind
//     parameters as constants: statements of other clients (PostgREST rpc,
//     psql, SQL editors) log their values, and with log_nested_statements so
//     do the statements of the functions they call. The library's calls use
//     generic plans, which show $1 instead.
func (a AutoExplain) Problems() []Problem {
	if !a.Active() {
		return nil
	}
	const who = "a superuser may change it; on Supabase (current images), postgres may set auto_explain.* " +
		"per role with ALTER ROLE ... SET, which applies to the sessions that log in as that role"
	var ps []Problem
	if a.HasParamMaxLength && a.ParamMaxLength != 0 {
		ps = append(ps, Problem{
			Why: fmt.Sprintf("auto_explain logs the bind parameters, secrets included, of every statement whose plan it logs, "+
				"this library's calls too (auto_explain.log_min_duration = %dms, auto_explain.log_parameter_max_length = %d)",
				a.MinDuration, a.ParamMaxLength),
			Fix: "set auto_explain.log_parameter_max_length = 0; " + who,
		})
	}
	if a.Verbose {
		nested := ""
		if a.Nested {
			nested = ", and with auto_explain.log_nested_statements = on so do the statements inside the functions they call"
		}
		ps = append(ps, Problem{
			Why: fmt.Sprintf("auto_explain logs plans with their values (auto_explain.log_min_duration = %dms, "+
				"auto_explain.log_verbose = on): a custom plan holds its bind parameters as constants, so statements "+
				"of other clients (PostgREST rpc, psql, SQL editors) log the values they pass%s; this library's calls "+
				"use generic plans, which hold none", a.MinDuration, nested),
			Fix: "set auto_explain.log_verbose = off; " + who,
		})
	}
	return ps
}

// LogsErrorStatements reports whether log_min_error_statement, given as
// current_setting shows it, makes the server log the text of a statement
// that fails with an ERROR, such as an INSERT the plaintext guard rejects:
// every level up to and including "error" does; "log", "fatal" and
// "panic" do not.
func LogsErrorStatements(level string) bool {
	switch level {
	case "debug5", "debug4", "debug3", "debug2", "debug1", "debug", "info", "notice", "warning", "error":
		return true
	}
	return false
}
