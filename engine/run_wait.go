package engine

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/baton-run/baton/models"
)

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
