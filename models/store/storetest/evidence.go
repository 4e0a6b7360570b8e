package storetest

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// exerciseRecentProductionRuns: the runs a version's evidence replays are
// the newest finished production runs of the template, by finish time,
// with their step-level attempts only; test runs, runs in flight, stopped
// runs and other templates' runs are left out, and LatestProductionRun
// names the newest of them.
func exerciseRecentProductionRuns(t *testing.T, st *store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	id, fin, err := st.LatestProductionRun(ctx, "t")
	must(t, err, "latest of none")
	if id != "" || !fin.IsZero() {
		t.Fatalf("latest of no run = %q %v", id, fin)
	}
	w := &models.RunWrites{}
	add := func(id, tmpl string, status models.RunStatus, finished time.Duration, test bool) {
		r := runRow(id, tmpl, status, at)
		r.Test = test
		if status.Final() {
			f := at.Add(finished)
			r.FinishedAt = &f
		}
		w.Runs = append(w.Runs, r)
		w.StepRuns = append(w.StepRuns,
			models.StepRunRow{StepRun: models.StepRun{RunID: id, StepID: "a", Attempt: 1, Status: models.StepFailed,
				Input: map[string]any{"url": "https://x/" + id}}, Item: -1},
			models.StepRunRow{StepRun: models.StepRun{RunID: id, StepID: "a", Attempt: 2, Status: models.StepSucceeded}, Item: -1},
			models.StepRunRow{StepRun: models.StepRun{RunID: id, StepID: "each", Attempt: 1, Status: models.StepSucceeded}, Item: 0},
			models.StepRunRow{StepRun: models.StepRun{RunID: id, StepID: "a", Attempt: 1, Status: models.StepSucceeded}, Item: -1, Compensation: true},
		)
	}
	// Created in one order, finished in another: finish time decides.
	add("01A", "t", models.RunSucceeded, 5*time.Minute, false)
	add("01B", "t", models.RunFailed, 9*time.Minute, false)
	add("01C", "t", models.RunRolledBack, 7*time.Minute, false)
	add("01D", "t", models.RunSucceeded, 20*time.Minute, true) // a test run
	add("01E", "t", models.RunRunning, 0, false)               // in flight
	add("01F", "t", models.RunCancelled, 30*time.Minute, false)
	add("01G", "t", models.RunTimedOut, 31*time.Minute, false)
	add("01H", "u", models.RunSucceeded, 40*time.Minute, false) // another template
	must(t, st.ApplyRunWrites(ctx, w), "insert")

	snaps, err := st.RecentProductionRuns(ctx, "t", 50)
	must(t, err, "recent")
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.Run.ID)
		var keys []string
		for _, r := range s.StepRuns {
			keys = append(keys, fmt.Sprintf("%s/%d/%v/%d", r.StepID, r.Item, r.Compensation, r.Attempt))
		}
		slices.Sort(keys) // in no particular order
		if !slices.Equal(keys, []string{"a/-1/false/1", "a/-1/false/2"}) {
			t.Errorf("run %s: attempts %v, want the step's own attempts", s.Run.ID, keys)
		}
		if len(s.Run.Definition) == 0 {
			t.Errorf("run %s has no definition", s.Run.ID)
		}
	}
	if want := []string{"01B", "01C", "01A"}; !slices.Equal(ids, want) {
		t.Fatalf("recent production runs = %v, want %v", ids, want)
	}
	for _, r := range snaps[0].StepRuns {
		if in, _ := r.Input.(map[string]any); r.Attempt == 1 && in["url"] != "https://x/01B" {
			t.Errorf("recorded input = %v", r.Input)
		}
	}
	snaps, err = st.RecentProductionRuns(ctx, "t", 2)
	must(t, err, "recent 2")
	if len(snaps) != 2 || snaps[1].Run.ID != "01C" {
		t.Fatalf("limit 2 gave %d runs", len(snaps))
	}
	id, fin, err = st.LatestProductionRun(ctx, "t")
	must(t, err, "latest")
	if id != "01B" || !fin.Equal(at.Add(9*time.Minute)) {
		t.Fatalf("latest = %q %v, want 01B", id, fin)
	}
	none, err := st.RecentProductionRuns(ctx, "nothing", 50)
	must(t, err, "recent of none")
	if len(none) != 0 {
		t.Fatalf("runs of a template with none: %d", len(none))
	}
}
