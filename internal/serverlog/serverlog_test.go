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
