package engine

import (
	"fmt"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// ---- deciding and starting steps ----------------------------------------

// decide applies the step's trigger rule once all its incoming edges have
// settled: it is skipped, or it becomes ready.
func (rs *runState) decide(s *stepState) {
	if s.decided || s.status.Final() {
		return
	}
	s.decided = true
	if rs.stopped != stopNone {
		rs.skip(s, rs.stopReason())
		return
	}
	if rs.failing && s.ps.Step.Trigger != models.TriggerAllDone {
		rs.skip(s, models.ReasonRunFailed)
		return
	}
	if !rs.forced[s.id()] {
		if reason, run := triggerRule(s); !run {
			rs.skip(s, reason)
			return
		}
	}
	if s.ps.When != nil {
		ok, err := s.ps.When.Bool(rs.scope)
		if err != nil {
			rs.failWithoutAttempt(s, toStepError(err))
			return
		}
		if !ok {
			rs.skip(s, models.ReasonGuardFalse)
			return
		}
	}
	rs.ready = append(rs.ready, s)
}

// triggerRule returns whether the step runs, and if not, why.
func triggerRule(s *stepState) (string, bool) {
	if len(s.in) == 0 {
		return "", true
	}
	var ok, failed int
	for _, o := range s.in {
		switch o {
		case edgeOK:
			ok++
		case edgeFailed:
			failed++
		}
	}
	switch s.ps.Step.Trigger {
	case models.TriggerAllDone:
		return "", true
	case models.TriggerAllSuccess:
		if ok == len(s.in) {
			return "", true
		}
		if failed > 0 {
			return models.ReasonUpstreamFailed, false
		}
		return models.ReasonBranchNotTaken, false
	default: // none_failed
		if failed > 0 {
			return models.ReasonUpstreamFailed, false
		}
		if ok > 0 {
			return "", true
		}
		return models.ReasonBranchNotTaken, false
	}
}

// skip settles a step that will not run.
func (rs *runState) skip(s *stepState, reason string) {
	if s.status.Final() {
		return
	}
	s.decided = true
	s.status = models.StepSkipped
	s.reason = reason
	now := rs.now()
	s.finishedAt = &now
	rs.writeStep(s)
	rs.event(models.EventStepSkipped, s, string(s.status), nil)
	rs.e.cfg.Metrics.stepFinished(string(s.status), 0)
	rs.settle(s)
}

// failWithoutAttempt fails a step before any attempt (a guard that does not
// evaluate): it counts as one failed attempt.
func (rs *runState) failWithoutAttempt(s *stepState, se *models.StepError) {
	rs.beginAttempt(s)
	rs.finishAttempt(s, nil, se)
}

// active counts steps in flight for the concurrency caps.
func (rs *runState) inFlight() int { return rs.running + rs.waiting }

// pump starts ready steps within the run's and the groups' caps. Starting
// a step may make others ready (a condition settles at once), so it loops
// until nothing more can start. Once a step has finished in writes not yet
// committed (rs.settled), only steps that act on nothing outside the run
// start ahead of the commit (runsAhead); flush starts the others after it.
func (rs *runState) pump() {
	max := rs.plan.Definition.MaxConcurrency
	for progress := true; progress && len(rs.ready) > 0; {
		progress = false
		list := rs.ready
		rs.ready = nil
		var blocked []*stepState
		for i, s := range list {
			if s.status.Final() || s.status != models.StepPending {
				continue
			}
			if rs.settled && !rs.runsAhead(s) {
				blocked = append(blocked, s)
				continue
			}
			if max > 0 && rs.inFlight() >= max {
				blocked = append(blocked, list[i:]...)
				break
			}
			if g := rs.plan.Groups[s.ps.Group]; g != nil && g.MaxConcurrency > 0 && rs.groupActive[g.ID] >= g.MaxConcurrency {
				blocked = append(blocked, s)
				continue
			}
			rs.start(s)
			progress = true
		}
		rs.ready = append(blocked, rs.ready...)
	}
}

// runsAhead reports whether s may start before the completion of the
// steps it follows is committed: a condition step, or a command step whose
// action runs inline (set, log, fail). Such a step reads only the run's own
// state and writes only into the same pending batch, so nothing outside the
// run can see it before the commit that also makes its inputs durable; if
// that commit is lost, the run is resumed from the store and the step is
// decided again from the same stored state. A whole chain of them (W1's ten
// set steps) is one commit instead of one per step. Anything that reaches
// outside the run (http, device, subworkflow, waits, forEach) still waits
// for the commit, so no external effect ever depends on an uncommitted
// outcome.
func (rs *runState) runsAhead(s *stepState) bool {
	switch s.ps.Step.Type {
	case models.StepCondition:
		return true
	case models.StepWait, models.StepParallel:
		return false
	}
	if s.ps.Action == nil || s.ps.Step.Action.Kind == models.KindSubworkflow {
		return false
	}
	a, ok := rs.e.reg.Lookup(s.ps.Step.Action.Kind)
	if !ok {
		return false
	}
	ia, ok := a.(InlineAction)
	return ok && ia.Inline()
}

// beginAttempt marks the start of a new attempt of s.
func (rs *runState) beginAttempt(s *stepState) {
	now := rs.now()
	s.attempt++
	if s.order == 0 {
		rs.order++
		s.order = rs.order
	}
	if s.startedAt == nil {
		s.startedAt = &now
	}
	s.attemptStart = now
	s.finishedAt = nil
	s.err = nil
	s.output = nil
	s.cancelReason = ""
	s.status = models.StepRunning
	rs.running++
	rs.groupActive[s.ps.Group]++
	rs.e.cfg.Metrics.stepStarted()
}

// start starts a ready step according to its type.
func (rs *runState) start(s *stepState) {
	switch s.ps.Step.Type {
	case models.StepCondition:
		rs.runCondition(s)
	case models.StepWait:
		rs.startWait(s)
	case models.StepParallel:
		rs.startParallel(s)
	default:
		if s.ps.Action != nil && s.ps.Step.Action.Kind == models.KindSubworkflow {
			rs.startChild(s)
			return
		}
		rs.launchAttempt(s)
	}
}

// runCondition evaluates a condition step on the spot: an expression takes
// about a microsecond, not worth a goroutine.
func (rs *runState) runCondition(s *stepState) {
	rs.beginAttempt(s)
	rs.event(models.EventStepStarted, s, string(models.StepRunning), nil)
	if s.ps.Condition != nil {
		v, err := s.ps.Condition.Eval(rs.scope)
		if err != nil {
			rs.finishAttempt(s, nil, nonRetryable(toStepError(err)))
			return
		}
		b, ok := v.(bool)
		if !ok {
			rs.finishAttempt(s, nil, &models.StepError{Code: CodeExpression,
				Message: fmt.Sprintf("condition of step %q gave %T, not a boolean", s.id(), v)})
			return
		}
		s.condResult = &b
		rs.finishAttempt(s, map[string]any{"result": b}, nil)
		return
	}
	chosen := -1
	for i, c := range s.ps.Cases {
		v, err := c.Eval(rs.scope)
		if err != nil {
			rs.finishAttempt(s, nil, nonRetryable(toStepError(err)))
			return
		}
		b, ok := v.(bool)
		if !ok {
			rs.finishAttempt(s, nil, &models.StepError{Code: CodeExpression,
				Message: fmt.Sprintf("case %d of step %q gave %T, not a boolean", i, s.id(), v)})
			return
		}
		if b {
			chosen = i
			break
		}
	}
	s.caseIdx = chosen
	next := s.ps.Step.Action.Default
	if chosen >= 0 {
		next = s.ps.Step.Action.Cases[chosen].Next
	}
	rs.finishAttempt(s, map[string]any{"case": chosen, "next": next}, nil)
}

// settle records a final step in the scope and settles its outgoing edges;
// each target whose edges have all settled is decided.
func (rs *runState) settle(s *stepState) {
	rs.settled = true
	rs.doneSeq++
	s.doneSeq = rs.doneSeq
	rs.scope.SetStep(s.id(), rs.result(s))
	for _, e := range s.ps.Out {
		t := rs.byID[e.To]
		if t == nil {
			continue
		}
		rs.settleEdge(s, t, e)
		if t.settledIn == len(t.in) && t.status == models.StepPending && !t.decided {
			rs.decide(t)
		}
	}
}

// settleEdge records the outcome of edge e (from s) at its target t.
func (rs *runState) settleEdge(s, t *stepState, e plan.Edge) {
	for i, in := range t.ps.In {
		if in.From == e.From && in.Kind == e.Kind && in.Case == e.Case && t.in[i] == edgePending {
			t.in[i] = edgeOutcomeOf(s, e)
			t.settledIn++
			return
		}
	}
}

// edgeOutcomeOf is the spec's rule for how an edge from a finished step
// settles.
func edgeOutcomeOf(s *stepState, e plan.Edge) edgeOutcome {
	succeeded := s.status == models.StepSucceeded || s.status == models.StepCompensated
	failed := s.status == models.StepFailed || s.status == models.StepTimedOut
	isCond := s.ps.Step.Type == models.StepCondition
	switch e.Kind {
	case plan.EdgeOnSuccess:
		if succeeded && (!isCond || (s.condResult != nil && *s.condResult)) {
			return edgeOK
		}
		return edgeSkipped
	case plan.EdgeOnFailure:
		if isCond {
			if succeeded && s.condResult != nil && !*s.condResult {
				return edgeOK
			}
			return edgeSkipped
		}
		if failed {
			return edgeOK
		}
		return edgeSkipped
	case plan.EdgeCase:
		if succeeded && s.caseIdx == e.Case {
			return edgeOK
		}
		return edgeSkipped
	default:
		switch {
		case succeeded:
			return edgeOK
		case failed:
			return edgeFailed
		}
		return edgeSkipped
	}
}

// result is what expressions see as steps.<id>.
func (rs *runState) result(s *stepState) plan.StepResult {
	r := plan.StepResult{Status: s.status, Output: s.output, Attempts: s.attempt}
	if s.err != nil {
		r.Error = map[string]any{"code": s.err.Code, "message": s.err.Message}
	}
	return r
}
