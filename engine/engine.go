package engine

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/oklog/ulid/v2"

	"github.com/baton-run/baton/cluster"
	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// Action is the code behind one command kind (http, set, log, fail…). Run
// gets the action with its templates already rendered and returns the
// step's output. Run must return soon after ctx is done. A returned error is
// retried by the step's retry policy unless it is a *StepFailure that says
// it is not retryable (see Permanent and Retryable).
type Action interface {
	Kind() string
	Run(ctx context.Context, in ActionInput) (any, error)
}

// InlineAction is an optional interface: an action whose Inline method
// returns true is cheap, never blocks, has no effect outside the run and
// ignores timeouts (set, log, fail). The engine runs it at once, under the
// run's lock, so that its start and its end are one write; steps that
// depend on it still start only after that write is committed.
type InlineAction interface {
	Inline() bool
}

// ActionInput is what an action gets for one attempt.
type ActionInput struct {
	RunID   string
	StepID  string
	Attempt int
	// Item is the element index for a parallel step's element, -1 otherwise.
	Item int
	// Action is the step's action with every template rendered.
	Action models.Action
	// IdempotencyKey is the same for every attempt of this step (or element,
	// or compensation) in this run, including attempts after a restart, so
	// a receiving service can tell a repeat from a new request.
	IdempotencyKey string
	// MaxOutputBytes is the largest output the engine accepts.
	MaxOutputBytes int
	// Redact replaces the secret values the run has resolved by "***". An
	// action that writes anything outside the run (the server's log) passes
	// it through Redact first; what it returns is redacted by the engine.
	// Never nil when the engine calls an action.
	Redact func(string) string
}

// Registry maps action kinds to actions. Build it in main with the actions
// the process offers.
type Registry struct {
	byKind map[string]Action
}

// NewRegistry returns a registry of the given actions.
func NewRegistry(actions ...Action) *Registry {
	r := &Registry{byKind: map[string]Action{}}
	for _, a := range actions {
		r.byKind[a.Kind()] = a
	}
	return r
}

// Lookup returns the action for kind.
func (r *Registry) Lookup(kind string) (Action, bool) {
	if r == nil {
		return nil, false
	}
	a, ok := r.byKind[kind]
	return a, ok
}

// Config tunes the engine. The zero value works.
type Config struct {
	// Clock is the source of time (waits, backoffs, timeouts, timestamps).
	// Defaults to the wall clock; tests give a clockwork.FakeClock, the one
	// fake clock of the project (schedules and handler tests use it too).
	Clock clockwork.Clock
	// Logger receives the engine's own problems. Defaults to slog.Default().
	Logger *slog.Logger
	// MaxActions caps the actions in flight in the whole process. Defaults
	// to 512.
	MaxActions int
	// MaxBatch caps the write requests committed in one transaction.
	// Defaults to 1024.
	MaxBatch int
	// Versions are the stored templates' versions: a subworkflow step runs
	// one of them (the latest approved version, or the approved version it
	// names), and a Launcher on this engine starts runs of them. Without it
	// subworkflow steps fail and the launcher starts nothing.
	Versions VersionSource
	// PlanCacheSize is how many compiled plans of submitted versions are
	// kept (a submitted version never changes); ≤ 0 means 256.
	PlanCacheSize int
	// Secrets resolves {{ secrets.NAME }} when a step runs (and audits the
	// use); *store.Store satisfies it. Without it such steps fail.
	Secrets plan.SecretResolver
	// Metrics, when set, are updated as runs progress.
	Metrics *Metrics
	// Rand returns numbers in [0, 1) for retry jitter. Defaults to
	// math/rand/v2.
	Rand func() float64
	// MaxOutputBytes is the largest step output accepted when the plan does
	// not say. Defaults to 1 MiB.
	MaxOutputBytes int
	// Compiler parses and compiles every definition the engine and its
	// launchers run: versions started or resolved as subworkflows, and a
	// stored run's definition when its plan is rebuilt (recovery after a
	// restart, Retry, Rerun), so a run started under raised limits (a larger
	// forEach list, a larger output) keeps them once resumed. It is the one
	// place the limits are set; the zero value has the spec's defaults.
	Compiler plan.Compiler
	// MaxSubworkflowDepth bounds how deeply subworkflow runs nest: a child
	// that would be deeper fails its parent's step with
	// subworkflow_too_deep instead of starting, so a workflow that calls
	// itself ends. Defaults to 8.
	MaxSubworkflowDepth int
	// ResumeInterval is how often the engine tries to resume runs suspended
	// because their changes could not be committed. Defaults to 1s.
	ResumeInterval time.Duration
	// Lease, when set, makes this engine one of several instances sharing
	// a PostgreSQL database: it owns the runs it starts and those it takes
	// over from instances whose lease expired, and its commits are fenced
	// (see lease.go). Without it the engine owns every run in the store.
	Lease *LeaseConfig
	// Cluster connects the instances sharing the database (see package
	// cluster and cluster.go): a cancel or signal for a run another
	// instance executes is stored and announced to it, and the events of
	// other instances' runs reach this engine's subscribers. Defaults to
	// cluster.Nop (one instance).
	Cluster cluster.Bus
}

func (c Config) withDefaults() Config {
	if c.Clock == nil {
		c.Clock = clockwork.NewRealClock()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	c.MaxActions = cmp.Or(c.MaxActions, 512)
	c.MaxBatch = cmp.Or(c.MaxBatch, 1024)
	c.MaxOutputBytes = cmp.Or(c.MaxOutputBytes, 1<<20)
	c.ResumeInterval = cmp.Or(c.ResumeInterval, time.Second)
	c.MaxSubworkflowDepth = cmp.Or(c.MaxSubworkflowDepth, 8)
	c.Cluster = cluster.OrNop(c.Cluster)
	return c
}

// Engine executes runs: it moves each active run through its plan, writes
// every change through one group-committing writer before anything depends
// on it, and resumes unfinished runs on Start.
type Engine struct {
	store    Store
	reg      *Registry
	cfg      Config
	versions *versions // stored versions and their compiled plans
	clock    clockwork.Clock
	log      *slog.Logger

	timers *timers
	writer *writer
	bus    *bus
	lim    *limiter
	// leave ends the engine's cluster subscriptions (see joinCluster).
	leave []func()

	mu       sync.Mutex
	runs     map[string]*runState
	waiters  map[string][]chan models.Run
	children map[string]func(models.Run) // child run id → parent's callback
	// suspended holds the runs stopped because a write of theirs could not
	// be committed, until they are resumed from the store.
	suspended  map[string]*runState
	resumeWake chan struct{}
	resumeDone chan struct{}

	// finishes counts runs that left memory after their final commit
	// (finished), so that ListRuns can tell when a run it read from the
	// store finished while it read.
	finishes atomic.Uint64

	started   atomic.Bool
	stopping  atomic.Bool
	actions   sync.WaitGroup // action goroutines
	stopTimer chan struct{}
	timerDone chan struct{}
	// actionCtx is the parent of every action's context; Stop cancels it
	// when its own ctx expires.
	actionCtx    context.Context
	cancelAction context.CancelCauseFunc
	// parkCtx ends when Stop begins: parallel elements parked on a backoff
	// timer give up then (their durable timer stays for the next Start),
	// so that Stop does not wait for their pause.
	parkCtx    context.Context
	cancelPark context.CancelCauseFunc

	idMu      sync.Mutex
	idEntropy *ulid.MonotonicEntropy

	lease *lease // nil: a single instance
}

// errShutdown is the cause of actions cancelled by Stop: their outcome is not
// recorded, so the step runs again when the engine resumes the run.
var errShutdown = errors.New("engine is stopping")

// New returns an engine over store with the given actions. Call Start before
// starting runs.
func New(store Store, reg *Registry, cfg Config) *Engine {
	cfg = cfg.withDefaults()
	e := &Engine{
		store:    store,
		reg:      reg,
		cfg:      cfg,
		clock:    cfg.Clock,
		log:      cfg.Logger,
		bus:      newBus(),
		runs:     map[string]*runState{},
		waiters:  map[string][]chan models.Run{},
		children: map[string]func(models.Run){},

		suspended:  map[string]*runState{},
		resumeWake: make(chan struct{}, 1),
	}
	e.timers = newTimers(cfg.Clock)
	e.writer = newWriter(store, cfg.MaxBatch, cfg.Logger, cfg.Metrics)
	e.lim = newLimiter(cfg.MaxActions, cfg.Metrics)
	e.idEntropy = ulid.Monotonic(rand.Reader, 0)
	e.versions = newVersions(cfg.Versions, cfg.Compiler, cfg.PlanCacheSize)
	e.lease = newLease(cfg.Lease)
	return e
}

// Compiler is the compiler the engine runs definitions with
// (Config.Compiler): give the same to whatever checks definitions before
// they are stored, so that what is accepted there runs here.
func (e *Engine) Compiler() plan.Compiler { return e.cfg.Compiler }

// Start starts the engine's goroutines and resumes every unfinished run
// found in the store. The engine runs until Stop.
func (e *Engine) Start(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("engine: already started")
	}
	e.actionCtx, e.cancelAction = context.WithCancelCause(context.Background())
	e.parkCtx, e.cancelPark = context.WithCancelCause(context.Background())
	e.stopTimer = make(chan struct{})
	e.timerDone = make(chan struct{})
	e.writer.start()
	e.resumeDone = make(chan struct{})
	go e.resumeLoop()
	go e.bus.loop()
	go func() {
		defer close(e.timerDone)
		e.timers.loop(e.stopTimer)
	}()
	e.joinCluster()
	if e.lease != nil {
		if err := e.register(ctx); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		defer func() { go e.leaseLoop() }()
	}
	return e.recoverRuns(ctx)
}

// Stop stops starting new work, waits for the actions in flight until ctx is
// done (then cancels them: a cancelled action's step runs again on the next
// Start), writes what is pending and stops the engine's goroutines. Runs not
// finished stay unfinished in the store, to be resumed by the next Start.
//
// With a lease (several instances), Stop hands the runs over instead of
// waiting: it stops taking runs over, cancels the actions in flight at once
// (the new owner runs them again, with the same idempotency keys), writes
// what is pending and releases its runs, which another instance then
// claims within its TakeoverInterval.
func (e *Engine) Stop(ctx context.Context) error {
	if !e.started.Load() || !e.stopping.CompareAndSwap(false, true) {
		return nil
	}
	if e.lease != nil {
		close(e.lease.stop)
		<-e.lease.done
		e.cancelAction(errShutdown)
	}
	e.leaveCluster()
	e.cancelPark(errShutdown)
	waited := make(chan struct{})
	go func() {
		e.actions.Wait()
		close(waited)
	}()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		e.cancelAction(errShutdown)
		<-waited
		err = ctx.Err()
	}
	e.cancelAction(errShutdown)
	e.writer.close()
	e.writer.wait()
	if e.lease != nil {
		if rerr := e.release(context.WithoutCancel(ctx)); rerr != nil {
			e.log.Error(rerr.Error())
			err = cmp.Or(err, rerr)
		}
	}
	close(e.stopTimer)
	<-e.timerDone
	<-e.resumeDone
	e.bus.stop()
	e.bus.closeAll()
	e.mu.Lock()
	for id, ws := range e.waiters {
		for _, w := range ws {
			close(w)
		}
		delete(e.waiters, id)
	}
	e.mu.Unlock()
	return err
}

func (e *Engine) newID() string {
	e.idMu.Lock()
	defer e.idMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(time.Now()), e.idEntropy).String()
}

// RunOptions says how to start a run.
type RunOptions struct {
	Inputs      map[string]any
	Template    string // defaults to the definition's id
	Version     int
	Trigger     string // models.Trigger*; defaults to manual
	StartedBy   string
	Test        bool
	ParentRunID string
	// Schedule is the schedule and fire time that started the run, stored
	// with it (trigger "schedule"); nil otherwise.
	Schedule *models.RunSchedule
	// MaxActive caps the unfinished runs of the template: the run is
	// admitted (Store.AdmitRun) only while fewer are active, models.Busy
	// otherwise. 0: no cap.
	MaxActive int
	// Finished, when not nil, receives the run's final record once it is
	// committed, as Wait's would; it needs room for one value. It is
	// closed instead when the engine stops first. Registered before the
	// run's first step runs, so a run that finishes at once is not missed
	// (and not read back from the store, as a Wait after StartRun may
	// have to).
	Finished chan models.Run
}

// StartRun checks the inputs against the plan, stores a new run and starts
// it. It returns the run record once the run is durable.
func (e *Engine) StartRun(ctx context.Context, compiled *plan.Plan, opt RunOptions) (models.Run, error) {
	if err := e.ready(); err != nil {
		return models.Run{}, err
	}
	inputs, err := compiled.CheckInputs(opt.Inputs)
	if err != nil {
		return models.Run{}, err
	}
	if inputs == nil {
		inputs = map[string]any{}
	}
	rs, err := e.newRunState(compiled, opt, inputs, "")
	if err != nil {
		return models.Run{}, err
	}
	rs.finished = opt.Finished
	return e.launch(ctx, rs, nil)
}

// ready reports whether the engine accepts work.
func (e *Engine) ready() error {
	if !e.started.Load() {
		return models.Errorf(models.Unavailable, "the engine has not started")
	}
	if e.stopping.Load() {
		return models.Errorf(models.Unavailable, "the engine is stopping")
	}
	if e.lease != nil && e.lease.lost.Load() {
		return models.Errorf(models.Unavailable, "this instance lost its lease and is registering again; try again in a moment")
	}
	return nil
}

// Run returns the run record of one run: live for a run in progress, from
// the store otherwise.
func (e *Engine) Run(ctx context.Context, id string) (models.Run, error) {
	if rs := e.active(id); rs != nil {
		rs.mu.Lock()
		defer rs.mu.Unlock()
		return rs.record(), nil
	}
	snap, err := e.store.LoadRun(ctx, id)
	if err != nil {
		return models.Run{}, err
	}
	return recordFromSnapshot(snap)
}

// ListRuns lists runs, newest first, without their steps. The cursor for the
// next page is the ID of the last run returned.
func (e *Engine) ListRuns(ctx context.Context, f models.RunFilter) ([]models.Run, error) {
	var runs []models.Run
	// A run that was in memory while the store was read, and finished
	// before it was looked up here, would show its stored state from
	// before its final commit (a cancelled run listed as waiting). Its
	// final state is committed before it leaves memory, so reading again
	// once shows it; under a steady stream of finishes the second read is
	// kept as it is.
	for try := 0; try < 2; try++ {
		finishes := e.finishes.Load()
		var err error
		runs, err = e.store.ListRuns(ctx, f)
		if err != nil {
			return nil, err
		}
		// A run in progress is newer in memory than in the store.
		for i := range runs {
			if rs := e.active(runs[i].ID); rs != nil {
				rs.mu.Lock()
				rec := rs.row.Run
				rs.mu.Unlock()
				rec.Steps = nil
				runs[i] = rec
			}
		}
		if e.finishes.Load() == finishes {
			break
		}
	}
	return runs, nil
}

// Wait blocks until the run has finished, or ctx is done, and returns its
// record (the record so far if ctx ended first, with ctx's error).
func (e *Engine) Wait(ctx context.Context, id string) (models.Run, error) {
	e.mu.Lock()
	_, active := e.runs[id]
	if !active {
		// A suspended run is not finished: it resumes from the store.
		_, active = e.suspended[id]
	}
	var ch chan models.Run
	if active {
		ch = make(chan models.Run, 1)
		e.waiters[id] = append(e.waiters[id], ch)
	}
	e.mu.Unlock()
	if ch != nil {
		select {
		case rec, ok := <-ch:
			if ok {
				return rec, nil
			}
		case <-ctx.Done():
			run, err := e.Run(context.WithoutCancel(ctx), id)
			if err != nil {
				return run, err
			}
			return run, ctx.Err()
		}
	}
	return e.Run(ctx, id)
}

// Cancel cancels a run that has not finished: running steps are cancelled,
// steps not started are skipped, and the run ends cancelled.
func (e *Engine) Cancel(ctx context.Context, id string) error {
	rs := e.active(id)
	if rs == nil {
		return e.request(ctx, id, cancelRequest, nil)
	}
	rs.mu.Lock()
	if rs.done {
		rs.mu.Unlock()
		return models.Errorf(models.Conflict, "run %s has already finished", id)
	}
	rs.stop(stopCancel)
	rs.flush()
	rs.mu.Unlock()
	return nil
}

// notActive explains why a run is not in memory: finished, or unknown.
func (e *Engine) notActive(ctx context.Context, id string) error {
	if e.isSuspended(id) {
		return models.Errorf(models.Unavailable, "run %s is suspended until its changes can be stored: %v", id, e.Healthy())
	}
	snap, err := e.store.LoadRun(ctx, id)
	if err != nil {
		return err
	}
	if snap.Run.Status.Final() {
		return models.Errorf(models.Conflict, "run %s has already finished (%s)", id, snap.Run.Status)
	}
	return models.Errorf(models.Unavailable, "run %s is not held by this engine", id)
}

// Signal delivers a named signal with its JSON payload to a run: to the step
// waiting for it, or, when a step that waits for it has not started yet,
// kept until that step starts.
func (e *Engine) Signal(ctx context.Context, id, name string, payload any) error {
	if strings.HasPrefix(name, requestPrefix) {
		return models.Errorf(models.Conflict, "no step of run %s waits for signal %q", id, name)
	}
	rs := e.active(id)
	if rs == nil {
		return e.request(ctx, id, name, payload)
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.done {
		return models.Errorf(models.Conflict, "run %s has already finished", id)
	}
	if err := rs.signal(name, payload); err != nil {
		return err
	}
	rs.flush()
	return nil
}

// Subscribe returns a subscription to the events of one run, or of every run
// when runID is "". buffer is the number of events held for a slow
// subscriber before it is dropped (≤ 0: 256). Events arrive after they are
// committed; to see earlier ones, read them with Events after subscribing and
// skip duplicates by Seq.
func (e *Engine) Subscribe(runID string, buffer int) *Subscription {
	return e.bus.subscribe(runID, buffer)
}

// SubscribeBatches is Subscribe with events delivered in batches (one
// value per commit or more, the slices shared and read-only): the cheap way
// to follow every run. buffer counts batches (≤ 0: 256).
func (e *Engine) SubscribeBatches(runID string, buffer int) *BatchSubscription {
	return e.bus.subscribeBatches(runID, buffer, false)
}

// SubscribeLocalBatches is SubscribeBatches for the runs executing in this
// process only: what must happen once per run in a cluster (alerts) follows
// these, while pages follow every instance's runs with SubscribeBatches.
func (e *Engine) SubscribeLocalBatches(runID string, buffer int) *BatchSubscription {
	return e.bus.subscribeBatches(runID, buffer, true)
}

// Events returns a run's stored events with Seq > afterSeq (all when limit
// ≤ 0), for replay and for SSE's Last-Event-ID.
func (e *Engine) Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]models.Event, error) {
	return e.store.RunEvents(ctx, runID, afterSeq, limit)
}

// ActiveRuns returns how many runs the engine holds in memory.
func (e *Engine) ActiveRuns() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.runs)
}

func (e *Engine) active(id string) *runState {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.runs[id]
}

// finished is called once a run's final state is committed.
func (e *Engine) finished(rec models.Run) {
	e.mu.Lock()
	delete(e.runs, rec.ID)
	e.finishes.Add(1)
	ws := e.waiters[rec.ID]
	delete(e.waiters, rec.ID)
	parent := e.children[rec.ID]
	delete(e.children, rec.ID)
	e.mu.Unlock()
	for _, w := range ws {
		w <- rec
	}
	if parent != nil {
		parent(rec)
	}
}

// limiter bounds the actions in flight in the process. Work waiting for a
// slot is a queued function, not a blocked goroutine.
type limiter struct {
	mu      sync.Mutex
	free    int
	queue   []func()
	metrics *Metrics
}

func newLimiter(n int, m *Metrics) *limiter { return &limiter{free: n, metrics: m} }

// do runs f (which must call release when done) now if a slot is free, or
// later when one frees.
func (l *limiter) do(f func()) {
	l.mu.Lock()
	if l.free > 0 {
		l.free--
		l.mu.Unlock()
		f()
		return
	}
	l.queue = append(l.queue, f)
	l.metrics.queue(len(l.queue))
	l.mu.Unlock()
}

func (l *limiter) release() {
	l.mu.Lock()
	if len(l.queue) == 0 {
		l.free++
		l.mu.Unlock()
		return
	}
	f := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	l.metrics.queue(len(l.queue))
	l.mu.Unlock()
	f()
}

func (l *limiter) depth() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// QueueDepth returns the actions waiting for a process-wide slot and the
// write requests waiting for a commit.
func (e *Engine) QueueDepth() (actions, writes int) {
	return e.lim.depth(), e.writer.depth()
}
