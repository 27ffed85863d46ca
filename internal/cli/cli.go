// Package cli implements the credvault operator command: one function per
// subcommand over the public API of package vault, plus the shared plumbing
// (flags, connection, secret input, output formats, exit codes). The main
// package only calls [Main].
package cli

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/credvault/vault"
)

// Exit statuses of the credvault command.
const (
	ExitOK       = 0 // the command did what was asked
	ExitFailed   = 1 // the operation failed (connection, permission, database error)
	ExitUsage    = 2 // the command line is wrong, or the output would go to a terminal
	ExitFindings = 3 // doctor found problems
	ExitNotFound = 4 // no credential has the given id or name in the namespace (commands that need one)
)

// Environment variables read when the matching flag is not given.
const (
	EnvDatabaseURL = "DATABASE_URL"        // --database-url
	EnvSchema      = "CREDVAULT_SCHEMA"    // --schema, default "vault"
	EnvRole        = "CREDVAULT_ROLE"      // --role, default "service_role"
	EnvNamespace   = "CREDVAULT_NAMESPACE" // --namespace, default "" (the default namespace)
)

// IO is what a command reads and writes. Stdin and Stdout are checked for
// terminals when they are *os.File.
type IO struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// usageError is a mistake on the command line; it exits with [ExitUsage].
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errFindings is returned by doctor when it found problems; it has
// already printed them.
var errFindings = errors.New("doctor found problems")

// errUnknownFlag is a flag the command does not take; it is not repeated.
var errUnknownFlag = &usageError{msg: "unknown flag (not repeated here; secrets are read from standard input or --file)"}

// connKind says which connection flags a command takes.
type connKind int

const (
	connNone   connKind = iota // no database
	connSchema                 // --schema only, no database
	connOwner                  // --database-url, --schema; runs as the connection's role
	connRole                   // as connOwner, plus --role (default service_role)
)

// runFunc runs a command once its flags are parsed and its positional
// arguments checked (see argKind); args are the positional arguments.
type runFunc func(ctx context.Context, s *session, args []string) error

// argKind says which positional arguments a command takes. The runner
// checks them before the command runs, so a wrong count or id is a usage
// error before anything connects.
type argKind int

const (
	argsNone argKind = iota // none
	argsID                  // one credential ID, parsed into session.id
	argsOwn                 // the command checks its own
)

type command struct {
	name     string
	synopsis string // after "credvault <name> "
	summary  string // one line for the command list
	help     string // paragraphs printed by --help
	conn     connKind
	args     argKind
	notFound bool                           // exits with ExitNotFound when no credential has the id or name
	setup    func(fs *flag.FlagSet) runFunc // registers the command's own flags
	hint     func(error) string             // the command's own hint for err, or "" for the general one
}

// commands lists the subcommands in the order of the help text.
var commands = []*command{
	migrateCmd, storeCmd, putCmd, lookupCmd, retrieveCmd, readCmd, rotateCmd, rollbackCmd, updateCmd, deleteCmd,
	restoreCmd, purgeCmd, listCmd, orphansCmd, auditCmd, auditPruneCmd, sqlCmd, doctorCmd, exportCmd, importCmd,
}

// commandNames lists the commands' names, for messages.
func commandNames() string {
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	return strings.Join(names, ", ")
}

// flagNames lists the flags fs defines, as --name, for messages.
func flagNames(fs *flag.FlagSet) string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, "--"+f.Name) })
	if len(names) == 0 {
		return "no flags"
	}
	return strings.Join(names, ", ")
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// lookupCommand finds the command args start with, a two-word one
// ("audit prune") first, and returns it with the arguments after its name.
func lookupCommand(args []string) (*command, []string) {
	if len(args) > 1 {
		if c := findCommand(args[0] + " " + args[1]); c != nil {
			return c, args[2:]
		}
	}
	return findCommand(args[0]), args[1:]
}

// Main runs the credvault command with args (without the program name)
// and returns its exit status.
func Main(ctx context.Context, args []string, stdio IO) int {
	if stdio.Getenv == nil {
		stdio.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 {
		printMainHelp(stdio.Stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 && name == "help" {
			if c, _ := lookupCommand(args[1:]); c != nil {
				fs := newFlagSet(c, &session{io: stdio, cmd: c})
				c.setup(fs)
				printHelp(stdio.Stdout, c, fs)
				return ExitOK
			}
			// Never repeat what was typed: it may be a secret typed in the wrong place.
			fmt.Fprintln(stdio.Stderr, "credvault: unknown command; run 'credvault --help' for the list")
			return ExitUsage
		}
		printMainHelp(stdio.Stdout)
		return ExitOK
	}
	c, rest := lookupCommand(args)
	if c == nil {
		if strings.HasPrefix(name, "-") {
			// Never repeat the flag: it may be a secret typed in the wrong place.
			fmt.Fprintf(stdio.Stderr, "credvault: a flag before the command name: write 'credvault <command> [flags]', "+
				"with one of the commands %s\n", commandNames())
		} else {
			fmt.Fprintln(stdio.Stderr, "credvault: unknown command; run 'credvault --help' for the list")
		}
		return ExitUsage
	}
	s := &session{io: stdio, cmd: c}
	fs := newFlagSet(c, s)
	run := c.setup(fs)
	positional, err := parseInterspersed(fs, rest)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdio.Stdout, c, fs)
		return ExitOK
	}
	if errors.Is(err, errUnknownFlag) {
		fmt.Fprintf(stdio.Stderr, "credvault %s: %v; it takes %s\n", c.name, err, flagNames(fs))
		return ExitUsage
	}
	if err == nil {
		err = checkNameFlags(fs, s)
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "credvault %s: %v\nrun 'credvault %s --help' for usage\n", c.name, err, c.name)
		return ExitUsage
	}
	defer s.close()
	err = s.checkArgs(positional)
	if err == nil {
		err = run(ctx, s, positional)
	}
	code := exitCode(err)
	if err != nil && !errors.Is(err, errFindings) {
		fmt.Fprintln(stdio.Stderr, describe(c, err))
		if h := hint(c, s, err); h != "" {
			fmt.Fprintf(stdio.Stderr, "hint: %s\n", cliTerms(h))
		}
		if code == ExitUsage {
			fmt.Fprintf(stdio.Stderr, "run 'credvault %s --help' for usage\n", c.name)
		}
	}
	return code
}

// describe words a command's error in the command's terms, without the
// library's "vault: <op>" prefix when the command is the operation:
// "credvault retrieve <id>: credential not found (SQLSTATE P0002)".
func describe(c *command, err error) string {
	msg := err.Error()
	var ve *vault.Error
	if errors.As(err, &ve) && msg == ve.Error() {
		msg = strings.TrimPrefix(msg, "vault: "+ve.Op)
		if !strings.HasPrefix(msg, " ") && !strings.HasPrefix(msg, ":") {
			msg = ": " + msg
		}
		return "credvault " + c.name + cliTerms(msg)
	}
	return "credvault " + c.name + ": " + cliTerms(strings.TrimPrefix(msg, "vault: "))
}

func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue):
		return ExitUsage
	case errors.Is(err, errFindings):
		return ExitFindings
	case errors.Is(err, vault.ErrNotFound):
		return ExitNotFound
	}
	return ExitFailed
}

// hint suggests a fix: in the command's terms (flags, not Go options) where
// the command knows better, else the library's hint for the error's kind.
func hint(c *command, s *session, err error) string {
	if c.hint != nil {
		if h := c.hint(err); h != "" {
			return h
		}
	}
	var pgErr *pgconn.PgError
	undefined := errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.UndefinedTable || pgErr.Code == pgerrcode.InvalidSchemaName)
	switch {
	case errors.Is(err, vault.ErrNotMigrated) || undefined:
		return fmt.Sprintf("the credential functions are not in schema %q: pass the --schema you migrated (or set %s), "+
			"or install them with 'credvault migrate --schema %s'; 'credvault doctor' says which schema works on this server",
			s.schema, EnvSchema, s.schema)
	case (errors.Is(err, vault.ErrPermissionDenied) || errors.Is(err, vault.ErrOwnerPrivilege)) && c.name == "orphans":
		return "orphans reads your tables as the role that ran migrate: connect as that role (postgres on Supabase), do not pass --role, and grant it SELECT on the --referenced-by columns"
	case errors.Is(err, vault.ErrOwnerPrivilege):
		return vault.Hint(err) + "; 'credvault doctor' lists what it lacks"
	case errors.Is(err, vault.ErrPermissionDenied) && (c.name == "audit" || c.name == "audit prune"):
		return "the access log is readable only by the role that ran migrate: connect as that role (postgres on Supabase) and do not pass --role"
	case errors.Is(err, vault.ErrPermissionDenied) && c.conn == connRole:
		return "the credential functions are executable by service_role only: connect as a member of it (postgres on Supabase) and keep --role (or $" + EnvRole + ") service_role"
	case errors.Is(err, vault.ErrPermissionDenied) && c.name == "migrate":
		return "installing the compatibility layer needs a superuser; on Supabase, Vault is already installed"
	case errors.Is(err, vault.ErrPermissionDenied):
		return "connect as the role that ran migrate (postgres on Supabase)"
	case errors.Is(err, vault.ErrPlaintextCredential):
		return "store the value with 'credvault store' and keep only the id it prints in your table"
	case errors.Is(err, vault.ErrVaultUnavailable):
		return "install the supabase_vault extension, or on plain PostgreSQL pass --compat-key-file as a superuser (see README)"
	case errors.Is(err, vault.ErrSchemaNotWritable):
		return "install into a schema the connected role may create in (on Supabase, not vault), then pass the same --schema " +
			"to every command, or set " + EnvSchema
	case errors.Is(err, vault.ErrMigrationChecksum):
		return "upgrade credvault to the version that applied the schema's migrations; never edit a migration once applied"
	case errors.Is(err, vault.ErrConnection):
		return "check --database-url (or $" + EnvDatabaseURL + ") and that the server is up; a store that failed this way may have committed: look for it with 'credvault list' before storing again"
	case errors.Is(err, vault.ErrVersionMismatch):
		return "another change came first: read the current version with 'credvault lookup ID', check the value, and pass that version to --if-version"
	case errors.Is(err, vault.ErrAlreadyExists) && c.name == "update":
		return "another credential of the namespace has that name: pick another --name, or look it up with 'credvault lookup --name'"
	case errors.Is(err, vault.ErrNotFound) && c.name == "rollback":
		return "rollback needs a credential of this --namespace whose value changed at least once"
	case errors.Is(err, vault.ErrNotFound) && s.namespace != "":
		return "credentials are looked up in the namespace given with --namespace (or $" + EnvNamespace + "); another namespace's credential is not found"
	case errors.Is(err, vault.ErrUnsupported):
		return "credvault prepares its statements: connect directly or through the pooler's session mode (Supavisor on port 5432), not a transaction-mode pooler"
	}
	return vault.Hint(err)
}

func newFlagSet(c *command, s *session) *flag.FlagSet {
	fs := flag.NewFlagSet("credvault "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // its messages quote arguments; parseInterspersed reports errors itself
	fs.Usage = func() {}     // Main prints the help
	getenv := s.io.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	schema := cmp.Or(getenv(EnvSchema), vault.DefaultSchema)
	role := cmp.Or(getenv(EnvRole), "service_role")
	const schemaUsage = "`schema` holding the credential functions; default $" + EnvSchema + ", else " + vault.DefaultSchema
	switch c.conn {
	case connSchema:
		fs.StringVar(&s.schema, "schema", schema, schemaUsage)
	case connOwner, connRole:
		fs.StringVar(&s.url, "database-url", "", "PostgreSQL connection `URL`; default $"+EnvDatabaseURL)
		fs.StringVar(&s.schema, "schema", schema, schemaUsage+" (on Supabase, one of your own such as credentials)")
		if c.name != "doctor" {
			fs.BoolVar(&s.verbose, "verbose", false, "log each call (operation, id, outcome, duration; never values) to standard error")
		}
		if c.conn == connRole && c.name != "doctor" {
			fs.StringVar(&s.namespace, "namespace", getenv(EnvNamespace),
				"`namespace` the command works in, such as an organization id; default $"+EnvNamespace+", else the default namespace \"\"")
		}
		const roleDefault = "; default $" + EnvRole + ", else service_role"
		switch {
		case c.name == "doctor":
			fs.StringVar(&s.role, "role", role, "`role` the services call the functions as; doctor checks the connection may switch to it"+roleDefault)
		case c.conn == connRole:
			fs.StringVar(&s.role, "role", role, "`role` to run the call as (SET LOCAL ROLE), '' for the connection's own role"+roleDefault)
		}
	}
	return fs
}

// parseInterspersed parses the flags defined in fs, which may follow
// positional arguments ("retrieve ID --force"), as the flag package does
// ("-f", "--f", "-f=v", "--f v"; a boolean flag takes no separate value),
// and returns the positional arguments. A "--" ends flag parsing; "-h" and
// "--help" return [flag.ErrHelp].
//
// Its errors are usage errors that name a flag only when fs defines it and
// never repeat a value or an unknown flag: a secret typed in the wrong
// place ("--name x --sk_live_...", "--limit sk_live_...") must not be
// echoed to a terminal or a CI log.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(positional, args[i+1:]...), nil
		}
		if len(arg) < 2 || arg[0] != '-' {
			positional = append(positional, arg)
			continue
		}
		name := strings.TrimPrefix(arg[1:], "-")
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq > 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		if name == "" || name[0] == '-' || name[0] == '=' {
			return nil, usagef("malformed flag: flags are written -name, --name, --name=value or --name value")
		}
		f := fs.Lookup(name)
		if f == nil {
			if name == "h" || name == "help" {
				return nil, flag.ErrHelp
			}
			return nil, errUnknownFlag
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 == len(args) {
				return nil, usagef("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			return nil, usagef("flag --%s: invalid value (%s)", name, flagValueHelp(f))
		}
	}
	return positional, nil
}

// flagValueHelp says what f accepts, without the value it was given.
func flagValueHelp(f *flag.Flag) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "write --" + f.Name + " alone, or --" + f.Name + "=true or =false"
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if _, ok := g.Get().(int); ok {
			return "a whole number is expected"
		}
	}
	return "see --help"
}

// checkNameFlags rejects a --schema or --role, given or from the
// environment, that cannot be a PostgreSQL identifier, and a --namespace
// the library would refuse, without repeating them. An empty --role means
// the connection's own role; an empty --namespace, the default namespace.
func checkNameFlags(fs *flag.FlagSet, s *session) error {
	for _, f := range []struct {
		name, env, value string
		emptyOK          bool
	}{{"schema", EnvSchema, s.schema, false}, {"role", EnvRole, s.role, true}} {
		if fs.Lookup(f.name) == nil || (f.value == "" && f.emptyOK) {
			continue
		}
		if f.value == "" || len(f.value) > 63 || !utf8.ValidString(f.value) || strings.ContainsRune(f.value, 0) {
			return usagef("--%s (or $%s) must be a name of 1 to 63 bytes of UTF-8 without NUL", f.name, f.env)
		}
	}
	if fs.Lookup("namespace") != nil {
		ns := s.namespace
		if len(ns) > vault.MaxNamespaceSize || !utf8.ValidString(ns) || strings.ContainsRune(ns, 0) {
			return usagef("--namespace (or $%s) must be at most %d bytes of UTF-8 without NUL", EnvNamespace, vault.MaxNamespaceSize)
		}
	}
	return nil
}

func printMainHelp(w io.Writer) {
	var b strings.Builder
	b.WriteString(`credvault manages integration credentials kept in Supabase Vault through
the functions installed by github.com/credvault/vault.

Usage:
  credvault <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Run 'credvault <command> --help' for a command's flags.

Connection: --database-url, or the environment variable DATABASE_URL
(preferred: command lines are visible to other users of the machine). The
password may also come from PGPASSWORD or ~/.pgpass. --schema and --role
default to CREDVAULT_SCHEMA and CREDVAULT_ROLE, else vault and
service_role; on Supabase set CREDVAULT_SCHEMA to the schema you migrated
(such as credentials) once, for every command. --namespace, default
CREDVAULT_NAMESPACE, else the default namespace, scopes the credential
commands to one namespace, such as an organization id: another namespace's
credentials are not found.

Secrets are read from standard input or --file, never from arguments or the
environment, and printed only by 'retrieve' and 'read', only to a pipe or a
file.
`)
	b.WriteString(exitStatusHelp(nil))
	_, _ = io.WriteString(w, b.String())
}

// exitStatuses are the command's exit statuses, in order, with their
// meaning; exitStatusesOf picks a command's.
var exitStatuses = []struct {
	code int
	text string
}{
	{ExitOK, "success"},
	{ExitFailed, "the operation failed (connection, permission, database error)"},
	{ExitUsage, "usage error: bad flags or arguments, or 'retrieve' or 'read' to a terminal without --force"},
	{ExitFindings, "doctor found problems"},
	{ExitNotFound, "no credential with that id or name in the namespace (lookup, retrieve, read, rotate, rollback, update)"},
}

// exitStatusHelp is the table of exit statuses, for every command (c nil)
// or for c: doctor alone exits 3, the commands that need an existing
// credential 4.
func exitStatusHelp(c *command) string {
	var b strings.Builder
	b.WriteString("\nExit status:\n")
	for _, e := range exitStatuses {
		switch {
		case c == nil:
		case e.code == ExitFindings && c != doctorCmd:
			continue
		case e.code == ExitNotFound && !c.notFound:
			continue
		}
		text := e.text
		switch {
		case c == nil:
		case e.code == ExitUsage && c != retrieveCmd && c != readCmd:
			text = "usage error: bad flags or arguments"
		case e.code == ExitNotFound:
			text = "no credential with that id or name in the namespace"
		}
		fmt.Fprintf(&b, "  %d  %s\n", e.code, text)
	}
	return b.String()
}

func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage:\n  credvault %s %s\n\n%s\n", c.name, c.synopsis, strings.TrimSpace(c.help))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		printFlags(w, fs)
	}
	_, _ = io.WriteString(w, exitStatusHelp(c))
}

// printFlags prints fs's flags as the command reads them, with two dashes
// (flag.PrintDefaults writes one).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" {
			usage += fmt.Sprintf(" (default %q)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n    \t%s\n", line, usage)
	})
}

// session holds a command's connection settings and, once opened, its
// connection.
type session struct {
	io     IO
	cmd    *command
	url    string
	schema string
	role   string
	// namespace scopes the credential commands (see vault.WithNamespace).
	namespace string
	verbose   bool
	conn      *pgx.Conn
	id        uuid.UUID // the credential ID argument of an argsID command
}

// checkArgs checks the positional arguments of the session's command, as
// its argKind says.
func (s *session) checkArgs(args []string) error {
	switch s.cmd.args {
	case argsNone:
		return wantArgs(args, 0)
	case argsID:
		id, err := idArg(args)
		s.id = id
		return err
	}
	return nil
}

// clientAndSecret opens the session's client, then reads a secret from
// the file at path, or from standard input when path is "" (see
// readSecret).
func (s *session) clientAndSecret(ctx context.Context, path string) (*vault.Client, string, error) {
	c, err := s.client(ctx)
	if err != nil {
		return nil, "", err
	}
	secret, err := readSecret(s.io, path)
	return c, secret, err
}

// done says on standard error that the command did what it was asked,
// "credvault: " followed by the formatted message, when err is nil, and
// returns err.
func (s *session) done(err error, format string, args ...any) error {
	if err == nil {
		fmt.Fprintf(s.io.Stderr, "credvault: "+format+"\n", args...)
	}
	return err
}

func (s *session) stderr() io.Writer {
	if s.io.Stderr == nil {
		return io.Discard
	}
	return s.io.Stderr
}

// connect opens the connection, once. The application_name defaults to
// "credvault", which the access log records.
func (s *session) connect(ctx context.Context) (*pgx.Conn, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	url := s.url
	if url == "" {
		url = s.io.Getenv(EnvDatabaseURL)
	}
	if url == "" {
		return nil, usagef("no database: pass --database-url or set %s", EnvDatabaseURL)
	}
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// Its errors mask a password but quote the rest, which may be
		// anything typed in the wrong place.
		return nil, usagef("--database-url or %s is not a PostgreSQL connection string "+
			"(postgres://user@host:5432/database?sslmode=require, or host=... user=... dbname=...)", EnvDatabaseURL)
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "credvault"
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Before anything else: no function, operator or type planted in
	// public or another schema may run as the connected role. The library
	// pins it again in each transaction it opens, which holds behind a
	// transaction pooler too.
	if _, err := conn.Exec(ctx, "SET search_path = pg_catalog, pg_temp"); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	s.conn = conn
	return conn, nil
}

func (s *session) close() {
	if s.conn != nil {
		_ = s.conn.Close(context.Background())
	}
}

// client returns a vault client on the session's connection with its
// schema, role and logger.
func (s *session) client(ctx context.Context, opts ...vault.Option) (*vault.Client, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	return s.clientOn(conn, opts...)
}

// roleName names the role calls run as, for messages.
func (s *session) roleName() string {
	if s.role == "" {
		return "the connection's role"
	}
	return s.role
}

// clientOn returns a vault client on db with the session's schema, role,
// namespace and logger.
func (s *session) clientOn(db vault.DB, opts ...vault.Option) (*vault.Client, error) {
	base := []vault.Option{vault.WithSchema(s.schema), vault.WithLogger(s.logger())}
	if s.role != "" {
		base = append(base, vault.WithRole(s.role))
	}
	if s.namespace != "" {
		base = append(base, vault.WithNamespace(s.namespace))
	}
	c, err := vault.New(db, append(base, opts...)...)
	if err != nil {
		return nil, usagef("%v", err) // an invalid --schema or --role
	}
	return c, nil
}

// logger writes the library's records to standard error: with --verbose
// all of them, for migrate its progress and warnings, otherwise none (the
// command prints the error itself).
func (s *session) logger() *slog.Logger {
	level := slog.Level(100)
	switch {
	case s.verbose:
		level = slog.LevelDebug
	case s.cmd != nil && s.cmd.name == "migrate":
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(s.stderr(), &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
}
