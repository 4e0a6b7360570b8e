package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

// evidenceDef is a template whose first step calls target over HTTP, then
// decides on the answer: totals over limit are held, the others shipped.
func evidenceDef(target, limit, extra string) string {
	return `{"id":"orders","name":"Orders","inputs":{"n":{"type":"integer","required":true}},"steps":[
	 {"id":"fetch","type":"command","action":{"kind":"http","method":"GET","url":"` + target + `/orders/{{ inputs.n }}"}},
	 {"id":"big","type":"condition","dependencies":["fetch"],"action":{"expression":"steps.fetch.output.body.total > ` + limit + `"},
	  "onSuccess":["hold"],"onFailure":["ship"]},
	 {"id":"hold","type":"command","action":{"kind":"set","values":{"held":"{{ inputs.n }}"}}},
	 {"id":"ship","type":"command","action":{"kind":"set","values":{"shipped":"{{ inputs.n }}"}}}` + extra + `]}`
}

// TestEvidenceReplaysWithoutSideEffects records 50 production runs of a
// template whose first step is an HTTP call, submits a version that moves
// the decision's threshold and adds a notification call, and reads the
// evidence: every run is replayed, the changed decisions and the new step
// are reported, and not one request reaches the target.
func TestEvidenceReplaysWithoutSideEffects(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		var calls atomic.Int64
		target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			var n int
			_, _ = fmt.Sscanf(r.URL.Path, "/orders/%d", &n)
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"total": %d}`, n*10) // run n: total 10n
		}))
		t.Cleanup(target.Close)
		f := newFlow(t, open)
		f.publish(t, evidenceDef(target.URL, "300", ""))
		for n := 1; n <= 50; n++ {
			out := f.call(t, "POST", "/api/v1/templates/orders/runs?wait=20s", f.operator, fmt.Sprintf(`{"inputs":{"n":%d}}`, n), 201)
			if out["status"] != "succeeded" {
				t.Fatalf("run %d: %v", n, out)
			}
		}
		if got := calls.Load(); got != 50 {
			t.Fatalf("the recorded runs made %d calls, want 50", got)
		}
		// Version 2: hold above 200 (runs 21-30 now take the other
		// branch) and notify a new endpoint after shipping.
		v2 := evidenceDef(target.URL, "200", `,
		 {"id":"notify","type":"command","dependencies":["ship"],"action":{"kind":"http","method":"POST","url":"`+target.URL+`/notify","body":{"n":"{{ inputs.n }}"}}}`)
		f.call(t, "PUT", "/api/v1/templates/orders/draft", f.designer, v2, 200)
		f.call(t, "POST", "/api/v1/templates/orders/versions/2/submit", f.designer, "", 200)

		res := f.do(t, request{method: "GET", path: "/api/v1/templates/orders/versions/2/evidence", bearer: f.viewerToken})
		if res.status != 200 {
			t.Fatalf("evidence = %d\n%s", res.status, res.body)
		}
		var ev models.Evidence
		if err := json.Unmarshal([]byte(res.body), &ev); err != nil {
			t.Fatal(err)
		}
		if got := calls.Load(); got != 50 {
			t.Fatalf("replaying made %d requests to the target", got-50)
		}
		s := ev.Summary
		// Runs 21-30 flip (held now, shipped before); runs 1-20 would
		// notify (a new step); 31-50 are held as before.
		if s.Replayed != 50 || s.DecisionsChanged != 10 || s.PathChanged != 30 || s.WouldExecute != 20 || s.Refused != 0 || s.Unknown != 0 {
			t.Fatalf("summary = %+v", s)
		}
		if len(ev.BaseVersions) != 1 || ev.BaseVersions[0] != 1 || ev.Version != 2 || len(ev.Runs) != 50 {
			t.Fatalf("evidence = %+v", ev)
		}
		for _, r := range ev.Runs {
			switch {
			case len(r.DecisionsChanged) == 1:
				if d := r.DecisionsChanged[0]; d != (models.DecisionChange{StepID: "big", Was: "false", Now: "true"}) || r.Outcome.Now != "succeeded" {
					t.Errorf("run %s: %+v", r.RunID, r)
				}
			case len(r.WouldExecute) == 1:
				in, _ := r.Inputs["notify"].(map[string]any)
				if r.WouldExecute[0] != "notify" || in["url"] != target.URL+"/notify" || r.Outcome.Now != "unknown" {
					t.Errorf("run %s: %+v", r.RunID, r)
				}
			}
		}
		if !strings.Contains(s.Line(), "Replayed on the last 50 runs: 20 same path, 30 would take another path, 20 would call a new step") {
			t.Errorf("line = %q", s.Line())
		}

		// The review page shows the same evidence beside the diff, and can
		// list only the runs that change.
		ann := f.login(t, "ann", testPassword)
		page := f.page(t, ann, "/approvals/orders/2", 200, `data-testid="evidence"`,
			"Replayed on the last 50 runs: 20 same path, 30 would take another path, 20 would call a new step")
		if n := strings.Count(page, `data-testid="evidence-run-`); n != 50 {
			t.Errorf("the review page lists %d runs, want 50", n)
		}
		changes := f.page(t, ann, "/approvals/orders/2?evidence=changes", 200, "Showing the 30 runs that change.")
		if n := strings.Count(changes, `data-changes="true"`); n != 30 || strings.Contains(changes, `data-changes="false"`) {
			t.Errorf("filtered to the runs that change: %d rows", n)
		}

		// ?runs=: fewer runs; bad values are refused.
		small := f.call(t, "GET", "/api/v1/templates/orders/versions/2/evidence?runs=5", f.viewerToken, "", 200)
		if sum := small["summary"].(map[string]any); sum["replayed"] != 5.0 {
			t.Fatalf("runs=5: %v", sum)
		}
		for _, bad := range []string{"0", "501", "x"} {
			f.refused(t, "GET", "/api/v1/templates/orders/versions/2/evidence?runs="+bad, f.viewerToken, "", 400, models.BadRequest, "runs")
		}
		f.refused(t, "GET", "/api/v1/templates/orders/versions/9/evidence", f.viewerToken, "", 404, models.NotFound)
		f.refused(t, "GET", "/api/v1/templates/orders/versions/2/evidence", "", "", 401, models.Unauthenticated)

		// A new production run makes the cached answer stale.
		f.call(t, "POST", "/api/v1/templates/orders/runs?wait=20s", f.operator, `{"inputs":{"n":51}}`, 201)
		again := f.call(t, "GET", "/api/v1/templates/orders/versions/2/evidence?runs=100", f.viewerToken, "", 200)
		if sum := again["summary"].(map[string]any); sum["replayed"] != 51.0 {
			t.Fatalf("after a new run: %v", sum)
		}
		if got := calls.Load(); got != 51 {
			t.Fatalf("%d calls; want only the new run's", got)
		}
	})
}

// TestEvidenceReportsRefusedRuns: a version that requires an input the
// recorded runs did not have would refuse them.
func TestEvidenceReportsRefusedRuns(t *testing.T) {
	t.Parallel()
	f := newFlow(t, openSQLite)
	f.publish(t, `{"id":"hello","name":"Hello","steps":[{"id":"say","type":"command","action":{"kind":"log","message":"hi"}}]}`)
	f.call(t, "POST", "/api/v1/templates/hello/runs?wait=20s", f.operator, `{}`, 201)
	f.call(t, "PUT", "/api/v1/templates/hello/draft", f.designer,
		`{"id":"hello","name":"Hello","inputs":{"who":{"type":"string","required":true}},"steps":[{"id":"say","type":"command","action":{"kind":"log","message":"hi {{ inputs.who }}"}}]}`, 200)
	out := f.call(t, "GET", "/api/v1/templates/hello/versions/2/evidence", f.viewerToken, "", 200)
	run := out["runs"].([]any)[0].(map[string]any)
	if sum := out["summary"].(map[string]any); sum["refused"] != 1.0 || fmt.Sprint(run["missingInputs"]) != "[inputs.who: required (a string)]" ||
		run["outcome"].(map[string]any)["now"] != "failed" {
		t.Fatalf("evidence = %v", out)
	}
}

// BenchmarkEvidence replays the newest 50 production runs of a 20-step
// template (an HTTP call, then conditions and set steps that read its
// answer) through a version that moves a threshold, through the HTTP
// handler, on each database, with the cache off: every iteration reads
// the runs and replays them. docs/performance.md#evidence has the figures.
//
//	BATON_TEST_POSTGRES_URL=… go test -run '^$' -bench BenchmarkEvidence -benchtime 20x ./handlers/
func BenchmarkEvidence(b *testing.B) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprint(w, `{"total": 250, "items": [1, 2, 3]}`)
	}))
	b.Cleanup(target.Close)
	for _, db := range storetest.Databases(b) {
		b.Run(db.Name, func(b *testing.B) {
			f := newFlow(b, db.Open, flowOptions{noEvidenceCache: true})
			f.publish(b, twentySteps(target.URL, "200"))
			for n := 1; n <= 50; n++ {
				out := f.call(b, "POST", "/api/v1/templates/twenty/runs?wait=20s", f.operator, fmt.Sprintf(`{"inputs":{"n":%d}}`, n), 201)
				if out["status"] != "succeeded" {
					b.Fatalf("run %d: %v", n, out)
				}
			}
			f.call(b, "PUT", "/api/v1/templates/twenty/draft", f.designer, twentySteps(target.URL, "300"), 200)
			out := f.call(b, "GET", "/api/v1/templates/twenty/versions/2/evidence", f.viewerToken, "", 200)
			if sum := out["summary"].(map[string]any); sum["replayed"] != 50.0 || sum["decisionsChanged"] != 50.0 {
				b.Fatalf("summary = %v", sum)
			}
			b.ResetTimer()
			benchRequestOn(b, f.bundle, "GET", "/api/v1/templates/twenty/versions/2/evidence",
				map[string]string{"Authorization": "Bearer " + f.viewerToken}, "")
		})
	}
}

// twentySteps is a 20-step template: fetch, then nine pairs of a
// condition on the answer and a set step on its branch, and a summary.
func twentySteps(target, limit string) string {
	var b strings.Builder
	b.WriteString(`{"id":"twenty","name":"Twenty","inputs":{"n":{"type":"integer","required":true}},"steps":[
	 {"id":"fetch","type":"command","action":{"kind":"http","method":"GET","url":"` + target + `/orders/{{ inputs.n }}"}}`)
	prev := "fetch"
	for i := 1; i <= 9; i++ {
		cond, set := fmt.Sprintf("check%d", i), fmt.Sprintf("note%d", i)
		threshold := "100"
		if i == 1 {
			threshold = limit
		}
		fmt.Fprintf(&b, `,
	 {"id":%q,"type":"condition","dependencies":[%q],"trigger":"all_done","action":{"expression":"steps.fetch.output.body.total > %s"}},
	 {"id":%q,"type":"command","dependencies":[%q],"trigger":"all_done","action":{"kind":"set","values":{"n":"{{ inputs.n }}","total":"{{ steps.fetch.output.body.total }}","step":%d}}}`,
			cond, prev, threshold, set, cond, i)
		prev = set
	}
	fmt.Fprintf(&b, `,
	 {"id":"summary","type":"command","dependencies":[%q],"action":{"kind":"log","message":"order {{ inputs.n }}: {{ steps.note9.output.total }}"}}]}`, prev)
	return b.String()
}

// noticeRecorder is an Alerting that records approver notices.
type noticeRecorder struct{ notices chan string }

func (noticeRecorder) SendTest(context.Context, int64, string) (string, error) { return "", nil }
func (noticeRecorder) RulesChanged()                                           {}
func (r noticeRecorder) VersionSubmitted(_ context.Context, template string, version int, author, evidence string) int {
	r.notices <- fmt.Sprintf("%s v%d by %s: %s", template, version, author, evidence)
	return 1
}

// TestSubmitNoticeCarriesEvidence: the approvers' notice of a submitted
// version comes once the worker has replayed it, with the summary line.
func TestSubmitNoticeCarriesEvidence(t *testing.T) {
	t.Parallel()
	rec := noticeRecorder{notices: make(chan string, 4)}
	f := newFlow(t, openSQLite, flowOptions{alerting: rec})
	f.publish(t, `{"id":"hello","name":"Hello","steps":[{"id":"say","type":"command","action":{"kind":"log","message":"hi"}}]}`)
	<-rec.notices // version 1's
	for range 2 {
		f.call(t, "POST", "/api/v1/templates/hello/runs?wait=20s", f.operator, `{}`, 201)
	}
	f.call(t, "PUT", "/api/v1/templates/hello/draft", f.designer,
		`{"id":"hello","name":"Hello","steps":[{"id":"say","type":"command","action":{"kind":"log","message":"hello"}}]}`, 200)
	f.call(t, "POST", "/api/v1/templates/hello/versions/2/submit", f.designer, "", 200)
	select {
	case got := <-rec.notices:
		want := "hello v2 by dana: Replayed on the last 2 runs: 2 same path, 0 would take another path, 2 would call a new step"
		if got != want {
			t.Fatalf("notice = %q\nwant     %q", got, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no notice")
	}
}
