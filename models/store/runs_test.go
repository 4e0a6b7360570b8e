package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store/storetest"
)

// TestRuns checks the engine's persistence on each database: a batch round
// trip, upserts, the unique (run, seq), timers and signals, listings and
// their cursor, and unfinished runs.
func TestRuns(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := db.Open(t)
			ctx := context.Background()
			at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
			trunc := at.Truncate(time.Microsecond)
			dur := 12.5
			run := func(id, tmpl string, status models.RunStatus) models.RunRow {
				return models.RunRow{
					Run: models.Run{ID: id, Template: tmpl, Version: 2, Status: status, Trigger: models.TriggerAPI,
						StartedBy: "ann", Test: true, Inputs: map[string]any{"n": 1.5, "s": "x"}, CreatedAt: at, StartedAt: &at},
					Definition: json.RawMessage(`{"id":"` + tmpl + `","steps":[]}`),
				}
			}
			big := make([]byte, 2<<20)
			for i := range big {
				big[i] = 'a' + byte(i%26)
			}
			w := &models.RunWrites{
				Runs: []models.RunRow{run("01A", "t1", models.RunRunning), run("01B", "t1", models.RunSucceeded), run("01C", "t2", models.RunFailed)},
				StepRuns: []models.StepRunRow{
					{StepRun: models.StepRun{RunID: "01A", StepID: "a", Attempt: 1, Status: models.StepFailed,
						Error: &models.StepError{Code: "x", Message: "boom", Retryable: true}, StartedAt: &at}, Item: -1, Order: 1},
					{StepRun: models.StepRun{RunID: "01A", StepID: "a", Attempt: 2, Status: models.StepRunning, StartedAt: &at}, Item: -1, Order: 1},
					{StepRun: models.StepRun{RunID: "01A", StepID: "p", Attempt: 1, Status: models.StepSucceeded,
						Output: map[string]any{"big": string(big)}}, Item: 3},
					{StepRun: models.StepRun{RunID: "01A", StepID: "a", Attempt: 1, Status: models.StepSucceeded}, Item: -1, Compensation: true},
				},
				Events: []models.Event{
					{RunID: "01A", Seq: 1, Type: models.EventRunStarted, Status: "running", At: at},
					{RunID: "01A", Seq: 2, Type: models.EventStepFailed, StepID: "a", Status: "failed", Attempt: 1, At: at,
						DurationMs: &dur, Error: &models.StepError{Code: "x", Message: "boom"}},
				},
				Timers:  []models.RunTimer{{RunID: "01A", StepID: "a", Kind: models.TimerBackoff, DueAt: at}},
				Signals: []models.RunSignal{{RunID: "01A", Name: "go", Payload: json.RawMessage(`{"by":"ann"}`), ReceivedAt: at}},
			}
			if err := st.ApplyRunWrites(ctx, w); err != nil {
				t.Fatalf("ApplyRunWrites: %v", err)
			}
			snap, err := st.LoadRun(ctx, "01A")
			if err != nil {
				t.Fatal(err)
			}
			if snap.Run.Template != "t1" || snap.Run.Status != models.RunRunning || !snap.Run.Test ||
				snap.Run.StartedBy != "ann" || snap.Run.Inputs["n"] != 1.5 || !snap.Run.CreatedAt.Equal(trunc) ||
				snap.Run.Seq != 2 || string(snap.Run.Definition) == "" {
				t.Errorf("run = %+v", snap.Run)
			}
			if len(snap.StepRuns) != 4 {
				t.Fatalf("step runs = %d; want 4", len(snap.StepRuns))
			}
			byKey := map[string]models.StepRunRow{}
			for _, r := range snap.StepRuns {
				byKey[fmt.Sprintf("%s/%d/%v/%d", r.StepID, r.Item, r.Compensation, r.Attempt)] = r
			}
			if r := byKey["a/-1/false/1"]; r.Error == nil || r.Error.Message != "boom" || !r.Error.Retryable || r.Order != 1 {
				t.Errorf("attempt 1 = %+v", r)
			}
			if r := byKey["p/3/false/1"]; r.Output.(map[string]any)["big"] != string(big) {
				t.Errorf("the 2 MB output did not round-trip")
			}
			if _, ok := byKey["a/-1/true/1"]; !ok {
				t.Errorf("compensation attempt missing")
			}
			if len(snap.Timers) != 1 || !snap.Timers[0].DueAt.Equal(trunc) || len(snap.Signals) != 1 || string(snap.Signals[0].Payload) == "" {
				t.Errorf("timers %+v signals %+v", snap.Timers, snap.Signals)
			}

			// Upserts, deletes, and a duplicate event.
			up := run("01A", "t1", models.RunSucceeded)
			up.FinishedAt, up.Error = &at, &models.RunError{Code: "c", Message: "m", StepID: "a"}
			up.Outputs = map[string]any{"o": true}
			err = st.ApplyRunWrites(ctx, &models.RunWrites{
				Runs: []models.RunRow{up},
				StepRuns: []models.StepRunRow{{StepRun: models.StepRun{RunID: "01A", StepID: "a", Attempt: 2,
					Status: models.StepSucceeded, Output: "done"}, Item: -1, Order: 1}},
				DeleteTimers:  []models.RunTimer{{RunID: "01A", StepID: "a", Kind: models.TimerBackoff}},
				DeleteSignals: []models.RunSignal{{RunID: "01A", Name: "go"}},
				Events:        []models.Event{{RunID: "01A", Seq: 3, Type: models.EventRunSucceeded, Status: "succeeded", At: at}},
			})
			if err != nil {
				t.Fatal(err)
			}
			snap, _ = st.LoadRun(ctx, "01A")
			if snap.Run.Status != models.RunSucceeded || snap.Run.Error == nil || snap.Run.Error.StepID != "a" ||
				snap.Run.Outputs["o"] != true || len(snap.Timers) != 0 || len(snap.Signals) != 0 || snap.Run.Seq != 3 {
				t.Errorf("after update: %+v timers %v signals %v", snap.Run, snap.Timers, snap.Signals)
			}
			err = st.ApplyRunWrites(ctx, &models.RunWrites{Events: []models.Event{{RunID: "01A", Seq: 3, Type: "x", At: at}}})
			if !models.IsCode(err, models.Conflict) {
				t.Errorf("duplicate (run, seq) = %v; want Conflict", err)
			}

			evs, err := st.RunEvents(ctx, "01A", 1, 0)
			if err != nil || len(evs) != 2 || evs[0].Seq != 2 || evs[0].Error == nil || *evs[0].DurationMs != dur {
				t.Errorf("RunEvents(after 1) = %+v, %v", evs, err)
			}
			if evs, _ := st.RunEvents(ctx, "01A", 0, 1); len(evs) != 1 {
				t.Errorf("RunEvents(limit 1) = %d events", len(evs))
			}

			ids, err := st.UnfinishedRunIDs(ctx)
			if err != nil || len(ids) != 0 {
				t.Errorf("UnfinishedRunIDs = %v, %v; want none", ids, err)
			}
			if err := st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{run("01D", "t2", models.RunWaiting)}}); err != nil {
				t.Fatal(err)
			}
			if ids, _ := st.UnfinishedRunIDs(ctx); len(ids) != 1 || ids[0] != "01D" {
				t.Errorf("UnfinishedRunIDs = %v; want [01D]", ids)
			}

			list, err := st.ListRuns(ctx, models.RunFilter{})
			if err != nil || len(list) != 4 || list[0].ID != "01D" || list[3].ID != "01A" {
				t.Errorf("ListRuns = %v, %v", list, err)
			}
			if list, _ := st.ListRuns(ctx, models.RunFilter{Template: "t1"}); len(list) != 2 {
				t.Errorf("ListRuns(t1) = %d", len(list))
			}
			if list, _ := st.ListRuns(ctx, models.RunFilter{Statuses: []models.RunStatus{models.RunFailed, models.RunWaiting}}); len(list) != 2 {
				t.Errorf("ListRuns(failed, waiting) = %d", len(list))
			}
			if list, _ := st.ListRuns(ctx, models.RunFilter{Before: "01C", Limit: 1}); len(list) != 1 || list[0].ID != "01B" {
				t.Errorf("ListRuns(before 01C, limit 1) = %v", list)
			}
			if _, err := st.LoadRun(ctx, "nope"); !models.IsCode(err, models.NotFound) {
				t.Errorf("LoadRun(unknown) = %v; want NotFound", err)
			}
			if err := st.ApplyRunWrites(ctx, &models.RunWrites{}); err != nil {
				t.Errorf("empty batch: %v", err)
			}
		})
	}
}

// TestRunScheduleRoundTrip: the schedule behind a run is stored with its
// first row, survives the updates that follow (which do not send it), and
// reads back from LoadRun and ListRuns; runs no schedule started have none.
func TestRunScheduleRoundTrip(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := db.Open(t)
			ctx := context.Background()
			at := time.Date(2026, 11, 27, 9, 47, 0, 0, time.UTC)
			berlin, err := time.LoadLocation("Europe/Berlin")
			if err != nil {
				t.Fatal(err)
			}
			// 09:00 UTC given in another zone, with nanoseconds the
			// databases do not keep.
			fireAt := time.Date(2026, 11, 27, 10, 0, 0, 123456789, berlin)
			wantFireAt := time.Date(2026, 11, 27, 9, 0, 0, 123456000, time.UTC)
			row := func(id string, sc *models.RunSchedule) models.RunRow {
				trigger := models.TriggerAPI
				if sc != nil {
					trigger = models.TriggerSchedule
				}
				return models.RunRow{
					Run: models.Run{ID: id, Template: "t", Version: 1, Status: models.RunRunning, Trigger: trigger,
						Inputs: map[string]any{}, CreatedAt: at, StartedAt: &at, Schedule: sc},
					Definition: json.RawMessage(`{"id":"t","steps":[]}`),
				}
			}
			// More rows than one SQLite statement carries, scheduled and
			// not, so that NULL and set columns share statements.
			var w models.RunWrites
			want := map[string]*models.RunSchedule{}
			for i := range 40 {
				id := fmt.Sprintf("01S%03d", i)
				var sc *models.RunSchedule
				if i%3 != 0 {
					sc = &models.RunSchedule{ID: int64(7 + i), FireAt: fireAt.Add(time.Duration(i) * time.Hour), CaughtUp: i%2 == 0}
					want[id] = &models.RunSchedule{ID: sc.ID, FireAt: wantFireAt.Add(time.Duration(i) * time.Hour), CaughtUp: sc.CaughtUp}
				} else {
					want[id] = nil
				}
				w.Runs = append(w.Runs, row(id, sc))
			}
			if err := st.ApplyRunWrites(ctx, &w); err != nil {
				t.Fatalf("insert: %v", err)
			}
			// The engine's later writes of a run are marked Stored: they
			// send no schedule, and must not clear (or change) it.
			var upd models.RunWrites
			for _, r := range w.Runs {
				r.Stored, r.Status, r.Seq = true, models.RunSucceeded, 3
				if r.Schedule != nil {
					r.Schedule = &models.RunSchedule{ID: 999, FireAt: at, CaughtUp: !r.Schedule.CaughtUp}
				}
				upd.Runs = append(upd.Runs, r)
			}
			if err := st.ApplyRunWrites(ctx, &upd); err != nil {
				t.Fatalf("update: %v", err)
			}
			same := func(a, b *models.RunSchedule) bool {
				if a == nil || b == nil {
					return a == b
				}
				return a.ID == b.ID && a.FireAt.Equal(b.FireAt) && a.FireAt.Location() == time.UTC && a.CaughtUp == b.CaughtUp
			}
			for id, sc := range want {
				snap, err := st.LoadRun(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if snap.Run.Status != models.RunSucceeded || !same(snap.Run.Schedule, sc) {
					t.Errorf("LoadRun(%s): status %s, schedule %+v; want succeeded, %+v", id, snap.Run.Status, snap.Run.Schedule, sc)
				}
			}
			listed, err := st.ListRuns(ctx, models.RunFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if len(listed) != len(want) {
				t.Fatalf("ListRuns: %d runs; want %d", len(listed), len(want))
			}
			for _, r := range listed {
				if !same(r.Schedule, want[r.ID]) {
					t.Errorf("ListRuns: run %s has schedule %+v; want %+v", r.ID, r.Schedule, want[r.ID])
				}
			}
		})
	}
}
