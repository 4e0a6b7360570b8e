package storetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/baton-run/baton/models"
	"github.com/baton-run/baton/models/store"
)

// Conformance cases of alerting: channels with sealed secrets, rules and
// policies, one open alert per rule and subject, durable escalation steps
// and deliveries, the in-app bell.

func alertKey(t testing.TB, st *store.Store) {
	t.Helper()
	must(t, st.UseSecretsKey(bytes.Repeat([]byte{7}, store.SecretKeyLen)), "secrets key")
}

func exerciseAlertChannels(t *testing.T, st *store.Store) {
	ctx := context.Background()
	hook := &models.AlertChannel{Name: "ops hook", Kind: models.ChannelWebhook,
		Config: models.ChannelConfig{URL: "https://example.test/hook", Secret: "s3cret"}}
	wantErr(t, st.CreateAlertChannel(ctx, hook), models.Unavailable, "a secret without a secrets key")
	alertKey(t, st)
	must(t, st.CreateAlertChannel(ctx, hook), "create webhook channel")
	if hook.ID == 0 || hook.Config.Secret != "" || !hook.Config.SecretSet || hook.Config.URL != "https://example.test/hook" {
		t.Errorf("created channel shown as %+v; want the secret hidden and marked set", hook.Config)
	}
	slack := &models.AlertChannel{Name: "slack", Kind: models.ChannelSlack, Config: models.ChannelConfig{URL: "https://hooks.example.test/T0/B0/tok"}}
	must(t, st.CreateAlertChannel(ctx, slack), "create slack")
	if slack.Config.URL == "https://hooks.example.test/T0/B0/tok" || !slack.Config.URLSet {
		t.Errorf("slack URL shown back: %+v", slack.Config)
	}
	wantErr(t, st.CreateAlertChannel(ctx, &models.AlertChannel{Name: "ops hook", Kind: models.ChannelEmail,
		Config: models.ChannelConfig{To: []string{"a@example.test"}}}), models.Conflict, "duplicate name")
	wantErr(t, st.CreateAlertChannel(ctx, &models.AlertChannel{Name: "mail", Kind: models.ChannelEmail,
		Config: models.ChannelConfig{To: []string{"not an address"}}}), models.Invalid, "bad address", "config.to[0]")

	list, err := st.ListAlertChannels(ctx)
	must(t, err, "list")
	for _, c := range list {
		if c.Config.Secret != "" || c.Config.URL == "https://hooks.example.test/T0/B0/tok" {
			t.Errorf("list shows a secret: %+v", c)
		}
	}
	full, err := st.AlertChannelForSending(ctx, hook.ID)
	must(t, err, "for sending")
	if full.Config.Secret != "s3cret" {
		t.Errorf("sending secret = %q", full.Config.Secret)
	}
	// An update without a secret keeps the stored one; with one, replaces it.
	upd := &models.AlertChannel{ID: hook.ID, Name: "ops hook 2", Config: models.ChannelConfig{URL: "https://example.test/other"}}
	must(t, st.UpdateAlertChannel(ctx, upd), "update keeping the secret")
	full, _ = st.AlertChannelForSending(ctx, hook.ID)
	if full.Config.Secret != "s3cret" || full.Config.URL != "https://example.test/other" || full.Name != "ops hook 2" {
		t.Errorf("after update: %+v", full)
	}
	upd.Config.Secret = "new"
	must(t, st.UpdateAlertChannel(ctx, upd), "update replacing the secret")
	full, _ = st.AlertChannelForSending(ctx, hook.ID)
	if full.Config.Secret != "new" {
		t.Errorf("secret after replacing = %q", full.Config.Secret)
	}
	sfull, _ := st.AlertChannelForSending(ctx, slack.ID)
	if sfull.Config.URL != "https://hooks.example.test/T0/B0/tok" {
		t.Errorf("slack URL for sending = %q", sfull.Config.URL)
	}
	must(t, st.DeleteAlertChannel(ctx, slack.ID), "delete")
	wantErr(t, st.DeleteAlertChannel(ctx, slack.ID), models.NotFound, "delete again")
}

func mustChannel(t testing.TB, st *store.Store, name string) int64 {
	t.Helper()
	c := &models.AlertChannel{Name: name, Kind: models.ChannelInApp, Config: models.ChannelConfig{Roles: []string{"operator"}}}
	must(t, st.CreateAlertChannel(context.Background(), c), "create channel "+name)
	return c.ID
}

func exerciseAlertRulesAndPolicies(t *testing.T, st *store.Store) {
	ctx := context.Background()
	c1 := mustChannel(t, st, "first")
	wantErr(t, st.CreateAlertPolicy(ctx, &models.EscalationPolicy{Name: "p", Levels: []models.EscalationLevel{{After: "0s", Channels: []int64{c1 + 99}}}}),
		models.Invalid, "unknown channel", "levels[0].channels")
	wantErr(t, st.CreateAlertPolicy(ctx, &models.EscalationPolicy{Name: "p", Levels: []models.EscalationLevel{{After: "soon", Channels: []int64{c1}}}}),
		models.Invalid, "bad after", "levels[0].after")
	p := &models.EscalationPolicy{Name: "on-call", Levels: []models.EscalationLevel{{After: "0s", Channels: []int64{c1}}, {After: "5m", Channels: []int64{c1}}}, Repeat: 2}
	must(t, st.CreateAlertPolicy(ctx, p), "create policy")
	got, err := st.AlertPolicy(ctx, p.ID)
	must(t, err, "get policy")
	if len(got.Levels) != 2 || got.Levels[1].After != "5m" || got.Repeat != 2 {
		t.Errorf("policy = %+v", got)
	}
	missing := int64(999)
	wantErr(t, st.CreateAlertRule(ctx, &models.AlertRule{Name: "r", Policy: &missing, Condition: models.AlertCondition{Kind: models.CondRunFailed}}),
		models.Invalid, "unknown policy", "policy")
	wantErr(t, st.CreateAlertRule(ctx, &models.AlertRule{Name: "r", Condition: models.AlertCondition{Kind: "weather"}}),
		models.Invalid, "unknown kind", "condition.kind")
	r := &models.AlertRule{Name: "slow orders", Severity: models.SeverityCritical, Policy: &p.ID, Enabled: true,
		Condition: models.AlertCondition{Kind: models.CondDurationOver, Template: "orders", Threshold: &models.Threshold{Dur: 10 * time.Minute, Raw: "10m"}}}
	must(t, st.CreateAlertRule(ctx, r), "create rule")
	rules, err := st.ListAlertRules(ctx)
	must(t, err, "list rules")
	if len(rules) != 1 || rules[0].Condition.Threshold.Duration() != 10*time.Minute || *rules[0].Policy != p.ID || !rules[0].Enabled {
		t.Errorf("rules = %+v", rules)
	}
	r.Enabled = false
	must(t, st.UpdateAlertRule(ctx, r), "update rule")
	if got, _ := st.AlertRule(ctx, r.ID); got.Enabled {
		t.Error("rule still enabled after update")
	}
	must(t, st.DeleteAlertPolicy(ctx, p.ID), "delete policy")
	if got, _ := st.AlertRule(ctx, r.ID); got.Policy != nil {
		t.Errorf("rule keeps deleted policy %v", *got.Policy)
	}
}

func mustRule(t testing.TB, st *store.Store, policy *int64) models.AlertRule {
	t.Helper()
	r := models.AlertRule{Name: "failures", Severity: models.SeverityCritical, Policy: policy, Enabled: true,
		Condition: models.AlertCondition{Kind: models.CondRunFailed}}
	must(t, st.CreateAlertRule(context.Background(), &r), "create rule")
	return r
}

func exerciseAlertDedupe(t *testing.T, st *store.Store) {
	ctx := context.Background()
	r := mustRule(t, st, nil)
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	a, created, err := st.RaiseAlert(ctx, models.AlertRaise{Rule: r.ID, Subject: "orders", Summary: "run r1 failed", Links: models.AlertLinks{Run: "r1", Template: "orders"}, At: t0})
	must(t, err, "raise")
	if !created || a.Count != 1 || a.State != models.AlertFiring || a.RuleName != "failures" || a.Severity != models.SeverityCritical {
		t.Fatalf("first raise = %+v, created %v", a, created)
	}
	b, created, err := st.RaiseAlert(ctx, models.AlertRaise{Rule: r.ID, Subject: "orders", Summary: "run r2 failed", Links: models.AlertLinks{Run: "r2"}, At: t0.Add(time.Minute)})
	must(t, err, "raise again")
	if created || b.ID != a.ID || b.Count != 2 || !b.LastAt.Equal(t0.Add(time.Minute)) || !b.FirstAt.Equal(t0) || b.Links.Run != "r2" {
		t.Errorf("repeat = %+v, created %v; want the same alert counted twice", b, created)
	}
	other, created, _ := st.RaiseAlert(ctx, models.AlertRaise{Rule: r.ID, Subject: "billing", At: t0})
	if !created || other.ID == a.ID {
		t.Error("another subject did not open its own alert")
	}
	subjects, err := st.OpenAlertSubjects(ctx, r.ID)
	must(t, err, "open subjects")
	if len(subjects) != 2 {
		t.Errorf("open subjects = %v", subjects)
	}
	acked, err := st.AckAlert(ctx, a.ID, "olga", t0.Add(2*time.Minute))
	must(t, err, "ack")
	if acked.State != models.AlertAcknowledged || acked.AckedBy != "olga" {
		t.Errorf("acked = %+v", acked)
	}
	ok, err := st.ResolveOpenAlert(ctx, r.ID, "orders", t0.Add(3*time.Minute))
	must(t, err, "auto-resolve")
	if !ok {
		t.Error("auto-resolve found no open alert")
	}
	if ok, _ := st.ResolveOpenAlert(ctx, r.ID, "orders", t0); ok {
		t.Error("auto-resolve twice")
	}
	_, err = st.AckAlert(ctx, a.ID, "olga", t0)
	wantErr(t, err, models.Conflict, "ack a resolved alert", "resolved")
	c, created, _ := st.RaiseAlert(ctx, models.AlertRaise{Rule: r.ID, Subject: "orders", At: t0.Add(4 * time.Minute)})
	if !created || c.ID == a.ID || c.Count != 1 {
		t.Errorf("after resolving, a raise = %+v created %v; want a new alert", c, created)
	}
	open, err := st.ListAlerts(ctx, "open", 0)
	must(t, err, "list open")
	if len(open) != 2 || open[0].ID != c.ID {
		t.Errorf("open alerts = %+v; want 2, newest first", open)
	}
	all, _ := st.ListAlerts(ctx, "", 0)
	if len(all) != 3 {
		t.Errorf("all alerts = %d", len(all))
	}
	res, err := st.ResolveAlert(ctx, other.ID, "olga", t0)
	must(t, err, "resolve by hand")
	if res.State != models.AlertResolved || res.ResolvedBy != "olga" {
		t.Errorf("resolved = %+v", res)
	}
	_, err = st.ListAlerts(ctx, "sleeping", 0)
	wantErr(t, err, models.BadRequest, "bad state")
}

func exerciseAlertEscalation(t *testing.T, st *store.Store) {
	ctx := context.Background()
	c1, c2 := mustChannel(t, st, "one"), mustChannel(t, st, "two")
	p := &models.EscalationPolicy{Name: "p", Levels: []models.EscalationLevel{{After: "0s", Channels: []int64{c1}}, {After: "5m", Channels: []int64{c1, c2}}}, Repeat: 1}
	must(t, st.CreateAlertPolicy(ctx, p), "policy")
	r := mustRule(t, st, &p.ID)
	t0 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	a, _, err := st.RaiseAlert(ctx, models.AlertRaise{Rule: r.ID, Subject: "orders", At: t0})
	must(t, err, "raise")

	n, err := st.EscalateDue(ctx, t0)
	must(t, err, "escalate level 1")
	if n != 1 {
		t.Fatalf("steps taken at t0 = %d, want 1", n)
	}
	if n, _ := st.EscalateDue(ctx, t0.Add(time.Minute)); n != 0 {
		t.Errorf("a second pass before level 2 took %d steps", n)
	}
	ds, err := st.ClaimDeliveries(ctx, t0, time.Minute, 10)
	must(t, err, "claim")
	if len(ds) != 1 || ds[0].Channel != c1 || ds[0].Level != 1 || ds[0].ID == "" {
		t.Fatalf("claimed = %+v", ds)
	}
	if again, _ := st.ClaimDeliveries(ctx, t0, time.Minute, 10); len(again) != 0 {
		t.Errorf("a leased delivery was claimed twice: %+v", again)
	}
	must(t, st.FinishDeliveryAttempt(ctx, ds[0], models.DeliveryPending, "HTTP 500", t0, t0.Add(10*time.Second)), "retry later")
	if got, _ := st.ClaimDeliveries(ctx, t0.Add(5*time.Second), time.Minute, 10); len(got) != 0 {
		t.Errorf("claimed before its retry time: %+v", got)
	}
	ds, _ = st.ClaimDeliveries(ctx, t0.Add(10*time.Second), time.Minute, 10)
	if len(ds) != 1 || ds[0].Attempts != 1 {
		t.Fatalf("retry claim = %+v", ds)
	}
	must(t, st.FinishDeliveryAttempt(ctx, ds[0], models.DeliverySent, "HTTP 200 ok", t0.Add(10*time.Second), t0.Add(10*time.Second)), "sent")

	// Level 2 at 5m, to both channels; then the repeat at 10m; then nothing.
	if n, _ := st.EscalateDue(ctx, t0.Add(5*time.Minute)); n != 1 {
		t.Errorf("level 2 steps = %d", n)
	}
	got, _ := st.Alert(ctx, a.ID)
	if got.Level != 2 {
		t.Errorf("level after step 2 = %d", got.Level)
	}
	ds, _ = st.ClaimDeliveries(ctx, t0.Add(5*time.Minute), time.Minute, 10)
	if len(ds) != 2 {
		t.Errorf("level 2 deliveries = %+v", ds)
	}
	for _, d := range ds {
		must(t, st.FinishDeliveryAttempt(ctx, d, models.DeliverySent, "ok", t0.Add(5*time.Minute), t0.Add(5*time.Minute)), "sent")
	}
	if n, _ := st.EscalateDue(ctx, t0.Add(10*time.Minute)); n != 1 {
		t.Errorf("repeat steps = %d", n)
	}
	if n, _ := st.EscalateDue(ctx, t0.Add(time.Hour)); n != 0 {
		t.Errorf("steps past the last = %d", n)
	}
	log, err := st.AlertDeliveries(ctx, a.ID)
	must(t, err, "delivery log")
	// 2 attempts at level 1, 2 at level 2, then 2 pending (the repeat).
	if len(log) != 6 || log[0].Status != models.DeliveryFailed || log[0].Answer != "HTTP 500" || log[1].Status != models.DeliverySent ||
		log[0].Delivery != log[1].Delivery || log[0].ChannelName != "one" || log[5].Status != models.DeliveryPending {
		t.Errorf("delivery log = %+v", log)
	}

	// Ack stops escalation: no step is due however late it gets.
	b, _, _ := st.RaiseAlert(ctx, models.AlertRaise{Rule: r.ID, Subject: "billing", At: t0})
	_, _ = st.EscalateDue(ctx, t0)
	_, err = st.AckAlert(ctx, b.ID, "olga", t0.Add(time.Minute))
	must(t, err, "ack")
	if n, _ := st.EscalateDue(ctx, t0.Add(24*time.Hour)); n != 0 {
		t.Errorf("steps after ack = %d", n)
	}
	// Snooze holds escalation until its time.
	c, _, _ := st.RaiseAlert(ctx, models.AlertRaise{Rule: r.ID, Subject: "shipping", At: t0})
	_, err = st.SnoozeAlert(ctx, c.ID, t0.Add(time.Hour))
	must(t, err, "snooze")
	if n, _ := st.EscalateDue(ctx, t0.Add(30*time.Minute)); n != 0 {
		t.Errorf("steps while snoozed = %d", n)
	}
	if n, _ := st.EscalateDue(ctx, t0.Add(time.Hour)); n != 1 {
		t.Errorf("steps after the snooze = %d", n)
	}
	_, err = st.AlertDeliveries(ctx, 9999)
	wantErr(t, err, models.NotFound, "log of a missing alert")
}

func exerciseNotifications(t *testing.T, st *store.Store) {
	ctx := context.Background()
	must(t, st.AddNotifications(ctx, []models.Notification{{User: "olga", Title: "one"}, {User: "olga", Title: "two", Link: "/alerts"}, {User: "ivan", Title: "x"}}), "add")
	n, err := st.UnreadNotifications(ctx, "olga")
	must(t, err, "unread")
	if n != 2 {
		t.Errorf("unread = %d", n)
	}
	list, err := st.ListNotifications(ctx, "olga", 0)
	must(t, err, "list")
	if len(list) != 2 || list[0].Title != "two" {
		t.Errorf("list = %+v", list)
	}
	must(t, st.MarkNotificationsRead(ctx, "olga", time.Now()), "read")
	if n, _ := st.UnreadNotifications(ctx, "olga"); n != 0 {
		t.Errorf("unread after reading = %d", n)
	}
	if n, _ := st.UnreadNotifications(ctx, "ivan"); n != 1 {
		t.Errorf("another user's unread = %d", n)
	}
	ns, err := st.NotifySettings(ctx, "olga")
	must(t, err, "settings unset")
	if ns.Email != "" {
		t.Errorf("unset settings = %+v", ns)
	}
	must(t, st.SetNotifySettings(ctx, "olga", models.NotifySettings{Email: "olga@example.test"}), "set")
	must(t, st.SetNotifySettings(ctx, "olga", models.NotifySettings{Email: "o@example.test"}), "set again")
	if ns, _ := st.NotifySettings(ctx, "olga"); ns.Email != "o@example.test" {
		t.Errorf("settings = %+v", ns)
	}
}

func exerciseVersionsWaitingReview(t *testing.T, st *store.Store) {
	ctx := context.Background()
	MustCreateTemplate(t, st, "orders", "dana")
	MustCreateTemplate(t, st, "reports", "dana")
	got, err := st.VersionsWaitingReview(ctx)
	must(t, err, "none waiting")
	if len(got) != 0 {
		t.Errorf("waiting before any submit = %+v", got)
	}
	_, err = st.SubmitVersion(ctx, "orders", 1, "dana")
	must(t, err, "submit")
	got, err = st.VersionsWaitingReview(ctx)
	must(t, err, "waiting")
	if len(got) != 1 || got[0].Template != "orders" || got[0].Version != 1 || got[0].Author != "dana" || got[0].SubmittedAt.IsZero() {
		t.Errorf("waiting = %+v", got)
	}
}
