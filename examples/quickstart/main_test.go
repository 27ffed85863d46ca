package main

import (
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

const runMainEnv = "QUICKSTART_TEST_RUN_MAIN"

// TestMain lets the test binary act as the quickstart program, so the test
// runs it as `go run ./examples/quickstart` would, without a separate build.
func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestQuickstartRuns(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	require.NoError(t, cmd.Run(), "stderr: %s", stderr.String())
	out := stdout.String()
	t.Log("\n" + out)

	for _, want := range []string{
		"Started a throwaway PostgreSQL",
		"Installed the Vault compatibility layer",
		`Migrated schema "credentials"`,
		`Stored "acme/quickbooks": id `,
		"equal to what was stored: true",
		"new value retrieved: true",
		"Access log, newest first (4 operations):",
		"login postgres, as service_role, application \"quickstart\"",
		`Listed credentials named "acme/...": 1`,
		"Deleted it.",
		"errors.Is(err, vault.ErrNotFound) = true",
		`Put "acme/hubspot" for org_42: id `,
		"Refreshed it: version 2",
		"Read it as org_43: not found",
		"Stopped the server",
	} {
		require.Contains(t, out, want)
	}
	require.Empty(t, stderr.String())

	// The secrets ("qb_" and 48 hex digits) are never printed.
	require.NotContains(t, out, "qb_")
	require.False(t, regexp.MustCompile(`[0-9a-f]{16,}`).MatchString(out), "a long hex run was printed")
	require.Len(t, regexp.MustCompile(`(?m)^ *\d+\. `).FindAllString(out, -1), 14, "numbered steps")
}
