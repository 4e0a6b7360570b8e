package schedule_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
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

// The catch-up tests play an outage: the last instance handled the hourly
// fire at base, then none ran until base+5h30m, when a scheduler starts on
// a fake clock. base lies ahead of the wall clock, which stamps a
// schedule's UpdatedAt, so that the change does not hide the missed times.
func outageBase() time.Time { return time.Now().UTC().Truncate(time.Hour).Add(48 * time.Hour) }

const outage = 5*time.Hour + 30*time.Minute

// armedScheduler arms the given schedules without starting gocron, so that
// CatchUp runs alone and the test decides when it runs.
func armedScheduler(t *testing.T, e *enginetest.Env, clock clockwork.Clock, cfg schedule.Config, ids ...int64) *schedule.Scheduler {
	t.Helper()
	cfg.Clock = clock
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.ResyncEvery = time.Hour
	s, err := schedule.New(e.Store, e.Launcher, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	for _, id := range ids {
		if err := s.Reload(context.Background(), id); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// catchUpSchedule creates an hourly schedule of template key whose fire at
// base was claimed before the outage.
func catchUpSchedule(t *testing.T, e *enginetest.Env, key string, overlap models.OverlapPolicy, policy models.CatchUpPolicy, base time.Time) models.Schedule {
	t.Helper()
	ctx := context.Background()
	sc, err := e.Store.CreateSchedule(ctx, key, models.Schedule{Cron: "0 * * * *", Enabled: true, Overlap: overlap, CatchUp: policy,
		Inputs: map[string]any{"who": "catch-up"}}, "otto")
	if err != nil {
		t.Fatal(err)
	}
	fireBefore(t, e, *sc, base)
	got, err := e.Store.Schedule(ctx, sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	return *got
}

// fireBefore fires sc at base, as the last instance did before the outage.
func fireBefore(t *testing.T, e *enginetest.Env, sc models.Schedule, base time.Time) {
	t.Helper()
	if id, err := newScheduler(t, e, clockwork.NewFakeClockAt(base)).Fire(context.Background(), sc, base); err != nil || id == "" {
		t.Fatalf("fire before the outage: %q, %v", id, err)
	}
}

// firedTimes returns the fire times of a schedule that started runs, oldest
// first, checking that each names a run that the schedule started.
func firedTimes(t *testing.T, e *enginetest.Env, sc models.Schedule) []time.Time {
	t.Helper()
	ctx := context.Background()
	fires, err := e.Store.ScheduleFires(ctx, sc.ID, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	for _, f := range fires {
		if f.Skipped {
			continue
		}
		if f.RunID == "" {
			t.Fatalf("fire at %s has no run", f.FireAt)
		}
		run, err := e.Launcher.Run(ctx, f.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if run.Trigger != models.TriggerSchedule || run.StartedBy != fmt.Sprintf("schedule:%d", sc.ID) || run.Inputs["who"] != "catch-up" {
			t.Fatalf("run of the fire at %s: %+v", f.FireAt, run)
		}
		out = append(out, f.FireAt)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// hours returns base plus each of hs hours.
func hours(base time.Time, hs ...int) []time.Time {
	out := make([]time.Time, len(hs))
	for i, h := range hs {
		out[i] = base.Add(time.Duration(h) * time.Hour)
	}
	return out
}

func wantTimes(t *testing.T, what string, got, want []time.Time) {
	t.Helper()
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Errorf("%s fired %v; want %v", what, got, want)
	}
}

func TestSchedulerCatchUpPolicies(t *testing.T) {
	enginetest.ForEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := enginetest.New(t, open, engine.LauncherConfig{})
		e.Template(t, enginetest.Greet, true)
		base := outageBase()
		none := catchUpSchedule(t, e, "greet", models.OverlapAllow, "", base)
		if none.CatchUp != models.CatchUpNone {
			t.Fatalf("default catch-up policy %q; want none", none.CatchUp)
		}
		latest := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpLatest, base)
		all := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpAll, base)
		var log enginetest.LogSink
		fake := clockwork.NewFakeClockAt(base.Add(outage))
		s := armedScheduler(t, e, fake, schedule.Config{Logger: slog.New(slog.NewTextHandler(&log, nil))}, none.ID, latest.ID, all.ID)
		s.CatchUp(context.Background())

		wantTimes(t, "none", firedTimes(t, e, none), hours(base, 0))
		wantTimes(t, "latest", firedTimes(t, e, latest), hours(base, 0, 5))
		wantTimes(t, "all", firedTimes(t, e, all), hours(base, 0, 1, 2, 3, 4, 5))
		// Three fires before the outage, six after it.
		if n := len(scheduledRuns(t, e, "greet")); n != 9 {
			t.Errorf("%d scheduled runs; want 9", n)
		}
		for _, want := range []string{"schedule catching up missed fire times", "missed=5 firing=5", "missed=5 firing=1", "caught_up=true"} {
			if !strings.Contains(log.String(), want) {
				t.Errorf("the log lacks %q:\n%s", want, log.String())
			}
		}

		// A second start finds nothing missed: the caught-up times are
		// claimed, and the latest claim is where missing starts.
		again := armedScheduler(t, e, fake, schedule.Config{}, none.ID, latest.ID, all.ID)
		again.CatchUp(context.Background())
		if n := len(scheduledRuns(t, e, "greet")); n != 9 {
			t.Errorf("after a second start: %d scheduled runs; want 9", n)
		}
	})
}

func TestSchedulerCatchUpBounds(t *testing.T) {
	e := enginetest.New(t, storetest.OpenSQLite, engine.LauncherConfig{})
	e.Template(t, enginetest.Greet, true)
	base := outageBase()
	fake := clockwork.NewFakeClockAt(base.Add(outage))

	// The limit keeps the most recent missed times.
	limited := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpAll, base)
	armedScheduler(t, e, fake, schedule.Config{CatchUpLimit: 3}, limited.ID).CatchUp(context.Background())
	wantTimes(t, "all with limit 3", firedTimes(t, e, limited), hours(base, 0, 3, 4, 5))

	// The window drops what is older than it, whatever the policy.
	windowed := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpAll, base)
	armedScheduler(t, e, fake, schedule.Config{CatchUpWindow: 2*time.Hour + 45*time.Minute}, windowed.ID).CatchUp(context.Background())
	wantTimes(t, "all within 2h45m", firedTimes(t, e, windowed), hours(base, 0, 3, 4, 5))
	old := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpLatest, base)
	armedScheduler(t, e, fake, schedule.Config{CatchUpWindow: 15 * time.Minute}, old.ID).CatchUp(context.Background())
	wantTimes(t, "latest, missed time outside the window", firedTimes(t, e, old), hours(base, 0))
}

// TestSchedulerCatchUpAfterChange: a schedule changed (here, disabled and
// enabled again) after its last fire misses nothing before the change: the
// instance that took the change was running, and a disabled schedule is
// not meant to fire.
func TestSchedulerCatchUpAfterChange(t *testing.T) {
	e := enginetest.New(t, storetest.OpenSQLite, engine.LauncherConfig{})
	e.Template(t, enginetest.Greet, true)
	ctx := context.Background()
	sc, err := e.Store.CreateSchedule(ctx, "greet", models.Schedule{Cron: "0 * * * *", Enabled: true, Overlap: models.OverlapAllow,
		CatchUp: models.CatchUpAll, Inputs: map[string]any{"who": "catch-up"}}, "otto")
	if err != nil {
		t.Fatal(err)
	}
	off, on := false, true
	if _, err := e.Store.UpdateSchedule(ctx, sc.ID, models.ScheduleUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	changed, err := e.Store.UpdateSchedule(ctx, sc.ID, models.ScheduleUpdate{Enabled: &on})
	if err != nil {
		t.Fatal(err)
	}
	// The last fire was three to four hours before the change.
	base := changed.UpdatedAt.Truncate(time.Hour).Add(-3 * time.Hour)
	fireBefore(t, e, *changed, base)
	fake := clockwork.NewFakeClockAt(base.Add(outage))
	armedScheduler(t, e, fake, schedule.Config{}, sc.ID).CatchUp(ctx)
	wantTimes(t, "all, changed at "+changed.UpdatedAt.Format(time.TimeOnly), firedTimes(t, e, *changed), hours(base, 0, 4, 5))
}

// TestSchedulerCatchUpOverlapSkip: missed times go through the overlap
// policy; the ones it skips are claimed as skipped, so a later start does
// not take them for missed times.
func TestSchedulerCatchUpOverlapSkip(t *testing.T) {
	enginetest.ForEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := enginetest.New(t, open, engine.LauncherConfig{})
		e.Template(t, enginetest.Gate, true)
		ctx := context.Background()
		base := outageBase()
		sc, err := e.Store.CreateSchedule(ctx, "gate", models.Schedule{Cron: "0 * * * *", Enabled: true, Overlap: models.OverlapSkip, CatchUp: models.CatchUpAll}, "otto")
		if err != nil {
			t.Fatal(err)
		}
		if won, err := e.Store.SkipScheduleFire(ctx, sc.ID, base); err != nil || !won {
			t.Fatalf("skip claim: %v, %v", won, err)
		}
		fake := clockwork.NewFakeClockAt(base.Add(outage))
		armedScheduler(t, e, fake, schedule.Config{}, sc.ID).CatchUp(ctx)

		fires, err := e.Store.ScheduleFires(ctx, sc.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		var started, skipped []time.Time
		var busy string
		for _, f := range fires {
			if f.Skipped {
				skipped = append(skipped, f.FireAt)
			} else {
				started, busy = append(started, f.FireAt), f.RunID
			}
		}
		slices.SortFunc(skipped, func(a, b time.Time) int { return a.Compare(b) })
		// The gate run waits for a signal, so it is still going when the
		// later missed times come: each is skipped.
		wantTimes(t, "skip: started", started, hours(base, 1))
		wantTimes(t, "skip: skipped", skipped, hours(base, 0, 2, 3, 4, 5))
		if err := e.Engine.Cancel(ctx, busy); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Launcher.Wait(ctx, busy); err != nil {
			t.Fatal(err)
		}
		armedScheduler(t, e, fake, schedule.Config{}, sc.ID).CatchUp(ctx)
		if n := len(scheduledRuns(t, e, "gate")); n != 1 {
			t.Errorf("after a restart: %d runs; want 1 (skipped times are not missed times)", n)
		}
	})
}

// TestSchedulerCatchUpRace: two instances starting together over one
// database fire each missed time once between them.
func TestSchedulerCatchUpRace(t *testing.T) {
	enginetest.ForEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		e := enginetest.New(t, open, engine.LauncherConfig{})
		e.Template(t, enginetest.Greet, true)
		base := outageBase()
		all := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpAll, base)
		latest := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpLatest, base)
		fake := clockwork.NewFakeClockAt(base.Add(outage))
		a := armedScheduler(t, e, fake, schedule.Config{}, all.ID, latest.ID)
		b := armedScheduler(t, e, fake, schedule.Config{}, all.ID, latest.ID)
		var wg sync.WaitGroup
		for _, s := range []*schedule.Scheduler{a, b} {
			wg.Go(func() { s.CatchUp(context.Background()) })
		}
		wg.Wait()
		wantTimes(t, "all", firedTimes(t, e, all), hours(base, 0, 1, 2, 3, 4, 5))
		wantTimes(t, "latest", firedTimes(t, e, latest), hours(base, 0, 5))
		// Two fires before the outage, six after it.
		if n := len(scheduledRuns(t, e, "greet")); n != 8 {
			t.Errorf("%d scheduled runs; want 8", n)
		}
	})
}

// TestSchedulerStartCatchesUp: Start catches up in the background, for
// two instances started together, and Stop waits for it.
func TestSchedulerStartCatchesUp(t *testing.T) {
	e := enginetest.New(t, storetest.OpenSQLite, engine.LauncherConfig{})
	e.Template(t, enginetest.Greet, true)
	base := outageBase()
	all := catchUpSchedule(t, e, "greet", models.OverlapAllow, models.CatchUpAll, base)
	fake := clockwork.NewFakeClockAt(base.Add(outage))
	a, b := newScheduler(t, e, fake), newScheduler(t, e, fake)
	var wg sync.WaitGroup
	for _, s := range []*schedule.Scheduler{a, b} {
		wg.Go(func() {
			if err := s.Start(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for i := 0; len(scheduledRuns(t, e, "greet")) < 6; i++ {
		if i > 2000 {
			t.Fatal("the missed times were not caught up")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, s := range []*schedule.Scheduler{a, b} {
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
	wantTimes(t, "all", firedTimes(t, e, all), hours(base, 0, 1, 2, 3, 4, 5))
}
