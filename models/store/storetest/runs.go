package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of the engine's run persistence.

// exerciseRuns checks the engine's persistence on each database: a batch round
// trip, upserts, the unique (run, seq), timers and signals, listings and
// their cursor, and unfinished runs.
func exerciseRuns(t *testing.T, st *store.Store) {
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
}

// exerciseRunScheduleRoundTrip: the schedule behind a run is stored with its
// first row, survives the updates that follow (which do not send it), and
// reads back from LoadRun and ListRuns; runs no schedule started have none.
func exerciseRunScheduleRoundTrip(t *testing.T, st *store.Store) {
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
}

// exerciseApplyRunWritesAllOrNothing checks that a batch is one transaction on
// each database (on PostgreSQL the statements go as one pipeline, an
// implicit transaction): when its last statement fails, nothing of the
// batch is kept, and the next batch commits.
func exerciseApplyRunWritesAllOrNothing(t *testing.T, st *store.Store) {
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
}

// exerciseApplyRunWritesEncoded checks values the engine has encoded already:
// a step output given as models.EncodedJSON and a run's InputsJSON are
// stored as those bytes say, and read back as the values they encode.
// Also a batch larger than one statement (1,000 rows) per table.
func exerciseApplyRunWritesEncoded(t *testing.T, st *store.Store) {
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
}

// exerciseRunSteps: the attempts of a run's steps, parallel items and
// compensations round-trip with every field, come back in (step, item,
// compensation, attempt) order, and an attempt written again is updated
// in place, not duplicated.
func exerciseRunSteps(t *testing.T, st *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	later := at.Add(1500 * time.Millisecond)
	dur := 1500.0
	attempt := func(step string, item, n int, comp bool, status models.StepStatus) models.StepRunRow {
		return models.StepRunRow{StepRun: models.StepRun{RunID: "01S", StepID: step, Attempt: n, Status: status, StartedAt: &at},
			Item: item, Compensation: comp, Order: 1}
	}
	full := attempt("b", -1, 1, false, models.StepFailed)
	full.Input = map[string]any{"url": "https://example.com", "n": 2.0}
	full.Output = []any{"partial", 1.0}
	full.Error = &models.StepError{Code: "http", Message: "502 from upstream", Retryable: true}
	full.Reason = "retrying"
	full.FinishedAt, full.DurationMs, full.Generation, full.Order = &later, &dur, 2, 3
	w := &models.RunWrites{Runs: []models.RunRow{runRow("01S", "t", models.RunRunning, at)},
		StepRuns: []models.StepRunRow{
			attempt("z", -1, 1, false, models.StepSucceeded),
			attempt("b", -1, 2, false, models.StepRunning),
			full,
			attempt("each", 10, 1, false, models.StepSucceeded),
			attempt("each", 2, 1, false, models.StepSucceeded),
			attempt("each", 2, 2, false, models.StepRunning),
			attempt("b", -1, 1, true, models.StepSucceeded),
			attempt("other-run", -1, 1, false, models.StepSucceeded),
		}}
	w.StepRuns[len(w.StepRuns)-1].RunID = "01T"
	w.Runs = append(w.Runs, runRow("01T", "t", models.RunRunning, at))
	must(t, st.ApplyRunWrites(ctx, w), "insert")

	snap, err := st.LoadRun(ctx, "01S")
	must(t, err, "load")
	var keys []string
	for _, r := range snap.StepRuns {
		keys = append(keys, fmt.Sprintf("%s/%d/%v/%d", r.StepID, r.Item, r.Compensation, r.Attempt))
	}
	want := []string{"b/-1/false/1", "b/-1/false/2", "b/-1/true/1", "each/2/false/1", "each/2/false/2", "each/10/false/1", "z/-1/false/1"}
	if !slices.Equal(keys, want) {
		t.Fatalf("step attempts = %v, want %v", keys, want)
	}
	got := snap.StepRuns[0]
	if got.RunID != "01S" || got.Status != models.StepFailed || !reflect.DeepEqual(got.Input, full.Input) ||
		!reflect.DeepEqual(got.Output, full.Output) || !reflect.DeepEqual(got.Error, full.Error) || got.Reason != "retrying" ||
		got.StartedAt == nil || !got.StartedAt.Equal(at) || got.FinishedAt == nil || !got.FinishedAt.Equal(later) ||
		got.FinishedAt.Location() != time.UTC || got.DurationMs == nil || *got.DurationMs != dur || got.Generation != 2 || got.Order != 3 {
		t.Errorf("attempt b/1 = %+v, want %+v", got, full)
	}
	if r := snap.StepRuns[1]; r.Input != nil || r.Output != nil || r.Error != nil || r.FinishedAt != nil || r.DurationMs != nil {
		t.Errorf("an attempt stored without input, output, error or end = %+v", r)
	}

	// The running attempt finishes: the same key is updated in place.
	done := attempt("b", -1, 2, false, models.StepSucceeded)
	done.Output, done.FinishedAt = "ok", &later
	must(t, st.ApplyRunWrites(ctx, &models.RunWrites{StepRuns: []models.StepRunRow{done}}), "update")
	snap, err = st.LoadRun(ctx, "01S")
	must(t, err, "reload")
	if len(snap.StepRuns) != len(want) {
		t.Fatalf("%d step attempts after an update, want %d", len(snap.StepRuns), len(want))
	}
	if r := snap.StepRuns[1]; r.Status != models.StepSucceeded || r.Output != "ok" || r.FinishedAt == nil {
		t.Errorf("updated attempt = %+v", r)
	}
	other, err := st.LoadRun(ctx, "01T")
	must(t, err, "load other run")
	if len(other.StepRuns) != 1 || other.StepRuns[0].StepID != "other-run" {
		t.Errorf("run 01T has attempts %+v, want its own one", other.StepRuns)
	}
}

// exerciseApplyRunWritesRepeatedKeys: a batch may name one row twice (a
// run that changed twice, two signals of one name); the rows apply in
// order on every dialect: the last wins, and a run keeps what only its
// first write, the insert, stores.
func exerciseApplyRunWritesRepeatedKeys(t *testing.T, st *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	later := at.Add(time.Minute)
	first := runRow("01R", "t", models.RunRunning, at)
	first.Inputs = map[string]any{"who": "ann"}
	first.Trigger, first.Schedule = models.TriggerSchedule, &models.RunSchedule{ID: 3, FireAt: at}
	// The engine's later writes send no inputs, definition or schedule.
	done := models.RunRow{Run: models.Run{ID: "01R", Template: "t", Version: 1, Status: models.RunSucceeded,
		Outputs: map[string]any{"n": 2.0}, CreatedAt: at, StartedAt: &at, FinishedAt: &later}, Seq: 2, Stored: true}
	mid := done
	mid.Status, mid.Outputs, mid.FinishedAt, mid.Seq = models.RunWaiting, nil, nil, 1
	attempt := func(status models.StepStatus, out any) models.StepRunRow {
		return models.StepRunRow{StepRun: models.StepRun{RunID: "01R", StepID: "a", Attempt: 1, Status: status, Output: out}, Item: -1}
	}
	w := &models.RunWrites{
		Runs:     []models.RunRow{first, mid, done},
		StepRuns: []models.StepRunRow{attempt(models.StepRunning, nil), attempt(models.StepSucceeded, "ok")},
		Timers: []models.RunTimer{{RunID: "01R", StepID: "a", Kind: models.TimerWait, DueAt: at},
			{RunID: "01R", StepID: "a", Kind: models.TimerWait, DueAt: later}},
		Signals: []models.RunSignal{{RunID: "01R", Name: "go", Payload: json.RawMessage(`1`), ReceivedAt: at},
			{RunID: "01R", Name: "go", Payload: json.RawMessage(`2`), ReceivedAt: later}},
	}
	must(t, st.ApplyRunWrites(ctx, w), "a batch naming each row twice")
	if len(w.Runs) != 3 || len(w.StepRuns) != 2 || len(w.Signals) != 2 {
		t.Errorf("ApplyRunWrites changed the caller's batch: %d runs, %d attempts, %d signals", len(w.Runs), len(w.StepRuns), len(w.Signals))
	}
	snap, err := st.LoadRun(ctx, "01R")
	must(t, err, "load")
	r := snap.Run
	if r.Status != models.RunSucceeded || r.Outputs["n"] != 2.0 || r.FinishedAt == nil || !r.FinishedAt.Equal(later) || r.Seq != 2 {
		t.Errorf("run = %+v, want the last write's status, outputs, end and seq", r.Run)
	}
	if r.Inputs["who"] != "ann" || r.Schedule == nil || r.Schedule.ID != 3 || string(r.Definition) == "{}" || r.Trigger != models.TriggerSchedule {
		t.Errorf("run = %+v (definition %s), want the first write's inputs, schedule, trigger and definition", r.Run, r.Definition)
	}
	if len(snap.StepRuns) != 1 || snap.StepRuns[0].Status != models.StepSucceeded || snap.StepRuns[0].Output != "ok" {
		t.Errorf("attempts = %+v, want one, succeeded", snap.StepRuns)
	}
	if len(snap.Timers) != 1 || !snap.Timers[0].DueAt.Equal(later) {
		t.Errorf("timers = %+v, want one due at %v", snap.Timers, later)
	}
	if len(snap.Signals) != 1 || string(snap.Signals[0].Payload) != "2" || !snap.Signals[0].ReceivedAt.Equal(later) {
		t.Errorf("signals = %+v, want the second", snap.Signals)
	}

	// Runs repeated across more rows than one statement carries, among
	// other runs, on a stored run this time.
	var big models.RunWrites
	for i := range 40 {
		r := runRow(fmt.Sprintf("01Q%02d", i), "t", models.RunRunning, at)
		big.Runs = append(big.Runs, r)
	}
	for i := range 40 {
		r := big.Runs[i%5]
		r.Stored, r.Seq = true, int64(i+1)
		big.Runs = append(big.Runs, r)
		if i%10 == 0 {
			// New runs between the repeats.
			big.Runs = append(big.Runs, runRow(fmt.Sprintf("01Q%02d", 90+i/10), "t", models.RunQueued, at))
		}
	}
	must(t, st.ApplyRunWrites(ctx, &big), "many repeats")
	listed, err := st.ListRuns(ctx, models.RunFilter{Statuses: []models.RunStatus{models.RunQueued}})
	must(t, err, "list the new runs")
	if ids := runIDs(listed); !slices.Equal(ids, []string{"01Q93", "01Q92", "01Q91", "01Q90"}) {
		t.Errorf("runs new in the repeating batch = %v, want 01Q90 to 01Q93", ids)
	}
	for i := range 5 {
		snap, err := st.LoadRun(ctx, fmt.Sprintf("01Q%02d", i))
		must(t, err, "load")
		if want := int64(35 + i + 1); snap.Run.Seq != want {
			t.Errorf("run 01Q%02d seq = %d, want %d (its last write)", i, snap.Run.Seq, want)
		}
	}
}
