package engine

import (
	clist "container/list"
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/baton-run/baton/models"
)

// VersionSource is what the launcher needs from persistence: the versions
// of templates. *store.Store satisfies it.
type VersionSource interface {
	TemplateVersion(ctx context.Context, key string, n int) (*models.Version, error)
	// LatestApprovedVersion returns NotFound for an unknown template and
	// Conflict when no version is approved yet.
	LatestApprovedVersion(ctx context.Context, key string) (*models.Version, error)
}

// LauncherConfig tunes a Launcher. The zero value works.
type LauncherConfig struct {
	// MaxActiveRuns caps the unfinished runs of one template (queued,
	// running or waiting); ≤ 0 means DefaultMaxActiveRuns.
	MaxActiveRuns int
	// CacheSize is how many compiled plans are kept; ≤ 0 means 256.
	CacheSize int
	// Limits bounds definitions parsed by ParseDefinition and the plans the
	// launcher compiles; give the engine the same (Config.Limits) so that
	// resumed runs keep them.
	Limits Limits
	// Logger receives a line for every run the launcher starts, retries or
	// reruns, with the id of the HTTP request behind it when the context
	// carries one (models.RequestIDFrom). Default: the engine's Logger.
	Logger *slog.Logger
}

// DefaultMaxActiveRuns is the default per-template cap on unfinished runs.
const DefaultMaxActiveRuns = 100

// Launcher starts runs of stored templates: it loads the version, compiles
// it (once per submitted version: a submitted version never changes, so its
// plan is cached; drafts are compiled every time because they may change),
// enforces that production runs use approved versions and that only
// designers test-run the others, caps the active runs per template and calls
// Engine.StartRun. It also resolves subworkflow steps (SubworkflowResolver)
// and gives the HTTP layer the engine through models types only.
type Launcher struct {
	eng *Engine
	src VersionSource
	cfg LauncherConfig

	cacheMu  sync.Mutex
	cache    map[planKey]*clist.Element
	lru      *clist.List // of *cachedPlan, most recently used first
	approved map[planKey]*models.Version

	startMu sync.Mutex
	starts  map[string]*sync.Mutex // per template: the limit check and the start are one step
}

type planKey struct {
	template string
	version  int
}

type cachedPlan struct {
	key  planKey
	plan *Plan
}

// NewLauncher returns a launcher over src. Set it with SetEngine before use
// when the engine needs the launcher as its Config.Subworkflows (the two
// refer to each other).
func NewLauncher(eng *Engine, src VersionSource, cfg LauncherConfig) *Launcher {
	if cfg.MaxActiveRuns <= 0 {
		cfg.MaxActiveRuns = DefaultMaxActiveRuns
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 256
	}
	return &Launcher{eng: eng, src: src, cfg: cfg, cache: map[planKey]*clist.Element{}, lru: clist.New(), approved: map[planKey]*models.Version{}, starts: map[string]*sync.Mutex{}}
}

// SetEngine sets the engine the launcher starts runs on. Call it once,
// before the launcher is used.
func (l *Launcher) SetEngine(eng *Engine) { l.eng = eng }

// Engine returns the engine runs start on.
func (l *Launcher) Engine() *Engine { return l.eng }

// ParseDefinition parses and compiles a definition sent to the API (YAML
// when contentType says so, JSON otherwise): BadRequest for a syntax error,
// Invalid with every problem otherwise.
func (l *Launcher) ParseDefinition(body []byte, contentType string) (models.Definition, error) {
	f := FormatFromContentType(contentType)
	if _, err := ParseAndCompile(body, f, l.cfg.Limits); err != nil {
		return models.Definition{}, err
	}
	return ParseWithLimits(body, f, l.cfg.Limits)
}

// Diff compares two definitions; see the package function Diff.
func (l *Launcher) Diff(a, b models.Definition) models.DefinitionDiff { return Diff(a, b) }

// plan returns the compiled plan of a version, from the cache when the
// version can no longer change.
func (l *Launcher) plan(v *models.Version) (*Plan, error) {
	k := planKey{v.Template, v.Number}
	immutable := v.Status != models.VersionDraft
	if immutable {
		l.cacheMu.Lock()
		if el, ok := l.cache[k]; ok {
			l.lru.MoveToFront(el)
			p := el.Value.(*cachedPlan).plan
			l.cacheMu.Unlock()
			return p, nil
		}
		l.cacheMu.Unlock()
	}
	p, err := CompileWithLimits(v.Definition, l.cfg.Limits)
	if err != nil {
		return nil, fmt.Errorf("compile version %d of %q: %w", v.Number, v.Template, err)
	}
	if immutable {
		l.cacheMu.Lock()
		if _, ok := l.cache[k]; !ok {
			l.cache[k] = l.lru.PushFront(&cachedPlan{key: k, plan: p})
			for l.lru.Len() > l.cfg.CacheSize {
				old := l.lru.Remove(l.lru.Back()).(*cachedPlan)
				delete(l.cache, old.key)
			}
		}
		l.cacheMu.Unlock()
	}
	return p, nil
}

// cached reports how many plans the cache holds (for tests).
func (l *Launcher) cached() int {
	l.cacheMu.Lock()
	defer l.cacheMu.Unlock()
	return l.lru.Len()
}

// version loads the version a request names: the latest approved when n is 0.
func (l *Launcher) version(ctx context.Context, key string, n int) (*models.Version, error) {
	if n < 0 {
		return nil, models.Problems("invalid version", []models.Problem{{Path: "version", Message: "must be a positive version number"}})
	}
	if n == 0 {
		ln, ok := l.src.(latestApprovedNumber)
		if !ok {
			return l.src.LatestApprovedVersion(ctx, key)
		}
		var err error
		if n, err = ln.LatestApprovedNumber(ctx, key); err != nil {
			return nil, err
		}
	}
	if v := l.approvedVersion(key, n); v != nil {
		return v, nil
	}
	v, err := l.src.TemplateVersion(ctx, key, n)
	if err == nil && v.Status == models.VersionApproved {
		l.keepApproved(v)
	}
	return v, err
}

// latestApprovedNumber is what *store.Store offers beyond VersionSource:
// which approved version is latest, without loading it. With it a start
// costs one small query instead of loading and decoding the definition.
type latestApprovedNumber interface {
	LatestApprovedNumber(ctx context.Context, key string) (int, error)
}

// approvedVersion returns a kept approved version, or nil. An approved
// version never changes (a new approval makes a new number), so it is kept
// without expiry; only which number is latest is asked each time.
func (l *Launcher) approvedVersion(key string, n int) *models.Version {
	l.cacheMu.Lock()
	defer l.cacheMu.Unlock()
	return l.approved[planKey{key, n}]
}

func (l *Launcher) keepApproved(v *models.Version) {
	l.cacheMu.Lock()
	defer l.cacheMu.Unlock()
	if len(l.approved) >= l.cfg.CacheSize {
		clear(l.approved) // rare: more approved versions in use than plans cached
	}
	l.approved[planKey{v.Template, v.Number}] = v
}

// Start starts a run as req says and returns its record once it is durable.
// Errors: NotFound (template or version), Conflict (no approved version, or
// the template's active-run limit reached), Forbidden (a production run
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
	// Check the inputs before taking the template's lock, so a bad request
	// costs nothing and reports its paths.
	if _, err := p.CheckInputs(req.Inputs); err != nil {
		return models.Run{}, err
	}
	mu := l.templateLock(req.Template)
	mu.Lock()
	defer mu.Unlock()
	if err := l.checkActive(ctx, req.Template); err != nil {
		l.logLaunch(ctx, slog.LevelWarn, "run not started: active-run limit reached",
			slog.String("template", v.Template), slog.Int("version", v.Number), slog.String("err", err.Error()))
		return models.Run{}, err
	}
	run, err := l.eng.StartRun(ctx, p, RunOptions{
		Inputs: req.Inputs, Template: v.Template, Version: v.Number,
		Trigger: req.Trigger, StartedBy: req.StartedBy, Test: test, Schedule: req.Schedule,
		Finished: finished,
	})
	if err != nil {
		return run, err
	}
	l.logLaunch(ctx, slog.LevelInfo, "run started", runAttrs(run)...)
	return run, nil
}

// logger is where launch lines go: LauncherConfig.Logger, else the
// engine's logger (set after NewLauncher, hence looked up here).
func (l *Launcher) logger() *slog.Logger {
	switch {
	case l.cfg.Logger != nil:
		return l.cfg.Logger
	case l.eng != nil && l.eng.log != nil:
		return l.eng.log
	}
	return slog.Default()
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

func (l *Launcher) templateLock(key string) *sync.Mutex {
	l.startMu.Lock()
	defer l.startMu.Unlock()
	mu, ok := l.starts[key]
	if !ok {
		mu = &sync.Mutex{}
		l.starts[key] = mu
	}
	return mu
}

// activeStatuses are the statuses of runs that count against the limit.
var activeStatuses = []models.RunStatus{models.RunQueued, models.RunRunning, models.RunWaiting}

// checkActive refuses a start when the template has MaxActiveRuns unfinished
// runs. The count is per process lock plus the store, so instances sharing
// a database may briefly overshoot by the number of instances.
func (l *Launcher) checkActive(ctx context.Context, key string) error {
	// The store may still list as active a run that has just finished in
	// memory (its final write is on its way); ListRuns shows the live
	// status, so such runs are not counted, and a few extra rows are read
	// so that they do not hide active ones.
	runs, err := l.eng.ListRuns(ctx, models.RunFilter{Template: key, Statuses: activeStatuses, Limit: min(l.cfg.MaxActiveRuns+16, 500)})
	if err != nil {
		return err
	}
	active := 0
	for _, r := range runs {
		if !r.Status.Final() {
			active++
		}
	}
	if active >= l.cfg.MaxActiveRuns {
		return models.Errorf(models.Conflict, "template %q already has %d unfinished runs, its limit; wait for some to finish or cancel them", key, active)
	}
	return nil
}

// Resolve implements SubworkflowResolver: version 0 is the latest approved
// version; a named version must be approved, because a subworkflow runs in
// production as part of its parent.
func (l *Launcher) Resolve(ctx context.Context, key string, version int) (*Plan, int, error) {
	v, err := l.version(ctx, key, version)
	if err != nil {
		return nil, 0, err
	}
	if v.Status != models.VersionApproved {
		return nil, 0, models.Errorf(models.Conflict, "version %d of %q is %s; a subworkflow must name an approved version", v.Number, key, v.Status)
	}
	p, err := l.plan(v)
	if err != nil {
		return nil, 0, err
	}
	return p, v.Number, nil
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

// Cancel cancels an unfinished run.
func (l *Launcher) Cancel(ctx context.Context, id string) error { return l.eng.Cancel(ctx, id) }

// Signal delivers a signal to a run.
func (l *Launcher) Signal(ctx context.Context, id, name string, payload any) error {
	return l.eng.Signal(ctx, id, name, payload)
}

// Retry continues a failed, cancelled or timed-out run from its failed steps.
func (l *Launcher) Retry(ctx context.Context, id string) (models.Run, error) {
	run, err := l.eng.Retry(ctx, id)
	if err != nil {
		return run, err
	}
	l.logLaunch(ctx, slog.LevelInfo, "run retried", runAttrs(run)...)
	return run, nil
}

// Rerun starts a new run linked to run id: on its own definition, or on the
// template's latest approved version when req.Latest.
func (l *Launcher) Rerun(ctx context.Context, id string, req models.RerunRequest) (models.Run, error) {
	opt := RerunOptions{From: req.From, StartedBy: req.StartedBy}
	if req.Latest {
		old, err := l.eng.Run(ctx, id)
		if err != nil {
			return models.Run{}, err
		}
		v, err := l.src.LatestApprovedVersion(ctx, old.Template)
		if err != nil {
			return models.Run{}, err
		}
		if opt.Plan, err = l.plan(v); err != nil {
			return models.Run{}, err
		}
		opt.Version = v.Number
	}
	run, err := l.eng.Rerun(ctx, id, opt)
	if err != nil {
		return run, err
	}
	l.logLaunch(ctx, slog.LevelInfo, "run started", append(runAttrs(run), slog.String("rerun_of", id))...)
	return run, nil
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
