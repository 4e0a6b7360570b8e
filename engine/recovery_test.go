package engine_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/jonboulle/clockwork"
)

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
		waitUntil(t, func() bool { return srv.count("/block") > 0 })
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
		clock := clockwork.NewFakeClockAt(t0)
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

func TestRecoveryKeepsConditionsParallelElementsAndCompensations(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
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
		waitUntil(t, func() bool { return srv.count("/flaky/1/undo") >= 1 })
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

// A run started from a plan compiled with non-default limits keeps them when
// the engine rebuilds its plan after a restart: Config.Compiler.
func TestRecoveredRunKeepsItsLimits(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		lim := plan.Limits{MaxOutputBytes: 100}
		h := newHarness(t, open, func(c *engine.Config) { c.Compiler = plan.Compiler{Limits: lim} })
		def, err := plan.Parse([]byte(`
id: limits
name: limits
inputs: {blob: {type: string, required: true}}
steps:
  - {id: gate, type: wait, action: {signal: go, timeout: 1h}}
  - {id: big, type: command, dependencies: [gate], action: {kind: set, values: {v: "{{ inputs.blob }}"}}}
`), plan.FormatYAML)
		if err != nil {
			t.Fatal(err)
		}
		compiled, err := plan.Compiler{Limits: lim}.Compile(def)
		if err != nil {
			t.Fatal(err)
		}
		run, err := h.eng.StartRun(t.Context(), compiled, engine.RunOptions{Inputs: map[string]any{"blob": strings.Repeat("x", 200)}})
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

// A parallel element's backoff is a durable timer: after a restart the
// element waits for the rest of its pause instead of retrying at once, and
// retries when the clock reaches the due time.
func TestParallelElementBackoffSurvivesRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
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

func TestRecoveryResumesWithoutRedoingCompletedSteps(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		srv := newServer(t)
		run := h.startRun(strings.ReplaceAll(`
id: recover
name: recover
steps:
  - {id: first, type: command, action: {kind: http, url: "{{URL}}/ok/first"}}
  - {id: gate, type: wait, dependencies: [first], action: {signal: go}}
  - {id: inflight, type: command, dependencies: [first], action: {kind: http, url: "{{URL}}/block"}}
  - {id: last, type: command, dependencies: [gate, inflight], action: {kind: http, url: "{{URL}}/ok/last"}}
`, "{{URL}}", srv.URL), nil)
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "gate"))
		waitUntil(t, func() bool { return srv.count("/block") > 0 })
		// Stop with a short deadline: the blocked request is cancelled and
		// not recorded, as in a crash.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_ = h.eng.Stop(ctx)
		cancel()
		close(srv.release)
		h.start()
		if err := h.eng.Signal(t.Context(), run.ID, "go", true); err != nil {
			t.Fatal(err)
		}
		done := h.wait(run.ID)
		if done.Status != models.RunSucceeded {
			t.Fatalf("status = %s: %s", done.Status, dump(done))
		}
		if n := srv.count("/ok/first"); n != 1 {
			t.Errorf("first ran %d times; want 1", n)
		}
		if n := srv.count("/block"); n != 2 {
			t.Errorf("inflight ran %d times; want 2 (re-run after the restart)", n)
		}
		if keys := srv.keys["/block"]; len(keys) != 1 {
			t.Errorf("inflight idempotency keys = %v; want the same key twice", keys)
		}
		if a := step(t, done, "inflight").Attempts; a != 1 {
			t.Errorf("inflight attempts = %d; want 1 (the same attempt, resumed)", a)
		}
	})
}
