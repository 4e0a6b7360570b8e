package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

func TestPrune(t *testing.T) {
	t.Parallel()
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			t.Parallel()
			st := db.Open(t)
			ctx := context.Background()
			now := time.Now().UTC().Truncate(time.Microsecond)
			// 100 runs of a and of b over the last 100 days, one a day.
			_, err := st.FillHistory(ctx, store.HistoryOptions{Runs: 200, Steps: 2, Templates: []string{"a", "b"},
				Span: 100 * 24 * time.Hour, End: now, Seed: 3, Chunk: 64})
			ok(t, err, "fill")
			// An old run whose parent is still running is kept.
			old := now.Add(-200 * 24 * time.Hour)
			parent := models.RunRow{Run: models.Run{ID: "00000000000000000000PARENT", Template: "c", Status: models.RunRunning, CreatedAt: old, StartedAt: &old}}
			child := models.RunRow{Run: models.Run{ID: "00000000000000000000CHILD1", Template: "a", Status: models.RunSucceeded, ParentRunID: parent.ID,
				CreatedAt: old, StartedAt: &old, FinishedAt: &old}}
			ok(t, st.ApplyRunWrites(ctx, &models.RunWrites{Runs: []models.RunRow{parent, child}}), "write")
			// b keeps its runs for 10 days, whatever the server says.
			ten := "10d"
			_, _, err = st.CreateTemplate(ctx, storetest.Def("b", "B"), "dana")
			ok(t, err, "template")
			_, err = st.UpdateTemplateSettings(ctx, "b", models.TemplateSettings{Retention: &ten}, "dana")
			ok(t, err, "settings")

			var progress int
			dry, err := st.Prune(ctx, store.PruneOptions{OlderThan: 30 * 24 * time.Hour, DryRun: true, Batch: 7, Now: now,
				Progress: func(string, int) { progress++ }})
			ok(t, err, "dry run")
			// a: runs older than 30 days (about 70 of 100); b: older than 10 days (about 90).
			if dry.ByTemplate["a"] < 65 || dry.ByTemplate["a"] > 72 || dry.ByTemplate["b"] < 85 || dry.ByTemplate["b"] > 92 || dry.ByTemplate["c"] != 0 || progress < 20 {
				t.Fatalf("dry run: %+v after %d progress calls", dry, progress)
			}
			all, err := st.ListRuns(ctx, models.RunFilter{Limit: 500})
			ok(t, err, "list")
			if len(all) != 202 {
				t.Fatalf("a dry run deleted runs: %d left", len(all))
			}
			got, err := st.Prune(ctx, store.PruneOptions{OlderThan: 30 * 24 * time.Hour, Batch: 7, Now: now})
			ok(t, err, "prune")
			if got.Runs != dry.Runs {
				t.Fatalf("pruned %+v; the dry run said %+v", got, dry)
			}
			all, err = st.ListRuns(ctx, models.RunFilter{Limit: 500})
			ok(t, err, "list")
			if len(all) != 202-got.Runs {
				t.Fatalf("%d runs left after pruning %d", len(all), got.Runs)
			}
			for _, r := range all {
				if r.FinishedAt != nil && r.ID != child.ID && now.Sub(*r.FinishedAt) > 30*24*time.Hour {
					t.Fatalf("run %s of %s finished %s ago and was kept", r.ID, r.Template, now.Sub(*r.FinishedAt))
				}
			}
			if _, err := st.LoadRun(ctx, child.ID); err != nil {
				t.Fatalf("the child of a running run was pruned: %v", err)
			}
			// Steps and events went with their runs.
			var steps, events int
			ok(t, store.SQLDB(st).QueryRow("SELECT COUNT(*) FROM step_runs").Scan(&steps), "count")
			ok(t, store.SQLDB(st).QueryRow("SELECT COUNT(*) FROM run_events").Scan(&events), "count")
			if left := 200 - got.Runs; steps != 2*left || events != 7*left {
				t.Fatalf("%d step rows and %d events for %d runs left", steps, events, left)
			}
			// One template only; nothing more to prune there.
			again, err := st.Prune(ctx, store.PruneOptions{OlderThan: 30 * 24 * time.Hour, Template: "a", Now: now})
			ok(t, err, "again")
			if again.Runs != 0 {
				t.Fatalf("second prune: %+v", again)
			}
			checkActiveCounts(t, st)
		})
	}
}

func checkActiveCounts(t *testing.T, st *store.Store) {
	t.Helper()
	counters, counted, err := st.ActiveRunCounts(context.Background())
	ok(t, err, "counts")
	if len(counters) != len(counted) || counters["c"] != counted["c"] || counted["c"] != 1 {
		t.Fatalf("counters %v; COUNT(*) says %v", counters, counted)
	}
}
