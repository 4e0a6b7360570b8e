package schedule_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/enginetest"
	"github.com/baton-run/baton/engine/schedule"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

func newScheduler(t *testing.T, e *enginetest.Env, clock clockwork.Clock) *schedule.Scheduler {
	t.Helper()
	s, err := schedule.New(e.Store, e.Launcher, schedule.Config{Clock: clock, Logger: slog.New(slog.DiscardHandler), ResyncEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func createSchedule(t *testing.T, e *enginetest.Env, key, cron, tz string, overlap models.OverlapPolicy, inputs map[string]any) models.Schedule {
	t.Helper()
	sc, err := e.Store.CreateSchedule(context.Background(), key, models.Schedule{Cron: cron, TimeZone: tz, Enabled: true, Overlap: overlap, Inputs: inputs}, "otto")
	if err != nil {
		t.Fatal(err)
	}
	return *sc
}

// scheduledRuns lists the runs a schedule started.
func scheduledRuns(t *testing.T, e *enginetest.Env, key string) []models.Run {
	t.Helper()
	runs, err := e.Launcher.ListRuns(context.Background(), models.RunFilter{Template: key})
	if err != nil {
		t.Fatal(err)
	}
	var out []models.Run
	for _, r := range runs {
		if r.Trigger == models.TriggerSchedule {
			out = append(out, r)
		}
	}
	return out
}

func TestSchedulerFiresOnFakeClock(t *testing.T) {
	enginetest.ForEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := enginetest.New(t, open, engine.LauncherConfig{})
		e.Template(t, enginetest.Greet, true)
		// 09:00 in Berlin is 08:00 UTC on this (winter) day.
		fake := clockwork.NewFakeClockAt(time.Date(2026, 11, 27, 7, 59, 0, 0, time.UTC))
		sc := createSchedule(t, e, "greet", "0 9 * * *", "Europe/Berlin", models.OverlapSkip, map[string]any{"who": "cron"})
		s := newScheduler(t, e, fake)
		if err := s.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Stop() })
		next, err := s.NextFires(sc.ID, 2)
		if err != nil || len(next) != 2 || !next[0].Equal(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)) ||
			!next[1].Equal(time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC)) {
			t.Fatalf("NextFires = %v, %v", next, err)
		}
		var runs []models.Run
		for i := 0; len(runs) == 0; i++ {
			if i > 500 {
				t.Fatal("the schedule did not fire")
			}
			fake.Advance(10 * time.Second)
			time.Sleep(5 * time.Millisecond)
			runs = scheduledRuns(t, e, "greet")
		}
		if r := runs[0]; r.StartedBy == "" || r.Inputs["who"] != "cron" {
			t.Fatalf("scheduled run: %+v", r)
		}
		// The fire's run is recorded just after the run starts.
		var last *models.ScheduleFire
		for i := 0; last == nil || last.RunID == ""; i++ {
			if i > 1000 {
				t.Fatalf("the fire's run was never recorded: %+v", last)
			}
			time.Sleep(2 * time.Millisecond)
			if last, err = e.Store.LastScheduleFire(context.Background(), sc.ID); err != nil {
				t.Fatal(err)
			}
		}
		if !last.FireAt.Equal(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)) || last.RunID != runs[0].ID {
			t.Fatalf("claimed fire: %+v, %v", last, err)
		}
	})
}

// TestSchedulerNoDoubleFire: the same fire time fires once, whether it is
// seen twice by one scheduler, by a restarted one or by a second instance.
func TestSchedulerNoDoubleFire(t *testing.T) {
	enginetest.ForEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := enginetest.New(t, open, engine.LauncherConfig{})
		e.Template(t, enginetest.Greet, true)
		sc := createSchedule(t, e, "greet", "*/5 * * * *", "", models.OverlapAllow, map[string]any{"who": "x"})
		fake := clockwork.NewFakeClockAt(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
		at := time.Date(2026, 11, 27, 10, 5, 0, 0, time.UTC)
		ctx := context.Background()
		first := newScheduler(t, e, fake)
		id, err := first.Fire(ctx, sc, at)
		if err != nil || id == "" {
			t.Fatalf("first fire: %q, %v", id, err)
		}
		if id, err := first.Fire(ctx, sc, at); err != nil || id != "" {
			t.Fatalf("same time again: %q, %v", id, err)
		}
		restarted := newScheduler(t, e, fake)
		if id, err := restarted.Fire(ctx, sc, at); err != nil || id != "" {
			t.Fatalf("after a restart: %q, %v", id, err)
		}
		if id, err := restarted.Fire(ctx, sc, at.Add(5*time.Minute)); err != nil || id == "" {
			t.Fatalf("the next time: %q, %v", id, err)
		}
		if n := len(scheduledRuns(t, e, "greet")); n != 2 {
			t.Fatalf("%d scheduled runs; want 2", n)
		}
	})
}

func TestSchedulerOverlapAndReload(t *testing.T) {
	e := enginetest.New(t, storetest.OpenSQLite, engine.LauncherConfig{})
	e.Template(t, enginetest.Gate, true)
	ctx := context.Background()
	fake := clockwork.NewFakeClockAt(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	s := newScheduler(t, e, fake)
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })

	skip := createSchedule(t, e, "gate", "* * * * *", "", models.OverlapSkip, nil)
	at := time.Date(2026, 11, 27, 10, 1, 0, 0, time.UTC)
	busy, err := s.Fire(ctx, skip, at)
	if err != nil || busy == "" {
		t.Fatalf("first fire: %q, %v", busy, err)
	}
	if id, err := s.Fire(ctx, skip, at.Add(time.Minute)); err != nil || id != "" {
		t.Fatalf("skip while the previous run waits: %q, %v", id, err)
	}
	allow := createSchedule(t, e, "gate", "* * * * *", "", models.OverlapAllow, nil)
	if _, err := s.Fire(ctx, allow, at); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Fire(ctx, allow, at.Add(time.Minute)); err != nil || id == "" {
		t.Fatalf("allow overlaps: %q, %v", id, err)
	}
	if err := e.Engine.Cancel(ctx, busy); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Launcher.Wait(ctx, busy); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Fire(ctx, skip, at.Add(2*time.Minute)); err != nil || id == "" {
		t.Fatalf("skip after the previous run ended: %q, %v", id, err)
	}

	// Created after Start: armed by Reload; disabled: disarmed.
	late := createSchedule(t, e, "gate", "30 12 * * *", "UTC", models.OverlapSkip, nil)
	if _, err := s.NextFires(late.ID, 1); !models.IsCode(err, models.NotFound) {
		t.Fatalf("armed before Reload: %v", err)
	}
	if err := s.Reload(ctx, late.ID); err != nil {
		t.Fatal(err)
	}
	if next, err := s.NextFires(late.ID, 1); err != nil || !next[0].Equal(time.Date(2026, 11, 27, 12, 30, 0, 0, time.UTC)) {
		t.Fatalf("NextFires after Reload: %v, %v", next, err)
	}
	off := false
	if _, err := e.Store.UpdateSchedule(ctx, late.ID, models.ScheduleUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(ctx, late.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NextFires(late.ID, 1); !models.IsCode(err, models.NotFound) {
		t.Fatalf("still armed after disabling: %v", err)
	}
	for _, r := range scheduledRuns(t, e, "gate") {
		_ = e.Engine.Cancel(ctx, r.ID)
	}
}

func TestSchedulerCheck(t *testing.T) {
	s, err := schedule.New(nil, nil, schedule.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ cron, tz, path string }{
		{"* * * * *", "", ""},
		{"0 */2 * * 1-5", "America/New_York", ""},
		{"*/10 * * * * *", "", ""},
		{"@daily", "", ""},
		{"every day", "", "cron"},
		{"60 * * * *", "", "cron"},
		{"* * * * *", "Nowhere/City", "timeZone"},
	} {
		err := s.Check(c.cron, c.tz)
		got := ""
		if d := models.ErrorDetails(err); len(d) > 0 {
			got = d[0].Path
		}
		if got != c.path || (c.path == "") != (err == nil) {
			t.Errorf("Check(%q, %q) = %v; want a problem at %q", c.cron, c.tz, err, c.path)
		}
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestScheduledRunRecordsItsFire: a run a schedule started says which
// schedule and fire time started it, and whether that time was missed and
// caught up, live, once stored, and in listings; other runs say nothing.
func TestScheduledRunRecordsItsFire(t *testing.T) {
	enginetest.ForEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := enginetest.New(t, open, engine.LauncherConfig{})
		e.Template(t, enginetest.Greet, true)
		ctx := context.Background()
		base := outageBase()
		sc := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpLatest, base)
		s := armedScheduler(t, e, clockwork.NewFakeClockAt(base.Add(outage)), schedule.Config{}, sc.ID)
		s.CatchUp(ctx)

		fires, err := e.Store.ScheduleFires(ctx, sc.ID, 10)
		if err != nil || len(fires) != 2 {
			t.Fatalf("fires: %+v, %v; want the one before the outage and the caught-up one", fires, err)
		}
		want := map[string]models.RunSchedule{
			fires[0].RunID: {ID: sc.ID, FireAt: base.Add(5 * time.Hour), CaughtUp: true},
			fires[1].RunID: {ID: sc.ID, FireAt: base, CaughtUp: false},
		}
		check := func(where string, r models.Run) {
			t.Helper()
			w, ok := want[r.ID]
			if !ok {
				return
			}
			if r.Schedule == nil || r.Schedule.ID != w.ID || !r.Schedule.FireAt.Equal(w.FireAt) || r.Schedule.CaughtUp != w.CaughtUp {
				t.Errorf("%s: run %s has schedule %+v; want %+v", where, r.ID, r.Schedule, w)
			}
		}
		for id := range want {
			done, err := e.Launcher.Wait(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			check("finished run", done)
			snap, err := e.Store.LoadRun(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			check("stored run", snap.Run.Run)
		}
		listed := scheduledRuns(t, e, "greet")
		if len(listed) != 2 {
			t.Fatalf("%d scheduled runs listed; want 2", len(listed))
		}
		for _, r := range listed {
			check("listed run", r)
		}

		manual, err := e.Launcher.Start(ctx, models.RunRequest{Template: "greet", Inputs: map[string]any{"who": "me"},
			Trigger: models.TriggerAPI, AllowApproved: true})
		if err != nil {
			t.Fatal(err)
		}
		if done, err := e.Launcher.Wait(ctx, manual.ID); err != nil || done.Schedule != nil {
			t.Fatalf("a run started through the API has schedule %+v (%v); want none", done.Schedule, err)
		}
	})
}
