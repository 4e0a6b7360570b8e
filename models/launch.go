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

// RerunRequest asks for a new run linked to an earlier one.
type RerunRequest struct {
	// From is the step to run again with everything downstream; "" for all.
	From string
	// Latest runs the template's latest approved version instead of the
	// earlier run's own definition.
	Latest    bool
	StartedBy string
}
