// Package vaulttestdocker lets package vaulttest fall back to a Supabase
// Postgres container (the supabase/postgres image, with supabase_vault) on
// machines without local PostgreSQL binaries, when a Docker daemon answers.
// Import it for its side effect, in one test file of the package:
//
//	import _ "github.com/credvault/vault/vaulttest/vaulttestdocker"
//
// It brings the Docker client's modules (github.com/ory/dockertest and
// what it needs) into the importing module's go.mod, which is why vaulttest
// does not import it. Containers cannot be restarted or stopped in
// immediate mode, and expire 10 minutes after a crashed test started them.
package vaulttestdocker

import (
	"github.com/credvault/vault/internal/pgcluster/pgdocker"
	"github.com/credvault/vault/internal/testserver"
)

func init() {
	testserver.RegisterFallback("a Supabase Postgres container through Docker", pgdocker.Start)
}
