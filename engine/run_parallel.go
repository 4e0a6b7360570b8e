package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/baton-run/baton/models"
)

// itemResult is one element's outcome in a parallel step.
type itemResult struct {
	done     bool
	output   any
	err      *models.StepError
	attempts int
}

// startParallel evaluates a parallel step's list, renders each element's
// action, and hands them to runParallel once the start is committed.
func (rs *runState) startParallel(s *stepState) {
	rs.beginAttempt(s)
	rs.event(models.EventStepStarted, s, string(models.StepRunning), nil)
	v, err := s.ps.ForEach.Eval(rs.scope)
	if err != nil {
		rs.finishAttempt(s, nil, nonRetryable(toStepError(err)))
		return
	}
	list, ok := toList(v)
	if !ok {
		rs.finishAttempt(s, nil, &models.StepError{Code: CodeExpression,
			Message: fmt.Sprintf("forEach of step %q gave %T, not a list", s.id(), v)})
		return
	}
	if max := rs.plan.Limits().MaxForEachItems; max > 0 && len(list) > max {
		rs.finishAttempt(s, nil, &models.StepError{Code: CodeExpression,
			Message: fmt.Sprintf("forEach of step %q gave %d elements; the limit is %d", s.id(), len(list), max)})
		return
	}
	acts := make([]models.Action, len(list))
	for i, item := range list {
		a, err := s.ps.ItemAction.Render(rs.scope.WithItem(s.ps.ItemName, item, i))
		if err != nil {
			rs.finishAttempt(s, nil, nonRetryable(toStepError(err)))
			return
		}
		acts[i] = a
	}
	kind := ""
	if len(acts) > 0 {
		kind = acts[0].Kind
	}
	var a Action
	if len(acts) > 0 {
		var ok bool
		if a, ok = rs.e.reg.Lookup(kind); !ok {
			rs.finishAttempt(s, nil, &models.StepError{Code: CodeUnknownKind,
				Message: fmt.Sprintf("no action of kind %q is available for a parallel step", kind)})
			return
		}
	}
	rs.writeStep(s)
	prior := s.items
	s.items = nil
	attempt := s.attempt
	act := s.ps.Step.Action
	rs.fx = append(rs.fx, func() {
		rs.e.runParallel(rs, s, attempt, a, acts, prior, act.MaxConcurrency, act.FailFast)
	})
}

// toList accepts any slice or array an expression may give.
func toList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if !rv.IsValid() || (rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array) {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

// runParallel runs a parallel step's elements, each with the step's retry
// policy and timeout, at most maxConc at once, and reports the step's
// result in list order. Elements already done before a restart (prior) are
// not run again.
func (e *Engine) runParallel(rs *runState, s *stepState, attempt int, a Action, acts []models.Action,
	prior map[int]itemResult, maxConc int, failFast bool) {
	if e.stopping.Load() {
		return
	}
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
	policy := s.ps.Retry
	timeout := s.ps.Step.Timeout.D()
	rs.mu.Unlock()

	e.actions.Add(1)
	go func() {
		defer e.actions.Done()
		defer cancel(nil)
		results := make([]itemResult, len(acts))
		if maxConc <= 0 || maxConc > len(acts) {
			maxConc = len(acts)
		}
		sem := make(chan struct{}, max(maxConc, 1))
		itemsCtx, stopItems := context.WithCancelCause(ctx)
		defer stopItems(nil)
		var wg sync.WaitGroup
		for i := range acts {
			if r, ok := prior[i]; ok && r.done {
				results[i] = r
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				results[i] = e.runItem(itemsCtx, rs, s, a, i, acts[i], policy, timeout, prior[i].attempts)
				if failFast && results[i].done && results[i].err != nil {
					stopItems(errStepCancelled)
				}
			}()
		}
		wg.Wait()
		if errors.Is(context.Cause(ctx), errShutdown) {
			return
		}
		out, err := parallelOutput(results)
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if ctx.Err() != nil && err != nil {
			err = causeOf(ctx, err)
		}
		rs.attemptDone(s, attempt, out, err)
		rs.pump()
		rs.maybeFinish()
		rs.flush()
	}()
}

// parallelOutput is the spec's {items, succeeded, failed}.
func parallelOutput(results []itemResult) (map[string]any, error) {
	items := make([]any, len(results))
	var ok, failed int
	var first *models.StepError
	for i, r := range results {
		switch {
		case r.done && r.err == nil:
			ok++
			items[i] = r.output
		case r.done:
			failed++
			if first == nil {
				first = r.err
			}
		}
	}
	out := map[string]any{"items": items, "succeeded": ok, "failed": failed}
	if failed > 0 || ok < len(results) {
		msg := fmt.Sprintf("%d of %d elements did not succeed", len(results)-ok, len(results))
		if first != nil {
			msg += "; first error: " + first.Message
		}
		return out, &StepFailure{Code: CodeItemsFailed, Message: msg, Output: out}
	}
	return out, nil
}

// runItem runs one element through its attempts, recording each.
func (e *Engine) runItem(ctx context.Context, rs *runState, s *stepState, a Action, i int, act models.Action,
	policy models.RetryPolicy, timeout time.Duration, prevAttempts int) itemResult {
	res := itemResult{}
	for attempt := prevAttempts + 1; ; attempt++ {
		if ctx.Err() != nil {
			return res
		}
		res.attempts = attempt
		in := ActionInput{RunID: rs.row.ID, StepID: s.id(), Attempt: attempt, Item: i, Action: act,
			IdempotencyKey: fmt.Sprintf("%s/%s/%d", rs.row.ID, s.id(), i), MaxOutputBytes: rs.maxOutput()}
		started := e.clock.Now().UTC().Truncate(time.Microsecond)
		rs.itemRow(s, i, attempt, models.StepRunning, started, nil, nil)
		acquired := make(chan struct{})
		e.lim.do(func() { close(acquired) })
		<-acquired
		actx, cancel := ctx, context.CancelFunc(func() {})
		if timeout > 0 {
			actx, cancel = context.WithTimeoutCause(ctx, timeout, errAttemptTimeout)
		}
		out, err := a.Run(actx, in)
		if err != nil && actx.Err() != nil {
			err = causeOf(actx, err)
		}
		cancel()
		e.lim.release()
		if errors.Is(err, errShutdown) || errors.Is(context.Cause(ctx), errShutdown) {
			return res
		}
		if err == nil {
			res.done, res.output, res.err = true, out, nil
			rs.itemRow(s, i, attempt, models.StepSucceeded, started, out, nil)
			return res
		}
		se := rs.classify(s, err)
		if errors.Is(err, errStepCancelled) {
			res.done, res.err = true, se
			rs.itemRow(s, i, attempt, models.StepCancelled, started, nil, se)
			return res
		}
		res.err = se
		if !mayRetry(policy, attempt, se) {
			res.done = true
			rs.itemRow(s, i, attempt, models.StepFailed, started, nil, se)
			return res
		}
		rs.itemRow(s, i, attempt, models.StepFailed, started, nil, se)
		wait, stop := e.clock.NewTimer(backoff(policy, attempt+1, e.cfg.Rand))
		select {
		case <-wait:
		case <-ctx.Done():
			stop()
			return res
		}
	}
}

// itemRow records one attempt of one element.
func (rs *runState) itemRow(s *stepState, i, attempt int, status models.StepStatus, started time.Time, out any, se *models.StepError) {
	row := models.StepRunRow{
		StepRun: models.StepRun{RunID: rs.row.ID, StepID: s.id(), Attempt: attempt, Status: status,
			Output: out, Error: se, StartedAt: &started},
		Item: i, Generation: rs.row.Generation,
	}
	if status.Final() {
		now := rs.e.clock.Now().UTC().Truncate(time.Microsecond)
		row.FinishedAt = &now
		d := durMs(now.Sub(started))
		row.DurationMs = &d
	}
	rs.mu.Lock()
	rs.w.StepRuns = append(rs.w.StepRuns, row)
	rs.flush()
	rs.mu.Unlock()
}
