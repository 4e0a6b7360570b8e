package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
	"gorm.io/gorm"
)

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
