package plan

import (
	"github.com/baton-run/baton/models"
)

// This file is the contract between compilation (Parse, Compile: the
// definition language) and execution (the Engine). Compile fills these types;
// the Engine only reads them. A Plan is immutable once built and safe to share
// between goroutines and runs.

// Plan is a validated, compiled definition: its graph, its compiled
// expressions and templates, and its effective settings.
type Plan struct {
	// Definition is the canonical form: defaults applied (names, trigger
	// rules, retry policies, error handling), durations in milliseconds.
	Definition models.Definition
	// Steps are in definition order; Steps[i].Index == i.
	Steps []*PlanStep
	// Conditions are the named conditions, compiled.
	Conditions map[string]*Expr
	// Outputs are the run's output templates, rendered when it succeeds.
	Outputs map[string]*Template
	// Groups are the parallel groups by id.
	Groups map[string]*models.ParallelGroup

	byID   map[string]*PlanStep
	limits Limits // what Compile enforced; Limits() returns it
}

// Step returns the step with the given id.
func (p *Plan) Step(id string) (*PlanStep, bool) {
	s, ok := p.byID[id]
	return s, ok
}

// EdgeKind says which field of the definition made an edge.
type EdgeKind string

// Edge kinds.
const (
	EdgeDependency EdgeKind = "dependency" // to.dependencies lists from
	EdgeOnSuccess  EdgeKind = "onSuccess"  // from.onSuccess names to
	EdgeOnFailure  EdgeKind = "onFailure"  // from.onFailure names to
	EdgeCase       EdgeKind = "case"       // from's decision table names to
)

// Edge is one arrow of the graph. For EdgeCase, Case is the index of the case
// in from's table, or -1 for the default.
type Edge struct {
	From string
	To   string
	Kind EdgeKind
	Case int
}

// PlanStep is one step, compiled.
type PlanStep struct {
	Step  models.Step // canonical: Name and Trigger set, durations normalised
	Index int
	In    []Edge // edges into this step
	Out   []Edge // edges out of this step

	When       *Expr              // the guard; nil when none
	Retry      models.RetryPolicy // effective policy, every field set
	Group      string             // the parallel group's id, "" when none
	Action     *ActionTemplate    // command steps: the action; parallel steps: nil
	Compensate *ActionTemplate    // nil when none
	Condition  *Expr              // boolean condition steps (expression or named condition)
	Cases      []*Expr            // decision-table condition steps, in order
	ForEach    *Expr              // parallel steps: the list
	ItemAction *ActionTemplate    // parallel steps: the action run per element
	ItemName   string             // parallel steps: "item" unless `as` says otherwise
}

// StepResult is what expressions see as steps.<id>.
type StepResult struct {
	Status   models.StepStatus
	Output   any
	Error    any // nil, or {code, message}
	Attempts int
}

// RunInfo is what expressions see as run.
type RunInfo struct {
	ID        string
	Template  string
	Version   int
	StartedAt string // RFC 3339
}
