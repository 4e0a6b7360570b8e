package models

import "fmt"

// Evidence is what a version would change on recorded production traffic:
// the answer of GET /api/v1/templates/{key}/versions/{n}/evidence. It is
// computed by replaying recorded runs through the version's definition
// without executing anything (see engine/plan/replay).
type Evidence struct {
	Template string `json:"template"`
	Version  int    `json:"version"`
	// BaseVersions are the versions the replayed runs ran with, ascending.
	BaseVersions []int           `json:"baseVersions"`
	Runs         []RunEvidence   `json:"runs"`
	Summary      EvidenceSummary `json:"summary"`
	// Requested is how many runs were asked for (K); Summary.Replayed is
	// how many there were.
	Requested int `json:"requested"`
}

// RunEvidence is one recorded run replayed through the new version.
type RunEvidence struct {
	RunID   string `json:"runId"`
	Version int    `json:"version"`
	// PathChanged: a step that ran would now be skipped, or one that was
	// skipped (or did not exist) would now run.
	PathChanged      bool             `json:"pathChanged"`
	DecisionsChanged []DecisionChange `json:"decisionsChanged"`
	// WouldExecute are the steps that would run for real (new, changed,
	// or given a different input), in the order the replay reached them.
	WouldExecute []string `json:"wouldExecute"`
	// Inputs holds, per step of WouldExecute, the rendered action it would
	// receive (secrets shown as ***).
	Inputs map[string]any `json:"inputs,omitempty"`
	// Unknown are the steps whose fate depends on a value the replay cannot
	// know (the output of a step that would execute).
	Unknown []string `json:"unknown"`
	// MissingInputs are the required inputs of the new version this run did
	// not have (and other input problems): the run would be refused.
	MissingInputs []string        `json:"missingInputs"`
	Outcome       EvidenceOutcome `json:"outcome"`
}

// DecisionChange is a condition step that decides differently: Was and Now
// are "true"/"false" for a condition, the chosen next step for a decision
// table ("" for none), "skipped" when the step did not run, or "error".
type DecisionChange struct {
	StepID string `json:"stepId"`
	Was    string `json:"was"`
	Now    string `json:"now"`
}

// Outcomes of a replayed run (EvidenceOutcome.Now).
const (
	OutcomeSucceeded = "succeeded"
	OutcomeFailed    = "failed"
	OutcomeUnknown   = "unknown"
)

// EvidenceOutcome is the recorded run's final status (Was) and the replay's
// (Now: succeeded, failed or unknown; a refused run is failed).
type EvidenceOutcome struct {
	Was string `json:"was"`
	Now string `json:"now"`
}

// EvidenceSummary counts the replayed runs by what would change.
type EvidenceSummary struct {
	Replayed         int `json:"replayed"`
	PathChanged      int `json:"pathChanged"`
	DecisionsChanged int `json:"decisionsChanged"`
	WouldExecute     int `json:"wouldExecute"`
	Unknown          int `json:"unknown"`
	Refused          int `json:"refused"`
}

// Changes reports whether the replay of r differs from its recording in
// any way a reviewer should look at.
func (r RunEvidence) Changes() bool {
	return r.PathChanged || len(r.DecisionsChanged) > 0 || len(r.WouldExecute) > 0 ||
		len(r.Unknown) > 0 || len(r.MissingInputs) > 0
}

// Line is the summary in one sentence, as the review page and the approvers'
// notification show it.
func (s EvidenceSummary) Line() string {
	if s.Replayed == 0 {
		return "No finished production run to replay yet"
	}
	runs := "runs"
	if s.Replayed == 1 {
		runs = "run"
	}
	line := fmt.Sprintf("Replayed on the last %d %s: %d same path, %d would take another path, %d would call a new step",
		s.Replayed, runs, s.Replayed-s.PathChanged-s.Refused, s.PathChanged, s.WouldExecute)
	if s.Refused > 0 {
		line += fmt.Sprintf(", %d would be refused", s.Refused)
	}
	if s.Unknown > 0 {
		line += fmt.Sprintf(", %d undecided", s.Unknown)
	}
	return line
}
