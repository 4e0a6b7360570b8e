package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			storetest.Exercise(t, db.Open)
		})
	}
}

// TestColumnDrift checks that every field of every row struct has its
// column in the migrated schema, so the Go side and the SQL cannot drift.
func TestColumnDrift(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := db.Open(t)
			g := st.Gorm()
			for _, m := range store.RowModels {
				stmt := &gorm.Statement{DB: g}
				if err := stmt.Parse(m); err != nil {
					t.Fatalf("parse %T: %v", m, err)
				}
				if !g.Migrator().HasTable(m) {
					t.Errorf("%T: table %s is missing", m, stmt.Schema.Table)
					continue
				}
				for _, f := range stmt.Schema.Fields {
					if f.DBName == "" {
						continue
					}
					if !g.Migrator().HasColumn(m, f.DBName) {
						t.Errorf("%T.%s: column %s.%s is missing", m, f.Name, stmt.Schema.Table, f.DBName)
					}
				}
			}
		})
	}
}

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

// TestSQLiteSettings checks the connection settings Open promises.
func TestSQLiteSettings(t *testing.T) {
	t.Parallel()
	st := storetest.OpenSQLite(t)
	w, r := st.Gorm(), st.ReadGorm()
	pragma := func(g *gorm.DB, name string) string {
		t.Helper()
		var v string
		if err := g.Raw("PRAGMA " + name).Scan(&v).Error; err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	for _, c := range []struct {
		g          *gorm.DB
		pool, name string
		want       string
	}{
		{w, "writer", "journal_mode", "wal"},
		{w, "writer", "foreign_keys", "1"},
		{w, "writer", "synchronous", "1"}, // NORMAL
		{w, "writer", "busy_timeout", "10000"},
		{r, "reader", "journal_mode", "wal"},
		{r, "reader", "foreign_keys", "1"},
		{r, "reader", "busy_timeout", "10000"},
		{r, "reader", "query_only", "1"},
	} {
		if got := pragma(c.g, c.name); got != c.want {
			t.Errorf("%s: PRAGMA %s = %s, want %s", c.pool, c.name, got, c.want)
		}
	}
	if n := st.SQLDB().Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
	err := r.Exec("INSERT INTO login_failures (user_name, ip, at) VALUES ('x', 'y', '2026-01-01 00:00:00+00:00')").Error
	if err == nil {
		t.Error("a write through the read pool succeeded; readers must be query_only")
	}
}

// TestSQLiteTwoProcesses opens two stores on one file, as two processes
// would, and runs read-then-write transactions on both at once. With
// deferred transactions SQLite fails such upgrades with "database is
// locked" immediately; IMMEDIATE transactions and busy_timeout make them
// wait their turn instead.
func TestSQLiteTwoProcesses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	var stores [2]*store.Store
	var wg sync.WaitGroup
	openErrs := make([]error, 2)
	for i := range stores {
		// Concurrent Opens also migrate the fresh file concurrently.
		wg.Go(func() { stores[i], openErrs[i] = store.Open(context.Background(), "sqlite:"+path) })
	}
	wg.Wait()
	for i, err := range openErrs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		t.Cleanup(func() {
			if err := stores[i].Close(); err != nil {
				t.Error(err)
			}
		})
	}
	ctx := context.Background()
	const workers, each = 4, 25
	errs := make(chan error, 2*workers*each)
	for _, st := range stores {
		for w := range workers {
			wg.Go(func() {
				for i := range each {
					err := st.Gorm().WithContext(ctx).Transaction(func(tx *gorm.DB) error {
						var n int64
						if err := tx.Table("audit_log").Count(&n).Error; err != nil {
							return err
						}
						return tx.Exec("INSERT INTO audit_log (at, actor, action, target) VALUES (?, ?, ?, ?)",
							time.Now().UTC(), "p", "tx", fmt.Sprintf("%d/%d/%d", w, i, n)).Error
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := stores[1].ListAudit(ctx, store.MaxAuditLimit, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2*workers*each {
		t.Errorf("%d rows written, want %d", len(got), 2*workers*each)
	}
}

// TestClosedStore calls every method on a closed store: each must return an
// error (internal, not NotFound and not a panic).
func TestClosedStore(t *testing.T) {
	t.Parallel()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := st.Ping(ctx); !models.IsCode(err, models.Unavailable) {
		t.Errorf("Ping on a closed store = %v, want Unavailable", err)
	}
	second := func(_ any, err error) error { return err }
	third := func(_, _ any, err error) error { return err }
	now := time.Now()
	for name, err := range map[string]error{
		"Migrate":                   st.Migrate(ctx),
		"CreateUser":                st.CreateUser(ctx, &models.User{Name: "late"}),
		"UserByName":                second(st.UserByName(ctx, "x")),
		"UserByID":                  second(st.UserByID(ctx, 1)),
		"ListUsers":                 second(st.ListUsers(ctx)),
		"CountUsers":                second(st.CountUsers(ctx)),
		"SetUserRoles":              st.SetUserRoles(ctx, 1, nil),
		"SetUserPassword":           st.SetUserPassword(ctx, 1, "h"),
		"SetUserDisabled":           st.SetUserDisabled(ctx, 1, true),
		"CreateToken":               st.CreateToken(ctx, &models.APIToken{UserID: 1, Hash: "h"}),
		"TokenByHash":               third(st.TokenByHash(ctx, "h")),
		"TokenByID":                 second(st.TokenByID(ctx, 1)),
		"ListTokens":                second(st.ListTokens(ctx, 1)),
		"TouchToken":                st.TouchToken(ctx, 1, now),
		"RevokeToken":               st.RevokeToken(ctx, 1, now),
		"CreateSession":             st.CreateSession(ctx, &models.Session{UserID: 1, Hash: "h", ExpiresAt: now}),
		"SessionByHash":             third(st.SessionByHash(ctx, "h", now)),
		"TouchSession":              st.TouchSession(ctx, 1, now),
		"DeleteSession":             st.DeleteSession(ctx, 1),
		"DeleteExpiredSessions":     second(st.DeleteExpiredSessions(ctx, now)),
		"RecordLoginFailure":        st.RecordLoginFailure(ctx, "u", "ip", now),
		"CountLoginFailures":        second(st.CountLoginFailures(ctx, "u", "ip", now)),
		"ClearLoginFailures":        st.ClearLoginFailures(ctx, "u", "ip"),
		"DeleteLoginFailuresBefore": second(st.DeleteLoginFailuresBefore(ctx, now)),
		"Audit":                     st.Audit(ctx, &models.AuditEntry{Actor: "a", Action: "b"}),
		"ListAudit":                 second(st.ListAudit(ctx, 10, 0)),
	} {
		if err == nil || models.ErrorCode(err) != models.Internal || errors.Is(err, gorm.ErrRecordNotFound) {
			t.Errorf("%s on a closed store = %v, want an internal error", name, err)
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
