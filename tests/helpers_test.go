// Package tests holds the tests that own or abuse a PostgreSQL server:
// restarts and hangs, concurrent processes, a pooler in transaction mode,
// round-trip counting, server-log scanning and long races. They run in a
// test binary of their own, beside the root package's.
package tests

import (
	"testing"

	"github.com/credvault/vault/internal/testutil"
	"github.com/credvault/vault/vaulttest"
	_ "github.com/credvault/vault/vaulttest/vaulttestdocker" // Docker fallback when no PostgreSQL is installed
)

func TestMain(m *testing.M) { vaulttest.Main(m) }

// setup is the root package's: a client that runs as service_role, by
// default in a rolled-back transaction on the shared database.
var (
	setup     = testutil.Setup
	on        = testutil.On
	namespace = testutil.Namespace
)
