package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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

// While a designer tab holds the draft's lock, DELETE …/versions/{n} is
// refused with 409 naming the holder, unless it carries that tab's token
// (X-Baton-Draft-Lock) or ?force=true from the draft's author, the lock's
// holder or an admin. A discarded number is never given to a later draft.
func TestDiscardDraftRespectsLock(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f, dana, _ := pagesFlow(t, open)
		const path = "/api/v1/templates/demo/versions/"
		tab := func(token string) map[string]string { return map[string]string{"X-Baton-Draft-Lock": token} }
		openDraft := func(name, token string, n int) {
			t.Helper()
			f.run(t, scenario{name: name, req: request{method: "PUT", path: "/api/v1/templates/demo/draft", bearer: token,
				body: `{"id":"demo","name":"Demo experiment","steps":[{"id":"a","type":"command","action":{"kind":"log","message":"hi"}}]}`},
				status: 200, contains: []string{fmt.Sprintf(`"number":%d`, n), `"status":"draft"`}})
		}
		f.call(t, "POST", "/api/v1/templates", f.designer, `{"id":"demo","name":"Demo","steps":[{"id":"a","type":"wait","action":{"duration":10}}]}`, 201)
		f.call(t, "POST", path+"1/submit", f.designer, `{}`, 200)
		openDraft("dana opens v2", f.designer, 2)
		f.run(t, scenario{name: "dana's tab takes the lock", req: request{method: "POST", path: "/templates/demo/design/lock", browser: dana,
			body: `{"token":"tab-1"}`}, status: 200, contains: []string{`"held":true`}})

		for _, sc := range []scenario{
			{name: "an API call without a token", req: request{method: "DELETE", path: path + "2", bearer: f.designer2},
				status: 409, contains: []string{`"code":"conflict"`, "dana is editing draft v2", "force=true", `"requestId"`}},
			{name: "dana's other tab", req: request{method: "DELETE", path: path + "2", browser: dana, headers: tab("tab-2")},
				status: 409, contains: []string{"you (dana) are editing draft v2"}},
			{name: "force by someone who neither wrote nor holds it", req: request{method: "DELETE", path: path + "2?force=true", bearer: f.designer2},
				status: 403, contains: []string{"only the draft's author (dana)"}},
			{name: "force must be a boolean", req: request{method: "DELETE", path: path + "2?force=please", bearer: f.designer2},
				status: 400, contains: []string{"force must be true or false"}},
			{name: "an over-long token", req: request{method: "DELETE", path: path + "2", browser: dana, headers: tab(strings.Repeat("x", 101))},
				status: 400, contains: []string{"X-Baton-Draft-Lock"}},
		} {
			f.run(t, sc)
		}
		f.call(t, "GET", path+"2", f.designer, "", 200) // still there
		f.run(t, scenario{name: "the tab that holds the lock discards", req: request{method: "DELETE", path: path + "2", browser: dana, headers: tab("tab-1")}, status: 204})

		// The next draft is v3: v2 stays the discarded one.
		openDraft("dave opens a draft", f.designer2, 3)
		f.call(t, "GET", path+"2", f.designer, "", 404)
		f.run(t, scenario{name: "dave, its author, may force", req: request{method: "DELETE", path: path + "3?force=true", bearer: f.designer2}, status: 204})
		openDraft("dave opens another", f.designer2, 4)
		f.run(t, scenario{name: "an admin may force", req: request{method: "DELETE", path: path + "4?force=1", bearer: f.adminToken}, status: 204})

		audit, err := f.store.ListAudit(context.Background(), 5, 0)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(audit)
		for _, want := range []string{`"target":"template:demo/v4"`, `"forcedPastLockOf":"dana"`, `"target":"template:demo/v3"`} {
			if !strings.Contains(string(body), want) {
				t.Errorf("audit log does not contain %s:\n%s", want, body)
			}
		}
	})
}
