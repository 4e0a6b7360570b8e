package store_test

import (
	"context"
	"testing"

	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// BenchmarkFillHistory writes b.N runs of 3 steps (12 rows each) into a
// fresh database per dialect; ns/op is the cost of one run's rows.
func BenchmarkFillHistory(b *testing.B) {
	for _, db := range storetest.Databases(b) {
		b.Run(db.Name, func(b *testing.B) {
			st := db.Open(b)
			b.ResetTimer()
			if _, err := st.FillHistory(context.Background(), store.HistoryOptions{Runs: b.N}); err != nil {
				b.Fatal(err)
			}
		})
	}
}
