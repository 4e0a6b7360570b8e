package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/enginetest"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// instance is one `baton serve` over a shared database: its own store
// connection, engine and launcher.
func instance(t *testing.T, url string, maxActive int) *enginetest.Env {
	t.Helper()
	st, err := store.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() }) // after the engine stops (cleanups run last first)
	return enginetest.Wire(t, st, st, engine.LauncherConfig{MaxActiveRuns: maxActive})
}

// sharedDatabases returns, per database, the URL of a fresh migrated
// database that several instances can open.
func sharedDatabases(t *testing.T) map[string]string {
	out := map[string]string{"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "baton.db")}
	for _, db := range storetest.Databases(t) {
		if db.Name == "postgres" {
			out["postgres"] = storetest.CreatePostgresDatabase(t)
		}
	}
	return out
}

// The active-run limit holds across instances sharing one database: many
// starts at once, from two engines, admit exactly the limit.
func TestActiveLimitAcrossInstances(t *testing.T) {
	for name, url := range sharedDatabases(t) {
		t.Run(name, func(t *testing.T) {
			const limit, starts = 7, 60
			a := instance(t, url, limit)
			b := instance(t, url, limit)
			a.Template(t, enginetest.Gate, true)
			ctx := context.Background()
			var mu sync.Mutex
			var started []string
			busy := 0
			var wg sync.WaitGroup
			for i := range starts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := a.Launcher
					if i%2 == 1 {
						l = b.Launcher
					}
					run, err := l.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						started = append(started, run.ID)
					case models.IsCode(err, models.Busy):
						busy++
					default:
						t.Errorf("start: %v", err)
					}
				}()
			}
			wg.Wait()
			if len(started) != limit || busy != starts-limit {
				t.Fatalf("%d started, %d refused as busy; want %d and %d", len(started), busy, limit, starts-limit)
			}
			if n, err := a.Store.ActiveRuns(ctx, "gate"); err != nil || n != limit {
				t.Fatalf("counter = %d, %v; want %d", n, err, limit)
			}
			// Cancelling frees room; each run is cancelled by whichever
			// instance holds it.
			for _, id := range started {
				if err := a.Engine.Cancel(ctx, id); err != nil {
					if err := b.Engine.Cancel(ctx, id); err != nil {
						t.Fatalf("cancel %s: %v", id, err)
					}
				}
			}
			waitCounter(t, a.Store, "gate", 0)
			if _, err := b.Launcher.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true}); err != nil {
				t.Fatalf("after the cancels: %v", err)
			}
			checkCounters(t, a.Store)
		})
	}
}

func waitCounter(t *testing.T, st *store.Store, template string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := st.ActiveRuns(context.Background(), template)
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("counter of %q = %d; want %d", template, n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkCounters compares every template's counter with a COUNT(*).
func checkCounters(t *testing.T, st *store.Store) {
	t.Helper()
	counters, counted, err := st.ActiveRunCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(counters) != len(counted) {
		t.Fatalf("counters %v; COUNT(*) says %v", counters, counted)
	}
	for k, n := range counted {
		if counters[k] != n {
			t.Fatalf("counters %v; COUNT(*) says %v", counters, counted)
		}
	}
}

const launchBoom = `{"id":"boom","name":"Boom","steps":[{"id":"x","type":"command","action":{"kind":"fail","message":"boom"}}]}`

// After a mixed workload (starts that succeed, fail, wait and are
// cancelled, retries, reruns, child runs, test runs, two instances) each
// template's counter equals COUNT(*) of its unfinished runs.
func TestActiveCounterMatchesCount(t *testing.T) {
	for name, url := range sharedDatabases(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e := instance(t, url, 100)
			// A second instance shares the database (started first: an
			// instance starting later would recover the first one's runs).
			f := instance(t, url, 100)
			e.Template(t, enginetest.Greet, true)
			e.Template(t, enginetest.Gate, true)
			e.Template(t, enginetest.Parent, true)
			e.Template(t, launchBoom, true)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var gates, booms, others []string
			for i := range 40 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var req models.RunRequest
					switch i % 4 {
					case 0:
						req = models.RunRequest{Template: "greet", Inputs: map[string]any{"who": "x"}, AllowApproved: true}
					case 1:
						req = models.RunRequest{Template: "gate", AllowApproved: true}
					case 2:
						req = models.RunRequest{Template: "parent", AllowApproved: true}
					case 3:
						req = models.RunRequest{Template: "boom", AllowApproved: true}
					}
					run, err := e.Launcher.Start(ctx, req)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					defer mu.Unlock()
					switch i % 4 {
					case 1:
						gates = append(gates, run.ID)
					case 3:
						booms = append(booms, run.ID)
					default:
						others = append(others, run.ID)
					}
				}()
			}
			wg.Wait()
			for _, id := range booms {
				if _, err := e.Launcher.Wait(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			// Retries make failed runs active again; reruns start new ones.
			for _, id := range booms[:3] {
				if _, err := e.Launcher.Retry(ctx, id, operator); err != nil {
					t.Fatal(err)
				}
			}
			rerun, err := e.Launcher.Rerun(ctx, booms[3], models.RerunRequest{By: operator})
			if err != nil {
				t.Fatal(err)
			}
			others = append(others, rerun.ID)
			others = append(others, booms...)
			if _, err := e.Launcher.Rerun(ctx, gates[0], models.RerunRequest{By: operator}); err != nil {
				t.Fatal(err)
			}
			for _, id := range gates[:5] {
				if err := e.Engine.Cancel(ctx, id); err != nil {
					t.Fatal(err)
				}
			}
			// A test run of a draft counts too.
			if _, err := e.Store.SaveDraft(ctx, "gate", mustParse(t, enginetest.Gate), "dana"); err != nil {
				t.Fatal(err)
			}
			if _, err := e.Launcher.Start(ctx, models.RunRequest{Template: "gate", Version: 2, AllowDraft: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Launcher.Start(ctx, models.RunRequest{Template: "gate", AllowApproved: true}); err != nil {
				t.Fatal(err)
			}
			// Everything but the waiting gates finishes; then compare.
			wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			for _, id := range others {
				if _, err := e.Launcher.Wait(wctx, id); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range gates[:5] {
				if _, err := e.Launcher.Wait(wctx, id); err != nil {
					t.Fatal(err)
				}
			}
			_, counted, err := e.Store.ActiveRunCounts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// 5 of 10 gates cancelled, a gate rerun, a draft's test run and
			// one start on the second instance still wait.
			if counted["gate"] != 8 || len(counted) != 1 {
				t.Errorf("unfinished runs by template: %v; want 8 gates only", counted)
			}
			checkCounters(t, e.Store)
		})
	}
}

// BenchmarkLaunchHistory measures a start (admission included) and the run
// of a one-step template to its end, on a fresh database and on one that
// already holds 100,000 finished runs of the same template: the start path
// must not grow with the history.
//
//	go test -run '^$' -bench LaunchHistory ./engine/
func BenchmarkLaunchHistory(b *testing.B) {
	for _, db := range storetest.Databases(b) {
		for _, history := range []int{0, 100_000} {
			b.Run(fmt.Sprintf("%s/history=%d", db.Name, history), func(b *testing.B) {
				st := db.Open(b)
				ctx := context.Background()
				if history > 0 {
					if _, err := st.FillHistory(ctx, store.HistoryOptions{Runs: history, Steps: 1, Templates: []string{"greet"}}); err != nil {
						b.Fatal(err)
					}
				}
				e := enginetest.Wire(b, st, st, engine.LauncherConfig{})
				l := e.Launcher
				e.Template(b, enginetest.Greet, true)
				in := map[string]any{"who": "bench"}
				b.ResetTimer()
				for b.Loop() {
					run, err := l.Start(ctx, models.RunRequest{Template: "greet", Inputs: in, AllowApproved: true})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := l.Wait(ctx, run.ID); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
