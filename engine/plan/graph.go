package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/baton-run/baton/models"
)

// The graph: parallel groups, edges with their trigger rules, and cycles.
func (c *compiler) compileGroups(def *models.Definition, p *Plan) {
	inGroup := map[string]string{}
	for i := range def.ParallelGroups {
		g := &def.ParallelGroups[i]
		g.Steps = slices.Clone(g.Steps)
		path := fmt.Sprintf("parallelGroups[%d]", i)
		switch {
		case g.ID == "":
			c.add(path+".id", "required")
		case !groupIDPattern.MatchString(g.ID):
			c.addf(path+".id", "%q is not a valid group id: use %s", g.ID, groupIDRule)
		default:
			if _, dup := p.Groups[g.ID]; dup {
				c.addf(path+".id", "duplicate group id %q", g.ID)
			} else {
				p.Groups[g.ID] = g
			}
		}
		if g.MaxConcurrency < 0 {
			c.add(path+".maxConcurrency", "must be 0 (no cap) or more")
		}
		if len(g.Steps) == 0 {
			c.add(path+".steps", "at least one step is required")
		}
		for j, id := range g.Steps {
			sp := fmt.Sprintf("%s.steps[%d]", path, j)
			if !c.ref(id, sp, "") {
				continue
			}
			if other, dup := inGroup[id]; dup {
				c.addf(sp, "step %q is already in group %q; a step belongs to one group at most", id, other)
				continue
			}
			inGroup[id] = g.ID
			if ps, ok := p.byID[id]; ok {
				ps.Group = g.ID
			}
		}
	}
}

// link builds the edges of the graph and reports cycles.
func (c *compiler) link(p *Plan) {
	addEdge := func(e Edge) {
		from, ok1 := p.byID[e.From]
		to, ok2 := p.byID[e.To]
		if !ok1 || !ok2 || e.From == e.To {
			return // reported already
		}
		from.Out = append(from.Out, e)
		to.In = append(to.In, e)
	}
	for _, ps := range p.Steps {
		st := &ps.Step
		if p.byID[st.ID] != ps {
			continue // a duplicate id: reported, and not part of the graph
		}
		seen := map[string]bool{}
		for _, dep := range st.Dependencies {
			if !seen[dep] {
				seen[dep] = true
				addEdge(Edge{From: dep, To: st.ID, Kind: EdgeDependency})
			}
		}
		for _, to := range st.OnSuccess {
			addEdge(Edge{From: st.ID, To: to, Kind: EdgeOnSuccess})
		}
		for _, to := range st.OnFailure {
			addEdge(Edge{From: st.ID, To: to, Kind: EdgeOnFailure})
		}
		if st.Type == models.StepCondition {
			for j, cs := range st.Action.Cases {
				addEdge(Edge{From: st.ID, To: cs.Next, Kind: EdgeCase, Case: j})
			}
			if len(st.Action.Cases) > 0 && st.Action.Default != "" {
				addEdge(Edge{From: st.ID, To: st.Action.Default, Kind: EdgeCase, Case: -1})
			}
		}
	}
	c.findCycles(p)
}

// findCycles reports one cycle per strongly connected component of the
// graph (Tarjan's algorithm), naming its steps in order.
func (c *compiler) findCycles(p *Plan) {
	n := len(p.Steps)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	for i := range index {
		index[i] = -1
	}
	var stack []int
	next := 0
	var comps [][]int
	var strong func(v int)
	strong = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, e := range p.Steps[v].Out {
			w := p.byID[e.To].Index
			if index[w] < 0 {
				strong(w)
				low[v] = min(low[v], low[w])
			} else if onStack[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var comp []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				comp = append(comp, w)
				if w == v {
					break
				}
			}
			if len(comp) > 1 {
				comps = append(comps, comp)
			}
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 && p.byID[p.Steps[v].Step.ID] == p.Steps[v] {
			strong(v)
		}
	}
	slices.SortFunc(comps, func(a, b []int) int { return slices.Min(a) - slices.Min(b) })
	for _, comp := range comps {
		in := make(map[int]bool, len(comp))
		for _, v := range comp {
			in[v] = true
		}
		start := slices.Min(comp)
		cycle := shortestCycle(p, start, in)
		names := make([]string, len(cycle)+1)
		for i, v := range cycle {
			names[i] = p.Steps[v].Step.ID
		}
		names[len(cycle)] = p.Steps[start].Step.ID
		c.addf(fmt.Sprintf("steps[%d]", start), "the steps form a cycle: %s", strings.Join(names, " → "))
	}
}

// shortestCycle finds the shortest path from start back to start within the
// component, by breadth-first search.
func shortestCycle(p *Plan, start int, in map[int]bool) []int {
	parent := map[int]int{start: -1}
	queue := []int{start}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		for _, e := range p.Steps[v].Out {
			w := p.byID[e.To].Index
			if w == start {
				var path []int
				for x := v; x != -1; x = parent[x] {
					path = append(path, x)
				}
				slices.Reverse(path)
				return path
			}
			if _, seen := parent[w]; !seen && in[w] {
				parent[w] = v
				queue = append(queue, w)
			}
		}
	}
	return []int{start}
}
