package plan

import (
	"errors"
	"regexp"
	"slices"
	"strings"

	"github.com/baton-run/baton/models"
)

// PreviewKind says how a field's text is read by Preview.
type PreviewKind string

// The kinds of field Preview understands.
const (
	// PreviewExpression is a bare expression (a forEach list, a decision
	// table's expression).
	PreviewExpression PreviewKind = "expression"
	// PreviewCondition is a bare expression that must give true or false
	// (a `when` guard, a condition).
	PreviewCondition PreviewKind = "condition"
	// PreviewTemplate is text with {{ }} placeholders (a URL, a header, a
	// log message).
	PreviewTemplate PreviewKind = "template"
)

// PreviewInput is what Preview evaluates against: the draft whose
// environment the text is compiled in, the inputs and step results of the
// last run (or sample inputs), and, inside a forEach, the element's name and
// a sample element.
type PreviewInput struct {
	Definition models.Definition
	Kind       PreviewKind
	Source     string
	Inputs     map[string]any
	Steps      map[string]StepResult
	Run        RunInfo
	Item       string // the forEach element's name; "" outside a forEach
	ItemValue  any
}

// PreviewResult is the outcome of Preview: either Problems (compile errors,
// with their columns), or Value, or EvalError when the text compiles but
// fails against the given data (a missing field, a division by zero).
type PreviewResult struct {
	Value     any      `json:"value"`
	Problems  []string `json:"problems,omitempty"`
	EvalError string   `json:"evalError,omitempty"`
	// NoSample names the steps the text reads that have no sample result
	// (the draft was not test-run, or not as far): the value cannot be
	// shown yet, which is not an error of the text.
	NoSample []string `json:"noSample,omitempty"`
}

// stepRef finds the steps a text reads: steps.<id> or steps["<id>"].
var stepRef = regexp.MustCompile(`steps(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*["']([^"']+)["']\s*\])`)

// unsampled lists the step ids source reads that are steps of the draft
// without a sample result, in the order they appear.
func unsampled(source string, known map[string]int, samples map[string]StepResult) []string {
	var out []string
	for _, m := range stepRef.FindAllStringSubmatch(source, -1) {
		id := m[1] + m[2]
		if _, ok := known[id]; !ok {
			continue // not a step: the compiler said so already
		}
		if _, ok := samples[id]; !ok && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Preview compiles one expression or template in the environment of a draft
// and evaluates it with the given data, without running anything. The draft
// may have problems of its own elsewhere: the environment is built from
// what is usable (valid input declarations and step ids), so the designer
// can show a field's value while the rest of the draft is still being
// written. It never returns an error: every failure is reported in the
// result, as the designer shows it next to the field.
func Preview(in PreviewInput) PreviewResult {
	c := &compiler{limits: Limits{}.withDefaults()}
	def := in.Definition
	// Only the parts that make the environment: the inputs' types and the
	// step ids. Their problems are the draft's, not this field's.
	c.checkInputs(&def)
	c.indexSteps(&def)
	c.xc = newExprCompiler(c.limits.MaxExpressionBytes)
	c.xc.maxRender = c.limits.MaxRenderBytes
	env := newExprEnv(c.inputs, c.stepIDs, in.Item)

	var eval func(*Scope) (any, error)
	switch in.Kind {
	case PreviewExpression, PreviewCondition:
		e, msgs := c.xc.compile(in.Source, "preview", env, in.Kind == PreviewCondition, 0)
		if len(msgs) > 0 {
			return PreviewResult{Problems: msgs}
		}
		eval = e.Eval
	case PreviewTemplate:
		t, msgs := parseTemplate(in.Source, "preview", env, c.xc)
		if len(msgs) > 0 {
			return PreviewResult{Problems: msgs}
		}
		eval = t.Render
	default:
		return PreviewResult{Problems: []string{"unknown kind " + quoteKind(in.Kind) + ": use expression, condition or template"}}
	}

	// The scope is built the way a run builds it, so a value previewed is
	// the value the run would see.
	compiled := &Plan{Definition: def}
	for _, id := range c.stepIDs {
		compiled.Steps = append(compiled.Steps, &PlanStep{Step: models.Step{ID: id}})
	}
	s := NewScope(compiled, in.Run, in.Inputs)
	for id, r := range in.Steps {
		if _, ok := c.stepIndex[id]; ok {
			s.SetStep(id, r)
		}
	}
	if in.Item != "" {
		s = s.WithItem(in.Item, in.ItemValue, 0)
	}
	v, err := eval(s)
	if err != nil {
		// Reading a step that has no sample yet fails as a nil field: say
		// what is missing instead of the evaluator's message about nil.
		if missing := unsampled(in.Source, c.stepIndex, in.Steps); len(missing) > 0 {
			return PreviewResult{NoSample: missing}
		}
		var ee *EvalError
		if errors.As(err, &ee) {
			return PreviewResult{EvalError: ee.Message}
		}
		return PreviewResult{EvalError: err.Error()}
	}
	return PreviewResult{Value: v}
}

func quoteKind(k PreviewKind) string {
	return "\"" + strings.ReplaceAll(string(k), "\"", "'") + "\""
}

// PreviewExpression is Preview for the HTTP layer, in models and JSON
// types only: kind is "expression", "condition" or "template"; steps holds
// each step's last result as the run record gives it ({status, output,
// error, attempts}). It returns the value, or the compile problems, or the
// evaluation error.
func (Compiler) PreviewExpression(def models.Definition, kind, source, item string, inputs map[string]any, steps map[string]map[string]any) (value any, problems []string, evalError string, noSample []string) {
	results := make(map[string]StepResult, len(steps))
	for id, st := range steps {
		r := StepResult{Output: st["output"], Error: st["error"]}
		if s, ok := st["status"].(string); ok {
			r.Status = models.StepStatus(s)
		}
		if n, ok := toInt(st["attempts"]).(int); ok {
			r.Attempts = n
		}
		results[id] = r
	}
	res := Preview(PreviewInput{Definition: def, Kind: PreviewKind(kind), Source: source,
		Inputs: inputs, Steps: results, Item: item})
	return res.Value, res.Problems, res.EvalError, res.NoSample
}
