package engine_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/jonboulle/clockwork"
)

func TestSubworkflowSurvivesRestartAndCancel(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		clock := clockwork.NewFakeClockAt(t0)
		child := compile(t, `
id: slowchild
name: slowchild
steps:
  - {id: pause, type: wait, action: {duration: 1h}}
  - {id: out, type: command, dependencies: [pause], action: {kind: set, values: {v: 7}}}
outputs: {v: "{{ steps.out.output.v }}"}
`)
		h := newHarness(t, open, withFakeClock(clock), func(c *engine.Config) { c.Versions = resolver{"slowchild": child} })
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
		h := newHarness(t, open, func(c *engine.Config) { c.Versions = resolver{"quick": child} })
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

// resolver holds the templates subworkflows run, each as its approved
// version 1.
type resolver map[string]*plan.Plan

func (r resolver) LatestApprovedVersion(_ context.Context, key string) (*models.Version, error) {
	p, ok := r[key]
	if !ok {
		return nil, models.Errorf(models.NotFound, "no template %q", key)
	}
	return &models.Version{Template: key, Number: 1, Status: models.VersionApproved, Definition: p.Definition}, nil
}

func (r resolver) TemplateVersion(ctx context.Context, key string, _ int) (*models.Version, error) {
	return r.LatestApprovedVersion(ctx, key)
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
		h := newHarness(t, open, func(c *engine.Config) { c.Versions = resolver{"child": child} })
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

// TestSubworkflowRecursionIsBounded: a workflow that calls itself stops at
// MaxSubworkflowDepth (8) children deep: the ninth is refused with
// subworkflow_too_deep, and every run of the chain ends, failed.
func TestSubworkflowRecursionIsBounded(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		const src = `
id: loop
name: loop
steps:
  - {id: again, type: command, action: {kind: subworkflow, template: loop}}
`
		loop := compile(t, src)
		h := newHarness(t, open, func(c *engine.Config) { c.Versions = resolver{"loop": loop} })
		run := h.run(src, nil)
		if run.Status != models.RunFailed {
			t.Fatalf("%s", dump(run))
		}
		all, err := h.eng.ListRuns(t.Context(), models.RunFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		children := 0
		var deepest *models.Run
		for i, r := range all {
			if r.Trigger != engine.TriggerSubworkflow {
				continue
			}
			children++
			if r.Status != models.RunFailed {
				t.Errorf("child %s ended %s", r.ID, r.Status)
			}
			if r.Error != nil && strings.Contains(r.Error.Message, "nested 9 deep; the limit is 8") {
				deepest = &all[i]
			}
		}
		if children != 8 {
			t.Errorf("%d child runs; want 8", children)
		}
		if deepest == nil {
			t.Fatalf("no child run says it would nest 9 deep: %s", dump(all))
		}
	})
}
