package serverlog

import (
	"strings"
	"testing"
)

func TestAutoExplainProblems(t *testing.T) {
	t.Parallel()
	base := AutoExplain{Loaded: true, MinDuration: 0, SampleRate: 1, ParamMaxLength: 0, HasParamMaxLength: true}
	with := func(f func(*AutoExplain)) AutoExplain { a := base; f(&a); return a }
	for _, tc := range []struct {
		name string
		a    AutoExplain
		want []string // a piece of each problem's Fix, in order
	}{
		{"not loaded", AutoExplain{Verbose: true, MinDuration: 0, SampleRate: 1}, nil},
		{"loaded, defaults of PostgreSQL 15", AutoExplain{Loaded: true, MinDuration: -1, SampleRate: 1}, nil},
		{"logging plans, not verbose", base, nil},
		{"verbose but no plan logged", with(func(a *AutoExplain) { a.Verbose, a.MinDuration = true, -1 }), nil},
		{"verbose but sampled out", with(func(a *AutoExplain) { a.Verbose, a.SampleRate = true, 0 }), nil},
		{"verbose", with(func(a *AutoExplain) { a.Verbose = true }), []string{"auto_explain.log_verbose = off"}},
		{"verbose, nested", with(func(a *AutoExplain) { a.Verbose, a.Nested = true, true }), []string{"auto_explain.log_verbose = off"}},
		{"parameters (PostgreSQL 16 default)", with(func(a *AutoExplain) { a.ParamMaxLength = -1 }),
			[]string{"auto_explain.log_parameter_max_length = 0"}},
		{"parameters, truncated", with(func(a *AutoExplain) { a.ParamMaxLength = 8 }),
			[]string{"auto_explain.log_parameter_max_length = 0"}},
		{"parameters and verbose", with(func(a *AutoExplain) { a.ParamMaxLength, a.Verbose = -1, true }),
			[]string{"auto_explain.log_parameter_max_length = 0", "auto_explain.log_verbose = off"}},
		{"PostgreSQL 15 has no parameter setting", with(func(a *AutoExplain) { a.ParamMaxLength, a.HasParamMaxLength = -1, false }), nil},
	} {
		got := tc.a.Problems()
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %d problems %v, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i, p := range got {
			if !strings.Contains(p.Fix, tc.want[i]) {
				t.Errorf("%s: problem %d fix %q does not say %q", tc.name, i, p.Fix, tc.want[i])
			}
		}
	}
	nested := with(func(a *AutoExplain) { a.Verbose, a.Nested = true, true }).Problems()
	if !strings.Contains(nested[0].Why, "log_nested_statements") {
		t.Errorf("the nested statements are not mentioned: %q", nested[0].Why)
	}
}

func TestLogsErrorStatements(t *testing.T) {
	t.Parallel()
	for _, level := range []string{"debug5", "debug1", "info", "notice", "warning", "error"} {
		if !LogsErrorStatements(level) {
			t.Errorf("log_min_error_statement = %s logs failing statements", level)
		}
	}
	for _, level := range []string{"log", "fatal", "panic"} {
		if LogsErrorStatements(level) {
			t.Errorf("log_min_error_statement = %s does not log statements failing with ERROR", level)
		}
	}
}

func TestSettingsProblems(t *testing.T) {
	t.Parallel()
	// PostgreSQL's defaults log nothing.
	base := Settings{LogStatement: "none", LogMinDurationStatement: -1, LogMinDurationSample: -1,
		LogStatementSampleRate: 1, LogParameterMaxLength: -1, LogMinErrorStatement: "error", Database: "postgres"}
	with := func(f func(*Settings)) Settings { s := base; f(&s); return s }
	for _, tc := range []struct {
		name string
		s    Settings
		want []string // a piece of each problem, in order
	}{
		{"defaults", base, nil},
		{"log_statement = all", with(func(s *Settings) { s.LogStatement = "all" }), []string{"log_statement = all"}},
		{"log_statement = ddl", with(func(s *Settings) { s.LogStatement = "ddl" }), nil},
		{"slow statements", with(func(s *Settings) { s.LogMinDurationStatement = 250 }), []string{"log_min_duration_statement = 250ms"}},
		{"sampled statements", with(func(s *Settings) { s.LogMinDurationSample = 0; s.LogStatementSampleRate = 0.1 }),
			[]string{"log_min_duration_sample = 0ms with log_statement_sample_rate = 0.1"}},
		{"sampled at rate 0", with(func(s *Settings) { s.LogMinDurationSample = 0; s.LogStatementSampleRate = 0 }), nil},
		{"sampled transactions", with(func(s *Settings) { s.LogTransactionSampleRate = 0.01 }), []string{"log_transaction_sample_rate = 0.01"}},
		{"all of them, without parameters", with(func(s *Settings) {
			s.LogStatement, s.LogMinDurationStatement, s.LogTransactionSampleRate, s.LogParameterMaxLength = "all", 0, 1, 0
		}), nil},
		{"parameters on error", with(func(s *Settings) { s.LogParameterMaxLengthOnError = -1 }),
			[]string{`ALTER DATABASE "postgres" SET log_parameter_max_length_on_error = 0`}},
		{"pgaudit", with(func(s *Settings) { s.PgauditLog, s.PgauditLogParameter = "write", true }), []string{"pgaudit.log_parameter = off"}},
		{"pgaudit logging nothing", with(func(s *Settings) { s.PgauditLog, s.PgauditLogParameter = "none", true }), nil},
		{"guarded table", with(func(s *Settings) { s.Guarded = true }), []string{"log_min_error_statement = panic"}},
		{"guarded table, panic", with(func(s *Settings) { s.Guarded, s.LogMinErrorStatement = true, "panic" }), nil},
		{"auto_explain", with(func(s *Settings) {
			s.AutoExplain = AutoExplain{Loaded: true, SampleRate: 1, Verbose: true}
		}), []string{"auto_explain.log_verbose = off"}},
	} {
		got := tc.s.Problems()
		if len(got) != len(tc.want) {
			t.Errorf("%s: got %d problems %v, want %d", tc.name, len(got), got, len(tc.want))
			continue
		}
		for i, p := range got {
			if !strings.Contains(p.String(), tc.want[i]) {
				t.Errorf("%s: problem %d %q does not say %q", tc.name, i, p, tc.want[i])
			}
		}
	}
}
