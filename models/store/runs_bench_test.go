package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// BenchmarkApplyRunWrites is the engine's hot path alone: one group commit
// of 16 runs, each starting (a new run row with its inputs and definition)
// or moving on by one step (an update of a stored run row, one attempt and
// one event). Runs no schedule started, the common case, send their
// schedule columns as NULL.
//
//	BATON_TEST_POSTGRES_URL=… go test -run '^$' -bench ApplyRunWrites -benchtime 2000x -count 5 ./models/store/
func BenchmarkApplyRunWrites(b *testing.B) {
	const runs = 16
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	def := json.RawMessage(`{"id":"t","steps":[{"id":"a","type":"command","action":{"kind":"set","values":{"x":1}}}]}`)
	row := func(id string, seq int64, stored bool) models.RunRow {
		return models.RunRow{Run: models.Run{ID: id, Template: "t", Version: 1, Status: models.RunRunning,
			Trigger: models.TriggerAPI, Inputs: map[string]any{"who": "bench"}, CreatedAt: at, StartedAt: &at},
			Definition: def, Seq: seq, Stored: stored}
	}
	for _, mode := range []string{"start", "step"} {
		b.Run(mode, func(b *testing.B) {
			benchStores(b, func(b *testing.B, st *store.Store) {
				ctx := context.Background()
				var ids []string
				if mode == "step" {
					var w models.RunWrites
					for r := range runs {
						ids = append(ids, fmt.Sprintf("01B%023d", r))
						w.Runs = append(w.Runs, row(ids[r], 0, false))
					}
					if err := st.ApplyRunWrites(ctx, &w); err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					var w models.RunWrites
					for r := range runs {
						if mode == "start" {
							w.Runs = append(w.Runs, row(fmt.Sprintf("01S%012d%011d", i, r), 0, false))
							continue
						}
						seq := int64(i + 1)
						w.Runs = append(w.Runs, row(ids[r], seq, true))
						w.StepRuns = append(w.StepRuns, models.StepRunRow{StepRun: models.StepRun{RunID: ids[r], StepID: fmt.Sprintf("s%d", i),
							Attempt: 1, Status: models.StepSucceeded, Output: map[string]any{"x": 1}, StartedAt: &at, FinishedAt: &at}, Item: -1, Order: i + 1})
						w.Events = append(w.Events, models.Event{RunID: ids[r], Seq: seq, Type: models.EventStepSucceeded,
							StepID: fmt.Sprintf("s%d", i), Status: "succeeded", Attempt: 1, At: at})
					}
					if err := st.ApplyRunWrites(ctx, &w); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
