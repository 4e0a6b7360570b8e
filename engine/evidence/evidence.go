// Package evidence answers, for a version under review, "on the traffic we
// actually had, what would this version do differently?": it replays the
// newest finished production runs of the template through the version's
// plan (engine/plan/replay, which executes nothing) and summarises them.
//
// Answers are cached per (template, version, number of runs) in memory,
// each with what it was built on: the version's definition and the newest
// finished production run of the template. A read first asks the store for
// that run (one index lookup); a new production run, or an edited draft,
// makes the cached answer stale and it is computed again. No hook in the
// engine's hot path is needed. A version submitted for review is replayed
// in the background by one worker (Run) with a bounded queue, so the
// reviewer usually finds the answer ready.
package evidence

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/engine/plan/replay"
	"github.com/baton-run/baton/models"
)

// Runs per answer: DefaultRuns unless asked, at most MaxRuns.
const (
	DefaultRuns = 50
	MaxRuns     = 500
)

// Store is what evidence reads; *store.Store satisfies it.
type Store interface {
	TemplateVersion(ctx context.Context, key string, n int) (*models.Version, error)
	RecentProductionRuns(ctx context.Context, template string, limit int) ([]models.RunSnapshot, error)
	LatestProductionRun(ctx context.Context, template string) (string, time.Time, error)
}

// Config configures a Service.
type Config struct {
	Store    Store
	Compiler plan.Compiler
	Log      *slog.Logger
	// CacheSize is how many answers are kept; default 256. Negative: none
	// (every read replays; for benchmarks).
	CacheSize int
	// Queue is how many submitted versions may wait for the worker; default
	// 64. A submission that finds it full is not replayed ahead: the
	// review page computes it when opened.
	Queue int
}

// Service computes and caches evidence. Safe for concurrent use.
type Service struct {
	cfg   Config
	jobs  chan job
	mu    sync.Mutex
	cache map[cacheKey]*entry
	order []cacheKey // insertion order, for eviction
}

type cacheKey struct {
	template string
	version  int
	runs     int
}

// entry is one answer and what it was built on.
type entry struct {
	def      [32]byte // sha256 of the version's definition
	latest   string   // newest production run's id and finish time
	evidence *models.Evidence
}

type job struct {
	template string
	version  int
	then     func(*models.Evidence)
}

// New makes a Service; call Run for the background worker.
func New(cfg Config) *Service {
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 256
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64
	}
	cfg.Log = cmp.Or(cfg.Log, slog.Default())
	return &Service{cfg: cfg, jobs: make(chan job, cfg.Queue), cache: map[cacheKey]*entry{}}
}

// Run replays submitted versions one at a time until ctx ends.
func (s *Service) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.jobs:
			ev, err := s.Evidence(ctx, j.template, j.version, DefaultRuns)
			if err != nil {
				s.cfg.Log.Warn("evidence not computed", "template", j.template, "version", j.version, "err", err)
				ev = nil
			}
			if j.then != nil {
				j.then(ev)
			}
		}
	}
}

// Submitted queues the replay of a version just submitted for review; then
// (optional) is called by the worker with the answer, nil when it could not
// be computed. It reports false, without calling then, when the queue is
// full.
func (s *Service) Submitted(template string, version int, then func(*models.Evidence)) bool {
	select {
	case s.jobs <- job{template: template, version: version, then: then}:
		return true
	default:
		return false
	}
}

// Evidence replays the newest runs (DefaultRuns when runs is 0, 1 to
// MaxRuns) finished production runs of template through version's
// definition, or returns the cached answer while it is still true.
func (s *Service) Evidence(ctx context.Context, template string, version, runs int) (*models.Evidence, error) {
	if runs == 0 {
		runs = DefaultRuns
	}
	if runs < 1 || runs > MaxRuns {
		return nil, models.Errorf(models.BadRequest, "runs must be between 1 and %d, not %d", MaxRuns, runs)
	}
	v, err := s.cfg.Store.TemplateVersion(ctx, template, version)
	if err != nil {
		return nil, err
	}
	defJSON, err := json.Marshal(v.Definition)
	if err != nil {
		return nil, models.Errorf(models.Internal, "encode definition: %v", err)
	}
	id, at, err := s.cfg.Store.LatestProductionRun(ctx, template)
	if err != nil {
		return nil, err
	}
	key := cacheKey{template, version, runs}
	e := &entry{def: sha256.Sum256(defJSON), latest: id + "@" + at.Format(time.RFC3339Nano)}
	if cached := s.cached(key, e); cached != nil {
		return cached, nil
	}
	p, err := s.cfg.Compiler.Compile(v.Definition)
	if err != nil {
		return nil, models.Problems("version "+strconv.Itoa(version)+" does not compile, so it cannot be replayed", models.ErrorDetails(err))
	}
	snaps, err := s.cfg.Store.RecentProductionRuns(ctx, template, runs)
	if err != nil {
		return nil, err
	}
	e.evidence = Compute(p, template, version, runs, snaps)
	s.keep(key, e)
	return e.evidence, nil
}

// Compute replays snaps through p (the plan of version) and summarises
// them; a pure function.
func Compute(p *plan.Plan, template string, version, requested int, snaps []models.RunSnapshot) *models.Evidence {
	r := replay.New(p, version)
	ev := &models.Evidence{Template: template, Version: version, Requested: requested,
		BaseVersions: []int{}, Runs: make([]models.RunEvidence, 0, len(snaps))}
	for i := range snaps {
		re := r.Replay(&snaps[i])
		ev.Runs = append(ev.Runs, re)
		if !slices.Contains(ev.BaseVersions, re.Version) {
			ev.BaseVersions = append(ev.BaseVersions, re.Version)
		}
		sum := &ev.Summary
		sum.Replayed++
		if len(re.MissingInputs) > 0 {
			sum.Refused++
			continue
		}
		if re.PathChanged {
			sum.PathChanged++
		}
		if len(re.DecisionsChanged) > 0 {
			sum.DecisionsChanged++
		}
		if len(re.WouldExecute) > 0 {
			sum.WouldExecute++
		}
		if len(re.Unknown) > 0 {
			sum.Unknown++
		}
	}
	slices.Sort(ev.BaseVersions)
	return ev
}

func (s *Service) cached(k cacheKey, want *entry) *models.Evidence {
	if s.cfg.CacheSize < 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.cache[k]
	if e == nil || e.def != want.def || e.latest != want.latest {
		return nil
	}
	return e.evidence
}

func (s *Service) keep(k cacheKey, e *entry) {
	if s.cfg.CacheSize < 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.cache[k]; !ok {
		s.order = append(s.order, k)
	}
	s.cache[k] = e
	for len(s.order) > s.cfg.CacheSize {
		delete(s.cache, s.order[0])
		s.order = s.order[1:]
	}
}
