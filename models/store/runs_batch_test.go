package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store/storetest"
)

// TestApplyRunWritesAllOrNothing checks that a batch is one transaction on
// each database (on PostgreSQL the statements go as one pipeline, an
// implicit transaction): when its last statement fails, nothing of the
// batch is kept, and the next batch commits.
func TestApplyRunWritesAllOrNothing(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := db.Open(t)
			ctx := context.Background()
			at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
			row := models.RunRow{Run: models.Run{ID: "01A", Template: "t", Status: models.RunRunning, CreatedAt: at},
				Definition: json.RawMessage(`{"id":"t"}`)}
			if err := st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{row},
				Events: []models.Event{{RunID: "01A", Seq: 1, Type: models.EventRunStarted, At: at}}}); err != nil {
				t.Fatal(err)
			}

			done := row
			done.Status, done.Stored = models.RunSucceeded, true
			step := models.StepRunRow{StepRun: models.StepRun{RunID: "01A", StepID: "a", Attempt: 1,
				Status: models.StepSucceeded, Output: models.EncodedJSON(`{"v":1}`)}, Item: -1}
			// Events go after runs and steps: the duplicate seq 1 fails the
			// batch's last statements.
			bad := &models.RunWrites{Runs: []models.RunRow{done}, StepRuns: []models.StepRunRow{step},
				Timers: []models.RunTimer{{RunID: "01A", StepID: "a", Kind: models.TimerWait, DueAt: at}},
				Events: []models.Event{{RunID: "01A", Seq: 2, Type: models.EventStepSucceeded, At: at},
					{RunID: "01A", Seq: 1, Type: models.EventRunSucceeded, At: at}}}
			if err := st.ApplyRunWrites(ctx, bad); !models.IsCode(err, models.Conflict) {
				t.Fatalf("batch with a duplicate event = %v; want Conflict", err)
			}
			snap, err := st.LoadRun(ctx, "01A")
			if err != nil {
				t.Fatal(err)
			}
			if snap.Run.Status != models.RunRunning || len(snap.StepRuns) != 0 || len(snap.Timers) != 0 || snap.Run.Seq != 1 {
				t.Fatalf("after the failed batch: status %s, %d step runs, %d timers, seq %d; want nothing of it kept",
					snap.Run.Status, len(snap.StepRuns), len(snap.Timers), snap.Run.Seq)
			}

			bad.Events = bad.Events[:1]
			if err := st.ApplyRunWrites(ctx, bad); err != nil {
				t.Fatalf("the batch without the duplicate: %v", err)
			}
			snap, err = st.LoadRun(ctx, "01A")
			if err != nil {
				t.Fatal(err)
			}
			if snap.Run.Status != models.RunSucceeded || len(snap.StepRuns) != 1 || len(snap.Timers) != 1 || snap.Run.Seq != 2 {
				t.Errorf("after the good batch: status %s, %d step runs, %d timers, seq %d",
					snap.Run.Status, len(snap.StepRuns), len(snap.Timers), snap.Run.Seq)
			}
		})
	}
}

// TestApplyRunWritesEncoded checks values the engine has encoded already:
// a step output given as models.EncodedJSON and a run's InputsJSON are
// stored as those bytes say, and read back as the values they encode.
// Also a batch larger than one statement (1,000 rows) per table.
func TestApplyRunWritesEncoded(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := db.Open(t)
			ctx := context.Background()
			at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
			inputs := map[string]any{"s": "a \"quoted\" <text>", "n": 2.5, "l": []any{"x", true, nil}}
			encoded, err := json.Marshal(inputs)
			if err != nil {
				t.Fatal(err)
			}
			// Inputs says otherwise: the store must take InputsJSON.
			row := models.RunRow{Run: models.Run{ID: "01A", Template: "t", Status: models.RunRunning, CreatedAt: at,
				Inputs: map[string]any{"stale": true}}, InputsJSON: encoded}
			output := map[string]any{"rows": []any{1.0, "two", map[string]any{"three": 3.0}}}
			out, err := json.Marshal(output)
			if err != nil {
				t.Fatal(err)
			}
			w := &models.RunWrites{Runs: []models.RunRow{row}, StepRuns: []models.StepRunRow{{StepRun: models.StepRun{
				RunID: "01A", StepID: "a", Attempt: 1, Status: models.StepSucceeded, Output: models.EncodedJSON(out)}, Item: -1}}}
			const events = 2500
			for i := range events {
				w.Events = append(w.Events, models.Event{RunID: "01A", Seq: int64(i + 1), Type: models.EventStepStarted,
					StepID: fmt.Sprint("s", i), At: at})
			}
			if err := st.ApplyRunWrites(ctx, w); err != nil {
				t.Fatal(err)
			}
			snap, err := st.LoadRun(ctx, "01A")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(snap.Run.Inputs, inputs) {
				t.Errorf("inputs = %#v; want %#v", snap.Run.Inputs, inputs)
			}
			if len(snap.StepRuns) != 1 || !reflect.DeepEqual(snap.StepRuns[0].Output, output) {
				t.Errorf("step runs = %+v; want one with output %#v", snap.StepRuns, output)
			}
			if snap.Run.Seq != events {
				t.Errorf("seq = %d; want %d (every event of the batch)", snap.Run.Seq, events)
			}
		})
	}
}
