package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/jonboulle/clockwork"
)

func TestRunTimeoutOnTheClockAndRetryOfATimedOutRun(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
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
