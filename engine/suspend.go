package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/baton-run/baton/models"
)

// errSuspended cancels the actions of a suspended run: their outcome is not
// recorded, and they run again (same idempotency key) when the run resumes.
var errSuspended = errors.New("run suspended: its changes could not be committed")

// suspend stops a run whose write could not be committed even after the
// writer's retries. The run's state in memory is then ahead of the store, so
// going on would start steps that depend on a change a crash would lose.
// Instead nothing more of the run is written or started (flush drops its
// writes), its actions are cancelled, and resumeLoop rebuilds it from the
// store once the store answers again: steps whose completion was committed
// keep it, the others run again. A restart resumes it the same way.
//
// suspend runs on the writer goroutine (from a commit's callback).
func (e *Engine) suspend(rs *runState, cause error) {
	if !rs.suspended.CompareAndSwap(false, true) {
		return
	}
	if cause == nil {
		cause = e.writer.err()
	}
	e.log.Error("engine: run suspended: a change could not be committed; it resumes from the store when the store recovers",
		"run", rs.row.ID, "error", cause)
	rs.mu.Lock()
	rs.done = true
	if rs.stopF != nil {
		rs.stopF(errSuspended)
	}
	rs.mu.Unlock()
	close(rs.suspendedCh)
	e.mu.Lock()
	if e.runs[rs.row.ID] == rs {
		delete(e.runs, rs.row.ID)
	}
	e.suspended[rs.row.ID] = rs
	n := len(e.suspended)
	e.mu.Unlock()
	e.cfg.Metrics.suspended(n)
	select {
	case e.resumeWake <- struct{}{}:
	default:
	}
}

// Healthy reports whether the engine can make progress durably: it returns
// an error while the last commit of run changes failed or runs are
// suspended because of such a failure (/healthz shows it), nil otherwise.
func (e *Engine) Healthy() error {
	if e.lease != nil && e.lease.lost.Load() {
		return errors.New("engine: this instance lost its lease on its runs and is registering again")
	}
	e.mu.Lock()
	n := len(e.suspended)
	e.mu.Unlock()
	err := e.writer.err()
	switch {
	case n > 0 && err != nil:
		return fmt.Errorf("engine: %d runs suspended; committing run changes fails: %w", n, err)
	case n > 0:
		return fmt.Errorf("engine: %d runs suspended after a failed commit, waiting to resume from the store", n)
	case err != nil:
		return fmt.Errorf("engine: committing run changes fails: %w", err)
	}
	return nil
}

// resumeLoop tries to resume suspended runs every ResumeInterval, until the
// engine stops.
func (e *Engine) resumeLoop() {
	defer close(e.resumeDone)
	for {
		t := time.NewTimer(e.cfg.ResumeInterval)
		select {
		case <-e.stopTimer:
			t.Stop()
			return
		case <-t.C:
		case <-e.resumeWake:
			// A new suspension: wait one interval before the first try,
			// so a store that is down is not hammered.
			t.Stop()
			continue
		}
		e.resumeSuspended()
	}
}

// resumeSuspended rebuilds each suspended run from the store. The old
// state's actions were cancelled; whatever they still report is dropped.
func (e *Engine) resumeSuspended() {
	if e.stopping.Load() {
		return
	}
	e.mu.Lock()
	var olds []*runState
	for _, rs := range e.suspended {
		olds = append(olds, rs)
	}
	e.mu.Unlock()
	for _, old := range olds {
		id := old.row.ID
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		snap, err := e.store.LoadRun(ctx, id)
		cancel()
		switch {
		case models.IsCode(err, models.NotFound):
			// Its first write never committed: the run does not exist.
			if e.unsuspend(id, old, nil) {
				e.dropWaiters(id)
			}
			continue
		case err != nil:
			e.log.Warn("engine: suspended run not resumed yet", "run", id, "error", err)
			return // the store is still down: try the others later too
		}
		// The store answers again. A resumed run that only waits writes
		// nothing, so clear the writer's failure here; the next failed
		// commit sets it again.
		e.writer.lastErr.Store(nil)
		if e.lease != nil && snap.Run.Owner != e.owner() {
			// Another instance took it over while it was suspended (or
			// this one lost its lease: the claim under its new id resumes
			// it). Never run a step of a run this instance does not own.
			if !e.unsuspend(id, old, nil) {
				continue // fenced meanwhile
			}
			e.dropWaiters(id)
			e.cfg.Metrics.runDropped()
			e.lease.fenced.Add(1)
			e.log.Warn("engine: suspended run not resumed: another instance owns it now", "run", id, "owner", snap.Run.Owner)
			continue
		}
		if snap.Run.Status.Final() {
			if !e.unsuspend(id, old, nil) {
				continue
			}
			if rec, err := recordFromSnapshot(snap); err == nil {
				e.finished(rec)
			}
			continue
		}
		rs, err := e.restore(snap, false)
		if err != nil {
			e.log.Error("engine: cannot resume run", "run", id, "error", err)
			if e.unsuspend(id, old, nil) {
				e.failUnresumable(snap, err)
			}
			continue
		}
		if !e.unsuspend(id, old, rs) {
			// Fenced while it was loading (the lease was lost): the run is
			// resumed from the store by whoever claims it, under this
			// instance's new id or another's; this copy never starts.
			rs.stopF(errFenced)
			continue
		}
		// As in recoverRuns: a step whose subworkflow run is in flight
		// watches it again, or takes its outcome if it already ended.
		var orphans []func()
		for _, s := range rs.steps {
			if s.status == models.StepRunning && s.childRunID != "" {
				if e.active(s.childRunID) != nil || e.isSuspended(s.childRunID) {
					e.watchChild(rs, s, s.attempt, s.childRunID)
					continue
				}
				s, child := s, s.childRunID
				orphans = append(orphans, func() { e.finishFromStoredChild(rs, s, child) })
			}
		}
		rs.mu.Lock()
		rs.resume(snap)
		rs.flush()
		rs.mu.Unlock()
		for _, f := range orphans {
			f()
		}
		e.log.Info("engine: suspended run resumed from the store", "run", id)
	}
}

// unsuspend forgets the suspended state old of run id and, when rs is not
// nil, makes rs the run's live state. It reports false, changing nothing,
// when old is no longer the run's suspended state: the run was fenced
// while resumeSuspended loaded it, and the loop goroutine that fenced it
// (the lease's) has resumed it or will: installing rs too would run the
// run twice.
func (e *Engine) unsuspend(id string, old, rs *runState) bool {
	e.mu.Lock()
	if e.suspended[id] != old {
		e.mu.Unlock()
		return false
	}
	delete(e.suspended, id)
	if rs != nil {
		e.runs[id] = rs
	}
	n := len(e.suspended)
	e.mu.Unlock()
	e.cfg.Metrics.suspended(n)
	return true
}

// dropWaiters ends the Waits of a run that does not exist after all.
func (e *Engine) dropWaiters(id string) {
	e.mu.Lock()
	ws := e.waiters[id]
	delete(e.waiters, id)
	e.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
}

// isSuspended reports whether the run is suspended (it resumes later, so
// it is still in progress).
func (e *Engine) isSuspended(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.suspended[id]
	return ok
}
