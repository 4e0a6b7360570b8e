// Package replay answers a reviewer's question about a new version of a
// workflow: on a run that really happened, what would this version do
// differently? It replays one recorded run (its inputs and every step's
// recorded input, output and decision) through the new version's compiled
// plan, without executing anything.
//
// No side effects by construction: the package imports only the standard
// library, models and engine/plan (depguard's rule replay-is-pure in
// .golangci.yaml keeps it so). It has no action registry, no HTTP client,
// no device hub, no timer and no store; a replay is a pure function of
// (plan, recorded run). A step that would have to run for real is only
// listed, with the input it would receive.
//
// The rules (docs/user-guide.md#evidence explains them to users):
//   - a command step whose action is unchanged (same type and action in
//     both definitions) and whose input, rendered now with the recorded
//     upstream outputs, equals the input the run recorded (canonical JSON)
//     reuses the recorded outcome and output, so the steps after it see real
//     data;
//   - conditions, decision tables, `when` guards and trigger rules are
//     evaluated on that data; a condition that decides differently is a
//     decision change;
//   - a `set` step that cannot be reused is evaluated: its output is its
//     rendered values, which is all the set action does;
//   - any other step that is new, whose action changed, whose rendered input
//     differs, or that did not run in the recording would execute: it is
//     listed with its rendered input, and its output is unknown. For the
//     path, such a step is taken to succeed (its onFailure handlers are
//     unknown), so the run's outcome is unknown;
//   - anything that reads an unknown value is unknown: a condition on it is
//     undecided, and the steps behind an undecided edge are unknown too;
//   - inputs the new version requires that the run did not have (or that no
//     longer fit) refuse the run.
//
// Subworkflow, wait and forEach steps record no comparable input (a child
// run's id, a timer, per-element attempts): they are reused only when their
// definition is unchanged, the run's inputs are the same and every step they
// read or follow behaved as recorded; otherwise they would execute.
package replay

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/models"
)

// Replayer replays recorded runs through one compiled plan. It holds what
// is worth computing once per plan (the steps each field reads); it is
// read-only after New, so one Replayer may serve several goroutines.
type Replayer struct {
	p       *plan.Plan
	version int
	reads   []stepReads // by step index
}

// stepReads are the steps one step's fields read, by id; dynamic is set
// when a field reads `steps` in a way that cannot be resolved statically
// (then it depends on every step).
type stepReads struct {
	when, body []string
	dynWhen    bool
	dynBody    bool
	action     []byte // the step's action as canonical JSON, for "action changed"
}

// stepRef finds the steps a text reads: steps.<id> or steps["<id>"].
var (
	stepRef  = regexp.MustCompile(`steps(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*["']([^"']+)["']\s*\])`)
	stepsAny = regexp.MustCompile(`\bsteps\b`)
)

// refs lists the step ids src reads, and whether it also reads steps
// dynamically (steps[expr], or steps as a whole).
func refs(src string) ([]string, bool) {
	ms := stepRef.FindAllStringSubmatch(src, -1)
	var out []string
	for _, m := range ms {
		if id := m[1] + m[2]; !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out, len(stepsAny.FindAllStringIndex(src, -1)) > len(ms)
}

// New prepares the replay of runs through p, the plan of version number
// version (what run.version renders as).
func New(p *plan.Plan, version int) *Replayer {
	r := &Replayer{p: p, version: version, reads: make([]stepReads, len(p.Steps))}
	for i, ps := range p.Steps {
		rd := &r.reads[i]
		if ps.When != nil {
			rd.when, rd.dynWhen = refs(ps.When.Source())
		}
		var src bytes.Buffer
		switch {
		case ps.Condition != nil:
			src.WriteString(ps.Condition.Source())
		case len(ps.Cases) > 0:
			for _, c := range ps.Cases {
				src.WriteString(c.Source())
				src.WriteByte('\n')
			}
		}
		if ps.ForEach != nil {
			src.WriteString(ps.ForEach.Source())
		}
		rd.action = canonical(ps.Step.Action)
		src.Write(rd.action)
		rd.body, rd.dynBody = refs(src.String())
	}
	return r
}

// recorded is one step's outcome in the recording: its latest attempt.
type recorded struct {
	status   models.StepStatus
	output   any
	err      *models.StepError
	reason   string
	attempts int
	order    int
	input    any
	hasInput bool
}

// ran reports whether the step ran (settled with an outcome): an attempt
// of its own, or the outcome a rerun carried over from the earlier run
// (no attempt, no input here).
func (r *recorded) ran() bool {
	if r == nil || (r.attempts == 0 && r.reason != models.ReasonCarriedOver) {
		return false
	}
	switch r.status {
	case models.StepSucceeded, models.StepFailed, models.StepTimedOut, models.StepCompensated:
		return true
	}
	return false
}

func (r *recorded) succeeded() bool {
	return r.status == models.StepSucceeded || r.status == models.StepCompensated
}

// fate is how a step settles in the replay.
type fate int

const (
	fatePending   fate = iota
	fateSkipped        // will not run (trigger rule, guard, run failing)
	fateReused         // runs as recorded: recorded outcome and output
	fateEvaluated      // a condition, evaluated on known data; or a failure the replay can tell (an expression error)
	fateExecute        // would run for real: output unknown, taken to succeed
	fateUnknown        // depends on a value the replay cannot know
)

type edgeState int

const (
	edgePending edgeState = iota
	edgeOK
	edgeFailed
	edgeSkipped
	edgeUnknown
)

type stepState struct {
	ps      *plan.PlanStep
	rec     *recorded
	in      []edgeState
	settled int
	fate    fate
	status  models.StepStatus // for reused and evaluated steps
	// same: the step behaved exactly as recorded (a reused step, a
	// condition with the same decision, a step skipped as it was).
	same      bool
	condRes   *bool
	caseIdx   int
	next      string
	decided   bool
	errorCode string
}

// Replay replays one recorded run. It never fails: what it cannot decide it
// reports as unknown.
func (r *Replayer) Replay(snap *models.RunSnapshot) models.RunEvidence {
	run := snap.Run
	ev := models.RunEvidence{RunID: run.ID, Version: run.Version,
		DecisionsChanged: []models.DecisionChange{}, WouldExecute: []string{}, Unknown: []string{},
		MissingInputs: []string{}, Outcome: models.EvidenceOutcome{Was: string(run.Status)}}

	inputs, err := r.p.CheckInputs(run.Inputs)
	if err != nil {
		for _, p := range models.ErrorDetails(err) {
			ev.MissingInputs = append(ev.MissingInputs, p.Path+": "+p.Message)
		}
		if len(ev.MissingInputs) == 0 {
			ev.MissingInputs = append(ev.MissingInputs, err.Error())
		}
		ev.Outcome.Now = models.OutcomeFailed
		return ev
	}
	inputsSame := bytes.Equal(canonical(inputs), canonical(run.Inputs))

	var old models.Definition
	_ = json.Unmarshal(run.Definition, &old) // a run's definition is canonical JSON; unreadable means "every step changed"
	oldSteps := make(map[string]*models.Step, len(old.Steps))
	for i := range old.Steps {
		oldSteps[old.Steps[i].ID] = &old.Steps[i]
	}
	recs := recordedSteps(snap.StepRuns)

	started := ""
	if run.StartedAt != nil {
		started = run.StartedAt.UTC().Format(time.RFC3339Nano)
	}
	scope := plan.NewScope(r.p, plan.RunInfo{ID: run.ID, Template: run.Template, Version: r.version, StartedAt: started}, inputs)

	st := make([]*stepState, len(r.p.Steps))
	byID := make(map[string]*stepState, len(st))
	for i, ps := range r.p.Steps {
		s := &stepState{ps: ps, rec: recs[ps.Step.ID], in: make([]edgeState, len(ps.In)), caseIdx: -1}
		st[i] = s
		byID[ps.Step.ID] = s
	}
	unknownIDs := map[string]bool{} // steps whose value expressions cannot know
	anyUnknown := false
	readsUnknown := func(ids []string, dynamic bool) bool {
		if dynamic && anyUnknown {
			return true
		}
		for _, id := range ids {
			if unknownIDs[id] {
				return true
			}
		}
		return false
	}
	strategy := models.StrategyFail
	if eh := r.p.Definition.ErrorHandling; eh != nil {
		strategy = eh.Strategy
	}
	failing, runError := false, false

	// Steps are decided when all their incoming edges have settled, in the
	// order the recording started them (then definition order), so that a
	// failure is applied to the steps the run had not yet reached.
	q := &readyQueue{}
	for _, s := range st {
		if len(s.in) == 0 {
			heap.Push(q, s)
		}
	}
	settle := func(s *stepState) {
		for _, e := range s.ps.Out {
			t := byID[e.To]
			if t == nil {
				continue
			}
			for i, in := range t.ps.In {
				if in.From == e.From && in.Kind == e.Kind && in.Case == e.Case && t.in[i] == edgePending {
					t.in[i] = edgeOutcome(s, e)
					t.settled++
					break
				}
			}
			if t.settled == len(t.in) && !t.decided {
				t.decided = true
				heap.Push(q, t)
			}
		}
	}
	markUnknown := func(s *stepState) {
		s.fate = fateUnknown
		unknownIDs[s.ps.Step.ID] = true
		anyUnknown = true
		ev.Unknown = append(ev.Unknown, s.ps.Step.ID)
	}
	execute := func(s *stepState, input any) {
		s.fate = fateExecute
		unknownIDs[s.ps.Step.ID] = true
		anyUnknown = true
		ev.WouldExecute = append(ev.WouldExecute, s.ps.Step.ID)
		if input != nil {
			if ev.Inputs == nil {
				ev.Inputs = map[string]any{}
			}
			ev.Inputs[s.ps.Step.ID] = input
		}
	}
	fail := func(s *stepState, code, msg string) {
		s.fate, s.status, s.errorCode = fateEvaluated, models.StepFailed, code
		scope.SetStep(s.ps.Step.ID, plan.StepResult{Status: models.StepFailed, Attempts: 1,
			Error: map[string]any{"code": code, "message": msg}})
	}

	for q.Len() > 0 {
		s := heap.Pop(q).(*stepState)
		s.decided = true
		id, rd := s.ps.Step.ID, &r.reads[s.ps.Index]
		switch run, ok := triggerRule(s); {
		case failing && s.ps.Step.Trigger != models.TriggerAllDone:
			s.fate = fateSkipped
		case !ok:
			markUnknown(s)
		case !run:
			s.fate = fateSkipped
		case s.ps.When != nil && readsUnknown(rd.when, rd.dynWhen):
			markUnknown(s)
		default:
			if s.ps.When != nil {
				b, err := s.ps.When.Bool(scope)
				if err != nil {
					fail(s, "expression", err.Error())
					break
				}
				if !b {
					s.fate = fateSkipped
					break
				}
			}
			r.runStep(s, oldSteps[id], scope, inputsSame, byID, readsUnknown, markUnknown, execute, fail)
		}
		if s.fate == fateSkipped {
			scope.SetStep(id, plan.StepResult{Status: models.StepSkipped})
			s.same = s.rec != nil && !s.rec.ran()
		}
		if s.fate == fateEvaluated || s.fate == fateReused {
			if s.status == models.StepFailed || s.status == models.StepTimedOut {
				if len(s.ps.Step.OnFailure) == 0 || s.ps.Step.Type == models.StepCondition {
					runError = true
					if strategy != models.StrategyContinue {
						failing = true
					}
				}
			}
		}
		settle(s)
	}

	// Unknown steps in definition order: the order they were reached in
	// says nothing, as none of them runs for sure.
	slices.SortFunc(ev.Unknown, func(a, b string) int { return byID[a].ps.Index - byID[b].ps.Index })

	// The path: which steps run, against the recording.
	for _, s := range st {
		was := s.rec.ran() || (s.rec != nil && s.rec.status == models.StepCancelled && s.rec.attempts > 0)
		switch s.fate {
		case fateUnknown, fatePending:
			continue
		case fateSkipped:
			if was {
				ev.PathChanged = true
			}
		default:
			if !was {
				ev.PathChanged = true
			}
		}
		if s.ps.Step.Type == models.StepCondition && s.fate == fateEvaluated {
			was, now := decisionOf(s.rec), s.decision()
			if was != now && was != "skipped" {
				ev.DecisionsChanged = append(ev.DecisionsChanged, models.DecisionChange{StepID: s.ps.Step.ID, Was: was, Now: now})
			}
		}
	}
	for id, rec := range recs {
		if _, ok := byID[id]; !ok && rec.ran() {
			ev.PathChanged = true // a step that ran is gone
		}
	}

	switch {
	case runError:
		ev.Outcome.Now = models.OutcomeFailed
	case len(ev.WouldExecute) > 0 || len(ev.Unknown) > 0:
		ev.Outcome.Now = models.OutcomeUnknown
	default:
		ev.Outcome.Now = models.OutcomeSucceeded
		for _, t := range r.p.Outputs {
			if _, err := t.Render(scope); err != nil {
				ev.Outcome.Now = models.OutcomeFailed
				break
			}
		}
	}
	return ev
}

// runStep settles a step that the trigger rule and its guard let run.
func (r *Replayer) runStep(s *stepState, old *models.Step, scope *plan.Scope, inputsSame bool, byID map[string]*stepState,
	readsUnknown func([]string, bool) bool, markUnknown func(*stepState), execute func(*stepState, any), fail func(*stepState, string, string)) {
	ps, rd := s.ps, &r.reads[s.ps.Index]
	if readsUnknown(rd.body, rd.dynBody) {
		if ps.Step.Type == models.StepCondition {
			markUnknown(s) // undecided
			return
		}
		// What it would be given cannot be rendered: it would run, with
		// an input the replay cannot tell.
		execute(s, nil)
		return
	}
	changed := old == nil || old.Type != ps.Step.Type || !bytes.Equal(canonical(old.Action), rd.action)
	switch {
	case ps.Step.Type == models.StepCondition:
		r.evalCondition(s, scope, fail)
		return
	case ps.Action != nil && ps.Step.Action.Kind != models.KindSubworkflow && (!s.rec.ran() || s.rec.hasInput):
		// (A step that ran without a recorded input, carried over by a
		// rerun, is judged like the steps below.)
		act, err := ps.Action.Render(scope)
		if err != nil {
			// The engine fails the step before calling anything.
			fail(s, "expression", err.Error())
			return
		}
		input := normalise(act)
		if !changed && s.rec.ran() && s.rec.hasInput && bytes.Equal(canonical(input), canonical(s.rec.input)) {
			r.reuse(s, scope)
			return
		}
		if ps.Step.Action.Kind == models.KindSet {
			// A set step acts on nothing: its output is its rendered
			// values (what the set action returns), so it is evaluated
			// rather than listed as would-execute.
			out := input.(map[string]any)["values"]
			if out == nil {
				out = map[string]any{}
			}
			s.fate, s.status = fateEvaluated, models.StepSucceeded
			s.same = s.rec.ran() && s.rec.succeeded() && bytes.Equal(canonical(out), canonical(s.rec.output))
			scope.SetStep(ps.Step.ID, plan.StepResult{Status: models.StepSucceeded, Output: out, Attempts: 1})
			return
		}
		execute(s, input)
		return
	}
	// Subworkflow, wait and forEach steps: no comparable recorded input.
	same := !changed && s.rec.ran() && inputsSame
	for _, e := range ps.In {
		if f := byID[e.From]; f != nil && !f.same {
			same = false
		}
	}
	for _, rid := range rd.body {
		if f := byID[rid]; f != nil && !f.same {
			same = false
		}
	}
	if same {
		r.reuse(s, scope)
		return
	}
	var input any
	if ps.Action != nil {
		if act, err := ps.Action.Render(scope); err == nil {
			input = normalise(act)
		}
	}
	execute(s, input)
}

// reuse settles s with its recorded outcome and output.
func (r *Replayer) reuse(s *stepState, scope *plan.Scope) {
	s.fate, s.status, s.same = fateReused, s.rec.status, true
	res := plan.StepResult{Status: s.rec.status, Output: s.rec.output, Attempts: s.rec.attempts}
	if s.rec.err != nil {
		res.Error = map[string]any{"code": s.rec.err.Code, "message": s.rec.err.Message}
	}
	scope.SetStep(s.ps.Step.ID, res)
}

// evalCondition decides a condition step on known data.
func (r *Replayer) evalCondition(s *stepState, scope *plan.Scope, fail func(*stepState, string, string)) {
	ps := s.ps
	s.fate, s.status = fateEvaluated, models.StepSucceeded
	var out map[string]any
	if ps.Condition != nil {
		b, err := ps.Condition.Bool(scope)
		if err != nil {
			fail(s, "expression", err.Error())
			return
		}
		s.condRes = &b
		out = map[string]any{"result": b}
	} else {
		for i, c := range ps.Cases {
			b, err := c.Bool(scope)
			if err != nil {
				fail(s, "expression", err.Error())
				return
			}
			if b {
				s.caseIdx = i
				break
			}
		}
		s.next = ps.Step.Action.Default
		if s.caseIdx >= 0 {
			s.next = ps.Step.Action.Cases[s.caseIdx].Next
		}
		out = map[string]any{"case": s.caseIdx, "next": s.next}
	}
	s.same = decisionOf(s.rec) == s.decision()
	scope.SetStep(ps.Step.ID, plan.StepResult{Status: models.StepSucceeded, Output: out, Attempts: 1})
}

// decision is the replayed condition's decision, as DecisionChange shows it.
func (s *stepState) decision() string {
	switch {
	case s.status == models.StepFailed:
		return "error"
	case s.condRes != nil:
		return strconv.FormatBool(*s.condRes)
	}
	return s.next
}

// decisionOf is a recorded condition's decision.
func decisionOf(r *recorded) string {
	switch {
	case r == nil || !r.ran():
		return "skipped"
	case !r.succeeded():
		return "error"
	}
	out, _ := r.output.(map[string]any)
	if b, ok := out["result"].(bool); ok {
		return strconv.FormatBool(b)
	}
	next, _ := out["next"].(string)
	return next
}

// triggerRule applies the step's trigger rule to its settled edges. ok is
// false when an unknown edge could change the answer. The rules are
// monotonic in each edge, so trying every unknown edge as succeeded, as
// failed and as skipped finds whether the answer depends on them.
func triggerRule(s *stepState) (run, ok bool) {
	if len(s.in) == 0 {
		return true, true
	}
	rule := func(unknownAs edgeState) bool {
		var okN, failed int
		for _, e := range s.in {
			if e == edgeUnknown {
				e = unknownAs
			}
			switch e {
			case edgeOK:
				okN++
			case edgeFailed:
				failed++
			}
		}
		switch s.ps.Step.Trigger {
		case models.TriggerAllDone:
			return true
		case models.TriggerAllSuccess:
			return okN == len(s.in)
		default: // none_failed
			return failed == 0 && okN > 0
		}
	}
	a, b, c := rule(edgeOK), rule(edgeFailed), rule(edgeSkipped)
	return a, a == b && b == c
}

// edgeOutcome is how edge e from the settled step s settles (the engine's
// rule, with unknown for what the replay cannot know).
func edgeOutcome(s *stepState, e plan.Edge) edgeState {
	switch s.fate {
	case fateUnknown:
		return edgeUnknown
	case fateSkipped:
		return edgeSkipped
	case fateExecute:
		// Taken to succeed; whether it would fail cannot be known.
		if e.Kind == plan.EdgeOnFailure {
			return edgeUnknown
		}
		if s.ps.Step.Type == models.StepCondition {
			return edgeUnknown
		}
		return edgeOK
	}
	succeeded := s.status == models.StepSucceeded || s.status == models.StepCompensated
	failed := s.status == models.StepFailed || s.status == models.StepTimedOut
	isCond := s.ps.Step.Type == models.StepCondition
	switch e.Kind {
	case plan.EdgeOnSuccess:
		if succeeded && (!isCond || (s.condRes != nil && *s.condRes)) {
			return edgeOK
		}
		return edgeSkipped
	case plan.EdgeOnFailure:
		if isCond {
			if succeeded && s.condRes != nil && !*s.condRes {
				return edgeOK
			}
			return edgeSkipped
		}
		if failed {
			return edgeOK
		}
		return edgeSkipped
	case plan.EdgeCase:
		if succeeded && s.caseIdx == e.Case {
			return edgeOK
		}
		return edgeSkipped
	}
	switch {
	case succeeded:
		return edgeOK
	case failed:
		return edgeFailed
	}
	return edgeSkipped
}

// recordedSteps takes each step's latest attempt (not its compensation, not
// a forEach element's) from the stored attempts.
func recordedSteps(rows []models.StepRunRow) map[string]*recorded {
	out := map[string]*recorded{}
	for i := range rows {
		row := &rows[i]
		if row.Item >= 0 || row.Compensation {
			continue
		}
		r := out[row.StepID]
		if r == nil {
			r = &recorded{}
			out[row.StepID] = r
		}
		if row.Attempt >= r.attempts {
			r.status, r.output, r.err, r.reason, r.attempts = row.Status, row.Output, row.Error, row.Reason, row.Attempt
			r.input, r.hasInput = row.Input, row.Input != nil
			if row.Order > 0 {
				r.order = row.Order
			}
		}
		if row.Status == models.StepCompensated {
			r.status = models.StepCompensated
		}
	}
	return out
}

// canonical is v as canonical JSON: through a generic value, so map keys
// are sorted and a struct and the map it was stored as compare equal.
func canonical(v any) []byte {
	b, err := json.Marshal(normalise(v))
	if err != nil {
		return nil
	}
	return b
}

// normalise is v as encoding/json would read it back (maps, slices,
// float64), which is how the store gives recorded values.
func normalise(v any) any {
	if raw, ok := v.(models.EncodedJSON); ok {
		v = json.RawMessage(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil
	}
	return out
}

// readyQueue orders steps ready to be decided: recorded start order first
// (steps that never started last), then definition order.
type readyQueue []*stepState

func (q readyQueue) Len() int { return len(q) }
func (q readyQueue) Less(i, j int) bool {
	oi, oj := orderOf(q[i]), orderOf(q[j])
	if oi != oj {
		return oi < oj
	}
	return q[i].ps.Index < q[j].ps.Index
}
func (q readyQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *readyQueue) Push(x any)   { *q = append(*q, x.(*stepState)) }
func (q *readyQueue) Pop() any {
	old := *q
	s := old[len(old)-1]
	*q = old[:len(old)-1]
	return s
}

func orderOf(s *stepState) int {
	if s.rec != nil && s.rec.order > 0 {
		return s.rec.order
	}
	return 1 << 30
}
