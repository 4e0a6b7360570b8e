package engine_test

import (
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

func TestChainOfSets(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		run := h.run(`
id: chain
name: chain
inputs:
  n: {type: integer, default: 2}
steps:
  - {id: a, type: command, action: {kind: set, values: {x: "{{ inputs.n }}"}}}
  - {id: b, type: command, dependencies: [a], action: {kind: set, values: {y: "{{ steps.a.output.x * 10 }}"}}}
  - {id: c, type: command, dependencies: [b], action: {kind: log, message: "y={{ steps.b.output.y }}"}}
outputs:
  y: "{{ steps.b.output.y }}"
  msg: "{{ steps.c.output.message }}"
`, nil)
		if run.Status != models.RunSucceeded {
			t.Fatalf("status = %s; want succeeded: %s", run.Status, dump(run))
		}
		expectSteps(t, run, map[string]string{"a": "succeeded", "b": "succeeded", "c": "succeeded"})
		if got := run.Outputs["msg"]; got != "y=20" {
			t.Errorf("outputs.msg = %v; want y=20", got)
		}
		if run.Steps[0].ID != "a" || run.Steps[2].ID != "c" {
			t.Errorf("steps not in start order: %s", dump(run.Steps))
		}
	})
}

// A condition's branch may fan out: onSuccess names two steps, both run
// when the condition is true; the false branch's steps are skipped and
// the join after them runs (none_failed).
func TestConditionBranchFansOut(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		src := `
id: fan
name: fan
inputs:
  big: {type: boolean, default: true}
steps:
  - id: check
    type: condition
    action: {expression: "inputs.big"}
    onSuccess: [ship, invoice]
    onFailure: [hold]
  - {id: ship, type: command, action: {kind: set, values: {shipped: true}}}
  - {id: invoice, type: command, action: {kind: set, values: {billed: true}}}
  - {id: hold, type: command, action: {kind: log, message: held}}
  - {id: done, type: command, dependencies: [ship, invoice, hold], action: {kind: log, message: done}}
`
		run := h.run(src, nil)
		expectSteps(t, run, map[string]string{"check": "succeeded", "ship": "succeeded", "invoice": "succeeded", "hold": "skipped", "done": "succeeded"})
		run = h.run(src, map[string]any{"big": false})
		expectSteps(t, run, map[string]string{"ship": "skipped", "invoice": "skipped", "hold": "succeeded", "done": "succeeded"})
	})
}
