package engine

import (
	clist "container/list"
	"context"
	"fmt"
	"sync"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// VersionSource is what the engine needs from persistence to run stored
// templates: their versions. *store.Store satisfies it.
type VersionSource interface {
	TemplateVersion(ctx context.Context, key string, n int) (*models.Version, error)
	// LatestApprovedVersion returns NotFound for an unknown template and
	// Conflict when no version is approved yet.
	LatestApprovedVersion(ctx context.Context, key string) (*models.Version, error)
}

// versions loads template versions (Config.Versions) and compiles them
// with the engine's compiler, once per submitted version: a submitted
// version never changes, so its plan is cached (bounded, least recently
// used out); drafts are compiled every time because they may change. The
// engine resolves subworkflows through it and its launchers start runs
// through it, so both share one cache and one compiler.
type versions struct {
	src      VersionSource
	compiler plan.Compiler
	size     int

	mu       sync.Mutex
	cache    map[planKey]*clist.Element
	lru      *clist.List // of *cachedPlan, most recently used first
	approved map[planKey]*models.Version
}

type planKey struct {
	template string
	version  int
}

type cachedPlan struct {
	key  planKey
	plan *plan.Plan
}

func newVersions(src VersionSource, compiler plan.Compiler, size int) *versions {
	if size <= 0 {
		size = 256
	}
	return &versions{src: src, compiler: compiler, size: size, cache: map[planKey]*clist.Element{}, lru: clist.New(), approved: map[planKey]*models.Version{}}
}

// version loads the version a request names: the latest approved when n is 0.
func (vs *versions) version(ctx context.Context, key string, n int) (*models.Version, error) {
	if n < 0 {
		return nil, models.Problems("invalid version", []models.Problem{{Path: "version", Message: "must be a positive version number"}})
	}
	if vs.src == nil {
		return nil, models.Errorf(models.Unavailable, "stored templates are not available here")
	}
	if n == 0 {
		ln, ok := vs.src.(latestApprovedNumber)
		if !ok {
			return vs.src.LatestApprovedVersion(ctx, key)
		}
		var err error
		if n, err = ln.LatestApprovedNumber(ctx, key); err != nil {
			return nil, err
		}
	}
	if v := vs.approvedVersion(key, n); v != nil {
		return v, nil
	}
	v, err := vs.src.TemplateVersion(ctx, key, n)
	if err == nil && v.Status == models.VersionApproved {
		vs.keepApproved(v)
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
func (vs *versions) approvedVersion(key string, n int) *models.Version {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.approved[planKey{key, n}]
}

func (vs *versions) keepApproved(v *models.Version) {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	if len(vs.approved) >= vs.size {
		clear(vs.approved) // rare: more approved versions in use than plans cached
	}
	vs.approved[planKey{v.Template, v.Number}] = v
}

// plan returns the compiled plan of a version, from the cache when the
// version can no longer change.
func (vs *versions) plan(v *models.Version) (*plan.Plan, error) {
	k := planKey{v.Template, v.Number}
	immutable := v.Status != models.VersionDraft
	if immutable {
		vs.mu.Lock()
		if el, ok := vs.cache[k]; ok {
			vs.lru.MoveToFront(el)
			p := el.Value.(*cachedPlan).plan
			vs.mu.Unlock()
			return p, nil
		}
		vs.mu.Unlock()
	}
	p, err := vs.compiler.Compile(v.Definition)
	if err != nil {
		return nil, fmt.Errorf("compile version %d of %q: %w", v.Number, v.Template, err)
	}
	if immutable {
		vs.mu.Lock()
		if _, ok := vs.cache[k]; !ok {
			vs.cache[k] = vs.lru.PushFront(&cachedPlan{key: k, plan: p})
			for vs.lru.Len() > vs.size {
				old := vs.lru.Remove(vs.lru.Back()).(*cachedPlan)
				delete(vs.cache, old.key)
			}
		}
		vs.mu.Unlock()
	}
	return p, nil
}

// cached reports how many plans the cache holds (for tests).
func (vs *versions) cached() int {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return vs.lru.Len()
}

// resolveSubworkflow finds the plan a subworkflow step runs: version 0 is
// the latest approved version; a named version must be approved, because a
// subworkflow runs in production as part of its parent. It returns the plan
// and the version number resolved.
func (e *Engine) resolveSubworkflow(ctx context.Context, key string, version int) (*plan.Plan, int, error) {
	v, err := e.versions.version(ctx, key, version)
	if err != nil {
		return nil, 0, err
	}
	if v.Status != models.VersionApproved {
		return nil, 0, models.Errorf(models.Conflict, "version %d of %q is %s; a subworkflow must name an approved version", v.Number, key, v.Status)
	}
	p, err := e.versions.plan(v)
	if err != nil {
		return nil, 0, err
	}
	return p, v.Number, nil
}
