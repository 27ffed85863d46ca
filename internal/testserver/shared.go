package testserver

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// The shared server of a test binary and its shared database, made on
// first use and closed by [CloseShared].
var shared struct {
	once   sync.Once
	server *Server
	err    error

	dbOnce sync.Once
	db     *Database
	dbErr  error
}

// OpenSharedServer returns the test binary's shared server, starting it on
// first use (with a 2-minute limit). Without [CloseShared] the server dies
// with the test process but leaves its temporary directory behind.
func OpenSharedServer() (*Server, error) {
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared.server, shared.err = Start(ctx, Options{})
	})
	return shared.server, shared.err
}

// SharedServer is [OpenSharedServer] failing t on error.
func SharedServer(t testing.TB) *Server {
	t.Helper()
	srv, err := OpenSharedServer()
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// SharedDatabase returns one migrated database of the shared server, made
// on first use, for every test of the binary that commits nothing.
func SharedDatabase() (*Database, error) {
	srv, err := OpenSharedServer()
	if err != nil {
		return nil, err
	}
	shared.dbOnce.Do(func() {
		shared.db, shared.dbErr = srv.NewDatabase(context.Background())
	})
	return shared.db, shared.dbErr
}

// CloseShared drops the shared database and stops the shared server, if
// they were made. Call it once, after the tests ran.
func CloseShared() error {
	var errs []error
	if shared.db != nil {
		errs = append(errs, shared.db.Close())
	}
	if shared.server != nil {
		errs = append(errs, shared.server.Close())
	}
	return errors.Join(errs...)
}
