package plan

import (
	"fmt"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

// BenchmarkEvalCondition measures one evaluation of a compiled condition
// that reads an input and a step's output (the target: under 1 µs,
// at most 2 allocations).
func BenchmarkEvalCondition(b *testing.B) {
	def := models.Definition{
		ID:     "bench",
		Name:   "bench",
		Inputs: map[string]models.InputDecl{"amount": {Type: models.TypeNumber}},
		Steps: []models.Step{
			{ID: "check", Type: models.StepCommand, Action: models.Action{Kind: models.KindSet, Values: map[string]any{"ok": true}}},
			{ID: "big", Type: models.StepCondition, Dependencies: []string{"check"},
				Action: models.Action{Expression: "inputs.amount > 1000 && steps.check.output.ok"}},
		},
	}
	p, err := Compile(def)
	if err != nil {
		b.Fatal(err)
	}
	s := NewScope(p, RunInfo{ID: "r"}, map[string]any{"amount": 2000.0})
	s.SetStep("check", StepResult{Status: models.StepSucceeded, Output: map[string]any{"ok": true}, Attempts: 1})
	cond := p.Steps[1].Condition
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ok, err := cond.Bool(s)
		if err != nil || !ok {
			b.Fatalf("Bool = %v, %v; want true, nil", ok, err)
		}
	}
}

// bigDefinition builds a definition of n steps that looks like real ones:
// chains of HTTP calls with templates, guards, conditions and fan-outs.
func bigDefinition(n int) models.Definition {
	def := models.Definition{
		ID:   "big",
		Name: "A big workflow",
		Inputs: map[string]models.InputDecl{
			"baseUrl": {Type: models.TypeString, Required: true},
			"amount":  {Type: models.TypeNumber, Default: 0.0},
			"items":   {Type: models.TypeArray},
		},
		RetryPolicy: &models.RetryPolicy{MaxAttempts: 3},
	}
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("s%04d", i)
		st := models.Step{ID: id, Type: models.StepCommand}
		if i > 0 {
			st.Dependencies = []string{fmt.Sprintf("s%04d", i-1)}
		}
		switch i % 5 {
		case 0, 1:
			st.Action = models.Action{Kind: models.KindHTTP, Method: "POST",
				URL:     "{{ inputs.baseUrl }}/orders/" + id,
				Headers: map[string]string{"X-Run": "{{ run.id }}"},
				Body:    map[string]any{"amount": "{{ inputs.amount }}", "step": id}}
		case 2:
			st.When = fmt.Sprintf("inputs.amount > %d", i)
			st.Action = models.Action{Kind: models.KindLog, Message: "step " + id + " saw {{ inputs.amount }}"}
		case 3:
			st.Type = models.StepCondition
			st.Action = models.Action{Expression: fmt.Sprintf("steps.s%04d.status == \"succeeded\" && inputs.amount < 1e6", i-1)}
		case 4:
			st.Type = models.StepParallel
			st.Action = models.Action{ForEach: "inputs.items ?? []", Step: &models.Action{Kind: models.KindHTTP,
				URL: "{{ inputs.baseUrl }}/items/{{ item }}"}}
		}
		def.Steps = append(def.Steps, st)
	}
	return def
}

// BenchmarkCompile1000Steps measures Compile of a 1,000-step definition
// (target: under 20 ms).
func BenchmarkCompile1000Steps(b *testing.B) {
	def := bigDefinition(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile(def); err != nil {
			b.Fatal(strings.SplitN(err.Error(), ";", 3)[:2])
		}
	}
}
