package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baton-run/baton/models"
)

// itemResult is one element's outcome in a parallel step.
type itemResult struct {
	done     bool
	output   any
	err      *models.StepError
	attempts int
	// retryAt is when the element's next attempt is due, while it waits
	// out a backoff (a durable timer, so a restart keeps the pause).
	retryAt *time.Time
}

// itemBackoffKind is the durable timer kind of a parallel element's backoff:
// the timers table is keyed by (run, step, kind), so the element index is
// part of the kind.
func itemBackoffKind(i int) string { return models.TimerBackoff + "/" + strconv.Itoa(i) }

// parseItemBackoffKind returns the element index of an element backoff
// timer's kind.
func parseItemBackoffKind(kind string) (int, bool) {
	rest, ok := strings.CutPrefix(kind, models.TimerBackoff+"/")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(rest)
	return i, err == nil && i >= 0
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
	progress := &itemProgress{rs: rs, s: s, attempt: attempt, items: len(acts)}
	for _, r := range prior {
		progress.add(r)
	}
	progress.sent = progress.counts()
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
		// runElem runs element i from attempt prev+1 on a goroutine of its
		// own, holding one of the step's slots. An element that must wait
		// out a backoff gives its goroutine and slot back: the pause is a
		// durable timer on the engine's heap that starts runElem again.
		var runElem func(i, prev int, slot bool)
		runElem = func(i, prev int, slot bool) {
			go func() {
				if !slot {
					sem <- struct{}{}
				}
				res, due := e.runItem(itemsCtx, rs, s, a, i, acts[i], policy, timeout, prev)
				<-sem
				if due != nil && itemsCtx.Err() == nil {
					e.parkItem(itemsCtx, rs, s, i, *due, func(ok bool) {
						if ok {
							runElem(i, res.attempts, false)
							return
						}
						results[i] = res
						wg.Done()
					})
					return
				}
				results[i] = res
				if failFast && res.done && res.err != nil {
					stopItems(errStepCancelled)
				}
				progress.finished(res)
				wg.Done()
			}()
		}
		for i := range acts {
			r, ok := prior[i]
			if ok && r.done {
				results[i] = r
				continue
			}
			wg.Add(1)
			if r.retryAt != nil {
				// Restored in the middle of a backoff: resume it at its due
				// time, not at once.
				e.parkItem(itemsCtx, rs, s, i, *r.retryAt, func(ok bool) {
					if ok {
						runElem(i, r.attempts, false)
						return
					}
					results[i] = r
					wg.Done()
				})
				continue
			}
			// Take the slot here, so that at most maxConc element
			// goroutines exist however long the list.
			sem <- struct{}{}
			runElem(i, r.attempts, true)
		}
		wg.Wait()
		if errors.Is(context.Cause(ctx), errShutdown) {
			return
		}
		if e.stopping.Load() && slices.ContainsFunc(results, func(r itemResult) bool { return !r.done }) {
			// Elements parked on a backoff gave up because the engine is
			// stopping: the step resumes on the next Start.
			return
		}
		out, err := parallelOutput(results)
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if ctx.Err() != nil && err != nil {
			err = causeOf(ctx, err)
		}
		// The last counts go out before the step's own event.
		progress.end()
		rs.attemptDone(s, attempt, out, err)
		rs.pump()
		rs.maybeFinish()
		rs.flush()
	}()
}

// itemProgress publishes a parallel step's element counts as step.progress
// events while the step runs, coalesced so that a long list does not cost an
// event per element: at most one snapshot of the counts is on its way to the
// bus at a time. A snapshot is handed to the writer behind the writes of the
// elements it counts and published once they are committed (so the store,
// and a page reloaded from it, shows at least those counts); when it is
// published and elements have finished since, the next snapshot follows. So
// a step sends at most one progress event per commit however many elements
// each commit carries, and its last one, with the final counts, just before
// the step's own event. The events are not stored (see
// models.EventStepProgress): each carries totals, and the step runs' rows
// are the record.
//
// Fields other than the constants are guarded by rs.mu.
type itemProgress struct {
	rs      *runState
	s       *stepState
	attempt int
	items   int

	succeeded, failed int
	sent              [2]int // the counts of the last snapshot handed to the writer
	pending           bool   // a snapshot is waiting for its commit
	over              bool   // the step's attempt has ended: nothing more is sent
}

func (p *itemProgress) counts() [2]int { return [2]int{p.succeeded, p.failed} }

// add counts one element's result when it is final.
func (p *itemProgress) add(r itemResult) {
	switch {
	case !r.done:
	case r.err == nil:
		p.succeeded++
	default:
		p.failed++
	}
}

// finished counts an element whose result is final (one parked for a
// retry or stopped by a shutdown is not) and sends a snapshot unless one is
// already on its way.
func (p *itemProgress) finished(r itemResult) {
	if !r.done {
		return
	}
	rs := p.rs
	rs.mu.Lock()
	defer rs.mu.Unlock()
	p.add(r)
	if !p.pending {
		p.send()
	}
}

// end sends the final counts, when they differ from the last snapshot,
// and stops further snapshots. Called with rs.mu held, before the step's
// result is recorded.
func (p *itemProgress) end() {
	if p.counts() != p.sent {
		p.send()
	}
	p.over = true
}

// send hands a snapshot of the counts to the writer, behind the writes of
// every element it counts. Called with rs.mu held.
func (p *itemProgress) send() {
	rs := p.rs
	if p.over || rs.stale(p.s, p.attempt) {
		return
	}
	ev := models.Event{RunID: rs.row.ID, Seq: rs.row.Seq, Type: models.EventStepProgress, StepID: p.s.id(),
		Status: string(models.StepRunning), Attempt: p.attempt, At: rs.now(),
		Progress: &models.ItemProgress{Items: p.items, Succeeded: p.succeeded, Failed: p.failed}}
	p.pending, p.sent = true, p.counts()
	rs.fx = append(rs.fx, func() { p.published(ev) })
	rs.flush()
}

// published runs once the snapshot's writes are committed: it publishes
// the event and sends the next snapshot if elements finished meanwhile.
func (p *itemProgress) published(ev models.Event) {
	rs := p.rs
	rs.e.bus.publish([]models.Event{ev})
	rs.mu.Lock()
	defer rs.mu.Unlock()
	p.pending = false
	if p.counts() != p.sent {
		p.send()
	}
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
//
// When the attempt failed and the policy retries, runItem records the
// durable backoff timer and returns when the next attempt is due; the
// caller parks the element (parkItem) rather than wait on a goroutine.
func (e *Engine) runItem(ctx context.Context, rs *runState, s *stepState, a Action, i int, act models.Action,
	policy models.RetryPolicy, timeout time.Duration, prevAttempts int) (itemResult, *time.Time) {
	res := itemResult{attempts: prevAttempts}
	{
		attempt := prevAttempts + 1
		if ctx.Err() != nil {
			return res, nil
		}
		res.attempts = attempt
		in := ActionInput{RunID: rs.row.ID, StepID: s.id(), Attempt: attempt, Item: i, Action: act,
			IdempotencyKey: fmt.Sprintf("%s/%s/%d", rs.row.ID, s.id(), i), MaxOutputBytes: rs.maxOutput(), Redact: rs.scope.RedactString}
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
			return res, nil
		}
		if err == nil {
			out = rs.scope.Redact(out) // a secret the element received and echoed
			res.done, res.output, res.err = true, out, nil
			rs.itemRow(s, i, attempt, models.StepSucceeded, started, out, nil)
			return res, nil
		}
		se := rs.classify(s, err)
		if errors.Is(err, errStepCancelled) {
			res.done, res.err = true, se
			rs.itemRow(s, i, attempt, models.StepCancelled, started, nil, se)
			return res, nil
		}
		res.err = se
		if !mayRetry(policy, attempt, se) {
			res.done = true
			rs.itemRow(s, i, attempt, models.StepFailed, started, nil, se)
			return res, nil
		}
		due := e.clock.Now().Add(backoff(policy, attempt+1, e.cfg.Rand)).UTC().Truncate(time.Microsecond)
		rs.itemRowWithTimer(s, i, attempt, started, se, &models.RunTimer{RunID: rs.row.ID, StepID: s.id(),
			Kind: itemBackoffKind(i), DueAt: due})
		e.cfg.Metrics.retried()
		return res, &due
	}
}

// parkItem waits for element i's backoff on the engine's timer heap,
// without a goroutine: next(true) runs when it is due, next(false) when ctx
// ends first (the step is cancelled or the engine stops; then the durable
// timer stays for the next start, unless the run goes on without it).
func (e *Engine) parkItem(ctx context.Context, rs *runState, s *stepState, i int, due time.Time, next func(ok bool)) {
	key := timerKey{runID: rs.row.ID, stepID: s.id(), kind: models.TimerBackoff, item: i}
	var once atomic.Bool
	// The watchers of ctx and of the engine's stop are unregistered once
	// the element moves on; mu orders that after their registration.
	var mu sync.Mutex
	var stops []func() bool
	unwatch := func() {
		mu.Lock()
		for _, f := range stops {
			f()
		}
		mu.Unlock()
	}
	fire := func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		unwatch()
		rs.mu.Lock()
		rs.w.DeleteTimers = append(rs.w.DeleteTimers, models.RunTimer{RunID: rs.row.ID, StepID: s.id(), Kind: itemBackoffKind(i)})
		rs.mu.Unlock()
		next(true)
	}
	abort := func(shutdown bool) {
		if !once.CompareAndSwap(false, true) {
			return
		}
		unwatch()
		e.timers.cancel(key)
		if !shutdown {
			// The step was cancelled: the pause will not be resumed.
			rs.mu.Lock()
			rs.w.DeleteTimers = append(rs.w.DeleteTimers, models.RunTimer{RunID: rs.row.ID, StepID: s.id(), Kind: itemBackoffKind(i)})
			rs.flush()
			rs.mu.Unlock()
		}
		next(false)
	}
	mu.Lock()
	stops = append(stops,
		context.AfterFunc(ctx, func() { abort(errors.Is(context.Cause(ctx), errShutdown)) }),
		context.AfterFunc(e.parkCtx, func() { abort(true) }))
	mu.Unlock()
	e.timers.set(key, due, fire)
}

// itemRowWithTimer records a failed attempt of one element and, in the same
// write, the durable timer of its backoff. The caller arms it on the heap
// (parkItem); the next attempt's writes queue behind this one in the writer,
// so they never commit before it.
func (rs *runState) itemRowWithTimer(s *stepState, i, attempt int, started time.Time, se *models.StepError, t *models.RunTimer) {
	rs.itemRowTimer(s, i, attempt, models.StepFailed, started, nil, se, t)
}

// itemRow records one attempt of one element.
func (rs *runState) itemRow(s *stepState, i, attempt int, status models.StepStatus, started time.Time, out any, se *models.StepError) {
	rs.itemRowTimer(s, i, attempt, status, started, out, se, nil)
}

func (rs *runState) itemRowTimer(s *stepState, i, attempt int, status models.StepStatus, started time.Time, out any,
	se *models.StepError, t *models.RunTimer) {
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
	if t != nil {
		rs.w.Timers = append(rs.w.Timers, *t)
	}
	rs.flush()
	rs.mu.Unlock()
}
