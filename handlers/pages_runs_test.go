package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// form posts url-encoded fields as htmx does (HX-Request set) from a browser session.
func (f *flow) form(t *testing.T, br *browser, path string, vals url.Values) response {
	t.Helper()
	return f.do(t, request{method: "POST", path: path, browser: br, body: vals.Encode(),
		contentType: "application/x-www-form-urlencoded", headers: map[string]string{"HX-Request": "true"}})
}

// page gets a page as a signed-in browser and checks the status.
func (f *flow) page(t testing.TB, br *browser, path string, want int, contains ...string) string {
	t.Helper()
	res := f.do(t, request{method: "GET", path: path, browser: br})
	if res.status != want {
		t.Fatalf("GET %s = %d; want %d\n%s", path, res.status, want, res.body)
	}
	for _, s := range contains {
		if !strings.Contains(res.body, s) {
			t.Errorf("GET %s does not contain %q:\n%s", path, s, res.body)
		}
	}
	return res.body
}

var runLink = regexp.MustCompile(`^/runs/([0-9A-Z]{26})$`)

func TestRunPages(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		viewer := f.login(t, "victor", testPassword)
		otto := f.login(t, "otto", testPassword)

		// Empty state: says what will appear and that starting needs a role.
		f.page(t, viewer, "/runs", 200, `data-testid="runs-empty"`, "No runs yet", "needs the operator role")
		f.page(t, otto, "/runs/start", 200, `data-testid="start-none"`)

		f.publish(t, greetDef)
		// One template to choose from: its form at once, no chooser.
		f.page(t, otto, "/runs/start", 200, `<input type="hidden" name="template" value="greet">`, `data-testid="start-input-who"`)
		f.page(t, otto, "/runs/start?template=greet", 200, `data-testid="start-input-who"`, "v1 — latest approved")

		// A missing required input is shown next to its field, not as a page error.
		res := f.form(t, otto, "/runs/start", url.Values{"template": {"greet"}, "version": {"1"}, "in.who": {""}})
		// htmx gets 200 (no console errors for a typing mistake) and the
		// refusal in X-Baton-Refused.
		if res.status != 200 || res.res.Header.Get("X-Baton-Refused") != "422" ||
			!strings.Contains(res.body, `data-testid="start-error-who"`) || !strings.Contains(res.body, "is required") ||
			!strings.Contains(res.body, `aria-invalid="true"`) {
			t.Fatalf("start without who = %d\n%s", res.status, res.body)
		}
		// A viewer cannot start runs.
		if res := f.form(t, viewer, "/runs/start", url.Values{"template": {"greet"}, "in.who": {"x"}}); res.status != 403 ||
			!strings.Contains(res.body, "operator role") {
			t.Fatalf("viewer start = %d\n%s", res.status, res.body)
		}

		res = f.form(t, otto, "/runs/start", url.Values{"template": {"greet"}, "version": {"1"}, "in.who": {"world"}})
		m := runLink.FindStringSubmatch(res.res.Header.Get("HX-Redirect"))
		if res.status != 204 || m == nil {
			t.Fatalf("start = %d, HX-Redirect %q\n%s", res.status, res.res.Header.Get("HX-Redirect"), res.body)
		}
		id := m[1]
		f.waitRun(t, id, models.RunSucceeded)

		page := f.page(t, viewer, "/runs/"+id, 200, `data-testid="run-page"`, `data-step="hello"`, `data-step-status="succeeded"`,
			`data-testid="gantt-bar-hello"`, "hi world", `data-testid="run-no-actions"`, "step.succeeded", `data-definition="{`)
		if strings.Contains(page, "sse-connect") {
			t.Errorf("a finished run's page must not open an event stream")
		}
		f.page(t, otto, "/runs/"+id+"/live", 200, `data-testid="rerun-form"`, `<option value="hello">`, "data-final")

		// The list and its filters.
		f.page(t, viewer, "/runs", 200, `data-testid="run-row-`+id+`"`, `sse-connect="/api/v1/events"`)
		rows := f.do(t, request{method: "GET", path: "/runs/rows?status=succeeded&template=greet", browser: viewer, headers: map[string]string{"HX-Request": "true"}})
		if rows.status != 200 || !strings.Contains(rows.body, id) || rows.res.Header.Get("HX-Replace-Url") != "/runs?status=succeeded&template=greet" {
			t.Fatalf("filtered rows = %d (%q)\n%s", rows.status, rows.res.Header.Get("HX-Replace-Url"), rows.body)
		}
		f.page(t, viewer, "/runs/rows?status=failed", 200, `data-testid="runs-none-match"`)
		f.page(t, viewer, "/runs?status=exploded", 422, "unknown run status")

		// Actions: a viewer is refused; an operator re-runs from a step.
		if res := f.form(t, viewer, "/runs/"+id+"/rerun", url.Values{"from": {"hello"}}); res.status != 403 {
			t.Fatalf("viewer rerun = %d\n%s", res.status, res.body)
		}
		if res := f.form(t, otto, "/runs/"+id+"/rerun", url.Values{"from": {"nope"}}); res.status != 422 || !strings.Contains(res.body, "no step") {
			t.Fatalf("rerun from an unknown step = %d\n%s", res.status, res.body)
		}
		res = f.form(t, otto, "/runs/"+id+"/rerun", url.Values{"from": {"hello"}, "version": {"same"}})
		m = runLink.FindStringSubmatch(res.res.Header.Get("HX-Redirect"))
		if res.status != 204 || m == nil || m[1] == id {
			t.Fatalf("rerun = %d, HX-Redirect %q\n%s", res.status, res.res.Header.Get("HX-Redirect"), res.body)
		}
		f.waitRun(t, m[1], models.RunSucceeded)
		f.page(t, viewer, "/runs/"+m[1], 200, `data-testid="run-parent"`, id)
		// The newest page follows live; an older page stays put.
		f.page(t, viewer, "/runs", 200, `hx-get="/runs/rows" hx-trigger="sse:run.queued`, m[1], id)
		if older := f.page(t, viewer, "/runs?before="+m[1], 200, id); strings.Contains(older, `hx-trigger="sse:run.queued`) || strings.Contains(older, m[1]) {
			t.Errorf("an older page must list only older runs and not refresh itself:\n%s", older)
		}
		f.page(t, viewer, "/runs/01NOSUCHRUN0000000000000000", 404)
	})
}

func TestRunPageSignalAndCancel(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		otto := f.login(t, "otto", testPassword)
		f.publish(t, gateDef)
		res := f.form(t, otto, "/runs/start", url.Values{"template": {"gate"}})
		m := runLink.FindStringSubmatch(res.res.Header.Get("HX-Redirect"))
		if m == nil {
			t.Fatalf("start = %d\n%s", res.status, res.body)
		}
		id := m[1]
		f.waitRun(t, id, models.RunWaiting)
		f.page(t, otto, "/runs/"+id, 200, `sse-connect="/api/v1/runs/`+id+`/events?after=`, `sse-close="end"`, `data-testid="signal-form"`, `<option value="go">`, `data-testid="run-cancel"`)
		if res := f.form(t, otto, "/runs/"+id+"/signal", url.Values{"name": {"go"}, "payload": {"{not json"}}); res.status != 422 || !strings.Contains(res.body, "must be JSON") {
			t.Fatalf("bad payload = %d\n%s", res.status, res.body)
		}
		if res := f.form(t, otto, "/runs/"+id+"/signal", url.Values{"name": {"go"}, "payload": {`{"by":"otto"}`}}); res.status != 200 {
			t.Fatalf("signal = %d\n%s", res.status, res.body)
		}
		out := f.waitRun(t, id, models.RunSucceeded)
		if out["outputs"].(map[string]any)["by"] != "otto" {
			t.Fatalf("signal payload did not arrive: %v", out)
		}

		res = f.form(t, otto, "/runs/start", url.Values{"template": {"gate"}})
		id = runLink.FindStringSubmatch(res.res.Header.Get("HX-Redirect"))[1]
		f.waitRun(t, id, models.RunWaiting)
		if res := f.form(t, otto, "/runs/"+id+"/cancel", nil); res.status != 200 || !strings.Contains(res.body, `data-testid="run-live"`) {
			t.Fatalf("cancel = %d\n%s", res.status, res.body)
		}
		f.waitRun(t, id, models.RunCancelled)

		// A cancelled run is retried from the list, which stays put (no
		// refresh, no redirect) and follows the run through its stream.
		f.page(t, otto, "/runs", 200, `data-testid="run-retry-`+id+`"`)
		if viewer := f.login(t, "victor", testPassword); strings.Contains(f.page(t, viewer, "/runs", 200), `data-testid="run-retry-`) {
			t.Errorf("a viewer is offered a retry")
		}
		// The engine lets go of a cancelled run a moment after its status
		// is stored; until then a retry is refused with 409.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			res = f.form(t, otto, "/runs/"+id+"/retry", url.Values{"from": {"list"}})
			if res.status != 409 || time.Now().After(deadline) {
				break
			}
		}
		if res.status != 204 || res.res.Header.Get("HX-Refresh") != "" || res.res.Header.Get("HX-Redirect") != "" {
			t.Fatalf("retry from the list = %d %v\n%s", res.status, res.res.Header, res.body)
		}
		f.waitRun(t, id, models.RunWaiting)
	})
}

// TestRunPageItemCounts checks the counts the run page gives a forEach
// step's edges (data-items-*) and says in words: while the step runs, the
// elements finished so far (one waiting out a retry does not count yet);
// once it has finished, its output's counts. Other steps get none, even
// with an output that looks like counts.
func TestRunPageItemCounts(t *testing.T) {
	t.Parallel()
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(ok.Close)
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		otto := f.login(t, "otto", testPassword)
		// Element 1 succeeds; 2 and 3 find nothing listening and wait an
		// hour before their next attempt, so the step stays running.
		f.publish(t, `{"id":"fan","name":"Fan","steps":[
		 {"id":"spread","type":"parallel","retryPolicy":{"maxAttempts":3,"initialInterval":"1h","maxInterval":"1h","jitter":0},
		  "action":{"forEach":"[1, 2, 3]","step":{"kind":"http","method":"GET","url":"{{ item == 1 ? '`+ok.URL+`' : 'http://127.0.0.1:1/' }}"}}},
		 {"id":"lookalike","type":"command","action":{"kind":"set","values":{"succeeded":1,"failed":0}}}]}`)
		id := f.call(t, "POST", "/api/v1/templates/fan/runs", f.operator, `{}`, 201)["id"].(string)
		var live string
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(live, `data-items-succeeded="1"`) || strings.Count(live, "Item ") < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("the running forEach step never showed one finished element:\n%s", live)
			}
			time.Sleep(20 * time.Millisecond)
			live = f.page(t, otto, "/runs/"+id+"/live", 200)
		}
		if !strings.Contains(live, `data-items-failed="0"`) || !strings.Contains(live, `data-testid="step-items-spread">· 1 item succeeded</span>`) {
			t.Errorf("while two elements wait to retry, only the finished one counts:\n%s", live)
		}
		if strings.Count(live, "data-items-succeeded") != 1 {
			t.Errorf("only the forEach step carries item counts:\n%s", live)
		}
		if !strings.Contains(live, "sse:step.progress") || strings.Contains(live, "every 1s") || !strings.Contains(live, "every 5s") {
			t.Errorf("while a forEach step runs, the live part follows its step.progress events and polls only as a fallback:\n%s", live)
		}

		f.call(t, "POST", "/api/v1/runs/"+id+"/cancel", f.operator, "", 200)

		// Finished: the output's counts, the run record's.
		f.publish(t, `{"id":"fan2","name":"Fan 2","steps":[
		 {"id":"spread","type":"parallel",
		  "action":{"forEach":"[1, 2, 3]","step":{"kind":"http","method":"GET","url":"{{ item == 1 ? '`+ok.URL+`' : 'http://127.0.0.1:1/' }}"}}}]}`)
		id = f.call(t, "POST", "/api/v1/templates/fan2/runs?wait=10s", f.operator, `{}`, 201)["id"].(string)
		run := f.waitRun(t, id, models.RunFailed)
		out := run["steps"].([]any)[0].(map[string]any)["output"].(map[string]any)
		if out["succeeded"] != 1.0 || out["failed"] != 2.0 {
			t.Fatalf("output = %v; want 1 succeeded, 2 failed", out)
		}
		f.page(t, otto, "/runs/"+id, 200, `data-items-succeeded="1" data-items-failed="2"`, "· 1 item succeeded, 2 failed")
	})
}

// TestRunPageOrderAndNames: the steps list and the timeline read in the
// order the steps ran (steps that never started last, in definition order),
// under the steps' names; the page and the list name the template, not its key.
func TestRunPageOrderAndNames(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		otto := f.login(t, "otto", testPassword)
		// Neither the ids nor the definition are in run order, so listing
		// by id or by definition cannot pass.
		f.publish(t, `{"id":"ordered","name":"Order test","steps":[
		 {"id":"bb_never","name":"Never reached","type":"command","dependencies":["mm_second"],"action":{"kind":"log","message":"x"}},
		 {"id":"zz_first","name":"Begin here","type":"command","action":{"kind":"set","values":{"a":1}}},
		 {"id":"mm_second","type":"command","dependencies":["zz_first"],"action":{"kind":"fail","message":"no"}},
		 {"id":"aa_never","name":"Also never","type":"command","dependencies":["mm_second"],"action":{"kind":"log","message":"y"}}]}`)
		id := f.call(t, "POST", "/api/v1/templates/ordered/runs?wait=10s", f.operator, `{}`, 201)["id"].(string)
		f.waitRun(t, id, models.RunFailed)

		page := f.page(t, otto, "/runs/"+id, 200,
			`data-testid="run-title">Order test · run <span class="mono">`+id[len(id)-8:]+`</span>`,
			`<code data-testid="run-id">`+id+`</code>`,
			`<strong>Begin here</strong> <span class="muted mono">zz_first</span>`,
			`<strong>mm_second</strong>`)
		inOrder := func(what string, marks ...string) {
			t.Helper()
			last := -1
			for _, m := range marks {
				i := strings.Index(page, m)
				if i < 0 || i < last {
					t.Errorf("%s: %q is missing or out of order (want %v)", what, m, marks)
					return
				}
				last = i
			}
		}
		inOrder("steps list", `data-testid="step-zz_first"`, `data-testid="step-mm_second"`, `data-testid="step-bb_never"`, `data-testid="step-aa_never"`)
		inOrder("timeline", `data-testid="gantt-label" data-step="zz_first"`, `data-testid="gantt-label" data-step="mm_second"`,
			`data-testid="gantt-label" data-step="bb_never"`, `data-testid="gantt-label" data-step="aa_never"`)
		if !strings.Contains(page, `<title>Begin here (zz_first)</title>`) {
			t.Errorf("a timeline row names its step:\n%s", page)
		}

		list := f.page(t, otto, "/runs", 200, `<span title="Template key: ordered">Order test</span>`)
		if !strings.Contains(list, `data-testid="run-template-`+id+`"`) {
			t.Errorf("the runs list has no template cell for the run:\n%s", list)
		}
	})
}

// TestRunPageShowsTheDefinitionThatRan: a test run of a draft, then the
// draft is edited (a step added, a step renamed); the run's page still
// draws, names and offers the steps of the definition that ran.
func TestRunPageShowsTheDefinitionThatRan(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		dana := f.login(t, "dana", testPassword)
		f.call(t, "POST", "/api/v1/templates", f.designer, `{"id":"draft","name":"Draft as run","steps":[
		 {"id":"hello","name":"Say hello","type":"command","action":{"kind":"set","values":{"msg":"hi"}}}]}`, 201)
		id := f.call(t, "POST", "/api/v1/templates/draft/runs?wait=10s", f.designer, `{"version":1}`, 201)["id"].(string)
		f.waitRun(t, id, models.RunSucceeded)

		saved := f.call(t, "PUT", "/api/v1/templates/draft/draft", f.designer, `{"id":"draft","name":"Draft edited","steps":[
		 {"id":"hello","name":"Greet loudly","type":"command","action":{"kind":"set","values":{"msg":"HI"}}},
		 {"id":"added_later","type":"command","dependencies":["hello"],"action":{"kind":"log","message":"later"}}]}`, 200)
		if saved["number"] != 1.0 {
			t.Fatalf("the edit was saved as version %v; the test needs it to change the draft that ran (version 1)", saved["number"])
		}

		page := f.page(t, dana, "/runs/"+id, 200, `data-testid="run-kind">test run`, "Draft as run", "Say hello", `data-definition="{`)
		for _, edited := range []string{"added_later", "Greet loudly", "Draft edited"} {
			if strings.Contains(page, edited) {
				t.Errorf("the run page shows %q, from the draft as edited after the run:\n%s", edited, page)
			}
		}
	})
}

// A rerun from a later step shows the steps before it as carried over from
// the earlier run (no attempt of their own), and every attempt shows the
// input it was given: its action with the templates rendered.
func TestRunPageCarriedOverAndInputs(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite)
	otto := f.login(t, "otto", testPassword)
	f.publish(t, strings.Replace(greetDef2, `"id":"greet"`, `"id":"two"`, 1))
	first := f.call(t, "POST", "/api/v1/templates/two/runs?wait=10s", f.operator, `{"inputs":{"who":"ann"}}`, 201)["id"].(string)
	page := f.page(t, otto, "/runs/"+first, 200, `data-testid="step-hello"`)
	if !strings.Contains(page, "hello ann") || !strings.Contains(page, "<p class=\"muted\">Input</p>") {
		t.Errorf("the run page does not show the rendered input of hello")
	}
	res := f.form(t, otto, "/runs/"+first+"/rerun", url.Values{"from": {"bye"}, "version": {"same"}})
	m := runLink.FindStringSubmatch(res.res.Header.Get("HX-Redirect"))
	if m == nil {
		t.Fatalf("rerun = %d\n%s", res.status, res.body)
	}
	f.waitRun(t, m[1], models.RunSucceeded)
	again := f.page(t, otto, "/runs/"+m[1], 200, `data-testid="step-carried-hello"`, `href="/runs/`+first+`"`)
	if strings.Contains(again, `data-testid="step-carried-bye"`) {
		t.Errorf("the step the rerun started from is shown as carried over")
	}
}
