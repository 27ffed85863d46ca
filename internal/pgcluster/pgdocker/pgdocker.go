// Package pgdocker starts a Supabase Postgres container as a
// [pgcluster.Cluster], for machines without local PostgreSQL binaries. It is
// the only package of this module that depends on the Docker client, so that
// importing the test harness does not bring Docker's modules into a user's
// go.mod; see package vaulttest/vaulttestdocker.
package pgdocker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/ory/dockertest/v3"
	dc "github.com/ory/dockertest/v3/docker"

	"github.com/credvault/vault/internal/pgcluster"
)

// Supabase Postgres image run by [Start].
const (
	Repository = "supabase/postgres"
	Tag        = "15.8.1.060"
)

// ErrNoDocker is returned (wrapped) by [Start] when no Docker daemon
// answers.
var ErrNoDocker = errors.New("pgdocker: no Docker daemon available")

const (
	dockerPingTimeout  = 3 * time.Second
	dockerReadyTimeout = 2 * time.Minute  // first start runs the image's init scripts
	dockerExpiry       = 10 * time.Minute // containers of crashed tests die after this
)

// Start runs a Supabase Postgres image ([Repository]:[Tag]) in Docker and
// waits until it accepts connections. The daemon is found as by the docker
// command (DOCKER_HOST, default socket). When none answers within a few
// seconds, Start returns an error wrapping [ErrNoDocker].
//
// The image provides the Supabase roles and the supabase_vault extension,
// preloaded ([pgcluster.Cluster.SupabaseVault] is true whatever
// opts.NoSupabaseVault says); its users log in with a random password, which
// the URLs of the cluster embed. [pgcluster.ApplySupabaseRoles] is run on the
// cluster. Dir, LogPath and KeyFile of the cluster are empty, and
// StopImmediate and Restart return errors wrapping [errors.ErrUnsupported].
// Stop removes the container; containers of a crashed test expire after 10
// minutes.
func Start(ctx context.Context, opts pgcluster.Options) (*pgcluster.Cluster, error) {
	logf := func(string, ...any) {}
	if opts.Logf != nil {
		logf = opts.Logf
	}
	ok := false // set on success; the deferred cleanups check it
	names, err := pgcluster.SettingNames(opts.Settings)
	if err != nil {
		return nil, err
	}

	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDocker, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, dockerPingTimeout)
	err = pool.Client.PingWithContext(pingCtx)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDocker, err)
	}

	pw := make([]byte, 16)
	if _, err := rand.Read(pw); err != nil {
		return nil, fmt.Errorf("pgdocker: %w", err)
	}
	password := hex.EncodeToString(pw)

	cmd := []string{"postgres", "-c", "config_file=/etc/postgresql/postgresql.conf"}
	for _, name := range names {
		// Each argument reaches postgres as is: no quoting.
		cmd = append(cmd, "-c", name+"="+opts.Settings[name])
	}
	logf("pgdocker: starting container %s:%s", Repository, Tag)
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository:   Repository,
		Tag:          Tag,
		Env:          []string{"POSTGRES_PASSWORD=" + password},
		Cmd:          cmd,
		ExposedPorts: []string{"5432/tcp"},
	}, func(hc *dc.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = dc.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return nil, fmt.Errorf("pgdocker: run %s:%s: %w", Repository, Tag, err)
	}
	defer func() {
		if !ok {
			_ = pool.Purge(res)
		}
	}()
	if err := res.Expire(uint(dockerExpiry / time.Second)); err != nil {
		return nil, fmt.Errorf("pgdocker: %w", err)
	}

	host, portStr, err := net.SplitHostPort(res.GetHostPort("5432/tcp"))
	if err != nil {
		return nil, fmt.Errorf("pgdocker: container port: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("pgdocker: container port: %w", err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	c := pgcluster.Attach(pgcluster.Attached{
		Host:          host,
		Port:          port,
		Password:      password,
		SupabaseVault: true,
		Backend:       &container{pool: pool, res: res},
	})
	// The image runs its init scripts, then restarts the server: wait for
	// the real one by retrying a while.
	if err := pgcluster.WaitReady(ctx, c.AdminURL(), dockerReadyTimeout, nil); err != nil {
		return nil, fmt.Errorf("pgdocker: container %s: %w", res.Container.Name, err)
	}
	if err := pgcluster.ApplySupabaseRoles(ctx, c.AdminURL()); err != nil {
		return nil, err
	}
	logf("pgdocker: container ready on %s", net.JoinHostPort(host, portStr))
	ok = true
	return c, nil
}

// container is the [pgcluster.Backend] of clusters started by Start.
type container struct {
	pool *dockertest.Pool
	res  *dockertest.Resource
}

func (*container) StopImmediate() error {
	return fmt.Errorf("pgdocker: StopImmediate not supported for docker clusters: %w", errors.ErrUnsupported)
}

func (*container) Restart(context.Context) error {
	return fmt.Errorf("pgdocker: Restart not supported for docker clusters: %w", errors.ErrUnsupported)
}

func (d *container) Stop() error {
	if err := d.pool.Purge(d.res); err != nil {
		return fmt.Errorf("pgdocker: remove container: %w", err)
	}
	return nil
}
