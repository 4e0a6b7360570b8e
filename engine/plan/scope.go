package plan

import (
	"math"

	"github.com/baton-run/baton/models"
)

// Scope is what expressions see during one run: inputs, steps.<id>, run and,
// inside a forEach, the element and its index. The Engine keeps one per run
// and calls SetStep as steps settle. A Scope is not safe for concurrent
// mutation: the Engine calls SetStep under its own lock, and must not
// evaluate an expression on the same scope (or a child made by WithItem)
// while SetStep runs.
type Scope struct {
	env   map[string]any // what expressions see, flat names included (see exprEnv)
	steps map[string]any // env["steps"], shared with child scopes
	root  *Scope         // for a forEach element's scope: the run's scope
	// secrets resolves {{ secrets.NAME }} and remembers the values for
	// Redact; on the root scope only (see SetSecrets).
	secrets *secretState
}

// NewScope makes the scope of one run of p. Every step of the plan starts as
// {status: "pending", output: null, error: null, attempts: 0}, so that an
// expression may test steps.x.status before x has run. Inputs should have
// been checked with CheckInputs; integer inputs are normalised to Go ints so
// that they match the types the expressions were compiled against.
func NewScope(p *Plan, run RunInfo, inputs map[string]any) *Scope {
	steps := make(map[string]any, len(p.Steps))
	for _, st := range p.Steps {
		steps[st.Step.ID] = stepValue(StepResult{Status: models.StepPending})
	}
	in := make(map[string]any, len(inputs))
	for k, v := range inputs {
		if d, ok := p.Definition.Inputs[k]; ok && d.Type == models.TypeInteger {
			v = toInt(v)
		}
		in[k] = v
	}
	runValue := map[string]any{
		"id":        run.ID,
		"template":  run.Template,
		"version":   run.Version,
		"startedAt": run.StartedAt,
	}
	env := make(map[string]any, 3+len(steps)+len(in)+len(runValue))
	env["inputs"] = in
	env["steps"] = steps
	env["run"] = runValue
	for k, v := range in {
		env["inputs."+k] = v
	}
	for k, v := range steps {
		env["steps."+k] = v
	}
	for k, v := range runValue {
		env["run."+k] = v
	}
	return &Scope{steps: steps, env: env}
}

// SetStep records what expressions see as steps.<id>. It replaces the entry
// rather than changing it, so values that earlier evaluations returned stay
// as they were.
func (s *Scope) SetStep(id string, r StepResult) {
	v := stepValue(r)
	s.steps[id] = v
	root := s
	if s.root != nil {
		root = s.root
	}
	root.env["steps."+id] = v
}

// WithItem returns a child scope for one forEach element, named name, at
// index. The child shares the parent's steps: a later SetStep on the parent
// is visible to it.
func (s *Scope) WithItem(name string, item any, index int) *Scope {
	root := s
	if s.root != nil {
		root = s.root
	}
	env := map[string]any{
		"inputs": root.env["inputs"],
		"steps":  root.env["steps"],
		"run":    root.env["run"],
		name:     item,
		"index":  index,
	}
	return &Scope{env: env, steps: s.steps, root: root}
}

// Value returns what an expression would see as name ("inputs", "steps",
// "run", or a forEach element's name).
func (s *Scope) Value(name string) (any, bool) {
	v, ok := s.env[name]
	return v, ok
}

func stepValue(r StepResult) map[string]any {
	return map[string]any{
		"status":   string(r.Status),
		"output":   r.Output,
		"error":    r.Error,
		"attempts": r.Attempts,
	}
}

// toInt turns a whole number of any numeric type into an int, leaving
// anything else as it is.
func toInt(v any) any {
	switch n := v.(type) {
	case float64:
		if n == math.Trunc(n) && math.Abs(n) <= 1<<53 {
			return int(n)
		}
	case float32:
		if float64(n) == math.Trunc(float64(n)) {
			return int(n)
		}
	case int64:
		return int(n)
	case int32:
		return int(n)
	case uint64:
		if n <= math.MaxInt64 {
			return int(n)
		}
	case uint32:
		return int(n)
	}
	return v
}
