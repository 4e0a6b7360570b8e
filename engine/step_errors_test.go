package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

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

func TestOutputLimitAndUnknownKind(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		st := open(t)
		// A registry without http: the kind is valid, but not offered here.
		eng := engine.New(st, engine.NewRegistry(actions.Set{}, actions.Log{}), engine.Config{})
		if err := eng.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer eng.Stop(context.Background())
		def, err := plan.Parse([]byte(`
id: limits
name: limits
errorHandling: {strategy: continue}
inputs: {blob: {type: string, required: true}}
steps:
  - {id: big, type: command, action: {kind: set, values: {v: "{{ inputs.blob }}"}}}
  - {id: nohttp, type: command, action: {kind: http, url: "http://127.0.0.1:1/"}}
`), plan.FormatYAML)
		if err != nil {
			t.Fatal(err)
		}
		compiled, err := plan.Compiler{Limits: plan.Limits{MaxOutputBytes: 100}}.Compile(def)
		if err != nil {
			t.Fatal(err)
		}
		run, err := eng.StartRun(t.Context(), compiled, engine.RunOptions{Inputs: map[string]any{"blob": strings.Repeat("x", 200)}})
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
		if _, err := eng.StartRun(t.Context(), compiled, engine.RunOptions{}); !models.IsCode(err, models.Invalid) {
			t.Errorf("StartRun without a required input = %v; want Invalid", err)
		}
	})
}
