package handlers_test

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/baton-run/baton/engine/plan"
	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models/store"
)

// pagesFlow is the real app (store, engine, launcher) with the examples of
// docs/examples, as `baton serve` wires it, and browser sessions for a
// designer (dana) and a viewer (victor).
func pagesFlow(t *testing.T, open func(testing.TB) *store.Store) (*flow, *browser, *browser) {
	t.Helper()
	f := newFlow(t, open)
	f.app = handlers.New(handlers.Deps{
		Log: slog.New(slog.DiscardHandler), Store: f.store, Definitions: plan.Compiler{}, Registry: prometheus.NewRegistry(),
		Templates: f.store, Runs: f.launcher, Now: f.clock.Now, RateLimit: -1,
		Examples: os.DirFS("../docs/examples"),
	})
	return f, f.login(t, "dana", testPassword), f.login(t, "victor", testPassword)
}

func tplForm(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v.Encode()
}

var tplHTMX = map[string]string{"HX-Request": "true"}

const tplFormType = "application/x-www-form-urlencoded"

func TestTemplatePages(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f, dana, victor := pagesFlow(t, open)
		post := func(body string) request {
			return request{method: "POST", path: "/templates", browser: dana, body: body, contentType: tplFormType, headers: tplHTMX}
		}
		for _, sc := range []scenario{
			{name: "empty list says what to do", req: request{method: "GET", path: "/templates", browser: dana},
				status: 200, contains: []string{`data-testid="templates-empty"`, "No templates yet", "Create one below", `value="branching.yaml"`}},
			{name: "a viewer cannot create", req: request{method: "GET", path: "/templates", browser: victor},
				status: 200, contains: []string{"Designers create templates"}, notContains: []string{`data-testid="template-create"`}},
			{name: "blank without a key", req: post(tplForm("from", "blank")),
				status: 422, contains: []string{`data-testid="create-error"`, "<code>key</code>", "is required"},
				headers: map[string]string{"HX-Retarget": "#create-errors"}},
			{name: "blank", req: post(tplForm("from", "blank", "key", "demo", "name", "Demo")),
				status: 201, headers: map[string]string{"HX-Redirect": "/templates/demo/design"}},
			{name: "duplicate key", req: post(tplForm("from", "blank", "key", "demo")),
				status: 422, contains: []string{"exists already"}},
			{name: "bad key", req: post(tplForm("from", "blank", "key", "Not A Key")),
				status: 422, contains: []string{"The definition has problems", "<code>id</code>"}},
			{name: "example outside the folder", req: post(tplForm("from", "example", "example", "../go.mod", "key", "x")),
				status: 422, contains: []string{"choose one of the examples"}},
			{name: "example", req: post(tplForm("from", "example", "example", "branching.yaml", "key", "ex-branch", "name", "Branches")),
				status: 201, headers: map[string]string{"HX-Redirect": "/templates/ex-branch/design"}},
			{name: "import nothing", req: post(tplForm("from", "import")),
				status: 422, contains: []string{"paste a YAML or JSON definition"}},
			{name: "import invalid", req: post(tplForm("from", "import", "source", "id: imp\nname: I\nsteps:\n  - id: a\n    type: command\n    action: {kind: nope}\n")),
				status: 422, contains: []string{"<code>steps[0].action.kind</code>"}},
			{name: "import JSON", req: post(tplForm("from", "import", "source", `{"id":"imp","name":"Imported","steps":[{"id":"a","type":"wait","action":{"duration":10}}]}`)),
				status: 201, headers: map[string]string{"HX-Redirect": "/templates/imp/design"}},
			{name: "without tplHTMX a refusal is the error page", req: request{method: "POST", path: "/templates", browser: dana, body: tplForm("from", "blank"), contentType: tplFormType},
				status: 422, contains: []string{`data-testid="error-page"`, "is required"}},
			{name: "viewer may not create", req: request{method: "POST", path: "/templates", browser: victor, body: tplForm("from", "blank", "key", "v"), contentType: tplFormType, headers: tplHTMX},
				status: 403},
			{name: "list", req: request{method: "GET", path: "/templates", browser: dana},
				status: 200, contains: []string{`data-testid="template-row-demo"`, `data-testid="template-row-ex-branch"`, `data-testid="template-row-imp"`, "Branches"}},
			{name: "search", req: request{method: "GET", path: "/templates?search=branch", browser: dana},
				status: 200, contains: []string{`data-testid="template-row-ex-branch"`}, notContains: []string{`data-testid="template-row-demo"`}},
			{name: "status filter with nothing", req: request{method: "GET", path: "/templates?status=approved", browser: dana},
				status: 200, contains: []string{"No template matches these filters"}},
			{name: "bad status filter", req: request{method: "GET", path: "/templates?status=bogus", browser: dana},
				status: 422, contains: []string{"must be draft, in_review, approved or rejected"}},
			{name: "template page", req: request{method: "GET", path: "/templates/demo", browser: dana},
				status: 200, contains: []string{`data-testid="version-row-1"`, `data-status="draft"`, `data-testid="submit-1"`, "Open the designer", "cannot run in production", "created v1"}},
			{name: "a viewer sees no actions", req: request{method: "GET", path: "/templates/demo", browser: victor},
				status: 200, contains: []string{"View the graph"}, notContains: []string{`data-testid="submit-1"`}},
			{name: "unknown template", req: request{method: "GET", path: "/templates/nope", browser: dana}, status: 404},
			{name: "viewer may not submit", req: request{method: "POST", path: "/templates/demo/versions/1/submit", browser: victor, headers: tplHTMX}, status: 403},
			{name: "submit", req: request{method: "POST", path: "/templates/demo/versions/1/submit", browser: dana, headers: tplHTMX},
				status: 204, headers: map[string]string{"HX-Redirect": "/templates/demo"}},
			{name: "submitted", req: request{method: "GET", path: "/templates/demo", browser: dana},
				status: 200, contains: []string{`data-status="in_review"`, "submitted for review", `data-testid="withdraw-1"`, `href="/approvals/demo/1"`}, notContains: []string{`data-testid="submit-1"`}},
			{name: "the designer on a submitted version", req: request{method: "GET", path: "/templates/demo/design", browser: dana},
				status: 200, contains: []string{`data-status="in_review"`, "your first change opens a new draft"}},
			{name: "submit twice", req: request{method: "POST", path: "/templates/demo/versions/1/submit", browser: dana, headers: tplHTMX},
				status: 409, headers: map[string]string{"HX-Retarget": "#flash"}},
			{name: "withdraw", req: request{method: "POST", path: "/templates/demo/versions/1/withdraw", browser: dana, headers: tplHTMX},
				status: 204, headers: map[string]string{"HX-Redirect": "/templates/demo"}},
			{name: "in-review filter", req: request{method: "GET", path: "/templates?status=draft&search=demo", browser: dana},
				status: 200, contains: []string{`data-testid="template-row-demo"`}},
		} {
			f.run(t, sc)
		}
	})
}

func TestDesignerPages(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f, dana, victor := pagesFlow(t, open)
		f.run(t, scenario{name: "create", req: request{method: "POST", path: "/templates", browser: dana,
			body: tplForm("from", "blank", "key", "demo", "name", "Demo"), contentType: tplFormType, headers: tplHTMX}, status: 201})
		panel := func(step, def string, br *browser) request {
			return request{method: "POST", path: "/templates/demo/design/panel?step=" + step, browser: br, body: def}
		}
		bad := `{"id":"demo","name":"Demo","steps":[
			{"id":"start","type":"command","action":{"kind":"log","message":"hi"}},
			{"id":"call","type":"command","dependencies":["start"],"when":"inputs.x >","action":{"kind":"http","method":"POST","url":"http://x","headers":{"B":"2","A":"1"}},"timeout":1500},
			{"id":"check","type":"condition","dependencies":["call"],"action":{"expression":"1 < 2"},"onSuccess":"nowhere"}]}`
		for _, sc := range []scenario{
			{name: "designer page", req: request{method: "GET", path: "/templates/demo/design", browser: dana},
				status: 200, contains: []string{`data-testid="designer-page"`, `data-designer-js="/static/designer.js?v=`, "designer.css?v=",
					`data-version="1"`, `data-status="draft"`, "&#34;id&#34;:&#34;start&#34;", `data-problems="[]"`, "All changes saved", `data-testid="submit-review"`},
				notContains: []string{"data-readonly"}},
			{name: "read only for a viewer", req: request{method: "GET", path: "/templates/demo/design", browser: victor},
				status: 200, contains: []string{`data-readonly="true"`, "Read only"}, notContains: []string{`data-testid="submit-review"`}},
			{name: "unknown template", req: request{method: "GET", path: "/templates/nope/design", browser: dana}, status: 404},
			{name: "http panel with its errors inline", req: panel("call", bad, dana),
				status: 200, contains: []string{`data-step="call"`, "HTTP request", `data-testid="field-action.url"`, `value="http://x"`,
					`<option value="POST" selected>`, "A: 1\nB: 2", `value="1.5s"`, `data-testid="errors-when"><li>`, `aria-invalid="true"`, `data-testid="field-compensate.kind"`, `data-testid="field-retryPolicy.maxAttempts"`, `data-preview="template"`,
					"default (none_failed)", `data-testid="step-output-shape"`, "{status, headers, body}",
					`<datalist id="expr-suggest"`, `<option value="steps.start.output.message">`, `<option value="steps.check.output.result">`, `list="expr-suggest"`},
				notContains: []string{"nowhere", "all_success)"}},
			{name: "condition panel: the bad edge is on the canvas, not here", req: panel("check", bad, dana),
				status: 200, contains: []string{"Condition", `data-testid="field-action.expression"`, `value="1 &lt; 2"`, `data-testid="errors-action.expression"></ul>`},
				notContains: []string{"step-other-errors", "field-compensate"}},
			{name: "read-only panel", req: panel("start", bad, victor), status: 200, contains: []string{"readonly"}},
			{name: "device panel", req: panel("dev", `{"id":"demo","name":"Demo","steps":[{"id":"dev","type":"command","action":{"kind":"device","command":"flash","require":["usb"],"strategy":"round_robin","queueTimeout":"45s"}}]}`, dana),
				status: 200, contains: []string{"Device command", `data-testid="field-action.require"`, `data-testid="field-action.fallback"`,
					`<option value="round_robin" selected>`, `value="45s"`}},
			{name: "unknown step", req: panel("ghost", bad, dana), status: 404, contains: []string{"no step"}},
			{name: "not JSON", req: panel("start", `{"id":`, dana), status: 400, contains: []string{"not valid JSON"}},
			{name: "inputs form", req: request{method: "POST", path: "/templates/demo/design/inputs", browser: dana,
				body: `{"id":"demo","name":"D","inputs":{"amount":{"type":"number","default":5,"required":true},"flag":{"type":"boolean"},"items":{"type":"array","default":[1]}},"steps":[]}`},
				status: 200, contains: []string{`data-testid="field-inputs.amount"`, `value="5"`, "amount (required)", `data-type="bool"`, `data-type="json"`, "[1]</textarea>"}},
			{name: "no inputs", req: request{method: "POST", path: "/templates/demo/design/inputs", browser: dana, body: `{"id":"demo","steps":[]}`},
				status: 200, contains: []string{"declares no inputs"}},
			{name: "parse YAML", req: request{method: "POST", path: "/templates/demo/design/parse", browser: dana, contentType: "application/yaml",
				body: "id: demo\nname: Demo\nsteps:\n  - id: a\n    type: wait\n    action: {duration: 1s}\n", headers: map[string]string{"Accept": "application/json"}},
				status: 200, contains: []string{`"id":"demo"`, `"duration":1000`}},
			{name: "parse invalid YAML", req: request{method: "POST", path: "/templates/demo/design/parse", browser: dana, contentType: "application/yaml",
				body: "id: demo\nname: Demo\nsteps: []\n", headers: map[string]string{"Accept": "application/json"}},
				status: 422, contains: []string{`"code":"invalid"`}},
		} {
			f.run(t, sc)
		}

		// Every palette kind gets a panel with its own fields.
		kinds := map[string]string{
			`{"kind":"set","values":{"a":1}}`:                                "field-action.values",
			`{"kind":"fail","message":"x"}`:                                  "field-action.retryable",
			`{"kind":"subworkflow","template":"child"}`:                      "field-action.template",
			`{"cases":[{"when":"true","next":"s"}],"default":"s"}`:           "field-action.cases[0].when",
			`{"forEach":"[1]","as":"i","step":{"kind":"log","message":"x"}}`: "field-action.step.message",
			`{"duration":1000}`:                                              "field-action.duration",
			`{"signal":"go","timeout":60000}`:                                "field-action.signal",
		}
		types := map[string]string{"set": "command", "fail": "command", "subworkflow": "command", "cases": "condition", "forEach": "parallel", "duration": "wait", "signal": "wait"}
		for action, field := range kinds {
			typ := ""
			for k, v := range types {
				if strings.Contains(action, `"`+k+`"`) && (typ == "" || k != "duration") {
					typ = v
				}
			}
			def := `{"id":"demo","name":"D","steps":[{"id":"s","type":"` + typ + `","action":` + action + `}]}`
			f.run(t, scenario{name: "panel " + field, req: panel("s", def, dana), status: 200, contains: []string{`data-testid="` + field + `"`}})
		}
	})
}

// The designer saves as the user types: "who did what" shows a run of
// edits of one version by one person as one line with its count.
func TestTemplateTrailFoldsSaves(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite)
	dana := f.login(t, "dana", testPassword)
	f.publish(t, greetDef)
	for i := range 4 {
		f.call(t, "PUT", "/api/v1/templates/greet/draft", f.designer, strings.Replace(greetDef2, `"Greet"`, fmt.Sprintf(`"Greet %d"`, i), 1), 200)
	}
	page := f.page(t, dana, "/templates/greet", 200, `data-testid="trail-saves"`)
	if n := strings.Count(page, "edited v2"); n != 1 {
		t.Errorf("%d lines say 'edited v2'; want one for the run of saves", n)
	}
	if !regexp.MustCompile(`\(\d saves\)`).MatchString(page) {
		t.Errorf("the folded line does not say how many saves")
	}
}
