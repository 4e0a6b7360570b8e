package plan

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

func TestCheckInputs(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, `
id: in
name: Inputs
inputs:
  orderId: {type: string, required: true}
  amount: {type: number, default: 0}
  count: {type: integer}
  urgent: {type: boolean, default: false}
  meta: {type: object, default: {tags: [a]}}
  lines: {type: array}
steps:
  - {id: a, type: command, action: {kind: log, message: x}}
`)
	tests := []struct {
		name string
		in   map[string]any
		want map[string]any
		errs []models.Problem
	}{
		{
			name: "DefaultsApplied",
			in:   map[string]any{"orderId": "A-1"},
			want: map[string]any{"orderId": "A-1", "amount": 0.0, "urgent": false, "meta": map[string]any{"tags": []any{"a"}}},
		},
		{
			name: "Normalised",
			in:   map[string]any{"orderId": "A-1", "amount": 5, "count": 7.0, "lines": []any{1}, "urgent": nil, "meta": map[string]any{}},
			want: map[string]any{"orderId": "A-1", "amount": 5.0, "count": 7, "lines": []any{1}, "urgent": false, "meta": map[string]any{}},
		},
		{
			name: "JSONNumbers",
			in:   map[string]any{"orderId": "A-1", "amount": json.Number("2.5"), "count": json.Number("4")},
			want: map[string]any{"orderId": "A-1", "amount": 2.5, "count": 4, "urgent": false, "meta": map[string]any{"tags": []any{"a"}}},
		},
		{
			name: "EveryProblem",
			in: map[string]any{"amount": "12", "count": 1.5, "urgent": "yes", "meta": []any{}, "lines": map[string]any{},
				"amout": 1, "orderID": "x"},
			errs: []models.Problem{
				{Path: "inputs.amount", Message: `must be a number, not the string "12"`},
				{Path: "inputs.amout", Message: `unknown input "amout" (did you mean "amount"?)`},
				{Path: "inputs.count", Message: "must be a whole number, not 1.5"},
				{Path: "inputs.lines", Message: "must be a list, not an object"},
				{Path: "inputs.meta", Message: "must be an object, not a list"},
				{Path: "inputs.orderID", Message: `unknown input "orderID" (did you mean "orderId"?)`},
				{Path: "inputs.urgent", Message: `must be true or false, not the string "yes"`},
				{Path: "inputs.orderId", Message: "required (a string)"},
			},
		},
		{
			name: "RequiredNull",
			in:   map[string]any{"orderId": nil, "count": true},
			errs: []models.Problem{
				{Path: "inputs.count", Message: "must be an integer, not the boolean true"},
				{Path: "inputs.orderId", Message: "required (a string)"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := p.CheckInputs(tt.in)
			if tt.errs != nil {
				if models.ErrorCode(err) != models.Invalid || !reflect.DeepEqual(models.ErrorDetails(err), tt.errs) {
					t.Errorf("CheckInputs = %v\nproblems:\n%s\nwant:\n%s", err, problemList(models.ErrorDetails(err)), problemList(tt.errs))
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("CheckInputs = %#v, %v; want %#v", got, err, tt.want)
			}
		})
	}
	// A run cannot change the default that every run shares.
	a, _ := p.CheckInputs(map[string]any{"orderId": "x"})
	a["meta"].(map[string]any)["tags"].([]any)[0] = "changed"
	b, _ := p.CheckInputs(map[string]any{"orderId": "x"})
	if b["meta"].(map[string]any)["tags"].([]any)[0] != "a" {
		t.Error("a run changed the shared default")
	}
}

func TestCheckInputsNoDeclarations(t *testing.T) {
	t.Parallel()
	p := mustCompileYAML(t, "id: n\nname: N\nsteps: [{id: a, type: wait, action: {duration: 1}}]\n")
	_, err := p.CheckInputs(map[string]any{"x": 1})
	want := []models.Problem{{Path: "inputs.x", Message: `unknown input "x": this workflow takes no inputs`}}
	if !reflect.DeepEqual(models.ErrorDetails(err), want) || err.Error() != `the inputs have 1 problem: inputs.x: unknown input "x": this workflow takes no inputs` {
		t.Errorf("CheckInputs = %v", err)
	}
	if got, err := p.CheckInputs(nil); err != nil || len(got) != 0 {
		t.Errorf("CheckInputs(nil) = %v, %v", got, err)
	}
}

// TestIntegerInputsStayExact: an integer input decoded exactly
// (json.Number) keeps every digit; one that reached the engine as a
// float64 past 2^53 is refused, since it may have been rounded.
func TestIntegerInputsStayExact(t *testing.T) {
	t.Parallel()
	v, msg := checkValue(models.TypeInteger, json.Number("9007199254740993"))
	if msg != "" || v != 9007199254740993 {
		t.Fatalf("checkValue(json.Number) = %v, %q", v, msg)
	}
	if _, msg := checkValue(models.TypeInteger, float64(9007199254740992)); !strings.Contains(msg, "may have been rounded") {
		t.Fatalf("checkValue(2^53 as float64) = %q", msg)
	}
	if v, msg := checkValue(models.TypeInteger, float64(1<<53-1)); msg != "" || v != 1<<53-1 {
		t.Fatalf("checkValue(2^53-1) = %v, %q", v, msg)
	}
}
