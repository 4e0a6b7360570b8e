package store_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func TestOpenURLs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, bad := range []string{
		"",
		"mysql://root@localhost/baton",
		"sqlite:",
		"sqlite://",
		"sqlite:baton.db?_pragma=foo",
		"sqlite::memory:",
		"sqlite:file:baton.db",
		"https://user:secret@example.com/db",
	} {
		st, err := store.Open(ctx, bad)
		if err == nil {
			t.Errorf("Open(%q) succeeded, want an error; close: %v", bad, st.Close())
			continue
		}
		if !models.IsCode(err, models.Invalid) {
			t.Errorf("Open(%q) = %v, want an Invalid error", bad, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) leaked the password: %v", bad, err)
		}
	}

	// An absolute path, with folders that do not exist yet.
	abs := filepath.Join(t.TempDir(), "a", "b", "baton.db")
	st, err := store.Open(ctx, "sqlite://"+abs)
	if err != nil {
		t.Fatalf("Open(sqlite://%s): %v", abs, err)
	}
	if st.Dialect() != "sqlite" {
		t.Errorf("Dialect() = %q", st.Dialect())
	}
	if err := st.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Errorf("the database file was not created: %v", err)
	}

	// A postgres URL that cannot connect fails, and does not hang.
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if st, err := store.Open(cctx, "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"); err == nil {
		t.Errorf("Open on a closed port succeeded; close: %v", st.Close())
	}
}

// TestOpenRelativeSQLite covers sqlite://rel and sqlite:rel, which resolve
// against the working directory (so no t.Parallel: t.Chdir).
func TestOpenRelativeSQLite(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, u := range []string{"sqlite://data/one.db", "sqlite:data/two.db", "sqlite:three.db"} {
		st, err := store.Open(context.Background(), u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if err := st.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	}
	for _, f := range []string{"data/one.db", "data/two.db", "three.db"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestOpenFailures: files that cannot be created fail Open with an error.
func TestOpenFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{
		"sqlite:" + filepath.Join(file, "sub", "x.db"), // a folder below a file
		"sqlite:" + dir,  // a folder, not a file
		"sqlite:" + file, // not an SQLite file
	} {
		if st, err := store.Open(context.Background(), u); err == nil {
			t.Errorf("Open(%q) succeeded; close: %v", u, st.Close())
		}
	}
}
