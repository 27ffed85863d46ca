// Package pgcluster starts throwaway PostgreSQL servers for tests and
// reproduces the role model of a Supabase project on them.
//
// [Start] runs the locally installed PostgreSQL binaries (initdb and postgres)
// on a fresh temporary directory and a random port on 127.0.0.1, with trust
// authentication. It returns a [Cluster] whose superuser is supabase_admin,
// as on Supabase, and on which the roles postgres, anon, authenticated,
// service_role and authenticator exist (see [ApplySupabaseRoles]). Servers
// started by other means (package pgdocker runs a Supabase Postgres
// container) become a Cluster through [Attach]; this package itself does not
// depend on Docker.
//
// A typical test:
//
//	c, err := pgcluster.Start(ctx, pgcluster.Options{Logf: t.Logf})
//	require.NoError(t, err)
//	t.Cleanup(func() { _ = c.Stop() })
//	require.NoError(t, pgcluster.CreateDatabase(ctx, c.AdminURL(), "app", "postgres"))
//	conn, err := pgx.Connect(ctx, c.URL("postgres", "app"))
package pgcluster

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strconv"
	"sync"
)

// AdminUser is the name of the bootstrap superuser of every cluster, as on
// Supabase.
const AdminUser = "supabase_admin"

// errStopped is returned by methods called after [Cluster.Stop].
var errStopped = errors.New("pgcluster: cluster already stopped")

// Options configures a cluster started by [Start] (or by a starter such as
// package pgdocker's).
type Options struct {
	// Settings are extra server settings (postgresql.conf parameters), such
	// as {"log_statement": "all"}. Values are quoted as needed. They take
	// precedence over the defaults chosen by this package, except for the
	// connection settings listen_addresses, port and
	// unix_socket_directories, which cannot be overridden. A value for
	// shared_preload_libraries replaces the default "pg_stat_statements",
	// which [CreateDatabase] needs.
	Settings map[string]string

	// Logf, if not nil, receives progress messages (for example t.Logf).
	Logf func(format string, args ...any)

	// NoSupabaseVault keeps [Start] from preloading the supabase_vault
	// extension even when it is installed, so that the database can get
	// the compatibility layer instead (see [Cluster.SupabaseVault]).
	NoSupabaseVault bool
}

func (o Options) logf() func(string, ...any) {
	if o.Logf != nil {
		return o.Logf
	}
	return func(string, ...any) {}
}

// Backend is the part of a [Cluster] that depends on how its server runs.
// Cluster serializes the calls and calls Stop at most once.
type Backend interface {
	// StopImmediate stops the server as a crash would, keeping its data.
	StopImmediate() error
	// Restart starts the server again on the same data and address.
	Restart(ctx context.Context) error
	// Stop shuts the server down for good and releases every resource.
	Stop() error
}

// Attached describes a running server that this package did not start, for
// [Attach].
type Attached struct {
	Host     string // such as "127.0.0.1"
	Port     int
	Password string // of every user; empty with trust authentication
	// SupabaseVault tells whether the server preloads supabase_vault.
	SupabaseVault bool
	Backend       Backend
}

// Attach returns a Cluster for a server started by other means, such as a
// container. [Cluster.Dir], [Cluster.LogPath] and [Cluster.KeyFile] are
// empty; the other methods call a.Backend.
func Attach(a Attached) *Cluster {
	return &Cluster{
		host:          a.Host,
		port:          a.Port,
		password:      a.Password,
		supabaseVault: a.SupabaseVault,
		be:            a.Backend,
	}
}

// Cluster is a running throwaway PostgreSQL server. Its methods are safe for
// concurrent use.
type Cluster struct {
	host     string
	port     int
	password string // empty with trust authentication
	dir      string
	logPath  string
	keyFile  string

	supabaseVault bool

	mu      sync.Mutex
	be      Backend
	stopped bool
}

// AdminURL returns the connection URL of the superuser supabase_admin on the
// database "postgres".
func (c *Cluster) AdminURL() string {
	return c.URL(AdminUser, "postgres")
}

// URL returns a connection URL for the given user and database, such as
// postgres://user@127.0.0.1:PORT/database?sslmode=disable. Clusters started by
// [Start] use trust authentication, so the URL holds no password; attached
// clusters with a password embed it.
func (c *Cluster) URL(user, database string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.User(user),
		Host:     net.JoinHostPort(c.host, strconv.Itoa(c.port)),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	if c.password != "" {
		u.User = url.UserPassword(user, c.password)
	}
	return u.String()
}

// Dir returns the temporary directory holding the cluster: the data directory
// ("data"), the server log, the key file and the Unix socket. It is removed by
// [Cluster.Stop]. It is empty for attached clusters (see [Attach]).
func (c *Cluster) Dir() string { return c.dir }

// LogPath returns the path of the server log (the standard error of the
// postgres process). It is empty for attached clusters.
func (c *Cluster) LogPath() string { return c.logPath }

// KeyFile returns the path of a file holding a random 256-bit root key as 64
// lowercase hexadecimal characters, without a trailing newline. The file is
// created by [Start] with mode 0600, owned by the operating system user that
// runs the server, inside [Cluster.Dir] but outside the data directory. It is
// empty for attached clusters, whose server manages its own root key.
func (c *Cluster) KeyFile() string { return c.keyFile }

// SupabaseVault reports whether the server preloads the supabase_vault
// extension: with [Start], when the extension is installed next to the
// binaries and [Options].NoSupabaseVault is false. A database then gets
// Vault with CREATE EXTENSION supabase_vault; otherwise it needs the
// compatibility layer, with [Cluster.KeyFile] as its root key.
func (c *Cluster) SupabaseVault() bool { return c.supabaseVault }

// StopImmediate stops the server with an immediate shutdown (SIGQUIT), as a
// crash would, and waits for it to exit. The data directory is kept: committed
// transactions survive and are recovered by [Cluster.Restart]. It does nothing
// if the server is not running. Attached clusters may return an error wrapping
// [errors.ErrUnsupported].
func (c *Cluster) StopImmediate() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errStopped
	}
	return c.be.StopImmediate()
}

// Restart starts the server again on the same directory and port and waits
// until it accepts connections. A running server is first shut down (fast
// shutdown). Attached clusters may return an error wrapping
// [errors.ErrUnsupported].
func (c *Cluster) Restart(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errStopped
	}
	return c.be.Restart(ctx)
}

// Stop shuts the server down (fast shutdown: SIGINT, which disconnects every
// client), waits for it to exit and removes [Cluster.Dir]; attached clusters
// stop as their backend does (containers are removed). Calling Stop again
// does nothing and returns nil.
func (c *Cluster) Stop() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	c.stopped = true
	return c.be.Stop()
}
