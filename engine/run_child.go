package engine

import (
	"context"
	"fmt"

	"github.com/baton-run/baton/models"
)

// TriggerSubworkflow is the trigger of a run started by a subworkflow step.
const TriggerSubworkflow = "subworkflow"

// startChild starts a subworkflow step: the child run's outputs become the
// step's output, its failure the step's failure. The parent holds no
// goroutine while the child runs: the child's end calls the parent back.
func (rs *runState) startChild(s *stepState) {
	rs.beginAttempt(s)
	rs.event(models.EventStepStarted, s, string(models.StepRunning), nil)
	act, err := s.ps.Action.Render(rs.scope)
	if err != nil {
		rs.finishAttempt(s, nil, nonRetryable(toStepError(err)))
		return
	}
	rs.writeStep(s)
	attempt := s.attempt
	rs.fx = append(rs.fx, func() { rs.e.spawnChild(rs, s, attempt, act) })
}

// spawnChild resolves the child's plan and starts it.
func (e *Engine) spawnChild(rs *runState, s *stepState, attempt int, act models.Action) {
	if e.stopping.Load() {
		return
	}
	e.actions.Add(1)
	go func() {
		defer e.actions.Done()
		fail := func(err error) {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			rs.attemptDone(s, attempt, nil, err)
			rs.pump()
			rs.maybeFinish()
			rs.flush()
		}
		if e.cfg.Versions == nil {
			fail(Permanent(CodeSubworkflow, "subworkflows are not available here"))
			return
		}
		depth, err := e.runDepth(rs)
		if err != nil {
			fail(err)
			return
		}
		if depth+1 > e.cfg.MaxSubworkflowDepth {
			fail(Permanent(CodeTooDeep, "subworkflow %q would start a run nested %d deep; the limit is %d (does the workflow call itself?)",
				act.Template, depth+1, e.cfg.MaxSubworkflowDepth))
			return
		}
		compiled, version, err := e.resolveSubworkflow(rs.ctx, act.Template, act.Version)
		if err != nil {
			fail(Permanent(CodeSubworkflow, "subworkflow %q: %v", act.Template, err))
			return
		}
		inputs, err := compiled.CheckInputs(act.Inputs)
		if err != nil {
			fail(Permanent(CodeSubworkflow, "subworkflow %q: %v", act.Template, err))
			return
		}
		if inputs == nil {
			inputs = map[string]any{}
		}
		rs.mu.Lock()
		startedBy, test := rs.row.StartedBy, rs.row.Test
		rs.mu.Unlock()
		child, err := e.newRunState(compiled, RunOptions{Template: act.Template, Version: version, Trigger: TriggerSubworkflow,
			StartedBy: startedBy, Test: test, ParentRunID: rs.row.ID}, inputs, s.id())
		if err != nil {
			fail(err)
			return
		}
		child.depth, child.depthKnown = depth+1, true
		rs.mu.Lock()
		if rs.stale(s, attempt) {
			rs.mu.Unlock()
			return
		}
		// The child's id is stored on the parent's attempt before the child
		// exists (the writer commits in order), so a restart finds it.
		s.childRunID = child.row.ID
		rs.writeStep(s)
		e.watchChild(rs, s, attempt, child.row.ID)
		rs.flush()
		cancelled := s.cancelReason != ""
		rs.mu.Unlock()
		if _, err := e.launch(context.Background(), child, nil); err != nil {
			fail(err)
			return
		}
		if cancelled {
			_ = e.Cancel(context.Background(), child.row.ID)
		}
	}()
}

// runDepth returns how many parent runs rs has. A run started in this
// process knows; one resumed after a restart walks its parents in the
// store once (at most MaxSubworkflowDepth of them: past that the answer
// no longer matters).
func (e *Engine) runDepth(rs *runState) (int, error) {
	rs.mu.Lock()
	depth, known, parent := rs.depth, rs.depthKnown, rs.row.ParentRunID
	rs.mu.Unlock()
	if known {
		return depth, nil
	}
	depth = 0
	for parent != "" && depth <= e.cfg.MaxSubworkflowDepth {
		depth++
		snap, err := e.store.LoadRun(rs.ctx, parent)
		if err != nil {
			return 0, Retryable(CodeSubworkflow, "reading the parent run %s: %v", parent, err)
		}
		parent = snap.Run.ParentRunID
	}
	rs.mu.Lock()
	rs.depth, rs.depthKnown = depth, true
	rs.mu.Unlock()
	return depth, nil
}

// watchChild makes the child run's end finish the parent's step.
func (e *Engine) watchChild(rs *runState, s *stepState, attempt int, childID string) {
	e.mu.Lock()
	e.children[childID] = func(child models.Run) {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		var err error
		if child.Status != models.RunSucceeded {
			msg := fmt.Sprintf("child run %s ended %s", child.ID, child.Status)
			if child.Error != nil {
				msg += ": " + child.Error.Message
			}
			err = &StepFailure{Code: CodeSubworkflow, Message: msg}
			if child.Status == models.RunCancelled && s.cancelReason != "" {
				err = errStepCancelled
			}
		}
		var out any
		if err == nil {
			out = child.Outputs
		}
		rs.attemptDone(s, attempt, out, err)
		rs.pump()
		rs.maybeFinish()
		rs.flush()
	}
	e.mu.Unlock()
}
