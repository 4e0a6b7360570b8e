package engine_test

import (
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/jonboulle/clockwork"
)

// Cancelling a run while parallel elements wait out a backoff ends them at
// once (no retry) and removes their durable timers.
func TestCancelWhileElementsBackOff(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
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

func TestCancel(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		srv := newServer(t)
		run := h.startRun(strings.ReplaceAll(`
id: cancel
name: cancel
steps:
  - {id: blocked, type: command, action: {kind: http, url: "{{URL}}/block"}}
  - {id: parked, type: wait, action: {signal: never}}
  - {id: after, type: command, dependencies: [blocked], action: {kind: log, message: x}}
  - {id: cleanup, type: command, trigger: all_done, dependencies: [blocked], action: {kind: log, message: x}}
`, "{{URL}}", srv.URL), nil)
		h.waitFor(run.ID, stepEvent(models.EventStepWaiting, "parked"))
		waitUntil(t, func() bool { return srv.count("/block") > 0 })
		if err := h.eng.Cancel(t.Context(), run.ID); err != nil {
			t.Fatal(err)
		}
		done := h.wait(run.ID)
		if done.Status != models.RunCancelled {
			t.Fatalf("status = %s; want cancelled", done.Status)
		}
		expectSteps(t, done, map[string]string{"blocked": "cancelled/run_cancelled", "parked": "cancelled/run_cancelled",
			"after": "skipped/run_cancelled", "cleanup": "skipped/run_cancelled"})
		if err := h.eng.Cancel(t.Context(), run.ID); !models.IsCode(err, models.Conflict) {
			t.Errorf("Cancel(finished) = %v; want Conflict", err)
		}
		if err := h.eng.Cancel(t.Context(), "nope"); !models.IsCode(err, models.NotFound) {
			t.Errorf("Cancel(unknown) = %v; want NotFound", err)
		}
	})
}
