package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of schedules and their claimed fire times.

func exerciseSchedules(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	MustCreateTemplate(t, st, "reports", "dana")

	sc, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: " 0 9 * * 1-5 ", TimeZone: "Europe/Berlin", Enabled: true,
		Inputs: map[string]any{"region": "eu", "n": 3.0}}, "dana")
	must(t, err, "create")
	if sc.ID == 0 || sc.Template != "orders" || sc.Cron != "0 9 * * 1-5" || sc.TimeZone != "Europe/Berlin" || !sc.Enabled ||
		sc.Overlap != models.OverlapSkip || sc.Inputs["region"] != "eu" || sc.CreatedBy != "dana" || sc.LastFireAt != nil {
		t.Errorf("created = %+v", sc)
	}
	off, err := st.CreateSchedule(ctx, "reports", models.Schedule{Cron: "@hourly", Overlap: models.OverlapAllow}, "dana")
	must(t, err, "create disabled")
	if off.TimeZone != "UTC" || off.Enabled || off.Inputs == nil || off.Overlap != models.OverlapAllow {
		t.Errorf("defaults = %+v", off)
	}

	for _, c := range []struct {
		sc   models.Schedule
		want string
	}{
		{models.Schedule{Cron: ""}, "cron expression"},
		{models.Schedule{Cron: "* * *"}, "3 fields"},
		{models.Schedule{Cron: "* * * * *", TimeZone: "Mars/Olympus"}, "unknown time zone"},
		{models.Schedule{Cron: "* * * * *", Overlap: "queue"}, "overlap policy"},
	} {
		_, err := st.CreateSchedule(ctx, "orders", c.sc, "dana")
		wantErr(t, err, models.Invalid, fmt.Sprintf("create %+v", c.sc), c.want)
	}
	_, err = st.CreateSchedule(ctx, "nope", models.Schedule{Cron: "* * * * *"}, "dana")
	wantErr(t, err, models.NotFound, "unknown template")
	_, err = st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "* * * * *"}, "")
	wantErr(t, err, models.Invalid, "no creator")

	got, err := st.Schedule(ctx, sc.ID)
	must(t, err, "get")
	if got.Cron != sc.Cron || !got.CreatedAt.Equal(sc.CreatedAt) || got.Inputs["n"] != 3.0 {
		t.Errorf("Schedule = %+v, want %+v", got, sc)
	}
	_, err = st.Schedule(ctx, 999)
	wantErr(t, err, models.NotFound, "unknown schedule", "schedule 999")

	all, err := st.ListSchedules(ctx, "", false)
	must(t, err, "list all")
	enabled, err := st.ListSchedules(ctx, "", true)
	must(t, err, "list enabled")
	mine, err := st.ListSchedules(ctx, "reports", false)
	must(t, err, "list reports")
	if len(all) != 2 || len(enabled) != 1 || enabled[0].ID != sc.ID || len(mine) != 1 || mine[0].ID != off.ID {
		t.Errorf("lists: all %d, enabled %+v, reports %+v", len(all), enabled, mine)
	}
	_, err = st.ListSchedules(ctx, "nope", false)
	wantErr(t, err, models.NotFound, "list unknown template")

	cron, tz, on, allow := "*/5 * * * *", "", true, models.OverlapAllow
	inputs := map[string]any(nil)
	up, err := st.UpdateSchedule(ctx, off.ID, models.ScheduleUpdate{Cron: &cron, TimeZone: &tz, Enabled: &on, Overlap: &allow, Inputs: &inputs})
	must(t, err, "update")
	if up.Cron != cron || up.TimeZone != "UTC" || !up.Enabled || up.Inputs == nil || up.UpdatedAt.Before(off.UpdatedAt) {
		t.Errorf("updated = %+v", up)
	}
	same, err := st.UpdateSchedule(ctx, off.ID, models.ScheduleUpdate{})
	must(t, err, "empty update")
	if !same.UpdatedAt.Equal(up.UpdatedAt) {
		t.Errorf("an empty update changed UpdatedAt")
	}
	bad, badTZ, badOverlap := "nope", "Nowhere/Land", models.OverlapPolicy("x")
	for _, u := range []models.ScheduleUpdate{{Cron: &bad}, {TimeZone: &badTZ}, {Overlap: &badOverlap}} {
		_, err = st.UpdateSchedule(ctx, off.ID, u)
		wantErr(t, err, models.Invalid, "bad update")
	}
	_, err = st.UpdateSchedule(ctx, 999, models.ScheduleUpdate{Enabled: &on})
	wantErr(t, err, models.NotFound, "update unknown")

	must(t, st.DeleteSchedule(ctx, off.ID), "delete")
	wantErr(t, st.DeleteSchedule(ctx, off.ID), models.NotFound, "delete again")
}

func exerciseClaimScheduleFire(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	sc, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "* * * * *", Enabled: true}, "dana")
	must(t, err, "create")
	zone := time.FixedZone("CET", 3600)
	fire := time.Date(2026, 11, 27, 10, 0, 0, 0, zone)

	_, err = st.LastScheduleFire(ctx, sc.ID)
	wantErr(t, err, models.NotFound, "never fired")

	// Racing instances: exactly one wins each fire time.
	const n = 8
	var wg sync.WaitGroup
	wins := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { wins[i], errs[i] = st.ClaimScheduleFire(ctx, sc.ID, fire) })
	}
	wg.Wait()
	won := 0
	for i := range n {
		must(t, errs[i], "claim")
		if wins[i] {
			won++
		}
	}
	if won != 1 {
		t.Fatalf("%d of %d racing claims won, want 1", won, n)
	}
	// The same instant in another zone is the same fire (a restart).
	again, err := st.ClaimScheduleFire(ctx, sc.ID, fire.UTC())
	must(t, err, "claim after restart")
	if again {
		t.Error("a fire claimed before was won again")
	}
	next, err := st.ClaimScheduleFire(ctx, sc.ID, fire.Add(time.Minute))
	must(t, err, "next minute")
	if !next {
		t.Error("the next fire time was not won")
	}
	// An older fire noticed late does not move LastFireAt back.
	late, err := st.ClaimScheduleFire(ctx, sc.ID, fire.Add(-time.Minute))
	must(t, err, "late claim")
	if !late {
		t.Error("an unclaimed older fire time was not won")
	}
	got, err := st.Schedule(ctx, sc.ID)
	must(t, err, "reload")
	if got.LastFireAt == nil || !got.LastFireAt.Equal(fire.Add(time.Minute)) {
		t.Errorf("LastFireAt = %v, want %v", got.LastFireAt, fire.Add(time.Minute))
	}

	must(t, st.SetScheduleFireRun(ctx, sc.ID, fire.Add(time.Minute), "01RUN"), "set run")
	wantErr(t, st.SetScheduleFireRun(ctx, sc.ID, fire.Add(time.Hour), "01RUN"), models.NotFound, "set run of unclaimed fire")
	last, err := st.LastScheduleFire(ctx, sc.ID)
	must(t, err, "last fire")
	if !last.FireAt.Equal(fire.Add(time.Minute)) || last.RunID != "01RUN" || last.ScheduleID != sc.ID || last.ClaimedAt.IsZero() {
		t.Errorf("last fire = %+v", last)
	}

	// A disabled schedule never wins; an unknown one is NotFound.
	off := false
	_, err = st.UpdateSchedule(ctx, sc.ID, models.ScheduleUpdate{Enabled: &off})
	must(t, err, "disable")
	w, err := st.ClaimScheduleFire(ctx, sc.ID, fire.Add(2*time.Minute))
	must(t, err, "claim while disabled")
	if w {
		t.Error("a disabled schedule won a claim")
	}
	_, err = st.ClaimScheduleFire(ctx, 999, fire)
	wantErr(t, err, models.NotFound, "claim unknown schedule")
	_, err = st.ClaimScheduleFire(ctx, sc.ID, time.Time{})
	wantErr(t, err, models.Invalid, "zero fire time")

	pruned, err := st.PruneScheduleFires(ctx, time.Now().Add(time.Hour))
	must(t, err, "prune")
	if pruned != 3 {
		t.Errorf("pruned %d fires, want 3", pruned)
	}
}

func exerciseScheduleCatchUpPolicy(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	plain, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "@hourly", Enabled: true}, "dana")
	must(t, err, "create without a policy")
	if plain.CatchUp != models.CatchUpNone {
		t.Errorf("default catch-up = %q, want none", plain.CatchUp)
	}
	all, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "@hourly", Enabled: true, CatchUp: models.CatchUpAll}, "dana")
	must(t, err, "create with all")
	got, err := st.Schedule(ctx, all.ID)
	must(t, err, "get")
	if got.CatchUp != models.CatchUpAll {
		t.Errorf("stored catch-up = %q, want all", got.CatchUp)
	}
	latest := models.CatchUpLatest
	changed, err := st.UpdateSchedule(ctx, all.ID, models.ScheduleUpdate{CatchUp: &latest})
	must(t, err, "update")
	listed, err := st.ListSchedules(ctx, "orders", true)
	must(t, err, "list")
	if changed.CatchUp != latest || len(listed) != 2 || listed[1].CatchUp != latest {
		t.Errorf("after the update: %+v, listed %+v", changed, listed)
	}

	_, err = st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "@hourly", CatchUp: "everything"}, "dana")
	wantErr(t, err, models.Invalid, "create with an unknown policy", "catch-up policy", "everything")
	if d := models.ErrorDetails(err); len(d) != 1 || d[0].Path != "catchUp" {
		t.Errorf("problems = %+v, want one at catchUp", d)
	}
	bad := models.CatchUpPolicy("ALL")
	_, err = st.UpdateSchedule(ctx, all.ID, models.ScheduleUpdate{CatchUp: &bad})
	wantErr(t, err, models.Invalid, "update with an unknown policy", "catch-up policy")
	got, err = st.Schedule(ctx, all.ID)
	must(t, err, "get after the refused update")
	if got.CatchUp != latest {
		t.Errorf("a refused update changed the policy to %q", got.CatchUp)
	}
}

// exerciseSkippedScheduleFires: a time skipped by the overlap policy is claimed
// once, listed as skipped, and neither moves LastFireAt nor counts as the
// last fire; claims leave UpdatedAt, the time of the last change, alone.
func exerciseSkippedScheduleFires(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	sc, err := st.CreateSchedule(ctx, "orders", models.Schedule{Cron: "* * * * *", Enabled: true}, "dana")
	must(t, err, "create")
	fire := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

	won, err := st.ClaimScheduleFire(ctx, sc.ID, fire)
	must(t, err, "claim")
	must(t, st.SetScheduleFireRun(ctx, sc.ID, fire, "01RUN"), "set run")
	// Racing instances: one wins the skip.
	const n = 4
	var wg sync.WaitGroup
	wins := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { wins[i], errs[i] = st.SkipScheduleFire(ctx, sc.ID, fire.Add(time.Minute)) })
	}
	wg.Wait()
	skips := 0
	for i := range n {
		must(t, errs[i], "skip")
		if wins[i] {
			skips++
		}
	}
	if !won || skips != 1 {
		t.Fatalf("claim won %v, %d of %d skips won; want true and 1", won, skips, n)
	}
	if again, err := st.ClaimScheduleFire(ctx, sc.ID, fire.Add(time.Minute)); err != nil || again {
		t.Errorf("a skipped time was claimed again: %v, %v", again, err)
	}

	got, err := st.Schedule(ctx, sc.ID)
	must(t, err, "get")
	if got.LastFireAt == nil || !got.LastFireAt.Equal(fire) || !got.UpdatedAt.Equal(sc.UpdatedAt) {
		t.Errorf("LastFireAt = %v (want %v), UpdatedAt = %v (want %v)", got.LastFireAt, fire, got.UpdatedAt, sc.UpdatedAt)
	}
	last, err := st.LastScheduleFire(ctx, sc.ID)
	must(t, err, "last fire")
	if !last.FireAt.Equal(fire) || last.RunID != "01RUN" || last.Skipped {
		t.Errorf("last fire = %+v, want the one at %v with its run", last, fire)
	}
	fires, err := st.ScheduleFires(ctx, sc.ID, 10)
	must(t, err, "fires")
	if len(fires) != 2 || !fires[0].FireAt.Equal(fire.Add(time.Minute)) || !fires[0].Skipped || fires[0].RunID != "" ||
		!fires[1].FireAt.Equal(fire) || fires[1].Skipped || fires[1].RunID != "01RUN" || fires[1].ClaimedAt.IsZero() {
		t.Errorf("fires = %+v", fires)
	}
	if one, err := st.ScheduleFires(ctx, sc.ID, 1); err != nil || len(one) != 1 || !one[0].Skipped {
		t.Errorf("latest fire = %+v, %v; want the skipped one", one, err)
	}
	_, err = st.ScheduleFires(ctx, 999, 10)
	wantErr(t, err, models.NotFound, "fires of an unknown schedule")
	_, err = st.SkipScheduleFire(ctx, 999, fire)
	wantErr(t, err, models.NotFound, "skip of an unknown schedule")
}
