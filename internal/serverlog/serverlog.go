// Package serverlog tells whether the server's log settings would write
// credential values to its log, in ways the client cannot switch off for
// its own calls. [vault.Client.Migrate] warns about what [Settings.Problems]
// finds and `credvault doctor` reports it: one reading, one set of rules.
package serverlog

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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
	set, err := readNamed(ctx, q, `SELECT s.name, s.setting FROM pg_catalog.pg_settings AS s
 WHERE pg_catalog.starts_with(s.name, 'auto_explain.')`)
	if err != nil {
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

// readNamed runs sql, which returns (name, value) rows, and maps each name
// to its value.
func readNamed(ctx context.Context, q Querier, sql string, args ...any) (map[string]string, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	set := map[string]string{}
	var name, value string
	_, err = pgx.ForEachRow(rows, []any{&name, &value}, func() error { set[name] = value; return nil })
	return set, err
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

// Settings are the settings of the current session that decide whether
// values reach the server's log, as pg_settings shows them. Settings made
// for other roles or databases (ALTER ROLE ... SET) are not visible from
// here.
type Settings struct {
	LogStatement             string  // log_statement: none, ddl, mod or all
	LogMinDurationStatement  int     // log_min_duration_statement, in milliseconds; -1 off
	LogMinDurationSample     int     // log_min_duration_sample, in milliseconds; -1 off
	LogStatementSampleRate   float64 // log_statement_sample_rate, 0 to 1
	LogTransactionSampleRate float64 // log_transaction_sample_rate, 0 to 1
	// LogParameterMaxLength is log_parameter_max_length: -1 logs the bind
	// parameters of logged statements in full, 0 not at all.
	LogParameterMaxLength int
	// LogParameterMaxLengthOnError is log_parameter_max_length_on_error,
	// for statements that fail; any session may set it, and every call of
	// the client sets it to 0 for its own transaction.
	LogParameterMaxLengthOnError int
	LogMinErrorStatement         string // log_min_error_statement
	PgauditLog                   string // pgaudit.log; "" when pgaudit is not loaded
	PgauditLogParameter          bool   // pgaudit.log_parameter

	AutoExplain AutoExplain

	// Guarded reports whether a table of the database has an enabled
	// plaintext guard trigger, whose rejected statements
	// log_min_error_statement may log with their text.
	Guarded bool
	// Database is the current database, named in the fixes.
	Database string
}

// settingNames are the pg_settings rows ReadSettings reads, besides
// auto_explain's.
var settingNames = []string{
	"log_statement", "log_min_duration_statement", "log_min_duration_sample", "log_statement_sample_rate",
	"log_transaction_sample_rate", "log_parameter_max_length", "log_parameter_max_length_on_error",
	"log_min_error_statement", "pgaudit.log", "pgaudit.log_parameter",
}

// ReadSettings reads the session's log settings (and whether a table is
// guarded) in two queries. Its queries qualify every name, so it is safe
// under any search_path.
func ReadSettings(ctx context.Context, q Querier) (Settings, error) {
	set, err := readNamed(ctx, q, `SELECT s.name, s.setting FROM pg_catalog.pg_settings AS s
 WHERE s.name OPERATOR(pg_catalog.=) ANY ($1::pg_catalog.text[])
 UNION ALL
SELECT 'guarded', EXISTS (SELECT FROM pg_catalog.pg_trigger AS t
                           WHERE t.tgname OPERATOR(pg_catalog.=) 'credvault_reject_plaintext'
                             AND t.tgenabled OPERATOR(pg_catalog.<>) 'D')::pg_catalog.text
 UNION ALL
SELECT 'database', pg_catalog.current_database()::pg_catalog.text`, settingNames)
	if err != nil {
		return Settings{}, err
	}
	integer := func(name string, absent int) int {
		if v, err := strconv.Atoi(set[name]); err == nil {
			return v
		}
		return absent
	}
	float := func(name string, absent float64) float64 {
		if v, err := strconv.ParseFloat(set[name], 64); err == nil {
			return v
		}
		return absent
	}
	s := Settings{
		LogStatement:                 set["log_statement"],
		LogMinDurationStatement:      integer("log_min_duration_statement", -1),
		LogMinDurationSample:         integer("log_min_duration_sample", -1),
		LogStatementSampleRate:       float("log_statement_sample_rate", 1),
		LogTransactionSampleRate:     float("log_transaction_sample_rate", 0),
		LogParameterMaxLength:        integer("log_parameter_max_length", -1),
		LogParameterMaxLengthOnError: integer("log_parameter_max_length_on_error", 0),
		LogMinErrorStatement:         set["log_min_error_statement"],
		PgauditLog:                   set["pgaudit.log"],
		PgauditLogParameter:          set["pgaudit.log_parameter"] == "on",
		Guarded:                      set["guarded"] == "true",
		Database:                     set["database"],
	}
	if s.AutoExplain, err = ReadAutoExplain(ctx, q); err != nil {
		return Settings{}, err
	}
	return s, nil
}

// Problems returns every way the settings would write values to the log,
// or none:
//
//   - statements logged with their bind parameters, secrets included, this
//     library's calls too: log_statement all or mod, log_min_duration_statement,
//     log_min_duration_sample with a sample rate above 0, or
//     log_transaction_sample_rate above 0, while log_parameter_max_length
//     is not 0;
//   - failing statements of other clients logged with their parameters
//     (log_parameter_max_length_on_error other than 0);
//   - pgaudit logging parameters;
//   - auto_explain (see [AutoExplain.Problems]);
//   - with a guarded table, the text of a statement the guard rejects,
//     literal credential included (see [LogsErrorStatements]).
func (s Settings) Problems() []Problem {
	alterDB := "ALTER DATABASE ..."
	if s.Database != "" {
		alterDB = "ALTER DATABASE " + pgx.Identifier{s.Database}.Sanitize()
	}
	var ps []Problem
	if s.LogParameterMaxLength != 0 {
		var why []string
		if s.LogStatement == "all" || s.LogStatement == "mod" {
			why = append(why, "log_statement = "+s.LogStatement)
		}
		if s.LogMinDurationStatement >= 0 {
			why = append(why, fmt.Sprintf("log_min_duration_statement = %dms", s.LogMinDurationStatement))
		}
		if s.LogMinDurationSample >= 0 && s.LogStatementSampleRate > 0 {
			why = append(why, fmt.Sprintf("log_min_duration_sample = %dms with log_statement_sample_rate = %g",
				s.LogMinDurationSample, s.LogStatementSampleRate))
		}
		if s.LogTransactionSampleRate > 0 {
			why = append(why, fmt.Sprintf("log_transaction_sample_rate = %g", s.LogTransactionSampleRate))
		}
		if len(why) > 0 {
			ps = append(ps, Problem{
				Why: fmt.Sprintf("the server logs statements with their bind parameters, which include secrets (%s, log_parameter_max_length = %d)",
					strings.Join(why, ", "), s.LogParameterMaxLength),
				Fix: "ask a superuser (on Supabase, support) to set log_parameter_max_length = 0",
			})
		}
	}
	if s.LogParameterMaxLengthOnError != 0 {
		ps = append(ps, Problem{
			Why: fmt.Sprintf("log_parameter_max_length_on_error = %d: failing statements of other clients "+
				"(PostgREST rpc, psql) log their parameters; this library's calls set it to 0 for themselves",
				s.LogParameterMaxLengthOnError),
			Fix: "set it to 0: " + alterDB + " SET log_parameter_max_length_on_error = 0",
		})
	}
	if s.PgauditLogParameter && s.PgauditLog != "" && s.PgauditLog != "none" {
		ps = append(ps, Problem{
			Why: fmt.Sprintf("pgaudit logs statement parameters (pgaudit.log = %s, pgaudit.log_parameter = on)", s.PgauditLog),
			Fix: "set pgaudit.log_parameter = off",
		})
	}
	ps = append(ps, s.AutoExplain.Problems()...)
	if s.Guarded && LogsErrorStatements(s.LogMinErrorStatement) {
		ps = append(ps, Problem{
			Why: fmt.Sprintf("log_min_error_statement = %s: when the plaintext guard rejects a statement the server logs its text, "+
				"so a credential sent as literal SQL (psql, seed files, the Supabase SQL editor) lands in the log; "+
				"set log_min_error_statement = panic", s.LogMinErrorStatement),
			Fix: "a superuser may run " + alterDB + " SET log_min_error_statement = panic " +
				"(or ALTER ROLE ... SET for the roles that send such SQL); on hosted Supabase postgres may not set it " +
				"(it is not among the settings supautils lets postgres change): ask Supabase support",
		})
	}
	return ps
}
