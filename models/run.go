package models

import "time"

// RunStatus is stored as text so SQL, logs and the UI all read the same word.
type RunStatus string

// Run statuses.
const (
	RunQueued     RunStatus = "queued"
	RunRunning    RunStatus = "running"
	RunWaiting    RunStatus = "waiting" // only timers or signals left
	RunSucceeded  RunStatus = "succeeded"
	RunFailed     RunStatus = "failed"
	RunCancelled  RunStatus = "cancelled"
	RunTimedOut   RunStatus = "timed_out"
	RunRolledBack RunStatus = "rolled_back"
)

// Final reports whether a run in this status will not change again by itself.
func (s RunStatus) Final() bool {
	switch s {
	case RunSucceeded, RunFailed, RunCancelled, RunTimedOut, RunRolledBack:
		return true
	}
	return false
}

// StepStatus is a step's state inside a run.
type StepStatus string

// Step statuses.
const (
	StepPending     StepStatus = "pending"
	StepRunning     StepStatus = "running"
	StepRetrying    StepStatus = "retrying"
	StepWaiting     StepStatus = "waiting"
	StepSucceeded   StepStatus = "succeeded"
	StepFailed      StepStatus = "failed"
	StepSkipped     StepStatus = "skipped"
	StepCancelled   StepStatus = "cancelled"
	StepTimedOut    StepStatus = "timed_out"
	StepCompensated StepStatus = "compensated"
)

// Final reports whether a step in this status is settled.
func (s StepStatus) Final() bool {
	switch s {
	case StepSucceeded, StepFailed, StepSkipped, StepCancelled, StepTimedOut, StepCompensated:
		return true
	}
	return false
}

// Reasons a step was skipped or cancelled, or did not run in this run.
const (
	ReasonBranchNotTaken = "branch_not_taken"
	ReasonUpstreamFailed = "upstream_failed"
	ReasonGuardFalse     = "guard_false"
	ReasonRunCancelled   = "run_cancelled"
	ReasonRunFailed      = "run_failed"
	ReasonRunTimedOut    = "run_timed_out"
	ReasonTriggerRule    = "trigger_rule"
	// ReasonCarriedOver marks a step of a rerun from a later step: its
	// outcome and output are the earlier run's (ParentRunID); it did not
	// run again.
	ReasonCarriedOver = "carried_over"
)

// Run triggers: what started a run.
const (
	TriggerManual   = "manual"
	TriggerAPI      = "api"
	TriggerWebhook  = "webhook"
	TriggerSchedule = "schedule"
	TriggerCLI      = "cli"
	TriggerRerun    = "rerun"
)

// Run is one execution of a workflow version, in the shape of the run record
// of shared/spec/api.md.
type Run struct {
	ID          string         `json:"id"`
	Template    string         `json:"template"`
	Version     int            `json:"version"`
	Status      RunStatus      `json:"status"`
	Trigger     string         `json:"trigger"`
	StartedBy   string         `json:"startedBy,omitempty"`
	Test        bool           `json:"test,omitempty"`
	ParentRunID string         `json:"parentRunId,omitempty"`
	Inputs      map[string]any `json:"inputs"`
	Outputs     map[string]any `json:"outputs"`
	Error       *RunError      `json:"error"`
	CreatedAt   time.Time      `json:"createdAt"`
	StartedAt   *time.Time     `json:"startedAt"`
	FinishedAt  *time.Time     `json:"finishedAt"`
	DurationMs  *float64       `json:"durationMs"`
	// Schedule names the schedule and fire time that started a run with
	// trigger "schedule"; nil for every other run (an extension of the
	// spec's run record).
	Schedule *RunSchedule `json:"schedule,omitempty"`
	Steps    []StepState  `json:"steps"`
}

// RunSchedule is what a scheduled run records about its start: the
// schedule's id, the fire time its cron expression named (which a caught-up
// run starts well after) and whether it was a missed time caught up when an
// instance started.
type RunSchedule struct {
	ID       int64     `json:"id"`
	FireAt   time.Time `json:"fireAt"`
	CaughtUp bool      `json:"caughtUp"`
}

// RunError says why a run did not succeed.
type RunError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	StepID  string `json:"stepId,omitempty"`
}

// StepState is one step's summary in a run record: its latest attempt.
type StepState struct {
	ID         string     `json:"id"`
	Status     StepStatus `json:"status"`
	Attempts   int        `json:"attempts"`
	StartedAt  *time.Time `json:"startedAt"`
	FinishedAt *time.Time `json:"finishedAt"`
	DurationMs *float64   `json:"durationMs"`
	Output     any        `json:"output"`
	Error      *StepError `json:"error"`
	Reason     *string    `json:"reason"`
}

// StepError is why a step attempt failed.
type StepError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable,omitempty"`
}

// StepRun is one attempt of one step (or one compensation), as stored.
type StepRun struct {
	RunID      string     `json:"runId"`
	StepID     string     `json:"stepId"`
	Attempt    int        `json:"attempt"`
	Status     StepStatus `json:"status"`
	Input      any        `json:"input,omitempty"`
	Output     any        `json:"output,omitempty"`
	Error      *StepError `json:"error,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// Event types of the run event stream.
const (
	EventRunQueued       = "run.queued"
	EventRunStarted      = "run.started"
	EventStepStarted     = "step.started"
	EventStepSucceeded   = "step.succeeded"
	EventStepFailed      = "step.failed"
	EventStepRetrying    = "step.retrying"
	EventStepSkipped     = "step.skipped"
	EventStepWaiting     = "step.waiting"
	EventStepCancelled   = "step.cancelled"
	EventStepTimedOut    = "step.timed_out"
	EventStepCompensated = "step.compensated"
	EventRunWaiting      = "run.waiting"
	EventRunSucceeded    = "run.succeeded"
	EventRunFailed       = "run.failed"
	EventRunCancelled    = "run.cancelled"
	EventRunTimedOut     = "run.timed_out"
	EventRunRolledBack   = "run.rolled_back"
	// EventStepProgress reports a forEach (parallel) step's finished
	// elements so far (Event.Progress). Unlike the others it is not stored
	// and has no sequence number of its own: each carries the totals, so a
	// missed one is made good by the next, and the run record holds the
	// same counts. An extension of the spec's event types.
	EventStepProgress = "step.progress"
)

// ItemProgress is a forEach step's elements: how many there are, and how
// many have succeeded and failed for good so far (an element waiting to
// retry counts as neither).
type ItemProgress struct {
	Items     int `json:"items"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// Event is one change in a run, numbered per run from 1.
type Event struct {
	RunID      string     `json:"runId"`
	Seq        int64      `json:"seq"`
	Type       string     `json:"type"`
	StepID     string     `json:"stepId,omitempty"`
	Status     string     `json:"status"`
	Attempt    int        `json:"attempt,omitempty"`
	At         time.Time  `json:"at"`
	DurationMs *float64   `json:"durationMs,omitempty"`
	Error      *StepError `json:"error,omitempty"`
	// Progress is set on step.progress events only.
	Progress *ItemProgress `json:"progress,omitempty"`
	// Template and Test say whose run it is, for in-process subscribers
	// (alert rules) on events published live; they are neither stored nor
	// sent to clients, so replayed events leave them empty.
	Template string `json:"-"`
	Test     bool   `json:"-"`
}
