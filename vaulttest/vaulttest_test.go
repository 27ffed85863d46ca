package vaulttest_test

import (
	"crypto/rand"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
)

func TestMain(m *testing.M) { vaulttest.Main(m) }

// TestDatabase uses the package as a user would: a client on a fresh
// database stores and retrieves as service_role, and an end user's request
// may not call the functions.
func TestDatabase(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := vaulttest.NewDatabase(t)
	creds, err := vault.New(db.Pool, vault.WithSchema(db.Schema), vault.WithRole("service_role"))
	if err != nil {
		t.Fatal(err)
	}
	secret := "test-secret-" + rand.Text()
	id, err := creds.Store(ctx, "vaulttest/example", secret, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := creds.Retrieve(ctx, id); err != nil || got != secret {
		t.Fatalf("Retrieve: %v; the value differs: %t", err, got != secret)
	}
	err = vaulttest.AsRole(ctx, db.Pool, "authenticated", map[string]any{"role": "authenticated", "sub": "u1"}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT "+db.Schema+".retrieve_credential($1)", id)
		return err
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
		t.Fatalf("authenticated calling retrieve_credential: got %v, want 42501", err)
	}
}

// TestShared checks that Shared returns the same database every time and
// that Tx rolls back what a test wrote.
func TestShared(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	db := vaulttest.Shared(t)
	if vaulttest.Shared(t) != db {
		t.Fatal("Shared returned two databases")
	}
	var id string
	t.Run("write", func(t *testing.T) {
		tx := vaulttest.Tx(t, db.Pool)
		c, err := vault.New(tx, vault.WithSchema(db.Schema), vault.WithRole("service_role"))
		if err != nil {
			t.Fatal(err)
		}
		u, err := c.Store(ctx, "vaulttest/shared", "test-secret-"+rand.Text(), "")
		if err != nil {
			t.Fatal(err)
		}
		id = u.String()
	})
	var n int
	if err := db.Pool.QueryRow(ctx, "SELECT count(*) FROM vault.secrets WHERE id = $1", id).Scan(&n); err != nil || n != 0 {
		t.Fatalf("secret stored in a Tx after the test: %d, %v; want it rolled back", n, err)
	}
}

// TestExportedSurface keeps the package to what a user's tests need, with
// no exported signature that names a type of an internal package.
func TestExportedSurface(t *testing.T) {
	want := []string{"AsRole", "Database", "Database.AdminURL", "Database.Name", "Database.Pool", "Database.Schema",
		"Database.URL", "Main", "New", "NewDatabase", "Shared", "Tx"}
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range pkgs["vaulttest"].Files {
		internal := map[string]bool{} // names of imported internal packages
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if strings.Contains(path, "/internal/") {
				name := filepath.Base(path)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				internal[name] = true
			}
		}
		checkTypes := func(what string, n ast.Node) {
			ast.Inspect(n, func(n ast.Node) bool {
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if x, ok := sel.X.(*ast.Ident); ok && internal[x.Name] {
						t.Errorf("%s uses the internal type %s.%s", what, x.Name, sel.Sel.Name)
					}
				}
				return true
			})
		}
		for _, decl := range f.Decls {
			switch d := decl.(type) {
			case *ast.FuncDecl:
				if d.Name.IsExported() && d.Recv == nil {
					got = append(got, d.Name.Name)
					checkTypes(d.Name.Name, d.Type)
				} else if d.Name.IsExported() {
					t.Errorf("exported method %s: add it to the surface on purpose", d.Name.Name)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch s := spec.(type) {
					case *ast.TypeSpec:
						if !s.Name.IsExported() {
							continue
						}
						got = append(got, s.Name.Name)
						if st, ok := s.Type.(*ast.StructType); ok {
							for _, field := range st.Fields.List {
								for _, name := range field.Names {
									if name.IsExported() {
										got = append(got, s.Name.Name+"."+name.Name)
										checkTypes(s.Name.Name+"."+name.Name, field.Type)
									}
								}
							}
						}
					case *ast.ValueSpec:
						for _, name := range s.Names {
							if name.IsExported() {
								got = append(got, name.Name)
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("exported names:\n got %v\nwant %v", got, want)
	}
}

// TestUserModuleRequirements builds a throwaway module whose test imports
// vault and vaulttest, as a user's would, runs `go mod tidy` on it (with
// the module proxy configured here) and counts the requirements it gets:
// the Docker client must not be among them, nor age, which only package
// bundle and the credvault command use.
func TestUserModuleRequirements(t *testing.T) {
	t.Parallel()
	const maxIndirect = 12
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := "go 1.25.0"
	for line := range strings.Lines(string(goMod)) {
		if strings.HasPrefix(line, "go ") {
			goLine = strings.TrimSpace(line)
		}
	}
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/user\n\n"+goLine+"\n\nrequire github.com/credvault/vault v0.0.0\n\n"+
		"replace github.com/credvault/vault => "+root+"\n")
	write("user_test.go", `package user

import (
	"testing"

	"github.com/credvault/vault"
	"github.com/credvault/vault/vaulttest"
)

func TestMain(m *testing.M) { vaulttest.Main(m) }

func TestStore(t *testing.T) {
	db := vaulttest.NewDatabase(t)
	if _, err := vault.New(db.Pool, vault.WithSchema(db.Schema)); err != nil {
		t.Fatal(err)
	}
}
`)
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), goCmd, "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod tidy: %v\n%s", err, out)
	}
	tidied, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	var indirect []string
	for line := range strings.Lines(string(tidied)) {
		if strings.HasSuffix(strings.TrimSpace(line), "// indirect") {
			fields := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require "))
			indirect = append(indirect, fields[0])
		}
	}
	t.Logf("%d indirect requirements: %s", len(indirect), strings.Join(indirect, " "))
	if len(indirect) > maxIndirect {
		t.Errorf("a module importing vault and vaulttest gets %d indirect requirements, want at most %d", len(indirect), maxIndirect)
	}
	for _, m := range indirect {
		if strings.Contains(m, "docker") || strings.Contains(m, "testify") || strings.Contains(m, "filippo.io") {
			t.Errorf("%s reaches a module that imports vault and vaulttest", m)
		}
	}
}
