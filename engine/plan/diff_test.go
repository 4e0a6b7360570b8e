package plan

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/baton-run/baton/models"
)

// diffBase is a small graph with every kind of edge.
func diffBase() models.Definition {
	return models.Definition{
		ID: "orders", Name: "Orders", Version: "1",
		Inputs:        map[string]models.InputDecl{"orderId": {Type: models.TypeString, Required: true}},
		ErrorHandling: &models.ErrorHandling{Strategy: models.StrategyFail},
		Outputs:       map[string]any{"id": "{{ inputs.orderId }}"},
		Steps: []models.Step{
			{ID: "fetch", Type: models.StepCommand, Action: models.Action{Kind: models.KindHTTP, URL: "http://a/orders"},
				RetryPolicy: &models.RetryPolicy{MaxAttempts: 3}, Position: &models.Position{X: 10, Y: 20}},
			{ID: "check", Type: models.StepCondition, Dependencies: []string{"fetch"},
				Action: models.Action{Expression: "inputs.orderId != ''"}, OnSuccess: models.StepRefs{"ship"}, OnFailure: models.StepRefs{"alert"}},
			{ID: "ship", Type: models.StepCommand, Action: models.Action{Kind: models.KindLog, Message: "ship"}},
			{ID: "alert", Type: models.StepCommand, Action: models.Action{Kind: models.KindLog, Message: "alert"}},
			{ID: "route", Type: models.StepCondition, Dependencies: []string{"fetch", "check"},
				Action: models.Action{Cases: []models.Case{{When: "true", Next: "ship"}}, Default: "alert"}},
		},
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	empty := models.DefinitionDiff{
		Fields: []string{}, StepsAdded: []string{}, StepsRemoved: []string{},
		StepsChanged: []models.StepChange{}, EdgesAdded: []models.DiffEdge{}, EdgesRemoved: []models.DiffEdge{},
	}
	with := func(f func(d *models.DefinitionDiff)) models.DefinitionDiff {
		d := empty
		f(&d)
		return d
	}
	tests := []struct {
		name   string
		change func(d *models.Definition)
		want   models.DefinitionDiff
	}{
		{"same", func(d *models.Definition) {}, empty},
		{"layout and version only", func(d *models.Definition) {
			d.Version = "7"
			d.Steps[0].Position = &models.Position{X: 500, Y: 1}
			d.Steps[2].Position = &models.Position{X: 3, Y: 4}
		}, empty},
		{"reordered steps and dependencies", func(d *models.Definition) {
			d.Steps[0], d.Steps[4] = d.Steps[4], d.Steps[0]
			d.Steps[0].Dependencies = []string{"check", "fetch"}
		}, empty},
		{"top-level fields", func(d *models.Definition) {
			d.Name = "Orders 2"
			d.Inputs["amount"] = models.InputDecl{Type: models.TypeNumber}
			d.ErrorHandling = &models.ErrorHandling{Strategy: models.StrategyRollback}
			d.Timeout = 5000
		}, with(func(x *models.DefinitionDiff) { x.Fields = []string{"errorHandling", "inputs", "name", "timeout"} })},
		{"step fields", func(d *models.Definition) {
			d.Steps[0].Action.URL = "http://b/orders"
			d.Steps[0].Action.Headers = map[string]string{"X-Token": "t"}
			d.Steps[0].RetryPolicy.MaxAttempts = 5
			d.Steps[2].Name = "Ship it"
		}, with(func(x *models.DefinitionDiff) {
			x.StepsChanged = []models.StepChange{
				{ID: "fetch", Fields: []string{"action.headers", "action.url", "retryPolicy.maxAttempts"}},
				{ID: "ship", Fields: []string{"name"}},
			}
		})},
		{"steps added and removed with their edges", func(d *models.Definition) {
			d.Steps = append(d.Steps[:3], models.Step{ID: "notify", Type: models.StepCommand, Dependencies: []string{"ship"},
				Action: models.Action{Kind: models.KindLog, Message: "done"}})
			d.Steps[1].OnFailure = nil
		}, with(func(x *models.DefinitionDiff) {
			x.StepsAdded = []string{"notify"}
			x.StepsRemoved = []string{"alert", "route"}
			x.StepsChanged = []models.StepChange{{ID: "check", Fields: []string{"onFailure"}}}
			x.EdgesAdded = []models.DiffEdge{{From: "ship", To: "notify", Kind: models.EdgeDependency}}
			x.EdgesRemoved = []models.DiffEdge{
				{From: "check", To: "alert", Kind: models.EdgeOnFailure},
				{From: "check", To: "route", Kind: models.EdgeDependency},
				{From: "fetch", To: "route", Kind: models.EdgeDependency},
				{From: "route", To: "alert", Kind: models.EdgeCase},
				{From: "route", To: "ship", Kind: models.EdgeCase},
			}
		})},
		{"rewired edges", func(d *models.Definition) {
			d.Steps[1].OnSuccess, d.Steps[1].OnFailure = models.StepRefs{"alert"}, models.StepRefs{"ship"}
			d.Steps[4].Action.Cases = []models.Case{{When: "inputs.orderId == 'x'", Next: "alert"}}
			d.Steps[3].Dependencies = []string{"fetch"}
		}, with(func(x *models.DefinitionDiff) {
			x.StepsChanged = []models.StepChange{
				{ID: "alert", Fields: []string{"dependencies"}},
				{ID: "check", Fields: []string{"onFailure", "onSuccess"}},
				{ID: "route", Fields: []string{"action.cases"}},
			}
			x.EdgesAdded = []models.DiffEdge{
				{From: "check", To: "alert", Kind: models.EdgeOnSuccess},
				{From: "check", To: "ship", Kind: models.EdgeOnFailure},
				{From: "fetch", To: "alert", Kind: models.EdgeDependency},
			}
			x.EdgesRemoved = []models.DiffEdge{
				{From: "check", To: "alert", Kind: models.EdgeOnFailure},
				{From: "check", To: "ship", Kind: models.EdgeOnSuccess},
				{From: "route", To: "ship", Kind: models.EdgeCase},
			}
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, b := diffBase(), diffBase()
			tt.change(&b)
			got := Diff(a, b)
			if !reflect.DeepEqual(got, tt.want) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(tt.want, "", " ")
				t.Errorf("Diff:\n got  %s\n want %s", g, w)
			}
			if got.Empty() != reflect.DeepEqual(tt.want, empty) {
				t.Errorf("Empty() = %v", got.Empty())
			}
			// Reversed, additions and removals swap.
			back := Diff(b, a)
			if !reflect.DeepEqual(back.StepsAdded, got.StepsRemoved) || !reflect.DeepEqual(back.EdgesAdded, got.EdgesRemoved) ||
				!reflect.DeepEqual(back.EdgesRemoved, got.EdgesAdded) || !reflect.DeepEqual(back.Fields, got.Fields) {
				t.Errorf("Diff(b, a) = %+v is not the mirror of %+v", back, got)
			}
		})
	}
}

func TestDiffJSONAndDeterminism(t *testing.T) {
	t.Parallel()
	a, b := diffBase(), diffBase()
	b.Steps = b.Steps[:1]
	first, err := json.Marshal(Diff(a, b))
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := json.Marshal(Diff(a, b))
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(first) {
			t.Fatalf("Diff is not deterministic:\n%s\n%s", first, again)
		}
	}
	var shape map[string]any
	if err := json.Unmarshal(first, &shape); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"fields", "stepsAdded", "stepsRemoved", "stepsChanged", "edgesAdded", "edgesRemoved"} {
		if _, ok := shape[k].([]any); !ok {
			t.Errorf("JSON field %q = %#v, want a list (never null)", k, shape[k])
		}
	}
	// An unencodable value (not from a parsed definition) still compares.
	c := diffBase()
	c.Outputs = map[string]any{"bad": make(chan int)}
	if d := Diff(diffBase(), c); len(d.Fields) == 0 {
		t.Error("a definition with an unencodable output compared equal")
	}
	dup := diffBase()
	dup.Steps = append(dup.Steps, models.Step{ID: "fetch", Type: models.StepWait})
	if d := Diff(diffBase(), dup); !d.Empty() {
		t.Errorf("a duplicate step id (its first occurrence unchanged) gave %+v", d)
	}
}

// BenchmarkDiff compares two 500-step chains that differ in every tenth step.
func BenchmarkDiff(b *testing.B) {
	chain := func(url string) models.Definition {
		d := models.Definition{ID: "big", Name: "Big"}
		for i := range 500 {
			s := models.Step{ID: fmt.Sprintf("s%03d", i), Type: models.StepCommand,
				Action: models.Action{Kind: models.KindHTTP, URL: url, Headers: map[string]string{"A": "b"}}}
			if i > 0 {
				s.Dependencies = []string{fmt.Sprintf("s%03d", i-1)}
			}
			if i%10 == 0 {
				s.Action.URL += "/changed"
			}
			d.Steps = append(d.Steps, s)
		}
		return d
	}
	a, c := chain("http://a"), chain("http://b")
	for i := range a.Steps {
		if i%10 != 0 {
			c.Steps[i].Action.URL = a.Steps[i].Action.URL
		}
	}
	for b.Loop() {
		if d := Diff(a, c); len(d.StepsChanged) != 50 {
			b.Fatalf("changed %d steps, want 50", len(d.StepsChanged))
		}
	}
}
