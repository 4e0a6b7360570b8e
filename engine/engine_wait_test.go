package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

var t0 = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func TestWaitDurationIsADurableTimer(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := engine.NewFakeClock(t0)
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
		clock := engine.NewFakeClock(t0)
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

func TestBackoffFollowsThePolicyOnTheClock(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := engine.NewFakeClock(t0)
		h := newHarness(t, open, withFakeClock(clock))
		srv := newServer(t)
		run := h.startRun(strings.ReplaceAll(`
id: backoff
name: backoff
steps:
  - id: flaky
    type: command
    retryPolicy: {maxAttempts: 5, initialInterval: 1000, backoffCoefficient: 3, maxInterval: 5000, jitter: 0}
    action: {kind: http, url: "{{URL}}/flaky/4/x"}
`, "{{URL}}", srv.URL), nil)
		// Waits: 1s, 3s, 5s (9s capped), 5s.
		for i, wait := range []time.Duration{time.Second, 3 * time.Second, 5 * time.Second, 5 * time.Second} {
			attempt := i + 1
			h.waitFor(run.ID, func(ev models.Event) bool {
				return ev.Type == models.EventStepRetrying && ev.Attempt == attempt
			})
			clock.Advance(wait - time.Millisecond)
			time.Sleep(20 * time.Millisecond)
			if n := srv.count("/flaky/4/x"); n != attempt {
				t.Fatalf("after %s less 1ms: %d hits; want %d (the next attempt came early)", wait, n, attempt)
			}
			clock.Advance(time.Millisecond)
		}
		done := h.wait(run.ID)
		if s := step(t, done, "flaky"); s.Status != models.StepSucceeded || s.Attempts != 5 {
			t.Errorf("flaky = %+v; want succeeded on attempt 5", s)
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
		for srv.count("/block") == 0 {
			time.Sleep(time.Millisecond)
		}
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
		for srv.count("/block") == 0 {
			time.Sleep(time.Millisecond)
		}
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

func TestRetryAndRerun(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		srv := newServer(t)
		def := strings.ReplaceAll(`
id: again
name: again
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/ok/a"}}
  - {id: b, type: command, dependencies: [a], action: {kind: http, url: "{{URL}}/flaky/1/b"}}
  - {id: c, type: command, dependencies: [b], action: {kind: http, url: "{{URL}}/ok/c"}}
`, "{{URL}}", srv.URL)
		run := h.run(def, nil)
		if run.Status != models.RunFailed {
			t.Fatalf("status = %s; want failed", run.Status)
		}
		if _, err := h.eng.Retry(t.Context(), "nope"); !models.IsCode(err, models.NotFound) {
			t.Errorf("Retry(unknown) = %v; want NotFound", err)
		}
		if _, err := h.eng.Retry(t.Context(), run.ID); err != nil {
			t.Fatal(err)
		}
		done := h.wait(run.ID)
		if done.Status != models.RunSucceeded {
			t.Fatalf("after retry: %s", dump(done))
		}
		if n := srv.count("/ok/a"); n != 1 {
			t.Errorf("a ran %d times; want 1 (kept)", n)
		}
		if s := step(t, done, "b"); s.Attempts != 2 {
			t.Errorf("b attempts = %d; want 2 (the failed one and the retry)", s.Attempts)
		}
		if _, err := h.eng.Retry(t.Context(), run.ID); !models.IsCode(err, models.Conflict) {
			t.Errorf("Retry(succeeded) = %v; want Conflict", err)
		}
		checkEvents(t, h, done)

		re, err := h.eng.Rerun(t.Context(), run.ID, engine.RerunOptions{From: "c"})
		if err != nil {
			t.Fatal(err)
		}
		redone := h.wait(re.ID)
		if redone.Status != models.RunSucceeded || redone.ParentRunID != run.ID || redone.Trigger != models.TriggerRerun {
			t.Fatalf("rerun: %s", dump(redone))
		}
		if n := srv.count("/ok/c"); n != 2 {
			t.Errorf("c ran %d times; want 2", n)
		}
		if n := srv.count("/ok/a"); n != 1 {
			t.Errorf("a ran %d times; want 1 (kept by the rerun)", n)
		}
		if out := step(t, redone, "a").Output; out == nil {
			t.Errorf("kept step a lost its output")
		}
		if _, err := h.eng.Rerun(t.Context(), run.ID, engine.RerunOptions{From: "zz"}); !models.IsCode(err, models.BadRequest) {
			t.Errorf("Rerun(from unknown) = %v; want BadRequest", err)
		}
		full, err := h.eng.Rerun(t.Context(), run.ID, engine.RerunOptions{})
		if err != nil {
			t.Fatal(err)
		}
		h.wait(full.ID)
		if n := srv.count("/ok/a"); n != 2 {
			t.Errorf("a ran %d times; want 2 after a full rerun", n)
		}
		list, err := h.eng.ListRuns(t.Context(), models.RunFilter{Template: "again"})
		if err != nil || len(list) != 3 || list[0].ID != full.ID {
			t.Errorf("ListRuns = %d runs, %v; want 3, newest first", len(list), err)
		}
		page, err := h.eng.ListRuns(t.Context(), models.RunFilter{Template: "again", Limit: 1, Before: list[0].ID})
		if err != nil || len(page) != 1 || page[0].ID != list[1].ID {
			t.Errorf("ListRuns(before) = %v, %v; want the second run", page, err)
		}
		// The full rerun meets the flaky step's first failure again.
		page, _ = h.eng.ListRuns(t.Context(), models.RunFilter{Statuses: []models.RunStatus{models.RunFailed}})
		if len(page) != 1 || page[0].ID != full.ID {
			t.Errorf("ListRuns(failed) = %s; want the full rerun only", dump(page))
		}
	})
}

// resolver resolves subworkflows from a map of definitions.
type resolver map[string]*engine.Plan

func (r resolver) Resolve(_ context.Context, key string, _ int) (*engine.Plan, int, error) {
	p, ok := r[key]
	if !ok {
		return nil, 0, models.Errorf(models.NotFound, "no template %q", key)
	}
	return p, 1, nil
}

func TestSubworkflow(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		child := compile(t, `
id: child
name: child
inputs: {n: {type: integer, required: true}}
steps:
  - {id: double, type: command, action: {kind: set, values: {v: "{{ inputs.n * 2 }}"}}}
  - {id: maybe_fail, type: command, when: "inputs.n < 0", action: {kind: fail, message: negative}}
outputs: {v: "{{ steps.double.output.v }}"}
`)
		h := newHarness(t, open, func(c *engine.Config) { c.Subworkflows = resolver{"child": child} })
		run := h.run(`
id: parent
name: parent
steps:
  - {id: call, type: command, action: {kind: subworkflow, template: child, inputs: {n: 21}}}
  - {id: use, type: command, dependencies: [call], action: {kind: set, values: {got: "{{ steps.call.output.v }}"}}}
`, nil)
		if run.Status != models.RunSucceeded {
			t.Fatalf("%s", dump(run))
		}
		if got := step(t, run, "use").Output.(map[string]any)["got"]; got != float64(42) && got != 42 {
			t.Errorf("got = %v; want 42", got)
		}
		children, _ := h.eng.ListRuns(t.Context(), models.RunFilter{ParentRunID: run.ID})
		if len(children) != 1 || children[0].Status != models.RunSucceeded || children[0].Trigger != engine.TriggerSubworkflow {
			t.Errorf("children = %s", dump(children))
		}
		bad := h.run(`
id: parent2
name: parent2
errorHandling: {strategy: continue}
steps:
  - {id: call, type: command, action: {kind: subworkflow, template: child, inputs: {n: -1}}}
  - {id: missing, type: command, action: {kind: subworkflow, template: nope}}
`, nil)
		expectSteps(t, bad, map[string]string{"call": "failed"})
		if e := step(t, bad, "call").Error; e == nil || e.Code != "subworkflow_failed" || !strings.Contains(e.Message, "negative") {
			t.Errorf("error = %+v", e)
		}
	})
}

func TestEventsBus(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		all := h.eng.Subscribe("", 1000)
		defer all.Close()
		slow := h.eng.Subscribe("", 1)
		run := h.run(`
id: events
name: events
steps:
  - {id: a, type: command, action: {kind: log, message: a}}
  - {id: b, type: command, dependencies: [a], action: {kind: log, message: b}}
`, nil)
		var got []models.Event
		for ev := range all.C {
			got = append(got, ev)
			if ev.Type == models.EventRunSucceeded {
				break
			}
		}
		stored, err := h.eng.Events(t.Context(), run.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if dump(got) != dump(stored) {
			t.Errorf("bus events differ from stored ones:\nbus %s\nstored %s", dump(got), dump(stored))
		}
		tail, _ := h.eng.Events(t.Context(), run.ID, 3, 2)
		if len(tail) != 2 || tail[0].Seq != 4 {
			t.Errorf("Events(after 3, limit 2) = %s", dump(tail))
		}
		// The slow subscriber never read: it was dropped, not waited for.
		for range slow.C {
		}
		if !slow.Dropped() {
			t.Errorf("slow subscriber not dropped")
		}
	})
}
