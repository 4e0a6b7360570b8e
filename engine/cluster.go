package engine

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/baton-run/baton/cluster"
	"github.com/baton-run/baton/models"
)

// Several instances may share one database (Config.Cluster). A run executes
// in the memory of one of them; the others know it only from the store.
// What must reach the instance executing a run goes through the store and
// is announced on the cluster bus, never sent only as a message:
//
//   - Cancel and Signal for a run not held here store the request as a row
//     of run_signals (a cancel under the reserved name cancelRequest) and
//     announce it on topicRun; the instance holding the run reads the
//     stored requests at once and applies them. A request nobody applies
//     (the run's instance died) stays stored and is applied when the run
//     is resumed from the store (resume, applyCancelRequest), by a restart
//     or by the instance taking the run over.
//   - After each group commit the writer announces, in one message, the
//     runs with new events and the range of their sequence numbers
//     (topicEvents); an instance with subscribers following one of those
//     runs reads the events from the store and hands them to them, so an
//     event stream or a live list on any instance shows every run.
//
// Retry and Rerun need no forwarding: they act on finished runs, which no
// instance holds, and the instance asked executes the retried or new run.

const (
	topicRun    = "run"
	topicEvents = "events"
	// requestPrefix starts the names of stored requests that are not
	// signals; a signal name cannot start with it (plan's signalPattern).
	requestPrefix = "$"
	// cancelRequest is the run_signals name of a stored cancel request.
	cancelRequest = requestPrefix + "cancel"
)

// runMessage announces stored requests for a run (topicRun).
type runMessage struct {
	Run string `json:"run"`
}

func (e *Engine) joinCluster() {
	c := e.cfg.Cluster
	if !c.Clustered() {
		return
	}
	e.writer.committed = e.announceEvents
	e.leave = append(e.leave,
		c.Subscribe(topicRun, e.onRunMessage),
		c.Subscribe(topicEvents, e.onEventsMessage))
}

func (e *Engine) leaveCluster() {
	for _, f := range e.leave {
		f()
	}
	e.leave = nil
}

// request stores a cancel (name cancelRequest) or a signal for run id,
// which this engine does not hold, and announces it to the instance that
// does. Without a cluster, it says why the run is not here.
func (e *Engine) request(ctx context.Context, id, name string, payload any) error {
	if !e.cfg.Cluster.Clustered() || e.isSuspended(id) {
		return e.notActive(ctx, id)
	}
	if err := e.ready(); err != nil {
		return err
	}
	snap, err := e.store.LoadRun(ctx, id)
	if err != nil {
		return err
	}
	if snap.Run.Status.Final() {
		return models.Errorf(models.Conflict, "run %s has already finished (%s)", id, snap.Run.Status)
	}
	if rs := e.active(id); rs != nil {
		// Resumed here (taken over) while the store was read: act on it.
		if name == cancelRequest {
			return e.Cancel(ctx, id)
		}
		return e.Signal(ctx, id, name, payload)
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		return models.Errorf(models.BadRequest, "the signal's payload is not JSON: %v", err)
	}
	done := make(chan error, 1)
	e.writer.submit(models.RunWrites{Signals: []models.RunSignal{{RunID: id, Name: name, Payload: raw, ReceivedAt: e.clock.Now().UTC()}}},
		func(err error) { done <- err })
	select {
	case err = <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err != nil {
		return models.Errorf(models.Unavailable, "store the request for run %s: %v", id, err)
	}
	msg, _ := json.Marshal(runMessage{Run: id})
	e.cfg.Cluster.Publish(topicRun, msg)
	if name == cancelRequest {
		// A cancel answers with the run's record: give the holder a moment
		// to commit the cancellation, so the caller sees it (as it does on
		// the run's own instance). Nobody holding the run, the request
		// stays stored and the record is the one before.
		e.awaitFinal(ctx, id, remoteCancelWait)
	}
	return nil
}

// remoteCancelWait is how long a cancel through another instance waits for
// the run to end.
const remoteCancelWait = 2 * time.Second

// awaitFinal polls the store until run id has finished or d has passed.
func (e *Engine) awaitFinal(ctx context.Context, id string, d time.Duration) {
	deadline := time.Now().Add(d)
	for pause := 5 * time.Millisecond; time.Now().Before(deadline); pause = min(2*pause, 100*time.Millisecond) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		if snap, err := e.store.LoadRun(ctx, id); err != nil || snap.Run.Status.Final() {
			return
		}
	}
}

// onRunMessage applies the stored requests of a run announced by another
// instance, when this engine holds it; nil (messages lost) checks every
// run held.
func (e *Engine) onRunMessage(payload []byte) {
	if payload == nil {
		e.mu.Lock()
		ids := make([]string, 0, len(e.runs))
		for id := range e.runs {
			ids = append(ids, id)
		}
		e.mu.Unlock()
		for _, id := range ids {
			e.applyRequests(id)
		}
		return
	}
	var m runMessage
	if err := json.Unmarshal(payload, &m); err != nil || m.Run == "" {
		e.log.Warn("engine: unreadable cluster message", "topic", topicRun, "payload", string(payload))
		return
	}
	e.applyRequests(m.Run)
}

// applyRequests reads the requests stored for run id and applies them if
// this engine holds the run.
func (e *Engine) applyRequests(id string) {
	if e.active(id) == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, err := e.store.LoadRun(ctx, id)
	if err != nil {
		e.log.Error("engine: read a run's stored requests", "run", id, "error", err)
		return
	}
	rs := e.active(id)
	if rs == nil {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.done {
		return
	}
	for _, sg := range snap.Signals {
		rs.storedRequest(sg)
	}
	rs.flush()
}

// storedRequest applies one request another instance stored: a cancel, or
// a signal the engine does not know yet. Called with rs.mu held.
func (rs *runState) storedRequest(sg models.RunSignal) {
	if sg.Name == cancelRequest {
		rs.w.DeleteSignals = append(rs.w.DeleteSignals, models.RunSignal{RunID: rs.row.ID, Name: sg.Name})
		rs.stop(stopCancel)
		return
	}
	if strings.HasPrefix(sg.Name, requestPrefix) {
		return
	}
	if kept, ok := rs.signals[sg.Name]; ok && string(kept) == string(sg.Payload) {
		return // kept for a later step already
	}
	for _, s := range rs.steps {
		if s.status == models.StepWaiting && s.signal == sg.Name {
			delete(rs.signals, sg.Name)
			rs.w.DeleteSignals = append(rs.w.DeleteSignals, models.RunSignal{RunID: rs.row.ID, Name: sg.Name})
			rs.endWait(s, decodePayload(sg.Payload), nil)
			rs.pump()
			rs.maybeFinish()
			return
		}
	}
	for _, s := range rs.steps {
		if s.ps.Step.Type == models.StepWait && s.ps.Step.Action.Signal == sg.Name && !s.status.Final() {
			rs.signals[sg.Name] = sg.Payload // stored already
			return
		}
	}
	// No step waits for it, nor will: the instance that stored it could
	// not tell; drop it as a local Signal would have refused it.
	rs.e.log.Warn("engine: a signal stored through another instance has no step waiting for it", "run", rs.row.ID, "signal", sg.Name)
	rs.w.DeleteSignals = append(rs.w.DeleteSignals, models.RunSignal{RunID: rs.row.ID, Name: sg.Name})
}

// applyCancelRequest ends a run resumed from the store with a cancel
// request stored while no instance held it. Called with rs.mu held, after
// resume.
func (rs *runState) applyCancelRequest() {
	if _, ok := rs.signals[cancelRequest]; !ok {
		return
	}
	delete(rs.signals, cancelRequest)
	rs.w.DeleteSignals = append(rs.w.DeleteSignals, models.RunSignal{RunID: rs.row.ID, Name: cancelRequest})
	rs.stop(stopCancel)
}

// announceEvents tells the other instances which runs have new committed
// events: "run:first:last" per run, as few messages as fit the payload
// limit (normally one per commit).
func (e *Engine) announceEvents(evs []models.Event) {
	type span struct{ first, last int64 }
	spans := map[string]*span{}
	var order []string
	for i := range evs {
		ev := &evs[i]
		sp := spans[ev.RunID]
		if sp == nil {
			spans[ev.RunID] = &span{ev.Seq, ev.Seq}
			order = append(order, ev.RunID)
			continue
		}
		sp.first, sp.last = min(sp.first, ev.Seq), max(sp.last, ev.Seq)
	}
	var b []byte
	for _, id := range order {
		sp := spans[id]
		item := id + ":" + strconv.FormatInt(sp.first, 10) + ":" + strconv.FormatInt(sp.last, 10)
		if len(b) > 0 && len(b)+1+len(item) > cluster.MaxPayload-64 {
			e.cfg.Cluster.Publish(topicEvents, b)
			b = nil
		}
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, item...)
	}
	if len(b) > 0 {
		e.cfg.Cluster.Publish(topicEvents, b)
	}
}

// onEventsMessage hands the events another instance committed to this
// engine's subscribers that follow those runs, read from the store. Events
// announced while the listener was away (nil) are not replayed: an event
// stream catches up when its client reconnects with Last-Event-ID.
func (e *Engine) onEventsMessage(payload []byte) {
	if payload == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for item := range strings.FieldsSeq(string(payload)) {
		parts := strings.Split(item, ":")
		if len(parts) != 3 {
			continue
		}
		id := parts[0]
		first, err1 := strconv.ParseInt(parts[1], 10, 64)
		last, err2 := strconv.ParseInt(parts[2], 10, 64)
		if err := errors.Join(err1, err2); err != nil || last < first {
			continue
		}
		if e.active(id) != nil || !e.bus.wantsRemote(id) {
			continue
		}
		evs, err := e.store.RunEvents(ctx, id, first-1, int(last-first+1))
		if err != nil {
			e.log.Warn("engine: read another instance's run events", "run", id, "error", err)
			continue
		}
		e.bus.publishRemote(evs)
	}
}
