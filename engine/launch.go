package engine

import (
	"context"
	"log/slog"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// LauncherConfig tunes a Launcher. The zero value works.
type LauncherConfig struct {
	// MaxActiveRuns caps the unfinished runs of one template (queued,
	// running or waiting), child runs and test runs included; a start over
	// it gets models.Busy. ≤ 0 means DefaultMaxActiveRuns.
	MaxActiveRuns int
	// Logger receives a line for every run the launcher starts, retries or
	// reruns, with the id of the HTTP request behind it when the context
	// carries one (models.RequestIDFrom). Default: the engine's Logger.
	Logger *slog.Logger
}

// DefaultMaxActiveRuns is the default per-template cap on unfinished runs:
// above the 1,000 concurrent workflows the product is sized for, so that it
// guards against a runaway client, not against ordinary load.
const DefaultMaxActiveRuns = 10000

// Launcher starts runs of stored templates: it loads the version and its
// compiled plan through the engine (Config.Versions, Config.Compiler),
// enforces that production runs use approved versions and that only
// designers test-run the others, caps the active runs per template and calls
// Engine.StartRun. It decides the operations on existing runs too (retry,
// rerun, cancel, signal: runops.go), and gives the HTTP layer the engine
// through models types only.
type Launcher struct {
	eng *Engine
	cfg LauncherConfig
}

// NewLauncher returns a launcher that starts runs on eng, of the versions
// eng reads (Config.Versions), compiled by eng's compiler: the engine is
// built first and needs nothing of the launcher, so there is one order of
// construction and one place for the limits.
func NewLauncher(eng *Engine, cfg LauncherConfig) *Launcher {
	if cfg.MaxActiveRuns <= 0 {
		cfg.MaxActiveRuns = DefaultMaxActiveRuns
	}
	return &Launcher{eng: eng, cfg: cfg}
}

// Engine returns the engine runs start on.
func (l *Launcher) Engine() *Engine { return l.eng }

// ParseDefinition parses and compiles a definition sent to the API (YAML
// when contentType says so, JSON otherwise): BadRequest for a syntax error,
// Invalid with every problem otherwise.
func (l *Launcher) ParseDefinition(body []byte, contentType string) (models.Definition, error) {
	return l.eng.cfg.Compiler.ParseChecked(body, contentType)
}

// Diff compares two definitions; see the package function Diff.
func (l *Launcher) Diff(a, b models.Definition) models.DefinitionDiff { return plan.Diff(a, b) }

// plan returns the compiled plan of a version (cached once submitted).
func (l *Launcher) plan(v *models.Version) (*plan.Plan, error) { return l.eng.versions.plan(v) }

// version loads the version a request names: the latest approved when n is 0.
func (l *Launcher) version(ctx context.Context, key string, n int) (*models.Version, error) {
	return l.eng.versions.version(ctx, key, n)
}

// Start starts a run as req says and returns its record once it is durable.
// Errors: NotFound (template or version), Conflict (no approved version),
// Busy (the template's active-run limit reached), Forbidden (a production run
// without AllowApproved, a test run without AllowDraft), Invalid (inputs,
// with their paths).
func (l *Launcher) Start(ctx context.Context, req models.RunRequest) (models.Run, error) {
	return l.start(ctx, req, nil)
}

// StartWait starts a run as Start does, then waits until it finishes or
// wait ends, and returns its latest record: the final one, or the live one
// when wait ended first. The wait is registered with the start, so a run
// that finishes before StartWait would have called Wait costs no read of
// the store.
func (l *Launcher) StartWait(ctx context.Context, req models.RunRequest, wait context.Context) (models.Run, error) {
	done := make(chan models.Run, 1)
	run, err := l.start(ctx, req, done)
	if err != nil {
		return run, err
	}
	select {
	case rec, ok := <-done:
		if ok {
			return rec, nil
		}
	case <-wait.Done():
	}
	if got, err := l.eng.Run(context.WithoutCancel(ctx), run.ID); err == nil {
		return got, nil
	}
	return run, nil
}

func (l *Launcher) start(ctx context.Context, req models.RunRequest, finished chan models.Run) (models.Run, error) {
	v, err := l.version(ctx, req.Template, req.Version)
	if err != nil {
		return models.Run{}, err
	}
	test := v.Status != models.VersionApproved
	switch {
	case test && !req.AllowDraft:
		return models.Run{}, models.Errorf(models.Forbidden,
			"version %d of %q is %s: only approved versions run in production, and only designers may test-run the others", v.Number, v.Template, v.Status)
	case !test && !req.AllowApproved:
		return models.Run{}, models.Errorf(models.Forbidden, "starting a run of an approved version needs the operator role")
	}
	p, err := l.plan(v)
	if err != nil {
		return models.Run{}, err
	}
	// The engine checks the inputs again, but checking here first keeps a
	// bad request from costing an admission.
	if _, err := p.CheckInputs(req.Inputs); err != nil {
		return models.Run{}, err
	}
	run, err := l.eng.StartRun(ctx, p, RunOptions{
		Inputs: req.Inputs, Template: v.Template, Version: v.Number,
		Trigger: req.Trigger, StartedBy: req.StartedBy, Test: test, Schedule: req.Schedule,
		MaxActive: l.cfg.MaxActiveRuns,
		Finished:  finished,
	})
	if err != nil {
		if models.IsCode(err, models.Busy) {
			l.logLaunch(ctx, slog.LevelWarn, "run not started: active-run limit reached",
				slog.String("template", v.Template), slog.Int("version", v.Number), slog.String("err", err.Error()))
		}
		return run, err
	}
	l.logLaunch(ctx, slog.LevelInfo, "run started", runAttrs(run)...)
	return run, nil
}

// logger is where launch lines go: LauncherConfig.Logger, else the
// engine's logger.
func (l *Launcher) logger() *slog.Logger {
	if l.cfg.Logger != nil {
		return l.cfg.Logger
	}
	return l.eng.log
}

// logLaunch writes one launch line, with the id of the HTTP request that
// asked for it when there is one: the run's id can then be traced back to
// the request's access-log line and error body, both of which carry it.
func (l *Launcher) logLaunch(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if id := models.RequestIDFrom(ctx); id != "" {
		attrs = append(attrs, slog.String("request_id", id))
	}
	l.logger().LogAttrs(ctx, level, msg, attrs...)
}

func runAttrs(run models.Run) []slog.Attr {
	attrs := []slog.Attr{
		slog.String("run", run.ID), slog.String("template", run.Template), slog.Int("version", run.Version),
		slog.String("trigger", run.Trigger), slog.String("started_by", run.StartedBy),
	}
	if run.Test {
		attrs = append(attrs, slog.Bool("test", true))
	}
	if sc := run.Schedule; sc != nil {
		attrs = append(attrs, slog.Time("fire_at", sc.FireAt))
		if sc.CaughtUp {
			attrs = append(attrs, slog.Bool("caught_up", true))
		}
	}
	return attrs
}

// checkActive refuses a retry when the template has MaxActiveRuns
// unfinished runs. It reads the store's counter (constant time). Unlike a
// start, which the store admits atomically, a retry is checked then made:
// instances racing to retry may overshoot by one each.
func (l *Launcher) checkActive(ctx context.Context, key string) error {
	active, err := l.eng.store.ActiveRuns(ctx, key)
	if err != nil {
		return err
	}
	if active >= l.cfg.MaxActiveRuns {
		return models.Errorf(models.Busy, "template %q already has %d unfinished runs, its limit; wait for some to finish or cancel them (the limit is the server's --max-active-runs)", key, active)
	}
	return nil
}

// Run returns a run record.
func (l *Launcher) Run(ctx context.Context, id string) (models.Run, error) { return l.eng.Run(ctx, id) }

// ListRuns lists runs, newest first.
func (l *Launcher) ListRuns(ctx context.Context, f models.RunFilter) ([]models.Run, error) {
	return l.eng.ListRuns(ctx, f)
}

// Wait blocks until the run finishes or ctx ends.
func (l *Launcher) Wait(ctx context.Context, id string) (models.Run, error) {
	return l.eng.Wait(ctx, id)
}

// Events returns a run's stored events after afterSeq.
func (l *Launcher) Events(ctx context.Context, runID string, afterSeq int64, limit int) ([]models.Event, error) {
	return l.eng.Events(ctx, runID, afterSeq, limit)
}

// Subscribe subscribes to the events of one run ("" for every run). The
// channel closes when stop is called or when the subscriber fell behind;
// dropped then reports true.
func (l *Launcher) Subscribe(runID string, buffer int) (events <-chan models.Event, dropped func() bool, stop func()) {
	sub := l.eng.Subscribe(runID, buffer)
	return sub.C, sub.Dropped, sub.Close
}

// SubscribeBatches is Subscribe with the events of one commit (or more)
// delivered together, shared and read-only: the cheap way to follow every
// run, one channel send per batch instead of one per event.
func (l *Launcher) SubscribeBatches(runID string, buffer int) (batches <-chan []models.Event, dropped func() bool, stop func()) {
	sub := l.eng.SubscribeBatches(runID, buffer)
	return sub.C, sub.Dropped, sub.Close
}

// SubscribeLocalBatches is SubscribeBatches for the runs executing in this
// process only (see Engine.SubscribeLocalBatches).
func (l *Launcher) SubscribeLocalBatches(runID string, buffer int) (batches <-chan []models.Event, dropped func() bool, stop func()) {
	sub := l.eng.SubscribeLocalBatches(runID, buffer)
	return sub.C, sub.Dropped, sub.Close
}
