package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine"
	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/evidence"
	"github.com/baton-run/baton/engine/schedule"
	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// flow is an app wired as `baton serve` wires it: the real store, engine,
// launcher and scheduler (on a fake clock), with one user per role.
type flow struct {
	*bundle
	eng      *engine.Engine
	launcher *engine.Launcher
	sched    *schedule.Scheduler
	fake     *clockwork.FakeClock
	proof    *evidence.Service

	designer, designer2, approver, approver2, operator, dual string // tokens
}

type flowOptions struct {
	maxActive int
	rateLimit float64
	rateBurst int
	// defaultRate leaves Deps.RateLimit at its default instead of off.
	defaultRate bool
	hookLimit   int
	heartbeat   time.Duration
	legacySig   bool
	// noEvidenceCache makes every evidence read replay (benchmarks).
	noEvidenceCache bool
	alerting        handlers.Alerting
}

func newFlow(t testing.TB, open func(testing.TB) *store.Store, opts ...flowOptions) *flow {
	t.Helper()
	var o flowOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	b := setup(t, open)
	f := &flow{bundle: b, fake: clockwork.NewFakeClockAt(time.Date(2026, 11, 27, 9, 0, 30, 0, time.UTC))}
	log := slog.New(slog.DiscardHandler)
	f.eng = engine.New(b.store, engine.NewRegistry(actions.Builtins(log)...), engine.Config{Logger: log, Versions: b.store})
	f.launcher = engine.NewLauncher(f.eng, engine.LauncherConfig{MaxActiveRuns: o.maxActive})
	if err := f.eng.Start(context.Background()); err != nil {
		t.Fatalf("start engine: %v", err)
	}
	var err error
	f.sched, err = schedule.New(b.store, f.launcher, schedule.Config{Clock: f.fake, Logger: log, ResyncEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.sched.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = f.sched.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = f.eng.Stop(ctx)
	})
	cacheSize := 0
	if o.noEvidenceCache {
		cacheSize = -1
	}
	f.proof = evidence.New(evidence.Config{Store: b.store, Compiler: f.eng.Compiler(), Log: log, CacheSize: cacheSize})
	proofCtx, stopProof := context.WithCancel(context.Background())
	proofDone := make(chan struct{})
	go func() { defer close(proofDone); f.proof.Run(proofCtx) }()
	t.Cleanup(func() { stopProof(); <-proofDone })
	rate := o.rateLimit
	if rate == 0 && !o.defaultRate {
		rate = -1 // most tests make many quick requests with one token
	}
	b.app = handlers.New(handlers.Deps{
		Log: log, Store: b.store, Definitions: f.eng.Compiler(), Registry: prometheus.NewRegistry(),
		Templates: b.store, Runs: f.launcher, Schedules: f.sched, Now: b.clock.Now,
		RateLimit: rate, RateBurst: o.rateBurst, WebhookBodyLimit: o.hookLimit,
		HeartbeatInterval: o.heartbeat, WebhookLegacySignatures: o.legacySig, Evidence: f.proof,
		Alerting: o.alerting,
	})
	tok := func(name string, roles ...models.Role) string { return b.token(t, b.user(t, name, roles...)) }
	f.designer = tok("dana", models.RoleDesigner)
	f.designer2 = tok("dave", models.RoleDesigner)
	f.approver = tok("ann", models.RoleApprover)
	f.approver2 = tok("abe", models.RoleApprover)
	f.operator = tok("otto", models.RoleOperator)
	f.dual = tok("duncan", models.RoleDesigner, models.RoleApprover)
	return f
}

// call makes a request and checks its status; it returns the body decoded
// as a JSON object (nil when it is not one).
func (f *flow) call(t testing.TB, method, path, token, body string, want int) map[string]any {
	t.Helper()
	res := f.do(t, request{method: method, path: path, bearer: token, body: body})
	if res.status != want {
		t.Fatalf("%s %s = %d; want %d\n%s", method, path, res.status, want, res.body)
	}
	var out map[string]any
	_ = json.Unmarshal([]byte(res.body), &out)
	return out
}

// refused checks an error answer: status, the spec's shape and its code.
func (f *flow) refused(t *testing.T, method, path, token, body string, want int, code models.Code, contains ...string) {
	t.Helper()
	res := f.do(t, request{method: method, path: path, bearer: token, body: body})
	if res.status != want {
		t.Fatalf("%s %s = %d; want %d\n%s", method, path, res.status, want, res.body)
	}
	var e struct {
		Error struct {
			Code    models.Code      `json:"code"`
			Message string           `json:"message"`
			Details []models.Problem `json:"details"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(res.body), &e); err != nil || e.Error.Code != code || e.Error.Message == "" || e.Error.Details == nil {
		t.Fatalf("%s %s: want error code %q in the spec's shape, got\n%s", method, path, code, res.body)
	}
	for _, s := range contains {
		if !strings.Contains(res.body, s) {
			t.Errorf("%s %s: body does not contain %q:\n%s", method, path, s, res.body)
		}
	}
}

const greetDef = `{"id":"greet","name":"Greet","inputs":{"who":{"type":"string","required":true}},
 "steps":[{"id":"hello","type":"command","action":{"kind":"set","values":{"msg":"hi {{ inputs.who }}"}}}],
 "outputs":{"msg":"{{ steps.hello.output.msg }}"}}`

const greetDef2 = `{"id":"greet","name":"Greet","inputs":{"who":{"type":"string","required":true}},
 "steps":[{"id":"hello","type":"command","action":{"kind":"set","values":{"msg":"hello {{ inputs.who }}"}}},
  {"id":"bye","type":"command","dependencies":["hello"],"action":{"kind":"log","message":"bye"}}],
 "outputs":{"msg":"{{ steps.hello.output.msg }}"}}`

const gateDef = `{"id":"gate","name":"Gate","steps":[
 {"id":"wait_go","type":"wait","action":{"signal":"go","timeout":"1h"}},
 {"id":"after","type":"command","dependencies":["wait_go"],"action":{"kind":"set","values":{"by":"{{ steps.wait_go.output.by }}"}}}],
 "outputs":{"by":"{{ steps.after.output.by }}"}}`

const boomDef = `{"id":"boom","name":"Boom","steps":[{"id":"explode","type":"command","action":{"kind":"fail","message":"no"}}]}`

// approve takes a template's latest draft through review to approved.
func (f *flow) approve(t testing.TB, key string, n int) {
	t.Helper()
	base := fmt.Sprintf("/api/v1/templates/%s/versions/%d", key, n)
	f.call(t, "POST", base+"/submit", f.designer, "", 200)
	out := f.call(t, "POST", base+"/approve", f.approver, `{"comment":"fine"}`, 200)
	if out["status"] != "approved" {
		t.Fatalf("after approval: %v", out)
	}
}

// publish creates a template as dana and approves its version 1.
func (f *flow) publish(t testing.TB, def string) string {
	t.Helper()
	out := f.call(t, "POST", "/api/v1/templates", f.designer, def, 201)
	key := out["key"].(string)
	f.approve(t, key, 1)
	return key
}

// waitRun polls a run until its status is want.
func (f *flow) waitRun(t *testing.T, id string, want models.RunStatus) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		out := f.call(t, "GET", "/api/v1/runs/"+id, f.operator, "", 200)
		if out["status"] == string(want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %v; want %s", id, out["status"], want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTemplateReviewFlow(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		// Creating: roles, conflicts, bad input.
		f.refused(t, "POST", "/api/v1/templates", "", greetDef, 401, models.Unauthenticated)
		f.refused(t, "POST", "/api/v1/templates", f.viewerToken, greetDef, 403, models.Forbidden, "designer role")
		f.refused(t, "POST", "/api/v1/templates", f.operator, greetDef, 403, models.Forbidden)
		f.refused(t, "POST", "/api/v1/templates", f.designer, `{"id":"Bad Id","name":"x","steps":[]}`, 422, models.Invalid, `"path":"id"`)
		f.refused(t, "POST", "/api/v1/templates", f.designer, `{"id":`, 400, models.BadRequest)
		created := f.call(t, "POST", "/api/v1/templates", f.designer, greetDef, 201)
		if created["key"] != "greet" || created["latestVersion"] != 1.0 || created["latestStatus"] != "draft" {
			t.Fatalf("created: %v", created)
		}
		if v := created["version"].(map[string]any); v["number"] != 1.0 || v["status"] != "draft" || v["author"] != "dana" {
			t.Fatalf("created version: %v", v)
		}
		f.refused(t, "POST", "/api/v1/templates", f.designer2, greetDef, 409, models.Conflict)
		yamlRes := f.do(t, request{method: "POST", path: "/api/v1/templates", bearer: f.designer, contentType: "application/yaml",
			body: "id: yamly\nname: Yamly\nsteps:\n  - id: a\n    type: command\n    action: {kind: log, message: hi}\n"})
		if yamlRes.status != 201 {
			t.Fatalf("YAML create = %d\n%s", yamlRes.status, yamlRes.body)
		}

		// Reading.
		list := f.call(t, "GET", "/api/v1/templates", f.viewerToken, "", 200)
		if n := len(list["templates"].([]any)); n != 2 {
			t.Fatalf("templates: %v", list)
		}
		f.call(t, "GET", "/api/v1/templates/greet", f.viewerToken, "", 200)
		f.refused(t, "GET", "/api/v1/templates/nope", f.viewerToken, "", 404, models.NotFound)
		f.refused(t, "GET", "/api/v1/templates/greet", "", "", 401, models.Unauthenticated)

		// Editing the draft keeps its number; a key mismatch is refused.
		if v := f.call(t, "PUT", "/api/v1/templates/greet/draft", f.designer2, greetDef, 200); v["number"] != 1.0 {
			t.Fatalf("draft save: %v", v)
		}
		f.refused(t, "PUT", "/api/v1/templates/greet/draft", f.designer, strings.Replace(greetDef, `"greet"`, `"other"`, 1), 422, models.Invalid, `"path":"id"`)
		f.refused(t, "PUT", "/api/v1/templates/nope/draft", f.designer, strings.Replace(greetDef, `"greet"`, `"nope"`, 1), 404, models.NotFound)
		f.refused(t, "PUT", "/api/v1/templates/greet/draft", f.approver, greetDef, 403, models.Forbidden)

		// Review: roles, wrong states, four eyes, a required comment.
		base := "/api/v1/templates/greet/versions/1"
		f.refused(t, "POST", base+"/approve", f.approver, "", 409, models.Conflict) // a draft
		f.refused(t, "POST", base+"/submit", f.approver, "", 403, models.Forbidden)
		f.refused(t, "POST", "/api/v1/templates/greet/versions/9/submit", f.designer, "", 404, models.NotFound)
		f.refused(t, "POST", "/api/v1/templates/greet/versions/x/submit", f.designer, "", 400, models.BadRequest)
		if v := f.call(t, "POST", base+"/submit", f.designer, "", 200); v["status"] != "in_review" {
			t.Fatalf("submit: %v", v)
		}
		f.refused(t, "POST", base+"/submit", f.designer, "", 409, models.Conflict)
		f.refused(t, "POST", base+"/approve", f.designer, "", 403, models.Forbidden)
		inbox := f.call(t, "GET", "/api/v1/approvals", f.approver, "", 200)
		if items := inbox["items"].([]any); len(items) != 1 || items[0].(map[string]any)["template"] != "greet" {
			t.Fatalf("inbox: %v", inbox)
		}
		f.refused(t, "GET", "/api/v1/approvals", f.designer, "", 403, models.Forbidden)
		f.refused(t, "POST", base+"/reject", f.approver, `{}`, 422, models.Invalid, `"path":"comment"`)
		if v := f.call(t, "POST", base+"/reject", f.approver, `{"comment":"say hello"}`, 200); v["status"] != "rejected" || v["comment"] != "say hello" {
			t.Fatalf("reject: %v", v)
		}

		// A submitted version never changes: saving makes version 2.
		if v := f.call(t, "PUT", "/api/v1/templates/greet/draft", f.dual, greetDef2, 200); v["number"] != 2.0 || v["status"] != "draft" {
			t.Fatalf("draft after reject: %v", v)
		}
		v1 := f.call(t, "GET", base, f.viewerToken, "", 200)
		if steps := v1["definition"].(map[string]any)["steps"].([]any); len(steps) != 1 {
			t.Fatalf("version 1 changed after its review: %v", v1["definition"])
		}
		// Also a direct write, past the API and the store's methods, is refused.
		err := f.store.Gorm().Exec(`UPDATE template_versions SET definition = ? WHERE number = 1 AND template_id = (SELECT id FROM templates WHERE key = 'greet')`,
			strings.Join(strings.Fields(greetDef2), " ")).Error
		if err == nil {
			t.Fatal("a direct UPDATE of a submitted version's definition succeeded")
		}
		diff := f.call(t, "GET", "/api/v1/templates/greet/versions/1/diff/2", f.viewerToken, "", 200)
		if fmt.Sprint(diff["stepsAdded"]) != "[bye]" || !strings.Contains(fmt.Sprint(diff["stepsChanged"]), "action.values.msg") ||
			!strings.Contains(fmt.Sprint(diff["edgesAdded"]), "from:hello") {
			t.Fatalf("diff 1→2: %v", diff)
		}
		f.refused(t, "GET", "/api/v1/templates/greet/versions/1/diff/7", f.viewerToken, "", 404, models.NotFound)

		// Two-approver quorum, and four eyes for an approver who edited.
		f.refused(t, "PATCH", "/api/v1/templates/greet/settings", f.designer, `{"requiredApprovals":2}`, 403, models.Forbidden)
		if s := f.call(t, "PATCH", "/api/v1/templates/greet/settings", f.adminToken, `{"requiredApprovals":2}`, 200); s["requiredApprovals"] != 2.0 {
			t.Fatalf("settings: %v", s)
		}
		// A template's own retention: shown as written, "" follows the server again.
		if s := f.call(t, "PATCH", "/api/v1/templates/greet/settings", f.adminToken, `{"retention":"2160h"}`, 200); s["retention"] != "90d" {
			t.Fatalf("retention: %v", s)
		}
		f.refused(t, "PATCH", "/api/v1/templates/greet/settings", f.adminToken, `{"retention":"soon"}`, 422, models.Invalid, "90d")
		if s := f.call(t, "PATCH", "/api/v1/templates/greet/settings", f.adminToken, `{"retention":""}`, 200); s["retention"] != nil {
			t.Fatalf("retention reset: %v", s)
		}
		base2 := "/api/v1/templates/greet/versions/2"
		f.call(t, "POST", base2+"/submit", f.designer, "", 200)
		f.refused(t, "POST", base2+"/approve", f.dual, "", 403, models.Forbidden, "four eyes")
		if v := f.call(t, "POST", base2+"/approve", f.approver, "", 200); v["status"] != "in_review" || len(v["approvals"].([]any)) != 1 {
			t.Fatalf("first of two approvals: %v", v)
		}
		f.refused(t, "POST", base2+"/approve", f.approver, "", 409, models.Conflict, "another approver")
		if v := f.call(t, "POST", base2+"/approve", f.approver2, `{"comment":"ok"}`, 200); v["status"] != "approved" {
			t.Fatalf("second approval: %v", v)
		}
		versions := f.call(t, "GET", "/api/v1/templates/greet/versions", f.viewerToken, "", 200)["versions"].([]any)
		if len(versions) != 2 || versions[0].(map[string]any)["number"] != 2.0 || versions[0].(map[string]any)["status"] != "approved" {
			t.Fatalf("versions: %v", versions)
		}
		trail := f.call(t, "GET", base2+"/events", f.viewerToken, "", 200)["events"].([]any)
		if len(trail) < 4 {
			t.Fatalf("trail of v2: %v", trail)
		}
		// Restore version 1 as a new draft, 3.
		if v := f.call(t, "POST", base+"/restore", f.designer, "", 201); v["number"] != 3.0 || v["status"] != "draft" {
			t.Fatalf("restore: %v", v)
		}
		if v := f.call(t, "GET", "/api/v1/templates/greet", f.viewerToken, "", 200); v["latestApprovedVersion"] != 2.0 || v["latestVersion"] != 3.0 {
			t.Fatalf("template after restore: %v", v)
		}
	})
}

// TestDraftToRunningThroughTheAPI is the "done when": a template
// goes from draft to approved to running entirely through the API.
func TestDraftToRunningThroughTheAPI(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		f.call(t, "POST", "/api/v1/templates", f.designer, greetDef, 201)
		runs := "/api/v1/templates/greet/runs"
		f.refused(t, "POST", runs, f.operator, `{"inputs":{"who":"x"}}`, 409, models.Conflict, "no approved version")
		// Designers test-run drafts; operators may not run them.
		test := f.call(t, "POST", runs+"?wait=10s", f.designer, `{"inputs":{"who":"test"},"version":1}`, 201)
		if test["test"] != true || test["status"] != "succeeded" || test["startedBy"] != "dana" {
			t.Fatalf("test run: %v", test)
		}
		f.refused(t, "POST", runs, f.operator, `{"inputs":{"who":"x"},"version":1}`, 403, models.Forbidden)
		f.refused(t, "POST", runs, f.viewerToken, `{"inputs":{"who":"x"}}`, 403, models.Forbidden)

		f.approve(t, "greet", 1)
		f.refused(t, "POST", runs, f.designer, `{"inputs":{"who":"x"}}`, 403, models.Forbidden, "operator role")
		f.refused(t, "POST", runs, f.operator, `{"inputs":{}}`, 422, models.Invalid, `"path":"inputs.who"`)
		f.refused(t, "POST", runs, f.operator, `{"inputs":{"who":"x","extra":1}}`, 422, models.Invalid, `"path":"inputs.extra"`)
		f.refused(t, "POST", runs, f.operator, `{"input":{}}`, 400, models.BadRequest)
		f.refused(t, "POST", "/api/v1/templates/nope/runs", f.operator, `{}`, 404, models.NotFound)
		f.refused(t, "POST", runs, f.operator, `{"inputs":{"who":"x"},"version":7}`, 404, models.NotFound)
		f.refused(t, "POST", runs+"?wait=soon", f.operator, `{"inputs":{"who":"x"}}`, 422, models.Invalid, `"path":"wait"`)

		run := f.call(t, "POST", runs+"?wait=10s", f.operator, `{"inputs":{"who":"world"}}`, 201)
		if run["status"] != "succeeded" || run["version"] != 1.0 || run["trigger"] != "api" || run["startedBy"] != "otto" ||
			run["test"] != nil || run["outputs"].(map[string]any)["msg"] != "hi world" {
			t.Fatalf("production run: %v", run)
		}
		id := run["id"].(string)
		got := f.call(t, "GET", "/api/v1/runs/"+id, f.viewerToken, "", 200)
		if got["id"] != id || len(got["steps"].([]any)) != 1 {
			t.Fatalf("GET run: %v", got)
		}
		f.refused(t, "GET", "/api/v1/runs/01NOSUCHRUN0000000000000000", f.viewerToken, "", 404, models.NotFound)
		f.refused(t, "POST", "/api/v1/runs/"+id+"/retry", f.operator, "", 409, models.Conflict)
		f.refused(t, "POST", "/api/v1/runs/"+id+"/cancel", f.operator, "", 409, models.Conflict)
		f.refused(t, "POST", "/api/v1/runs/"+id+"/cancel", f.viewerToken, "", 403, models.Forbidden)

		// Re-run: a new run linked to this one, same version by default.
		re := f.call(t, "POST", "/api/v1/runs/"+id+"/rerun", f.operator, `{"from":"hello"}`, 201)
		if re["parentRunId"] != id || re["trigger"] != "rerun" || re["id"] == id {
			t.Fatalf("rerun: %v", re)
		}
		f.refused(t, "POST", "/api/v1/runs/"+id+"/rerun", f.operator, `{"from":"nope"}`, 422, models.Invalid, `"path":"from"`)
		f.refused(t, "POST", "/api/v1/runs/"+id+"/rerun", f.operator, `{"version":"newest"}`, 422, models.Invalid, `"path":"version"`)
		f.waitRun(t, re["id"].(string), models.RunSucceeded)
		latest := f.call(t, "POST", "/api/v1/runs/"+id+"/rerun", f.operator, `{"version":"latest"}`, 201)
		f.waitRun(t, latest["id"].(string), models.RunSucceeded)
	})
}

func TestRunsSignalsCancelRetry(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		f.publish(t, gateDef)
		f.publish(t, boomDef)

		// A signal lets a waiting run go on.
		run := f.call(t, "POST", "/api/v1/templates/gate/runs", f.operator, `{}`, 201)
		id := run["id"].(string)
		f.waitRun(t, id, models.RunWaiting)
		f.refused(t, "POST", "/api/v1/runs/"+id+"/signals/go", f.viewerToken, `{}`, 403, models.Forbidden)
		f.refused(t, "POST", "/api/v1/runs/"+id+"/signals/go", f.operator, `{"by":`, 400, models.BadRequest)
		if out := f.call(t, "POST", "/api/v1/runs/"+id+"/signals/go", f.operator, `{"by":"otto"}`, 202); out["delivered"] != true {
			t.Fatalf("signal: %v", out)
		}
		done := f.waitRun(t, id, models.RunSucceeded)
		if done["outputs"].(map[string]any)["by"] != "otto" {
			t.Fatalf("signalled run: %v", done)
		}
		f.refused(t, "POST", "/api/v1/runs/"+id+"/signals/go", f.operator, `{}`, 409, models.Conflict)

		// Cancel a waiting run.
		run = f.call(t, "POST", "/api/v1/templates/gate/runs", f.operator, `{}`, 201)
		id = run["id"].(string)
		f.waitRun(t, id, models.RunWaiting)
		f.call(t, "POST", "/api/v1/runs/"+id+"/cancel", f.operator, "", 200)
		f.waitRun(t, id, models.RunCancelled)
		entries, err := f.store.ListAudit(context.Background(), 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		audited := false
		for _, e := range entries {
			audited = audited || (e.Action == "run_cancelled" && e.Actor == "otto" && e.Target == "run:"+id)
		}
		if !audited {
			t.Fatalf("the cancel was not audited: %+v", entries)
		}

		// Retry a failed run: the same run goes on.
		failed := f.call(t, "POST", "/api/v1/templates/boom/runs?wait=10s", f.operator, `{}`, 201)
		if failed["status"] != "failed" {
			t.Fatalf("boom: %v", failed)
		}
		fid := failed["id"].(string)
		again := f.call(t, "POST", "/api/v1/runs/"+fid+"/retry", f.operator, "", 200)
		if again["id"] != fid {
			t.Fatalf("retry gave another run: %v", again)
		}
		f.waitRun(t, fid, models.RunFailed)
	})
}

func TestRunListPagination(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		f.publish(t, greetDef)
		f.publish(t, boomDef)
		var ids []string
		for i := range 5 {
			run := f.call(t, "POST", "/api/v1/templates/greet/runs?wait=10s", f.operator, fmt.Sprintf(`{"inputs":{"who":"n%d"}}`, i), 201)
			ids = append(ids, run["id"].(string))
		}
		f.call(t, "POST", "/api/v1/templates/boom/runs?wait=10s", f.operator, `{}`, 201)

		var seen []string
		cursor := ""
		for page := 0; ; page++ {
			out := f.call(t, "GET", "/api/v1/runs?template=greet&limit=2&before="+cursor, f.viewerToken, "", 200)
			for _, r := range out["runs"].([]any) {
				seen = append(seen, r.(map[string]any)["id"].(string))
			}
			cursor = out["next"].(string)
			if cursor == "" {
				break
			}
			if page > 5 {
				t.Fatal("pagination does not end")
			}
		}
		if len(seen) != 5 {
			t.Fatalf("pages gave %d runs; want 5: %v", len(seen), seen)
		}
		for i := range seen {
			if seen[i] != ids[len(ids)-1-i] {
				t.Fatalf("runs not newest first: %v; started %v", seen, ids)
			}
		}
		failed := f.call(t, "GET", "/api/v1/runs?status=failed", f.viewerToken, "", 200)["runs"].([]any)
		if len(failed) != 1 || failed[0].(map[string]any)["template"] != "boom" {
			t.Fatalf("status filter: %v", failed)
		}
		f.refused(t, "GET", "/api/v1/runs?status=sleeping", f.viewerToken, "", 422, models.Invalid, `"path":"status"`)
		f.refused(t, "GET", "/api/v1/runs?limit=0", f.viewerToken, "", 422, models.Invalid, `"path":"limit"`)
		f.refused(t, "GET", "/api/v1/runs", "", "", 401, models.Unauthenticated)
	})
}

func TestActiveRunLimit(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite, flowOptions{maxActive: 1})
	f.publish(t, gateDef)
	run := f.call(t, "POST", "/api/v1/templates/gate/runs", f.operator, `{}`, 201)
	res := f.do(t, request{method: "POST", path: "/api/v1/templates/gate/runs", bearer: f.operator, body: `{}`})
	if res.res.Header.Get("Retry-After") == "" {
		t.Errorf("a start over the active-run limit has no Retry-After")
	}
	f.refused(t, "POST", "/api/v1/templates/gate/runs", f.operator, `{}`, 429, models.Busy, "limit", "--max-active-runs")
	f.call(t, "POST", "/api/v1/runs/"+run["id"].(string)+"/cancel", f.operator, "", 200)
	f.waitRun(t, run["id"].(string), models.RunCancelled)
	f.call(t, "POST", "/api/v1/templates/gate/runs", f.operator, `{}`, 201)
}

func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite, flowOptions{rateLimit: 0.001, rateBurst: 2})
	f.call(t, "GET", "/api/v1/templates", f.viewerToken, "", 200)
	f.call(t, "GET", "/api/v1/templates", f.viewerToken, "", 200)
	res := f.do(t, request{method: "GET", path: "/api/v1/templates", bearer: f.viewerToken})
	if res.status != 429 || !strings.Contains(res.body, `"code":"rate_limited"`) || res.res.Header.Get("Retry-After") == "" {
		t.Fatalf("third request = %d (Retry-After %q)\n%s", res.status, res.res.Header.Get("Retry-After"), res.body)
	}
	// Another token has its own bucket.
	f.call(t, "GET", "/api/v1/templates", f.operator, "", 200)
	// A token created with "rateLimit": 0 is not limited even though the
	// server's default is.
	tok := f.call(t, "POST", "/api/v1/tokens", f.operator, `{"name": "unlimited", "rateLimit": 0}`, 201)
	if tok["rateLimit"] != 0.0 {
		t.Fatalf("created token's rateLimit = %v; want 0", tok["rateLimit"])
	}
	for range 20 {
		f.call(t, "GET", "/api/v1/templates", tok["token"].(string), "", 200)
	}
}

// On default settings a token is not rate limited (one client must be able
// to start 1,000 runs at once); a token created with its own rateLimit is,
// with 429 and Retry-After, on both databases (the limit is stored).
func TestRateLimitOptInPerToken(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open, flowOptions{defaultRate: true})
		for range 300 {
			f.call(t, "GET", "/api/v1/me", f.operator, "", 200)
		}
		limited := f.call(t, "POST", "/api/v1/tokens", f.operator, `{"name": "script", "rateLimit": 0.2}`, 201)
		if limited["rateLimit"] != 0.2 {
			t.Fatalf("created token's rateLimit = %v; want 0.2", limited["rateLimit"])
		}
		plain := limited["token"].(string)
		// 0.2/s bursts to one request (five times the rate, at least 1).
		f.call(t, "GET", "/api/v1/me", plain, "", 200)
		res := f.do(t, request{method: "GET", path: "/api/v1/me", bearer: plain})
		if res.status != 429 || !strings.Contains(res.body, `"code":"rate_limited"`) || res.res.Header.Get("Retry-After") != "5" {
			t.Fatalf("second request = %d (Retry-After %q)\n%s", res.status, res.res.Header.Get("Retry-After"), res.body)
		}
		list := f.call(t, "GET", "/api/v1/tokens", f.operator, "", 200)
		found := false
		for _, x := range list["tokens"].([]any) {
			if m := x.(map[string]any); m["name"] == "script" {
				found = m["rateLimit"] == 0.2
			} else if m["rateLimit"] != nil {
				t.Errorf("token %v without a limit of its own lists rateLimit %v; want null", m["name"], m["rateLimit"])
			}
		}
		if !found {
			t.Errorf("token list does not show script's rateLimit 0.2:\n%v", list)
		}
		f.refused(t, "POST", "/api/v1/tokens", f.operator, `{"name": "bad", "rateLimit": -1}`, 422, models.Invalid, "rateLimit")
	})
}
