package models

import (
	"encoding/json"
	"time"
)

// This file holds the rows the engine hands to persistence and reads back:
// the shapes that engine.Store (declared in package engine) and its
// implementation in models/store agree on. They live here because the store
// may import models but not the engine.

// RunRow is a run as stored: the record's fields plus what recovery needs.
// Steps is never stored here; steps live in StepRun rows.
type RunRow struct {
	Run
	// Definition is the canonical definition the run executes, as JSON: a
	// snapshot, so editing a template never changes a run in flight.
	Definition json.RawMessage `json:"-"`
	// Generation counts retries of the run: a retry bumps it, and only
	// succeeded steps of earlier generations keep their outcome.
	Generation int `json:"-"`
	// ParentStepID is the parent run's step that started this run as a
	// subworkflow, "" otherwise.
	ParentStepID string `json:"-"`
	// Seq is the sequence number of the run's latest event.
	Seq int64 `json:"-"`
	// Owner is the instance that owns the run while it is unfinished
	// (several instances on one PostgreSQL database), "" for none. It is
	// written with the run's first row only: ownership changes through
	// the store's claim and release, never through a run's writes.
	Owner string `json:"-"`
	// Stored tells the store that the row was committed before: only the
	// columns that change (status, outputs, error, generation, seq, times)
	// need sending, not the inputs and definition, which never change.
	Stored bool `json:"-"`
	// InputsJSON is Inputs already encoded (nil: the store encodes them).
	// The engine encodes a new run's inputs on the goroutine that starts it,
	// so that large inputs cost the one writer goroutine nothing.
	InputsJSON EncodedJSON `json:"-"`
}

// EncodedJSON is a value already encoded by encoding/json (compact and
// valid), kept so that it is not encoded again. The engine puts it in
// StepRun.Output when it has encoded a step's output to check its size;
// the store writes it as it is, and anything else that encodes it gets the
// same JSON as the value's.
type EncodedJSON []byte

// MarshalJSON returns the encoding itself ("null" when there is none).
func (e EncodedJSON) MarshalJSON() ([]byte, error) {
	if e == nil {
		return []byte("null"), nil
	}
	return e, nil
}

// StepRunRow is one attempt as stored: an attempt of a step, of one element
// of a parallel step (Item ≥ 0) or of a step's compensation.
type StepRunRow struct {
	StepRun
	// Item is the element index of a parallel step's attempt, -1 otherwise.
	Item int `json:"item"`
	// Compensation marks an attempt of the step's compensate action.
	Compensation bool `json:"compensation,omitempty"`
	// Generation is the run's generation when the attempt was made.
	Generation int `json:"generation"`
	// Order is the step's start order within the run (1, 2, …); 0 for
	// steps that never started.
	Order int `json:"order"`
	// DurationMs is how long the attempt took, when it finished.
	DurationMs *float64 `json:"durationMs,omitempty"`
}

// Timer kinds.
const (
	TimerWait       = "wait"        // a wait step's duration
	TimerSignal     = "signal"      // a signal wait's timeout
	TimerBackoff    = "backoff"     // the pause before the next attempt
	TimerRunTimeout = "run_timeout" // the whole run's limit
)

// RunTimer is a durable timer: it survives a restart and fires at DueAt.
type RunTimer struct {
	RunID  string    `json:"runId"`
	StepID string    `json:"stepId"` // "" for run-level timers
	Kind   string    `json:"kind"`
	DueAt  time.Time `json:"dueAt"`
}

// RunSignal is a signal delivered to a run that no step consumed yet.
type RunSignal struct {
	RunID      string          `json:"runId"`
	Name       string          `json:"name"`
	Payload    json.RawMessage `json:"payload"`
	ReceivedAt time.Time       `json:"receivedAt"`
}

// RunWrites is one batch of changes to runs, applied in one transaction.
// Rows are upserted by their keys, in order: when a batch names a key twice
// the last row wins (a run keeps what its first row, the insert, stored).
// DeleteTimers and DeleteSignals name rows by their keys (RunID, StepID,
// Kind) and (RunID, Name).
type RunWrites struct {
	Runs          []RunRow
	StepRuns      []StepRunRow
	Events        []Event
	Timers        []RunTimer
	DeleteTimers  []RunTimer
	Signals       []RunSignal
	DeleteSignals []RunSignal
	// Owner, when not "", fences the batch: it is committed only if every
	// run it writes is owned by this instance (or does not exist yet);
	// otherwise nothing is committed and the error is a *FencedError.
	Owner string
}

// Empty reports whether w holds no change.
func (w *RunWrites) Empty() bool {
	return len(w.Runs) == 0 && len(w.StepRuns) == 0 && len(w.Events) == 0 &&
		len(w.Timers) == 0 && len(w.DeleteTimers) == 0 && len(w.Signals) == 0 &&
		len(w.DeleteSignals) == 0
}

// RunSnapshot is everything stored about one run.
type RunSnapshot struct {
	Run      RunRow
	StepRuns []StepRunRow // ordered by step, item, compensation, attempt
	Timers   []RunTimer
	Signals  []RunSignal
}

// RunFilter selects runs for a listing, newest first.
type RunFilter struct {
	Template    string      // "" for any
	Statuses    []RunStatus // empty for any
	ParentRunID string      // "" for any
	// ScheduleID keeps the runs that schedule started; 0 for any.
	ScheduleID int64
	// Before is a cursor: the ID of the last run of the previous page ("" for
	// the first page). Run IDs are ULIDs, so ID order is creation order.
	Before string
	Limit  int // 0: 50; at most 500
}
