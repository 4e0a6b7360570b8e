package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/jonboulle/clockwork"
)

func TestBackoffFollowsThePolicyOnTheClock(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
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
		if a := step(t, redone, "a"); a.Output == nil || a.Reason == nil || *a.Reason != models.ReasonCarriedOver ||
			a.Attempts != 0 || a.StartedAt != nil || a.DurationMs != nil {
			t.Errorf("kept step a = %s; want its output, carried over, with no attempt or times of its own", dump(a))
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
