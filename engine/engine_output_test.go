package engine_test

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// TestOutputsAndInputsStored checks what the store keeps of a run whose
// inputs and outputs the engine encodes once (inputs when the run starts,
// an output when its size is checked): the stored values are the values
// the run saw, escapes and all, on each database.
func TestOutputsAndInputsStored(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		text := "a <b> & \"c\" é \u2028 \\ \n\t end"
		run := h.run(`
id: stored
name: stored
inputs:
  text: {type: string, required: true}
  list: {type: array, default: [1, "two", {three: 3}]}
steps:
  - {id: a, type: command, action: {kind: set, values: {v: "{{ inputs.text }}", n: 3, l: "{{ inputs.list }}"}}}
  - {id: b, type: command, dependencies: [a], action: {kind: set, values: {again: "{{ steps.a.output.v }}"}}}
`, map[string]any{"text": text})
		if run.Status != models.RunSucceeded {
			t.Fatalf("status = %s: %s", run.Status, dump(run))
		}
		snap, err := h.st.LoadRun(context.Background(), run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := snap.Run.Inputs["text"]; got != text {
			t.Errorf("stored input text = %q; want %q", got, text)
		}
		stored := map[string]any{}
		for _, r := range snap.StepRuns {
			stored[r.StepID] = r.Output
		}
		for _, id := range []string{"a", "b"} {
			// What the run saw, as JSON would carry it.
			var want any
			b, err := json.Marshal(step(t, run, id).Output)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(stored[id], want) {
				t.Errorf("stored output of %s = %#v; want %#v", id, stored[id], want)
			}
		}
		if a, _ := stored["a"].(map[string]any); a["v"] != text {
			t.Errorf("stored a.v = %#v; want %q", a["v"], text)
		}
	})
}
