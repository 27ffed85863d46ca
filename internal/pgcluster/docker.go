package pgcluster

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
)

// Supabase Postgres image run by [StartDocker].
const (
	DockerRepository = "supabase/postgres"
	DockerTag        = "15.8.1.060"
)

// ErrNoDocker is returned (wrapped) by [StartDocker] when no Docker daemon
// answers.
var ErrNoDocker = errors.New("pgcluster: no Docker daemon available")

const (
	dockerPingTimeout  = 3 * time.Second
	dockerReadyTimeout = 2 * time.Minute  // first start runs the image's init scripts
	dockerExpiry       = 10 * time.Minute // containers of crashed tests die after this
)

// StartDocker runs a Supabase Postgres image ([DockerRepository]:[DockerTag])
// in Docker and waits until it accepts connections. The daemon is found as by
// the docker command (DOCKER_HOST, default socket). When none answers within a
// few seconds, StartDocker returns an error wrapping [ErrNoDocker].
//
// The image provides the Supabase roles and the native Vault extension; its
// users log in with a random password, which the URLs of the cluster embed.
// [ApplySupabaseRoles] is run on the cluster. [Cluster.Dir],
// [Cluster.LogPath] and [Cluster.KeyFile] are empty, and
// [Cluster.StopImmediate] and [Cluster.Restart] are not supported.
// [Cluster.Stop] removes the container.
func StartDocker(ctx context.Context, opts Options) (*Cluster, error) {
	logf := opts.logf()
	ok := false // set on success; the deferred cleanups check it
	names, err := settingNames(opts.Settings)
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
		return nil, fmt.Errorf("pgcluster: %w", err)
	}
	password := hex.EncodeToString(pw)

	cmd := []string{"postgres", "-c", "config_file=/etc/postgresql/postgresql.conf"}
	for _, name := range names {
		// Each argument reaches postgres as is: no quoting.
		cmd = append(cmd, "-c", name+"="+opts.Settings[name])
	}
	logf("pgcluster: starting container %s:%s", DockerRepository, DockerTag)
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository:   DockerRepository,
		Tag:          DockerTag,
		Env:          []string{"POSTGRES_PASSWORD=" + password},
		Cmd:          cmd,
		ExposedPorts: []string{"5432/tcp"},
	}, func(hc *dc.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = dc.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return nil, fmt.Errorf("pgcluster: run %s:%s: %w", DockerRepository, DockerTag, err)
	}
	defer func() {
		if !ok {
			_ = pool.Purge(res)
		}
	}()
	if err := res.Expire(uint(dockerExpiry / time.Second)); err != nil {
		return nil, fmt.Errorf("pgcluster: %w", err)
	}

	host, portStr, err := net.SplitHostPort(res.GetHostPort("5432/tcp"))
	if err != nil {
		return nil, fmt.Errorf("pgcluster: container port: %w", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("pgcluster: container port: %w", err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	c := &Cluster{
		host:     host,
		port:     port,
		password: password,
		be:       &container{pool: pool, res: res},
	}
	// The image runs its init scripts, then restarts the server: wait for
	// the real one by retrying a while.
	if err := waitReady(ctx, c.AdminURL(), dockerReadyTimeout, nil); err != nil {
		return nil, fmt.Errorf("pgcluster: container %s: %w", res.Container.Name, err)
	}
	if err := ApplySupabaseRoles(ctx, c.AdminURL()); err != nil {
		return nil, err
	}
	logf("pgcluster: container ready on %s", net.JoinHostPort(host, portStr))
	ok = true
	return c, nil
}

// container is the backend of clusters started by StartDocker.
type container struct {
	pool *dockertest.Pool
	res  *dockertest.Resource
}

func (*container) stopImmediate() error {
	return fmt.Errorf("pgcluster: StopImmediate not supported for docker clusters: %w", errors.ErrUnsupported)
}

func (*container) restart(context.Context) error {
	return fmt.Errorf("pgcluster: Restart not supported for docker clusters: %w", errors.ErrUnsupported)
}

func (d *container) stop() error {
	if err := d.pool.Purge(d.res); err != nil {
		return fmt.Errorf("pgcluster: remove container: %w", err)
	}
	return nil
}
