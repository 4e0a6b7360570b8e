package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func TestMetricsAndProcessLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		reg := prometheus.NewRegistry()
		m := engine.NewMetrics(reg)
		h := newHarness(t, open, func(c *engine.Config) { c.Metrics = m; c.MaxActions = 1 })
		srv := newServer(t)
		run := h.run(strings.ReplaceAll(`
id: metrics
name: metrics
errorHandling: {strategy: continue}
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/slow/20"}}
  - {id: b, type: command, action: {kind: http, url: "{{URL}}/slow/20"}}
  - {id: c, type: command, retryPolicy: {maxAttempts: 2, initialInterval: 1}, action: {kind: http, url: "{{URL}}/flaky/1/c"}}
  - {id: d, type: command, action: {kind: fail, message: x}}
`, "{{URL}}", srv.URL), nil)
		if run.Status != models.RunFailed {
			t.Fatalf("status = %s", run.Status)
		}
		if n := srv.maxIn.Load(); n != 1 {
			t.Errorf("max concurrent actions = %d; want 1 (MaxActions)", n)
		}
		checks := map[string]float64{
			"baton_runs_started_total":  1,
			"baton_steps_started_total": 5,
			"baton_step_retries_total":  1,
			"baton_active_runs":         0,
		}
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]float64{}
		for _, mf := range mfs {
			for _, mm := range mf.GetMetric() {
				switch {
				case mm.Counter != nil:
					got[mf.GetName()] += mm.Counter.GetValue()
				case mm.Gauge != nil:
					got[mf.GetName()] += mm.Gauge.GetValue()
				case mm.Histogram != nil:
					got[mf.GetName()+"_count"] += float64(mm.Histogram.GetSampleCount())
				}
			}
		}
		for name, want := range checks {
			if got[name] != want {
				t.Errorf("%s = %v; want %v", name, got[name], want)
			}
		}
		if got["baton_commit_batch_size_count"] == 0 || got["baton_run_duration_seconds_count"] != 1 {
			t.Errorf("histograms = %v", got)
		}
		if got["baton_runs_finished_total"] != 1 {
			t.Errorf("runs_finished = %v; want 1", got["baton_runs_finished_total"])
		}
		if a, w := h.eng.QueueDepth(); a != 0 || w != 0 {
			t.Errorf("QueueDepth = %d, %d; want 0, 0 when idle", a, w)
		}
	})
}

func TestStopLeavesRunsResumable(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		srv := newServer(t)
		run := h.startRun(strings.ReplaceAll(`
id: stop
name: stop
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/block"}}
`, "{{URL}}", srv.URL), nil)
		for srv.count("/block") == 0 {
			time.Sleep(time.Millisecond)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := h.eng.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Stop = %v; want the deadline (the action had to be cancelled)", err)
		}
		if _, err := h.eng.StartRun(context.Background(), compile(t, chainDef(1)), engine.RunOptions{}); !models.IsCode(err, models.Unavailable) {
			t.Errorf("StartRun after Stop = %v; want Unavailable", err)
		}
		got, err := h.eng.Run(context.Background(), run.ID)
		if err != nil || got.Status.Final() || step(t, got, "a").Status != models.StepRunning {
			t.Errorf("after Stop: %v %s", err, dump(got))
		}
		close(srv.release)
		h.start()
		if done := h.wait(run.ID); done.Status != models.RunSucceeded {
			t.Errorf("resumed: %s", dump(done))
		}
	})
}

func TestUnresumableRunFails(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		h.stopEngine(h.eng)
		now := time.Now().UTC()
		err := h.st.ApplyRunWrites(context.Background(), &models.RunWrites{Runs: []models.RunRow{{
			Run:        models.Run{ID: "01BROKEN", Status: models.RunRunning, CreatedAt: now, Inputs: map[string]any{}},
			Definition: []byte(`{"id": "x", "name": "x", "steps": []}`),
		}}})
		if err != nil {
			t.Fatal(err)
		}
		h.start()
		got, err := h.eng.Run(context.Background(), "01BROKEN")
		if err != nil || got.Status != models.RunFailed || got.Error == nil || !strings.Contains(got.Error.Message, "cannot be resumed") {
			t.Errorf("run = %s, %v", dump(got), err)
		}
	})
}

func TestWaitingRunRecoversSignalTimeoutAndBackoff(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := engine.NewFakeClock(t0)
		h := newHarness(t, open, withFakeClock(clock))
		srv := newServer(t)
		run := h.startRun(strings.ReplaceAll(`
id: parked
name: parked
timeout: 10h
steps:
  - {id: sig, type: wait, action: {signal: never, timeout: 2h}, onFailure: late}
  - {id: late, type: command, action: {kind: log, message: late}}
  - id: flaky
    type: command
    retryPolicy: {maxAttempts: 2, initialInterval: 3600000, maxInterval: 3600000, jitter: 0}
    action: {kind: http, url: "{{URL}}/flaky/1/f"}
`, "{{URL}}", srv.URL), nil)
		h.waitFor(run.ID, stepEvent(models.EventStepRetrying, "flaky"))
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "sig"))
		h.restart()
		clock.Advance(time.Hour)
		h.waitFor(run.ID, stepEvent(models.EventStepSucceeded, "flaky"))
		h.restart()
		clock.Advance(time.Hour)
		done := h.wait(run.ID)
		expectSteps(t, done, map[string]string{"sig": "timed_out", "late": "succeeded", "flaky": "succeeded"})
		if done.Status != models.RunSucceeded {
			t.Errorf("status = %s", done.Status)
		}
	})
}

func TestRunTimeoutOnTheClockAndRetryOfATimedOutRun(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := engine.NewFakeClock(t0)
		h := newHarness(t, open, withFakeClock(clock))
		run := h.startRun(`
id: rto
name: rto
timeout: 1h
steps:
  - {id: a, type: command, action: {kind: log, message: a}}
  - {id: w, type: wait, dependencies: [a], action: {signal: go}}
  - {id: b, type: command, dependencies: [w], action: {kind: log, message: b}}
`, nil)
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "w"))
		clock.Advance(time.Hour)
		done := h.wait(run.ID)
		if done.Status != models.RunTimedOut {
			t.Fatalf("status = %s", done.Status)
		}
		expectSteps(t, done, map[string]string{"a": "succeeded", "w": "cancelled/run_timed_out", "b": "skipped/run_timed_out"})
		if _, err := h.eng.Retry(t.Context(), run.ID); err != nil {
			t.Fatal(err)
		}
		h.waitFor(run.ID, func(ev models.Event) bool { return ev.Type == models.EventStepWaiting && ev.Attempt == 2 })
		if err := h.eng.Signal(t.Context(), run.ID, "go", nil); err != nil {
			t.Fatal(err)
		}
		again := h.wait(run.ID)
		if again.Status != models.RunSucceeded || step(t, again, "a").Attempts != 1 {
			t.Errorf("after retry: %s", dump(again))
		}
	})
}

func TestRecoveryKeepsConditionsParallelElementsAndCompensations(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := engine.NewFakeClock(t0)
		h := newHarness(t, open, withFakeClock(clock))
		srv := newServer(t)
		run := h.startRun(strings.ReplaceAll(`
id: mixed
name: mixed
errorHandling: {strategy: rollback}
steps:
  - {id: pick, type: condition, action: {cases: [{when: "true", next: fan}], default: never}}
  - {id: never, type: command, action: {kind: log, message: never}}
  - id: fan
    type: parallel
    compensate: {kind: http, url: "{{URL}}/ok/undo-fan"}
    action: {forEach: "[1, 2, 3]", step: {kind: http, url: "{{URL}}/ok/item/{{ item }}"}}
  - {id: big, type: condition, dependencies: [fan], action: {expression: "steps.fan.output.succeeded == 3"}, onSuccess: pause}
  - {id: pause, type: wait, action: {duration: 1h}}
  - id: undo_flaky
    type: command
    dependencies: [pause]
    retryPolicy: {maxAttempts: 3, initialInterval: 1, jitter: 0}
    action: {kind: log, message: x}
    compensate: {kind: http, url: "{{URL}}/flaky/1/undo"}
  - {id: boom, type: command, dependencies: [undo_flaky], action: {kind: fail, message: boom}}
`, "{{URL}}", srv.URL), nil)
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "pause"))
		h.restart()
		clock.Advance(time.Hour)
		// The compensation of undo_flaky fails once: its retry waits 1 ms on
		// the fake clock.
		for srv.count("/flaky/1/undo") < 1 {
			time.Sleep(time.Millisecond)
		}
		deadline := time.Now().Add(10 * time.Second)
		for srv.count("/flaky/1/undo") < 2 && time.Now().Before(deadline) {
			clock.Advance(time.Millisecond)
			time.Sleep(time.Millisecond)
		}
		done := h.wait(run.ID)
		if done.Status != models.RunRolledBack {
			t.Fatalf("status = %s: %s", done.Status, dump(done))
		}
		expectSteps(t, done, map[string]string{"pick": "succeeded", "never": "skipped/branch_not_taken",
			"fan": "compensated", "big": "succeeded", "pause": "succeeded", "undo_flaky": "compensated", "boom": "failed"})
		for _, p := range []string{"/ok/item/1", "/ok/item/2", "/ok/item/3", "/ok/undo-fan"} {
			if n := srv.count(p); n != 1 {
				t.Errorf("%s: %d hits; want 1 (nothing redone after the restart)", p, n)
			}
		}
	})
}

func TestSubworkflowSurvivesRestartAndCancel(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := engine.NewFakeClock(t0)
		child := compile(t, `
id: slowchild
name: slowchild
steps:
  - {id: pause, type: wait, action: {duration: 1h}}
  - {id: out, type: command, dependencies: [pause], action: {kind: set, values: {v: 7}}}
outputs: {v: "{{ steps.out.output.v }}"}
`)
		h := newHarness(t, open, withFakeClock(clock), func(c *engine.Config) { c.Subworkflows = resolver{"slowchild": child} })
		parentDef := `
id: parent
name: parent
steps:
  - {id: call, type: command, action: {kind: subworkflow, template: slowchild}}
outputs: {v: "{{ steps.call.output.v }}"}
`
		run := h.startRun(parentDef, nil)
		var childID string
		deadline := time.Now().Add(10 * time.Second)
		for childID == "" && time.Now().Before(deadline) {
			kids, _ := h.eng.ListRuns(t.Context(), models.RunFilter{ParentRunID: run.ID})
			if len(kids) == 1 {
				childID = kids[0].ID
			}
			time.Sleep(time.Millisecond)
		}
		h.waitFor(childID, stepEvent(models.EventStepWaiting, "pause"))
		h.restart()
		if n := h.eng.ActiveRuns(); n != 2 {
			t.Errorf("ActiveRuns after restart = %d; want 2 (parent and child)", n)
		}
		list, _ := h.eng.ListRuns(t.Context(), models.RunFilter{})
		if len(list) != 2 || list[0].Status.Final() {
			t.Errorf("ListRuns = %s", dump(list))
		}
		clock.Advance(time.Hour)
		done := h.wait(run.ID)
		if done.Status != models.RunSucceeded || done.Outputs["v"] != float64(7) && done.Outputs["v"] != 7 {
			t.Fatalf("parent: %s", dump(done))
		}

		// Cancelling a parent cancels its child.
		run2 := h.startRun(parentDef, nil)
		deadline = time.Now().Add(10 * time.Second)
		childID = ""
		for childID == "" && time.Now().Before(deadline) {
			kids, _ := h.eng.ListRuns(t.Context(), models.RunFilter{ParentRunID: run2.ID})
			if len(kids) == 1 {
				childID = kids[0].ID
			}
			time.Sleep(time.Millisecond)
		}
		h.waitFor(childID, stepEvent(models.EventStepWaiting, "pause"))
		if err := h.eng.Cancel(t.Context(), run2.ID); err != nil {
			t.Fatal(err)
		}
		if c := h.wait(childID); c.Status != models.RunCancelled {
			t.Errorf("child = %s; want cancelled", c.Status)
		}
		if p := h.wait(run2.ID); p.Status != models.RunCancelled || step(t, p, "call").Status != models.StepCancelled {
			t.Errorf("parent = %s", dump(p))
		}
	})
}

func TestSubworkflowFinishedBeforeRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		child := compile(t, `
id: quick
name: quick
steps:
  - {id: out, type: command, action: {kind: set, values: {v: 1}}}
outputs: {v: "{{ steps.out.output.v }}"}
`)
		h := newHarness(t, open, func(c *engine.Config) { c.Subworkflows = resolver{"quick": child} })
		// Build the state a crash leaves: the parent's step running with
		// its child's id, the child finished.
		parent := compile(t, `
id: parent
name: parent
steps:
  - {id: call, type: command, action: {kind: subworkflow, template: quick}}
`)
		c := h.run(`
id: quick
name: quick
steps:
  - {id: out, type: command, action: {kind: set, values: {v: 1}}}
outputs: {v: "{{ steps.out.output.v }}"}
`, nil)
		h.stopEngine(h.eng)
		def, _ := json.Marshal(parent.Definition)
		now := time.Now().UTC()
		err := h.st.ApplyRunWrites(t.Context(), &models.RunWrites{
			Runs: []models.RunRow{{Run: models.Run{ID: "01PARENT", Template: "parent", Status: models.RunRunning,
				CreatedAt: now, StartedAt: &now, Inputs: map[string]any{}}, Definition: def}},
			StepRuns: []models.StepRunRow{{StepRun: models.StepRun{RunID: "01PARENT", StepID: "call", Attempt: 1,
				Status: models.StepRunning, StartedAt: &now, Input: map[string]any{"childRunId": c.ID}}, Item: -1, Order: 1}},
		})
		if err != nil {
			t.Fatal(err)
		}
		h.start()
		done := h.wait("01PARENT")
		if done.Status != models.RunSucceeded || step(t, done, "call").Output.(map[string]any)["v"] != float64(1) {
			t.Errorf("parent: %s", dump(done))
		}
	})
}

func TestGuardErrorAndListOfAnyKind(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		run := h.run(`
id: guard-error
name: guard error
errorHandling: {strategy: continue}
inputs: {obj: {type: object, default: {}}}
steps:
  - {id: g, type: command, when: "inputs.obj.a.b > 1", action: {kind: log, message: x}}
  - id: r
    type: parallel
    action: {forEach: "1..3", step: {kind: set, values: {sq: "{{ item * item }}"}}}
outputs: {}
`, nil)
		if s := step(t, run, "g"); s.Status != models.StepFailed || s.Error == nil || s.Error.Code != "expression_error" {
			t.Errorf("g = %+v; want failed with expression_error", s)
		}
		items := step(t, run, "r").Output.(map[string]any)["items"].([]any)
		if len(items) != 3 {
			t.Errorf("items = %v", items)
		}
		sf := engine.Retryable("x", "y %d", 1)
		if sf.Error() != "x: y 1" {
			t.Errorf("Error() = %q", sf.Error())
		}
	})
}

// flakyStore fails its first commits, as a database that drops a
// connection would.
type flakyStore struct {
	*store.Store
	fails atomic.Int32
}

func (f *flakyStore) ApplyRunWrites(ctx context.Context, w *models.RunWrites) error {
	if f.fails.Add(-1) >= 0 {
		return errors.New("connection reset")
	}
	return f.Store.ApplyRunWrites(ctx, w)
}

func TestCommitFailuresAreRetried(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		fs := &flakyStore{Store: open(t)}
		fs.fails.Store(2)
		eng := engine.New(fs, engine.NewRegistry(actions.Builtins(nil)...), engine.Config{
			Logger: slog.New(slog.DiscardHandler)})
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer eng.Stop(context.Background())
		run, err := eng.StartRun(t.Context(), compile(t, chainDef(3)), engine.RunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		done, err := eng.Wait(t.Context(), run.ID)
		if err != nil || done.Status != models.RunSucceeded {
			t.Fatalf("%v %s", err, dump(done))
		}
		stored, err := fs.LoadRun(t.Context(), run.ID)
		if err != nil || stored.Run.Status != models.RunSucceeded {
			t.Errorf("stored run: %v %+v", err, stored)
		}
	})
}

func TestOutputLimitAndUnknownKind(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		st := open(t)
		// A registry without http: the kind is valid, but not offered here.
		eng := engine.New(st, engine.NewRegistry(actions.Set{}, actions.Log{}), engine.Config{})
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer eng.Stop(context.Background())
		def, err := engine.Parse([]byte(`
id: limits
name: limits
errorHandling: {strategy: continue}
inputs: {blob: {type: string, required: true}}
steps:
  - {id: big, type: command, action: {kind: set, values: {v: "{{ inputs.blob }}"}}}
  - {id: nohttp, type: command, action: {kind: http, url: "http://127.0.0.1:1/"}}
`), engine.FormatYAML)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := engine.CompileWithLimits(def, engine.Limits{MaxOutputBytes: 100})
		if err != nil {
			t.Fatal(err)
		}
		run, err := eng.StartRun(t.Context(), plan, engine.RunOptions{Inputs: map[string]any{"blob": strings.Repeat("x", 200)}})
		if err != nil {
			t.Fatal(err)
		}
		done, _ := eng.Wait(t.Context(), run.ID)
		if e := step(t, done, "big").Error; e == nil || e.Code != engine.CodeOutputLarge {
			t.Errorf("big = %+v; want output_too_large", step(t, done, "big"))
		}
		if e := step(t, done, "nohttp").Error; e == nil || e.Code != engine.CodeUnknownKind {
			t.Errorf("nohttp = %+v; want unknown_kind", step(t, done, "nohttp"))
		}
		if _, err := eng.StartRun(t.Context(), plan, engine.RunOptions{}); !models.IsCode(err, models.Invalid) {
			t.Errorf("StartRun without a required input = %v; want Invalid", err)
		}
	})
}

func TestFakeClock(t *testing.T) {
	c := engine.NewFakeClock(t0)
	ch, stop := c.NewTimer(time.Second)
	_, stop2 := c.NewTimer(time.Hour)
	if c.Timers() != 2 {
		t.Fatalf("Timers = %d; want 2", c.Timers())
	}
	stop2()
	c.Advance(time.Second)
	select {
	case at := <-ch:
		if !at.Equal(t0.Add(time.Second)) {
			t.Errorf("fired at %v", at)
		}
	default:
		t.Error("timer did not fire")
	}
	stop()
	if c.Timers() != 0 {
		t.Errorf("Timers = %d; want 0", c.Timers())
	}
	now, _ := c.NewTimer(0)
	if len(now) != 1 {
		t.Error("a zero timer must fire at once")
	}
}

func TestWaitTimesOutWithTheRecordSoFar(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		run := h.startRun(`
id: parked
name: parked
steps:
  - {id: gate, type: wait, action: {signal: go}}
`, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
		defer cancel()
		got, err := h.eng.Wait(ctx, run.ID)
		if !errors.Is(err, context.DeadlineExceeded) || got.ID != run.ID || got.Status.Final() {
			t.Errorf("Wait = %s, %v; want the unfinished run and the deadline", got.Status, err)
		}
		if _, err := h.eng.Run(t.Context(), "nope"); !models.IsCode(err, models.NotFound) {
			t.Errorf("Run(unknown) = %v; want NotFound", err)
		}
		if _, err := h.eng.Retry(t.Context(), run.ID); !models.IsCode(err, models.Conflict) {
			t.Errorf("Retry(running) = %v; want Conflict", err)
		}
		if err := h.eng.Cancel(t.Context(), run.ID); err != nil {
			t.Fatal(err)
		}
		cancelled := h.wait(run.ID)
		if cancelled.Status != models.RunCancelled {
			t.Fatalf("status = %s", cancelled.Status)
		}
		// A cancelled run can be retried: the wait starts again.
		if _, err := h.eng.Retry(t.Context(), run.ID); err != nil {
			t.Fatal(err)
		}
		h.waitFor(run.ID, func(ev models.Event) bool { return ev.Type == models.EventStepWaiting && ev.Attempt == 2 })
		if err := h.eng.Signal(t.Context(), run.ID, "go", 1); err != nil {
			t.Fatal(err)
		}
		if done := h.wait(run.ID); done.Status != models.RunSucceeded {
			t.Errorf("after retry: %s", dump(done))
		}
	})
}
