package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/baton-run/baton/models"
)

// ---- attempts: executing, classifying and retrying -----------------------

func nonRetryable(se *models.StepError) *models.StepError {
	se.Retryable = false
	return se
}

// recordedInput is the rendered action as the attempt's stored input: the
// action itself, or, once the run has resolved secrets, a copy with their
// values replaced by *** (the store and the run page must never hold them).
func (rs *runState) recordedInput(act models.Action) any {
	if !rs.scope.HasSecrets() {
		return act
	}
	b, err := json.Marshal(act)
	if err != nil {
		return nil
	}
	var m any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil
	}
	return rs.scope.Redact(m)
}

// launchAttempt starts one attempt of a command step.
func (rs *runState) launchAttempt(s *stepState) {
	rs.beginAttempt(s)
	rs.event(models.EventStepStarted, s, string(models.StepRunning), nil)
	act, err := s.ps.Action.Render(rs.scope)
	if err != nil {
		s.input = nil
		rs.finishAttempt(s, nil, nonRetryable(toStepError(err)))
		return
	}
	s.input = rs.recordedInput(act)
	a, ok := rs.e.reg.Lookup(act.Kind)
	if !ok {
		rs.finishAttempt(s, nil, &models.StepError{Code: CodeUnknownKind,
			Message: fmt.Sprintf("no action of kind %q is available", act.Kind)})
		return
	}
	in := ActionInput{
		RunID: rs.row.ID, StepID: s.id(), Attempt: s.attempt, Item: -1, Action: act,
		IdempotencyKey: rs.row.ID + "/" + s.id(), MaxOutputBytes: rs.maxOutput(), Redact: rs.scope.RedactString,
	}
	attempt := s.attempt
	if ia, ok := a.(InlineAction); ok && ia.Inline() {
		// Cheap and without side effects outside the run: run it now, so
		// that its start and its end are one write.
		out, err := a.Run(rs.ctx, in)
		rs.attemptDone(s, attempt, out, err)
		return
	}
	rs.writeStep(s)
	rs.fx = append(rs.fx, func() { rs.e.execute(rs, s, attempt, a, in, s.ps.Step.Timeout.D(), rs.attemptDone) })
}

func (rs *runState) maxOutput() int {
	if n := rs.plan.Limits().MaxOutputBytes; n > 0 {
		return n
	}
	return rs.e.cfg.MaxOutputBytes
}

// execute runs one attempt of an action after its start is committed, and
// reports to done (under the run's lock).
func (e *Engine) execute(rs *runState, s *stepState, attempt int, a Action, in ActionInput, timeout time.Duration,
	done func(s *stepState, attempt int, out any, err error)) {
	if e.stopping.Load() {
		return // the step stays running in the store and runs again on resume
	}
	e.actions.Add(1)
	e.lim.do(func() {
		go func() {
			defer e.actions.Done()
			defer e.lim.release()
			rs.mu.Lock()
			if rs.stale(s, attempt) {
				rs.mu.Unlock()
				return
			}
			ctx, cancel := context.WithCancelCause(rs.ctx)
			s.cancel = cancel
			if s.cancelReason != "" {
				cancel(errStepCancelled)
			}
			rs.mu.Unlock()
			actx := ctx
			if timeout > 0 {
				var c context.CancelFunc
				actx, c = context.WithTimeoutCause(ctx, timeout, errAttemptTimeout)
				defer c()
			}
			out, err := a.Run(actx, in)
			if err == nil && actx.Err() != nil && errors.Is(context.Cause(actx), errAttemptTimeout) {
				err = errAttemptTimeout
			}
			if err != nil && actx.Err() != nil {
				err = causeOf(actx, err)
			}
			cancel(nil)
			if errors.Is(err, errShutdown) {
				return // not recorded: the attempt runs again on resume
			}
			rs.mu.Lock()
			defer rs.mu.Unlock()
			if s.cancel != nil {
				s.cancel = nil
			}
			done(s, attempt, out, err)
			rs.pump()
			rs.maybeFinish()
			rs.flush()
		}()
	})
}

// causeOf explains an action's error when its context ended.
func causeOf(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errShutdown):
		return errShutdown
	case errors.Is(cause, errAttemptTimeout):
		return errAttemptTimeout
	case errors.Is(cause, errStepCancelled), errors.Is(cause, errRunStopped):
		return errStepCancelled
	}
	return err
}

// stale reports whether an attempt's report comes too late: the step moved on.
func (rs *runState) stale(s *stepState, attempt int) bool {
	return s.attempt != attempt || s.status != models.StepRunning
}

// attemptDone takes an attempt's result.
func (rs *runState) attemptDone(s *stepState, attempt int, out any, err error) {
	if rs.stale(s, attempt) {
		return
	}
	// A secret the action received may come back in its output or error
	// (an API echoing a header): it is stored, shown and passed on as ***.
	out = rs.scope.Redact(out)
	if err != nil {
		var sf *StepFailure
		if errors.As(err, &sf) {
			out = rs.scope.Redact(sf.Output)
		} else {
			out = nil
		}
		rs.finishAttempt(s, out, rs.classify(s, err))
		return
	}
	b, merr := json.Marshal(out)
	if merr != nil {
		rs.finishAttempt(s, nil, &models.StepError{Code: CodeAction, Message: "the output is not JSON: " + merr.Error()})
		return
	} else if len(b) > rs.maxOutput() {
		rs.finishAttempt(s, nil, &models.StepError{Code: CodeOutputLarge,
			Message: fmt.Sprintf("the output is %d bytes; the limit is %d", len(b), rs.maxOutput())})
		return
	}
	// Handed to the write of the attempt's success (finishAttempt's first
	// writeStep, which takes it), so the output is encoded once.
	s.outputJSON = b
	rs.finishAttempt(s, out, nil)
}

// classify turns an attempt's error into a StepError.
func (rs *runState) classify(s *stepState, err error) *models.StepError {
	se := rs.classifyRaw(s, err)
	se.Message = rs.scope.RedactString(se.Message)
	return se
}

func (rs *runState) classifyRaw(s *stepState, err error) *models.StepError {
	switch {
	case errors.Is(err, errAttemptTimeout):
		return &models.StepError{Code: CodeTimeout, Retryable: true,
			Message: fmt.Sprintf("the attempt ran longer than the step's timeout of %s", s.ps.Step.Timeout.D())}
	case errors.Is(err, errStepCancelled):
		return &models.StepError{Code: CodeCancelled, Message: "the step was cancelled"}
	}
	return toStepError(err)
}

// finishAttempt ends the current attempt with an output or an error: the
// step succeeds, waits for another attempt, or ends failed, timed out or
// cancelled.
func (rs *runState) finishAttempt(s *stepState, out any, se *models.StepError) {
	if se != nil {
		se.Message = redactURLs(rs.scope.RedactString(se.Message))
	}
	now := rs.now()
	rs.running--
	rs.groupActive[s.ps.Group]--
	s.cancel = nil
	s.finishedAt = &now
	dur := durMs(now.Sub(s.attemptStart))
	m := rs.e.cfg.Metrics
	if se == nil {
		s.status = models.StepSucceeded
		s.output = out
		rs.writeStep(s)
		rs.event(models.EventStepSucceeded, s, string(s.status), &dur)
		m.stepFinished(string(s.status), now.Sub(s.attemptStart))
		rs.settle(s)
		return
	}
	s.err = se
	s.output = out
	status := models.StepFailed
	switch {
	case s.cancelReason != "" || se.Code == CodeCancelled:
		status = models.StepCancelled
		s.reason = cmp.Or(s.cancelReason, rs.stopReason(), models.ReasonRunCancelled)
	case se.Code == CodeTimeout:
		status = models.StepTimedOut
	}
	if status != models.StepCancelled && rs.stopped == stopNone && !rs.failingBlocks(s) && mayRetry(s.ps.Retry, s.attempt, se) {
		s.status = models.StepRetrying
		rs.writeStep(s)
		rs.event(models.EventStepRetrying, s, string(s.status), &dur)
		m.retried()
		rs.waiting++
		due := now.Add(backoff(s.ps.Retry, s.attempt+1, rs.e.cfg.Rand))
		rs.armTimer(s, models.TimerBackoff, due, func() { rs.onBackoff(s) })
		return
	}
	s.status = status
	rs.writeStep(s)
	typ := models.EventStepFailed
	switch status {
	case models.StepTimedOut:
		typ = models.EventStepTimedOut
	case models.StepCancelled:
		typ = models.EventStepCancelled
	}
	rs.event(typ, s, string(status), &dur)
	m.stepFinished(string(status), now.Sub(s.attemptStart))
	if status != models.StepCancelled {
		rs.onFailure(s)
	}
	rs.settle(s)
}

// failingBlocks reports whether the run is failing in a way that stops
// retries of s: under fail and rollback, nothing new starts but all_done
// steps.
func (rs *runState) failingBlocks(s *stepState) bool {
	return rs.failing && s.ps.Step.Trigger != models.TriggerAllDone
}

// onBackoff starts the next attempt once the backoff is over.
func (rs *runState) onBackoff(s *stepState) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if s.status != models.StepRetrying || rs.done {
		return
	}
	rs.waiting--
	rs.deleteTimer(s, models.TimerBackoff)
	if rs.stopped != stopNone || rs.failingBlocks(s) {
		rs.cancelNow(s, cmp.Or(rs.stopReason(), models.ReasonRunFailed))
	} else {
		rs.launchAttempt(s)
	}
	rs.pump()
	rs.maybeFinish()
	rs.flush()
}

// onFailure applies a step's final failure to its group and to the run.
func (rs *runState) onFailure(s *stepState) {
	if g := rs.plan.Groups[s.ps.Group]; g != nil && g.FailFast {
		for _, o := range rs.steps {
			if o != s && o.ps.Group == g.ID {
				rs.cancelStep(o, ReasonGroupFailed)
			}
		}
	}
	if len(s.ps.Step.OnFailure) > 0 && s.ps.Step.Type != models.StepCondition {
		return // handled: the onFailure step takes over
	}
	if rs.row.Error == nil && rs.stopped == stopNone {
		rs.row.Error = &models.RunError{Code: s.err.Code, Message: s.err.Message, StepID: s.id()}
	}
	if rs.strategy == models.StrategyContinue || rs.failing {
		return
	}
	rs.failing = true
	for _, o := range rs.steps {
		if o != s && o.ps.Step.Trigger != models.TriggerAllDone {
			rs.cancelStep(o, models.ReasonRunFailed)
		}
	}
	keep := rs.ready[:0]
	for _, o := range rs.ready {
		if o.ps.Step.Trigger == models.TriggerAllDone {
			keep = append(keep, o)
			continue
		}
		rs.skip(o, models.ReasonRunFailed)
	}
	rs.ready = keep
}

// cancelStep cancels a step in flight: an action is told to stop (its
// report then records the step cancelled); a wait or a pending retry ends
// at once.
func (rs *runState) cancelStep(s *stepState, reason string) {
	switch s.status {
	case models.StepRunning:
		if s.cancelReason == "" {
			s.cancelReason = reason
		}
		if s.cancel != nil {
			s.cancel(errStepCancelled)
		}
		if s.childRunID != "" {
			child := s.childRunID
			rs.fx = append(rs.fx, func() { _ = rs.e.Cancel(context.Background(), child) })
		}
	case models.StepWaiting, models.StepRetrying:
		rs.waiting--
		rs.cancelNow(s, reason)
	}
}

// cancelNow ends a step that has no action in flight as cancelled.
func (rs *runState) cancelNow(s *stepState, reason string) {
	now := rs.now()
	rs.deleteTimer(s, models.TimerBackoff)
	rs.deleteTimer(s, models.TimerWait)
	rs.deleteTimer(s, models.TimerSignal)
	if s.status == models.StepWaiting {
		rs.groupActive[s.ps.Group]--
	}
	s.status = models.StepCancelled
	s.reason = reason
	s.signal = ""
	s.finishedAt = &now
	rs.writeStep(s)
	rs.event(models.EventStepCancelled, s, string(s.status), nil)
	rs.e.cfg.Metrics.stepFinished(string(s.status), 0)
	rs.settle(s)
}
