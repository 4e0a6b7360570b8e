package alert_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jonboulle/clockwork"

	"github.com/baton-run/baton/engine/actions"
	"github.com/baton-run/baton/engine/alert"
	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
	"github.com/baton-run/baton/models/store/storetest"
)

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

// receiver is a real HTTP endpoint that records what it is sent and
// answers with the statuses it is told, then 200.
type receiver struct {
	mu       sync.Mutex
	got      []received
	statuses []int
	srv      *httptest.Server
}

type received struct {
	Body      []byte
	Signature string
	Delivery  string
}

func newReceiver(t *testing.T, statuses ...int) *receiver {
	r := &receiver{statuses: statuses}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, received{Body: body, Signature: req.Header.Get("X-Baton-Signature"), Delivery: req.Header.Get("X-Baton-Delivery")})
		status := http.StatusOK
		if len(r.statuses) > 0 {
			status, r.statuses = r.statuses[0], r.statuses[1:]
		}
		r.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte("received " + http.StatusText(status)))
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) all() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.got...)
}

type fixture struct {
	st    *store.Store
	clock *clockwork.FakeClock
	svc   *alert.Service
	hook  *receiver
	smtp  *smtpSink
}

func key() []byte { return bytes.Repeat([]byte{3}, store.SecretKeyLen) }

func newService(st *store.Store, clock *clockwork.FakeClock, email *alert.Email) *alert.Service {
	client := alert.NewHTTPClient(nil)
	return alert.New(alert.Config{Store: st, Clock: clock, Email: email, BaseURL: "http://baton.test",
		Log: slog.New(slog.DiscardHandler),
		Notifiers: map[string]alert.Notifier{
			models.ChannelWebhook: alert.Webhook{Client: client},
			models.ChannelSlack:   alert.Slack{Client: client},
			models.ChannelInApp:   alert.InApp{Users: st},
			models.ChannelEmail:   alert.EmailNotifier{Email: email},
		}})
}

func setup(t *testing.T, st *store.Store, hookStatuses ...int) *fixture {
	t.Helper()
	if err := st.UseSecretsKey(key()); err != nil {
		t.Fatal(err)
	}
	f := &fixture{st: st, clock: clockwork.NewFakeClockAt(t0), hook: newReceiver(t, hookStatuses...), smtp: newSMTPSink(t)}
	email, err := alert.ParseSMTP("smtp://"+f.smtp.addr+"?tls=none", "baton@example.test")
	if err != nil {
		t.Fatal(err)
	}
	f.svc = newService(st, f.clock, email)
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// onCall creates a webhook channel (level 1) and an email channel (level
// 2 after 5m), a policy and a run_failed rule on template orders.
func (f *fixture) onCall(t *testing.T, repeat int) (rule models.AlertRule, hook, mail int64) {
	ctx := context.Background()
	h := &models.AlertChannel{Name: "hook", Kind: models.ChannelWebhook, Config: models.ChannelConfig{URL: f.hook.srv.URL, Secret: "topsecret"}}
	must(t, f.st.CreateAlertChannel(ctx, h))
	m := &models.AlertChannel{Name: "mail", Kind: models.ChannelEmail, Config: models.ChannelConfig{To: []string{"oncall@example.test"}}}
	must(t, f.st.CreateAlertChannel(ctx, m))
	p := &models.EscalationPolicy{Name: "on-call", Repeat: repeat, Levels: []models.EscalationLevel{
		{After: "0s", Channels: []int64{h.ID}}, {After: "5m", Channels: []int64{m.ID}}}}
	must(t, f.st.CreateAlertPolicy(ctx, p))
	rule = models.AlertRule{Name: "orders failing", Severity: models.SeverityCritical, Policy: &p.ID, Enabled: true,
		Condition: models.AlertCondition{Kind: models.CondRunFailed, Template: "orders"}}
	must(t, f.st.CreateAlertRule(ctx, &rule))
	must(t, f.svc.ReloadRules(ctx))
	return rule, h.ID, m.ID
}

func runEnded(id, template string, typ string, at time.Time, ms float64) []models.Event {
	status := strings.TrimPrefix(typ, "run.")
	return []models.Event{{RunID: id, Type: typ, Status: status, At: at, Template: template, DurationMs: &ms}}
}

func TestRunFailedEscalatesUntilAcknowledged(t *testing.T) {
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			f := setup(t, db.Open(t))
			rule, hookID, _ := f.onCall(t, 0)

			// A succeeded run and a failed run of another template: nothing.
			f.svc.Observe(ctx, runEnded("r0", "orders", models.EventRunSucceeded, t0, 10))
			f.svc.Observe(ctx, runEnded("r1", "billing", models.EventRunFailed, t0, 10))
			f.svc.Tick(ctx)
			if n := len(f.hook.all()); n != 0 {
				t.Fatalf("%d webhook calls without a matching failure", n)
			}
			// Two failures of orders: one alert counted twice, level 1 sent once.
			f.svc.Observe(ctx, runEnded("r2", "orders", models.EventRunFailed, t0, 10))
			f.svc.Tick(ctx)
			f.svc.Observe(ctx, runEnded("r3", "orders", models.EventRunTimedOut, t0, 10))
			f.svc.Tick(ctx)
			alerts, _ := f.st.ListAlerts(ctx, "open", 0)
			if len(alerts) != 1 || alerts[0].Count != 2 || alerts[0].Subject != "orders" || alerts[0].Rule != rule.ID || alerts[0].Level != 1 || alerts[0].Links.Run != "r3" {
				t.Fatalf("open alerts = %+v; want one for orders, count 2, level 1", alerts)
			}
			got := f.hook.all()
			if len(got) != 1 {
				t.Fatalf("webhook calls = %d, want 1 (level 1 once)", len(got))
			}
			// The signature is the HMAC-SHA256 of the body with the secret; the body is the alert.
			if got[0].Signature != alert.Sign("topsecret", got[0].Body) || !strings.HasPrefix(got[0].Signature, "sha256=") || got[0].Delivery == "" {
				t.Errorf("signature %q delivery %q", got[0].Signature, got[0].Delivery)
			}
			var body models.Alert
			must(t, json.Unmarshal(got[0].Body, &body))
			if body.ID != alerts[0].ID || body.State != models.AlertFiring || body.Severity != models.SeverityCritical || body.Links.Template != "orders" {
				t.Errorf("webhook body = %s", got[0].Body)
			}
			// Before 5m, no email; at 5m, level 2 by email.
			f.clock.Advance(4 * time.Minute)
			f.svc.Tick(ctx)
			if n := len(f.smtp.all()); n != 0 {
				t.Fatalf("email before level 2 is due: %d", n)
			}
			f.clock.Advance(time.Minute)
			f.svc.Tick(ctx)
			mails := f.smtp.all()
			if len(mails) != 1 || !strings.Contains(mails[0].data, "orders failing") || !strings.Contains(mails[0].data, "text/html") ||
				!strings.Contains(mails[0].data, "text/plain") || mails[0].to[0] != "oncall@example.test" {
				t.Fatalf("level 2 mails = %+v", mails)
			}
			a, _ := f.st.Alert(ctx, alerts[0].ID)
			if a.Level != 2 {
				t.Errorf("level = %d, want 2", a.Level)
			}
			log, _ := f.st.AlertDeliveries(ctx, a.ID)
			if len(log) != 2 || log[0].Channel != hookID || log[0].Status != models.DeliverySent || !strings.Contains(log[0].Answer, "200") ||
				log[1].Level != 2 || !strings.Contains(log[1].Answer, "accepted") {
				t.Errorf("delivery log = %+v", log)
			}

			// A second failure episode, acknowledged at once: no level 2.
			_, err := f.st.ResolveAlert(ctx, a.ID, "olga", f.clock.Now())
			must(t, err)
			must(t, f.svc.ReloadRules(ctx))
			f.svc.Observe(ctx, runEnded("r4", "orders", models.EventRunRolledBack, f.clock.Now(), 10))
			f.svc.Tick(ctx)
			open, _ := f.st.ListAlerts(ctx, "open", 0)
			if len(open) != 1 || open[0].ID == a.ID {
				t.Fatalf("after resolving, a new failure opened %+v", open)
			}
			_, err = f.st.AckAlert(ctx, open[0].ID, "olga", f.clock.Now())
			must(t, err)
			f.clock.Advance(time.Hour)
			f.svc.Tick(ctx)
			if n := len(f.smtp.all()); n != 1 {
				t.Errorf("emails after ack = %d, want still 1", n)
			}
			if n := len(f.hook.all()); n != 2 {
				t.Errorf("webhook calls = %d, want 2 (one per alert)", n)
			}
		})
	}
}

func TestWebhookRetriesWithBackoffUnderOneDeliveryID(t *testing.T) {
	ctx := context.Background()
	f := setup(t, storetest.OpenSQLite(t), 500, 503)
	f.onCall(t, 0)
	f.svc.Observe(ctx, runEnded("r1", "orders", models.EventRunFailed, t0, 10))
	f.svc.Tick(ctx)
	f.clock.Advance(5 * time.Second)
	f.svc.Tick(ctx) // before the first backoff (10s): nothing
	if n := len(f.hook.all()); n != 1 {
		t.Fatalf("calls after a failure and 5s = %d, want 1", n)
	}
	f.clock.Advance(5 * time.Second)
	f.svc.Tick(ctx)
	f.clock.Advance(30 * time.Second)
	f.svc.Tick(ctx)
	got := f.hook.all()
	if len(got) != 3 || got[0].Delivery != got[2].Delivery || got[0].Delivery == "" {
		t.Fatalf("calls = %+v; want 3 with one delivery id", got)
	}
	alerts, _ := f.st.ListAlerts(ctx, "", 0)
	log, _ := f.st.AlertDeliveries(ctx, alerts[0].ID)
	if len(log) != 3 || log[0].Status != models.DeliveryFailed || !strings.Contains(log[0].Answer, "500") ||
		log[1].Status != models.DeliveryFailed || log[2].Status != models.DeliverySent || log[2].Attempt != 3 {
		t.Errorf("delivery log = %+v", log)
	}
	// Sent means done: later ticks send nothing.
	f.clock.Advance(time.Hour)
	f.svc.Tick(ctx)
	if n := len(f.hook.all()); n != 3 {
		t.Errorf("calls after success = %d", n)
	}
}

// A crash (the process gone with nothing flushed) between level 1 and level
// 2, then a restart: level 2 is sent once, level 1 never again.
func TestRestartBetweenLevelsSendsLevelTwoExactlyOnce(t *testing.T) {
	for _, db := range storetest.Databases(t) {
		t.Run(db.Name, func(t *testing.T) {
			ctx := context.Background()
			var st *store.Store
			var reopen func() *store.Store
			if db.Name == "sqlite" {
				path := filepath.Join(t.TempDir(), "baton.db")
				reopen = func() *store.Store {
					s, err := store.Open(ctx, "sqlite:"+path)
					must(t, err)
					t.Cleanup(func() { _ = s.Close() })
					return s
				}
				st = reopen()
			} else {
				st = db.Open(t)
				reopen = func() *store.Store { return st } // the database outlives the process either way
			}
			f := setup(t, st)
			f.onCall(t, 0)
			f.svc.Observe(ctx, runEnded("r1", "orders", models.EventRunFailed, t0, 10))
			f.svc.Tick(ctx)
			if n := len(f.hook.all()); n != 1 {
				t.Fatalf("level 1 calls = %d", n)
			}
			f.clock.Advance(2 * time.Minute)
			f.svc.Tick(ctx)
			// The first process dies here: f.svc is never used again.

			st2 := reopen()
			must(t, st2.UseSecretsKey(key()))
			clock2 := clockwork.NewFakeClockAt(t0.Add(7 * time.Minute)) // restarted after level 2 was due
			email, _ := alert.ParseSMTP("smtp://"+f.smtp.addr+"?tls=none", "baton@example.test")
			svc2 := newService(st2, clock2, email)
			must(t, svc2.ReloadRules(ctx))
			svc2.Tick(ctx)
			svc2.Tick(ctx)
			clock2.Advance(time.Hour)
			svc2.Tick(ctx)
			if n := len(f.smtp.all()); n != 1 {
				t.Errorf("level 2 emails after restart = %d, want exactly 1", n)
			}
			if n := len(f.hook.all()); n != 1 {
				t.Errorf("level 1 webhook calls after restart = %d, want still 1", n)
			}
		})
	}
}

func TestRepeatRepeatsTheLastLevel(t *testing.T) {
	ctx := context.Background()
	f := setup(t, storetest.OpenSQLite(t))
	f.onCall(t, 2)
	f.svc.Observe(ctx, runEnded("r1", "orders", models.EventRunFailed, t0, 10))
	for range 30 {
		f.svc.Tick(ctx)
		f.clock.Advance(time.Minute)
	}
	// Level 2 at 5m, repeats at 10m and 15m (the gap between the levels).
	if n := len(f.smtp.all()); n != 3 {
		t.Errorf("emails = %d, want level 2 and 2 repeats", n)
	}
}

func TestFailureRateFiresAndResolvesItself(t *testing.T) {
	ctx := context.Background()
	f := setup(t, storetest.OpenSQLite(t))
	thr := models.Threshold{Num: 0.5}
	rule := models.AlertRule{Name: "rate", Enabled: true, Condition: models.AlertCondition{Kind: models.CondFailureRate,
		Template: "orders", Window: "10m", Threshold: &thr, MinRuns: 4}}
	must(t, f.st.CreateAlertRule(ctx, &rule))
	must(t, f.svc.ReloadRules(ctx))
	at := t0
	end := func(typ string) {
		at = at.Add(time.Second)
		f.svc.Observe(ctx, runEnded("r", "orders", typ, at, 5))
	}
	end(models.EventRunFailed)
	end(models.EventRunFailed)
	end(models.EventRunFailed) // 3 of 3, but fewer than minRuns
	if open, _ := f.st.ListAlerts(ctx, "open", 0); len(open) != 0 {
		t.Fatalf("fired below minRuns: %+v", open)
	}
	end(models.EventRunSucceeded) // 3 of 4 = 75 %
	open, _ := f.st.ListAlerts(ctx, "open", 0)
	if len(open) != 1 || !strings.Contains(open[0].Summary, "75 %") {
		t.Fatalf("open after 3 of 4 failed = %+v", open)
	}
	for range 4 {
		end(models.EventRunSucceeded) // 3 of 8 = 37 %
	}
	if open, _ := f.st.ListAlerts(ctx, "open", 0); len(open) != 0 {
		t.Errorf("still open at 37 %%: %+v", open)
	}
	if res, _ := f.st.ListAlerts(ctx, "resolved", 0); len(res) != 1 || res[0].ResolvedBy != "" {
		t.Errorf("resolved = %+v; want resolved by itself", res)
	}
}

func TestDurationAndStuckStepAndAnomaly(t *testing.T) {
	ctx := context.Background()
	f := setup(t, storetest.OpenSQLite(t))
	ten := models.Threshold{Dur: 10 * time.Minute, Raw: "10m"}
	for _, r := range []models.AlertRule{
		{Name: "slow", Enabled: true, Condition: models.AlertCondition{Kind: models.CondDurationOver, Template: "orders", Threshold: &ten}},
		{Name: "stuck", Enabled: true, Condition: models.AlertCondition{Kind: models.CondStepStuck, Template: "orders", Step: "ship", Threshold: &ten}},
		{Name: "odd", Enabled: true, Condition: models.AlertCondition{Kind: models.CondAnomaly, Template: "billing", Metric: "duration"}},
	} {
		must(t, f.st.CreateAlertRule(ctx, &r))
	}
	must(t, f.svc.ReloadRules(ctx))
	now := f.clock.Now()
	f.svc.Observe(ctx, []models.Event{
		{RunID: "r1", Type: models.EventRunStarted, At: now, Template: "orders"},
		{RunID: "r1", Type: models.EventStepStarted, StepID: "ship", At: now, Template: "orders"},
	})
	f.clock.Advance(9 * time.Minute)
	f.svc.EvaluatePeriodic(ctx)
	if open, _ := f.st.ListAlerts(ctx, "open", 0); len(open) != 0 {
		t.Fatalf("fired before 10 minutes: %+v", open)
	}
	f.clock.Advance(2 * time.Minute)
	f.svc.EvaluatePeriodic(ctx)
	f.svc.EvaluatePeriodic(ctx)
	open, _ := f.st.ListAlerts(ctx, "open", 0)
	subjects := map[string]int{}
	for _, a := range open {
		subjects[a.Subject] = a.Count
	}
	if len(open) != 2 || subjects["orders"] != 1 || subjects["orders/ship"] != 1 {
		t.Fatalf("open = %+v; want the slow run and the stuck step, each once", open)
	}
	// The step finishes: the stuck alert resolves by itself.
	f.svc.Observe(ctx, []models.Event{{RunID: "r1", Type: models.EventStepSucceeded, StepID: "ship", At: f.clock.Now(), Template: "orders"}})
	f.svc.EvaluatePeriodic(ctx)
	if open, _ := f.st.ListAlerts(ctx, "open", 0); len(open) != 1 || open[0].Subject != "orders" {
		t.Errorf("after the step finished, open = %+v", open)
	}

	// Anomaly: 30 runs of about a second, then one of 5 seconds.
	for i := range 30 {
		f.svc.Observe(ctx, runEnded("b", "billing", models.EventRunSucceeded, t0, float64(950+i*3)))
	}
	if open, _ := f.st.ListAlerts(ctx, "open", 0); len(open) != 1 {
		t.Fatalf("a steady baseline fired: %+v", open)
	}
	f.svc.Observe(ctx, runEnded("slow-one", "billing", models.EventRunSucceeded, t0, 5000))
	open, _ = f.st.ListAlerts(ctx, "open", 0)
	if len(open) != 2 || open[0].Subject != "billing" || !strings.Contains(open[0].Summary, "robust z-score") {
		t.Fatalf("after an outlier, open = %+v", open)
	}
	f.svc.Observe(ctx, runEnded("normal", "billing", models.EventRunSucceeded, t0, 1000))
	if open, _ := f.st.ListAlerts(ctx, "open", 0); len(open) != 1 {
		t.Errorf("anomaly did not resolve on a normal run: %+v", open)
	}
}

func TestLevelRulesAndReviewWaiting(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	must(t, st.UseSecretsKey(key()))
	clock := clockwork.NewFakeClockAt(time.Now().Add(2 * time.Hour))
	var dbErr error
	backlog := 0
	svc := alert.New(alert.Config{Store: st, Clock: clock, Log: slog.New(slog.DiscardHandler),
		Healthy: func() error { return dbErr }, Backlog: func() int { return backlog }})
	hour := models.Threshold{Dur: time.Hour, Raw: "1h"}
	hundred := models.Threshold{Num: 100}
	for _, r := range []models.AlertRule{
		{Name: "db", Enabled: true, Condition: models.AlertCondition{Kind: models.CondDatabaseDown}},
		{Name: "queue", Enabled: true, Condition: models.AlertCondition{Kind: models.CondBacklog, Threshold: &hundred, For: "1m"}},
		{Name: "review", Enabled: true, Condition: models.AlertCondition{Kind: models.CondReviewWaiting, Threshold: &hour}},
	} {
		must(t, st.CreateAlertRule(ctx, &r))
	}
	storetest.MustCreateTemplate(t, st, "orders", "dana")
	_, err := st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err)
	must(t, svc.ReloadRules(ctx))
	dbErr, backlog = io.ErrUnexpectedEOF, 500
	svc.EvaluatePeriodic(ctx)
	clock.Advance(2 * time.Minute)
	svc.EvaluatePeriodic(ctx)
	open, _ := st.ListAlerts(ctx, "open", 0)
	subjects := map[string]bool{}
	for _, a := range open {
		subjects[a.Subject] = true
	}
	if !subjects["database"] || !subjects["backlog"] || !subjects["orders v1"] || len(open) != 3 {
		t.Fatalf("open = %+v", open)
	}
	dbErr, backlog = nil, 0
	_, err = st.ApproveVersion(ctx, "orders", 1, "olga", "")
	must(t, err)
	svc.EvaluatePeriodic(ctx)
	if open, _ := st.ListAlerts(ctx, "open", 0); len(open) != 0 {
		t.Errorf("after the conditions cleared, open = %+v", open)
	}
}

func TestChannelsSendTestAndInApp(t *testing.T) {
	ctx := context.Background()
	f := setup(t, storetest.OpenSQLite(t), 418)
	storetestUser(t, f.st, "olga", models.RoleOperator)
	storetestUser(t, f.st, "ivan", models.RoleViewer)
	slackSrv := newReceiver(t)
	chans := []*models.AlertChannel{
		{Name: "hook", Kind: models.ChannelWebhook, Config: models.ChannelConfig{URL: f.hook.srv.URL, Secret: "s"}},
		{Name: "slack", Kind: models.ChannelSlack, Config: models.ChannelConfig{URL: slackSrv.srv.URL + "/services/T/B/x"}},
		{Name: "bell", Kind: models.ChannelInApp, Config: models.ChannelConfig{Roles: []string{"operator"}}},
		{Name: "mail", Kind: models.ChannelEmail, Config: models.ChannelConfig{To: []string{"a@example.test"}}},
	}
	for _, c := range chans {
		must(t, f.st.CreateAlertChannel(ctx, c))
	}
	// The webhook's far end answered 418: the test says so.
	answer, err := f.svc.SendTest(ctx, chans[0].ID, "admin")
	if err == nil || !strings.Contains(answer, "418") {
		t.Errorf("webhook test = %q, %v; want the 418 answer", answer, err)
	}
	answer, err = f.svc.SendTest(ctx, chans[1].ID, "admin")
	if err != nil || !strings.Contains(answer, "200") {
		t.Errorf("slack test = %q, %v", answer, err)
	}
	var msg map[string]string
	must(t, json.Unmarshal(slackSrv.all()[0].Body, &msg))
	if !strings.Contains(msg["text"], "Test message") {
		t.Errorf("slack body = %v", msg)
	}
	answer, err = f.svc.SendTest(ctx, chans[2].ID, "admin")
	if err != nil || !strings.Contains(answer, "olga") || strings.Contains(answer, "ivan") {
		t.Errorf("in-app test = %q, %v", answer, err)
	}
	if n, _ := f.st.UnreadNotifications(ctx, "olga"); n != 1 {
		t.Errorf("olga's unread = %d", n)
	}
	answer, err = f.svc.SendTest(ctx, chans[3].ID, "admin")
	if err != nil || !strings.Contains(answer, "accepted") || len(f.smtp.all()) != 1 {
		t.Errorf("email test = %q, %v", answer, err)
	}
}

func TestApproversAreToldOfSubmittedVersions(t *testing.T) {
	ctx := context.Background()
	f := setup(t, storetest.OpenSQLite(t))
	storetestUser(t, f.st, "olga", models.RoleApprover)
	storetestUser(t, f.st, "anna", models.RoleApprover)
	storetestUser(t, f.st, "dana", models.RoleDesigner, models.RoleApprover)
	storetestUser(t, f.st, "ivan", models.RoleViewer)
	must(t, f.st.SetNotifySettings(ctx, "olga", models.NotifySettings{Email: "olga@example.test"}))
	if n := f.svc.VersionSubmitted(ctx, "orders", 3, "dana", "Replayed on the last 50 runs: 38 same path, 12 would take another path, 5 would call a new step"); n != 2 {
		t.Errorf("told %d approvers, want olga and anna (not the author dana, not ivan)", n)
	}
	for user, want := range map[string]int64{"olga": 1, "anna": 1, "dana": 0, "ivan": 0} {
		if n, _ := f.st.UnreadNotifications(ctx, user); n != want {
			t.Errorf("%s unread = %d, want %d", user, n, want)
		}
	}
	mails := f.smtp.all()
	if len(mails) != 1 || mails[0].to[0] != "olga@example.test" || !strings.Contains(mails[0].data, "orders v3") ||
		!strings.Contains(mails[0].data, "12 would take another path") {
		t.Errorf("approver mails = %+v", mails)
	}
}

func TestEmailSettingsHidePassword(t *testing.T) {
	e, err := alert.ParseSMTP("smtp://ops:hunter2@mail.example.test:2525", "baton@example.test")
	must(t, err)
	if s := e.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "ops:***@mail.example.test:2525") {
		t.Errorf("String() = %q", s)
	}
	for _, bad := range []string{"http://x", "smtp://", "smtp://h:port"} {
		if _, err := alert.ParseSMTP(bad, "a@b.c"); err == nil {
			t.Errorf("ParseSMTP(%q) accepted", bad)
		}
	}
	if _, err := alert.ParseSMTP("smtp://h:25", ""); err == nil {
		t.Error("no --smtp-from accepted")
	}
}

func storetestUser(t *testing.T, st *store.Store, name string, roles ...models.Role) {
	t.Helper()
	must(t, st.CreateUser(context.Background(), &models.User{Name: name, PasswordHash: "x", Roles: roles}))
}

// smtpSink is a real SMTP server in the test process that keeps every message.
type smtpSink struct {
	mu   sync.Mutex
	msgs []mailMsg
	addr string
}

type mailMsg struct {
	from string
	to   []string
	data string
}

func newSMTPSink(t *testing.T) *smtpSink {
	s := &smtpSink{}
	srv := smtp.NewServer(s)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *smtpSink) all() []mailMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mailMsg(nil), s.msgs...)
}

func (s *smtpSink) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{sink: s}, nil }

type smtpSession struct {
	sink *smtpSink
	msg  mailMsg
}

func (x *smtpSession) Reset()        { x.msg = mailMsg{} }
func (x *smtpSession) Logout() error { return nil }
func (x *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	x.msg.from = from
	return nil
}
func (x *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.msg.to = append(x.msg.to, to)
	return nil
}
func (x *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	x.msg.data = string(b)
	x.sink.mu.Lock()
	x.sink.msgs = append(x.sink.msgs, x.msg)
	x.sink.mu.Unlock()
	return nil
}

// Webhook channels obey the http action's egress policy: a destination the
// policy refuses is never dialled, and "send test" says why.
func TestWebhookObeysEgressPolicy(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	must(t, st.UseSecretsKey(key()))
	hook := newReceiver(t)
	policy := &actions.EgressPolicy{DenyLoopback: true}
	svc := alert.New(alert.Config{Store: st, Log: slog.New(slog.DiscardHandler),
		Notifiers: map[string]alert.Notifier{models.ChannelWebhook: alert.Webhook{Client: alert.NewHTTPClient(policy.DialContext)}}})
	ch := &models.AlertChannel{Name: "inside", Kind: models.ChannelWebhook, Config: models.ChannelConfig{URL: hook.srv.URL + "/x?token=abc", Secret: "s"}}
	must(t, st.CreateAlertChannel(ctx, ch))
	answer, err := svc.SendTest(ctx, ch.ID, "admin")
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1") || strings.Contains(err.Error(), "token=abc") {
		t.Errorf("test through a closed egress = %q, %v; want a refusal naming the address, not the URL's token", answer, err)
	}
	if n := len(hook.all()); n != 0 {
		t.Errorf("the refused destination got %d calls", n)
	}
}

// seededStore answers ListRuns with made-up history.
type seededStore struct {
	*store.Store
	runs []models.Run
}

func (s seededStore) ListRuns(context.Context, models.RunFilter) ([]models.Run, error) {
	return s.runs, nil
}

// After a restart the baselines come from stored runs: the first slow run
// is judged against the template's history at once.
func TestBaselinesSeededFromStoredRuns(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	var runs []models.Run
	for i := range 30 {
		at := t0.Add(-time.Duration(i) * time.Minute)
		ms := float64(1000 + i*5)
		runs = append(runs, models.Run{ID: fmt.Sprint("old", i), Template: "billing", Status: models.RunSucceeded, FinishedAt: &at, DurationMs: &ms})
	}
	runs = append(runs, models.Run{ID: "test", Template: "billing", Status: models.RunSucceeded, Test: true, FinishedAt: &t0, DurationMs: ptr(9e9)})
	rule := models.AlertRule{Name: "odd", Enabled: true, Condition: models.AlertCondition{Kind: models.CondAnomaly, Template: "billing"}}
	must(t, st.CreateAlertRule(ctx, &rule))
	svc := alert.New(alert.Config{Store: seededStore{st, runs}, Clock: clockwork.NewFakeClockAt(t0), Log: slog.New(slog.DiscardHandler)})
	must(t, svc.ReloadRules(ctx))
	svc.Seed(ctx)
	svc.Observe(ctx, runEnded("slow", "billing", models.EventRunSucceeded, t0.Add(time.Minute), 6000))
	if open, _ := st.ListAlerts(ctx, "open", 0); len(open) != 1 || !strings.Contains(open[0].Summary, "robust z-score") {
		t.Fatalf("open after the first slow run since the restart = %+v", open)
	}
}

func ptr(f float64) *float64 { return &f }

// device_offline: a device offline longer than the threshold raises one
// alert per device (or only the one the rule names); it resolves when the
// device is back. A device that never connected is not reported.
func TestDeviceOfflineRule(t *testing.T) {
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	must(t, st.UseSecretsKey(key()))
	clock := clockwork.NewFakeClockAt(time.Now())
	now := clock.Now()
	long, short := now.Add(-20*time.Minute), now.Add(-time.Minute)
	devices := []models.DeviceState{
		{Name: "edge-1", Status: models.DeviceOffline, LastSeen: &long},
		{Name: "edge-2", Status: models.DeviceOffline, LastSeen: &short},
		{Name: "edge-3", Status: models.DeviceOnline, LastSeen: &now},
		{Name: "new", Status: models.DeviceOffline},
	}
	svc := alert.New(alert.Config{Store: st, Clock: clock, Log: slog.New(slog.DiscardHandler),
		Devices: func(context.Context) ([]models.DeviceState, error) { return devices, nil }})
	ten := models.Threshold{Dur: 10 * time.Minute, Raw: "10m"}
	for _, r := range []models.AlertRule{
		{Name: "any device", Enabled: true, Condition: models.AlertCondition{Kind: models.CondDeviceOffline, Threshold: &ten}},
		{Name: "edge-2 only", Enabled: true, Condition: models.AlertCondition{Kind: models.CondDeviceOffline, Threshold: &ten, Device: "edge-2"}},
	} {
		must(t, st.CreateAlertRule(ctx, &r))
	}
	must(t, svc.ReloadRules(ctx))
	svc.EvaluatePeriodic(ctx)
	open, _ := st.ListAlerts(ctx, "open", 0)
	if len(open) != 1 || open[0].Subject != "device edge-1" {
		t.Fatalf("open = %+v; want one alert for edge-1", open)
	}
	// Ten minutes on, edge-2 has been away long enough too; edge-1 is back.
	clock.Advance(10 * time.Minute)
	devices[0].Status, devices[0].LastSeen = models.DeviceOnline, &now
	svc.EvaluatePeriodic(ctx)
	open, _ = st.ListAlerts(ctx, "open", 0)
	subjects := map[string]int{}
	for _, a := range open {
		subjects[a.Subject]++
	}
	if subjects["device edge-1"] != 0 || subjects["device edge-2"] != 2 || len(open) != 2 {
		t.Fatalf("open = %+v; want edge-2 under both rules, edge-1 resolved", open)
	}
}
