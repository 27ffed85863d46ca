package cli

import (
	"regexp"
	"strings"
)

// goTerms rewrite the Go API's terms, in which the library words its
// errors, hints and preflight findings, into the command's: options become
// flags, methods become commands. The most specific come first.
var goTerms = []struct {
	re   *regexp.Regexp
	repl string
}{
	{regexp.MustCompile(`\bMigrate (?:with|and) WithCompatVault\b`), "'credvault migrate --compat-key-file PATH'"},
	{regexp.MustCompile(`\bWithCompatVault or InstallCompatVault\b`), "'credvault migrate --compat-key-file PATH'"},
	{regexp.MustCompile(`\bInstallCompatVault\b`), "'credvault migrate --compat-key-file PATH'"},
	{regexp.MustCompile(`\bWithCompatVault\b`), "--compat-key-file PATH"},
	{regexp.MustCompile(`\bWithSchema\("([^"\\]*)"\)`), "--schema $1"},
	{regexp.MustCompile(`\bWithRole\("([^"\\]*)"\)`), "--role $1"},
	{regexp.MustCompile(`\bWithSchema\b`), "--schema"},
	{regexp.MustCompile(`\bWithRole\b`), "--role"},
	{regexp.MustCompile(`\bWithNamespace\b`), "--namespace"},
	{regexp.MustCompile(`\bIfVersion\b`), "--if-version"},
	{regexp.MustCompile(`\bMigrationSQL\b`), "'credvault sql'"},
	{regexp.MustCompile(`\bMigrationStatus\b`), "'credvault doctor'"},
	{regexp.MustCompile(`\b(?:Client\.)?(Migrate|Store|Retrieve|Rotate|Delete|List|AccessLog|Put|Lookup)\b`), ""}, // see cliTerms
	// Words that are also English only when qualified.
	{regexp.MustCompile(`\bClient\.(Read|Rollback|Update|Get)\b`), ""},
}

// commandOf names the command that does what a Client method does.
var commandOf = map[string]string{
	"Migrate": "migrate", "Store": "store", "Retrieve": "retrieve", "Rotate": "rotate",
	"Delete": "delete", "List": "list", "AccessLog": "audit", "Put": "put", "Lookup": "lookup",
	"Read": "read", "Rollback": "rollback", "Update": "update", "Get": "lookup",
}

// cliTerms rewrites a library message into the command's terms.
func cliTerms(s string) string {
	for _, t := range goTerms {
		if t.repl != "" {
			s = t.re.ReplaceAllString(s, t.repl)
			continue
		}
		s = t.re.ReplaceAllStringFunc(s, func(m string) string {
			return "'credvault " + commandOf[strings.TrimPrefix(m, "Client.")] + "'"
		})
	}
	return s
}
