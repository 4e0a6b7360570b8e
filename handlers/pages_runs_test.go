package handlers_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"

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
func (f *flow) page(t *testing.T, br *browser, path string, want int, contains ...string) string {
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
		f.page(t, otto, "/runs/start", 200, `<option value="greet">`)
		f.page(t, otto, "/runs/start?template=greet", 200, `data-testid="start-input-who"`, "v1 — latest approved")

		// A missing required input is shown next to its field, not as a page error.
		res := f.form(t, otto, "/runs/start", url.Values{"template": {"greet"}, "version": {"1"}, "in.who": {""}})
		if res.status != 422 || !strings.Contains(res.body, `data-testid="start-error-who"`) || !strings.Contains(res.body, "is required") {
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
		f.page(t, otto, "/runs/"+id, 200, `sse-connect="/api/v1/runs/`+id+`/events?after=`, `data-testid="signal-form"`, `<option value="go">`, `data-testid="run-cancel"`)
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
	})
}
