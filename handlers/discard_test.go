package handlers_test

import (
	"testing"

	"github.com/baton-run/baton/models/store"
)

// DELETE …/versions/{n} discards a draft opened after a submitted version:
// the designer's "Discard my changes" when the session began on a
// submitted version. Designers only, with the CSRF token, drafts only.
func TestDiscardDraftRoute(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f, dana, victor := pagesFlow(t, open)
		f.run(t, scenario{name: "create", req: request{method: "POST", path: "/templates", browser: dana,
			body: tplForm("from", "blank", "key", "demo", "name", "Demo"), contentType: tplFormType, headers: tplHTMX}, status: 201})
		discard := func(n string, br *browser) request {
			return request{method: "DELETE", path: "/api/v1/templates/demo/versions/" + n, browser: br}
		}
		f.run(t, scenario{name: "the only version stays", req: discard("1", dana), status: 409, contains: []string{"only version"}})
		f.run(t, scenario{name: "submit v1", req: request{method: "POST", path: "/api/v1/templates/demo/versions/1/submit", browser: dana, body: `{}`}, status: 200})
		f.run(t, scenario{name: "a submitted version stays", req: discard("1", dana), status: 409, contains: []string{"not a draft"}})
		f.run(t, scenario{name: "an experiment opens v2", req: request{method: "PUT", path: "/api/v1/templates/demo/draft", browser: dana,
			body: `{"id":"demo","name":"Demo experiment","steps":[{"id":"a","type":"command","action":{"kind":"log","message":"hi"}}]}`},
			status: 200, contains: []string{`"number":2`, `"status":"draft"`}})
		f.run(t, scenario{name: "viewers cannot discard", req: discard("2", victor), status: 403})
		f.run(t, scenario{name: "not without the CSRF token", req: request{method: "DELETE", path: "/api/v1/templates/demo/versions/2", browser: dana, noCSRF: true}, status: 403})
		f.run(t, scenario{name: "bad number", req: discard("x", dana), status: 400})
		f.run(t, scenario{name: "dana discards it", req: discard("2", dana), status: 204})
		f.run(t, scenario{name: "it is gone", req: request{method: "GET", path: "/api/v1/templates/demo/versions/2", browser: dana}, status: 404})
		f.run(t, scenario{name: "the template is back on v1", req: request{method: "GET", path: "/api/v1/templates/demo", browser: dana},
			status: 200, contains: []string{`"latestVersion":1`, `"name":"Demo"`}})
		f.run(t, scenario{name: "the designer opens v1 again", req: request{method: "GET", path: "/templates/demo/design", browser: dana},
			status: 200, contains: []string{"your first change opens a new draft"}})
	})
}
