package handlers_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/views"
)

// TestScheduledRunShowsItsFire: a run a schedule started names the schedule
// and the fire time in GET /api/v1/runs/{id}, in the runs list (which can
// keep one schedule's runs) and in the run page's header; a caught-up run
// also says when it was caught up; other runs say nothing of schedules.
func TestScheduledRunShowsItsFire(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		f.publish(t, greetDef)
		ctx := context.Background()
		created := f.call(t, "POST", "/api/v1/templates/greet/schedules", f.operator,
			`{"cron":"0 9 * * *","catchUp":"latest","inputs":{"who":"cron"}}`, 201)
		scID := int64(created["id"].(float64))
		sc, err := f.store.Schedule(ctx, scID)
		if err != nil {
			t.Fatal(err)
		}

		// A fire on time.
		fireAt := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
		onTime, err := f.sched.Fire(ctx, *sc, fireAt)
		if err != nil || onTime == "" {
			t.Fatalf("fire: %q, %v", onTime, err)
		}
		got := f.waitRun(t, onTime, models.RunSucceeded)
		want := map[string]any{"id": float64(scID), "fireAt": "2026-11-27T09:00:00Z", "caughtUp": false}
		if fmt.Sprint(got["schedule"]) != fmt.Sprint(want) || got["trigger"] != "schedule" {
			t.Fatalf("GET run: trigger %v, schedule %v; want schedule, %v", got["trigger"], got["schedule"], want)
		}

		// A missed fire time caught up when an instance started: the
		// scheduler starts it through the launcher like this.
		missedAt := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
		late, err := f.launcher.Start(ctx, models.RunRequest{Template: "greet", Inputs: map[string]any{"who": "late"},
			Trigger: models.TriggerSchedule, StartedBy: fmt.Sprintf("schedule:%d", scID), AllowApproved: true,
			Schedule: &models.RunSchedule{ID: scID, FireAt: missedAt, CaughtUp: true}})
		if err != nil {
			t.Fatal(err)
		}
		got = f.waitRun(t, late.ID, models.RunSucceeded)
		want = map[string]any{"id": float64(scID), "fireAt": "2026-11-26T09:00:00Z", "caughtUp": true}
		if fmt.Sprint(got["schedule"]) != fmt.Sprint(want) {
			t.Fatalf("GET caught-up run: schedule %v; want %v", got["schedule"], want)
		}

		// A run started by hand has no schedule.
		manual := f.call(t, "POST", "/api/v1/templates/greet/runs", f.operator, `{"inputs":{"who":"me"}}`, 201)
		manualID := manual["id"].(string)
		if got := f.waitRun(t, manualID, models.RunSucceeded); got["schedule"] != nil {
			t.Fatalf("a manual run has schedule %v", got["schedule"])
		}

		// The list carries the schedule, and ?schedule= keeps its runs.
		listed := map[string]any{}
		for _, r := range f.call(t, "GET", "/api/v1/runs?template=greet", f.viewerToken, "", 200)["runs"].([]any) {
			r := r.(map[string]any)
			listed[r["id"].(string)] = r["schedule"]
		}
		if len(listed) != 3 || listed[onTime] == nil || listed[late.ID] == nil || listed[manualID] != nil {
			t.Fatalf("listed schedules: %v", listed)
		}
		var ids []string
		for _, r := range f.call(t, "GET", fmt.Sprintf("/api/v1/runs?schedule=%d", scID), f.viewerToken, "", 200)["runs"].([]any) {
			ids = append(ids, r.(map[string]any)["id"].(string))
		}
		if fmt.Sprint(ids) != fmt.Sprint([]string{late.ID, onTime}) {
			t.Fatalf("runs of schedule %d: %v; want %v", scID, ids, []string{late.ID, onTime})
		}
		if runs := f.call(t, "GET", fmt.Sprintf("/api/v1/runs?schedule=%d", scID+1000), f.viewerToken, "", 200)["runs"].([]any); len(runs) != 0 {
			t.Fatalf("runs of an unknown schedule: %v", runs)
		}
		f.refused(t, "GET", "/api/v1/runs?schedule=seven", f.viewerToken, "", 422, models.Invalid, `"path":"schedule"`)

		// The run page's header.
		viewer := f.login(t, "victor", testPassword)
		f.page(t, viewer, "/runs/"+onTime, 200, `data-testid="run-schedule"`,
			`scheduled for <time data-testid="run-scheduled-for">2026-11-27 09:00 UTC</time>`)
		if page := f.page(t, viewer, "/runs/"+onTime, 200); strings.Contains(page, "caught up") {
			t.Errorf("a run fired on time says it was caught up")
		}
		f.page(t, viewer, "/runs/"+late.ID, 200,
			`scheduled for <time data-testid="run-scheduled-for">2026-11-26 09:00 UTC</time>`,
			`(caught up at <time data-testid="run-caught-up-at">`+views.FormatTime(late.CreatedAt)+`</time>)`)
		if page := f.page(t, viewer, "/runs/"+manualID, 200); strings.Contains(page, `data-testid="run-schedule"`) {
			t.Errorf("a manual run's page names a schedule")
		}
	})
}
