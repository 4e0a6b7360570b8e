package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// BenchmarkCommitLarge is one group commit of what 16 runs with 64 KB
// inputs and 64 KB step outputs write: the store's share of
// BenchmarkOutput, without the engine.
func BenchmarkCommitLarge(b *testing.B) {
	benchDBs(b, func(b *testing.B, open func(testing.TB) *store.Store) {
		st := open(b)
		ctx := context.Background()
		blob := strings.Repeat("x", 64<<10)
		const runs = 16
		b.SetBytes(int64(2 * runs * len(blob)))
		now := time.Now()
		for i := range b.N {
			var w models.RunWrites
			for r := range runs {
				id := fmt.Sprintf("run-%d-%d", i, r)
				w.Runs = append(w.Runs, models.RunRow{Run: models.Run{ID: id, Template: "t", Status: models.RunRunning,
					Inputs: map[string]any{"blob": blob}, CreatedAt: now}})
				w.StepRuns = append(w.StepRuns, models.StepRunRow{StepRun: models.StepRun{RunID: id, StepID: "a", Attempt: 1,
					Status: models.StepSucceeded, Output: map[string]any{"v": blob}}, Item: -1})
			}
			if err := st.ApplyRunWrites(ctx, &w); err != nil {
				b.Fatal(err)
			}
		}
	})
}
