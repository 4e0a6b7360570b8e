package engine_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine/actions"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// A run started from a plan compiled with non-default limits keeps them when
// the engine rebuilds its plan after a restart: Config.Limits.
func TestRecoveredRunKeepsItsLimits(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		lim := engine.Limits{MaxOutputBytes: 100}
		h := newHarness(t, open, func(c *engine.Config) { c.Limits = lim })
		def, err := engine.Parse([]byte(`
id: limits
name: limits
inputs: {blob: {type: string, required: true}}
steps:
  - {id: gate, type: wait, action: {signal: go, timeout: 1h}}
  - {id: big, type: command, dependencies: [gate], action: {kind: set, values: {v: "{{ inputs.blob }}"}}}
`), engine.FormatYAML)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := engine.CompileWithLimits(def, lim)
		if err != nil {
			t.Fatal(err)
		}
		run, err := h.eng.StartRun(t.Context(), plan, engine.RunOptions{Inputs: map[string]any{"blob": strings.Repeat("x", 200)}})
		if err != nil {
			t.Fatal(err)
		}
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "gate"))
		h.restart()
		if err := h.eng.Signal(context.Background(), run.ID, "go", nil); err != nil {
			t.Fatal(err)
		}
		done := h.wait(run.ID)
		// With the default limits (1 MiB) the 200-byte output would pass.
		if e := step(t, done, "big").Error; e == nil || e.Code != engine.CodeOutputLarge {
			t.Errorf("big = %+v; want output_too_large under the run's limits", step(t, done, "big"))
		}
	})
}

// downStore fails every write (and every read, as a database that is down)
// while down is set.
type downStore struct {
	*store.Store
	down atomic.Bool
}

func (d *downStore) ApplyRunWrites(ctx context.Context, w *models.RunWrites) error {
	if d.down.Load() {
		return errors.New("database is down")
	}
	return d.Store.ApplyRunWrites(ctx, w)
}

func (d *downStore) LoadRun(ctx context.Context, id string) (*models.RunSnapshot, error) {
	if d.down.Load() {
		return nil, errors.New("database is down")
	}
	return d.Store.LoadRun(ctx, id)
}

// When commits keep failing, the runs concerned stop (no step starts after
// an uncommitted write), Healthy and the metrics say so, and the runs resume
// from the store once it answers again.
func TestFailedCommitSuspendsTheRunUntilTheStoreRecovers(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		srv := newServer(t)
		ds := &downStore{Store: open(t)}
		reg := prometheus.NewRegistry()
		eng := engine.New(ds, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{
			Logger: slog.New(slog.DiscardHandler), ResumeInterval: 5 * time.Millisecond,
			Metrics: engine.NewMetrics(reg)})
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer eng.Stop(context.Background())
		run, err := eng.StartRun(t.Context(), compile(t, `
id: suspend
name: suspend
steps:
  - {id: gate, type: wait, action: {signal: go, timeout: 1h}}
  - {id: call, type: command, dependencies: [gate], action: {kind: http, url: "`+srv.URL+`/ok/after"}}
`), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool {
			evs, _ := eng.Events(t.Context(), run.ID, 0, 0)
			return slices.ContainsFunc(evs, stepEvent(models.EventStepWaiting, "gate"))
		})
		if err := eng.Healthy(); err != nil {
			t.Fatalf("Healthy before the failure = %v", err)
		}

		ds.down.Store(true)
		if err := eng.Signal(t.Context(), run.ID, "go", nil); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return eng.Healthy() != nil })
		if err := eng.Signal(t.Context(), run.ID, "go", nil); !models.IsCode(err, models.Unavailable) {
			t.Errorf("Signal to a suspended run = %v; want Unavailable", err)
		}
		if _, err := eng.StartRun(t.Context(), compile(t, chainDef(1)), engine.RunOptions{}); !models.IsCode(err, models.Unavailable) {
			t.Errorf("StartRun while the store is down = %v; want Unavailable", err)
		}
		if n := srv.count("/ok/after"); n != 0 {
			t.Fatalf("the step after the uncommitted signal ran %d times", n)
		}
		if v := gauge(t, reg, "baton_suspended_runs"); v < 1 {
			t.Errorf("baton_suspended_runs = %v", v)
		}
		if v := gauge(t, reg, "baton_commit_failures_total"); v < 1 {
			t.Errorf("baton_commit_failures_total = %v", v)
		}

		ds.down.Store(false)
		waitUntil(t, func() bool { return eng.Healthy() == nil })
		// The signal was never committed: the run waits for it again.
		waitUntil(t, func() bool { return eng.Signal(t.Context(), run.ID, "go", nil) == nil })
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		done, err := eng.Wait(ctx, run.ID)
		if err != nil || done.Status != models.RunSucceeded {
			t.Fatalf("after recovery: %v %s", err, dump(done))
		}
		if n := srv.count("/ok/after"); n != 1 {
			t.Errorf("the step after the signal ran %d times; want 1", n)
		}
	})
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// gauge reads one metric's value (a counter or a gauge) from reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Later writes of a run's row leave out its inputs and definition
// (RunRow.Stored); the stored row must still hold them.
func TestRunRowUpdatesKeepInputsAndDefinition(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		run := h.run(`
id: keep
name: keep
inputs: {who: {type: string, required: true}}
steps:
  - {id: a, type: command, action: {kind: set, values: {v: "{{ inputs.who }}"}}}
  - {id: b, type: command, dependencies: [a], action: {kind: log, message: hi}}
`, map[string]any{"who": "ann"})
		if run.Status != models.RunSucceeded {
			t.Fatalf("run: %s", dump(run))
		}
		snap, err := h.st.LoadRun(t.Context(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Run.Inputs["who"] != "ann" || !strings.Contains(string(snap.Run.Definition), `"keep"`) || snap.Run.Seq < 4 {
			t.Errorf("stored row lost its inputs or definition: inputs %v, seq %d, definition %s",
				snap.Run.Inputs, snap.Run.Seq, snap.Run.Definition)
		}
	})
}

// Batch subscriptions see the same events as the store, in order, for every
// run or for one run; a full one is dropped, not waited for.
func TestBatchSubscriptions(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		all := h.eng.SubscribeBatches("", 1000)
		defer all.Close()
		slow := h.eng.SubscribeBatches("", 1)
		other := h.run(chainDef(2), nil) // events of another run, before
		// Parked on a signal, so that subscribing to it cannot come after
		// its end.
		run := h.startRun(signalDef, nil)
		one := h.eng.SubscribeBatches(run.ID, 1000)
		defer one.Close()
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "approval"))
		if err := h.eng.Signal(t.Context(), run.ID, "approve", map[string]any{"by": "ann"}); err != nil {
			t.Fatal(err)
		}
		run = h.wait(run.ID)
		collect := func(c <-chan []models.Event, id string) []models.Event {
			var got []models.Event
			for batch := range c {
				for _, ev := range batch {
					if ev.RunID == id {
						got = append(got, ev)
					}
				}
				if len(got) > 0 && got[len(got)-1].Type == models.EventRunSucceeded {
					return got
				}
			}
			t.Fatalf("subscription ended early: %s", dump(got))
			return nil
		}
		stored, err := h.eng.Events(t.Context(), run.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := collect(all.C, run.ID); dump(got) != dump(stored) {
			t.Errorf("all-runs batches differ from the store:\nbus %s\nstored %s", dump(got), dump(stored))
		}
		// Subscribed after the start: a suffix of the stored events, and
		// nothing of the other run.
		got := collect(one.C, run.ID)
		if len(got) == 0 || dump(got) != dump(stored[len(stored)-len(got):]) {
			t.Errorf("one-run batches = %s", dump(got))
		}
		_ = other
		for range slow.C {
		}
		if !slow.Dropped() {
			t.Errorf("slow batch subscriber not dropped")
		}
		if all.Dropped() {
			t.Errorf("a subscriber that keeps up was dropped")
		}
	})
}

// A parallel element's backoff is a durable timer: after a restart the
// element waits for the rest of its pause instead of retrying at once, and
// retries when the clock reaches the due time.
func TestParallelElementBackoffSurvivesRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := engine.NewFakeClock(t0)
		h := newHarness(t, open, withFakeClock(clock))
		srv := newServer(t)
		run := h.startRun(strings.ReplaceAll(`
id: fanretry
name: fanretry
steps:
  - id: fan
    type: parallel
    retryPolicy: {maxAttempts: 3, initialInterval: 60000, backoffCoefficient: 2, jitter: 0}
    action: {forEach: "[0, 1]", step: {kind: http, url: "{{URL}}/flaky/1/e{{ item }}"}}
`, "{{URL}}", srv.URL), nil)
		parked := func() int {
			snap, err := h.st.LoadRun(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, tm := range snap.Timers {
				if strings.HasPrefix(tm.Kind, models.TimerBackoff+"/") && tm.StepID == "fan" {
					if want := t0.Add(time.Minute); !tm.DueAt.Equal(want) {
						t.Errorf("timer %s due %s; want %s", tm.Kind, tm.DueAt, want)
					}
					n++
				}
			}
			return n
		}
		waitUntil(t, func() bool { return parked() == 2 })
		h.restart()
		// Elements are parked on the heap, not on goroutines, and nothing
		// retries before the due time.
		time.Sleep(50 * time.Millisecond)
		for _, p := range []string{"/flaky/1/e0", "/flaky/1/e1"} {
			if n := srv.count(p); n != 1 {
				t.Fatalf("%s hit %d times before the backoff ended; want 1", p, n)
			}
		}
		clock.Advance(time.Minute)
		done := h.wait(run.ID)
		if s := step(t, done, "fan"); s.Status != models.StepSucceeded {
			t.Fatalf("fan = %s", dump(s))
		}
		for _, p := range []string{"/flaky/1/e0", "/flaky/1/e1"} {
			if n := srv.count(p); n != 2 {
				t.Errorf("%s hit %d times; want 2", p, n)
			}
		}
		if n := parked(); n != 0 {
			t.Errorf("%d element backoff timers left after the run", n)
		}
	})
}

// A step whose completion could not be committed runs again, with the same
// idempotency key, once its run resumes from the store; the step after it
// starts only then.
func TestUncommittedCompletionIsRedoneAfterResume(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		srv := newServer(t)
		ds := &downStore{Store: open(t)}
		eng := engine.New(ds, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{
			Logger: slog.New(slog.DiscardHandler), ResumeInterval: 5 * time.Millisecond})
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer eng.Stop(context.Background())
		run, err := eng.StartRun(t.Context(), compile(t, `
id: redo
name: redo
steps:
  - {id: call, type: command, action: {kind: http, url: "`+srv.URL+`/block"}}
  - {id: after, type: command, dependencies: [call], action: {kind: http, url: "`+srv.URL+`/ok/after"}}
`), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		waitUntil(t, func() bool { return srv.count("/block") == 1 })
		ds.down.Store(true)
		close(srv.release) // the call completes; its write fails
		waitUntil(t, func() bool { return eng.Healthy() != nil })
		if n := srv.count("/ok/after"); n != 0 {
			t.Fatalf("the next step started after an uncommitted completion (%d hits)", n)
		}
		ds.down.Store(false)
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		var done models.Run
		waitUntil(t, func() bool {
			done, err = eng.Wait(ctx, run.ID)
			return err == nil && done.Status.Final()
		})
		if done.Status != models.RunSucceeded {
			t.Fatalf("after resume: %s", dump(done))
		}
		srv.mu.Lock()
		keys := srv.keys["/block"]
		srv.mu.Unlock()
		if srv.count("/block") != 2 || len(keys) != 1 {
			t.Errorf("call: %d hits with keys %v; want 2 with one idempotency key", srv.count("/block"), keys)
		}
		if n := srv.count("/ok/after"); n != 1 {
			t.Errorf("after ran %d times; want 1", n)
		}
		if err := eng.Healthy(); err != nil {
			t.Errorf("Healthy after recovery = %v", err)
		}
	})
}

// Cancelling a run while parallel elements wait out a backoff ends them at
// once (no retry) and removes their durable timers.
func TestCancelWhileElementsBackOff(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := engine.NewFakeClock(t0)
		h := newHarness(t, open, withFakeClock(clock))
		srv := newServer(t)
		run := h.startRun(strings.ReplaceAll(`
id: fancancel
name: fancancel
steps:
  - id: fan
    type: parallel
    retryPolicy: {maxAttempts: 3, initialInterval: 60000, jitter: 0}
    action: {forEach: "[0, 1]", step: {kind: http, url: "{{URL}}/status/503"}}
`, "{{URL}}", srv.URL), nil)
		timers := func() int {
			snap, err := h.st.LoadRun(t.Context(), run.ID)
			if err != nil {
				t.Fatal(err)
			}
			return len(snap.Timers)
		}
		waitUntil(t, func() bool { return timers() == 2 })
		if err := h.eng.Cancel(t.Context(), run.ID); err != nil {
			t.Fatal(err)
		}
		done := h.wait(run.ID)
		if done.Status != models.RunCancelled {
			t.Errorf("run = %s; want cancelled", done.Status)
		}
		if n := srv.count("/status/503"); n != 2 {
			t.Errorf("%d attempts; want 2 (no retry after the cancel)", n)
		}
		if n := timers(); n != 0 {
			t.Errorf("%d timers left after the cancel", n)
		}
	})
}
