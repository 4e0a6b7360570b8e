// Package storetest opens fresh, migrated stores for tests, on SQLite always
// and on PostgreSQL when BATON_TEST_POSTGRES_URL is set, and holds the
// conformance suite (Exercise) that every dialect must pass.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver for the admin connection

	"github.com/baton-run/baton/models/store"
)

// PostgresURLEnv names the variable holding an admin URL of a PostgreSQL
// server that tests may create and drop databases on.
const PostgresURLEnv = "BATON_TEST_POSTGRES_URL"

// DB is one database a test can run against.
type DB struct {
	Name string // "sqlite" or "postgres"
	Open func(t testing.TB) *store.Store
}

// Databases returns SQLite, and PostgreSQL when BATON_TEST_POSTGRES_URL is
// set. Without it, it says so once on stderr (visible without -v), and fails
// t when CI=true.
func Databases(t testing.TB) []DB {
	t.Helper()
	dbs := []DB{{Name: "sqlite", Open: OpenSQLite}}
	if postgresURL(t) != "" {
		dbs = append(dbs, DB{Name: "postgres", Open: OpenPostgres})
	}
	return dbs
}

// OpenSQLite returns a migrated store on a fresh file in t.TempDir(),
// closed when t ends.
func OpenSQLite(t testing.TB) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "baton.db"))
	if err != nil {
		t.Fatalf("open sqlite store: %v", err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close sqlite store: %v", err)
		}
	})
	return st
}

// OpenPostgres creates a database baton_test_<random> on the server of
// BATON_TEST_POSTGRES_URL and returns a migrated store on it. The store is
// closed and the database dropped when t ends. Without the variable the test
// is skipped (failed when CI=true).
func OpenPostgres(t testing.TB) *store.Store {
	t.Helper()
	u := postgresURL(t)
	if u == "" {
		t.Skipf("%s is not set: skipping the PostgreSQL test", PostgresURLEnv)
	}
	dbURL := CreatePostgresDatabase(t)
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	// Registered after the drop, so it runs before it (cleanups are LIFO).
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("close postgres store: %v", err)
		}
	})
	return st
}

// CreatePostgresDatabase creates an empty database baton_test_<random>,
// drops it (WITH (FORCE)) when t ends, and returns its URL. It is for tests
// that need a bare database, such as migration tests.
func CreatePostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := postgresURL(t)
	if admin == "" {
		t.Skipf("%s is not set: skipping the PostgreSQL test", PostgresURLEnv)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "baton_test_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresURLEnv, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create test database (is %s reachable?): %v", PostgresURLEnv, errors.Join(err, db.Close()))
	}
	t.Cleanup(func() {
		defer func() {
			if err := db.Close(); err != nil {
				t.Errorf("close the admin connection: %v", err)
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE ends connections a failed test may have left open.
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	pu, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", PostgresURLEnv, err)
	}
	pu.Path = "/" + name
	return pu.String()
}

var warnOnce sync.Once

// postgresURL returns BATON_TEST_POSTGRES_URL. When it is missing it warns
// once per test binary on stderr, so a run without -v still shows that
// PostgreSQL was not tested, and fails t under CI=true.
func postgresURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(PostgresURLEnv)
	if u != "" {
		return u
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s must be set when CI=true: the PostgreSQL tests may not be skipped", PostgresURLEnv)
	}
	warnOnce.Do(func() {
		// go test swallows a passing package's output in package-list mode
		// (go test ./...), stderr included; the terminal, when there is
		// one, still shows the warning.
		msg := fmt.Sprintf("storetest: %s is not set; PostgreSQL tests are skipped (SQLite only)\n", PostgresURLEnv)
		if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
			_, err = io.WriteString(tty, msg)
			if err = errors.Join(err, tty.Close()); err == nil {
				return
			}
		}
		// No terminal: stderr shows with -v, or when the package fails.
		_, _ = io.WriteString(os.Stderr, msg)
	})
	return ""
}
