package models

// RunRequest asks to start a run of a stored template. It is what the HTTP
// layer, webhooks and schedules hand to the launcher (engine.Launcher).
type RunRequest struct {
	// Template is the template's key.
	Template string
	// Version names the version to run; 0 means the latest approved one.
	Version int
	// Inputs are checked against the version's input declarations.
	Inputs map[string]any
	// Trigger is one of the Trigger* constants.
	Trigger string
	// StartedBy is who or what started the run: a user's name,
	// "webhook:<key>" or "schedule:<id>".
	StartedBy string
	// Schedule is the schedule and fire time behind a run with trigger
	// "schedule", stored with the run; nil otherwise.
	Schedule *RunSchedule
	// AllowApproved permits a production run of an approved version (the
	// operator role).
	AllowApproved bool
	// AllowDraft permits a test run of a version that is not approved (the
	// designer role); such runs are marked Test.
	AllowDraft bool
}

// MayOperate says whether the actor may cancel, signal, retry or rerun
// run: operators any run, designers the test runs they started themselves.
func (a RunActor) MayOperate(run Run) bool {
	return a.AllowApproved || (run.Test && a.AllowDraft && run.StartedBy == a.Name)
}

// RunActor is who asks for an operation on an existing run (cancel, retry,
// rerun, signal) and what their roles let them do; the launcher decides
// with it, as it decides a start with RunRequest's Allow fields.
type RunActor struct {
	// Name is recorded as who started a rerun.
	Name string
	// AllowApproved permits operating any run, and re-running on the latest
	// approved version (the operator role).
	AllowApproved bool
	// AllowDraft permits operating test runs (the designer role).
	AllowDraft bool
}

// Rerun versions: which definition a rerun runs.
const (
	RerunSame   = "same"   // the earlier run's own definition (the default)
	RerunLatest = "latest" // the template's latest approved version
)

// RerunRequest asks for a new run linked to an earlier one.
type RerunRequest struct {
	// From is the step to run again with everything downstream; "" for all.
	From string
	// Version is RerunSame ("" means the same) or RerunLatest; anything
	// else is refused as invalid.
	Version string
	// By is who asks.
	By RunActor
}

// RunDetail is what a run's page shows beside its record: the definition
// the run was started with (stored with the run, so a draft edited since
// does not change it), the retry policy each step's attempts run under (the
// step's own, else the workflow's, else the defaults), and every attempt.
type RunDetail struct {
	Definition Definition
	// RetryPolicies holds the effective policy by step id; empty when the
	// stored definition no longer compiles under the current limits.
	RetryPolicies map[string]RetryPolicy
	Attempts      []StepRunRow
}
