package plan

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/baton-run/baton/models"
)

const exprDef = `
id: exprs
name: Expressions
inputs:
  amount: {type: number}
  count: {type: integer, default: 2}
  tags: {type: array, default: [a, b]}
  meta: {type: object, default: {owner: ann}}
  name: {type: string, default: "x"}
steps:
  - {id: check, type: command, action: {kind: set, values: {ok: true}}}
  - {id: big, type: condition, dependencies: [check], action: {expression: "inputs.amount > 1000 && steps.check.output.ok"}}
  - {id: guarded, type: command, when: "steps.check.status == 'succeeded' && run.version >= 2", action: {kind: log, message: "m"}}
  - {id: fan, type: parallel, action: {forEach: "inputs.tags", as: tag, step: {kind: log, message: "{{ tag }}#{{ index }} of {{ inputs.count }} after {{ steps.check.status }}"}}}
  - {id: nested, type: condition, action: {expression: "steps.check.output.deep.value > 1"}}
  - {id: notbool, type: condition, action: {expression: "inputs.meta.owner"}}
  - {id: hostile, type: condition, action: {expression: "len(map(1..10000000, # * 2)) > 0"}}
`

func exprPlan(t testing.TB) (*Plan, *Scope) {
	t.Helper()
	p := mustCompileYAML(t, exprDef)
	in, err := p.CheckInputs(map[string]any{"amount": 2000})
	if err != nil {
		t.Fatal(err)
	}
	s := NewScope(p, RunInfo{ID: "r1", Template: "exprs", Version: 3, StartedAt: "2026-11-27T10:00:00Z"}, in)
	return p, s
}

func step(t testing.TB, p *Plan, id string) *PlanStep {
	t.Helper()
	s, ok := p.Step(id)
	if !ok {
		t.Fatalf("no step %q", id)
	}
	return s
}

func TestExprEval(t *testing.T) {
	t.Parallel()
	p, s := exprPlan(t)
	big := step(t, p, "big").Condition
	// Before check has run, its output is null: fetching from it fails.
	_, err := big.Bool(s)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Path != "steps[1].action.expression" || !strings.Contains(ee.Message, "cannot fetch ok from <nil>") {
		t.Fatalf("Bool before check ran = %v; want an EvalError about the missing output", err)
	}
	s.SetStep("check", StepResult{Status: models.StepSucceeded, Output: map[string]any{"ok": true}, Attempts: 1})
	if ok, err := big.Bool(s); err != nil || !ok {
		t.Errorf("Bool = %v, %v; want true", ok, err)
	}
	s.SetStep("check", StepResult{Status: models.StepSucceeded, Output: map[string]any{"ok": false}, Attempts: 2})
	if ok, err := big.Bool(s); err != nil || ok {
		t.Errorf("Bool after retry = %v, %v; want false", ok, err)
	}
	if ok, err := step(t, p, "guarded").When.Bool(s); err != nil || !ok {
		t.Errorf("guard = %v, %v; want true (run.version is 3)", ok, err)
	}
	_, err = step(t, p, "notbool").Condition.Bool(s)
	if err == nil || err.Error() != `steps[5].action.expression: expression "inputs.meta.owner" must give true or false, not the string "ann"` {
		t.Errorf("Bool(non-boolean) = %v", err)
	}
	if v, err := step(t, p, "notbool").Condition.Eval(s); err != nil || v != "ann" {
		t.Errorf("Eval = %v, %v; want ann", v, err)
	}
	_, err = step(t, p, "nested").Condition.Bool(s)
	if !errors.As(err, &ee) || !strings.Contains(ee.Message, "column") {
		t.Errorf("Bool(nested missing) = %v; want an EvalError with a column", err)
	}
	var nilScope *Scope
	if _, err := big.Eval(nilScope); err == nil {
		t.Error("Eval(nil scope) succeeded")
	}
}

// TestExprHostile: an expression that would allocate without bound stops
// at the memory budget with an error.
func TestExprHostile(t *testing.T) {
	t.Parallel()
	p, s := exprPlan(t)
	_, err := step(t, p, "hostile").Condition.Bool(s)
	if err == nil || !strings.Contains(err.Error(), "memory budget exceeded") {
		t.Fatalf("Bool(hostile) = %v; want memory budget exceeded", err)
	}
	// Too many nodes for the checker, though within the byte limit.
	src := strings.TrimSuffix(strings.Repeat("1+", 1500), "+") + " > 0"
	got := problemsOf(t, "id: h\nname: H\nsteps:\n  - {id: a, type: condition, action: {expression: \""+src+"\"}}\n", Limits{})
	if len(got) != 1 || got[0].Path != "steps[0].action.expression" || !strings.Contains(got[0].Message, "exceeds maximum allowed nodes") {
		t.Errorf("problems = %v; want the node limit", got)
	}
}

func TestExprForEachScope(t *testing.T) {
	t.Parallel()
	p, s := exprPlan(t)
	fan := step(t, p, "fan")
	items, err := fan.ForEach.List(s, p.Limits().MaxForEachItems)
	if err != nil || len(items) != 2 {
		t.Fatalf("List = %v, %v", items, err)
	}
	child := s.WithItem(fan.ItemName, items[1], 1)
	// A step that settles after the child was made is visible to it.
	s.SetStep("check", StepResult{Status: models.StepSucceeded, Attempts: 1})
	a, err := fan.ItemAction.Render(child)
	if err != nil {
		t.Fatal(err)
	}
	if a.Message != "b#1 of 2 after succeeded" {
		t.Errorf("Message = %q", a.Message)
	}
	// Expressions of the run's scope evaluate the same on an element's scope.
	big := step(t, p, "big").Condition
	s.SetStep("check", StepResult{Status: models.StepSucceeded, Output: map[string]any{"ok": true}})
	if ok, err := big.Bool(child); err != nil || !ok {
		t.Errorf("Bool(child) = %v, %v; want true", ok, err)
	}
	// SetStep through a child updates the run.
	child.SetStep("check", StepResult{Status: models.StepFailed, Output: map[string]any{"ok": true}})
	if v, _ := s.Value("steps"); v.(map[string]any)["check"].(map[string]any)["status"] != "failed" {
		t.Errorf("steps.check after child.SetStep = %v", v)
	}
	if ok, _ := step(t, p, "guarded").When.Bool(s); ok {
		t.Error("guard still sees the old status")
	}
	grandchild := child.WithItem("tag", "z", 7)
	if v, _ := grandchild.Value("index"); v != 7 {
		t.Errorf("index = %v", v)
	}
	if _, err := fan.ForEach.List(s, 1); err == nil || !strings.Contains(err.Error(), "gave 2 elements; the limit is 1") {
		t.Errorf("List over the limit = %v", err)
	}
}

func TestExprList(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, `
id: l
name: L
inputs: {v: {type: object}}
steps:
  - {id: a, type: parallel, action: {forEach: "inputs.v.list", step: {kind: log, message: x}}}
  - {id: b, type: parallel, action: {forEach: "1..3", step: {kind: log, message: x}}}
`)
	for _, tt := range []struct {
		v    any
		want string
	}{
		{map[string]any{"list": "no"}, `forEach "inputs.v.list" must give a list, not the string "no"`},
		{map[string]any{}, `forEach "inputs.v.list" gave null, not a list`},
		{map[string]any{"list": []string{"x", "y"}}, ""},
	} {
		s := NewScope(p, RunInfo{}, map[string]any{"v": tt.v})
		items, err := p.Steps[0].ForEach.List(s, 0)
		if tt.want == "" {
			if err != nil || len(items) != 2 || items[1] != "y" {
				t.Errorf("List(%v) = %v, %v", tt.v, items, err)
			}
			continue
		}
		if err == nil || !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("List(%v) = %v; want %q", tt.v, err, tt.want)
		}
	}
	items, err := p.Steps[1].ForEach.List(NewScope(p, RunInfo{}, nil), 0)
	if err != nil || len(items) != 3 || items[0] != 1 {
		t.Errorf("List(1..3) = %v, %v", items, err)
	}
}

// TestExprConcurrentEval: a compiled plan is shared by runs; evaluating
// from many goroutines at once is safe (run with -race).
func TestExprConcurrentEval(t *testing.T) {
	t.Parallel()
	p, s := exprPlan(t)
	s.SetStep("check", StepResult{Status: models.StepSucceeded, Output: map[string]any{"ok": true}})
	big := step(t, p, "big").Condition
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if ok, err := big.Bool(s); err != nil || !ok {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent Bool: %v", err)
	}
}

func TestScopeBeforeAnyStep(t *testing.T) {
	t.Parallel()
	p, s := exprPlan(t)
	v, err := step(t, p, "guarded").When.Eval(s)
	if err != nil || v != false {
		t.Errorf("guard before check ran = %v, %v; want false (status pending)", v, err)
	}
	in, _ := s.Value("inputs")
	if in.(map[string]any)["count"] != 2 {
		t.Errorf("inputs.count = %#v; want int 2", in.(map[string]any)["count"])
	}
	if _, ok := s.Value("nothing"); ok {
		t.Error(`Value("nothing") found something`)
	}
}

func TestNewScopeNormalisesIntegers(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, `
id: i
name: I
inputs: {n: {type: integer}}
steps:
  - {id: a, type: parallel, action: {forEach: "1..inputs.n", step: {kind: log, message: x}}}
`)
	// Inputs read back from JSON (a store, a retry) are float64.
	s := NewScope(p, RunInfo{}, map[string]any{"n": float64(3)})
	items, err := p.Steps[0].ForEach.List(s, 0)
	if err != nil || len(items) != 3 {
		t.Errorf("List(1..n) = %v, %v", items, err)
	}
	for in, want := range map[any]any{float32(2): 2, int64(4): 4, int32(5): 5, uint64(6): 6, uint32(7): 7, 1.5: 1.5, "x": "x"} {
		if got := toInt(in); got != want {
			t.Errorf("toInt(%#v) = %#v; want %#v", in, got, want)
		}
	}
}

func TestMessageHelpers(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"int": "a number", "float64": "a number", "uint8": "a number", "string": "a string",
		"map[string]interface {}": "an object", "[]interface {}": "a list", "nil": "null", "time.Time": "a value of type time.Time",
	} {
		if got := kindName(in); got != want {
			t.Errorf("kindName(%q) = %q; want %q", in, got, want)
		}
	}
	for in, want := range map[any]string{
		nil: "null", true: "the boolean true", "s": `the string "s"`, 3: "the number 3", 2.5: "the number 2.5",
		strings.Repeat("x", 50): `the string "` + strings.Repeat("x", 40) + `…"`,
	} {
		if got := describe(in); got != want {
			t.Errorf("describe(%#v) = %q; want %q", in, got, want)
		}
	}
	if got := describe(map[string]any{}); got != "an object" {
		t.Errorf("describe(object) = %q", got)
	}
	if got := describe([]any{}); got != "a list" {
		t.Errorf("describe(list) = %q", got)
	}
	if got := (&EvalError{Message: "m"}).Error(); got != "m" {
		t.Errorf("EvalError without a path = %q", got)
	}
	for in, want := range map[any]bool{1.5: true, float32(2): true, 3: true, int64(4): true, int32(5): true, uint64(6): true,
		math.NaN(): false, math.Inf(1): false, json.Number("x"): false, json.Number("7"): true, "8": false} {
		if _, ok := toFloat(in); ok != want {
			t.Errorf("toFloat(%#v) ok = %v; want %v", in, ok, want)
		}
	}
}

func TestMultiLineExpressionError(t *testing.T) {
	t.Parallel()
	got := problemsOf(t, "id: m\nname: M\nsteps:\n  - {id: a, type: condition, action: {expression: \"true &&\\n  1 +\"}}\n", Limits{})
	if len(got) != 1 || !strings.HasPrefix(got[0].Message, "line 2, column") {
		t.Errorf("problems = %v; want a line and a column", got)
	}
}

// TestExprHostileText: expressions that would build unbounded text or
// lists stop with an error instead of exhausting the server's memory. Each
// of these allocated gigabytes (or terabytes) before text was budgeted.
func TestExprHostileText(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<20)
	for _, src := range []string{
		`len(reduce(1..40, #acc + #acc, "x")) > 0`,
		`len(reduce(1..25, #acc + #acc + #acc, "x")) > 0`,
		`len(reduce(1..40, concat(#acc, #acc), [1])) > 0`,
		`len(reduce(1..40, join([#acc, #acc]), "x")) > 0`,
		`len(reduce(1..60, toJSON(#acc), "\"")) > 0`,
		`len(reduce(1..40, replace(#acc, "x", "xx"), "xxxxxxxx")) > 0`,
		`len(reduce(1..40, repeat(#acc, 2), "x")) > 0`,
		`len(reduce(1..60, toBase64(#acc), "xxxx")) > 0`,
		`len(join(map(1..100000, inputs.big))) > 0`,
		`len(string(map(1..100000, inputs.big))) > 0`,
		`len(toJSON(map(1..100000, inputs.big))) > 0`,
		`len(replace(inputs.big, "", inputs.big)) > 0`,
		`len(map(1..100000, inputs.big + "x")) > 0`,
		`len(let a = inputs.big + inputs.big; let b = a + a; let c = b + b; let d = c + c; let e = d + d; e + e) > 0`,
		`len(split(repeat(inputs.big, 20), "")) > 0`,
		`len(toJSON(map(1..1000, map(1..1000, 1)))) > 0`,
	} {
		p := mustCompileYAML(t, "id: h\nname: H\ninputs: {big: {type: string}}\nsteps:\n  - {id: a, type: condition, action: {expression: '"+src+"'}}\n")
		s := NewScope(p, RunInfo{}, map[string]any{"big": big})
		if _, err := p.Steps[0].Condition.Bool(s); err == nil {
			t.Errorf("Bool(%s) succeeded; want a refusal", src)
		}
	}
	// Ordinary text building still works, and `+` keeps its types.
	p := mustCompileYAML(t, `
id: ok
name: OK
inputs: {n: {type: integer, default: 2}, s: {type: string, default: "ab"}}
steps:
  - {id: a, type: condition, action: {expression: 'inputs.s + "c" == "abc" && inputs.n + 1 == 3 && inputs.n + 0.5 == 2.5 && join(["a", "b"], "-") == "a-b" && replace("aa", "a", "b") == "bb" && fromJSON(toJSON([1]))[0] == 1 && string(1) == "1" && len(split("a,b", ",")) == 2 && toBase64("a") == "YQ==" && repeat("a", 3) == "aaa" && (now() + duration("1h")) > now()'}}
`)
	in, _ := p.CheckInputs(nil)
	s := NewScope(p, RunInfo{}, in)
	if ok, err := p.Steps[0].Condition.Bool(s); err != nil || !ok {
		t.Errorf("ordinary expression = %v, %v; want true", ok, err)
	}
	got := problemsOf(t, "id: m\nname: M\ninputs: {s: {type: string}}\nsteps:\n  - {id: a, type: condition, action: {expression: 'inputs.s + 1 == 2'}}\n", Limits{})
	if len(got) != 1 || got[0].Message != "column 10: invalid operation: + (mismatched types string and int)" {
		t.Errorf("problems = %v; want the mismatched + refused", got)
	}
}
