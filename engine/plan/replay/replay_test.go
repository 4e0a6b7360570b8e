package replay_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/engine/plan/replay"
	"github.com/baton-run/baton/models"
)

// def parses a definition written as JSON.
func def(t *testing.T, src string) models.Definition {
	t.Helper()
	var d models.Definition
	if err := json.Unmarshal([]byte(src), &d); err != nil {
		t.Fatalf("definition: %v", err)
	}
	return d
}

func compile(t *testing.T, d models.Definition) *plan.Plan {
	t.Helper()
	p, err := plan.Compile(d)
	if err != nil {
		t.Fatalf("compile: %v (%v)", err, models.ErrorDetails(err))
	}
	return p
}

// outcome is what a step did in a recorded run.
type outcome struct {
	status models.StepStatus
	output any
}

// record makes the stored snapshot of a run of d: each step with an outcome
// ran (its input rendered the way the engine renders it, from the outcomes
// of the steps before it), the others were skipped. Steps start in
// definition order.
func record(t *testing.T, d models.Definition, id string, inputs map[string]any, outs map[string]outcome) *models.RunSnapshot {
	t.Helper()
	p := compile(t, d)
	in, err := p.CheckInputs(inputs)
	if err != nil {
		t.Fatalf("inputs: %v", err)
	}
	canon, err := p.Canonical()
	if err != nil {
		t.Fatal(err)
	}
	scope := plan.NewScope(p, plan.RunInfo{ID: id, Template: "orders", Version: 1}, in)
	snap := &models.RunSnapshot{Run: models.RunRow{Run: models.Run{ID: id, Template: "orders", Version: 1,
		Status: models.RunSucceeded, Inputs: in}, Definition: canon}}
	order := 0
	for _, ps := range p.Steps {
		o, ok := outs[ps.Step.ID]
		row := models.StepRunRow{StepRun: models.StepRun{RunID: id, StepID: ps.Step.ID}, Item: -1}
		if !ok {
			row.Status, row.Reason = models.StepSkipped, models.ReasonBranchNotTaken
			scope.SetStep(ps.Step.ID, plan.StepResult{Status: models.StepSkipped})
		} else {
			order++
			row.Attempt, row.Order, row.Status, row.Output = 1, order, o.status, o.output
			if ps.Action != nil {
				act, err := ps.Action.Render(scope)
				if err != nil {
					t.Fatalf("render %s: %v", ps.Step.ID, err)
				}
				b, _ := json.Marshal(act)
				var v any
				_ = json.Unmarshal(b, &v)
				row.Input = v
			}
			if o.status == models.StepFailed {
				row.Error = &models.StepError{Code: "http_status", Message: "500"}
				snap.Run.Status = models.RunFailed
			}
			res := plan.StepResult{Status: o.status, Output: o.output, Attempts: 1}
			if row.Error != nil {
				res.Error = map[string]any{"code": row.Error.Code, "message": row.Error.Message}
			}
			scope.SetStep(ps.Step.ID, res)
		}
		snap.StepRuns = append(snap.StepRuns, row)
	}
	return snap
}

// base is the version in production: fetch an order over HTTP, decide on
// its total, then ship it or hold it for review.
const base = `{"id":"orders","name":"Orders",
 "inputs":{"id":{"type":"string","required":true}},
 "steps":[
  {"id":"fetch","type":"command","action":{"kind":"http","method":"GET","url":"https://shop.example/orders/{{ inputs.id }}"}},
  {"id":"big","type":"condition","dependencies":["fetch"],"action":{"expression":"steps.fetch.output.body.total > 100"},
   "onSuccess":["hold"],"onFailure":["ship"]},
  {"id":"hold","type":"command","action":{"kind":"http","method":"POST","url":"https://shop.example/hold/{{ inputs.id }}"}},
  {"id":"ship","type":"command","action":{"kind":"http","method":"POST","url":"https://shop.example/ship/{{ inputs.id }}","body":{"total":"{{ steps.fetch.output.body.total }}"}}}
 ]}`

func fetched(total float64) outcome {
	return outcome{models.StepSucceeded, map[string]any{"status": 200.0, "body": map[string]any{"total": total}}}
}

var (
	ok      = outcome{models.StepSucceeded, map[string]any{"status": 200.0}}
	isFalse = outcome{models.StepSucceeded, map[string]any{"result": false}}
)

// smallOrder is a recorded run of base: total 40, so it shipped.
func smallOrder(t *testing.T) *models.RunSnapshot {
	return record(t, def(t, base), "r1", map[string]any{"id": "A1"},
		map[string]outcome{"fetch": fetched(40), "big": isFalse, "ship": ok})
}

func replayOn(t *testing.T, src string, snap *models.RunSnapshot) models.RunEvidence {
	t.Helper()
	return replay.New(compile(t, def(t, src)), 2).Replay(snap)
}

func TestUnchangedVersionReusesEveryStep(t *testing.T) {
	ev := replayOn(t, base, smallOrder(t))
	if ev.PathChanged || len(ev.DecisionsChanged) > 0 || len(ev.WouldExecute) > 0 || len(ev.Unknown) > 0 {
		t.Fatalf("the same definition changed something: %+v", ev)
	}
	if ev.Outcome != (models.EvidenceOutcome{Was: "succeeded", Now: "succeeded"}) {
		t.Fatalf("outcome = %+v", ev.Outcome)
	}
}

func TestUnchangedStepReusedAndDownstreamSeesItsOutput(t *testing.T) {
	// Only the hold step changes: fetch is reused, so the condition decides
	// on the recorded total (40: not big) and ship, unchanged, is reused.
	changed := replaceIn(t, base, `"https://shop.example/hold/{{ inputs.id }}"`, `"https://shop.example/hold2/{{ inputs.id }}"`)
	ev := replayOn(t, changed, smallOrder(t))
	if len(ev.WouldExecute) != 0 || ev.PathChanged || ev.Outcome.Now != models.OutcomeSucceeded {
		t.Fatalf("a change on a branch the run did not take changed it: %+v", ev)
	}
}

func TestChangedConditionFlipsThePath(t *testing.T) {
	changed := replaceIn(t, base, "total > 100", "total > 10")
	ev := replayOn(t, changed, smallOrder(t))
	want := []models.DecisionChange{{StepID: "big", Was: "false", Now: "true"}}
	if !reflect.DeepEqual(ev.DecisionsChanged, want) {
		t.Fatalf("decisions = %+v, want %+v", ev.DecisionsChanged, want)
	}
	if !ev.PathChanged {
		t.Fatal("path not changed")
	}
	// hold never ran in the recording: it would execute, with the input it
	// would get; ship is skipped now.
	if !slices.Equal(ev.WouldExecute, []string{"hold"}) {
		t.Fatalf("wouldExecute = %v", ev.WouldExecute)
	}
	in, _ := ev.Inputs["hold"].(map[string]any)
	if in["url"] != "https://shop.example/hold/A1" {
		t.Fatalf("hold's input = %v", ev.Inputs["hold"])
	}
	if ev.Outcome.Now != models.OutcomeUnknown {
		t.Fatalf("outcome = %+v", ev.Outcome)
	}
}

func TestDecisionTableCase(t *testing.T) {
	table := replaceIn(t, base, `"action":{"expression":"steps.fetch.output.body.total > 100"},
   "onSuccess":["hold"],"onFailure":["ship"]}`,
		`"action":{"cases":[{"when":"steps.fetch.output.body.total > 30","next":"hold"}],"default":"ship"}}`)
	ev := replayOn(t, table, smallOrder(t))
	want := []models.DecisionChange{{StepID: "big", Was: "false", Now: "hold"}}
	if !reflect.DeepEqual(ev.DecisionsChanged, want) || !ev.PathChanged {
		t.Fatalf("evidence = %+v", ev)
	}
}

func TestNewStepListedWithItsInput(t *testing.T) {
	added := replaceIn(t, base, "\n ]}", `,
  {"id":"notify","type":"command","dependencies":["ship"],"action":{"kind":"http","method":"POST","url":"https://chat.example/hook","body":{"text":"shipped {{ inputs.id }} for {{ steps.fetch.output.body.total }}"}}}
 ]}`)
	ev := replayOn(t, added, smallOrder(t))
	if !slices.Equal(ev.WouldExecute, []string{"notify"}) || !ev.PathChanged {
		t.Fatalf("evidence = %+v", ev)
	}
	in, _ := ev.Inputs["notify"].(map[string]any)
	body, _ := in["body"].(map[string]any)
	if body["text"] != "shipped A1 for 40" {
		t.Fatalf("notify's input = %v", ev.Inputs["notify"])
	}
	if len(ev.DecisionsChanged) != 0 || len(ev.Unknown) != 0 {
		t.Fatalf("evidence = %+v", ev)
	}
}

func TestChangedRenderedInputWouldExecute(t *testing.T) {
	changed := replaceIn(t, base, `"https://shop.example/orders/{{ inputs.id }}"`, `"https://shop.example/v2/orders/{{ inputs.id }}"`)
	ev := replayOn(t, changed, smallOrder(t))
	// fetch would call the new address: its output is unknown, so the
	// condition on it is undecided and both branches are unknown.
	if !slices.Equal(ev.WouldExecute, []string{"fetch"}) {
		t.Fatalf("wouldExecute = %v", ev.WouldExecute)
	}
	if !slices.Equal(ev.Unknown, []string{"big", "hold", "ship"}) {
		t.Fatalf("unknown = %v", ev.Unknown)
	}
	if ev.PathChanged || len(ev.DecisionsChanged) != 0 || ev.Outcome.Now != models.OutcomeUnknown {
		t.Fatalf("evidence = %+v", ev)
	}
}

func TestUnknownPropagates(t *testing.T) {
	// A new scoring call between fetch and the decision, which now reads
	// its output: the decision is undecided, the steps behind it unknown,
	// and a step after them (all_done) runs whatever happens.
	scored := `{"id":"orders","name":"Orders",
 "inputs":{"id":{"type":"string","required":true}},
 "steps":[
  {"id":"fetch","type":"command","action":{"kind":"http","method":"GET","url":"https://shop.example/orders/{{ inputs.id }}"}},
  {"id":"score","type":"command","dependencies":["fetch"],"action":{"kind":"http","method":"POST","url":"https://risk.example/score","body":{"total":"{{ steps.fetch.output.body.total }}"}}},
  {"id":"big","type":"condition","dependencies":["score"],"action":{"expression":"steps.score.output.body.risk > 0.5"},
   "onSuccess":["hold"],"onFailure":["ship"]},
  {"id":"hold","type":"command","action":{"kind":"http","method":"POST","url":"https://shop.example/hold/{{ inputs.id }}"}},
  {"id":"ship","type":"command","action":{"kind":"http","method":"POST","url":"https://shop.example/ship/{{ inputs.id }}","body":{"total":"{{ steps.fetch.output.body.total }}"}}},
  {"id":"audit","type":"command","dependencies":["hold","ship"],"trigger":"all_done","action":{"kind":"log","message":"done {{ inputs.id }}"}}
 ]}`
	ev := replayOn(t, scored, smallOrder(t))
	if !slices.Equal(ev.Unknown, []string{"big", "hold", "ship"}) {
		t.Fatalf("unknown = %v", ev.Unknown)
	}
	if !slices.Equal(ev.WouldExecute, []string{"score", "audit"}) {
		t.Fatalf("wouldExecute = %v", ev.WouldExecute)
	}
	in, _ := ev.Inputs["score"].(map[string]any)
	if body, _ := in["body"].(map[string]any); body["total"] != 40.0 {
		t.Fatalf("score's input = %v", ev.Inputs["score"])
	}
	if ev.Outcome.Now != models.OutcomeUnknown || len(ev.DecisionsChanged) != 0 {
		t.Fatalf("evidence = %+v", ev)
	}
}

func TestMissingInputRefusesTheRun(t *testing.T) {
	more := replaceIn(t, base, `"inputs":{"id":{"type":"string","required":true}}`,
		`"inputs":{"id":{"type":"string","required":true},"region":{"type":"string","required":true},"rush":{"type":"boolean","default":false}}`)
	ev := replayOn(t, more, smallOrder(t))
	if !slices.Equal(ev.MissingInputs, []string{"inputs.region: required (a string)"}) {
		t.Fatalf("missingInputs = %v", ev.MissingInputs)
	}
	if ev.Outcome.Now != models.OutcomeFailed || len(ev.WouldExecute) != 0 {
		t.Fatalf("evidence = %+v", ev)
	}
}

func TestRecordedFailureReusedTakesTheFailurePath(t *testing.T) {
	// fetch failed in the recording; the new version adds an onFailure
	// handler: the failure is reused, the handler would execute, and the
	// run no longer fails because of fetch.
	withHandler := replaceIn(t, base, `"url":"https://shop.example/orders/{{ inputs.id }}"}}`,
		`"url":"https://shop.example/orders/{{ inputs.id }}"},"onFailure":["page"]},
  {"id":"page","type":"command","action":{"kind":"http","method":"POST","url":"https://pager.example/{{ steps.fetch.error.code }}"}}`)
	snap := record(t, def(t, base), "r2", map[string]any{"id": "B2"},
		map[string]outcome{"fetch": {models.StepFailed, nil}})
	ev := replayOn(t, withHandler, snap)
	if !slices.Equal(ev.WouldExecute, []string{"page"}) || !ev.PathChanged {
		t.Fatalf("evidence = %+v", ev)
	}
	if in, _ := ev.Inputs["page"].(map[string]any); in["url"] != "https://pager.example/http_status" {
		t.Fatalf("page's input = %v", ev.Inputs["page"])
	}
	// The same definition on the same run: the failure is reused, the run
	// fails again, nothing would execute.
	same := replayOn(t, base, snap)
	if same.Outcome.Now != models.OutcomeFailed || len(same.WouldExecute) != 0 || same.PathChanged {
		t.Fatalf("evidence = %+v", same)
	}
}

func TestRemovedStepChangesThePath(t *testing.T) {
	removed := replaceIn(t, base, `,"body":{"total":"{{ steps.fetch.output.body.total }}"}}}`, `}}`)
	removed = replaceIn(t, removed, `"onSuccess":["hold"],"onFailure":["ship"]}`, `"onSuccess":["hold"]}`)
	removed = replaceIn(t, removed, `,
  {"id":"ship","type":"command","action":{"kind":"http","method":"POST","url":"https://shop.example/ship/{{ inputs.id }}"}}`, ``)
	ev := replayOn(t, removed, smallOrder(t))
	if !ev.PathChanged || len(ev.WouldExecute) != 0 {
		t.Fatalf("evidence = %+v", ev)
	}
}

func replaceIn(t *testing.T, s, old, new string) string {
	t.Helper()
	i := indexOf(s, old)
	if i < 0 {
		t.Fatalf("%q not in the definition", old)
	}
	return s[:i] + new + s[i+len(old):]
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// Steps without a comparable recorded input (waits, forEach, sub-workflows,
// steps a rerun carried over) are reused only when unchanged and when what
// they read and follow behaved as recorded.
func TestStepsWithoutRecordedInput(t *testing.T) {
	src := `{"id":"orders","name":"Orders",
 "inputs":{"id":{"type":"string","required":true}},
 "steps":[
  {"id":"fetch","type":"command","action":{"kind":"http","method":"GET","url":"https://shop.example/orders/{{ inputs.id }}"}},
  {"id":"pause","type":"wait","dependencies":["fetch"],"action":{"duration":"1m"}},
  {"id":"each","type":"parallel","dependencies":["pause"],"action":{"forEach":"[1, 2]","step":{"kind":"http","method":"POST","url":"https://shop.example/line/{{ item }}"}}}
 ]}`
	snap := record(t, def(t, src), "r3", map[string]any{"id": "C3"},
		map[string]outcome{"fetch": fetched(10), "pause": {models.StepSucceeded, nil}, "each": {models.StepSucceeded, map[string]any{"succeeded": 2.0}}})
	if ev := replayOn(t, src, snap); len(ev.WouldExecute) != 0 || ev.PathChanged || ev.Outcome.Now != models.OutcomeSucceeded {
		t.Fatalf("unchanged wait and forEach: %+v", ev)
	}
	// fetch now calls another address: the wait and the forEach after it
	// follow a step that no longer behaves as recorded.
	changed := replaceIn(t, src, "https://shop.example/orders/", "https://shop.example/v2/orders/")
	if ev := replayOn(t, changed, snap); !slices.Equal(ev.WouldExecute, []string{"fetch", "pause", "each"}) {
		t.Fatalf("wouldExecute = %v", ev.WouldExecute)
	}
	// A forEach whose element action changed would execute; the wait before
	// it is reused.
	items := replaceIn(t, src, "https://shop.example/line/", "https://shop.example/lines/")
	if ev := replayOn(t, items, snap); !slices.Equal(ev.WouldExecute, []string{"each"}) {
		t.Fatalf("wouldExecute = %v", ev.WouldExecute)
	}

	// A rerun carried fetch over from the earlier run: no attempt and no
	// input here, but its outcome and output are the run's data.
	for i := range snap.StepRuns {
		if r := &snap.StepRuns[i]; r.StepID == "fetch" {
			r.Attempt, r.Input, r.Reason, r.Order = 0, nil, models.ReasonCarriedOver, 0
		}
	}
	if ev := replayOn(t, src, snap); len(ev.WouldExecute) != 0 || ev.PathChanged {
		t.Fatalf("carried-over step: %+v", ev)
	}
}
