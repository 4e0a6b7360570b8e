package engine_test

import (
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/jonboulle/clockwork"
)

func TestWaitDurationIsADurableTimer(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
		h := newHarness(t, open, withFakeClock(clock))
		run := h.startRun(`
id: wait
name: wait
steps:
  - {id: pause, type: wait, action: {duration: 10m}}
  - {id: after, type: command, dependencies: [pause], action: {kind: log, message: done}}
`, nil)
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "pause"))
		h.waitFor(run.ID, func(ev models.Event) bool { return ev.Type == models.EventRunWaiting })
		got, _ := h.eng.Run(t.Context(), run.ID)
		if got.Status != models.RunWaiting {
			t.Fatalf("status = %s; want waiting", got.Status)
		}
		clock.Advance(9 * time.Minute)
		// Restart: the timer is re-armed from the store.
		h.restart()
		clock.Advance(time.Minute)
		done := h.wait(run.ID)
		if done.Status != models.RunSucceeded {
			t.Fatalf("status = %s; want succeeded: %s", done.Status, dump(done))
		}
		if d := step(t, done, "pause").FinishedAt.Sub(*step(t, done, "pause").StartedAt); d != 10*time.Minute {
			t.Errorf("wait took %s on the clock; want 10m", d)
		}
	})
}

const signalDef = `
id: signal
name: signal
steps:
  - {id: approval, type: wait, action: {signal: approve, timeout: 1h}, onFailure: expired}
  - {id: use, type: command, dependencies: [approval], action: {kind: log, message: "by {{ steps.approval.output.by }}"}}
  - {id: expired, type: command, action: {kind: log, message: expired}}
`

func TestSignal(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
		h := newHarness(t, open, withFakeClock(clock))

		t.Run("delivered", func(t *testing.T) {
			run := h.startRun(signalDef, nil)
			h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "approval"))
			if err := h.eng.Signal(t.Context(), run.ID, "other", nil); !models.IsCode(err, models.Conflict) {
				t.Errorf("Signal(unknown name) = %v; want Conflict", err)
			}
			if err := h.eng.Signal(t.Context(), run.ID, "approve", map[string]any{"by": "ann"}); err != nil {
				t.Fatal(err)
			}
			done := h.wait(run.ID)
			expectSteps(t, done, map[string]string{"approval": "succeeded", "use": "succeeded", "expired": "skipped/branch_not_taken"})
			if m := step(t, done, "use").Output.(map[string]any)["message"]; m != "by ann" {
				t.Errorf("message = %v", m)
			}
			if err := h.eng.Signal(t.Context(), run.ID, "approve", nil); !models.IsCode(err, models.Conflict) {
				t.Errorf("Signal(finished run) = %v; want Conflict", err)
			}
		})
		t.Run("timeout", func(t *testing.T) {
			run := h.startRun(signalDef, nil)
			h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "approval"))
			clock.Advance(time.Hour)
			done := h.wait(run.ID)
			if done.Status != models.RunSucceeded {
				t.Errorf("status = %s; want succeeded (the timeout is handled)", done.Status)
			}
			expectSteps(t, done, map[string]string{"approval": "timed_out", "use": "skipped/upstream_failed", "expired": "succeeded"})
		})
		t.Run("early signal is kept until the step waits", func(t *testing.T) {
			run := h.startRun(`
id: early
name: early
steps:
  - {id: first, type: wait, action: {duration: 1m}}
  - {id: approval, type: wait, dependencies: [first], action: {signal: go}}
`, nil)
			h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "first"))
			if err := h.eng.Signal(t.Context(), run.ID, "go", "yes"); err != nil {
				t.Fatal(err)
			}
			h.restart() // the buffered signal is durable
			clock.Advance(time.Minute)
			done := h.wait(run.ID)
			if s := step(t, done, "approval"); s.Status != models.StepSucceeded || s.Output != "yes" {
				t.Errorf("approval = %+v; want succeeded with the payload", s)
			}
		})
		t.Run("unknown run", func(t *testing.T) {
			if err := h.eng.Signal(t.Context(), "nope", "x", nil); !models.IsCode(err, models.NotFound) {
				t.Errorf("Signal(unknown run) = %v; want NotFound", err)
			}
		})
	})
}
