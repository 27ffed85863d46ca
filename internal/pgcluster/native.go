package pgcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned (wrapped) by [Start] when no PostgreSQL server
// binaries are installed.
var ErrNoBinaries = errors.New("pgcluster: PostgreSQL server binaries (initdb, postgres) not found; " +
	"install them (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; " +
	"macOS: brew install postgresql) or set PG_BIN to the directory that holds them")

const (
	readyTimeout = 30 * time.Second // how long the server may take to accept connections
	stopTimeout  = 30 * time.Second // how long a shutdown may take before SIGKILL
	startTries   = 5                // attempts with a fresh port when the port is taken
)

// Start initializes a new cluster in a temporary directory with the locally
// installed PostgreSQL binaries, starts its server on a random port of
// 127.0.0.1 and waits until it accepts connections. The superuser is
// supabase_admin; [ApplySupabaseRoles] has been run and the database
// "postgres" has received the same bootstrap as databases made by
// [CreateDatabase]. The caller must call [Cluster.Stop].
//
// The binaries are taken from the directory named by the environment variable
// PG_BIN, else from `pg_config --bindir`, else from the newest
// /usr/lib/postgresql/*/bin; when none holds them, Start returns an error
// wrapping [ErrNoBinaries]. As initdb and postgres refuse to run as root, a
// process running as root runs them as the operating system user "postgres"
// (or "nobody" if it does not exist).
//
// The server is a child process that receives SIGQUIT if the calling process
// dies, so it does not outlive a test binary that is killed.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	logf := opts.logf()
	ok := false // set on success; the deferred cleanups check it
	names, err := SettingNames(opts.Settings)
	if err != nil {
		return nil, err
	}
	conf := make([]string, len(names))
	for i, name := range names {
		conf[i] = name + " = " + quoteSetting(opts.Settings[name])
	}
	binDir, err := findBinaries()
	if err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp("", "pgcluster-")
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	defer func() {
		if !ok {
			_ = os.RemoveAll(dir)
		}
	}()
	s := &server{
		binDir:  binDir,
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		logPath: filepath.Join(dir, "postgres.log"),
		cred:    cred,
	}
	if err := s.chown(dir); err != nil {
		return nil, err
	}
	keyFile, err := s.writeKeyFile(filepath.Join(dir, "root.key"))
	if err != nil {
		return nil, err
	}

	var vaultConf []string
	if !opts.NoSupabaseVault {
		if vaultConf, err = s.supabaseVaultConf(keyFile); err != nil {
			return nil, err
		}
	}
	if vaultConf != nil {
		logf("pgcluster: supabase_vault is installed here; preloading it with the cluster's root key")
		conf = append(vaultConf, conf...) // the caller's settings still win
	}

	t0 := time.Now()
	if err := s.initdb(ctx); err != nil {
		return nil, err
	}
	logf("pgcluster: initdb in %s took %v", s.dataDir, time.Since(t0).Round(time.Millisecond))

	base, err := os.ReadFile(filepath.Join(s.dataDir, "postgresql.conf"))
	if err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	for try := 1; ; try++ {
		if s.port, err = freePort(); err != nil {
			return nil, err
		}
		if err := s.writeConf(base, conf); err != nil {
			return nil, err
		}
		err = s.start(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortInUse) || try == startTries {
			return nil, err
		}
		logf("pgcluster: port %d taken, retrying with another one", s.port)
	}
	defer func() {
		if !ok {
			_ = s.proc.stop(syscall.SIGQUIT)
		}
	}()

	c := &Cluster{
		host:          "127.0.0.1",
		port:          s.port,
		dir:           dir,
		logPath:       s.logPath,
		keyFile:       keyFile,
		supabaseVault: vaultConf != nil,
		be:            s,
	}
	if err := ApplySupabaseRoles(ctx, c.AdminURL()); err != nil {
		return nil, err
	}
	if err := bootstrapDatabase(ctx, c.AdminURL(), "postgres"); err != nil {
		return nil, err
	}
	logf("pgcluster: server ready on 127.0.0.1:%d after %v (log %s)", s.port, time.Since(t0).Round(time.Millisecond), s.logPath)
	ok = true
	return c, nil
}

// server is the [Backend] of clusters started by Start.
type server struct {
	binDir  string
	dir     string
	dataDir string
	logPath string
	port    int
	cred    *syscall.Credential // nil: run as the current user
	proc    *process            // nil when the server is not running
}

// process is one run of the postmaster.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // result of Wait, set before done is closed
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process and waits for it to exit, killing it after
// stopTimeout.
func (p *process) stop(sig syscall.Signal) error {
	if p == nil || p.exited() {
		return nil
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !p.exited() {
		return fmt.Errorf("pgcluster: signal postgres: %w", err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("pgcluster: postgres did not stop within %v after %v, killed it", stopTimeout, sig)
	}
}

var errPortInUse = errors.New("port in use")

// start runs the postmaster and waits until it accepts connections.
func (s *server) start(ctx context.Context) error {
	logFile, err := os.OpenFile(s.logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	fi, err := logFile.Stat()
	if err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	logStart := fi.Size() // report only what this run logs

	cmd := s.command("postgres", "-D", s.dataDir)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// The kernel sends the signal when the OS thread that started the
	// process exits; Go keeps its threads alive unless a goroutine exits
	// while locked to one, so in practice this is the death of the caller.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	cmd.SysProcAttr.Setpgid = true // keep terminal signals (^C) for the test process
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgcluster: start postgres: %w", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()

	adminURL := (&Cluster{host: "127.0.0.1", port: s.port}).AdminURL()
	if err := WaitReady(ctx, adminURL, readyTimeout, p.done); err != nil {
		_ = p.stop(syscall.SIGQUIT)
		tail := logTail(s.logPath, logStart)
		if p.err != nil && strings.Contains(tail, "already in use") {
			err = errPortInUse
		}
		return fmt.Errorf("pgcluster: postgres on port %d: %w; server log %s ends with:\n%s", s.port, err, s.logPath, tail)
	}
	s.proc = p
	return nil
}

// WaitReady waits until a connection to url succeeds, the server exits
// (exited is closed) or timeout passes, retrying every 20 ms. exited may be
// nil. The error says which happened, with the last connection error.
func WaitReady(ctx context.Context, url string, timeout time.Duration, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		attemptCtx, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attemptCtx, url)
		cancelAttempt()
		if err == nil {
			return conn.Close(ctx)
		}
		lastErr = err
		select {
		case <-exited:
			return errors.New("server exited during startup")
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w (last error: %v)", ctx.Err(), lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (s *server) StopImmediate() error {
	err := s.proc.stop(syscall.SIGQUIT)
	s.proc = nil
	return err
}

func (s *server) Restart(ctx context.Context) error {
	if s.proc != nil {
		if err := s.proc.stop(syscall.SIGINT); err != nil {
			return err
		}
		s.proc = nil
	}
	return s.start(ctx)
}

func (s *server) Stop() error {
	err := s.proc.stop(syscall.SIGINT)
	s.proc = nil
	if rmErr := os.RemoveAll(s.dir); rmErr != nil && err == nil {
		err = fmt.Errorf("pgcluster: %w", rmErr)
	}
	return err
}

// command returns a command running the named PostgreSQL binary as the
// server's user, in the temporary directory, without the libpq environment
// variables of the calling process.
func (s *server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.binDir, name), args...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PG") })
	cmd.Env = append(env, "LC_ALL=C")
	return cmd
}

func (s *server) initdb(ctx context.Context) error {
	cmd := s.command("initdb", "-D", s.dataDir, "-U", AdminUser, "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgcluster: start initdb: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	stop()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		hint := ""
		if s.cred != nil {
			hint = fmt.Sprintf(" (run as uid %d: it must be able to reach %s)", s.cred.Uid, s.dir)
		}
		return fmt.Errorf("pgcluster: initdb%s: %w; output:\n%s", hint, err, out.String())
	}
	return nil
}

// writeConf writes postgresql.conf: the file made by initdb, then the
// settings of this package, then the caller's.
func (s *server) writeConf(base []byte, extra []string) error {
	var b bytes.Buffer
	b.Write(base)
	b.WriteString("\n# Added by pgcluster.\n")
	lines := []string{
		"listen_addresses = '127.0.0.1'",
		"port = " + strconv.Itoa(s.port),
		"unix_socket_directories = " + quoteSetting(s.dir),
		"fsync = off",
		"full_page_writes = off",
		"shared_preload_libraries = 'pg_stat_statements'",
		"max_connections = 200",
		"log_line_prefix = '%m [%p] %u@%d '",
	}
	for _, l := range append(lines, extra...) {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	// The file already exists, owned by the server's user; writing it keeps
	// its owner.
	if err := os.WriteFile(filepath.Join(s.dataDir, "postgresql.conf"), b.Bytes(), 0o600); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// supabaseVaultConf returns the settings that load the supabase_vault
// extension with keyFile as its root key, when the extension is installed
// next to the binaries, and nil otherwise. Vault reads its key at server
// start from the output of the script named by vault.getkey_script.
func (s *server) supabaseVaultConf(keyFile string) ([]string, error) {
	out, err := exec.Command(filepath.Join(s.binDir, "pg_config"), "--sharedir").Output()
	if err != nil {
		return nil, nil // no pg_config next to the binaries: no way to tell, use the compatibility layer
	}
	control := filepath.Join(strings.TrimSpace(string(out)), "extension", "supabase_vault.control")
	if _, err := os.Stat(control); err != nil {
		return nil, nil
	}
	script := filepath.Join(s.dir, "getkey.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec cat "+quoteShell(keyFile)+"\n"), 0o700); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	if err := s.chown(script); err != nil {
		return nil, err
	}
	return []string{
		"shared_preload_libraries = 'pg_stat_statements,supabase_vault'",
		"vault.getkey_script = " + quoteSetting(script),
	}, nil
}

// quoteShell quotes s for a POSIX shell.
func quoteShell(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// writeKeyFile writes a random 256-bit key as hex to path and returns path.
func (s *server) writeKeyFile(path string) (string, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("pgcluster: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("pgcluster: %w", err)
	}
	_, err = io.WriteString(f, hex.EncodeToString(key))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("pgcluster: write key file: %w", err)
	}
	if err := s.chown(path); err != nil {
		return "", err
	}
	return path, nil
}

// chown gives path to the server's user, if it is not the current user.
func (s *server) chown(path string) error {
	if s.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
		return fmt.Errorf("pgcluster: %w", err)
	}
	return nil
}

// serverCredential returns the credential to run the server with, or nil to
// run it as the current user.
func serverCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var errs []error
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err := errors.Join(err1, err2); err != nil {
			errs = append(errs, fmt.Errorf("user %s: %w", name, err))
			continue
		}
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
	}
	return nil, fmt.Errorf("pgcluster: running as root, and no unprivileged user to run PostgreSQL as: %w", errors.Join(errs...))
}

// findBinaries returns the directory holding initdb and postgres.
func findBinaries() (string, error) {
	if dir := os.Getenv("PG_BIN"); dir != "" {
		if hasBinaries(dir) {
			return dir, nil
		}
		return "", fmt.Errorf("%w (PG_BIN=%s holds no initdb and postgres)", ErrNoBinaries, dir)
	}
	if pgConfig, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(pgConfig, "--bindir").Output(); err == nil {
			if dir := strings.TrimSpace(string(out)); hasBinaries(dir) {
				return dir, nil
			}
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = slices.DeleteFunc(dirs, func(d string) bool { return !hasBinaries(d) })
	if len(dirs) == 0 {
		return "", ErrNoBinaries
	}
	// Newest major version first: 15 > 9.6.
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	return dirs[0], nil
}

func hasBinaries(dir string) bool {
	for _, name := range []string{"initdb", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// freePort returns a TCP port of 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgcluster: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

var settingName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

// SettingNames validates the names of server settings given in [Options] and
// returns them sorted. Names must look like postgresql.conf parameters, and
// listen_addresses, port and unix_socket_directories are refused: the
// cluster manages them.
func SettingNames(settings map[string]string) ([]string, error) {
	names := make([]string, 0, len(settings))
	for name := range settings {
		if !settingName.MatchString(name) {
			return nil, fmt.Errorf("pgcluster: invalid setting name %q", name)
		}
		switch strings.ToLower(name) {
		case "listen_addresses", "port", "unix_socket_directories":
			return nil, fmt.Errorf("pgcluster: setting %s is managed by pgcluster", name)
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// quoteSetting quotes a postgresql.conf value.
func quoteSetting(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `''`, "\n", `\n`, "\r", `\r`)
	return "'" + r.Replace(v) + "'"
}

// logTail returns the last lines written to the log at path from offset on.
func logTail(path string, offset int64) string {
	const maxBytes, maxLines = 8 << 10, 30
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size()-offset > maxBytes {
		offset = fi.Size() - maxBytes
	}
	b, _ := io.ReadAll(io.NewSectionReader(f, offset, maxBytes))
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > maxLines {
		lines = lines[len(lines)-maxLines:]
	}
	return strings.Join(lines, "\n")
}
