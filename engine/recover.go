package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// recoverRuns resumes, on Start, every unfinished run this engine owns:
// every unfinished run in the store for a single instance; with a lease,
// the runs it claims (runs without an owner, and those of instances whose
// lease expired).
func (e *Engine) recoverRuns(ctx context.Context) error {
	var ids []string
	var err error
	if e.lease != nil {
		ids, err = e.lease.cfg.Store.ClaimRuns(ctx, e.owner(), e.clock.Now().UTC())
	} else {
		ids, err = e.store.UnfinishedRunIDs(ctx)
	}
	if err != nil {
		return fmt.Errorf("list unfinished runs: %w", err)
	}
	n, _, err := e.resumeRuns(ctx, ids, true)
	if e.lease != nil {
		e.lease.takenOver.Add(int64(n))
	}
	return err
}

// resumeRuns resumes the given unfinished runs from the store: completed
// steps keep their outcome, steps in flight run again (same attempt
// number, same idempotency key), waits and backoffs resume at their due
// time. Recovery on Start and a takeover of another instance's runs both
// come here. Runs already held are skipped. strict (Start) makes a run
// that cannot be read an error; otherwise such runs are returned in rest,
// to try again later.
func (e *Engine) resumeRuns(ctx context.Context, ids []string, strict bool) (n int, rest []string, err error) {
	var states []*runState
	var snaps []*models.RunSnapshot
	for _, id := range ids {
		if rs := e.active(id); rs != nil && e.lease != nil && rs.row.Owner != e.owner() {
			// Held under this process's previous instance id (a run
			// started while the lease was being lost): that state is
			// fenced; the run resumes from the store like any other.
			e.fence(rs, errors.New("claimed again under a new instance id"))
		}
		if e.Owns(id) {
			continue
		}
		snap, err := e.store.LoadRun(ctx, id)
		if err != nil {
			if strict {
				return 0, nil, fmt.Errorf("load run %s: %w", id, err)
			}
			e.log.Warn("engine: run taken over but not loaded yet", "run", id, "error", err)
			rest = append(rest, id)
			continue
		}
		if snap.Run.Status.Final() || (e.lease != nil && snap.Run.Owner != e.owner()) {
			// Finished, or owned by another instance: never run a step
			// of a run this instance does not own.
			continue
		}
		rs, err := e.restore(snap, false)
		if err != nil {
			// A run whose definition no longer compiles cannot go on: end
			// it failed, with the reason, rather than stop the engine.
			e.log.Error("engine: cannot resume run", "run", id, "error", err)
			e.failUnresumable(snap, err)
			continue
		}
		states = append(states, rs)
		snaps = append(snaps, snap)
	}
	e.mu.Lock()
	for _, rs := range states {
		e.runs[rs.row.ID] = rs
	}
	e.mu.Unlock()
	// Register every parent's interest in its child before any run moves,
	// so a child that finishes at once still reaches its parent.
	var orphans []func()
	for _, rs := range states {
		for _, s := range rs.steps {
			if s.status == models.StepRunning && s.childRunID != "" {
				if e.active(s.childRunID) != nil {
					e.watchChild(rs, s, s.attempt, s.childRunID)
					continue
				}
				rs, s, child := rs, s, s.childRunID
				orphans = append(orphans, func() { e.finishFromStoredChild(rs, s, child) })
			}
		}
	}
	for i, rs := range states {
		e.cfg.Metrics.runStarted()
		rs.mu.Lock()
		rs.resume(snaps[i])
		rs.flush()
		rs.mu.Unlock()
	}
	for _, f := range orphans {
		f()
	}
	return len(states), rest, nil
}

// finishFromStoredChild completes a parent's step from a child run that
// already finished before the restart.
func (e *Engine) finishFromStoredChild(rs *runState, s *stepState, childID string) {
	child, err := e.Run(context.Background(), childID)
	attempt := s.attempt
	if err != nil {
		rs.mu.Lock()
		rs.attemptDone(s, attempt, nil, Permanent(CodeSubworkflow, "child run %s: %v", childID, err))
		rs.pump()
		rs.maybeFinish()
		rs.flush()
		rs.mu.Unlock()
		return
	}
	e.watchChild(rs, s, attempt, childID)
	e.mu.Lock()
	cb := e.children[childID]
	delete(e.children, childID)
	e.mu.Unlock()
	cb(child)
}

func (e *Engine) failUnresumable(snap *models.RunSnapshot, cause error) {
	row := snap.Run
	now := e.clock.Now().UTC()
	row.Status = models.RunFailed
	row.FinishedAt = &now
	row.Error = &models.RunError{Code: CodeInternal, Message: "the run cannot be resumed: " + cause.Error()}
	row.Seq++
	w := models.RunWrites{Owner: row.Owner, Runs: []models.RunRow{row}, Events: []models.Event{{RunID: row.ID, Seq: row.Seq,
		Type: models.EventRunFailed, Status: string(models.RunFailed), At: now, Template: row.Template, Test: row.Test}}}
	done := make(chan struct{})
	e.writer.submit(w, func(error) { close(done) })
	<-done
}

// restore rebuilds a run's state from the store. retry starts a new
// generation: only succeeded steps keep their outcome.
func (e *Engine) restore(snap *models.RunSnapshot, retry bool) (*runState, error) {
	var def models.Definition
	if err := json.Unmarshal(snap.Run.Definition, &def); err != nil {
		return nil, fmt.Errorf("read definition: %w", err)
	}
	compiled, err := e.cfg.Compiler.Compile(def)
	if err != nil {
		return nil, fmt.Errorf("compile definition: %w", err)
	}
	row := snap.Run
	if row.Inputs == nil {
		row.Inputs = map[string]any{}
	}
	if retry {
		row.Generation++
		row.Status = models.RunRunning
		row.Error = nil
		row.FinishedAt = nil
		row.DurationMs = nil
		row.Outputs = nil
	}
	rs := e.buildRunState(compiled, row)
	rs.stored.Store(true) // read from the store: it exists there
	for _, sg := range snap.Signals {
		if retry && sg.Name == cancelRequest {
			// Asked of the generation that ended; not of the retry.
			rs.w.DeleteSignals = append(rs.w.DeleteSignals, models.RunSignal{RunID: row.ID, Name: sg.Name})
			continue
		}
		rs.signals[sg.Name] = sg.Payload
	}
	latest := map[string]*models.StepRunRow{}
	first := map[string]*time.Time{}
	comp := map[string]*models.StepRunRow{}
	items := map[string]map[int]itemResult{}
	for i := range snap.StepRuns {
		r := &snap.StepRuns[i]
		switch {
		case r.Item >= 0:
			if r.Generation != row.Generation && retry {
				continue
			}
			m := items[r.StepID]
			if m == nil {
				m = map[int]itemResult{}
				items[r.StepID] = m
			}
			ir := m[r.Item]
			if r.Attempt >= ir.attempts {
				ir = itemResult{attempts: r.Attempt, output: r.Output, err: r.Error,
					done: r.Status == models.StepSucceeded}
			}
			m[r.Item] = ir
		case r.Compensation:
			if c := comp[r.StepID]; c == nil || r.Attempt >= c.Attempt {
				comp[r.StepID] = r
			}
		default:
			if l := latest[r.StepID]; l == nil || r.Attempt >= l.Attempt {
				latest[r.StepID] = r
			}
			if r.StartedAt != nil && (first[r.StepID] == nil || r.StartedAt.Before(*first[r.StepID])) {
				first[r.StepID] = r.StartedAt
			}
		}
	}
	timers := map[string]models.RunTimer{}
	for _, t := range snap.Timers {
		timers[t.StepID+"\x00"+t.Kind] = t
		// A parallel element waiting out a backoff resumes at its due
		// time (a retry of the run starts its elements afresh).
		if i, ok := parseItemBackoffKind(t.Kind); ok && !retry {
			if ir, ok := items[t.StepID][i]; ok && !ir.done {
				due := t.DueAt
				ir.retryAt = &due
				items[t.StepID][i] = ir
			}
		}
	}
	for _, s := range rs.steps {
		r := latest[s.id()]
		if r == nil {
			continue
		}
		s.attempt = r.Attempt
		s.order = r.Order
		if s.order > rs.order {
			rs.order = s.order
		}
		s.startedAt = first[s.id()]
		if r.StartedAt != nil {
			s.attemptStart = *r.StartedAt
		}
		s.items = items[s.id()]
		if in, ok := r.Input.(map[string]any); ok {
			if id, ok := in["childRunId"].(string); ok {
				s.childRunID = id
			}
		}
		keep := r.Status == models.StepSucceeded || (!retry && r.Generation == row.Generation)
		if !keep {
			// A new generation: the step runs again; its attempts go on
			// counting so every attempt stays on record.
			s.order = 0
			s.startedAt = nil
			s.childRunID = ""
			continue
		}
		switch r.Status {
		case models.StepRunning, models.StepWaiting:
			s.status = r.Status
			s.decided = true
		case models.StepFailed, models.StepTimedOut:
			if _, ok := timers[s.id()+"\x00"+models.TimerBackoff]; ok && !retry {
				s.status = models.StepRetrying
				s.err = r.Error
				s.decided = true
				continue
			}
			fallthrough
		default:
			s.status = r.Status
			s.output = r.Output
			s.err = r.Error
			s.reason = r.Reason
			s.finishedAt = r.FinishedAt
			s.decided = true
			restoreCondition(s)
		}
		if c := comp[s.id()]; c != nil && !retry {
			s.comp = &compState{attempt: c.Attempt, done: c.Status.Final(), err: c.Error}
			if c.Status == models.StepSucceeded {
				s.status = models.StepCompensated
			}
			if c.Status == models.StepRunning {
				s.comp.attempt--
			}
		}
	}
	// Settle the edges of finished steps in the order they finished.
	final := make([]*stepState, 0, len(rs.steps))
	for _, s := range rs.steps {
		if s.status.Final() {
			final = append(final, s)
		}
	}
	sort.SliceStable(final, func(i, j int) bool {
		a, b := final[i].finishedAt, final[j].finishedAt
		if a == nil || b == nil {
			return b != nil
		}
		return a.Before(*b)
	})
	for _, s := range final {
		rs.doneSeq++
		s.doneSeq = rs.doneSeq
		rs.scope.SetStep(s.id(), rs.result(s))
		for _, ed := range s.ps.Out {
			if t := rs.byID[ed.To]; t != nil {
				rs.settleEdge(s, t, ed)
			}
		}
		if (s.status == models.StepFailed || s.status == models.StepTimedOut) &&
			(len(s.ps.Step.OnFailure) == 0 || s.ps.Step.Type == models.StepCondition) && rs.strategy != models.StrategyContinue {
			rs.failing = true
		}
		if s.comp != nil && s.comp.done && s.comp.err != nil && rs.compFailed == nil {
			rs.compFailed = &models.RunError{Code: CodeCompensation, StepID: s.id(),
				Message: fmt.Sprintf("compensating step %q failed: %s", s.id(), s.comp.err.Message)}
		}
		if s.comp != nil {
			rs.compensating = true
		}
	}
	if !retry && row.Error != nil {
		switch row.Error.Code {
		case "cancelled":
			rs.stopped = stopCancel
		case "timed_out":
			rs.stopped = stopTimeout
		}
	}
	return rs, nil
}

// restoreCondition recovers a condition step's result from its output.
func restoreCondition(s *stepState) {
	if s.ps.Step.Type != models.StepCondition || s.status != models.StepSucceeded {
		return
	}
	m, ok := s.output.(map[string]any)
	if !ok {
		return
	}
	if b, ok := m["result"].(bool); ok {
		s.condResult = &b
	}
	if c, ok := m["case"]; ok {
		switch n := c.(type) {
		case float64:
			s.caseIdx = int(n)
		case int:
			s.caseIdx = n
		case int64:
			s.caseIdx = int(n)
		}
	}
}

// resume sets a restored run moving again: steps in flight run again, waits
// and backoffs are re-armed, and ready steps start.
func (rs *runState) resume(snap *models.RunSnapshot) {
	timers := map[string]models.RunTimer{}
	for _, t := range snap.Timers {
		timers[t.StepID+"\x00"+t.Kind] = t
	}
	if t, ok := timers["\x00"+models.TimerRunTimeout]; ok {
		rs.armRunTimeout(t.DueAt)
	}
	if rs.stopped != stopNone {
		rs.ctx, rs.stopF = context.WithCancelCause(rs.ctx)
		rs.stopF(errRunStopped)
	}
	for _, s := range rs.steps {
		switch s.status {
		case models.StepRunning:
			if s.childRunID != "" {
				rs.running++
				rs.groupActive[s.ps.Group]++
				continue // the child run is resumed too and calls back
			}
			// In flight when the process stopped: the same attempt again.
			s.attempt--
			s.status = models.StepPending
			first := s.startedAt
			rs.start(s)
			if first != nil {
				s.startedAt = first
			}
		case models.StepWaiting:
			rs.resumeWait(s, timers)
		case models.StepRetrying:
			rs.waiting++
			due := rs.now()
			if t, ok := timers[s.id()+"\x00"+models.TimerBackoff]; ok {
				due = t.DueAt
			}
			key := timerKey{runID: rs.row.ID, stepID: s.id(), kind: models.TimerBackoff, item: -1}
			rs.fx = append(rs.fx, func() { rs.e.timers.set(key, due, func() { rs.onBackoff(s) }) })
		}
	}
	if rs.stopped != stopNone {
		for _, s := range rs.steps {
			rs.cancelStep(s, rs.stopReason())
		}
		for _, s := range rs.steps {
			if s.status == models.StepPending {
				rs.skip(s, rs.stopReason())
			}
		}
	}
	if rs.compensating {
		for _, s := range rs.steps {
			if s.comp != nil && !s.comp.done {
				rs.startCompensation()
				break
			}
		}
		if len(rs.compQueue) == 0 {
			rs.startCompensation()
		}
	}
	rs.kick()
	// Cancelled through another instance while no instance held the run.
	rs.applyCancelRequest()
}

// Retry makes a failed, cancelled or timed-out run go on from its failed
// steps, on the same definition: succeeded steps keep their outputs and are
// not run again; the others run again, their attempts counted on.
func (e *Engine) Retry(ctx context.Context, id string) (models.Run, error) {
	if err := e.ready(); err != nil {
		return models.Run{}, err
	}
	if e.active(id) != nil {
		return models.Run{}, models.Errorf(models.Conflict, "run %s has not finished", id)
	}
	snap, err := e.store.LoadRun(ctx, id)
	if err != nil {
		return models.Run{}, err
	}
	switch snap.Run.Status {
	case models.RunFailed, models.RunCancelled, models.RunTimedOut:
	default:
		return models.Run{}, models.Errorf(models.Conflict, "run %s is %s; only failed, cancelled or timed-out runs can be retried", id, snap.Run.Status)
	}
	rs, err := e.restore(snap, true)
	if err != nil {
		return models.Run{}, err
	}
	now := e.clock.Now().UTC()
	rs.row.StartedAt = &now
	e.mu.Lock()
	if e.runs[id] != nil {
		e.mu.Unlock()
		return models.Run{}, models.Errorf(models.Conflict, "run %s is being retried already", id)
	}
	e.runs[id] = rs
	e.mu.Unlock()
	e.cfg.Metrics.runStarted()
	committed := make(chan struct{})
	rs.mu.Lock()
	rs.event(models.EventRunStarted, nil, string(models.RunRunning), nil)
	rs.writeRun()
	if t := rs.plan.Definition.Timeout; t > 0 {
		rs.armRunTimeout(now.Add(t.D()))
	}
	rs.kick()
	rs.fx = append(rs.fx, func() { close(committed) })
	rs.flush()
	rs.mu.Unlock()
	select {
	case <-committed:
	case <-ctx.Done():
		return models.Run{}, ctx.Err()
	}
	return e.Run(context.WithoutCancel(ctx), id)
}

// RerunOptions says how to re-run a run.
type RerunOptions struct {
	// From is the step to run again with everything downstream of it; every
	// other step keeps its recorded outcome. "" runs everything again.
	From string
	// Plan is the plan to run; nil means the run's own definition.
	Plan *plan.Plan
	// Version is the version number of Plan (when Plan is set).
	Version   int
	StartedBy string
	// MaxActive caps the template's unfinished runs as RunOptions.MaxActive.
	MaxActive int
}

// Rerun starts a new run linked to run id (its ParentRunID), from the start
// or from a step, on the same or another plan, with the same inputs.
func (e *Engine) Rerun(ctx context.Context, id string, opt RerunOptions) (models.Run, error) {
	if err := e.ready(); err != nil {
		return models.Run{}, err
	}
	snap, err := e.store.LoadRun(ctx, id)
	if err != nil {
		return models.Run{}, err
	}
	compiled := opt.Plan
	version := snap.Run.Version
	if compiled == nil {
		var def models.Definition
		if err := json.Unmarshal(snap.Run.Definition, &def); err != nil {
			return models.Run{}, fmt.Errorf("read run %s's definition: %w", id, err)
		}
		if compiled, err = e.cfg.Compiler.Compile(def); err != nil {
			return models.Run{}, fmt.Errorf("compile run %s's definition: %w", id, err)
		}
	} else {
		version = opt.Version
	}
	runOpt := RunOptions{Inputs: snap.Run.Inputs, Template: snap.Run.Template, Version: version,
		Trigger: models.TriggerRerun, StartedBy: opt.StartedBy, Test: snap.Run.Test, ParentRunID: id,
		MaxActive: opt.MaxActive}
	if opt.From == "" {
		return e.StartRun(ctx, compiled, runOpt)
	}
	if _, ok := compiled.Step(opt.From); !ok {
		return models.Run{}, models.Errorf(models.BadRequest, "the definition has no step %q", opt.From)
	}
	inputs, err := compiled.CheckInputs(snap.Run.Inputs)
	if err != nil {
		return models.Run{}, err
	}
	old, err := recordFromSnapshot(snap)
	if err != nil {
		return models.Run{}, err
	}
	rs, err := e.newRunState(compiled, runOpt, inputs, "")
	if err != nil {
		return models.Run{}, err
	}
	again := downstream(compiled, opt.From)
	rs.forced = map[string]bool{opt.From: true}
	return e.launch(ctx, rs, func() {
		var kept []*stepState
		for _, st := range old.Steps {
			s := rs.byID[st.ID]
			if s == nil || again[st.ID] || !st.Status.Final() {
				continue
			}
			s.status = st.Status
			if s.status == models.StepCompensated {
				s.status = models.StepSucceeded
			}
			// Its outcome is the earlier run's: it did not run in this one,
			// so it has no attempt and no times here, and says so.
			s.output, s.err = st.Output, st.Error
			s.reason = models.ReasonCarriedOver
			if st.Reason != nil {
				s.reason = *st.Reason // a skip keeps its own reason
			}
			s.decided = true
			restoreCondition(s)
			rs.writeStep(s)
			kept = append(kept, s)
		}
		for _, s := range kept {
			rs.settle(s)
		}
	})
}

// downstream returns from and every step reachable from it.
func downstream(p *plan.Plan, from string) map[string]bool {
	seen := map[string]bool{from: true}
	stack := []string{from}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ps, ok := p.Step(id)
		if !ok {
			continue
		}
		for _, ed := range ps.Out {
			if !seen[ed.To] {
				seen[ed.To] = true
				stack = append(stack, ed.To)
			}
		}
	}
	return seen
}
