package models_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

// The designer's inputs must not re-sort after a save: a definition read
// from JSON and written again keeps its inputs in the declared order.
func TestDefinitionKeepsInputOrder(t *testing.T) {
	src := `{"id":"w","name":"W","inputs":{"zeta":{"type":"string"},"alpha":{"type":"number","required":true},"mid":{"type":"boolean"}},"steps":[]}`
	var def models.Definition
	if err := json.Unmarshal([]byte(src), &def); err != nil {
		t.Fatal(err)
	}
	if got, want := def.InputNames(), []string{"zeta", "alpha", "mid"}; !slices.Equal(got, want) {
		t.Fatalf("InputNames = %v, want %v", got, want)
	}
	out, err := json.Marshal(def)
	if err != nil {
		t.Fatal(err)
	}
	z, a, m := strings.Index(string(out), `"zeta"`), strings.Index(string(out), `"alpha"`), strings.Index(string(out), `"mid"`)
	if z < 0 || a < z || m < a {
		t.Fatalf("inputs re-sorted when written: %s", out)
	}
	var again models.Definition
	if err := json.Unmarshal(out, &again); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(again.InputNames(), def.InputNames()) || again.Inputs["alpha"].Type != "number" || !again.Inputs["alpha"].Required {
		t.Fatalf("round trip changed the inputs: %v %+v", again.InputNames(), again.Inputs)
	}

	// An input added in Go follows the declared ones; a removed one is gone.
	def.Inputs["beta"] = models.InputDecl{Type: "string"}
	delete(def.Inputs, "alpha")
	if got, want := def.InputNames(), []string{"zeta", "mid", "beta"}; !slices.Equal(got, want) {
		t.Fatalf("after edits InputNames = %v, want %v", got, want)
	}
	def.SetInputOrder([]string{"mid", "beta", "zeta"})
	if got, want := def.InputNames(), []string{"mid", "beta", "zeta"}; !slices.Equal(got, want) {
		t.Fatalf("after SetInputOrder InputNames = %v, want %v", got, want)
	}

	// A definition built in Go lists its inputs alphabetically, and one
	// without inputs writes none.
	built := models.Definition{ID: "b", Inputs: map[string]models.InputDecl{"b": {Type: "string"}, "a": {Type: "string"}}}
	if got := built.InputNames(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("built InputNames = %v", got)
	}
	empty, err := json.Marshal(models.Definition{ID: "e", Steps: []models.Step{}})
	if err != nil || strings.Contains(string(empty), "inputs") {
		t.Fatalf("empty definition: %s %v", empty, err)
	}
}
