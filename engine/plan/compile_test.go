package plan

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

func mustCompileYAML(t testing.TB, src string) *Plan {
	t.Helper()
	p, err := Compiler{}.ParseAndCompile([]byte(src), FormatYAML)
	if err != nil {
		t.Fatalf("ParseAndCompile: %v", err)
	}
	return p
}

func TestCompileSpecExample(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/definitions/spec-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p := mustCompileYAML(t, string(data))
	edges := map[string][2][]Edge{}
	for _, s := range p.Steps {
		edges[s.Step.ID] = [2][]Edge{s.In, s.Out}
	}
	want := map[string][2][]Edge{
		"reserve": {nil, {{From: "reserve", To: "big", Kind: EdgeDependency}}},
		"big": {{{From: "reserve", To: "big", Kind: EdgeDependency}},
			{{From: "big", To: "review", Kind: EdgeOnSuccess}, {From: "big", To: "auto", Kind: EdgeOnFailure}}},
		"review": {{{From: "big", To: "review", Kind: EdgeOnSuccess}}, {{From: "review", To: "ship", Kind: EdgeDependency}}},
		"auto":   {{{From: "big", To: "auto", Kind: EdgeOnFailure}}, {{From: "auto", To: "ship", Kind: EdgeDependency}}},
		"ship":   {{{From: "review", To: "ship", Kind: EdgeDependency}, {From: "auto", To: "ship", Kind: EdgeDependency}}, nil},
	}
	if !reflect.DeepEqual(edges, want) {
		t.Errorf("edges = %v\nwant %v", edges, want)
	}
	for i, s := range p.Steps {
		if s.Index != i {
			t.Errorf("Steps[%d].Index = %d", i, s.Index)
		}
		if got, ok := p.Step(s.Step.ID); !ok || got != s {
			t.Errorf("Step(%q) = %v, %v", s.Step.ID, got, ok)
		}
	}
	if _, ok := p.Step("nope"); ok {
		t.Error(`Step("nope") found a step`)
	}
	reserve, _ := p.Step("reserve")
	if reserve.Action == nil || reserve.Compensate == nil {
		t.Fatal("reserve: want an action and a compensation")
	}
	// The workflow's retry policy, completed with the defaults.
	jitter := 0.1
	wantRetry := models.RetryPolicy{MaxAttempts: 3, InitialInterval: 200, BackoffCoefficient: 2, MaxInterval: 60000, Jitter: &jitter}
	if !reflect.DeepEqual(reserve.Retry, wantRetry) {
		t.Errorf("Retry = %+v; want %+v", reserve.Retry, wantRetry)
	}
	big, _ := p.Step("big")
	if big.Condition == nil || big.Condition.Source() != "inputs.amount > 1000" {
		t.Errorf("big.Condition = %v", big.Condition)
	}
	if p.Outputs["tracking"] == nil {
		t.Error("outputs.tracking not compiled")
	}
	if p.Definition.ErrorHandling.Strategy != models.StrategyRollback {
		t.Errorf("errorHandling = %+v", p.Definition.ErrorHandling)
	}
	if l := p.Limits(); l != (Limits{1000, 1 << 20, 4 << 10, 10000, 1 << 20, 1 << 20}) {
		t.Errorf("Limits() = %+v; want the spec's defaults", l)
	}
}

func TestCompileDefaults(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, `
id: defaults
name: Defaults
steps:
  - {id: a, type: command, action: {kind: http, url: "http://x", method: post}}
  - id: b
    name: Step B
    type: parallel
    dependencies: [a]
    trigger: all_done
    retryPolicy: {maxAttempts: 4, jitter: 0}
    action: {forEach: "[1, 2]", step: {kind: log, message: "{{ item }} at {{ index }}"}}
  - {id: c, type: condition, action: {cases: [{when: "true", next: a2}, {when: "false", next: b2}], default: c2}}
  - {id: a2, type: command, action: {kind: log, message: a}}
  - {id: b2, type: command, action: {kind: log, message: b}}
  - {id: c2, type: command, action: {kind: log, message: c}}
parallelGroups:
  - {id: g, steps: [a2, b2], maxConcurrency: 1}
`)
	d := p.Definition
	if d.ErrorHandling == nil || d.ErrorHandling.Strategy != models.StrategyFail {
		t.Errorf("errorHandling = %+v; want fail", d.ErrorHandling)
	}
	jitter := 0.1
	if want := (models.RetryPolicy{MaxAttempts: 1, InitialInterval: 1000, BackoffCoefficient: 2, MaxInterval: 60000, Jitter: &jitter}); !reflect.DeepEqual(*d.RetryPolicy, want) {
		t.Errorf("retryPolicy = %+v; want %+v", *d.RetryPolicy, want)
	}
	a, b := p.Steps[0], p.Steps[1]
	if a.Step.Name != "a" || a.Step.Trigger != models.TriggerNoneFailed || a.Step.Action.Method != "POST" {
		t.Errorf("a = %+v; want name a, trigger none_failed, method POST", a.Step)
	}
	if a.Step.RetryPolicy != nil {
		t.Errorf("a.RetryPolicy = %+v; want nil (the workflow's applies)", a.Step.RetryPolicy)
	}
	if a.Retry.MaxAttempts != 1 {
		t.Errorf("a.Retry = %+v", a.Retry)
	}
	if b.Step.Name != "Step B" || b.Step.Trigger != models.TriggerAllDone || b.ItemName != "item" || b.Step.Action.As != "item" {
		t.Errorf("b = %+v, item name %q", b.Step, b.ItemName)
	}
	if b.Retry.MaxAttempts != 4 || *b.Retry.Jitter != 0 || b.Retry.InitialInterval != 1000 {
		t.Errorf("b.Retry = %+v; want 4 attempts, jitter 0, the rest defaults", b.Retry)
	}
	if b.ForEach == nil || b.ItemAction == nil || b.Action != nil {
		t.Errorf("b: ForEach %v, ItemAction %v, Action %v", b.ForEach, b.ItemAction, b.Action)
	}
	c := p.Steps[2]
	wantOut := []Edge{{From: "c", To: "a2", Kind: EdgeCase, Case: 0}, {From: "c", To: "b2", Kind: EdgeCase, Case: 1}, {From: "c", To: "c2", Kind: EdgeCase, Case: -1}}
	if !reflect.DeepEqual(c.Out, wantOut) || len(c.Cases) != 2 {
		t.Errorf("c.Out = %v; want %v", c.Out, wantOut)
	}
	if p.Steps[3].Group != "g" || p.Steps[4].Group != "g" || p.Steps[5].Group != "" {
		t.Errorf("groups: %q %q %q", p.Steps[3].Group, p.Steps[4].Group, p.Steps[5].Group)
	}
	if g := p.Groups["g"]; g == nil || g.MaxConcurrency != 1 {
		t.Errorf("Groups[g] = %+v", g)
	}
}

// TestCompileLeavesInputAlone: Compile fills defaults in its own copy.
func TestCompileLeavesInputAlone(t *testing.T) {
	t.Parallel()
	def := models.Definition{
		ID: "x", Name: "X",
		RetryPolicy: &models.RetryPolicy{MaxAttempts: 2},
		Steps: []models.Step{{ID: "a", Type: models.StepCommand, RetryPolicy: &models.RetryPolicy{MaxAttempts: 3},
			Action: models.Action{Kind: models.KindHTTP, URL: "http://x"}}},
	}
	if _, err := Compile(def); err != nil {
		t.Fatal(err)
	}
	if def.Steps[0].Name != "" || def.Steps[0].Trigger != "" || def.Steps[0].Action.Method != "" ||
		def.ErrorHandling != nil || def.RetryPolicy.Jitter != nil || def.Steps[0].RetryPolicy.Jitter != nil {
		t.Errorf("Compile changed its argument: %+v", def)
	}
}

func TestCanonicalIsStableAndReadable(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, `
id: canon
name: Canon
timeout: 1m
steps:
  - {id: a, type: condition, action: {expression: "1 < 2 && true"}, onSuccess: b}
  - {id: b, type: wait, action: {duration: 1.5s}}
`)
	got, err := p.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"canon","name":"Canon","steps":[{"id":"a","name":"a","type":"condition","action":{"expression":"1 < 2 && true"},"trigger":"none_failed","onSuccess":"b"},{"id":"b","name":"b","type":"wait","action":{"duration":1500},"trigger":"none_failed"}],"errorHandling":{"strategy":"fail"},"timeout":60000,"retryPolicy":{"maxAttempts":1,"initialInterval":1000,"backoffCoefficient":2,"maxInterval":60000,"jitter":0.1}}`
	if string(got) != want {
		t.Errorf("Canonical() =\n%s\nwant\n%s", got, want)
	}
	p2, err := Compiler{}.ParseAndCompile(got, FormatJSON)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := p2.Canonical()
	if string(again) != string(got) {
		t.Errorf("canonical → parse → canonical changed:\n%s\n%s", got, again)
	}
}

func TestCompileReportsEveryProblemOnce(t *testing.T) {
	t.Parallel()
	// 1,001 steps over the limit, each also with a bad reference: the
	// whole list comes back, not the first problem only.
	def := bigDefinition(1001)
	for i := range def.Steps {
		def.Steps[i].OnFailure = models.StepRefs{"missing"}
	}
	_, err := Compile(def)
	details := models.ErrorDetails(err)
	if len(details) != 1002 {
		t.Fatalf("got %d problems; want 1002 (the limit and one per step)", len(details))
	}
	if details[0] != (models.Problem{Path: "steps", Message: "1001 steps; the limit is 1000"}) {
		t.Errorf("first problem = %v", details[0])
	}
	if !strings.HasPrefix(err.Error(), "the definition has 1002 problems: steps: 1001 steps") {
		t.Errorf("Error() = %.80s…", err.Error())
	}
}

func TestCompileBigDefinition(t *testing.T) {
	t.Parallel()
	p, err := Compile(bigDefinition(1000))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 1000 || len(p.Steps[999].In) != 1 {
		t.Errorf("steps %d, last step's edges in %v", len(p.Steps), p.Steps[999].In)
	}
}
