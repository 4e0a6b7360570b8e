package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

func previewDef() models.Definition {
	return models.Definition{
		ID: "p", Name: "P",
		Inputs: map[string]models.InputDecl{
			"count": {Type: models.TypeInteger},
			"name":  {Type: models.TypeString},
		},
		Steps: []models.Step{
			{ID: "fetch", Type: models.StepCommand, Action: models.Action{Kind: models.KindHTTP, URL: "http://x"}},
			// A step with a problem of its own must not stop the preview.
			{ID: "broken", Type: models.StepCommand, Action: models.Action{Kind: models.KindLog, Message: "{{ nope }}"}},
		},
	}
}

func TestPreview(t *testing.T) {
	steps := map[string]StepResult{
		"fetch": {Status: models.StepSucceeded, Output: map[string]any{"status": 200, "body": map[string]any{"items": []any{1, 2, 3}}}, Attempts: 1},
	}
	inputs := map[string]any{"count": float64(7), "name": "Ada"}
	cases := []struct {
		name     string
		kind     PreviewKind
		src      string
		item     string
		itemVal  any
		want     any
		problem  string
		evalFail string
	}{
		{name: "arithmetic on an integer input", kind: PreviewExpression, src: "inputs.count * 2", want: 14},
		{name: "last run's output", kind: PreviewExpression, src: "len(steps.fetch.output.body.items)", want: 3},
		{name: "condition", kind: PreviewCondition, src: "steps.fetch.status == 'succeeded'", want: true},
		{name: "whole template keeps the type", kind: PreviewTemplate, src: "{{ inputs.count }}", want: 7},
		{name: "text template", kind: PreviewTemplate, src: "Hello {{ inputs.name }}!", want: "Hello Ada!"},
		{name: "forEach element", kind: PreviewExpression, src: "order.total + index", item: "order", itemVal: map[string]any{"total": 5}, want: 5},
		{name: "unknown name", kind: PreviewExpression, src: "inputs.cuont", problem: "cuont"},
		{name: "unknown step", kind: PreviewExpression, src: "steps.nope.output", problem: "nope"},
		{name: "condition of the wrong type", kind: PreviewCondition, src: "inputs.count", problem: "true or false"},
		{name: "unclosed placeholder", kind: PreviewTemplate, src: "x {{ inputs.name", problem: "unclosed"},
		{name: "empty", kind: PreviewExpression, src: "  ", problem: "empty"},
		{name: "unknown kind", kind: "sql", src: "1", problem: "unknown kind"},
		{name: "fails against the data", kind: PreviewExpression, src: "int(inputs.name)", evalFail: "Ada"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Preview(PreviewInput{Definition: previewDef(), Kind: tc.kind, Source: tc.src,
				Inputs: inputs, Steps: steps, Item: tc.item, ItemValue: tc.itemVal})
			switch {
			case tc.problem != "":
				if len(got.Problems) == 0 || !strings.Contains(strings.Join(got.Problems, "; "), tc.problem) {
					t.Fatalf("Problems = %q, want one mentioning %q (result %+v)", got.Problems, tc.problem, got)
				}
			case tc.evalFail != "":
				if !strings.Contains(got.EvalError, tc.evalFail) || len(got.Problems) > 0 {
					t.Fatalf("want an evaluation error, got %+v", got)
				}
			default:
				if len(got.Problems) > 0 || got.EvalError != "" {
					t.Fatalf("unexpected failure: %+v", got)
				}
				if !reflect.DeepEqual(got.Value, tc.want) {
					t.Fatalf("Value = %#v (%T), want %#v", got.Value, got.Value, tc.want)
				}
			}
		})
	}
}

// Before any run, steps are pending with no output, as a run starts them.
func TestPreviewWithoutARun(t *testing.T) {
	got := Preview(PreviewInput{Definition: previewDef(), Kind: PreviewExpression, Source: "steps.fetch.status"})
	if got.Value != "pending" {
		t.Fatalf("got %+v, want pending", got)
	}
	// Results for steps the draft no longer has are ignored rather than
	// made visible.
	got = Preview(PreviewInput{Definition: previewDef(), Kind: PreviewExpression, Source: "steps.gone",
		Steps: map[string]StepResult{"gone": {Status: models.StepSucceeded}}})
	if len(got.Problems) == 0 {
		t.Fatalf("steps.gone compiled: %+v", got)
	}
}

// A text that reads the output of a step with no sample yet says so,
// naming the step, instead of failing on a nil field; with a sample it has
// its value.
func TestPreviewSaysWhichStepHasNoSample(t *testing.T) {
	src := "steps.fetch.output.status == 200"
	got := Preview(PreviewInput{Definition: previewDef(), Kind: PreviewCondition, Source: src})
	if got.EvalError != "" || len(got.Problems) > 0 || !reflect.DeepEqual(got.NoSample, []string{"fetch"}) {
		t.Fatalf("without a sample: %+v; want NoSample [fetch] and no error", got)
	}
	got = Preview(PreviewInput{Definition: previewDef(), Kind: PreviewCondition, Source: `steps["fetch"].output.status == 200`})
	if !reflect.DeepEqual(got.NoSample, []string{"fetch"}) {
		t.Fatalf("index form without a sample: %+v", got)
	}
	got = Preview(PreviewInput{Definition: previewDef(), Kind: PreviewCondition, Source: src,
		Steps: map[string]StepResult{"fetch": {Status: models.StepSucceeded, Output: map[string]any{"status": 200}}}})
	if got.Value != true || got.NoSample != nil {
		t.Fatalf("with a sample: %+v; want true", got)
	}
}
