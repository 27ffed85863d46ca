// Package cli implements the credvault operator command: one function per
// subcommand over the public API of package vault, plus the shared plumbing
// (flags, connection, secret input, output formats, exit codes). The main
// package only calls [Main].
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"unicode/utf8"

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
	ExitNotFound = 4 // no credential has the given id (retrieve, rotate)
)

// EnvDatabaseURL names the environment variable read when --database-url
// is not given.
const EnvDatabaseURL = "DATABASE_URL"

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

// connKind says which connection flags a command takes.
type connKind int

const (
	connNone   connKind = iota // no database
	connSchema                 // --schema only, no database
	connOwner                  // --database-url, --schema; runs as the connection's role
	connRole                   // as connOwner, plus --role (default service_role)
)

// runFunc runs a command once its flags are parsed; args are the
// positional arguments.
type runFunc func(ctx context.Context, s *session, args []string) error

type command struct {
	name     string
	synopsis string // after "credvault <name> "
	summary  string // one line for the command list
	help     string // paragraphs printed by --help
	conn     connKind
	setup    func(fs *flag.FlagSet) runFunc // registers the command's own flags
}

// commands lists the subcommands in the order of the help text.
var commands = []*command{
	migrateCmd, storeCmd, retrieveCmd, rotateCmd, deleteCmd, listCmd, auditCmd, sqlCmd, doctorCmd,
	restoreCmd, purgeCmd, orphansCmd, auditPruneCmd,
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
		fmt.Fprintln(stdio.Stderr, "credvault: unknown command; run 'credvault --help' for the list")
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
	if err == nil {
		err = checkNameFlags(fs, s)
	}
	if err != nil {
		fmt.Fprintf(stdio.Stderr, "credvault %s: %v\nrun 'credvault %s --help' for usage\n", c.name, err, c.name)
		return ExitUsage
	}
	defer s.close()
	err = run(ctx, s, positional)
	code := exitCode(err)
	if err != nil && !errors.Is(err, errFindings) {
		fmt.Fprintf(stdio.Stderr, "credvault %s: %v\n", c.name, err)
		if h := hint(c, s, err); h != "" {
			fmt.Fprintf(stdio.Stderr, "hint: %s\n", h)
		}
		if code == ExitUsage {
			fmt.Fprintf(stdio.Stderr, "run 'credvault %s --help' for usage\n", c.name)
		}
	}
	return code
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
	var pgErr *pgconn.PgError
	undefined := errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.UndefinedTable || pgErr.Code == pgerrcode.InvalidSchemaName)
	switch {
	case errors.Is(err, vault.ErrNotMigrated) || undefined:
		return fmt.Sprintf("the credential functions are not in schema %q: run 'credvault migrate --schema %s', or pass the --schema you migrated", s.schema, s.schema)
	case errors.Is(err, vault.ErrPermissionDenied) && c.name == "orphans":
		return "orphans reads your tables as the role that ran migrate: connect as that role (postgres on Supabase), do not pass --role, and grant it SELECT on the --referenced-by columns"
	case errors.Is(err, vault.ErrPermissionDenied) && (c.name == "audit" || c.name == "audit prune"):
		return "the access log is readable only by the role that ran migrate: connect as that role (postgres on Supabase) and do not pass --role"
	case errors.Is(err, vault.ErrPermissionDenied) && c.conn == connRole:
		return "the credential functions are executable by service_role only: connect as a member of it (postgres on Supabase) and keep --role service_role"
	case errors.Is(err, vault.ErrPermissionDenied) && c.name == "migrate":
		return "installing the compatibility layer needs a superuser; on Supabase, Vault is already installed"
	case errors.Is(err, vault.ErrPermissionDenied):
		return "connect as the role that ran migrate (postgres on Supabase)"
	case errors.Is(err, vault.ErrPlaintextCredential):
		return "store the value with 'credvault store' and keep only the id it prints in your table"
	case errors.Is(err, vault.ErrVaultUnavailable):
		return "install the supabase_vault extension, or on plain PostgreSQL pass --compat-key-file as a superuser (see README)"
	case errors.Is(err, vault.ErrSchemaNotWritable):
		return "on Supabase the postgres role cannot create in schema vault: use --schema credentials (and the same --schema in every command)"
	case errors.Is(err, vault.ErrConnection):
		return "check --database-url (or $" + EnvDatabaseURL + ") and that the server is up; a store that failed this way may have committed: look for it with 'credvault list' before storing again"
	case errors.Is(err, vault.ErrUnsupported):
		return "credvault prepares its statements: connect directly or through the pooler's session mode (Supavisor on port 5432), not a transaction-mode pooler"
	}
	return vault.Hint(err)
}

func newFlagSet(c *command, s *session) *flag.FlagSet {
	fs := flag.NewFlagSet("credvault "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // its messages quote arguments; parseInterspersed reports errors itself
	fs.Usage = func() {}     // Main prints the help
	switch c.conn {
	case connSchema:
		fs.StringVar(&s.schema, "schema", vault.DefaultSchema, "`schema` holding the credential functions")
	case connOwner, connRole:
		fs.StringVar(&s.url, "database-url", "", "PostgreSQL connection `URL`; default $"+EnvDatabaseURL)
		fs.StringVar(&s.schema, "schema", vault.DefaultSchema, "`schema` holding the credential functions (on Supabase, the one you migrated, e.g. credentials)")
		if c.name != "doctor" {
			fs.BoolVar(&s.verbose, "verbose", false, "log each call (operation, id, outcome, duration; never values) to standard error")
		}
		switch {
		case c.name == "doctor":
			fs.StringVar(&s.role, "role", "service_role", "`role` the services call the functions as; doctor checks the connection may switch to it")
		case c.conn == connRole:
			fs.StringVar(&s.role, "role", "service_role", "`role` to run the call as (SET LOCAL ROLE); empty for the connection's own role")
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
			return nil, usagef("unknown flag (not repeated here; secrets are read from standard input or --file)")
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

// checkNameFlags rejects a --schema or --role that cannot be a PostgreSQL
// identifier, without repeating it. An empty --role means the connection's
// own role.
func checkNameFlags(fs *flag.FlagSet, s *session) error {
	for _, f := range []struct {
		name, value string
		emptyOK     bool
	}{{"schema", s.schema, false}, {"role", s.role, true}} {
		if fs.Lookup(f.name) == nil || (f.value == "" && f.emptyOK) {
			continue
		}
		if f.value == "" || len(f.value) > 63 || !utf8.ValidString(f.value) || strings.ContainsRune(f.value, 0) {
			return usagef("--%s must be a name of 1 to 63 bytes of UTF-8 without NUL", f.name)
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
password may also come from PGPASSWORD or ~/.pgpass.

Secrets are read from standard input or --file, never from arguments or the
environment, and printed only by 'retrieve', only to a pipe or a file.
`)
	b.WriteString(exitStatusHelp)
	_, _ = io.WriteString(w, b.String())
}

const exitStatusHelp = `
Exit status:
  0  success
  1  the operation failed (connection, permission, database error)
  2  usage error: bad flags or arguments, or 'retrieve' to a terminal without --force
  3  doctor found problems
  4  no credential with that id (retrieve, rotate, restore)
`

func printHelp(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage:\n  credvault %s %s\n\n%s\n", c.name, c.synopsis, strings.TrimSpace(c.help))
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
	_, _ = io.WriteString(w, exitStatusHelp)
}

// session holds a command's connection settings and, once opened, its
// connection.
type session struct {
	io      IO
	cmd     *command
	url     string
	schema  string
	role    string
	verbose bool
	conn    *pgx.Conn
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
	base := []vault.Option{vault.WithSchema(s.schema), vault.WithLogger(s.logger())}
	if s.role != "" {
		base = append(base, vault.WithRole(s.role))
	}
	c, err := vault.New(conn, append(base, opts...)...)
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
