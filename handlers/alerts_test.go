package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/baton-run/baton/engine/alert"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

func newAlerting(st *store.Store) *alert.Service {
	c := alert.NewHTTPClient(nil)
	return alert.New(alert.Config{Store: st, Clock: clockwork.NewFakeClock(), Log: slog.New(slog.DiscardHandler),
		Notifiers: map[string]alert.Notifier{models.ChannelWebhook: alert.Webhook{Client: c}, models.ChannelSlack: alert.Slack{Client: c},
			models.ChannelInApp: alert.InApp{Users: st}}})
}

// The alerts API of shared/spec/alerts.md: viewers read, admins write,
// operators acknowledge, resolve and snooze; secrets never come back.
func TestAlertsAPI(t *testing.T) {
	t.Parallel()
	forEachDB(t, func(t *testing.T, open func(testing.TB) *store.Store) {
		b := setup(t, open)
		operator := b.token(t, b.user(t, "otto", models.RoleOperator))
		const secret = "whsec_do_not_show_42"
		hook := `{"name":"ops","kind":"webhook","config":{"url":"https://hooks.example.test/baton","secret":"` + secret + `"}}`
		for _, sc := range []scenario{
			{name: "viewer cannot create a channel", req: request{method: "POST", path: "/api/v1/alerts/channels", body: hook, bearer: b.viewerToken}, status: 403},
			{name: "operator cannot create a channel", req: request{method: "POST", path: "/api/v1/alerts/channels", body: hook, bearer: operator}, status: 403},
			{name: "admin creates a webhook channel", req: request{method: "POST", path: "/api/v1/alerts/channels", body: hook, bearer: b.adminToken}, status: 201,
				contains: []string{`"id":1`, `"kind":"webhook"`, `"secretSet":true`, `"url":"https://hooks.example.test/baton"`}, notContains: []string{secret}},
			{name: "a webhook without a secret", req: request{method: "POST", path: "/api/v1/alerts/channels", body: `{"name":"x","kind":"webhook","config":{"url":"https://a.test"}}`, bearer: b.adminToken},
				status: 422, contains: []string{"config.secret"}},
			{name: "an unknown kind", req: request{method: "POST", path: "/api/v1/alerts/channels", body: `{"name":"x","kind":"pager","config":{}}`, bearer: b.adminToken},
				status: 422, contains: []string{"kind must be one of"}},
			{name: "an unknown field", req: request{method: "POST", path: "/api/v1/alerts/channels", body: `{"name":"x","knd":"inapp"}`, bearer: b.adminToken}, status: 400},
			{name: "an in-app channel", req: request{method: "POST", path: "/api/v1/alerts/channels", body: `{"name":"bell","kind":"inapp","config":{"roles":["operator"]}}`, bearer: b.adminToken}, status: 201},
			{name: "viewer lists channels without secrets", req: request{method: "GET", path: "/api/v1/alerts/channels", bearer: b.viewerToken}, status: 200,
				contains: []string{`"name":"ops"`, `"name":"bell"`}, notContains: []string{secret}},
			{name: "one channel", req: request{method: "GET", path: "/api/v1/alerts/channels/1", bearer: b.viewerToken}, status: 200, notContains: []string{secret}},
			{name: "update keeps the secret", req: request{method: "PUT", path: "/api/v1/alerts/channels/1", body: `{"name":"ops","kind":"webhook","config":{"url":"https://hooks.example.test/v2"}}`, bearer: b.adminToken},
				status: 200, contains: []string{`"secretSet":true`, "/v2"}, notContains: []string{secret}},
			{name: "policy with an unknown channel", req: request{method: "POST", path: "/api/v1/alerts/policies", body: `{"name":"p","levels":[{"after":"0s","channels":[99]}]}`, bearer: b.adminToken},
				status: 422, contains: []string{"levels[0].channels"}},
			{name: "admin creates a policy", req: request{method: "POST", path: "/api/v1/alerts/policies", body: `{"name":"on-call","levels":[{"after":"0s","channels":[2]},{"after":"5m","channels":[1]}],"repeat":1}`, bearer: b.adminToken},
				status: 201, contains: []string{`"name":"on-call"`, `"after":"5m"`, `"repeat":1`}},
			{name: "a rule with a bad threshold", req: request{method: "POST", path: "/api/v1/alerts/rules", body: `{"name":"r","condition":{"kind":"failure_rate","threshold":"soon"}}`, bearer: b.adminToken},
				status: 400},
			{name: "a failure rate of 150 %", req: request{method: "POST", path: "/api/v1/alerts/rules", body: `{"name":"r","condition":{"kind":"failure_rate","threshold":1.5}}`, bearer: b.adminToken},
				status: 422, contains: []string{"condition.threshold"}},
			{name: "admin creates a rule", req: request{method: "POST", path: "/api/v1/alerts/rules", body: `{"name":"orders failing","severity":"critical","policy":1,"enabled":true,"condition":{"kind":"run_failed","template":"orders"}}`, bearer: b.adminToken},
				status: 201, contains: []string{`"severity":"critical"`, `"policy":1`, `"kind":"run_failed"`, `"enabled":true`}},
			{name: "a duration rule", req: request{method: "POST", path: "/api/v1/alerts/rules", body: `{"name":"slow","condition":{"kind":"duration_over","template":"orders","threshold":"10m"}}`, bearer: b.adminToken},
				status: 201, contains: []string{`"threshold":"10m"`, `"severity":"warning"`}},
			{name: "viewer lists rules", req: request{method: "GET", path: "/api/v1/alerts/rules", bearer: b.viewerToken}, status: 200, contains: []string{"orders failing", "slow"}},
			{name: "no alerts yet", req: request{method: "GET", path: "/api/v1/alerts?state=open", bearer: b.viewerToken}, status: 200, contains: []string{`"alerts":[]`}},
			{name: "a bad state", req: request{method: "GET", path: "/api/v1/alerts?state=asleep", bearer: b.viewerToken}, status: 400},
			{name: "ack a missing alert", req: request{method: "POST", path: "/api/v1/alerts/9/ack", bearer: operator}, status: 404},
		} {
			b.run(t, sc)
		}

		// An alert fires (as the service would raise it).
		ctx := context.Background()
		a, _, err := b.store.RaiseAlert(ctx, models.AlertRaise{Rule: 1, Subject: "orders", Summary: "Run r1 of orders ended failed",
			Links: models.AlertLinks{Run: "r1", Template: "orders"}, At: b.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.store.EscalateDue(ctx, b.clock.Now()); err != nil {
			t.Fatal(err)
		}
		id := fmt.Sprint(a.ID)
		for _, sc := range []scenario{
			{name: "the alert in the spec's shape", req: request{method: "GET", path: "/api/v1/alerts?state=firing", bearer: b.viewerToken}, status: 200,
				contains: []string{`"rule":1`, `"severity":"critical"`, `"state":"firing"`, `"subject":"orders"`, `"summary":"Run r1 of orders ended failed"`,
					`"firstAt"`, `"lastAt"`, `"count":1`, `"level":1`, `"links":{"run":"r1","template":"orders"}`}},
			{name: "its deliveries", req: request{method: "GET", path: "/api/v1/alerts/" + id + "/deliveries", bearer: b.viewerToken}, status: 200,
				contains: []string{`"channelName":"bell"`, `"status":"pending"`, `"level":1`}},
			{name: "viewer cannot ack", req: request{method: "POST", path: "/api/v1/alerts/" + id + "/ack", bearer: b.viewerToken}, status: 403},
			{name: "a snooze into the past", req: request{method: "POST", path: "/api/v1/alerts/" + id + "/snooze", body: `{"until":"2020-01-01T00:00:00Z"}`, bearer: operator},
				status: 422, contains: []string{"future"}},
			{name: "a snooze of nonsense", req: request{method: "POST", path: "/api/v1/alerts/" + id + "/snooze", body: `{"until":"later"}`, bearer: operator}, status: 422},
			{name: "operator snoozes", req: request{method: "POST", path: "/api/v1/alerts/" + id + "/snooze", body: `{"until":"2h"}`, bearer: operator}, status: 200,
				contains: []string{`"snoozedUntil":"2026-11-27T12:00:00Z"`}},
			{name: "operator acknowledges", req: request{method: "POST", path: "/api/v1/alerts/" + id + "/ack", bearer: operator}, status: 200,
				contains: []string{`"state":"acknowledged"`, `"ackedBy":"otto"`}},
			{name: "operator resolves", req: request{method: "POST", path: "/api/v1/alerts/" + id + "/resolve", bearer: operator}, status: 200,
				contains: []string{`"state":"resolved"`, `"resolvedBy":"otto"`}},
			{name: "resolve twice", req: request{method: "POST", path: "/api/v1/alerts/" + id + "/resolve", bearer: operator}, status: 409},
			{name: "history", req: request{method: "GET", path: "/api/v1/alerts?state=resolved", bearer: b.viewerToken}, status: 200, contains: []string{`"id":` + id}},
			{name: "delete the rule", req: request{method: "DELETE", path: "/api/v1/alerts/rules/2", bearer: b.adminToken}, status: 204},
			{name: "delete a policy", req: request{method: "DELETE", path: "/api/v1/alerts/policies/1", bearer: b.adminToken}, status: 204},
			{name: "delete a channel", req: request{method: "DELETE", path: "/api/v1/alerts/channels/2", bearer: b.adminToken}, status: 204},
			{name: "own settings", req: request{method: "PUT", path: "/api/v1/notifications/settings", body: `{"email":"victor@example.test"}`, bearer: b.viewerToken}, status: 200},
			{name: "own settings, bad address", req: request{method: "PUT", path: "/api/v1/notifications/settings", body: `{"email":"victor"}`, bearer: b.viewerToken}, status: 422},
			{name: "own settings read back", req: request{method: "GET", path: "/api/v1/notifications/settings", bearer: b.viewerToken}, status: 200, contains: []string{"victor@example.test"}},
			{name: "own notifications", req: request{method: "GET", path: "/api/v1/notifications", bearer: b.viewerToken}, status: 200, contains: []string{`"unread":0`}},
		} {
			b.run(t, sc)
		}
		entries, _ := b.store.ListAudit(ctx, 100, 0)
		actions := map[string]string{}
		for _, e := range entries {
			actions[e.Action] = e.Actor
		}
		if actions["alert_ack"] != "otto" || actions["alert_channel_created"] != "alice" {
			t.Errorf("audit actions = %v", actions)
		}
		if strings.Contains(b.logs.String(), secret) {
			t.Error("a channel secret reached the log")
		}
	})
}

// "Send test" answers with what the far end said, success or not.
func TestAlertChannelSendTest(t *testing.T) {
	t.Parallel()
	var st *store.Store
	lazy := &lazyAlerting{}
	b2 := setup(t, func(tb testing.TB) *store.Store {
		st = storetest.OpenSQLite(tb)
		lazy.Service = newAlerting(st)
		return st
	}, options{alerting: lazy})
	var got http.Header
	far := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusTeapot)
		_, _ = w.Write([]byte("short and stout"))
	}))
	defer far.Close()
	b2.run(t, scenario{name: "create", req: request{method: "POST", path: "/api/v1/alerts/channels", bearer: b2.adminToken,
		body: `{"name":"teapot","kind":"webhook","config":{"url":"` + far.URL + `","secret":"k"}}`}, status: 201})
	res := b2.do(t, request{method: "POST", path: "/api/v1/alerts/channels/1/test", bearer: b2.adminToken})
	var out struct {
		OK     bool   `json:"ok"`
		Answer string `json:"answer"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal([]byte(res.body), &out); err != nil || res.status != 200 {
		t.Fatalf("test = %d %s", res.status, res.body)
	}
	if out.OK || !strings.Contains(out.Answer, "418") || !strings.Contains(out.Answer, "short and stout") {
		t.Errorf("test answer = %+v", out)
	}
	if got.Get("X-Baton-Delivery") == "" || !strings.HasPrefix(got.Get("X-Baton-Signature"), "sha256=") {
		t.Errorf("test request headers = %v", got)
	}
	b2.run(t, scenario{name: "viewer cannot test", req: request{method: "POST", path: "/api/v1/alerts/channels/1/test", bearer: b2.viewerToken}, status: 403})
	b2.run(t, scenario{name: "test a missing channel", req: request{method: "POST", path: "/api/v1/alerts/channels/7/test", bearer: b2.adminToken}, status: 404})

	// Submitting a version tells the approvers.
	b2.user(t, "olga", models.RoleApprover)
	dana := b2.token(t, b2.user(t, "dana", models.RoleDesigner))
	storetest.MustCreateTemplate(t, st, "orders", "dana")
	b2.run(t, scenario{name: "submit", req: request{method: "POST", path: "/api/v1/templates/orders/versions/1/submit", bearer: dana}, status: 200})
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, _ := st.UnreadNotifications(context.Background(), "olga")
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("olga's unread after a submit = %d, want 1", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	olga := b2.login(t, "olga", testPassword)
	b2.run(t, scenario{name: "the bell counts it", req: request{method: "GET", path: "/notifications/bell", browser: olga}, status: 200,
		contains: []string{`data-testid="bell-count"`, "1 unread"}})
	b2.run(t, scenario{name: "the page lists it", req: request{method: "GET", path: "/notifications", browser: olga}, status: 200,
		contains: []string{"orders v1 waits for your review", "/approvals/orders/1"}})
	b2.run(t, scenario{name: "and reading clears the bell", req: request{method: "GET", path: "/notifications/bell", browser: olga}, status: 200,
		contains: []string{"none unread"}, notContains: []string{`bell-count`}})
}

// The pages: /alerts with its actions for operators only, the editors for
// admins only.
func TestAlertPages(t *testing.T) {
	t.Parallel()
	b := setup(t, openSQLite)
	ctx := context.Background()
	b.user(t, "otto", models.RoleOperator)
	ch := &models.AlertChannel{Name: "bell", Kind: models.ChannelInApp, Config: models.ChannelConfig{Roles: []string{"operator"}}}
	if err := b.store.CreateAlertChannel(ctx, ch); err != nil {
		t.Fatal(err)
	}
	r := models.AlertRule{Name: "orders failing", Enabled: true, Condition: models.AlertCondition{Kind: models.CondRunFailed}}
	if err := b.store.CreateAlertRule(ctx, &r); err != nil {
		t.Fatal(err)
	}
	a, _, _ := b.store.RaiseAlert(ctx, models.AlertRaise{Rule: r.ID, Subject: "orders", Summary: "Run r9 failed", Links: models.AlertLinks{Run: "r9"}, At: b.clock.Now()})
	admin := b.login(t, "alice", testPassword)
	viewer := b.login(t, "victor", testPassword)
	otto := b.login(t, "otto", testPassword)
	id := fmt.Sprint(a.ID)
	for _, sc := range []scenario{
		{name: "viewer sees the alert without actions", req: request{method: "GET", path: "/alerts", browser: viewer}, status: 200,
			contains: []string{"orders failing", "Run r9 failed", `href="/runs/r9"`, `id="nav-alerts"`}, notContains: []string{`data-testid="alert-ack"`}},
		{name: "operator sees the actions", req: request{method: "GET", path: "/alerts", browser: otto}, status: 200,
			contains: []string{`data-testid="alert-ack"`, `data-testid="alert-resolve"`, `data-testid="alert-snooze"`}},
		{name: "viewer cannot ack by form", req: request{method: "POST", path: "/alerts/" + id + "/ack", browser: viewer, contentType: "application/x-www-form-urlencoded", body: "_csrf=" + viewer.csrf}, status: 403},
		{name: "operator acks by form", req: request{method: "POST", path: "/alerts/" + id + "/ack", browser: otto, contentType: "application/x-www-form-urlencoded", body: "_csrf=" + otto.csrf}, status: 303},
		{name: "the detail page", req: request{method: "GET", path: "/alerts/" + id, browser: viewer}, status: 200, contains: []string{"acknowledged", "otto", "Deliveries"}},
		{name: "operator snoozes by form", req: request{method: "POST", path: "/alerts/" + id + "/snooze", browser: otto, contentType: "application/x-www-form-urlencoded", body: "until=4h&_csrf=" + otto.csrf}, status: 303},
		{name: "rules page for a viewer has no form", req: request{method: "GET", path: "/alerts/rules", browser: viewer}, status: 200,
			contains: []string{"orders failing"}, notContains: []string{`data-testid="rule-form"`}},
		{name: "rules page for an admin has the form", req: request{method: "GET", path: "/alerts/rules", browser: admin}, status: 200, contains: []string{`data-testid="rule-form"`, "failure rate"}},
		{name: "admin creates a rule by form", req: request{method: "POST", path: "/alerts/rules", browser: admin, contentType: "application/x-www-form-urlencoded",
			body: "name=slow+orders&severity=critical&kind=duration_over&template=orders&threshold=10m&enabled=true&_csrf=" + admin.csrf}, status: 303},
		{name: "a bad rule by form", req: request{method: "POST", path: "/alerts/rules", browser: admin, contentType: "application/x-www-form-urlencoded",
			body: "name=bad&kind=step_stuck&threshold=10m&_csrf=" + admin.csrf}, status: 422, contains: []string{"condition.step"}},
		{name: "the new rule is listed", req: request{method: "GET", path: "/alerts/rules", browser: viewer}, status: 200, contains: []string{"slow orders", "threshold 10m"}},
		{name: "admin creates a channel by form", req: request{method: "POST", path: "/alerts/channels", browser: admin, contentType: "application/x-www-form-urlencoded",
			body: "name=ops+hook&kind=webhook&url=https%3A%2F%2Fhooks.example.test%2Fx&secret=s3cr3t-value&_csrf=" + admin.csrf}, status: 303},
		{name: "channels page hides the secret", req: request{method: "GET", path: "/alerts/channels", browser: admin}, status: 200,
			contains: []string{"ops hook", "(signed)", `data-testid="channel-test"`, "off (start the server with --smtp-url"}, notContains: []string{"s3cr3t-value"}},
		{name: "admin creates a policy by form", req: request{method: "POST", path: "/alerts/policies", browser: admin, contentType: "application/x-www-form-urlencoded",
			body: "name=day&after1=0s&channels1=1&after2=15m&channels2=1&channels2=2&repeat=0&_csrf=" + admin.csrf}, status: 303},
		{name: "the policy is listed", req: request{method: "GET", path: "/alerts/policies", browser: viewer}, status: 200, contains: []string{"day", "after 15m: bell, ops hook"}},
		{name: "the channel's editor keeps the secret out", req: request{method: "GET", path: "/alerts/channels/2/edit", browser: admin}, status: 200,
			contains: []string{`value="ops hook"`, "stored; leave blank to keep it", `value="https://hooks.example.test/x"`}, notContains: []string{"s3cr3t-value"}},
		{name: "a viewer cannot open an editor", req: request{method: "GET", path: "/alerts/channels/2/edit", browser: viewer}, status: 403},
		{name: "admin renames the channel, keeping its secret", req: request{method: "POST", path: "/alerts/channels/2", browser: admin, contentType: "application/x-www-form-urlencoded",
			body: "name=ops+hook+2&url=https%3A%2F%2Fhooks.example.test%2Fy&secret=&_csrf=" + admin.csrf}, status: 303},
		{name: "the rule's editor is filled in", req: request{method: "GET", path: "/alerts/rules/2/edit", browser: admin}, status: 200,
			contains: []string{`value="slow orders"`, `value="10m"`, `<option value="duration_over" selected>`, `<option value="critical" selected>`}},
		{name: "admin changes the rule", req: request{method: "POST", path: "/alerts/rules/2", browser: admin, contentType: "application/x-www-form-urlencoded",
			body: "name=slow+orders&severity=warning&kind=duration_over&template=orders&threshold=20m&_csrf=" + admin.csrf}, status: 303},
		{name: "the changed rule is listed, disabled", req: request{method: "GET", path: "/alerts/rules", browser: viewer}, status: 200, contains: []string{"threshold 20m"}},
		{name: "the policy's editor is filled in", req: request{method: "GET", path: "/alerts/policies/1/edit", browser: admin}, status: 200,
			contains: []string{`value="day"`, `value="15m"`, "Level 3"}},
		{name: "admin changes the policy", req: request{method: "POST", path: "/alerts/policies/1", browser: admin, contentType: "application/x-www-form-urlencoded",
			body: "name=day&after1=0s&channels1=2&after2=&after3=&repeat=3&_csrf=" + admin.csrf}, status: 303},
		{name: "the changed policy is listed", req: request{method: "GET", path: "/alerts/policies", browser: viewer}, status: 200, contains: []string{"after 0s: ops hook 2"}},
		{name: "send test without a running service", req: request{method: "POST", path: "/alerts/channels/1/test", browser: admin, contentType: "application/x-www-form-urlencoded", body: "_csrf=" + admin.csrf}, status: 503},
	} {
		b.run(t, sc)
	}
	full, err := b.store.AlertChannelForSending(ctx, 2)
	if err != nil || full.Config.Secret != "s3cr3t-value" || full.Config.URL != "https://hooks.example.test/y" {
		t.Errorf("after the edit the channel is %+v, %v; want its secret kept", full.Config, err)
	}
	if r, _ := b.store.AlertRule(ctx, 2); r.Enabled || r.Severity != models.SeverityWarning {
		t.Errorf("after the edit the rule is %+v", r)
	}
}

// lazyAlerting is an alert service made once the test's store exists.
type lazyAlerting struct{ *alert.Service }
