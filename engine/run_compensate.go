package engine

import (
	"fmt"
	"sort"

	"github.com/baton-run/baton/models"
)

// startCompensation lists the steps to compensate under rollback: every
// succeeded step with a compensate action, latest completion first.
func (rs *runState) startCompensation() {
	rs.compensating = true
	var list []*stepState
	for _, s := range rs.steps {
		if s.status == models.StepSucceeded && s.ps.Compensate != nil && (s.comp == nil || !s.comp.done) {
			list = append(list, s)
		}
	}
	sort.SliceStable(list, func(i, j int) bool { return list[i].doneSeq > list[j].doneSeq })
	rs.compQueue = list
}

// compensateNext starts the next compensation; compensations run one at a
// time, in order.
func (rs *runState) compensateNext() {
	if len(rs.compQueue) == 0 {
		rs.maybeFinish()
		return
	}
	s := rs.compQueue[0]
	if s.comp == nil {
		s.comp = &compState{}
	}
	rs.compAttempt(s)
}

func (rs *runState) compRow(s *stepState, status models.StepStatus) models.StepRunRow {
	now := rs.now()
	row := models.StepRunRow{
		StepRun: models.StepRun{RunID: rs.row.ID, StepID: s.id(), Attempt: s.comp.attempt, Status: status,
			Error: s.comp.err, StartedAt: &now},
		Item: -1, Compensation: true, Generation: rs.row.Generation, Order: s.order,
	}
	if status.Final() {
		row.FinishedAt = &now
	}
	return row
}

// compAttempt starts one attempt of s's compensate action.
func (rs *runState) compAttempt(s *stepState) {
	s.comp.attempt++
	s.comp.err = nil
	rs.running++
	act, err := s.ps.Compensate.Render(rs.scope)
	if err != nil {
		rs.compDone(s, s.comp.attempt, nil, err)
		return
	}
	a, ok := rs.e.reg.Lookup(act.Kind)
	if !ok {
		rs.compDone(s, s.comp.attempt, nil, Permanent(CodeUnknownKind, "no action of kind %q is available", act.Kind))
		return
	}
	rs.w.StepRuns = append(rs.w.StepRuns, rs.compRow(s, models.StepRunning))
	in := ActionInput{RunID: rs.row.ID, StepID: s.id(), Attempt: s.comp.attempt, Item: -1, Action: act,
		IdempotencyKey: rs.row.ID + "/" + s.id() + "/compensate", MaxOutputBytes: rs.maxOutput(), Redact: rs.scope.RedactString}
	attempt := s.comp.attempt
	rs.fx = append(rs.fx, func() {
		rs.e.executeComp(rs, s, attempt, a, in)
	})
}

// executeComp runs a compensation attempt once its start is committed.
func (e *Engine) executeComp(rs *runState, s *stepState, attempt int, a Action, in ActionInput) {
	if e.stopping.Load() {
		return
	}
	e.actions.Add(1)
	e.lim.do(func() {
		go func() {
			defer e.actions.Done()
			defer e.lim.release()
			ctx := e.actionCtx
			out, err := a.Run(ctx, in)
			if ctx.Err() != nil {
				return // shutting down: the compensation runs again on resume
			}
			rs.mu.Lock()
			defer rs.mu.Unlock()
			rs.compDone(s, attempt, out, err)
			rs.flush()
		}()
	})
}

// compDone takes a compensation attempt's result.
func (rs *runState) compDone(s *stepState, attempt int, _ any, err error) {
	if s.comp == nil || s.comp.attempt != attempt || s.comp.done || rs.done {
		return
	}
	rs.running--
	if err == nil {
		s.comp.done = true
		s.status = models.StepCompensated
		rs.w.StepRuns = append(rs.w.StepRuns, rs.compRow(s, models.StepSucceeded))
		rs.event(models.EventStepCompensated, s, string(s.status), nil)
		rs.compQueue = rs.compQueue[1:]
		rs.compensateNext()
		return
	}
	se := toStepError(err)
	se.Message = rs.scope.RedactString(se.Message)
	s.comp.err = se
	if mayRetry(s.ps.Retry, attempt, se) {
		rs.w.StepRuns = append(rs.w.StepRuns, rs.compRow(s, models.StepFailed))
		rs.waiting++
		due := rs.now().Add(backoff(s.ps.Retry, attempt+1, rs.e.cfg.Rand))
		key := "compensate"
		rs.armTimer(s, key, due, func() {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			if rs.done {
				return
			}
			rs.waiting--
			rs.deleteTimer(s, key)
			rs.compAttempt(s)
			rs.flush()
		})
		return
	}
	s.comp.done = true
	rs.w.StepRuns = append(rs.w.StepRuns, rs.compRow(s, models.StepFailed))
	// A failed compensation is reported on the step and on the run, not
	// hidden: the step keeps its status (it did succeed, and was not undone).
	s.err = compError(se)
	rs.event(models.EventStepFailed, s, string(s.status), nil)
	if rs.compFailed == nil {
		rs.compFailed = &models.RunError{Code: CodeCompensation, StepID: s.id(),
			Message: fmt.Sprintf("compensating step %q failed: %s", s.id(), se.Message)}
	}
	rs.compQueue = rs.compQueue[1:]
	rs.compensateNext()
}

// compError is how a failed compensation shows on its step.
func compError(se *models.StepError) *models.StepError {
	return &models.StepError{Code: CodeCompensation, Message: "compensation failed: " + se.Message}
}
