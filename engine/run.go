package engine

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/baton-run/baton/engine/plan"
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
	plan  *plan.Plan
	scope *plan.Scope
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

	// depth is how many parent runs this run has (0 for a run started
	// directly), when depthKnown; a run resumed after a restart learns it
	// from the store when it first starts a child (see runDepth).
	depth      int
	depthKnown bool

	// suspended is set when a write of the run could not be committed: its
	// state in memory is then ahead of the store, so nothing more of it is
	// written or started; the engine resumes it from the store later (see
	// suspend). suspendedCh is closed at the same time.
	suspended   atomic.Bool
	suspendedCh chan struct{}
	// stored is set once a write of the run's row is committed: later
	// writes send only the columns that change (RunRow.Stored).
	stored atomic.Bool
	// maxActive is the template's cap on unfinished runs that the run was
	// started under (RunOptions.MaxActive), 0 for none.
	maxActive int
}

// stepState is one step of an active run.
type stepState struct {
	ps           *plan.PlanStep
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
	// input is what the current attempt was given: the step's action with
	// its templates rendered (secrets as ***), stored with the attempt so
	// the run page and evidence show what each step received.
	input any
	comp  *compState
	items map[int]itemResult // a parallel step's elements already done (recovery)
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
func (e *Engine) newRunState(compiled *plan.Plan, opt RunOptions, inputs map[string]any, parentStep string) (*runState, error) {
	def, err := json.Marshal(compiled.Definition)
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
			Template:    cmp.Or(opt.Template, compiled.Definition.ID),
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
		Owner:        e.owner(),
	}
	rs := e.buildRunState(compiled, row)
	rs.maxActive = opt.MaxActive
	return rs, nil
}

// buildRunState makes the in-memory state of a run row; every step pending.
func (e *Engine) buildRunState(compiled *plan.Plan, row models.RunRow) *runState {
	rs := &runState{
		e:           e,
		suspendedCh: make(chan struct{}),
		row:         row,
		plan:        compiled,
		byID:        make(map[string]*stepState, len(compiled.Steps)),
		groupActive: map[string]int{},
		signals:     map[string]json.RawMessage{},
		strategy:    models.StrategyFail,
	}
	if eh := compiled.Definition.ErrorHandling; eh != nil && eh.Strategy != "" {
		rs.strategy = eh.Strategy
	}
	started := ""
	if row.StartedAt != nil {
		started = row.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	rs.scope = plan.NewScope(compiled, plan.RunInfo{ID: row.ID, Template: row.Template, Version: row.Version, StartedAt: started}, row.Inputs)
	// {{ secrets.NAME }} resolves only here, as a step's action is rendered;
	// a nil resolver makes such steps fail rather than send "***".
	var secrets plan.SecretResolver
	if e.cfg.Secrets != nil {
		secrets = e.cfg.Secrets
	}
	rs.scope.SetSecrets(e.actionCtx, secrets, row.ID)
	rs.steps = make([]*stepState, len(compiled.Steps))
	for i, ps := range compiled.Steps {
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
	if rs.maxActive > 0 {
		// The limit is checked and the run's row inserted in one
		// transaction of the store's, outside the group commit: a refused
		// run must leave no trace, and a batch must not fail for one run.
		row := rs.row
		row.Steps = nil
		err := e.store.AdmitRun(ctx, &row, rs.maxActive)
		if models.IsCode(err, models.Busy) && e.writer.depth() > 0 {
			// A run may have finished in memory (a client saw it
			// cancelled) with its final write still queued: once the
			// queue ahead is committed, the counter has room for it.
			if werr := e.writer.barrier(ctx); werr != nil {
				return models.Run{}, werr
			}
			err = e.store.AdmitRun(ctx, &row, rs.maxActive)
		}
		if err != nil {
			return models.Run{}, err
		}
		rs.stored.Store(true)
	}
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
	ev := models.Event{RunID: rs.row.ID, Seq: rs.row.Seq, Type: typ, Status: status, At: rs.now(), DurationMs: dur,
		Template: rs.row.Template, Test: rs.row.Test}
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
	switch {
	case s.childRunID != "":
		row.Input = map[string]any{"childRunId": s.childRunID}
	case s.input != nil && s.attempt > 0:
		row.Input = s.input
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
	// The run's writes are fenced by its owner (several instances on one
	// database; "" for a single instance): a commit after another instance
	// took the run over fails and the run is dropped (Engine.fence).
	w.Owner = rs.row.Owner
	e.writer.submit(w, func(err error) {
		var fenced *models.FencedError
		if errors.As(err, &fenced) {
			e.fence(rs, err)
			return
		}
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
