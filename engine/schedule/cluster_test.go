package schedule_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/baton-run/baton/cluster"
	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/enginetest"
	"github.com/baton-run/baton/engine/schedule"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// clusterScheduler is one instance's engine and scheduler on a database
// shared with others, resyncing only hourly: what it learns sooner comes
// from the cluster bus.
func clusterScheduler(t *testing.T, url string) (*enginetest.Env, *schedule.Scheduler) {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	bus, err := cluster.NewPostgres(context.Background(), url, st.SQLDB(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(); _ = st.Close() })
	e := enginetest.WireEngine(t, st, st, engine.Config{Cluster: bus}, engine.LauncherConfig{})
	s, err := schedule.New(st, e.Launcher, schedule.Config{Logger: slog.New(slog.DiscardHandler), ResyncEvery: time.Hour, Cluster: bus})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return e, s
}

// A schedule created, paused or deleted through one instance is armed or
// disarmed on the others at once, not at their next resync.
func TestScheduleChangesReachEveryInstance(t *testing.T) {
	url := storetest.CreatePostgresDatabase(t)
	_, a := clusterScheduler(t, url)
	eb, b := clusterScheduler(t, url)
	eb.Template(t, enginetest.Greet, true)
	armed := func(s *schedule.Scheduler, id int64, want bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			_, err := s.NextFires(id, 1)
			if (err == nil) == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("schedule %d armed = %v; want %v", id, err == nil, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	sc := createSchedule(t, eb, "greet", "0 9 * * *", "UTC", models.OverlapSkip, nil)
	if err := b.Reload(t.Context(), sc.ID); err != nil {
		t.Fatal(err)
	}
	armed(b, sc.ID, true)
	armed(a, sc.ID, true)

	off := false
	if _, err := eb.Store.UpdateSchedule(t.Context(), sc.ID, models.ScheduleUpdate{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(t.Context(), sc.ID); err != nil {
		t.Fatal(err)
	}
	armed(a, sc.ID, false)

	on := true
	if _, err := eb.Store.UpdateSchedule(t.Context(), sc.ID, models.ScheduleUpdate{Enabled: &on}); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(t.Context(), sc.ID); err != nil {
		t.Fatal(err)
	}
	armed(a, sc.ID, true)
	if err := eb.Store.DeleteSchedule(t.Context(), sc.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.Reload(t.Context(), sc.ID); err != nil {
		t.Fatal(err)
	}
	armed(a, sc.ID, false)
}
