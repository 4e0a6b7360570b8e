package engine_test

import (
	"strings"
	"testing"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// scenario is one rule of the spec: a definition (with {{URL}} standing for
// the test server), the run's expected status, and each step's expected
// status (and reason).
type scenario struct {
	name   string
	def    string
	inputs map[string]any
	status models.RunStatus
	steps  map[string]string
	check  func(t *testing.T, run models.Run, srv *server)
}

var rules = []scenario{
	{
		name: "if else join runs after the branch taken",
		def: `
id: ifelse
name: if else
inputs: {amount: {type: number, default: 5}}
steps:
  - {id: big, type: condition, action: {expression: "inputs.amount > 10"}, onSuccess: review, onFailure: auto}
  - {id: review, type: command, action: {kind: log, message: review}}
  - {id: auto, type: command, action: {kind: set, values: {by: rule}}}
  - {id: join, type: command, dependencies: [review, auto], action: {kind: log, message: joined}}
outputs: {by: "{{ steps.auto.output.by }}"}
`,
		status: models.RunSucceeded,
		steps: map[string]string{"big": "succeeded", "review": "skipped/branch_not_taken",
			"auto": "succeeded", "join": "succeeded"},
		check: func(t *testing.T, run models.Run, _ *server) {
			if run.Outputs["by"] != "rule" {
				t.Errorf("outputs = %v; want by=rule", run.Outputs)
			}
			if out := step(t, run, "big").Output.(map[string]any); out["result"] != false {
				t.Errorf("condition output = %v; want result false", out)
			}
		},
	},
	{
		name: "decision table takes the first true case and skips the others",
		def: `
id: cases
name: cases
inputs: {n: {type: integer, default: 7}}
steps:
  - id: pick
    type: condition
    action:
      cases:
        - {when: "inputs.n < 5", next: small}
        - {when: "inputs.n < 10", next: medium}
        - {when: "inputs.n < 100", next: large}
      default: huge
  - {id: small, type: command, action: {kind: log, message: s}}
  - {id: medium, type: command, action: {kind: log, message: m}}
  - {id: large, type: command, action: {kind: log, message: l}}
  - {id: huge, type: command, action: {kind: log, message: h}}
`,
		status: models.RunSucceeded,
		steps: map[string]string{"small": "skipped/branch_not_taken", "medium": "succeeded",
			"large": "skipped/branch_not_taken", "huge": "skipped/branch_not_taken"},
		check: func(t *testing.T, run models.Run, _ *server) {
			out := step(t, run, "pick").Output.(map[string]any)
			if out["next"] != "medium" || out["case"] != float64(1) && out["case"] != 1 {
				t.Errorf("pick output = %v; want case 1, next medium", out)
			}
		},
	},
	{
		name: "decision table default when no case is true",
		def: `
id: cases-default
name: cases
steps:
  - id: pick
    type: condition
    action: {cases: [{when: "false", next: a}], default: b}
  - {id: a, type: command, action: {kind: log, message: a}}
  - {id: b, type: command, action: {kind: log, message: b}}
`,
		status: models.RunSucceeded,
		steps:  map[string]string{"a": "skipped/branch_not_taken", "b": "succeeded"},
	},
	{
		name: "guard false skips the step and its dependents run on none_failed only if another edge is ok",
		def: `
id: guard
name: guard
steps:
  - {id: a, type: command, when: "1 > 2", action: {kind: log, message: a}}
  - {id: b, type: command, dependencies: [a], action: {kind: log, message: b}}
  - {id: c, type: command, action: {kind: log, message: c}}
  - {id: d, type: command, dependencies: [a, c], action: {kind: log, message: d}}
`,
		status: models.RunSucceeded,
		steps: map[string]string{"a": "skipped/guard_false", "b": "skipped/branch_not_taken",
			"c": "succeeded", "d": "succeeded"},
	},
	{
		name: "all_success is skipped when an edge was skipped; all_done runs anyway",
		def: `
id: triggers
name: triggers
steps:
  - {id: a, type: command, when: "false", action: {kind: log, message: a}}
  - {id: b, type: command, action: {kind: log, message: b}}
  - {id: strict, type: command, trigger: all_success, dependencies: [a, b], action: {kind: log, message: s}}
  - {id: always, type: command, trigger: all_done, dependencies: [a, b], action: {kind: log, message: x}}
`,
		status: models.RunSucceeded,
		steps:  map[string]string{"strict": "skipped/branch_not_taken", "always": "succeeded"},
	},
	{
		name: "continue: independent branches go on, dependents are skipped upstream_failed, run fails",
		def: `
id: continue
name: continue
errorHandling: {strategy: continue}
steps:
  - {id: bad, type: command, action: {kind: fail, message: boom}}
  - {id: after_bad, type: command, dependencies: [bad], action: {kind: log, message: x}}
  - {id: strict, type: command, trigger: all_success, dependencies: [bad], action: {kind: log, message: x}}
  - {id: other, type: command, action: {kind: log, message: y}}
  - {id: other2, type: command, dependencies: [other], action: {kind: log, message: z}}
  - {id: cleanup, type: command, trigger: all_done, dependencies: [bad], action: {kind: log, message: c}}
`,
		status: models.RunFailed,
		steps: map[string]string{"bad": "failed", "after_bad": "skipped/upstream_failed",
			"strict": "skipped/upstream_failed", "other": "succeeded", "other2": "succeeded", "cleanup": "succeeded"},
		check: func(t *testing.T, run models.Run, _ *server) {
			if run.Error == nil || run.Error.StepID != "bad" || run.Error.Code != "fail" || run.Error.Message != "boom" {
				t.Errorf("run error = %+v; want fail/boom on step bad", run.Error)
			}
		},
	},
	{
		name: "fail: running steps are cancelled, nothing new starts but all_done clean-up",
		def: `
id: failfast
name: fail
steps:
  - {id: slow, type: command, action: {kind: http, url: "{{URL}}/slow/5000"}}
  - {id: bad, type: command, action: {kind: fail, message: boom}}
  - {id: later, type: command, dependencies: [bad], trigger: all_done, action: {kind: log, message: cleanup}}
  - {id: next, type: command, dependencies: [slow], action: {kind: log, message: n}}
`,
		status: models.RunFailed,
		steps: map[string]string{"slow": "cancelled/run_failed", "bad": "failed", "later": "succeeded",
			"next": "skipped/run_failed"},
	},
	{
		name: "onFailure handles a failure: the run succeeds",
		def: `
id: handled
name: handled
steps:
  - {id: bad, type: command, action: {kind: http, url: "{{URL}}/status/404"}, onFailure: fix, onSuccess: fine}
  - {id: fix, type: command, action: {kind: log, message: "fixing {{ steps.bad.error.code }}"}}
  - {id: fine, type: command, action: {kind: log, message: fine}}
`,
		status: models.RunSucceeded,
		steps:  map[string]string{"bad": "failed", "fix": "succeeded", "fine": "skipped/branch_not_taken"},
		check: func(t *testing.T, run models.Run, _ *server) {
			if m := step(t, run, "fix").Output.(map[string]any)["message"]; m != "fixing http_status" {
				t.Errorf("fix message = %v", m)
			}
			out := step(t, run, "bad").Output.(map[string]any)
			if out["status"] != float64(404) && out["status"] != 404 {
				t.Errorf("failed http output = %v; want the 404 response", out)
			}
		},
	},
	{
		name: "retries until success with exponential backoff; same idempotency key",
		def: `
id: retry
name: retry
steps:
  - id: flaky
    type: command
    retryPolicy: {maxAttempts: 4, initialInterval: 1, backoffCoefficient: 2, jitter: 0}
    action: {kind: http, url: "{{URL}}/flaky/2/a"}
`,
		status: models.RunSucceeded,
		steps:  map[string]string{"flaky": "succeeded"},
		check: func(t *testing.T, run models.Run, srv *server) {
			s := step(t, run, "flaky")
			if s.Attempts != 3 {
				t.Errorf("attempts = %d; want 3", s.Attempts)
			}
			if len(srv.keys["/flaky/2/a"]) != 1 {
				t.Errorf("idempotency keys = %v; want one key for every attempt", srv.keys["/flaky/2/a"])
			}
		},
	},
	{
		name: "4xx is not retried",
		def: `
id: fourxx
name: fourxx
retryPolicy: {maxAttempts: 5, initialInterval: 1}
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/status/400"}}
`,
		status: models.RunFailed,
		steps:  map[string]string{"a": "failed"},
		check: func(t *testing.T, run models.Run, srv *server) {
			if n := srv.count("/status/400"); n != 1 {
				t.Errorf("hits = %d; want 1", n)
			}
		},
	},
	{
		name: "429 and 5xx are retried until the last attempt",
		def: `
id: fivexx
name: fivexx
retryPolicy: {maxAttempts: 3, initialInterval: 1}
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/status/429"}}
  - {id: b, type: command, action: {kind: http, url: "{{URL}}/status/502"}}
`,
		status: models.RunFailed,
		check: func(t *testing.T, run models.Run, srv *server) {
			if a, b := srv.count("/status/429"), srv.count("/status/502"); a+b < 4 {
				t.Errorf("hits 429=%d 502=%d; want retries", a, b)
			}
		},
	},
	{
		name: "nonRetryable codes are not retried",
		def: `
id: nonretry
name: nonretry
steps:
  - id: a
    type: command
    retryPolicy: {maxAttempts: 3, initialInterval: 1, nonRetryable: [http_status]}
    action: {kind: http, url: "{{URL}}/status/503"}
`,
		status: models.RunFailed,
		check: func(t *testing.T, run models.Run, srv *server) {
			if n := srv.count("/status/503"); n != 1 {
				t.Errorf("hits = %d; want 1", n)
			}
		},
	},
	{
		name: "fail with retryable true is retried, without it is not",
		def: `
id: failretry
name: failretry
errorHandling: {strategy: continue}
retryPolicy: {maxAttempts: 3, initialInterval: 1}
steps:
  - {id: once, type: command, action: {kind: fail, message: no}}
  - {id: thrice, type: command, action: {kind: fail, message: again, retryable: true}}
`,
		status: models.RunFailed,
		check: func(t *testing.T, run models.Run, _ *server) {
			if a := step(t, run, "once").Attempts; a != 1 {
				t.Errorf("once attempts = %d; want 1", a)
			}
			if a := step(t, run, "thrice").Attempts; a != 3 {
				t.Errorf("thrice attempts = %d; want 3", a)
			}
		},
	},
	{
		name: "per-attempt timeout times the step out",
		def: `
id: timeout
name: timeout
steps:
  - {id: slow, type: command, timeout: 50, action: {kind: http, url: "{{URL}}/slow/5000"}}
`,
		status: models.RunFailed,
		steps:  map[string]string{"slow": "timed_out"},
		check: func(t *testing.T, run models.Run, _ *server) {
			if e := step(t, run, "slow").Error; e == nil || e.Code != "timeout" {
				t.Errorf("error = %+v; want timeout", e)
			}
		},
	},
	{
		name: "run timeout cancels running steps and ends timed_out",
		def: `
id: runtimeout
name: runtimeout
timeout: 100
steps:
  - {id: slow, type: command, action: {kind: http, url: "{{URL}}/slow/5000"}}
  - {id: after, type: command, dependencies: [slow], action: {kind: log, message: x}}
`,
		status: models.RunTimedOut,
		steps:  map[string]string{"slow": "cancelled/run_timed_out", "after": "skipped/run_timed_out"},
	},
	{
		name: "rollback compensates succeeded steps in reverse order of completion",
		def: `
id: rollback
name: rollback
errorHandling: {strategy: rollback}
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/ok/a"}, compensate: {kind: http, url: "{{URL}}/ok/undo-a"}}
  - {id: b, type: command, dependencies: [a], action: {kind: http, url: "{{URL}}/ok/b"}, compensate: {kind: http, url: "{{URL}}/ok/undo-b"}}
  - {id: nocomp, type: command, dependencies: [b], action: {kind: log, message: x}}
  - {id: c, type: command, dependencies: [nocomp], action: {kind: http, url: "{{URL}}/ok/c"}, compensate: {kind: http, url: "{{URL}}/ok/undo-c"}}
  - {id: bad, type: command, dependencies: [c], action: {kind: fail, message: boom}, compensate: {kind: http, url: "{{URL}}/ok/undo-bad"}}
`,
		status: models.RunRolledBack,
		steps: map[string]string{"a": "compensated", "b": "compensated", "c": "compensated",
			"nocomp": "succeeded", "bad": "failed"},
		check: func(t *testing.T, run models.Run, srv *server) {
			var undo []string
			for _, p := range srv.paths() {
				if strings.HasPrefix(p, "/ok/undo") {
					undo = append(undo, p)
				}
			}
			if strings.Join(undo, ",") != "/ok/undo-c,/ok/undo-b,/ok/undo-a" {
				t.Errorf("compensations = %v; want c, b, a", undo)
			}
		},
	},
	{
		name: "a failed compensation is reported and the run fails",
		def: `
id: rollbackfail
name: rollbackfail
errorHandling: {strategy: rollback}
steps:
  - {id: a, type: command, action: {kind: log, message: a}, compensate: {kind: http, url: "{{URL}}/ok/undo-a"}}
  - {id: b, type: command, dependencies: [a], action: {kind: log, message: b}, compensate: {kind: http, url: "{{URL}}/status/500"}}
  - {id: bad, type: command, dependencies: [b], action: {kind: fail, message: boom}}
`,
		status: models.RunFailed,
		steps:  map[string]string{"a": "compensated", "b": "succeeded"},
		check: func(t *testing.T, run models.Run, srv *server) {
			if run.Error == nil || run.Error.Code != "compensation_failed" || run.Error.StepID != "b" {
				t.Errorf("run error = %+v; want compensation_failed on b", run.Error)
			}
			if e := step(t, run, "b").Error; e == nil || e.Code != "compensation_failed" {
				t.Errorf("step b error = %+v; want compensation_failed", e)
			}
		},
	},
	{
		name: "parallel fan-out keeps list order and counts",
		def: `
id: fanout
name: fanout
inputs: {names: {type: array, default: [x, y, z, w]}}
steps:
  - id: each
    type: parallel
    action:
      forEach: "inputs.names"
      as: name
      maxConcurrency: 2
      step: {kind: http, url: "{{URL}}/ok/{{ name }}/{{ index }}"}
`,
		status: models.RunSucceeded,
		check: func(t *testing.T, run models.Run, srv *server) {
			out := step(t, run, "each").Output.(map[string]any)
			items := out["items"].([]any)
			for i, want := range []string{"/ok/x/0", "/ok/y/1", "/ok/z/2", "/ok/w/3"} {
				if p := items[i].(map[string]any)["body"].(map[string]any)["path"]; p != want {
					t.Errorf("items[%d] = %v; want %s", i, p, want)
				}
			}
			if out["succeeded"] != float64(4) && out["succeeded"] != 4 {
				t.Errorf("succeeded = %v; want 4", out["succeeded"])
			}
			if m := srv.maxIn.Load(); m > 2 {
				t.Errorf("max concurrent requests = %d; want ≤ 2", m)
			}
		},
	},
	{
		name: "parallel fails when an element fails after its retries",
		def: `
id: fanoutfail
name: fanoutfail
steps:
  - id: each
    type: parallel
    retryPolicy: {maxAttempts: 2, initialInterval: 1}
    action:
      forEach: "[200, 500, 201]"
      step: {kind: http, url: "{{URL}}/status/{{ item }}"}
`,
		status: models.RunFailed,
		steps:  map[string]string{"each": "failed"},
		check: func(t *testing.T, run models.Run, srv *server) {
			s := step(t, run, "each")
			out := s.Output.(map[string]any)
			if out["failed"] != float64(1) && out["failed"] != 1 {
				t.Errorf("output = %v; want failed 1", out)
			}
			if n := srv.count("/status/500"); n != 2 {
				t.Errorf("element 500 hits = %d; want 2 attempts", n)
			}
		},
	},
	{
		name: "maxConcurrency caps the steps of a run in flight",
		def: `
id: maxconc
name: maxconc
maxConcurrency: 2
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/slow/30"}}
  - {id: b, type: command, action: {kind: http, url: "{{URL}}/slow/30"}}
  - {id: c, type: command, action: {kind: http, url: "{{URL}}/slow/30"}}
  - {id: d, type: command, action: {kind: http, url: "{{URL}}/slow/30"}}
  - {id: e, type: command, action: {kind: http, url: "{{URL}}/slow/30"}}
`,
		status: models.RunSucceeded,
		check: func(t *testing.T, run models.Run, srv *server) {
			if m := srv.maxIn.Load(); m != 2 {
				t.Errorf("max concurrent = %d; want 2", m)
			}
		},
	},
	{
		name: "parallel group caps its steps and failFast cancels the others",
		def: `
id: groups
name: groups
errorHandling: {strategy: continue}
parallelGroups:
  - {id: g, steps: [a, b, c], maxConcurrency: 2, failFast: true}
steps:
  - {id: a, type: command, action: {kind: http, url: "{{URL}}/slow/5000"}}
  - {id: b, type: command, action: {kind: http, url: "{{URL}}/status/400"}}
  - {id: c, type: command, action: {kind: http, url: "{{URL}}/slow/5000"}}
`,
		status: models.RunFailed,
		steps:  map[string]string{"a": "cancelled/group_failed", "b": "failed"},
		check: func(t *testing.T, run models.Run, srv *server) {
			if m := srv.maxIn.Load(); m > 2 {
				t.Errorf("max concurrent = %d; want ≤ 2", m)
			}
		},
	},
	{
		name: "expression errors fail the step without retry",
		def: `
id: exprerr
name: exprerr
retryPolicy: {maxAttempts: 3, initialInterval: 1}
inputs: {obj: {type: object, default: {}}}
steps:
  - {id: a, type: command, action: {kind: set, values: {x: "{{ inputs.obj.a.b }}"}}}
`,
		status: models.RunFailed,
		check: func(t *testing.T, run models.Run, _ *server) {
			s := step(t, run, "a")
			if s.Attempts != 1 || s.Error == nil || s.Error.Code != "expression_error" {
				t.Errorf("step = %+v; want one attempt failed with expression_error", s)
			}
		},
	},
	{
		name: "http action sends method, body, query, headers and the idempotency key",
		def: `
id: httpecho
name: httpecho
steps:
  - id: call
    type: command
    action:
      kind: http
      method: POST
      url: "{{URL}}/echo"
      query: {q: "1"}
      headers: {X-Test: yes}
      body: {n: "{{ 1 + 1 }}"}
`,
		status: models.RunSucceeded,
		check: func(t *testing.T, run models.Run, _ *server) {
			body := step(t, run, "call").Output.(map[string]any)["body"].(map[string]any)
			if body["method"] != "POST" || body["query"] != "q=1" || body["header"] != "yes" ||
				body["body"].(map[string]any)["n"] != float64(2) || body["key"] != run.ID+"/call" {
				t.Errorf("echo = %v", body)
			}
		},
	},
}

func TestRules(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		h := newHarness(t, open)
		for _, sc := range rules {
			t.Run(sc.name, func(t *testing.T) {
				srv := newServer(t)
				h.t = t
				run := h.run(strings.ReplaceAll(sc.def, "{{URL}}", srv.URL), sc.inputs)
				if run.Status != sc.status {
					t.Errorf("status = %s; want %s\n%s", run.Status, sc.status, dump(run))
				}
				expectSteps(t, run, sc.steps)
				if sc.check != nil {
					sc.check(t, run, srv)
				}
				// The stored record says the same as the live one.
				stored, err := h.eng.Run(t.Context(), run.ID)
				if err != nil {
					t.Fatal(err)
				}
				if dump(stored.Steps) != dump(run.Steps) {
					t.Errorf("stored steps differ from live ones:\nstored %s\nlive %s", dump(stored.Steps), dump(run.Steps))
				}
				checkEvents(t, h, run)
			})
		}
	})
}

// checkEvents checks that a finished run's events are numbered 1, 2, … and
// end with the run's final event.
func checkEvents(t *testing.T, h *harness, run models.Run) {
	t.Helper()
	evs, err := h.eng.Events(t.Context(), run.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range evs {
		if ev.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if len(evs) < 3 || evs[0].Type != models.EventRunQueued || evs[len(evs)-1].Type != "run."+string(run.Status) {
		t.Errorf("events = %s", dump(evs))
	}
}
