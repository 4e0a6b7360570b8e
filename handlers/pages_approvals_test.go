package handlers_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/baton-run/baton/models/store"
)

func TestApprovalPages(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		f := newFlow(t, open)
		ann := f.login(t, "ann", testPassword)
		dana := f.login(t, "dana", testPassword)
		duncan := f.login(t, "duncan", testPassword)

		f.page(t, ann, "/approvals", 200, `data-testid="approvals-empty"`, "Nothing to review")
		f.page(t, dana, "/approvals", 200, `data-testid="approvals-not-approver"`)

		// v1 approved; v2 adds a step and changes one, and waits for review.
		f.publish(t, greetDef)
		f.call(t, "PUT", "/api/v1/templates/greet/draft", f.designer, greetDef2, 200)
		f.call(t, "POST", "/api/v1/templates/greet/versions/2/submit", f.designer, "", 200)

		f.page(t, ann, "/approvals", 200, `data-testid="review-greet-2"`)
		// The approver is told: a count beside Approvals on every page, and
		// the review on their first page; the author is not asked.
		f.page(t, ann, "/runs", 200, `data-testid="approvals-waiting">1<span class="sr-only"> waiting for your review`,
			`<a class="skip-link" href="#main" data-testid="skip-link">Skip to the content</a>`)
		f.page(t, ann, "/", 200, `data-testid="home-reviews"`, "Waiting for your review (1)", `href="/approvals/greet/2" data-testid="home-review-greet-2"`)
		if body := f.page(t, dana, "/", 200); strings.Contains(body, "approvals-waiting") || strings.Contains(body, "home-reviews") {
			t.Errorf("a designer is shown reviews to do")
		}
		// A designer may test-run the version in review; the version picker reloads the form.
		f.page(t, dana, "/runs/start?template=greet&version=2", 200, "v2 — test run of the in review version", `hx-select="#start-form"`)
		review := f.page(t, ann, "/approvals/greet/2", 200, `data-testid="review-graph"`, `data-added="bye"`, `data-changed="hello"`,
			"against v1", `data-testid="review-legend"`, "Outlined on the graph:", `data-testid="review-jump"`, "removed (dashed, faded)", `class="dl dl-add"`, `class="dl dl-del"`, "unchanged lines", `data-testid="review-approve"`, `name="decision" value="reject"`)
		if strings.Contains(review, `data-testid="review-why"`) {
			t.Errorf("an approver who did not write the version must be able to decide")
		}
		// Four eyes, visible: the author (also an approver here: duncan) is told why not.
		f.call(t, "POST", "/api/v1/templates", f.dual, strings.Replace(gateDef, `"gate"`, `"gate2"`, 1), 201)
		f.call(t, "POST", "/api/v1/templates/gate2/versions/1/submit", f.dual, "", 200)
		f.page(t, duncan, "/approvals", 200, `data-testid="other-gate2-1"`, "four eyes")
		f.page(t, duncan, "/approvals/gate2/1", 200, `data-testid="review-why"`, "You wrote or edited this version", "disabled")
		f.page(t, dana, "/approvals/greet/2", 200, "Approving needs the approver role")

		// Rejecting needs a comment, shown next to the comment box.
		res := f.form(t, ann, "/approvals/greet/2/decide", url.Values{"decision": {"reject"}})
		if res.status != 422 || !strings.Contains(res.body, `data-testid="review-error"`) {
			t.Fatalf("reject without comment = %d\n%s", res.status, res.body)
		}
		if res := f.form(t, dana, "/approvals/greet/2/decide", url.Values{"decision": {"approve"}}); res.status != 403 {
			t.Fatalf("designer decides = %d\n%s", res.status, res.body)
		}
		res = f.form(t, ann, "/approvals/greet/2/decide", url.Values{"decision": {"approve"}, "comment": {"ship it"}})
		if res.status != 204 || res.res.Header.Get("HX-Redirect") != "/approvals/greet/2" {
			t.Fatalf("approve = %d %q\n%s", res.status, res.res.Header.Get("HX-Redirect"), res.body)
		}
		approved := f.page(t, ann, "/approvals/greet/2", 200, `data-testid="review-status">approved`, "ship it", "only versions in review", "written by <strong>dana</strong>", `data-testid="review-step"`)
		if strings.Count(approved, "ship it") != 1 || strings.Contains(approved, `data-testid="review-decision"`) {
			t.Errorf("the approval is told more than once on the review page")
		}
		if body := f.page(t, ann, "/", 200); strings.Contains(body, "home-review-greet-2") {
			t.Errorf("a decided version is still listed as waiting on the home page")
		}
		f.page(t, ann, "/approvals/greet/9", 404)
	})
}
