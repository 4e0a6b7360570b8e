package plan

import (
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
)

// hugeTemplate is the preview of issue 12: 200 placeholders of 900,000
// bytes each, 180 MB if built, in a 5 KB request.
func hugeTemplate() string {
	return strings.Repeat(`{{ repeat("a", 900000) }}`, 200)
}

// TestRenderBudgetPreview: the preview stops at the placeholder that would
// cross the limit and says so, instead of building 180 MB.
func TestRenderBudgetPreview(t *testing.T) {
	t.Parallel()
	got := Preview(PreviewInput{Definition: previewDef(), Kind: PreviewTemplate, Source: hugeTemplate()})
	if got.Value != nil || !strings.Contains(got.EvalError, "the rendered text would be more than 1048576 bytes") {
		t.Fatalf("Preview = %v / %q; want the render limit", got.Value, got.EvalError)
	}
	// Two fit.
	got = Preview(PreviewInput{Definition: previewDef(), Kind: PreviewTemplate, Source: strings.Repeat(`{{ repeat("a", 400000) }}`, 2)})
	if s, _ := got.Value.(string); len(s) != 800000 {
		t.Fatalf("Preview(2 × 400 KB) = %d bytes, %q", len(s), got.EvalError)
	}
}

// TestRenderBudgetStep: all of one step's fields share the budget, so a
// header and a body that each fit are refused together.
func TestRenderBudgetStep(t *testing.T) {
	t.Parallel()
	def := models.Definition{ID: "r", Name: "R", Steps: []models.Step{{ID: "a", Type: models.StepCommand,
		Action: models.Action{Kind: models.KindHTTP, URL: "http://x",
			Headers: map[string]string{"X-A": `{{ repeat("a", 600000) }}`},
			Body:    map[string]any{"b": `{{ repeat("b", 600000) }}`}}}}}
	p, err := Compile(def)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Steps[0].Action.Render(NewScope(p, RunInfo{}, nil))
	if err == nil || !strings.Contains(err.Error(), "the limit for one step's fields") {
		t.Fatalf("Render = %v; want the step's render limit", err)
	}
	small, err := Compiler{Limits: Limits{MaxRenderBytes: 10}}.Compile(models.Definition{ID: "r", Name: "R", Steps: []models.Step{{ID: "a", Type: models.StepCommand,
		Action: models.Action{Kind: models.KindLog, Message: "{{ 'hello' }} {{ 'world' }}"}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := small.Steps[0].Action.Render(NewScope(small, RunInfo{}, nil)); err == nil || !strings.Contains(err.Error(), "more than 10 bytes") {
		t.Fatalf("Render with MaxRenderBytes 10 = %v", err)
	}
}

// BenchmarkRenderHugePreview measures the refusal of the 180 MB preview:
// it allocates a few megabytes, not 180.
//
//	go test -run='^$' -bench=RenderHugePreview -benchmem ./engine/plan
func BenchmarkRenderHugePreview(b *testing.B) {
	src := hugeTemplate()
	b.ReportAllocs()
	for b.Loop() {
		Preview(PreviewInput{Definition: previewDef(), Kind: PreviewTemplate, Source: src})
	}
}
