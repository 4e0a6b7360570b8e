package engine_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/jonboulle/clockwork"
)

// heldStore is a real store whose next commit that finishes an element of
// a parallel step waits until released: elements that finish meanwhile
// queue up behind it and reach the store in one commit.
type heldStore struct {
	engine.Store
	mu      sync.Mutex
	armed   bool
	holding chan struct{} // closed when a commit is held
	release chan struct{}
	held    int // the finished elements in the held commit
}

func (s *heldStore) ApplyRunWrites(ctx context.Context, w *models.RunWrites) error {
	s.mu.Lock()
	hold := s.armed && finishedElements(w) > 0
	if hold {
		s.armed = false
		s.held = finishedElements(w)
		close(s.holding)
	}
	s.mu.Unlock()
	if hold {
		<-s.release
	}
	return s.Store.ApplyRunWrites(ctx, w)
}

func finishedElements(w *models.RunWrites) int {
	n := 0
	for _, r := range w.StepRuns {
		if r.Item >= 0 && r.Status.Final() {
			n++
		}
	}
	return n
}

// A forEach's elements send step.progress events whose counts only rise,
// end at the step's output before the step's own event, and are coalesced:
// fifty elements finishing while one commit is in progress cost two events,
// not fifty. The events are not stored.
func TestParallelProgressEvents(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		srv := newServer(t)
		st := &heldStore{Store: open(t), holding: make(chan struct{}), release: make(chan struct{})}
		eng := engine.New(st, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{Rand: func() float64 { return 0.5 }})
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := eng.Stop(ctx); err != nil {
				t.Errorf("Stop: %v", err)
			}
		})
		// A failing test must not leave the writer held: Stop waits for it.
		var releaseOnce sync.Once
		letGo := func() { releaseOnce.Do(func() { close(st.release) }) }
		t.Cleanup(letGo)
		sub := eng.Subscribe("", 4096)
		defer sub.Close()
		const n = 50
		run, err := eng.StartRun(t.Context(), compile(t, strings.ReplaceAll(`
id: progress
name: progress
steps:
  - id: fan
    type: parallel
    action: {forEach: "1..50", step: {kind: http, url: "{{URL}}/block"}}
  - {id: after, type: command, dependencies: [fan], action: {kind: log, message: done}}
`, "{{URL}}", srv.URL)), engine.RunOptions{Trigger: models.TriggerAPI})
		if err != nil {
			t.Fatal(err)
		}
		// Every element is in its request; hold the first commit that
		// finishes one, let them all finish, and release the commit once
		// the step's result waits behind it. The writer's queue then holds
		// one write per element not in the held commit, at most one
		// progress snapshot sent while elements finished, and, once the
		// last has, the final snapshot and the step's result: more than
		// that many writes mean every element has finished (as does a held
		// commit that carries them all).
		eventually(t, "every element to be running", func() bool { return srv.inFlight.Load() == n })
		st.mu.Lock()
		st.armed = true
		st.mu.Unlock()
		close(srv.release)
		select {
		case <-st.holding:
		case <-time.After(20 * time.Second):
			t.Fatal("no commit finished an element")
		}
		var writes int
		eventually(t, "every element to finish behind the held commit", func() bool {
			_, writes = eng.QueueDepth()
			return st.held == n || writes >= n-st.held+2
		}, func() string { return fmt.Sprintf("%d writes queued, %d elements in the held commit", writes, st.held) })
		letGo()

		var progress []models.Event
		var order []string
		untilRunEnds(t, sub, run.ID, func(ev models.Event) {
			if ev.StepID == "fan" {
				order = append(order, ev.Type)
			}
			if ev.Type == models.EventStepProgress {
				progress = append(progress, ev)
			}
		})
		if len(progress) == 0 {
			t.Fatalf("no step.progress events; fan's events: %v", order)
		}
		for i, ev := range progress {
			p := ev.Progress
			if p == nil || p.Items != n || ev.StepID != "fan" || ev.Status != "running" || ev.Attempt != 1 {
				t.Fatalf("progress event %d = %s", i, dump(ev))
			}
			if i > 0 {
				prev := progress[i-1].Progress
				if p.Succeeded < prev.Succeeded || p.Failed < prev.Failed || p.Succeeded+p.Failed <= prev.Succeeded+prev.Failed {
					t.Errorf("counts did not rise: %+v after %+v", *p, *prev)
				}
			}
		}
		if last := progress[len(progress)-1].Progress; *last != (models.ItemProgress{Items: n, Succeeded: n}) {
			t.Errorf("last progress = %+v; want all %d succeeded", *last, n)
		}
		// One snapshot when the first element finished, one with the rest
		// once the held commit went through.
		if len(progress) > 2 {
			t.Errorf("%d progress events for %d elements that finished in one commit; want at most 2: %s", len(progress), n, dump(progress))
		}
		if i := len(order) - 1; order[i] != models.EventStepSucceeded || order[i-1] != models.EventStepProgress {
			t.Errorf("fan's events end %v; want the last progress just before step.succeeded", order)
		}
		stored, err := eng.Events(t.Context(), run.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range stored {
			if ev.Type == models.EventStepProgress {
				t.Fatalf("a progress event was stored: %s", dump(ev))
			}
		}
		done, err := eng.Wait(t.Context(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if out := step(t, done, "fan").Output.(map[string]any); out["succeeded"] != n && out["succeeded"] != float64(n) {
			t.Errorf("output = %v", out)
		}
	})
}

// A restarted forEach counts the elements that finished before the restart:
// its first progress event after it already includes them.
func TestParallelProgressCountsPriorElements(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
		h := newHarness(t, open, withFakeClock(clock))
		srv := newServer(t)
		// Element 0 succeeds at once; 1 and 2 fail once and wait a minute.
		run := h.startRun(strings.ReplaceAll(`
id: progress2
name: progress2
steps:
  - id: fan
    type: parallel
    retryPolicy: {maxAttempts: 2, initialInterval: 60000, jitter: 0}
    action: {forEach: "[0, 1, 2]", step: {kind: http, url: "{{URL}}/flaky/{{ item == 0 ? 0 : 1 }}/e{{ item }}"}}
`, "{{URL}}", srv.URL), nil)
		eventually(t, "two elements to wait for their retry", func() bool {
			snap, err := h.st.LoadRun(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			return len(snap.Timers) == 2
		})
		h.restart()
		sub := h.eng.Subscribe(run.ID, 256)
		defer sub.Close()
		clock.Advance(time.Minute)
		var got []models.ItemProgress
		untilRunEnds(t, sub, run.ID, func(ev models.Event) {
			if ev.Type == models.EventStepProgress {
				got = append(got, *ev.Progress)
			}
		})
		if len(got) == 0 || got[0].Items != 3 || got[0].Succeeded < 2 || got[len(got)-1] != (models.ItemProgress{Items: 3, Succeeded: 3}) {
			t.Errorf("progress after the restart = %+v; want element 0 counted from the first event on, ending at 3 succeeded", got)
		}
	})
}

// untilRunEnds hands each event of run from sub to each, up to and
// including the run's final event (or until sub is dropped). A run that
// has not ended within 30 s fails the test instead of hanging it.
func untilRunEnds(t *testing.T, sub *engine.Subscription, run string, each func(models.Event)) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			if ev.RunID != run {
				continue
			}
			each(ev)
			switch ev.Type {
			case models.EventRunSucceeded, models.EventRunFailed, models.EventRunCancelled, models.EventRunTimedOut:
				return
			}
		case <-deadline:
			t.Fatalf("run %s did not finish within 30 s", run)
		}
	}
}

// eventually polls cond; the test fails when it never holds.
func eventually(t *testing.T, what string, cond func() bool, state ...func() string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			for _, f := range state {
				what += " (" + f() + ")"
			}
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// BenchmarkForEachProgress runs one forEach of 10,000 set elements per
// iteration and reports the step.progress events it sent (progress-events),
// which coalescing keeps far below the number of elements.
func BenchmarkForEachProgress(b *testing.B) {
	benchDBs(b, func(b *testing.B, open func(testing.TB) *store.Store) {
		eng := benchEngine(b, open, engine.Config{})
		compiled := compile(b, `
id: each-10k
name: each
steps:
  - id: fan
    type: parallel
    action: {forEach: "1..10000", step: {kind: set, values: {n: "{{ item }}"}}}
`)
		sub := eng.Subscribe("", 1<<16)
		defer sub.Close()
		var events atomic.Int64
		go func() {
			for ev := range sub.C {
				if ev.Type == models.EventStepProgress {
					events.Add(1)
				}
			}
		}()
		b.ResetTimer()
		for range b.N {
			run, err := eng.StartRun(context.Background(), compiled, engine.RunOptions{Trigger: models.TriggerAPI})
			if err != nil {
				b.Fatal(err)
			}
			if run, err = eng.Wait(context.Background(), run.ID); err != nil || run.Status != models.RunSucceeded {
				b.Fatalf("run = %s, %v", run.Status, err)
			}
		}
		b.StopTimer()
		time.Sleep(50 * time.Millisecond) // the last events reach the counter
		b.ReportMetric(float64(events.Load())/float64(b.N), "progress-events/run")
	})
}
