package plan

import (
	"cmp"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"

	"github.com/baton-run/baton/models"
)

// DefinitionDiff is what Diff reports; the type lives in models so that
// handlers and views can use it without importing the engine.
type DefinitionDiff = models.DefinitionDiff

// Diff compares two definitions structurally: steps added, removed and
// changed (with the dotted paths of the changed fields, such as "action.url"
// or "retryPolicy.maxAttempts"), graph edges added and removed, and changed
// top-level fields. Layout (step positions) and the informational version
// are ignored, and so is the order of a step's dependencies and of the
// steps list. Every list is sorted, so the same inputs always give the same
// result. Diff does not validate: invalid definitions are compared as they
// are (a duplicate step id counts once, with its first occurrence).
func Diff(a, b models.Definition) DefinitionDiff {
	d := DefinitionDiff{
		Fields: []string{}, StepsAdded: []string{}, StepsRemoved: []string{},
		StepsChanged: []models.StepChange{}, EdgesAdded: []models.DiffEdge{}, EdgesRemoved: []models.DiffEdge{},
	}
	d.Fields = changedKeys(topLevel(a), topLevel(b))

	as, bs := stepsByID(a.Steps), stepsByID(b.Steps)
	for id, sb := range bs {
		sa, ok := as[id]
		if !ok {
			d.StepsAdded = append(d.StepsAdded, id)
			continue
		}
		if fields := changedPaths("", stepMap(sa), stepMap(sb)); len(fields) > 0 {
			d.StepsChanged = append(d.StepsChanged, models.StepChange{ID: id, Fields: fields})
		}
	}
	for id := range as {
		if _, ok := bs[id]; !ok {
			d.StepsRemoved = append(d.StepsRemoved, id)
		}
	}
	slices.Sort(d.StepsAdded)
	slices.Sort(d.StepsRemoved)
	slices.SortFunc(d.StepsChanged, func(x, y models.StepChange) int { return cmp.Compare(x.ID, y.ID) })

	ae, be := edgeSet(a.Steps), edgeSet(b.Steps)
	for e := range be {
		if !ae[e] {
			d.EdgesAdded = append(d.EdgesAdded, e)
		}
	}
	for e := range ae {
		if !be[e] {
			d.EdgesRemoved = append(d.EdgesRemoved, e)
		}
	}
	slices.SortFunc(d.EdgesAdded, compareEdges)
	slices.SortFunc(d.EdgesRemoved, compareEdges)
	return d
}

func compareEdges(x, y models.DiffEdge) int {
	return cmp.Or(cmp.Compare(x.From, y.From), cmp.Compare(x.To, y.To), cmp.Compare(x.Kind, y.Kind))
}

func stepsByID(steps []models.Step) map[string]*models.Step {
	m := make(map[string]*models.Step, len(steps))
	for i := range steps {
		if _, dup := m[steps[i].ID]; !dup {
			m[steps[i].ID] = &steps[i]
		}
	}
	return m
}

// edgeSet lists the edges of the graph the steps form: the edges that the
// definition format names (dependencies, onSuccess, onFailure, and a
// decision table's case and default targets).
func edgeSet(steps []models.Step) map[models.DiffEdge]bool {
	set := map[models.DiffEdge]bool{}
	for _, s := range steps {
		for _, dep := range s.Dependencies {
			set[models.DiffEdge{From: dep, To: s.ID, Kind: models.EdgeDependency}] = true
		}
		for _, to := range s.OnSuccess {
			set[models.DiffEdge{From: s.ID, To: to, Kind: models.EdgeOnSuccess}] = true
		}
		for _, to := range s.OnFailure {
			set[models.DiffEdge{From: s.ID, To: to, Kind: models.EdgeOnFailure}] = true
		}
		for _, c := range s.Action.Cases {
			if c.Next != "" {
				set[models.DiffEdge{From: s.ID, To: c.Next, Kind: models.EdgeCase}] = true
			}
		}
		if s.Action.Default != "" {
			set[models.DiffEdge{From: s.ID, To: s.Action.Default, Kind: models.EdgeCase}] = true
		}
	}
	return set
}

// topLevel is the definition as a JSON object without what Diff reports
// elsewhere (steps) or ignores (version).
func topLevel(d models.Definition) map[string]any {
	d.Steps, d.Version = nil, ""
	m := toMap(d)
	delete(m, "steps")
	return m
}

// stepMap is a step as a JSON object without its layout, with its
// dependencies in a canonical order.
func stepMap(s *models.Step) map[string]any {
	c := *s
	c.Position = nil
	c.Dependencies = slices.Sorted(slices.Values(s.Dependencies))
	return toMap(c)
}

// toMap turns v into its JSON object, the form the spec and the API compare
// by: field names as users write them, omitted empties equal to absent
// ones. A value that cannot be encoded (never a parsed definition) is
// compared by its Go syntax instead.
func toMap(v any) map[string]any {
	b, err := json.Marshal(v)
	if err == nil {
		var m map[string]any
		if err = json.Unmarshal(b, &m); err == nil {
			return m
		}
	}
	return map[string]any{"": fmt.Sprintf("%#v", v)}
}

// changedKeys lists the keys whose values differ, sorted.
func changedKeys(a, b map[string]any) []string {
	out := []string{}
	for _, k := range unionKeys(a, b) {
		if !reflect.DeepEqual(a[k], b[k]) {
			out = append(out, k)
		}
	}
	return out
}

// changedPaths lists the dotted paths of the leaves that differ, descending
// into objects on both sides; lists and scalars are leaves.
func changedPaths(prefix string, a, b map[string]any) []string {
	var out []string
	for _, k := range unionKeys(a, b) {
		va, vb := a[k], b[k]
		ma, aok := va.(map[string]any)
		mb, bok := vb.(map[string]any)
		switch {
		case aok && bok:
			out = append(out, changedPaths(prefix+k+".", ma, mb)...)
		case !reflect.DeepEqual(va, vb):
			out = append(out, prefix+k)
		}
	}
	return out
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}
