package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// Run with:
//
//	BATON_TEST_POSTGRES_URL=… go test -run '^$' -bench . -benchtime 2s ./models/store/
func benchStores(b *testing.B, fn func(b *testing.B, st *store.Store)) {
	for _, db := range storetest.Databases(b) {
		b.Run(db.Name, func(b *testing.B) { fn(b, db.Open(b)) })
	}
}

func seedToken(b *testing.B, st *store.Store) {
	b.Helper()
	ctx := context.Background()
	u := &models.User{Name: "bench", Roles: []models.Role{models.RoleOperator}}
	if err := st.CreateUser(ctx, u); err != nil {
		b.Fatal(err)
	}
	if err := st.CreateToken(ctx, &models.APIToken{UserID: u.ID, Hash: "bench-hash"}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTokenByHash is the store's share of authenticating one API
// request, from many goroutines at once.
func BenchmarkTokenByHash(b *testing.B) {
	benchStores(b, func(b *testing.B, st *store.Store) {
		seedToken(b, st)
		ctx := context.Background()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := st.TokenByHash(ctx, "bench-hash"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkAudit appends audit entries from many goroutines: the cost of a
// small single-row write through the one SQLite writer or the PG pool.
func BenchmarkAudit(b *testing.B) {
	benchStores(b, func(b *testing.B, st *store.Store) {
		ctx := context.Background()
		var n atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				e := &models.AuditEntry{Actor: "bench", Action: "write", Target: fmt.Sprint(n.Add(1)), Detail: map[string]any{"k": "v"}}
				if err := st.Audit(ctx, e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkLoginThrottle is one failed login: record it, then count the
// window.
func BenchmarkLoginThrottle(b *testing.B) {
	benchStores(b, func(b *testing.B, st *store.Store) {
		ctx := context.Background()
		b.ResetTimer()
		for i := range b.N {
			ip := fmt.Sprint(i % 64)
			if err := st.RecordLoginFailure(ctx, "bench", ip, time.Time{}); err != nil {
				b.Fatal(err)
			}
			if _, err := st.CountLoginFailures(ctx, "bench", ip, time.Now().Add(-15*time.Minute)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
