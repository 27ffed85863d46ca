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
}

func findCommand(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
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
			if c := findCommand(args[1]); c != nil {
				fs := newFlagSet(c, &session{io: stdio, cmd: c})
				c.setup(fs)
				printHelp(stdio.Stdout, c, fs)
				return ExitOK
			}
			fmt.Fprintf(stdio.Stderr, "credvault: unknown command %q\n", args[1])
			return ExitUsage
		}
		printMainHelp(stdio.Stdout)
		return ExitOK
	}
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(stdio.Stderr, "credvault: unknown command %q; run 'credvault --help' for the list\n", name)
		return ExitUsage
	}
	s := &session{io: stdio, cmd: c}
	fs := newFlagSet(c, s)
	run := c.setup(fs)
	positional, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdio.Stdout, c, fs)
		return ExitOK
	}
	if err != nil { // the flag package has printed what was wrong
		fmt.Fprintf(stdio.Stderr, "run 'credvault %s --help' for usage\n", c.name)
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

// hint suggests a fix for the common failures.
func hint(c *command, s *session, err error) string {
	var pgErr *pgconn.PgError
	undefined := errors.As(err, &pgErr) && (pgErr.Code == "42P01" || pgErr.Code == "3F000") // undefined_table, invalid_schema_name
	switch {
	case errors.Is(err, vault.ErrNotMigrated) || undefined:
		return fmt.Sprintf("the credential functions are not in schema %q: run 'credvault migrate --schema %s', or pass the --schema you migrated", s.schema, s.schema)
	case errors.Is(err, vault.ErrPermissionDenied) && c.name == "audit":
		return "the access log is readable only by the role that ran migrate: connect as that role (postgres on Supabase) and do not pass --role"
	case errors.Is(err, vault.ErrPermissionDenied) && c.conn == connRole:
		return "the credential functions are executable by service_role only: connect as a member of it (postgres on Supabase) and keep --role service_role"
	case errors.Is(err, vault.ErrPermissionDenied) && c.name == "migrate":
		return "installing the compatibility layer needs a superuser; on Supabase, Vault is already installed"
	case errors.Is(err, vault.ErrVaultUnavailable):
		return "install the supabase_vault extension, or on plain PostgreSQL pass --compat-key-file as a superuser (see README)"
	case errors.Is(err, vault.ErrSchemaNotWritable):
		return "on Supabase the postgres role cannot create in schema vault: use --schema credentials (and the same --schema in every command)"
	case errors.Is(err, vault.ErrDecryption):
		return "the server runs with a different root key than the one that encrypted this credential; do not retry"
	}
	return ""
}

func newFlagSet(c *command, s *session) *flag.FlagSet {
	fs := flag.NewFlagSet("credvault "+c.name, flag.ContinueOnError)
	fs.SetOutput(s.stderr())
	fs.Usage = func() {} // Main prints the help
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

// parseInterspersed parses flags that may follow positional arguments
// ("retrieve ID --force") and returns the positional arguments. A "--"
// ends flag parsing.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// fs.Parse consumed a "--" if the argument before rest was one.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
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
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
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
  4  no credential with that id (retrieve, rotate)
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
	cfg, err := pgx.ParseConfig(url) // its errors mask the password
	if err != nil {
		return nil, usagef("%v", err)
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
