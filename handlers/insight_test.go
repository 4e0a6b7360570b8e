package handlers_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// seedAnalytics writes finished runs of "orders" and "billing" an hour
// before the bundle's clock: what the API must count.
func seedAnalytics(t *testing.T, b *bundle) (succeeded, failed int) {
	t.Helper()
	def := json.RawMessage(`{"id":"x","name":"X","steps":[{"id":"ok","type":"condition","action":{"expression":"inputs.n > 1"}}]}`)
	var w models.RunWrites
	at := b.clock.Now().Add(-time.Hour)
	for i := range 12 {
		status := models.RunSucceeded
		if i%4 == 0 {
			status = models.RunFailed
			failed++
		} else {
			succeeded++
		}
		fin := at.Add(time.Duration(i) * time.Minute)
		d := float64(100 * (i + 1))
		id := fmt.Sprintf("01ANA%05d", i)
		tpl := "orders"
		if i%3 == 0 {
			tpl = "billing"
		}
		w.Runs = append(w.Runs, models.RunRow{Run: models.Run{ID: id, Template: tpl, Version: 1, Status: status,
			Trigger: models.TriggerAPI, StartedBy: "alice", Inputs: map[string]any{"n": i}, Outputs: map[string]any{},
			CreatedAt: fin, StartedAt: &fin, FinishedAt: &fin, DurationMs: &d}, Definition: def})
		w.StepRuns = append(w.StepRuns, models.StepRunRow{StepRun: models.StepRun{RunID: id, StepID: "ok", Attempt: 1,
			Status: models.StepSucceeded, Output: map[string]any{"result": i > 1}, StartedAt: &fin, FinishedAt: &fin}, Item: -1})
	}
	if err := b.store.ApplyRunWrites(context.Background(), &w); err != nil {
		t.Fatal(err)
	}
	return succeeded, failed
}

func TestAnalyticsAPI(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		succeeded, failed := seedAnalytics(t, b)
		v := b.viewerToken

		var sum models.AnalyticsSummary
		res := b.do(t, request{method: "GET", path: "/api/v1/analytics/summary", bearer: v})
		if res.status != 200 || json.Unmarshal([]byte(res.body), &sum) != nil {
			t.Fatalf("summary = %d %s", res.status, res.body)
		}
		if sum.Runs != int64(succeeded+failed) || sum.Succeeded != int64(succeeded) || sum.Failed != int64(failed) {
			t.Errorf("summary = %+v, want %d succeeded and %d failed", sum, succeeded, failed)
		}
		for _, key := range []string{`"successRate"`, `"durationMs":{"p50"`, `"p95"`, `"p99"`, `"mean"`, `"timedOut":0`, `"rolledBack":0`, `"steps":12`, `"retries":0`} {
			if !strings.Contains(res.body, key) {
				t.Errorf("summary lacks %s: %s", key, res.body)
			}
		}
		// Filters and the same number after a rollup.
		if _, err := b.store.RollUp(context.Background()); err != nil {
			t.Fatal(err)
		}
		b.run(t, scenario{name: "template filter", req: request{method: "GET", path: "/api/v1/analytics/summary?template=billing", bearer: v},
			status: 200, contains: []string{`"runs":4,`}})

		var ser models.Series
		res = b.do(t, request{method: "GET", path: "/api/v1/analytics/series?metric=runs&bucket=hour&groupBy=template&tz=Europe/Paris", bearer: v})
		if res.status != 200 || json.Unmarshal([]byte(res.body), &ser) != nil {
			t.Fatalf("series = %d %s", res.status, res.body)
		}
		total := map[string]float64{}
		for _, l := range ser.Series {
			if len(l.Points) < 7*24 {
				t.Errorf("series %s has %d points; want every hour of the week, empty ones too", l.Key, len(l.Points))
			}
			for _, p := range l.Points {
				total[l.Key] += *p.V
			}
		}
		if total["billing"] != 4 || total["orders"] != 8 {
			t.Errorf("series totals %v, want billing 4, orders 8", total)
		}
		b.run(t, scenario{name: "series csv", req: request{method: "GET", path: "/api/v1/analytics/series?metric=success_rate&bucket=day&format=csv", bearer: v},
			status: 200, contains: []string{"key,t,success_rate\n", "all,"}, headers: map[string]string{"Content-Type": "text/csv"}})

		for _, sc := range []scenario{
			{name: "steps", req: request{method: "GET", path: "/api/v1/analytics/steps?template=orders", bearer: v}, status: 200,
				contains: []string{`"step":"ok"`, `"runs":8`, `"totalMs"`}},
			{name: "decisions", req: request{method: "GET", path: "/api/v1/analytics/decisions?template=orders", bearer: v}, status: 200,
				contains: []string{`"step":"ok"`, `"evaluations":8`, `"true":`}},
			{name: "usage", req: request{method: "GET", path: "/api/v1/analytics/usage", bearer: v}, status: 200,
				contains: []string{`"byWeekdayHour":[[`, `"byTrigger":{"api":12}`, `"byUser":{"alice":12}`, `"topTemplates":[{"template":"orders","runs":8}`}},
			{name: "approvals", req: request{method: "GET", path: "/api/v1/analytics/approvals", bearer: v}, status: 200,
				contains: []string{`"submitted":0`, `"leadTimeMs"`, `"byTemplate":[]`}},
			{name: "export csv", req: request{method: "GET", path: "/api/v1/analytics/decisions/export?template=orders&format=csv", bearer: v}, status: 200,
				contains: []string{"run_id,template,version,step,at,outcome,run_status,read,inputs\n", `"{""inputs.n"":`}},
			{name: "export jsonl", req: request{method: "GET", path: "/api/v1/analytics/decisions/export?template=orders&format=jsonl", bearer: v}, status: 200,
				contains: []string{`"runStatus":"failed"`, `"outcome":"true"`, `"read":{"inputs.n":`}},
			{name: "bad metric", req: request{method: "GET", path: "/api/v1/analytics/series?metric=nope", bearer: v}, status: 400,
				contains: []string{`"path":"metric"`}},
			{name: "bad from", req: request{method: "GET", path: "/api/v1/analytics/summary?from=yesterday", bearer: v}, status: 400,
				contains: []string{`"path":"from"`}},
			{name: "bad tz", req: request{method: "GET", path: "/api/v1/analytics/summary?tz=Mars/Base", bearer: v}, status: 400,
				contains: []string{`"path":"tz"`}},
			{name: "steps by trigger", req: request{method: "GET", path: "/api/v1/analytics/steps?trigger=api", bearer: v}, status: 400,
				contains: []string{`"path":"trigger"`}},
			{name: "export needs a template", req: request{method: "GET", path: "/api/v1/analytics/decisions/export", bearer: v}, status: 400,
				contains: []string{`"path":"template"`}},
			{name: "signed out", req: request{method: "GET", path: "/api/v1/analytics/summary"}, status: 401},
		} {
			b.run(t, sc)
		}
	})
}

func TestReportsAPI(t *testing.T) {
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		seedAnalytics(t, b)
		dana := b.token(t, b.user(t, "dana", models.RoleDesigner))
		otto := b.token(t, b.user(t, "otto", models.RoleOperator))
		body := `{"name":"Failures","query":{"metric":"runs","bucket":"day","groupBy":"template","filters":{"trigger":"api"},"range":"7d","tz":"UTC"},"chart":"bar","sharedWith":["operator"]}`
		b.run(t, scenario{name: "viewer may not create", req: request{method: "POST", path: "/api/v1/reports", body: body, bearer: b.viewerToken}, status: 403})
		b.run(t, scenario{name: "bad query", req: request{method: "POST", path: "/api/v1/reports", bearer: dana,
			body: `{"name":"","query":{"metric":"nope","bucket":"year","range":"soon"},"chart":"pie","sharedWith":["boss"]}`}, status: 422,
			contains: []string{`"path":"name"`, `"path":"query.metric"`, `"path":"query.bucket"`, `"path":"query.range"`, `"path":"chart"`, `"path":"sharedWith[0]"`}})
		res := b.do(t, request{method: "POST", path: "/api/v1/reports", body: body, bearer: dana})
		var r models.Report
		if res.status != 201 || json.Unmarshal([]byte(res.body), &r) != nil || r.ID == 0 {
			t.Fatalf("create = %d %s", res.status, res.body)
		}
		path := fmt.Sprintf("/api/v1/reports/%d", r.ID)
		for _, sc := range []scenario{
			{name: "owner reads", req: request{method: "GET", path: path, bearer: dana}, status: 200, contains: []string{`"range":"7d"`, `"owner":"dana"`}},
			{name: "shared with operators", req: request{method: "GET", path: path, bearer: otto}, status: 200},
			{name: "not shared with viewers", req: request{method: "GET", path: path, bearer: b.viewerToken}, status: 404},
			{name: "viewer's list", req: request{method: "GET", path: "/api/v1/reports", bearer: b.viewerToken}, status: 200, contains: []string{`{"reports":[]}`}},
			{name: "operator's list", req: request{method: "GET", path: "/api/v1/reports", bearer: otto}, status: 200, contains: []string{`"name":"Failures"`}},
			{name: "operator may not edit", req: request{method: "PUT", path: path, body: body, bearer: otto}, status: 403},
			{name: "data", req: request{method: "GET", path: path + "/data", bearer: otto}, status: 200, contains: []string{`"metric":"runs"`, `"key":"billing"`, `"key":"orders"`}},
			{name: "csv", req: request{method: "GET", path: path + "/data?format=csv", bearer: dana}, status: 200, contains: []string{"key,t,runs\nbilling,"}},
			{name: "owner edits", req: request{method: "PUT", path: path, bearer: dana,
				body: strings.Replace(body, `"Failures"`, `"Runs by day"`, 1)}, status: 200, contains: []string{`"name":"Runs by day"`}},
			{name: "admin deletes", req: request{method: "DELETE", path: path, bearer: b.adminToken}, status: 204},
			{name: "gone", req: request{method: "GET", path: path, bearer: dana}, status: 404},
			{name: "bad id", req: request{method: "GET", path: "/api/v1/reports/x", bearer: dana}, status: 400},
		} {
			b.run(t, sc)
		}
	})
}

func TestMonitor(t *testing.T) {
	b := setup(t, openSQLite)
	res := b.do(t, request{method: "GET", path: "/api/v1/monitor", bearer: b.viewerToken})
	for _, key := range []string{`"activeRuns":0`, `"waitingRuns":0`, `"queuedSteps"`, `"startsPerSec"`, `"finishesPerSec"`,
		`"failuresLast5m":0`, `"commitMs":{"p50"`, `"database":"ok"`, `"process":{"cpuPercent"`, `"rssBytes"`, `"goroutines"`, `"openConnections"`,
		`"devices":{"online":0,"offline":0}`} {
		if !strings.Contains(res.body, key) {
			t.Errorf("monitor lacks %s: %s", key, res.body)
		}
	}
	seedAnalytics(t, b)
	var w models.RunWrites
	w.Runs = append(w.Runs, models.RunRow{Run: models.Run{ID: "01LIVE", Template: "orders", Version: 1, Status: models.RunWaiting,
		Inputs: map[string]any{}, Outputs: map[string]any{}, CreatedAt: b.clock.Now()}, Definition: json.RawMessage(`{}`)})
	if err := b.store.ApplyRunWrites(context.Background(), &w); err != nil {
		t.Fatal(err)
	}
	base := b.listen(t)
	req, _ := http.NewRequest("GET", base+"/api/v1/monitor/events", nil)
	req.Header.Set("Authorization", "Bearer "+b.viewerToken)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("Content-Type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	// The first event may be the sample taken just before the run was
	// written (samples are shared for up to a second); a later one has it.
	events, seen := 0, false
	for !seen && events < 4 && sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "data: ") {
			continue
		}
		events++
		seen = strings.Contains(line, `"waitingRuns":1`)
	}
	if !seen {
		t.Fatalf("%d monitor events, none with the waiting run", events)
	}
}

func TestInsightPages(t *testing.T) {
	b := setup(t, openSQLite)
	seedAnalytics(t, b)
	viewer := b.login(t, "victor", testPassword)
	b.user(t, "dana", models.RoleDesigner)
	dana := b.login(t, "dana", testPassword)
	for _, sc := range []scenario{
		{name: "analytics", req: request{method: "GET", path: "/analytics", browser: viewer}, status: 200,
			contains: []string{`data-testid="summary-runs">12<`, `id="chart-runs"`, `data-chart="{`, `data-testid="chart-runs-table"`, `data-testid="usage-heatmap"`,
				`data-insight-js="/static/insight.js?v=`, `href="/api/v1/analytics/series?format=csv&amp;metric=runs`}, notContains: []string{"No data yet"}},
		{name: "a template's tab", req: request{method: "GET", path: "/analytics?template=orders&range=24h&tz=Europe/Paris", browser: viewer}, status: 200,
			contains: []string{`data-testid="summary-runs">8<`, `data-testid="analytics-steps"`, `data-testid="analytics-decisions"`, `data-testid="analytics-versions"`,
				`<th scope="row">v1</th>`, "decisions/export?format=csv&amp;"}},
		{name: "bad range", req: request{method: "GET", path: "/analytics?range=1y", browser: viewer}, status: 400},
		{name: "dashboard", req: request{method: "GET", path: "/dashboard", browser: viewer}, status: 200,
			contains: []string{`data-stream="/api/v1/monitor/events"`, `href="/runs?status=waiting"`, `data-field="activeRuns"`, `aria-live="polite"`}},
		{name: "reports, none", req: request{method: "GET", path: "/reports", browser: viewer}, status: 200,
			contains: []string{`data-testid="reports-empty"`}, notContains: []string{`data-testid="report-new"`}},
		{name: "viewers do not build reports", req: request{method: "GET", path: "/reports/new", browser: viewer}, status: 403},
		{name: "builder", req: request{method: "GET", path: "/reports/new", browser: dana}, status: 200,
			contains: []string{`data-testid="report-builder"`, `name="sharedWith" value="operator"`, `id="report-preview"`}},
		{name: "no such report", req: request{method: "GET", path: "/reports/99", browser: dana}, status: 404},
	} {
		b.run(t, sc)
	}
}
