// Package schedule starts runs of templates on cron schedules (gocron v2):
// a cron expression in a time zone, enable and disable, an overlap policy,
// no double firing across restarts and instances (every fire time is
// claimed in the store first), and catch-up of fire times missed while no
// instance was running (catchup.go). It starts runs through RunStarter,
// which the engine's Launcher satisfies, and knows nothing of the engine.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/jonboulle/clockwork"

	"github.com/baton-run/baton/cluster"
	"github.com/baton-run/baton/models"
)

// Source is what the scheduler needs from persistence;
// *store.Store satisfies it.
type Source interface {
	Schedule(ctx context.Context, id int64) (*models.Schedule, error)
	// ListSchedules with key "" lists every template's schedules.
	ListSchedules(ctx context.Context, key string, enabledOnly bool) ([]models.Schedule, error)
	// ClaimScheduleFire records one fire time of a schedule and reports
	// whether this caller won it: the guard against firing twice, across
	// restarts and across instances sharing the database.
	ClaimScheduleFire(ctx context.Context, scheduleID int64, fireAt time.Time) (bool, error)
	// SkipScheduleFire claims a fire time the overlap policy skipped, so
	// that no instance fires it later (not even as a missed time).
	SkipScheduleFire(ctx context.Context, scheduleID int64, fireAt time.Time) (bool, error)
	SetScheduleFireRun(ctx context.Context, scheduleID int64, fireAt time.Time, runID string) error
	// LastScheduleFire is the latest claimed fire that started a run.
	LastScheduleFire(ctx context.Context, scheduleID int64) (*models.ScheduleFire, error)
	// ScheduleFires lists claimed fires, skipped ones included, newest first.
	ScheduleFires(ctx context.Context, scheduleID int64, limit int) ([]models.ScheduleFire, error)
}

// RunStarter starts and reads runs; *engine.Launcher satisfies it.
type RunStarter interface {
	Start(ctx context.Context, req models.RunRequest) (models.Run, error)
	Run(ctx context.Context, id string) (models.Run, error)
}

// Config tunes a Scheduler. The zero value works.
type Config struct {
	// Clock drives gocron; a clockwork fake clock makes tests deterministic.
	// Defaults to the wall clock.
	Clock clockwork.Clock
	// Logger receives fires, skips and failures; default slog.Default().
	Logger *slog.Logger
	// ResyncEvery is how often every schedule is re-read from the store, so
	// that changes made through another instance take effect even if its
	// announcement was lost; default 1m. Changes made through this
	// instance take effect at once (Reload), and so do those of other
	// instances announced on Cluster.
	ResyncEvery time.Duration
	// Cluster announces Reload to the other instances sharing the
	// database, and theirs to this one, which reloads the schedule at once
	// (and re-reads every schedule when announcements may have been lost).
	// Defaults to cluster.Nop.
	Cluster cluster.Bus
	// CatchUpLimit is the most missed fire times one schedule with catch-up
	// policy "all" fires when the scheduler starts (the most recent ones);
	// default DefaultCatchUpLimit.
	CatchUpLimit int
	// CatchUpWindow is how far back missed fire times are caught up:
	// older ones are lost whatever the policy; default DefaultCatchUpWindow.
	CatchUpWindow time.Duration
}

// Bounds of the catch-up on start: a long outage must not turn into an
// unbounded burst of runs.
const (
	DefaultCatchUpLimit  = 100
	DefaultCatchUpWindow = 7 * 24 * time.Hour
	// maxCatchUpSteps bounds the walk over a window's fire times (a
	// per-second cron has 604,800 in a week), so a start never stalls on it.
	maxCatchUpSteps = 1_000_000
)

// Scheduler starts runs of templates on their schedules, with gocron v2: a
// cron expression in a time zone, enable/disable, an overlap policy, and
// no double firing (each fire time is claimed in the store before the run
// starts, so a restart or a second instance cannot fire it again). When it
// starts, it catches up fire times missed while no instance was running, as
// each schedule's catch-up policy says (see CatchUp).
type Scheduler struct {
	src   Source
	runs  RunStarter
	cfg   Config
	clock clockwork.Clock
	log   *slog.Logger
	gs    gocron.Scheduler

	ctx    context.Context // parent of fires; cancelled by Stop
	cancel context.CancelFunc

	mu   sync.Mutex
	jobs map[int64]*cronEntry

	leave func() // ends the cluster subscription

	catchUps sync.WaitGroup // the catch-up Start began, which Stop awaits

	stopOnce sync.Once
	stopErr  error
}

// cronEntry is one armed schedule.
type cronEntry struct {
	job     gocron.Job
	sched   models.Schedule
	spec    gocron.Cron // to compute the fire time a run belongs to
	armedAt time.Time   // gocron fires after it; CatchUp up to it
	mu      sync.Mutex
	lastDue time.Time // the latest fire time handled (or when armed)
}

// New returns a scheduler over src that starts runs through runs.
func New(src Source, runs RunStarter, cfg Config) (*Scheduler, error) {
	if cfg.Clock == nil {
		cfg.Clock = clockwork.NewRealClock()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ResyncEvery <= 0 {
		cfg.ResyncEvery = time.Minute
	}
	cfg.Cluster = cluster.OrNop(cfg.Cluster)
	if cfg.CatchUpLimit <= 0 {
		cfg.CatchUpLimit = DefaultCatchUpLimit
	}
	if cfg.CatchUpWindow <= 0 {
		cfg.CatchUpWindow = DefaultCatchUpWindow
	}
	gs, err := gocron.NewScheduler(gocron.WithClock(cfg.Clock), gocron.WithLocation(time.UTC))
	if err != nil {
		return nil, fmt.Errorf("create scheduler: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Scheduler{src: src, runs: runs, cfg: cfg, clock: cfg.Clock, log: cfg.Logger, gs: gs,
		ctx: ctx, cancel: cancel, jobs: map[int64]*cronEntry{}}, nil
}

// crontab is the expression gocron reads: the schedule's time zone first.
func crontab(expr, tz string) (string, bool) {
	if tz == "" {
		tz = "UTC"
	}
	withSeconds := !strings.HasPrefix(strings.TrimSpace(expr), "@") && len(strings.Fields(expr)) == 6
	return "CRON_TZ=" + tz + " " + strings.TrimSpace(expr), withSeconds
}

// Check reports whether a cron expression and time zone are usable: nil,
// or an Invalid error naming the field.
func (s *Scheduler) Check(expr, tz string) error {
	if tz != "" {
		if _, err := time.LoadLocation(tz); err != nil {
			return models.Problems("invalid schedule", []models.Problem{{Path: "timeZone", Message: fmt.Sprintf("unknown time zone %q: use an IANA name such as \"Europe/Berlin\"", tz)}})
		}
	}
	tab, sec := crontab(expr, tz)
	c := gocron.NewDefaultCron(sec)
	if err := c.IsValid(tab, time.UTC, s.clock.Now()); err != nil {
		msg := "is not a cron expression gocron can read (5 fields: minute hour day month weekday, or 6 with seconds first)"
		if errors.Is(err, gocron.ErrCronJobInvalid) {
			msg = "never fires"
		}
		return models.Problems("invalid schedule", []models.Problem{{Path: "cron", Message: msg}})
	}
	return nil
}

// Start arms every enabled schedule and starts firing, and catches up
// missed fire times in the background (CatchUp). Call Stop to end.
func (s *Scheduler) Start(ctx context.Context) error {
	if err := s.sync(ctx); err != nil {
		return err
	}
	// Each job was armed at its own "now" (cronEntry.armedAt) and fires
	// only after it, so the catch-up, which stops at that time, and gocron
	// never both handle a time; the claims would stop a double fire anyway.
	s.catchUps.Add(1)
	go func() {
		defer s.catchUps.Done()
		s.CatchUp(s.ctx)
	}()
	_, err := s.gs.NewJob(gocron.DurationJob(s.cfg.ResyncEvery), gocron.NewTask(func() {
		if err := s.sync(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Error("re-read schedules", "err", err)
		}
	}), gocron.WithName("baton-schedule-resync"), gocron.WithSingletonMode(gocron.LimitModeReschedule))
	if err != nil {
		return fmt.Errorf("arm schedule resync: %w", err)
	}
	s.leave = s.cfg.Cluster.Subscribe(topic, s.onMessage)
	s.gs.Start()
	return nil
}

// topic is the cluster topic of schedule changes; the payload is the
// schedule's id.
const topic = "schedule"

// onMessage reloads a schedule another instance changed; nil (messages
// lost) re-reads them all.
func (s *Scheduler) onMessage(payload []byte) {
	if s.ctx.Err() != nil {
		return
	}
	if payload == nil {
		if err := s.sync(s.ctx); err != nil && s.ctx.Err() == nil {
			s.log.Error("re-read schedules", "err", err)
		}
		return
	}
	id, err := strconv.ParseInt(string(payload), 10, 64)
	if err != nil {
		s.log.Warn("unreadable schedule change from another instance", "payload", string(payload))
		return
	}
	if err := s.reload(s.ctx, id); err != nil && s.ctx.Err() == nil {
		s.log.Error("reload schedule changed on another instance", "schedule", id, "err", err)
	}
}

// Stop stops firing and waits for fires in progress. Call it even when
// Start was not called (gocron runs a goroutine from New on); it
// is safe to call more than once.
func (s *Scheduler) Stop() error {
	s.stopOnce.Do(func() {
		if s.leave != nil {
			s.leave()
		}
		s.cancel()
		// Shutdown waits for the fires in progress (whose context the
		// cancel above ends) before it returns.
		s.stopErr = s.gs.Shutdown()
		s.catchUps.Wait()
	})
	return s.stopErr
}

// sync arms, re-arms and disarms jobs to match the store.
func (s *Scheduler) sync(ctx context.Context) error {
	all, err := s.src.ListSchedules(ctx, "", true)
	if err != nil {
		return fmt.Errorf("list schedules: %w", err)
	}
	seen := map[int64]bool{}
	for _, sc := range all {
		seen[sc.ID] = true
		if err := s.arm(sc); err != nil {
			s.log.Error("arm schedule", "schedule", sc.ID, "template", sc.Template, "err", err)
		}
	}
	s.mu.Lock()
	var gone []int64
	for id := range s.jobs {
		if !seen[id] {
			gone = append(gone, id)
		}
	}
	s.mu.Unlock()
	for _, id := range gone {
		s.disarm(id)
	}
	return nil
}

// Reload re-reads one schedule from the store and arms, re-arms or disarms
// it: how a change made through the API takes effect without a restart.
// The other instances sharing the database (Config.Cluster) reload it too.
func (s *Scheduler) Reload(ctx context.Context, id int64) error {
	s.cfg.Cluster.Publish(topic, strconv.AppendInt(nil, id, 10))
	return s.reload(ctx, id)
}

func (s *Scheduler) reload(ctx context.Context, id int64) error {
	sc, err := s.src.Schedule(ctx, id)
	if models.IsCode(err, models.NotFound) {
		s.disarm(id)
		return nil
	}
	if err != nil {
		return err
	}
	if !sc.Enabled {
		s.disarm(id)
		return nil
	}
	return s.arm(*sc)
}

// arm makes sure schedule sc has a job matching its current definition.
func (s *Scheduler) arm(sc models.Schedule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.jobs[sc.ID]; ok {
		if old.sched.Cron == sc.Cron && old.sched.TimeZone == sc.TimeZone {
			old.mu.Lock()
			old.sched = sc // inputs and overlap are read at fire time
			old.mu.Unlock()
			return nil
		}
		if err := s.gs.RemoveJob(old.job.ID()); err != nil && !errors.Is(err, gocron.ErrJobNotFound) {
			return err
		}
		delete(s.jobs, sc.ID)
	}
	tab, sec := crontab(sc.Cron, sc.TimeZone)
	spec := gocron.NewDefaultCron(sec)
	if err := spec.IsValid(tab, time.UTC, s.clock.Now()); err != nil {
		return fmt.Errorf("cron %q in %s: %w", sc.Cron, sc.TimeZone, err)
	}
	armedAt := s.clock.Now()
	ent := &cronEntry{sched: sc, spec: spec, armedAt: armedAt, lastDue: armedAt}
	id := sc.ID
	job, err := s.gs.NewJob(gocron.CronJob(tab, sec), gocron.NewTask(func() { s.fired(id, ent) }),
		gocron.WithName(fmt.Sprintf("schedule-%d", sc.ID)))
	if err != nil {
		return fmt.Errorf("arm schedule %d: %w", sc.ID, err)
	}
	ent.job = job
	s.jobs[sc.ID] = ent
	return nil
}

func (s *Scheduler) disarm(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ent, ok := s.jobs[id]
	if !ok {
		return
	}
	if err := s.gs.RemoveJob(ent.job.ID()); err != nil && !errors.Is(err, gocron.ErrJobNotFound) {
		s.log.Warn("disarm schedule", "schedule", id, "err", err)
	}
	delete(s.jobs, id)
}

// NextFires returns the next n fire times of an armed schedule.
func (s *Scheduler) NextFires(id int64, n int) ([]time.Time, error) {
	s.mu.Lock()
	ent, ok := s.jobs[id]
	s.mu.Unlock()
	if !ok {
		return nil, models.Errorf(models.NotFound, "schedule %d is not armed", id)
	}
	next, err := ent.job.NextRuns(n)
	if err != nil {
		return nil, err
	}
	out := make([]time.Time, len(next))
	for i, t := range next {
		out[i] = t.UTC()
	}
	return out, nil
}

// fired is gocron's task: it works out which fire time this is (the latest
// one due, so a late wake-up still claims the right time) and fires it.
func (s *Scheduler) fired(id int64, ent *cronEntry) {
	now := s.clock.Now()
	ent.mu.Lock()
	due := ent.lastDue
	for {
		next := ent.spec.Next(due)
		if next.IsZero() || next.After(now) {
			break
		}
		due = next
	}
	if !due.After(ent.lastDue) {
		// Woken a hair early: the fire time is the next one.
		due = ent.spec.Next(ent.lastDue)
	}
	ent.lastDue = due
	sc := ent.sched
	ent.mu.Unlock()
	if _, err := s.Fire(s.ctx, sc, due); err != nil && s.ctx.Err() == nil {
		s.log.Error("schedule fire", "schedule", id, "template", sc.Template, "fire_at", due, "err", err)
	}
}

// Fire starts the run of schedule sc for fire time at, unless the fire was
// claimed before (by this or another instance, before or after a restart)
// or the overlap policy is skip and the previous fire's run is unfinished
// (the time is then claimed as skipped). It returns the run's id, or ""
// when nothing started.
func (s *Scheduler) Fire(ctx context.Context, sc models.Schedule, at time.Time) (string, error) {
	return s.fire(ctx, sc, at, false)
}

// fire is Fire; caughtUp marks a missed time fired late, for the log and
// the run's record.
func (s *Scheduler) fire(ctx context.Context, sc models.Schedule, at time.Time, caughtUp bool) (string, error) {
	at = at.UTC()
	if sc.Overlap != models.OverlapAllow {
		busy, err := s.previousActive(ctx, sc.ID)
		if err != nil {
			return "", err
		}
		if busy != "" {
			won, err := s.src.SkipScheduleFire(ctx, sc.ID, at)
			if err != nil || !won {
				return "", err
			}
			s.log.Info("schedule skipped: its previous run has not finished", "schedule", sc.ID, "template", sc.Template,
				"fire_at", at, "run", busy, "caught_up", caughtUp)
			return "", nil
		}
	}
	won, err := s.src.ClaimScheduleFire(ctx, sc.ID, at)
	if err != nil || !won {
		return "", err
	}
	// Once claimed, the start is carried through even when Stop cancels
	// ctx meanwhile: a start interrupted after the run's row was admitted
	// would leave a run that its fire does not name.
	run, err := s.runs.Start(context.WithoutCancel(ctx), models.RunRequest{
		Template: sc.Template, Inputs: sc.Inputs, Trigger: models.TriggerSchedule,
		StartedBy: fmt.Sprintf("schedule:%d", sc.ID), AllowApproved: true,
		// The run itself says which fire time it belongs to, which for a
		// caught-up run is long before it started.
		Schedule: &models.RunSchedule{ID: sc.ID, FireAt: at, CaughtUp: caughtUp},
	})
	if err != nil {
		return "", fmt.Errorf("start run of %q: %w", sc.Template, err)
	}
	// The run has started: record it even when Stop has just cancelled
	// ctx, or the fire would name no run.
	if err := s.src.SetScheduleFireRun(context.WithoutCancel(ctx), sc.ID, at, run.ID); err != nil {
		return run.ID, fmt.Errorf("record run %s of schedule %d: %w", run.ID, sc.ID, err)
	}
	s.log.Info("schedule fired", "schedule", sc.ID, "template", sc.Template, "fire_at", at, "run", run.ID, "caught_up", caughtUp)
	return run.ID, nil
}

// previousActive returns the id of the previous fire's run when it has not
// finished, "" otherwise.
func (s *Scheduler) previousActive(ctx context.Context, id int64) (string, error) {
	last, err := s.src.LastScheduleFire(ctx, id)
	if models.IsCode(err, models.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if last.RunID == "" {
		return "", nil
	}
	run, err := s.runs.Run(ctx, last.RunID)
	if models.IsCode(err, models.NotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if run.Status.Final() {
		return "", nil
	}
	return run.ID, nil
}
