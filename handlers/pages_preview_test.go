package handlers_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/baton-run/baton/handlers"
	"github.com/baton-run/baton/models/store"
)

func TestDesignerPreview(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f, dana, victor := pagesFlow(t, open)
		f.run(t, scenario{name: "create", req: request{method: "POST", path: "/templates", browser: dana,
			body: tplForm("from", "blank", "key", "demo", "name", "Demo"), contentType: tplFormType, headers: tplHTMX}, status: 201})
		def := `{"id":"demo","name":"Demo","inputs":{"amount":{"type":"integer"}},"steps":[
			{"id":"fetch","type":"command","action":{"kind":"http","url":"http://x"}},
			{"id":"broken","type":"command","action":{"kind":"log","message":"{{ nope }}"}}]}`
		preview := func(kind, src string, br *browser) request {
			body, _ := json.Marshal(map[string]any{"definition": json.RawMessage(def), "kind": kind, "source": src,
				"inputs": map[string]any{"amount": 1200},
				"steps":  map[string]any{"fetch": map[string]any{"status": "succeeded", "output": map[string]any{"status": 201}, "attempts": 1}}})
			return request{method: "POST", path: "/templates/demo/design/preview", browser: br, body: string(body)}
		}
		for _, sc := range []scenario{
			{name: "value against the last run", req: preview("condition", "inputs.amount > 1000 && steps.fetch.output.status == 201", dana),
				status: 200, contains: []string{`"value":true`, `"problems":[]`}},
			{name: "template", req: preview("template", "Paid {{ inputs.amount * 2 }}", dana), status: 200, contains: []string{`"value":"Paid 2400"`}},
			{name: "compile error inline", req: preview("expression", "inputs.amout", dana), status: 200,
				contains: []string{`"problems":["`, "amout", `did you mean`}},
			{name: "evaluation error", req: preview("expression", "int('x' + steps.fetch.status)", dana), status: 200, contains: []string{`"evalError":"`}},
			{name: "viewers may preview", req: preview("expression", "1 + 1", victor), status: 200, contains: []string{`"value":2`}},
			{name: "bad kind", req: preview("sql", "1", dana), status: 400, contains: []string{"expression, condition or template"}},
			{name: "not JSON", req: request{method: "POST", path: "/templates/demo/design/preview", browser: dana, body: "{"}, status: 400, contains: []string{"not valid JSON"}},
			{name: "problems of an invalid draft are a 200", req: request{method: "POST", path: "/templates/demo/design/problems", browser: dana, body: def},
				status: 200, contains: []string{`"problems":[{`, `"path":"steps[1].action.message"`, "nope"}},
			{name: "no problems", req: request{method: "POST", path: "/templates/demo/design/problems", browser: dana,
				body: `{"id":"demo","name":"Demo","steps":[{"id":"a","type":"command","action":{"kind":"log","message":"hi"}}]}`},
				status: 200, contains: []string{`"problems":[]`}},
		} {
			f.run(t, sc)
		}
	})
}

func TestDraftLockPages(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f, dana, victor := pagesFlow(t, open)
		f.run(t, scenario{name: "create", req: request{method: "POST", path: "/templates", browser: dana,
			body: tplForm("from", "blank", "key", "demo", "name", "Demo"), contentType: tplFormType, headers: tplHTMX}, status: 201})
		dana2 := f.login(t, "dana", testPassword)
		lock := func(br *browser, token string) request {
			return request{method: "POST", path: "/templates/demo/design/lock", browser: br, body: `{"token":"` + token + `"}`}
		}
		f.run(t, scenario{name: "first tab takes it", req: lock(dana, "tab-1"), status: 200, contains: []string{`"held":true`, `"holder":"dana"`}})
		f.run(t, scenario{name: "second tab is told who holds it", req: lock(dana2, "tab-2"), status: 200, contains: []string{`"held":false`, `"holder":"dana"`}})
		f.run(t, scenario{name: "viewers cannot lock", req: lock(victor, "tab-3"), status: 403})
		f.run(t, scenario{name: "no token", req: lock(dana, ""), status: 400, contains: []string{"token"}})
		// The first tab is closed without a word: its lease runs out.
		f.clock.Advance(handlers.DraftLockTTL + time.Second)
		f.run(t, scenario{name: "a closed tab's lock expires", req: lock(dana2, "tab-2"), status: 200, contains: []string{`"held":true`}})
		f.run(t, scenario{name: "the old tab lost it", req: lock(dana, "tab-1"), status: 200, contains: []string{`"held":false`}})
		f.run(t, scenario{name: "release", req: request{method: "POST", path: "/templates/demo/design/unlock", browser: dana2, body: `{"token":"tab-2"}`}, status: 204})
		f.run(t, scenario{name: "free again", req: lock(dana, "tab-1"), status: 200, contains: []string{`"held":true`}})
	})
}

func TestDesignerWorkflowPanel(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f, dana, victor := pagesFlow(t, open)
		f.run(t, scenario{name: "create", req: request{method: "POST", path: "/templates", browser: dana,
			body: tplForm("from", "blank", "key", "demo", "name", "Demo"), contentType: tplFormType, headers: tplHTMX}, status: 201})
		post := func(path, body string, br *browser) request {
			return request{method: "POST", path: "/templates/demo/design/" + path, browser: br, body: body}
		}
		withInputs := `{"id":"demo","name":"Demo","inputs":{"amount":{"type":"integer","default":"lots","required":true},"note":{"type":"string"}},
			"steps":[{"id":"a","type":"command","action":{"kind":"log","message":"hi"}}]}`
		for _, sc := range []scenario{
			{name: "one row per input, sorted, the bad default said next to it", req: post("workflow", withInputs, dana), status: 200,
				contains: []string{`data-testid="workflow-form"`, `value="Demo"`, `data-input-name="amount"`, `data-input-name="note"`,
					`data-testid="field-inputs[0].default"`, `data-testid="errors-inputs[0].default"><li>`, `data-testid="wf-add-input"`,
					`<option value="integer" selected>`, `<option value="true" selected>yes</option>`}},
			{name: "viewers see it without edit buttons", req: post("workflow", withInputs, victor), status: 200,
				contains: []string{`data-input-name="amount"`}, notContains: []string{`data-testid="wf-add-input"`, `data-testid="wf-remove-0"`}},
			{name: "no inputs", req: post("workflow", `{"id":"demo","name":"Demo","steps":[]}`, dana), status: 200,
				contains: []string{`data-testid="wf-no-inputs"`}},
			// A value that cannot be read is not a JSON problem: say what is wrong with it.
			{name: "bad duration", req: post("panel?step=w", `{"id":"demo","name":"Demo","steps":[{"id":"w","type":"wait","action":{"duration":"soon"}}]}`, dana),
				status: 400, contains: []string{"is not a duration"}, notContains: []string{"not valid JSON"}},
			// The parser's token jargon becomes plain words, the column kept.
			{name: "plain expression errors", req: post("problems", `{"id":"demo","name":"Demo","steps":[{"id":"c","type":"condition","action":{"expression":"1 + (2"}}]}`, dana),
				status: 200, contains: []string{"column ", "ends too early"}, notContains: []string{"EOF", "token"}},
			{name: "plain preview errors", req: post("preview", `{"definition":{"id":"demo","name":"Demo","steps":[]},"kind":"expression","source":"1 + (2"}`, dana),
				status: 200, contains: []string{"ends too early"}, notContains: []string{"EOF"}},
		} {
			f.run(t, sc)
		}
	})
}
