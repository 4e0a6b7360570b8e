package plan

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

const tplDef = `
id: tpl
name: Templates
inputs:
  count: {type: integer, default: 3}
  price: {type: number, default: 2.5}
  flag: {type: boolean, default: true}
  obj: {type: object, default: {a: 1, b: [x, y]}}
  list: {type: array, default: [1, "two"]}
  name: {type: string, default: "ann"}
  opt: {type: string}
steps:
  - id: call
    type: command
    action:
      kind: http
      method: "{{ inputs.flag ? 'POST' : 'GET' }}"
      url: "http://h/{{ inputs.name }}/{{ inputs.count }}"
      headers: {X-Count: "{{ inputs.count }}", X-Fixed: "fixed"}
      query: {p: "{{ inputs.price }}"}
      body: {n: "{{ inputs.count }}", s: "n={{ inputs.count }}", list: ["{{ inputs.obj }}", 5, null, {k: "{{ run.id }}"}], fixed: {a: [1]}}
    compensate: {kind: fail, message: "undo {{ inputs.name }}", retryable: true}
  - id: set
    type: command
    action: {kind: set, values: {price: "{{ inputs.price }}", both: "{{ inputs.price }}{{ inputs.flag }}", literal: 7, nested: {o: "{{ inputs.list }}"}}}
  - id: sub
    type: command
    action: {kind: subworkflow, template: "child-{{ inputs.name }}", version: 2, inputs: {n: "{{ inputs.count * 2 }}"}}
  - id: dev
    type: command
    action: {kind: device, command: "run {{ inputs.name }}", args: ["{{ inputs.count }}", "-v"], require: [gpu], env: {N: "{{ inputs.count }}"}, strategy: least_loaded}
  - id: bad
    type: command
    action: {kind: log, message: "{{ steps.call.output.missing.deeper }}"}
outputs:
  whole: "{{ inputs.obj }}"
  text: "obj={{ inputs.obj }} list={{ inputs.list }} opt=[{{ inputs.opt }}] f={{ inputs.flag }} p={{ inputs.price }} n={{ inputs.count }} big={{ 1e21 }} int={{ 10000000 }}"
  plain: "no placeholders, {single braces}"
  nan: "{{ 0.0 / 0.0 }} and {{ 'x' }}"
`

func TestTemplateRender(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, tplDef)
	in, err := p.CheckInputs(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := NewScope(p, RunInfo{ID: "r9"}, in)
	for name, want := range map[string]any{
		"whole": map[string]any{"a": 1.0, "b": []any{"x", "y"}},
		"text":  `obj={"a":1,"b":["x","y"]} list=[1,"two"] opt=[] f=true p=2.5 n=3 big=1e+21 int=10000000`,
		"plain": "no placeholders, {single braces}",
		"nan":   "NaN and x",
	} {
		got, err := p.Outputs[name].Render(s)
		if err != nil {
			t.Errorf("outputs.%s: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("outputs.%s = %#v; want %#v", name, got, want)
		}
	}
	if !p.Outputs["plain"].IsLiteral() || p.Outputs["text"].IsLiteral() || p.Outputs["whole"].Source() != "{{ inputs.obj }}" {
		t.Error("IsLiteral/Source disagree with the templates")
	}
}

func TestActionTemplateRender(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, tplDef)
	in, _ := p.CheckInputs(nil)
	s := NewScope(p, RunInfo{ID: "r9"}, in)
	call := step(t, p, "call")
	before := call.Action.Action()
	a, err := call.Action.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	want := models.Action{
		Kind:    "http",
		Method:  "POST",
		URL:     "http://h/ann/3",
		Headers: map[string]string{"X-Count": "3", "X-Fixed": "fixed"},
		Query:   map[string]string{"p": "2.5"},
		Body: map[string]any{
			"n":     3, // a whole placeholder keeps the type
			"s":     "n=3",
			"list":  []any{map[string]any{"a": 1.0, "b": []any{"x", "y"}}, 5.0, nil, map[string]any{"k": "r9"}},
			"fixed": map[string]any{"a": []any{1.0}},
		},
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("Render =\n%#v\nwant\n%#v", a, want)
	}
	// The compiled action is unchanged by rendering.
	if !reflect.DeepEqual(call.Action.Action(), before) || before.URL != "http://h/{{ inputs.name }}/{{ inputs.count }}" {
		t.Errorf("Action() changed: %#v", call.Action.Action())
	}
	comp, err := call.Compensate.Render(s)
	if err != nil || comp.Message != "undo ann" || comp.Retryable == nil || !*comp.Retryable {
		t.Errorf("compensate = %+v, %v", comp, err)
	}

	set, err := step(t, p, "set").Action.Render(s)
	wantValues := map[string]any{"price": 2.5, "both": "2.5true", "literal": 7.0, "nested": map[string]any{"o": []any{1.0, "two"}}}
	if err != nil || !reflect.DeepEqual(set.Values, wantValues) {
		t.Errorf("set values = %#v, %v; want %#v", set.Values, err, wantValues)
	}
	sub, err := step(t, p, "sub").Action.Render(s)
	if err != nil || sub.Template != "child-ann" || sub.Version != 2 || !reflect.DeepEqual(sub.Inputs, map[string]any{"n": 6}) {
		t.Errorf("subworkflow = %+v, %v", sub, err)
	}
	dev, err := step(t, p, "dev").Action.Render(s)
	if err != nil || dev.Command != "run ann" || !reflect.DeepEqual(dev.Args, []string{"3", "-v"}) || dev.Strategy != "least_loaded" {
		t.Errorf("device = %+v, %v", dev, err)
	}
	_, err = step(t, p, "bad").Action.Render(s)
	var ee *EvalError
	if !errors.As(err, &ee) || ee.Path != "steps[4].action.message" {
		t.Errorf("Render(bad) = %v; want an EvalError at steps[4].action.message", err)
	}
}

func TestTemplateRenderErrors(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, `
id: e
name: E
inputs: {o: {type: object}}
steps:
  - id: a
    type: command
    action:
      kind: http
      url: "{{ inputs.o }}"
      headers: {h: "{{ inputs.o.x.y }}"}
      query: {q: "{{ inputs.o.x.y }}"}
      body: {b: ["{{ inputs.o.x.y }}"]}
      method: "{{ inputs.o.x.y }}"
  - id: b
    type: command
    action: {kind: subworkflow, template: t, inputs: {i: {j: "{{ inputs.o.x.y }}"}}}
  - id: c
    type: command
    action: {kind: device, command: c, args: ["{{ inputs.o.x.y }}"]}
  - id: d
    type: command
    action: {kind: set, values: {v: "a{{ inputs.o.f }}"}}
`)
	s := NewScope(p, RunInfo{}, map[string]any{"o": map[string]any{"f": func() {}}})
	for _, id := range []string{"a", "b", "c"} {
		if _, err := step(t, p, id).Action.Render(s); err == nil {
			t.Errorf("Render(%s) succeeded; want an error", id)
		}
	}
	_, err := step(t, p, "d").Action.Render(s)
	if err == nil || !strings.Contains(err.Error(), "cannot write a value of type func() as text") {
		t.Errorf("Render(d) = %v", err)
	}
	// Whole-placeholder string fields format non-strings.
	s2 := NewScope(p, RunInfo{}, map[string]any{"o": map[string]any{"x": map[string]any{"y": 5}}})
	a, err := step(t, p, "a").Action.Render(s2)
	if err != nil || a.URL != `{"x":{"y":5}}` || a.Method != "5" {
		t.Errorf("Render = %q %q, %v; want the object as JSON and 5", a.URL, a.Method, err)
	}
	s3 := NewScope(p, RunInfo{}, map[string]any{"o": map[string]any{"x": map[string]any{"y": math.Inf(1)}}})
	_, err = step(t, p, "a").Action.Render(s3)
	if err == nil || err.Error() != "steps[0].action.url: cannot write an object as text" {
		t.Errorf("Render(+Inf inside an object) = %v", err)
	}
}
