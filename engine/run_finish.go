package engine

import (
	"cmp"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/baton-run/baton/models"
)

// ---- stopping and finishing -------------------------------------------------

func (rs *runState) stopReason() string {
	switch rs.stopped {
	case stopCancel:
		return models.ReasonRunCancelled
	case stopTimeout:
		return models.ReasonRunTimedOut
	}
	return ""
}

// stop cancels or times out the whole run: running steps are cancelled,
// the others skipped; no clean-up step runs.
func (rs *runState) stop(kind stopKind) {
	if rs.stopped != stopNone || rs.done {
		return
	}
	rs.stopped = kind
	reason := rs.stopReason()
	if kind == stopCancel {
		rs.row.Error = &models.RunError{Code: "cancelled", Message: "the run was cancelled"}
	} else {
		rs.row.Error = &models.RunError{Code: "timed_out",
			Message: fmt.Sprintf("the run ran longer than its timeout of %s", rs.plan.Definition.Timeout.D())}
	}
	rs.writeRun()
	rs.ready = nil
	rs.compQueue = nil
	for _, s := range rs.steps {
		rs.cancelStep(s, reason)
	}
	for _, s := range rs.steps {
		if s.status == models.StepPending {
			rs.skip(s, reason)
		}
	}
	rs.stopF(errRunStopped)
	rs.maybeFinish()
}

// maybeFinish ends the run when nothing is left to do, and keeps the run's
// status (running or waiting) up to date.
func (rs *runState) maybeFinish() {
	if rs.done {
		return
	}
	if rs.running > 0 || rs.waiting > 0 || len(rs.ready) > 0 {
		status := models.RunRunning
		if rs.running == 0 && len(rs.ready) == 0 {
			status = models.RunWaiting
		}
		if status != rs.row.Status {
			rs.row.Status = status
			rs.writeRun()
			if status == models.RunWaiting {
				rs.event(models.EventRunWaiting, nil, string(status), nil)
			}
		}
		return
	}
	if rs.compensating {
		if len(rs.compQueue) > 0 {
			rs.compensateNext()
			return
		}
	} else {
		for _, s := range rs.steps {
			if !s.status.Final() {
				// Every edge has settled by now; a step left pending was
				// never reachable, which Compile rules out. Settle it rather
				// than leave the run open.
				rs.skip(s, cmp.Or(rs.stopReason(), models.ReasonTriggerRule))
			}
		}
		if rs.running > 0 || rs.waiting > 0 || len(rs.ready) > 0 {
			return
		}
		if rs.failing && rs.strategy == models.StrategyRollback && rs.stopped == stopNone {
			rs.startCompensation()
			if len(rs.compQueue) > 0 {
				rs.compensateNext()
				return
			}
		}
	}
	rs.finish()
}

// finish writes the run's final state.
func (rs *runState) finish() {
	rs.done = true
	now := rs.now()
	status := models.RunSucceeded
	switch {
	case rs.stopped == stopCancel:
		status = models.RunCancelled
	case rs.stopped == stopTimeout:
		status = models.RunTimedOut
	case rs.compensating && rs.compFailed != nil:
		status = models.RunFailed
		rs.row.Error = rs.compFailed
	case rs.compensating:
		status = models.RunRolledBack
	case rs.row.Error != nil:
		status = models.RunFailed
	default:
		outs := make(map[string]any, len(rs.plan.Outputs))
		for name, t := range rs.plan.Outputs {
			v, err := t.Render(rs.scope)
			if err != nil {
				status = models.RunFailed
				se := toStepError(err)
				rs.row.Error = &models.RunError{Code: CodeExpression, Message: fmt.Sprintf("output %q: %s", name, se.Message)}
				outs = nil
				break
			}
			outs[name] = rs.scope.Redact(v) // outputs naming a secret show ***
		}
		rs.row.Outputs = outs
	}
	rs.row.Status = status
	rs.row.FinishedAt = &now
	if rs.row.StartedAt != nil {
		d := durMs(now.Sub(*rs.row.StartedAt))
		rs.row.DurationMs = &d
	}
	rs.writeRun()
	rs.event("run."+string(status), nil, string(status), rs.row.DurationMs)
	if rs.plan.Definition.Timeout > 0 {
		rs.deleteTimer(nil, models.TimerRunTimeout)
	}
	rs.stopF(errRunDone)
	rec := rs.record()
	var d time.Duration
	if rs.row.StartedAt != nil {
		d = now.Sub(*rs.row.StartedAt)
	}
	rs.e.cfg.Metrics.runFinished(string(status), d)
	rs.fx = append(rs.fx, func() { rs.e.finished(rec) })
}

// ---- the run record ----------------------------------------------------------

// record is the run record of the run in memory.
func (rs *runState) record() models.Run {
	r := rs.row.Run
	r.Steps = make([]models.StepState, 0, len(rs.steps))
	started := make([]*stepState, 0, len(rs.steps))
	var rest []*stepState
	for _, s := range rs.steps {
		if s.order > 0 {
			started = append(started, s)
		} else {
			rest = append(rest, s)
		}
	}
	sort.SliceStable(started, func(i, j int) bool { return started[i].order < started[j].order })
	for _, s := range append(started, rest...) {
		st := models.StepState{
			ID: s.id(), Status: s.status, Attempts: s.attempt, StartedAt: s.startedAt,
			FinishedAt: s.finishedAt, Output: s.output, Error: s.err,
		}
		if s.status == models.StepRetrying || s.status == models.StepRunning || s.status == models.StepWaiting {
			st.FinishedAt = nil
		}
		if s.startedAt != nil && st.FinishedAt != nil {
			d := durMs(st.FinishedAt.Sub(*s.startedAt))
			st.DurationMs = &d
		}
		if s.reason != "" {
			reason := s.reason
			st.Reason = &reason
		}
		r.Steps = append(r.Steps, st)
	}
	return r
}

// recordFromSnapshot builds the run record of a stored run.
func recordFromSnapshot(snap *models.RunSnapshot) (models.Run, error) {
	var def models.Definition
	if err := json.Unmarshal(snap.Run.Definition, &def); err != nil {
		return models.Run{}, fmt.Errorf("read run %s's definition: %w", snap.Run.ID, err)
	}
	r := snap.Run.Run
	type agg struct {
		st    models.StepState
		order int
		comp  *models.StepRunRow
		first *time.Time
	}
	by := map[string]*agg{}
	for i := range snap.StepRuns {
		row := &snap.StepRuns[i]
		if row.Item >= 0 {
			continue
		}
		a := by[row.StepID]
		if a == nil {
			a = &agg{}
			by[row.StepID] = a
		}
		if row.Compensation {
			if a.comp == nil || row.Attempt >= a.comp.Attempt {
				a.comp = row
			}
			continue
		}
		if row.StartedAt != nil && (a.first == nil || row.StartedAt.Before(*a.first)) {
			a.first = row.StartedAt
		}
		if row.Attempt >= a.st.Attempts {
			a.st = models.StepState{ID: row.StepID, Status: row.Status, Attempts: row.Attempt,
				FinishedAt: row.FinishedAt, Output: row.Output, Error: row.Error}
			if row.Reason != "" {
				reason := row.Reason
				a.st.Reason = &reason
			}
			if row.Order > 0 {
				a.order = row.Order
			}
		}
	}
	var started []*agg
	r.Steps = make([]models.StepState, 0, len(def.Steps))
	var rest []models.StepState
	for _, st := range def.Steps {
		a := by[st.ID]
		if a == nil {
			rest = append(rest, models.StepState{ID: st.ID, Status: models.StepPending})
			continue
		}
		a.st.StartedAt = a.first
		if a.comp != nil && a.comp.Status == models.StepSucceeded {
			a.st.Status = models.StepCompensated
		} else if a.comp != nil && a.comp.Status.Final() && a.comp.Error != nil {
			a.st.Error = compError(a.comp.Error)
		}
		if a.first != nil && a.st.FinishedAt != nil {
			d := durMs(a.st.FinishedAt.Sub(*a.first))
			a.st.DurationMs = &d
		}
		if a.order > 0 {
			started = append(started, a)
		} else {
			rest = append(rest, a.st)
		}
	}
	sort.SliceStable(started, func(i, j int) bool { return started[i].order < started[j].order })
	for _, a := range started {
		r.Steps = append(r.Steps, a.st)
	}
	r.Steps = append(r.Steps, rest...)
	return r, nil
}
