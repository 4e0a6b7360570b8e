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

	mu    sync.Mutex
	cache map[planKey]*clist.Element
	lru   *clist.List // of *cachedPlan, most recently used first
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
	return &versions{src: src, compiler: compiler, size: size, cache: map[planKey]*clist.Element{}, lru: clist.New()}
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
		return vs.src.LatestApprovedVersion(ctx, key)
	}
	return vs.src.TemplateVersion(ctx, key, n)
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
