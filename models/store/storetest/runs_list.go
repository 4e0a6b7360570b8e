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

// Listing runs and replaying their events: filters, pages, cursors.

// runRow is a run of template tmpl with a small definition, created at at.
func runRow(id, tmpl string, status models.RunStatus, at time.Time) models.RunRow {
	return models.RunRow{
		Run: models.Run{ID: id, Template: tmpl, Version: 1, Status: status, Trigger: models.TriggerAPI,
			Inputs: map[string]any{}, CreatedAt: at, StartedAt: &at},
		Definition: json.RawMessage(`{"id":"` + tmpl + `","steps":[]}`),
	}
}

func runIDs(runs []models.Run) []string {
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.ID
	}
	return ids
}

// exerciseListRunFilters: each filter of ListRuns keeps exactly its runs,
// filters combine with AND, and runs come newest (highest ID) first.
func exerciseListRunFilters(t *testing.T, st *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var w models.RunWrites
	add := func(id, tmpl string, status models.RunStatus, edit func(r *models.RunRow)) {
		r := runRow(id, tmpl, status, at)
		if edit != nil {
			edit(&r)
		}
		w.Runs = append(w.Runs, r)
	}
	child := func(parent string) func(r *models.RunRow) {
		return func(r *models.RunRow) { r.ParentRunID, r.ParentStepID, r.Trigger = parent, "sub", models.TriggerManual }
	}
	scheduled := func(id int64) func(r *models.RunRow) {
		return func(r *models.RunRow) {
			r.Trigger, r.Schedule = models.TriggerSchedule, &models.RunSchedule{ID: id, FireAt: at}
		}
	}
	add("01F01", "orders", models.RunSucceeded, nil)
	add("01F02", "orders", models.RunFailed, scheduled(7))
	add("01F03", "reports", models.RunRunning, scheduled(7))
	add("01F04", "reports", models.RunWaiting, child("01F01"))
	add("01F05", "orders", models.RunCancelled, child("01F01"))
	add("01F06", "orders", models.RunSucceeded, scheduled(8))
	add("01F07", "billing", models.RunTimedOut, child("01F03"))
	must(t, st.ApplyRunWrites(ctx, &w), "insert runs")

	for _, c := range []struct {
		name string
		f    models.RunFilter
		want []string
	}{
		{"none", models.RunFilter{}, []string{"01F07", "01F06", "01F05", "01F04", "01F03", "01F02", "01F01"}},
		{"template", models.RunFilter{Template: "orders"}, []string{"01F06", "01F05", "01F02", "01F01"}},
		{"unknown template", models.RunFilter{Template: "nope"}, []string{}},
		{"one status", models.RunFilter{Statuses: []models.RunStatus{models.RunSucceeded}}, []string{"01F06", "01F01"}},
		{"statuses", models.RunFilter{Statuses: []models.RunStatus{models.RunRunning, models.RunWaiting, models.RunTimedOut}},
			[]string{"01F07", "01F04", "01F03"}},
		{"parent", models.RunFilter{ParentRunID: "01F01"}, []string{"01F05", "01F04"}},
		{"schedule", models.RunFilter{ScheduleID: 7}, []string{"01F03", "01F02"}},
		{"other schedule", models.RunFilter{ScheduleID: 8}, []string{"01F06"}},
		{"template and status", models.RunFilter{Template: "orders", Statuses: []models.RunStatus{models.RunSucceeded}},
			[]string{"01F06", "01F01"}},
		{"template and parent", models.RunFilter{Template: "reports", ParentRunID: "01F01"}, []string{"01F04"}},
		{"template and schedule", models.RunFilter{Template: "orders", ScheduleID: 7}, []string{"01F02"}},
		{"status and before", models.RunFilter{Statuses: []models.RunStatus{models.RunSucceeded}, Before: "01F06"}, []string{"01F01"}},
		{"nothing matches both", models.RunFilter{ParentRunID: "01F01", ScheduleID: 7}, []string{}},
	} {
		got, err := st.ListRuns(ctx, c.f)
		must(t, err, "list "+c.name)
		if ids := runIDs(got); !slices.Equal(ids, c.want) {
			t.Errorf("ListRuns(%s %+v) = %v, want %v", c.name, c.f, ids, c.want)
		}
	}

	// The listed runs carry their fields, but not the definition.
	got, err := st.ListRuns(ctx, models.RunFilter{ParentRunID: "01F03"})
	must(t, err, "list children of 01F03")
	if len(got) != 1 || got[0].Template != "billing" || got[0].Status != models.RunTimedOut || got[0].ParentRunID != "01F03" ||
		got[0].Trigger != models.TriggerManual || !got[0].CreatedAt.Equal(at) || got[0].Schedule != nil {
		t.Errorf("child run listed as %+v", got)
	}
}

// exerciseListRunPages walks ListRuns with its cursor: pages of the asked
// size, no run twice or missed, and the documented default (50) and cap
// (500) on the page size.
func exerciseListRunPages(t *testing.T, st *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	const total = 520
	var w models.RunWrites
	for i := range total {
		status := models.RunSucceeded
		if i%4 == 0 {
			status = models.RunFailed
		}
		w.Runs = append(w.Runs, runRow(fmt.Sprintf("01P%04d", i), "t", status, at))
	}
	must(t, st.ApplyRunWrites(ctx, &w), "insert runs")

	def, err := st.ListRuns(ctx, models.RunFilter{})
	must(t, err, "default page")
	if len(def) != 50 || def[0].ID != fmt.Sprintf("01P%04d", total-1) {
		t.Errorf("the default page has %d runs from %v, want 50 from the newest", len(def), runIDs(def[:min(1, len(def))]))
	}
	capped, err := st.ListRuns(ctx, models.RunFilter{Limit: 100000})
	must(t, err, "huge page")
	if len(capped) != 500 {
		t.Errorf("a page of 100000 has %d runs, want the cap of 500", len(capped))
	}

	// Pages of 60 over the failed runs only: the filter holds on every page.
	var seen []string
	f := models.RunFilter{Statuses: []models.RunStatus{models.RunFailed}, Limit: 60}
	for page := 0; ; page++ {
		if page > total/60+1 {
			t.Fatalf("ListRuns pages never end: %d pages, cursor %q", page, f.Before)
		}
		got, err := st.ListRuns(ctx, f)
		must(t, err, fmt.Sprintf("page %d", page))
		if len(got) > 60 {
			t.Fatalf("page %d has %d runs, want at most 60", page, len(got))
		}
		for _, r := range got {
			if r.Status != models.RunFailed {
				t.Errorf("page %d holds run %s of status %s", page, r.ID, r.Status)
			}
		}
		seen = append(seen, runIDs(got)...)
		if len(got) < 60 {
			break
		}
		f.Before = got[len(got)-1].ID
	}
	var want []string
	for i := total - 1; i >= 0; i-- {
		if i%4 == 0 {
			want = append(want, fmt.Sprintf("01P%04d", i))
		}
	}
	if !slices.Equal(seen, want) {
		t.Errorf("paging saw %d failed runs (%v … ), want all %d newest first", len(seen), seen[:min(3, len(seen))], len(want))
	}
	// A cursor past the oldest run is an empty page, not an error.
	got, err := st.ListRuns(ctx, models.RunFilter{Before: "01P0000"})
	must(t, err, "page past the end")
	if len(got) != 0 {
		t.Errorf("the page before the oldest run = %v, want none", runIDs(got))
	}
}

// exerciseRunEventsReplay: events written over many batches replay in seq
// order from any cursor, with their fields, page by page; a run's events
// are its own; LoadRun's seq follows the events even when the run row
// lags.
func exerciseRunEventsReplay(t *testing.T, st *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	must(t, st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{
		runRow("01EA", "t", models.RunRunning, at), runRow("01EB", "t", models.RunRunning, at)}}), "insert runs")

	const batches, per = 5, 7
	var want []models.Event
	seq := int64(0)
	for b := range batches {
		var w models.RunWrites
		for i := range per {
			seq++
			dur := float64(seq) / 4
			e := models.Event{RunID: "01EA", Seq: seq, Type: models.EventStepSucceeded, StepID: fmt.Sprintf("s%d", i),
				Status: "succeeded", Attempt: b + 1, At: at.Add(time.Duration(seq) * time.Millisecond), DurationMs: &dur}
			if i == per-1 {
				e.Type, e.Status, e.DurationMs = models.EventStepFailed, "failed", nil
				e.Error = &models.StepError{Code: "boom", Message: fmt.Sprintf("batch %d", b)}
			}
			w.Events = append(w.Events, e)
			// Another run's events interleave in the same batches.
			w.Events = append(w.Events, models.Event{RunID: "01EB", Seq: seq, Type: models.EventStepStarted, At: at})
		}
		must(t, st.ApplyRunWrites(ctx, &w), fmt.Sprintf("batch %d", b))
		want = append(want, w.Events...)
	}
	var mine []models.Event
	for _, e := range want {
		if e.RunID == "01EA" {
			mine = append(mine, e)
		}
	}
	same := func(a, b models.Event) bool {
		durA, durB := -1.0, -1.0
		if a.DurationMs != nil {
			durA = *a.DurationMs
		}
		if b.DurationMs != nil {
			durB = *b.DurationMs
		}
		return a.RunID == b.RunID && a.Seq == b.Seq && a.Type == b.Type && a.StepID == b.StepID && a.Status == b.Status &&
			a.Attempt == b.Attempt && a.At.Equal(b.At) && a.At.Location() == time.UTC && durA == durB &&
			reflect.DeepEqual(a.Error, b.Error)
	}

	// Every cursor replays exactly the events after it.
	for after := int64(0); after <= seq; after++ {
		got, err := st.RunEvents(ctx, "01EA", after, 0)
		must(t, err, fmt.Sprintf("events after %d", after))
		rest := mine[after:]
		if len(got) != len(rest) {
			t.Fatalf("RunEvents(after %d) = %d events, want %d", after, len(got), len(rest))
		}
		for i := range got {
			if !same(got[i], rest[i]) {
				t.Fatalf("RunEvents(after %d)[%d] = %+v, want %+v", after, i, got[i], rest[i])
			}
		}
	}
	// A reader following the stream page by page sees each event once.
	var replayed []models.Event
	for after, pages := int64(0), 0; ; pages++ {
		if pages > int(seq) {
			t.Fatal("RunEvents pages never end")
		}
		page, err := st.RunEvents(ctx, "01EA", after, 4)
		must(t, err, "page")
		if len(page) == 0 {
			break
		}
		if len(page) > 4 {
			t.Fatalf("a page of 4 has %d events", len(page))
		}
		replayed = append(replayed, page...)
		after = page[len(page)-1].Seq
	}
	if len(replayed) != len(mine) || replayed[0].Seq != 1 || replayed[len(replayed)-1].Seq != seq {
		t.Errorf("paged replay saw %d events, want %d", len(replayed), len(mine))
	}
	none, err := st.RunEvents(ctx, "01NOPE", 0, 0)
	must(t, err, "events of an unknown run")
	if len(none) != 0 {
		t.Errorf("an unknown run has events %+v", none)
	}

	// The run rows were written once with seq 0: the events are the truth.
	snap, err := st.LoadRun(ctx, "01EA")
	must(t, err, "load")
	if snap.Run.Seq != seq {
		t.Errorf("LoadRun seq = %d, want %d (its latest event)", snap.Run.Seq, seq)
	}
	// A run row that is ahead of its events keeps its own seq.
	ahead := runRow("01EC", "t", models.RunRunning, at)
	ahead.Seq = 9
	must(t, st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{ahead},
		Events: []models.Event{{RunID: "01EC", Seq: 1, Type: models.EventRunStarted, At: at}}}), "run ahead of its events")
	if snap, err = st.LoadRun(ctx, "01EC"); err != nil || snap.Run.Seq != 9 {
		t.Errorf("LoadRun(01EC) seq = %v, %v; want 9", snap, err)
	}
}
