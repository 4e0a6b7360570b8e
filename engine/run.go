package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baton-run/baton/models"
)

// stopKind says why a run was stopped from outside its own steps.
type stopKind int

const (
	stopNone stopKind = iota
	stopCancel
	stopTimeout
)

// Reasons of the engine beyond those in models.
const (
	// ReasonGroupFailed marks a step cancelled because another step of its
	// parallel group failed and the group has failFast.
	ReasonGroupFailed = "group_failed"
)

// Causes of an action's cancellation, read with context.Cause.
var (
	errStepCancelled  = errors.New("step cancelled")
	errAttemptTimeout = errors.New("attempt timed out")
	errRunStopped     = errors.New("run stopped")
	errRunDone        = errors.New("run finished")
)

// edgeOutcome is how an edge settled.
type edgeOutcome uint8

const (
	edgePending edgeOutcome = iota
	edgeOK
	edgeFailed
	edgeSkipped
)

// runState is one active run in memory. Every field is guarded by mu; the
// scope is read and written only under mu. Each change is recorded in w (the
// writes) and fx (what to do once they are committed), and flush hands both
// to the writer: nothing that depends on a change happens before the change
// is durable.
type runState struct {
	e     *Engine
	mu    sync.Mutex
	row   models.RunRow
	plan  *Plan
	scope *Scope
	steps []*stepState
	byID  map[string]*stepState
	ctx   context.Context
	stopF context.CancelCauseFunc

	strategy     string
	running      int // steps whose action or child run is in flight
	waiting      int // steps waiting for a timer or a signal, or for their next attempt
	ready        []*stepState
	groupActive  map[string]int
	order        int
	doneSeq      int
	failing      bool // an unhandled failure under fail or rollback: start nothing new but all_done steps
	stopped      stopKind
	done         bool
	compensating bool
	compQueue    []*stepState
	compFailed   *models.RunError
	signals      map[string]json.RawMessage
	forced       map[string]bool
	// settled is set when a step finished in the writes not yet handed to
	// the writer: steps made ready by it start only once it is committed.
	settled bool

	w  models.RunWrites
	fx []func()

	// finished is RunOptions.Finished, registered as a waiter at launch.
	finished chan models.Run

	// suspended is set when a write of the run could not be committed: its
	// state in memory is then ahead of the store, so nothing more of it is
	// written or started; the engine resumes it from the store later (see
	// suspend). suspendedCh is closed at the same time.
	suspended   atomic.Bool
	suspendedCh chan struct{}
	// stored is set once a write of the run's row is committed: later
	// writes send only the columns that change (RunRow.Stored).
	stored atomic.Bool
}

// stepState is one step of an active run.
type stepState struct {
	ps           *PlanStep
	status       models.StepStatus
	reason       string
	attempt      int
	order        int
	doneSeq      int
	startedAt    *time.Time
	finishedAt   *time.Time
	attemptStart time.Time
	output       any
	err          *models.StepError
	in           []edgeOutcome
	settledIn    int
	decided      bool
	condResult   *bool
	caseIdx      int
	cancel       context.CancelCauseFunc
	cancelReason string
	signal       string
	childRunID   string
	comp         *compState
	items        map[int]itemResult // a parallel step's elements already done (recovery)
	// outputJSON is output as attemptDone encoded it, until the next
	// writeStep takes it: the row then carries these bytes to the store.
	outputJSON models.EncodedJSON
}

type compState struct {
	attempt int
	done    bool
	err     *models.StepError
}

func (s *stepState) id() string { return s.ps.Step.ID }

// newRunState builds the in-memory state of a new run.
func (e *Engine) newRunState(plan *Plan, opt RunOptions, inputs map[string]any, parentStep string) (*runState, error) {
	def, err := json.Marshal(plan.Definition)
	if err != nil {
		return nil, fmt.Errorf("snapshot definition: %w", err)
	}
	// Encoded here, on the starting goroutine, rather than by the one
	// writer goroutine, which every run's commits wait for.
	var inputsJSON models.EncodedJSON
	if inputs != nil {
		if inputsJSON, err = json.Marshal(inputs); err != nil {
			return nil, models.Errorf(models.Invalid, "the inputs cannot be stored as JSON: %v", err)
		}
	}
	now := e.clock.Now().UTC().Truncate(time.Microsecond)
	row := models.RunRow{
		Run: models.Run{
			ID:          e.newID(),
			Template:    cmp.Or(opt.Template, plan.Definition.ID),
			Version:     opt.Version,
			Status:      models.RunRunning,
			Trigger:     cmp.Or(opt.Trigger, models.TriggerManual),
			StartedBy:   opt.StartedBy,
			Test:        opt.Test,
			ParentRunID: opt.ParentRunID,
			Inputs:      inputs,
			CreatedAt:   now,
			StartedAt:   &now,
			Schedule:    opt.Schedule,
		},
		Definition:   def,
		ParentStepID: parentStep,
		InputsJSON:   inputsJSON,
	}
	return e.buildRunState(plan, row), nil
}

// buildRunState makes the in-memory state of a run row; every step pending.
func (e *Engine) buildRunState(plan *Plan, row models.RunRow) *runState {
	rs := &runState{
		e:           e,
		suspendedCh: make(chan struct{}),
		row:         row,
		plan:        plan,
		byID:        make(map[string]*stepState, len(plan.Steps)),
		groupActive: map[string]int{},
		signals:     map[string]json.RawMessage{},
		strategy:    models.StrategyFail,
	}
	if eh := plan.Definition.ErrorHandling; eh != nil && eh.Strategy != "" {
		rs.strategy = eh.Strategy
	}
	started := ""
	if row.StartedAt != nil {
		started = row.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	rs.scope = NewScope(plan, RunInfo{ID: row.ID, Template: row.Template, Version: row.Version, StartedAt: started}, row.Inputs)
	rs.steps = make([]*stepState, len(plan.Steps))
	for i, ps := range plan.Steps {
		s := &stepState{ps: ps, status: models.StepPending, in: make([]edgeOutcome, len(ps.In)), caseIdx: -2}
		rs.steps[i] = s
		rs.byID[ps.Step.ID] = s
	}
	parent := e.actionCtx
	if parent == nil {
		parent = context.Background()
	}
	rs.ctx, rs.stopF = context.WithCancelCause(parent)
	return rs
}

// launch registers a new run, writes its start and its first steps, and
// returns its record once that is committed.
func (e *Engine) launch(ctx context.Context, rs *runState, prepare func()) (models.Run, error) {
	e.mu.Lock()
	e.runs[rs.row.ID] = rs
	if rs.finished != nil {
		e.waiters[rs.row.ID] = append(e.waiters[rs.row.ID], rs.finished)
	}
	e.mu.Unlock()
	e.cfg.Metrics.runStarted()

	committed := make(chan struct{})
	rs.mu.Lock()
	rs.event(models.EventRunQueued, nil, string(models.RunQueued), nil)
	rs.event(models.EventRunStarted, nil, string(models.RunRunning), nil)
	rs.writeRun()
	if t := rs.plan.Definition.Timeout; t > 0 {
		rs.armRunTimeout(rs.row.StartedAt.Add(t.D()))
	}
	if prepare != nil {
		prepare()
	}
	rs.kick()
	rs.fx = append(rs.fx, func() { close(committed) })
	rec := rs.record()
	rs.flush()
	rs.mu.Unlock()

	select {
	case <-committed:
	case <-rs.suspendedCh:
		return rec, models.Errorf(models.Unavailable, "run %s could not be stored: %v", rec.ID, e.Healthy())
	case <-ctx.Done():
		return rec, ctx.Err()
	}
	// The run's state as of now, as Run would return it; read from rs
	// rather than through Run, because a short run may already have
	// finished and left memory, and Run would then read it back from the
	// store (what it would find is the same: its final state).
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.record(), nil
}

// kick decides every pending step whose incoming edges have all settled
// (steps without edges first of all), then starts what is ready.
func (rs *runState) kick() {
	for _, s := range rs.steps {
		if s.status == models.StepPending && !s.decided && s.settledIn == len(s.in) {
			rs.decide(s)
		}
	}
	rs.pump()
	rs.maybeFinish()
}

// ---- writes and events -------------------------------------------------

// now is the run's clock, at the microsecond precision both databases keep,
// so that a live record and events equal the stored ones.
func (rs *runState) now() time.Time { return rs.e.clock.Now().UTC().Truncate(time.Microsecond) }

// event records one event of the run.
func (rs *runState) event(typ string, s *stepState, status string, dur *float64) {
	rs.row.Seq++
	ev := models.Event{RunID: rs.row.ID, Seq: rs.row.Seq, Type: typ, Status: status, At: rs.now(), DurationMs: dur}
	if s != nil {
		ev.StepID = s.id()
		ev.Attempt = s.attempt
		ev.Error = s.err
	}
	rs.w.Events = append(rs.w.Events, ev)
}

func (rs *runState) writeRun() {
	r := rs.row
	r.Steps = nil
	r.Stored = rs.stored.Load()
	if r.Stored {
		// The store has the inputs: their encoding need not stay in
		// memory for as long as the run lasts.
		rs.row.InputsJSON, r.InputsJSON = nil, nil
	}
	rs.w.Runs = append(rs.w.Runs, r)
}

// writeStep records the step's current attempt.
func (rs *runState) writeStep(s *stepState) {
	row := models.StepRunRow{
		StepRun: models.StepRun{
			RunID:      rs.row.ID,
			StepID:     s.id(),
			Attempt:    s.attempt,
			Status:     s.status,
			Output:     s.output,
			Error:      s.err,
			Reason:     s.reason,
			FinishedAt: s.finishedAt,
		},
		Item:       -1,
		Generation: rs.row.Generation,
		Order:      s.order,
	}
	if s.status == models.StepRetrying {
		row.Status = models.StepFailed
		if s.err != nil && s.err.Code == CodeTimeout {
			row.Status = models.StepTimedOut
		}
	}
	if s.attempt > 0 {
		t := s.attemptStart
		row.StartedAt = &t
		if s.finishedAt != nil {
			d := durMs(s.finishedAt.Sub(t))
			row.DurationMs = &d
		}
	}
	if s.outputJSON != nil {
		// attemptDone encoded this output to check its size: the store
		// writes those bytes rather than encode the output again.
		row.Output = s.outputJSON
		s.outputJSON = nil
	}
	if s.childRunID != "" {
		row.Input = map[string]any{"childRunId": s.childRunID}
	}
	rs.w.StepRuns = append(rs.w.StepRuns, row)
}

// flush hands the pending writes to the writer; the effects run, and the
// events are published, once they are committed.
func (rs *runState) flush() {
	if rs.w.Empty() && len(rs.fx) == 0 {
		return
	}
	if rs.settled {
		rs.settled = false
		if len(rs.ready) > 0 {
			// A step's dependents start only after its completion is
			// committed.
			rs.fx = append(rs.fx, func() {
				rs.mu.Lock()
				defer rs.mu.Unlock()
				if rs.done || rs.e.stopping.Load() {
					return
				}
				rs.pump()
				rs.maybeFinish()
				rs.flush()
			})
		}
	}
	w, fx := rs.w, rs.fx
	rs.w, rs.fx = models.RunWrites{}, nil
	if rs.suspended.Load() {
		// An earlier write was lost: nothing after it may be written or
		// acted on; the run resumes from what the store holds.
		return
	}
	e := rs.e
	e.writer.submit(w, func(err error) {
		if err != nil || rs.suspended.Load() {
			// Neither publish nor go on: the effects (starting the next
			// steps, notifying waiters) must follow a committed write.
			e.suspend(rs, err)
			return
		}
		if len(w.Runs) > 0 {
			rs.stored.Store(true)
		}
		e.bus.publish(w.Events)
		for _, f := range fx {
			f()
		}
	})
}

func durMs(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

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
// until nothing more can start.
func (rs *runState) pump() {
	if rs.settled {
		return // flush starts them after the commit
	}
	max := rs.plan.Definition.MaxConcurrency
	for progress := true; progress && len(rs.ready) > 0 && !rs.settled; {
		progress = false
		list := rs.ready
		rs.ready = nil
		var blocked []*stepState
		for i, s := range list {
			if s.status.Final() || s.status != models.StepPending {
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

func nonRetryable(se *models.StepError) *models.StepError {
	se.Retryable = false
	return se
}

// launchAttempt starts one attempt of a command step.
func (rs *runState) launchAttempt(s *stepState) {
	rs.beginAttempt(s)
	rs.event(models.EventStepStarted, s, string(models.StepRunning), nil)
	act, err := s.ps.Action.Render(rs.scope)
	if err != nil {
		rs.finishAttempt(s, nil, nonRetryable(toStepError(err)))
		return
	}
	a, ok := rs.e.reg.Lookup(act.Kind)
	if !ok {
		rs.finishAttempt(s, nil, &models.StepError{Code: CodeUnknownKind,
			Message: fmt.Sprintf("no action of kind %q is available", act.Kind)})
		return
	}
	in := ActionInput{
		RunID: rs.row.ID, StepID: s.id(), Attempt: s.attempt, Item: -1, Action: act,
		IdempotencyKey: rs.row.ID + "/" + s.id(), MaxOutputBytes: rs.maxOutput(),
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
	if err != nil {
		var sf *StepFailure
		if errors.As(err, &sf) {
			out = sf.Output
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
	if s.ps.Step.OnFailure != "" && s.ps.Step.Type != models.StepCondition {
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
func (rs *runState) settleEdge(s, t *stepState, e Edge) {
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
func edgeOutcomeOf(s *stepState, e Edge) edgeOutcome {
	succeeded := s.status == models.StepSucceeded || s.status == models.StepCompensated
	failed := s.status == models.StepFailed || s.status == models.StepTimedOut
	isCond := s.ps.Step.Type == models.StepCondition
	switch e.Kind {
	case EdgeOnSuccess:
		if succeeded && (!isCond || (s.condResult != nil && *s.condResult)) {
			return edgeOK
		}
		return edgeSkipped
	case EdgeOnFailure:
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
	case EdgeCase:
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
func (rs *runState) result(s *stepState) StepResult {
	r := StepResult{Status: s.status, Output: s.output, Attempts: s.attempt}
	if s.err != nil {
		r.Error = map[string]any{"code": s.err.Code, "message": s.err.Message}
	}
	return r
}

// ---- timers ---------------------------------------------------------------

// armTimer records a durable timer and arms it once that is committed.
func (rs *runState) armTimer(s *stepState, kind string, due time.Time, fire func()) {
	stepID := ""
	if s != nil {
		stepID = s.id()
	}
	t := models.RunTimer{RunID: rs.row.ID, StepID: stepID, Kind: kind, DueAt: due}
	rs.w.Timers = append(rs.w.Timers, t)
	key := timerKey{runID: rs.row.ID, stepID: stepID, kind: kind, item: -1}
	timers := rs.e.timers
	rs.fx = append(rs.fx, func() { timers.set(key, due, fire) })
}

func (rs *runState) deleteTimer(s *stepState, kind string) {
	stepID := ""
	if s != nil {
		stepID = s.id()
	}
	rs.w.DeleteTimers = append(rs.w.DeleteTimers, models.RunTimer{RunID: rs.row.ID, StepID: stepID, Kind: kind})
	rs.e.timers.cancel(timerKey{runID: rs.row.ID, stepID: stepID, kind: kind, item: -1})
}

func (rs *runState) armRunTimeout(due time.Time) {
	rs.armTimer(nil, models.TimerRunTimeout, due, func() {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		if rs.done {
			return
		}
		rs.stop(stopTimeout)
		rs.flush()
	})
}

// ---- waits and signals ------------------------------------------------------

// startWait starts a wait step: a durable timer, or a signal.
func (rs *runState) startWait(s *stepState) {
	rs.beginAttempt(s)
	rs.running--
	rs.waiting++
	s.status = models.StepWaiting
	rs.event(models.EventStepStarted, s, string(models.StepRunning), nil)
	rs.event(models.EventStepWaiting, s, string(s.status), nil)
	rs.writeStep(s)
	act := s.ps.Step.Action
	if act.Signal == "" {
		rs.armTimer(s, models.TimerWait, s.attemptStart.Add(act.Duration.D()), func() { rs.onWaitTimer(s) })
		return
	}
	s.signal = act.Signal
	if p, ok := rs.signals[act.Signal]; ok {
		delete(rs.signals, act.Signal)
		rs.w.DeleteSignals = append(rs.w.DeleteSignals, models.RunSignal{RunID: rs.row.ID, Name: act.Signal})
		rs.endWait(s, decodePayload(p), nil)
		return
	}
	if act.Timeout > 0 {
		rs.armTimer(s, models.TimerSignal, s.attemptStart.Add(act.Timeout.D()), func() { rs.onWaitTimer(s) })
	}
}

// resumeWait re-arms a wait step after a restart.
func (rs *runState) resumeWait(s *stepState, timers map[string]models.RunTimer) {
	rs.waiting++
	rs.groupActive[s.ps.Group]++
	act := s.ps.Step.Action
	kind := models.TimerWait
	if act.Signal != "" {
		kind = models.TimerSignal
		s.signal = act.Signal
		if p, ok := rs.signals[act.Signal]; ok {
			delete(rs.signals, act.Signal)
			rs.w.DeleteSignals = append(rs.w.DeleteSignals, models.RunSignal{RunID: rs.row.ID, Name: act.Signal})
			rs.endWait(s, decodePayload(p), nil)
			return
		}
		if act.Timeout == 0 {
			return
		}
	}
	due := s.attemptStart.Add(act.Duration.D())
	if act.Signal != "" {
		due = s.attemptStart.Add(act.Timeout.D())
	}
	if t, ok := timers[s.id()+"\x00"+kind]; ok {
		due = t.DueAt
	}
	key := timerKey{runID: rs.row.ID, stepID: s.id(), kind: kind, item: -1}
	rs.fx = append(rs.fx, func() { rs.e.timers.set(key, due, func() { rs.onWaitTimer(s) }) })
}

func decodePayload(p json.RawMessage) any {
	if len(p) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(p, &v); err != nil {
		return string(p)
	}
	return v
}

// onWaitTimer ends a wait: a duration is over, or a signal's timeout.
func (rs *runState) onWaitTimer(s *stepState) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if s.status != models.StepWaiting || rs.done {
		return
	}
	if s.signal != "" {
		rs.endWait(s, nil, &models.StepError{Code: CodeSignalTimout,
			Message: fmt.Sprintf("signal %q did not arrive within %s", s.signal, s.ps.Step.Action.Timeout.D())})
	} else {
		rs.endWait(s, map[string]any{}, nil)
	}
	rs.pump()
	rs.maybeFinish()
	rs.flush()
}

// endWait finishes a waiting step.
func (rs *runState) endWait(s *stepState, out any, se *models.StepError) {
	rs.waiting--
	rs.groupActive[s.ps.Group]--
	rs.deleteTimer(s, models.TimerWait)
	rs.deleteTimer(s, models.TimerSignal)
	s.signal = ""
	now := rs.now()
	s.finishedAt = &now
	dur := durMs(now.Sub(s.attemptStart))
	if se == nil {
		s.status = models.StepSucceeded
		s.output = out
		rs.writeStep(s)
		rs.event(models.EventStepSucceeded, s, string(s.status), &dur)
	} else {
		s.status = models.StepTimedOut
		s.err = se
		rs.writeStep(s)
		rs.event(models.EventStepTimedOut, s, string(s.status), &dur)
		rs.onFailure(s)
	}
	rs.e.cfg.Metrics.stepFinished(string(s.status), now.Sub(s.attemptStart))
	rs.settle(s)
}

// signal delivers a signal to the step waiting for it, or keeps it for a
// step that will wait for it.
func (rs *runState) signal(name string, payload any) error {
	raw, err := json.Marshal(payload)
	if err != nil {
		return models.Errorf(models.BadRequest, "the signal's payload is not JSON: %v", err)
	}
	for _, s := range rs.steps {
		if s.status == models.StepWaiting && s.signal == name {
			rs.endWait(s, decodePayload(raw), nil)
			rs.pump()
			rs.maybeFinish()
			return nil
		}
	}
	for _, s := range rs.steps {
		if s.ps.Step.Type == models.StepWait && s.ps.Step.Action.Signal == name && !s.status.Final() {
			rs.signals[name] = raw
			rs.w.Signals = append(rs.w.Signals, models.RunSignal{RunID: rs.row.ID, Name: name, Payload: raw, ReceivedAt: rs.now()})
			return nil
		}
	}
	return models.Errorf(models.Conflict, "no step of run %s waits for signal %q", rs.row.ID, name)
}

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
			outs[name] = v
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
